//! The floors under the bench's figures: on this machine and in this run,
//! the same work with no QUIC stack around it, which no stack can beat.
//!
//! - UDP ping-pong: 32 B datagrams echoed between two threads over
//!   127.0.0.1, the floor of request/response: with blocking sockets
//!   (each thread sleeps in `recv`), and with sockets on tokio's reactor
//!   on a current-thread runtime per thread (each thread sleeps in
//!   `epoll_wait`, as both stacks' threads do; registered for reads
//!   only, as actix-quic registers its own, see [`ReadOnly`]), and
//!   through actors: on
//!   each side a datagram goes from the socket's reader (an endpoint
//!   actor) to a connection actor (a message), from it to the
//!   application's task (a waker), and the answer back to the connection
//!   actor (a message), which sends it. These are the hand-overs
//!   actix-quic's design makes per request, with no QUIC work at all.
//!   The tokio and actor ping-pongs run again with each datagram sent as
//!   a sealed 1-RTT packet (short header, AEAD sealed in place, header
//!   protected; opened the same way on arrival, by the connection actor
//!   in the actor version): the least packet work any QUIC stack does
//!   per datagram, with no frames, ACKs or timers.
//! - TLS handshakes: rustls's QUIC handshakes (the bench's own configs,
//!   so the same certificate, key exchange and cipher suite) run in
//!   memory on one thread, client and server in turn: the TLS work of a
//!   handshake with no packets, no loss detection and no socket. Each
//!   side's share is timed too (what its connection's calls took): the
//!   floor of that side's CPU per handshake.
//! - Sealed bulk: one thread seals full-size 1-RTT packets (payload
//!   copied in, AEAD sealed in place, header protected) with the keys of
//!   such a handshake and sends them in GSO batches; another receives
//!   GRO batches, removes header protection and opens each packet in
//!   place. No frames, ACKs, congestion control or reassembly, and a
//!   shared counter instead of flow control (the sender stays at most
//!   `WINDOW` bytes ahead, so the kernel drops nothing). Every plaintext
//!   byte counts as payload, so the floor errs high.

use super::{named, socket_with, BoxError, Cpu, Run, Tls, MESSAGE, MIB};
use rustls::quic::{self, DirectionalKeys, KeyChange, Keys};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the bulk sender may run ahead of the receiver, in bytes.
const WINDOW: u64 = 2 * MIB;
/// Short header: first byte, 8-byte connection ID, 4-byte packet number.
const HEADER: usize = 1 + 8 + 4;
/// Where the packet number starts.
const PN_OFFSET: usize = 1 + 8;
/// The AEAD tag every QUIC cipher suite appends.
const TAG: usize = 16;
/// The largest GSO or GRO batch, in bytes.
const BATCH: usize = 64 * 1024;
/// Opaque transport parameters of a plausible size (rustls only carries them).
const PARAMS: [u8; 64] = [0x5a; 64];
/// How long the bulk receiver waits for a datagram before giving up.
const IDLE_LIMIT: Duration = Duration::from_secs(5);
/// How long a floor's round trip may take before the run fails.
const REPLY_LIMIT: Duration = Duration::from_secs(5);
/// Round trips before the measured ones.
const WARMUP: u32 = 200;

/// The floors measured in one run.
pub struct Floors {
    /// UDP ping-pong on blocking sockets, one round trip per request.
    pub ping_pong: Run,
    /// UDP ping-pong on tokio sockets.
    pub async_ping_pong: Run,
    /// UDP ping-pong through an actor per connection.
    pub actor_ping_pong: Run,
    /// The same, the server answering each request from a new task.
    pub actor_task_each: Run,
    /// UDP ping-pong on tokio sockets, each datagram a sealed packet.
    pub sealed_async_ping_pong: Run,
    /// UDP ping-pong through actors, each datagram a sealed packet.
    pub sealed_actor_ping_pong: Run,
    /// rustls QUIC handshakes in memory.
    pub handshakes: Run,
    /// Sealed bulk, MiB/s at each UDP payload size.
    pub bulk: Vec<(u16, f64)>,
}

/// Measures every floor: `requests` round trips, `handshakes` handshakes
/// and `size_mib` MiB at each of `mtus`.
pub fn measure(
    tls: &Tls,
    requests: u32,
    handshakes: u32,
    size_mib: u64,
    mtus: &[u16],
) -> Result<Floors, BoxError> {
    let ping_pong = udp_ping_pong(requests)?;
    let async_ping_pong = tokio_ping_pong(requests, None)?;
    let actor_ping_pong = hops::ping_pong(requests, None, false)?;
    let actor_task_each = hops::ping_pong(requests, None, true)?;
    let keys = || handshake(tls, &mut Cpu::default());
    let sealed_async_ping_pong = tokio_ping_pong(requests, Some(keys()?))?;
    let sealed_actor_ping_pong = hops::ping_pong(requests, Some(keys()?), false)?;
    let handshakes = tls_handshakes(tls, handshakes)?;
    let mut bulk = Vec::new();
    for &mtu in mtus {
        bulk.push((mtu, sealed_bulk(tls, mtu, size_mib * MIB)?));
    }
    Ok(Floors {
        ping_pong,
        async_ping_pong,
        actor_ping_pong,
        actor_task_each,
        sealed_async_ping_pong,
        sealed_actor_ping_pong,
        handshakes,
        bulk,
    })
}

fn udp_ping_pong(requests: u32) -> Result<Run, BoxError> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    client.connect(server.local_addr()?)?;
    server.set_read_timeout(Some(Duration::from_secs(5)))?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    let echo = named("floor-udp-server", move || -> Result<(), BoxError> {
        let mut buf = [0u8; MESSAGE];
        for _ in 0..WARMUP + requests {
            let (n, from) = server.recv_from(&mut buf)?;
            server.send_to(&buf[..n], from)?;
        }
        Ok(())
    });
    let mut buf = [7u8; MESSAGE];
    let mut round_trip = || -> Result<Duration, BoxError> {
        let t = Instant::now();
        client.send(&buf)?;
        client.recv(&mut buf)?;
        Ok(t.elapsed())
    };
    for _ in 0..WARMUP {
        round_trip()?;
    }
    let start = Instant::now();
    let latencies = (0..requests)
        .map(|_| round_trip())
        .collect::<Result<Vec<_>, _>>()?;
    let run = Run::new(start.elapsed(), latencies, Cpu::default());
    super::join(echo, "UDP echo")?;
    Ok(run)
}

/// A UDP socket on tokio's reactor, registered for reads only, as
/// actix-quic registers its own: a registration for writes too (as
/// `tokio::net::UdpSocket` makes) wakes the thread each time the kernel
/// frees a datagram it sent. Sends are plain non-blocking calls. Reads
/// take up to two datagrams with quinn-udp's `recvmmsg`, and one that
/// finds only one tells the reactor the queue is empty, as actix-quic
/// does: no read per wake-up that finds only `EAGAIN`.
struct ReadOnly {
    io: tokio::io::unix::AsyncFd<UdpSocket>,
    state: quinn_udp::UdpSocketState,
    /// The second datagram of a read that found two.
    pending: std::cell::RefCell<Option<(Vec<u8>, SocketAddr)>>,
}

impl ReadOnly {
    /// Registers `socket` (made non-blocking); inside a tokio runtime.
    fn new(socket: UdpSocket) -> Result<Self, BoxError> {
        socket.set_nonblocking(true)?;
        let state = quinn_udp::UdpSocketState::new((&socket).into())?;
        // SAFETY: a `UdpSocket` owns its descriptor, open and the same
        // until the socket is dropped, and the `AsyncFd` owns the socket.
        let io = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(socket, tokio::io::Interest::READABLE)
        }
        .map_err(|e| e.into_parts().1)?;
        Ok(Self {
            io,
            state,
            pending: Default::default(),
        })
    }

    /// The next datagram, waiting for one.
    async fn recv_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        if let Some((d, from)) = self.pending.borrow_mut().take() {
            buf[..d.len()].copy_from_slice(&d);
            return Ok((d.len(), from));
        }
        let mut second = [0u8; DATAGRAM];
        loop {
            let mut ready = self.io.readable().await?;
            let mut metas = [quinn_udp::RecvMeta::default(); 2];
            let got = {
                let mut iovs = [
                    std::io::IoSliceMut::new(&mut *buf),
                    std::io::IoSliceMut::new(&mut second),
                ];
                self.state
                    .recv(self.io.get_ref().into(), &mut iovs, &mut metas)
            };
            match got {
                Ok(n) => {
                    if n < metas.len() {
                        ready.clear_ready();
                    } else {
                        ready.retain_ready();
                        let m = &metas[1];
                        *self.pending.borrow_mut() = Some((second[..m.len].to_vec(), m.addr));
                    }
                    if n > 0 {
                        return Ok((metas[0].len, metas[0].addr));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ready.clear_ready(),
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends `buf` to `to` without waiting.
    fn send_to(&self, buf: &[u8], to: SocketAddr) -> std::io::Result<usize> {
        self.io.get_ref().send_to(buf, to)
    }
}

/// The largest datagram a ping-pong floor receives.
const DATAGRAM: usize = 2048;

/// Packet protection for one end of a sealed ping-pong floor: a message
/// goes out as a 1-RTT packet with the next packet number, and comes in
/// opened in place.
struct Sealer {
    /// This end's keys: `local` seals, `remote` opens.
    keys: Keys,
    next_pn: std::cell::Cell<u64>,
}

impl Sealer {
    fn new(keys: Keys) -> Self {
        Self {
            keys,
            next_pn: std::cell::Cell::new(0),
        }
    }
}

/// The datagram for `message`: itself, or with `sealer` a packet sealed
/// into `out`.
fn outgoing<'a>(
    sealer: Option<&Sealer>,
    message: &'a [u8],
    out: &'a mut [u8; DATAGRAM],
) -> Result<&'a [u8], BoxError> {
    let Some(sealer) = sealer else {
        return Ok(message);
    };
    let len = HEADER + message.len() + TAG;
    let pn = sealer.next_pn.get();
    sealer.next_pn.set(pn + 1);
    seal(&sealer.keys.local, pn, &mut out[..len], message)?;
    Ok(&out[..len])
}

/// The message in datagram `d`: itself, or with `sealer` the packet's
/// payload, opened in place.
fn incoming<'a>(sealer: Option<&Sealer>, d: &'a mut [u8]) -> Result<&'a [u8], BoxError> {
    let Some(sealer) = sealer else {
        return Ok(d);
    };
    open(&sealer.keys.remote, d)?;
    let end = d.len() - TAG;
    Ok(&d[HEADER..end])
}

/// Ping-pong between two current-thread runtimes; with `keys`, every
/// datagram is a sealed packet.
fn tokio_ping_pong(requests: u32, keys: Option<OneRtt>) -> Result<Run, BoxError> {
    let server = UdpSocket::bind("127.0.0.1:0")?;
    let client = UdpSocket::bind("127.0.0.1:0")?;
    let to = server.local_addr()?;
    let (client_sealer, server_sealer) = match keys {
        Some(k) => (Some(Sealer::new(k.client)), Some(Sealer::new(k.server))),
        None => (None, None),
    };
    let echo = named("floor-tokio-server", move || -> Result<(), BoxError> {
        super::current_thread()?.block_on(async move {
            let server = ReadOnly::new(server)?;
            let sealer = server_sealer.as_ref();
            let (mut buf, mut out) = ([0u8; DATAGRAM], [0u8; DATAGRAM]);
            for _ in 0..WARMUP + requests {
                let (n, from) = server.recv_from(&mut buf).await?;
                let message = incoming(sealer, &mut buf[..n])?;
                server.send_to(outgoing(sealer, message, &mut out)?, from)?;
            }
            Ok(())
        })
    });
    let run = super::current_thread()?.block_on(async move {
        let client = &ReadOnly::new(client)?;
        let sealer = client_sealer.as_ref();
        time_round_trips(requests, move || async move {
            let (mut buf, mut out) = ([0u8; DATAGRAM], [0u8; DATAGRAM]);
            client.send_to(outgoing(sealer, &[7u8; MESSAGE], &mut out)?, to)?;
            let (n, _) = tokio::time::timeout(REPLY_LIMIT, client.recv_from(&mut buf)).await??;
            if incoming(sealer, &mut buf[..n])?.len() != MESSAGE {
                return Err("a short answer".into());
            }
            Ok(())
        })
        .await
    })?;
    super::join(echo, "tokio UDP echo")?;
    Ok(run)
}

/// Times `requests` calls of `round_trip` after `WARMUP` unmeasured ones.
async fn time_round_trips<F, R>(requests: u32, mut round_trip: F) -> Result<Run, BoxError>
where
    F: FnMut() -> R,
    R: std::future::Future<Output = Result<(), BoxError>>,
{
    let mut latencies = Vec::with_capacity(requests as usize);
    let mut start = Instant::now();
    for i in 0..WARMUP + requests {
        if i == WARMUP {
            start = Instant::now();
        }
        let t = Instant::now();
        round_trip().await?;
        if i >= WARMUP {
            latencies.push(t.elapsed());
        }
    }
    Ok(Run::new(start.elapsed(), latencies, Cpu::default()))
}

/// The 1-RTT keys of both ends after a handshake.
struct OneRtt {
    /// The client's keys.
    client: Keys,
    /// The server's keys.
    server: Keys,
}

/// One rustls QUIC handshake in memory, each side's output fed to the
/// other until neither has more to say.
fn handshake(tls: &Tls, spent: &mut Cpu) -> Result<OneRtt, BoxError> {
    let name = "localhost".try_into()?;
    let t = Instant::now();
    let mut client: quic::Connection =
        quic::ClientConnection::new(tls.client.clone(), quic::Version::V1, name, PARAMS.to_vec())?
            .into();
    spent.client += t.elapsed();
    let t = Instant::now();
    let mut server: quic::Connection =
        quic::ServerConnection::new(tls.server.clone(), quic::Version::V1, PARAMS.to_vec())?.into();
    spent.server += t.elapsed();
    let (mut client_keys, mut server_keys) = (None, None);
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (c, s) = (&mut spent.client, &mut spent.server);
        let from_client = pump(
            (&mut client, c),
            (&mut server, s),
            &mut buf,
            &mut client_keys,
        )?;
        let (c, s) = (&mut spent.client, &mut spent.server);
        let from_server = pump(
            (&mut server, s),
            (&mut client, c),
            &mut buf,
            &mut server_keys,
        )?;
        if !(from_client || from_server) {
            break;
        }
    }
    if client.is_handshaking() || server.is_handshaking() {
        return Err("the in-memory handshake stalled".into());
    }
    let (client_keys, server_keys): (Keys, Keys) = (
        client_keys.ok_or("the client made no 1-RTT keys")?,
        server_keys.ok_or("the server made no 1-RTT keys")?,
    );
    Ok(OneRtt {
        client: client_keys,
        server: server_keys,
    })
}

/// Feeds what `from` has to say to `to`, keeping the 1-RTT keys `from`
/// made in `one_rtt`; false when it had nothing. Each side comes with
/// the time its calls took, added to.
fn pump(
    (from, from_spent): (&mut quic::Connection, &mut Duration),
    (to, to_spent): (&mut quic::Connection, &mut Duration),
    buf: &mut Vec<u8>,
    one_rtt: &mut Option<Keys>,
) -> Result<bool, BoxError> {
    let mut said = false;
    loop {
        buf.clear();
        let t = Instant::now();
        let change = from.write_hs(buf);
        *from_spent += t.elapsed();
        if buf.is_empty() && change.is_none() {
            return Ok(said);
        }
        said = true;
        if let Some(KeyChange::OneRtt { keys, .. }) = change {
            *one_rtt = Some(keys);
        }
        if !buf.is_empty() {
            let t = Instant::now();
            to.read_hs(buf)?;
            *to_spent += t.elapsed();
        }
    }
}

/// `n` in-memory handshakes; the run's CPU is each side's share of them
/// (one thread, so its time is its CPU).
fn tls_handshakes(tls: &Tls, n: u32) -> Result<Run, BoxError> {
    handshake(tls, &mut Cpu::default())?;
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(n as usize);
    let mut spent = Cpu::default();
    for _ in 0..n {
        let t = Instant::now();
        handshake(tls, &mut spent)?;
        latencies.push(t.elapsed());
    }
    Ok(Run::new(start.elapsed(), latencies, spent))
}

/// Plaintext bytes each packet of `mtu` bytes carries.
fn payload_len(mtu: u16) -> usize {
    usize::from(mtu) - HEADER - TAG
}

/// MiB/s of sealed packets of `mtu` bytes, `total` plaintext bytes or a
/// little more, from one thread to another.
fn sealed_bulk(tls: &Tls, mtu: u16, total: u64) -> Result<f64, BoxError> {
    let keys = handshake(tls, &mut Cpu::default())?;
    let packets = total.div_ceil(payload_len(mtu) as u64);
    let receiver = socket_with(true)?;
    receiver.set_nonblocking(true)?;
    let to = receiver.local_addr()?;
    let opened = Arc::new(AtomicU64::new(0));
    // Set when the receiver is done, so a sender waiting for it stops.
    let stop = Arc::new(AtomicBool::new(false));
    let (o, s) = (opened.clone(), stop.clone());
    let rx = named("floor-open", move || {
        let end = open_all(receiver, keys.server.remote, packets, &o);
        s.store(true, Ordering::Relaxed);
        end
    });
    let start = Instant::now();
    let sent = seal_all(keys.client.local, mtu, packets, to, &opened, &stop);
    let end = super::join(rx, "bulk receiver")?;
    sent?;
    let bytes = packets * payload_len(mtu) as u64;
    Ok(bytes as f64 / MIB as f64 / end.duration_since(start).as_secs_f64())
}

/// Seals and sends `packets` packets of `mtu` bytes in GSO batches,
/// staying at most `WINDOW` bytes ahead of `opened`.
fn seal_all(
    keys: DirectionalKeys,
    mtu: u16,
    packets: u64,
    to: SocketAddr,
    opened: &AtomicU64,
    stop: &AtomicBool,
) -> Result<(), BoxError> {
    let socket = socket_with(true)?;
    let state = quinn_udp::UdpSocketState::new((&socket).into())?;
    let mtu = usize::from(mtu);
    let per_batch = (BATCH / mtu).min(state.max_gso_segments()).max(1) as u64;
    let window = WINDOW / mtu as u64;
    let source: Vec<u8> = (0..payload_len(mtu as u16)).map(|i| i as u8).collect();
    let mut batch = vec![0u8; per_batch as usize * mtu];
    let mut pn = 0u64;
    while pn < packets {
        while pn - opened.load(Ordering::Acquire) > window {
            if stop.load(Ordering::Relaxed) {
                return Err("the bulk receiver stopped".into());
            }
            std::thread::yield_now();
        }
        let n = per_batch.min(packets - pn);
        for packet in batch.chunks_mut(mtu).take(n as usize) {
            seal(&keys, pn, packet, &source)?;
            pn += 1;
        }
        let transmit = quinn_udp::Transmit {
            destination: to,
            ecn: None,
            contents: &batch[..n as usize * mtu],
            segment_size: (n > 1).then_some(mtu),
            src_ip: None,
        };
        loop {
            match state.send((&socket).into(), &transmit) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// One 1-RTT packet with number `pn` and `source` as its payload.
fn seal(keys: &DirectionalKeys, pn: u64, packet: &mut [u8], source: &[u8]) -> Result<(), BoxError> {
    packet[0] = 0x43;
    packet[1..PN_OFFSET].fill(0xc1);
    packet[PN_OFFSET..HEADER].copy_from_slice(&(pn as u32).to_be_bytes());
    let (header, rest) = packet.split_at_mut(HEADER);
    let (payload, tag) = rest.split_at_mut(source.len());
    payload.copy_from_slice(source);
    let sealed = keys.packet.encrypt_in_place(pn, header, payload)?;
    tag.copy_from_slice(sealed.as_ref());
    let mut sample = [0u8; 16];
    sample.copy_from_slice(&packet[PN_OFFSET + 4..PN_OFFSET + 20]);
    let (first, rest) = packet.split_at_mut(1);
    keys.header
        .encrypt_in_place(&sample, &mut first[0], &mut rest[PN_OFFSET - 1..HEADER - 1])?;
    Ok(())
}

/// Receives and opens `packets` packets, counting them in `opened`;
/// returns when the last was opened. The socket does not block: the
/// receiver polls it (a floor may only err high), and gives up after
/// `IDLE_LIMIT` without a datagram.
fn open_all(
    socket: UdpSocket,
    keys: DirectionalKeys,
    packets: u64,
    opened: &AtomicU64,
) -> Result<Instant, BoxError> {
    let state = quinn_udp::UdpSocketState::new((&socket).into())?;
    let mut buffers = vec![vec![0u8; BATCH]; 8];
    let mut metas = [quinn_udp::RecvMeta::default(); 8];
    let mut count = 0u64;
    let mut last = Instant::now();
    while count < packets {
        let mut iovs: Vec<std::io::IoSliceMut<'_>> = buffers
            .iter_mut()
            .map(|b| std::io::IoSliceMut::new(&mut b[..]))
            .collect();
        let n = match state.recv((&socket).into(), &mut iovs, &mut metas) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if last.elapsed() > IDLE_LIMIT {
                    return Err("no datagram for too long".into());
                }
                std::hint::spin_loop();
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        last = Instant::now();
        drop(iovs);
        for (meta, buf) in metas.iter().zip(buffers.iter_mut()).take(n) {
            let stride = meta.stride.max(1);
            for d in buf[..meta.len].chunks_mut(stride) {
                open(&keys, d)?;
                count += 1;
            }
        }
        opened.store(count, Ordering::Release);
    }
    Ok(Instant::now())
}

/// Removes header protection from datagram `d` and opens it in place.
fn open(keys: &DirectionalKeys, d: &mut [u8]) -> Result<(), BoxError> {
    if d.len() < HEADER + TAG + 4 {
        return Err("a short datagram".into());
    }
    let mut sample = [0u8; 16];
    sample.copy_from_slice(&d[PN_OFFSET + 4..PN_OFFSET + 20]);
    let (first, rest) = d.split_at_mut(1);
    keys.header
        .decrypt_in_place(&sample, &mut first[0], &mut rest[PN_OFFSET - 1..HEADER - 1])?;
    let pn = u32::from_be_bytes(d[PN_OFFSET..HEADER].try_into()?);
    let (header, payload) = d.split_at_mut(HEADER);
    keys.packet.decrypt_in_place(pn.into(), header, payload)?;
    Ok(())
}

/// UDP ping-pong through the actors and tasks of one connection per side.
mod hops {
    use super::{
        incoming, named, outgoing, time_round_trips, BoxError, OneRtt, Run, Sealer, DATAGRAM,
        MESSAGE, REPLY_LIMIT, WARMUP,
    };
    use actix::prelude::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::rc::Rc;
    use std::task::{Poll, Waker};

    /// Datagrams handed from an actor to a task or back, with the waker
    /// of the task waiting on it.
    #[derive(Default)]
    struct Pipe {
        queue: RefCell<VecDeque<Vec<u8>>>,
        waker: RefCell<Option<Waker>>,
    }

    impl Pipe {
        fn push(&self, d: Vec<u8>) {
            self.queue.borrow_mut().push_back(d);
            if let Some(w) = self.waker.borrow_mut().take() {
                w.wake();
            }
        }

        async fn next(&self) -> Vec<u8> {
            std::future::poll_fn(|cx| match self.queue.borrow_mut().pop_front() {
                Some(d) => Poll::Ready(d),
                None => {
                    *self.waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
            .await
        }
    }

    /// Reads the socket and hands each datagram to the connection.
    struct EndpointActor {
        conn: Addr<ConnectionActor>,
    }

    impl Actor for EndpointActor {
        type Context = Context<Self>;
    }

    impl StreamHandler<(Vec<u8>, SocketAddr)> for EndpointActor {
        fn handle(&mut self, d: (Vec<u8>, SocketAddr), _: &mut Context<Self>) {
            self.conn.do_send(Arrived(d.0, d.1));
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Arrived(Vec<u8>, SocketAddr);

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Flush;

    /// Passes what arrives to the application and sends what it wrote.
    struct ConnectionActor {
        /// A handle on the socket for sending (a plain non-blocking send:
        /// a 32 B datagram never finds the buffer full).
        socket: std::net::UdpSocket,
        peer: SocketAddr,
        inbox: Rc<Pipe>,
        outbox: Rc<Pipe>,
        /// With packet protection: seals what it sends, opens what
        /// arrives.
        sealer: Option<Sealer>,
    }

    impl Actor for ConnectionActor {
        type Context = Context<Self>;
    }

    impl Handler<Arrived> for ConnectionActor {
        type Result = ();
        fn handle(&mut self, msg: Arrived, _: &mut Context<Self>) {
            self.peer = msg.1;
            let mut d = msg.0;
            if self.sealer.is_some() {
                // A packet that does not open is dropped: the round trip
                // then times out and the run fails.
                match incoming(self.sealer.as_ref(), &mut d) {
                    Ok(message) => d = message.to_vec(),
                    Err(_) => return,
                }
            }
            self.inbox.push(d);
        }
    }

    impl Handler<Flush> for ConnectionActor {
        type Result = ();
        fn handle(&mut self, _: Flush, _: &mut Context<Self>) {
            let mut out = [0u8; DATAGRAM];
            while let Some(d) = self.outbox.queue.borrow_mut().pop_front() {
                if let Ok(d) = outgoing(self.sealer.as_ref(), &d, &mut out) {
                    let _ = self.socket.send_to(d, self.peer);
                }
            }
        }
    }

    /// The application's ends of one side's actors.
    struct App {
        /// What arrives.
        inbox: Rc<Pipe>,
        /// What to send.
        outbox: Rc<Pipe>,
        /// The actor to tell when something was written.
        conn: Addr<ConnectionActor>,
    }

    impl App {
        fn send(&self, d: Vec<u8>) {
            self.outbox.push(d);
            self.conn.do_send(Flush);
        }
    }

    /// One side's actors on `socket`, talking to `peer`, sealing with
    /// `sealer` if given.
    fn side(
        socket: std::net::UdpSocket,
        peer: SocketAddr,
        sealer: Option<Sealer>,
    ) -> Result<App, BoxError> {
        let sender = socket.try_clone()?;
        let socket = Rc::new(super::ReadOnly::new(socket)?);
        let (inbox, outbox) = (Rc::new(Pipe::default()), Rc::new(Pipe::default()));
        let conn = ConnectionActor {
            socket: sender,
            peer,
            inbox: inbox.clone(),
            outbox: outbox.clone(),
            sealer,
        }
        .start();
        let datagrams = futures::stream::unfold(socket, |s| async move {
            let mut buf = [0u8; 2048];
            let (n, from) = s.recv_from(&mut buf).await.ok()?;
            Some(((buf[..n].to_vec(), from), s))
        });
        let c = conn.clone();
        EndpointActor::create(move |ctx| {
            ctx.add_stream(datagrams);
            EndpointActor { conn: c }
        });
        Ok(App {
            inbox,
            outbox,
            conn,
        })
    }

    /// Ping-pong through the actors; with `keys`, every datagram is a
    /// sealed packet. With `task_each`, the server answers each request
    /// from a task of its own, spawned by the task that receives it, as
    /// a server that serves each new stream in its own task does.
    pub(super) fn ping_pong(
        requests: u32,
        keys: Option<OneRtt>,
        task_each: bool,
    ) -> Result<Run, BoxError> {
        let (client_sealer, server_sealer) = match keys {
            Some(k) => (Some(Sealer::new(k.client)), Some(Sealer::new(k.server))),
            None => (None, None),
        };
        let server = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let client = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let (server_addr, client_addr) = (server.local_addr()?, client.local_addr()?);
        server.set_nonblocking(true)?;
        client.set_nonblocking(true)?;
        let echo = named("floor-actix-server", move || -> Result<(), BoxError> {
            let system = actix::System::new();
            system.block_on(async move {
                let app = Rc::new(side(server, client_addr, server_sealer)?);
                actix::spawn(async move {
                    for _ in 0..WARMUP + requests {
                        let d = app.inbox.next().await;
                        if task_each {
                            let app = app.clone();
                            actix::spawn(async move { app.send(d) });
                        } else {
                            app.send(d);
                        }
                    }
                    actix::System::current().stop();
                });
                Ok::<_, BoxError>(())
            })?;
            system.run()?;
            Ok(())
        });
        let run = actix::System::new().block_on(async move {
            let app = &side(client, server_addr, client_sealer)?;
            time_round_trips(requests, move || async move {
                app.send(vec![7u8; MESSAGE]);
                tokio::time::timeout(REPLY_LIMIT, app.inbox.next()).await?;
                Ok(())
            })
            .await
        })?;
        super::super::join(echo, "actix UDP echo")?;
        Ok(run)
    }
}
