//! The protocol cores' own work per request, in memory: actix-quic's
//! sans-IO core (`actix_quic::protocol`) and quinn's (`quinn-proto`), each
//! a client and a server endpoint on one thread with no sockets, no
//! runtime and no actors, with the bench's own TLS and transport settings.
//!
//! Each request is timed from the client's write to the client's read of
//! the answer: the client writes (opening and finishing a stream first in
//! the new-stream mode) and builds its first datagram; the server's
//! endpoint routes that datagram, its connection opens it, the server
//! reads the request (to its end, in the new-stream mode), writes the
//! answer and builds its first datagram; the client's endpoint routes it
//! and the client reads the answer. That is the work on a request's
//! critical path. What either side does afterwards (other datagrams,
//! endpoint events, timers) happens untimed before the next request,
//! as a real stack can do it while the other side works.
//!
//! Each handshake is timed from the client's connect to the client's
//! handshake completing: the client's first flight, the server's answer
//! to it and the client's processing of that answer, all TLS work
//! included. The client's last flight and what the server does with it
//! happen untimed, as in a real run they overlap the client's next
//! connect.
//!
//! Added to a floor's round trip (the hand-overs of a design with no QUIC
//! work), this gives the least round trip, or handshake, that design
//! allows with that core: the bench's "actors + core" floors. The measure
//! errs low: one thread's warm caches, and nothing of what a stack does
//! around its core (handles, wakers, buffers, sockets).

use super::{ours_transport, quinn_transport, BoxError, Tls, MESSAGE, MTUS};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Requests before the measured ones.
const WARMUP: u32 = 200;
/// Most datagrams the two sides may exchange for a handshake or between
/// requests before the run fails.
const MOST_DATAGRAMS: u32 = 1000;

/// The two ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Client,
    Server,
}

/// Critical-path time of each request, in each mode, and of each
/// handshake.
pub struct CoreWork {
    /// Handshakes, one after another.
    pub handshakes: Vec<Duration>,
    /// A new bidirectional stream per request.
    pub new_stream: Vec<Duration>,
    /// Requests on one stream.
    pub ping_pong: Vec<Duration>,
}

impl CoreWork {
    /// The mean of `times`.
    pub fn mean(times: &[Duration]) -> Duration {
        times.iter().sum::<Duration>() / times.len().max(1) as u32
    }

    /// The median of `times`.
    pub fn p50(times: &[Duration]) -> Duration {
        let mut sorted = times.to_vec();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// Both cores' work: `handshakes` handshakes, and `requests` requests of
/// each mode.
pub fn measure(
    tls: &Tls,
    handshakes: u32,
    requests: u32,
) -> Result<(CoreWork, CoreWork), BoxError> {
    let ours = CoreWork {
        handshakes: handshake_times(&mut Ours::new(tls)?, handshakes)?,
        new_stream: run(&mut Ours::new(tls)?, requests, true)?,
        ping_pong: run(&mut Ours::new(tls)?, requests, false)?,
    };
    let quinn = CoreWork {
        handshakes: handshake_times(&mut Quinn::new(tls)?, handshakes)?,
        new_stream: run(&mut Quinn::new(tls)?, requests, true)?,
        ping_pong: run(&mut Quinn::new(tls)?, requests, false)?,
    };
    Ok((ours, quinn))
}

/// What the request loop needs of a core pair.
trait Core {
    type Stream: Copy;
    /// Builds `from`'s next datagram into the pair's wire buffer; false
    /// when it has nothing to send.
    fn transmit(&mut self, from: End, now: Instant) -> Result<bool, BoxError>;
    /// Hands the wire buffer's datagram to `to`'s endpoint and on to its
    /// connection.
    fn deliver(&mut self, to: End, now: Instant) -> Result<(), BoxError>;
    /// Drains `end`'s application events.
    fn events(&mut self, end: End) -> Result<(), BoxError>;
    /// Passes `end`'s events for its endpoint on, and handles its due
    /// timers.
    fn upkeep(&mut self, end: End, now: Instant);
    /// Both handshakes are complete.
    fn connected(&self) -> bool;
    /// The client's handshake is complete.
    fn client_connected(&self) -> bool;
    /// Forgets both connections and has the client connect anew.
    fn connect(&mut self) -> Result<(), BoxError>;
    /// Opens a bidirectional stream at the client.
    fn open(&mut self) -> Result<Self::Stream, BoxError>;
    /// The next stream the client opened, at the server.
    fn accept(&mut self) -> Option<Self::Stream>;
    /// Writes all of `data` on `s` at `end`, finishing it if `fin`.
    fn write(&mut self, end: End, s: Self::Stream, data: &[u8], fin: bool) -> Result<(), BoxError>;
    /// Reads what `s` has at `end` into `out`; true at its end.
    fn read(&mut self, end: End, s: Self::Stream, out: &mut Vec<u8>) -> Result<bool, BoxError>;
}

/// Hands everything `from` has to send to `to` (serving `from`'s
/// endpoint events and due timers first, and `to`'s application events
/// after); how many datagrams went.
fn exchange<C: Core>(core: &mut C, from: End, to: End) -> Result<u32, BoxError> {
    let now = Instant::now();
    core.upkeep(from, now);
    let mut moved = 0;
    while core.transmit(from, now)? {
        core.deliver(to, now)?;
        moved += 1;
        if moved > MOST_DATAGRAMS {
            return Err("the cores kept sending".into());
        }
    }
    core.events(to)?;
    Ok(moved)
}

/// Moves datagrams both ways (and serves events and timers) until
/// neither side has anything to send.
fn settle<C: Core>(core: &mut C) -> Result<(), BoxError> {
    let mut moved = 0;
    loop {
        let now =
            exchange(core, End::Server, End::Client)? + exchange(core, End::Client, End::Server)?;
        if now == 0 {
            return Ok(());
        }
        moved += now;
        if moved > MOST_DATAGRAMS {
            return Err("the cores kept sending".into());
        }
    }
}

/// Connects and settles until both handshakes are complete.
fn connect<C: Core>(core: &mut C) -> Result<(), BoxError> {
    let start = Instant::now();
    while !core.connected() {
        settle(core)?;
        if start.elapsed() > Duration::from_secs(5) {
            return Err("the cores did not connect".into());
        }
    }
    settle(core)
}

/// `WARMUP` and then `n` handshakes, one after another; the
/// critical-path time of each measured one.
fn handshake_times<C: Core>(core: &mut C, n: u32) -> Result<Vec<Duration>, BoxError> {
    connect(core)?;
    let mut times = Vec::with_capacity(n as usize);
    for i in 0..WARMUP.min(20) + n {
        let t0 = Instant::now();
        core.connect()?;
        let mut flights = 0;
        while !core.client_connected() {
            exchange(core, End::Client, End::Server)?;
            exchange(core, End::Server, End::Client)?;
            flights += 1;
            if flights > 100 {
                return Err("the client's handshake did not complete".into());
            }
        }
        if i >= WARMUP.min(20) {
            times.push(t0.elapsed());
        }
        connect(core)?;
    }
    Ok(times)
}

/// Runs the handshake, then `WARMUP` and `requests` requests; the
/// critical-path time of each measured one.
fn run<C: Core>(core: &mut C, requests: u32, new_stream: bool) -> Result<Vec<Duration>, BoxError> {
    connect(core)?;
    let request = [7u8; MESSAGE];
    let mut times = Vec::with_capacity(requests as usize);
    let (mut client_stream, mut server_stream) = (None, None);
    let mut got = Vec::with_capacity(2 * MESSAGE);
    for i in 0..WARMUP + requests {
        let t0 = Instant::now();
        // The client's write and first datagram.
        let c = match client_stream {
            Some(s) if !new_stream => s,
            _ => *client_stream.insert(core.open()?),
        };
        core.write(End::Client, c, &request, new_stream)?;
        if !core.transmit(End::Client, t0)? {
            return Err("the client sent nothing".into());
        }
        // The server's turn.
        let now = Instant::now();
        core.deliver(End::Server, now)?;
        core.events(End::Server)?;
        if let Some(s) = core.accept() {
            server_stream = Some(s);
        }
        let s = server_stream.ok_or("the server saw no stream")?;
        got.clear();
        let end = core.read(End::Server, s, &mut got)?;
        if got.len() != MESSAGE || end != new_stream {
            return Err(format!("the server read {} B (end: {end})", got.len()).into());
        }
        core.write(End::Server, s, &request, new_stream)?;
        if !core.transmit(End::Server, now)? {
            return Err("the server sent nothing".into());
        }
        // The client's read of the answer.
        core.deliver(End::Client, Instant::now())?;
        core.events(End::Client)?;
        got.clear();
        let end = core.read(End::Client, c, &mut got)?;
        if got.len() != MESSAGE || end != new_stream {
            return Err(format!("the client read {} B (end: {end})", got.len()).into());
        }
        if i >= WARMUP {
            times.push(t0.elapsed());
        }
        settle(core)?;
    }
    Ok(times)
}

/// `end`'s connection of a pair's two (handle and connection).
fn conn_of<H, C>(conns: &mut [Option<(H, C)>; 2], end: End) -> Result<&mut C, BoxError> {
    Ok(&mut conns[end as usize]
        .as_mut()
        .ok_or("no server connection yet")?
        .1)
}

const CLIENT: &str = "127.0.0.1:40000";
const SERVER: &str = "127.0.0.1:4433";

/// actix-quic's core.
struct Ours {
    client_config: actix_quic::ClientConfig,
    endpoints: [actix_quic::protocol::Endpoint; 2],
    conns: [Option<(
        actix_quic::protocol::ConnectionHandle,
        Box<actix_quic::protocol::Connection>,
    )>; 2],
    addrs: [SocketAddr; 2],
    wire: Vec<u8>,
    size: usize,
}

impl Ours {
    fn new(tls: &Tls) -> Result<Self, BoxError> {
        use actix_quic::protocol::Endpoint;
        let mut client_config = actix_quic::ClientConfig::new(tls.client.clone())?;
        client_config.transport_config(Arc::new(ours_transport(MTUS[1])));
        let mut server_config = actix_quic::ServerConfig::with_crypto(tls.server.clone())?;
        server_config.transport_config(Arc::new(ours_transport(MTUS[1])));
        let config = actix_quic::EndpointConfig::new;
        let client = Endpoint::new(config(), None, [1; 32]);
        let server = Endpoint::new(config(), Some(server_config), [2; 32]);
        let mut ours = Self {
            client_config,
            endpoints: [client, server],
            conns: [None, None],
            addrs: [CLIENT.parse()?, SERVER.parse()?],
            wire: Vec::new(),
            size: 0,
        };
        ours.connect()?;
        Ok(ours)
    }

    fn conn(&mut self, end: End) -> Result<&mut actix_quic::protocol::Connection, BoxError> {
        conn_of(&mut self.conns, end).map(|c| &mut **c)
    }
}

impl Core for Ours {
    type Stream = actix_quic::StreamId;

    fn transmit(&mut self, from: End, now: Instant) -> Result<bool, BoxError> {
        let Some((_, conn)) = self.conns[from as usize].as_mut() else {
            return Ok(false);
        };
        Ok(match conn.poll_transmit(now, 1, &mut self.wire) {
            Some(t) => {
                self.size = t.size;
                true
            }
            None => false,
        })
    }

    fn deliver(&mut self, to: End, now: Instant) -> Result<(), BoxError> {
        use actix_quic::protocol::DatagramEvent;
        let from = self.addrs[1 - to as usize];
        let data = &self.wire[..self.size];
        let endpoint = &mut self.endpoints[to as usize];
        match endpoint.handle_to(now, from, None, None, data) {
            DatagramEvent::Route(h) => match self.conns[to as usize].as_mut() {
                Some((ours, conn)) if *ours == h => {
                    conn.handle_datagram_to(now, from, None, None, BytesMut::from(data));
                    Ok(())
                }
                _ => Err("routed to an unknown connection".into()),
            },
            DatagramEvent::NewConnection(incoming) => {
                let (h, conn) = endpoint
                    .accept(*incoming, now, None)
                    .map_err(|_| "the server refused the connection")?;
                self.conns[to as usize] = Some((h, conn));
                Ok(())
            }
            _ => Err("the endpoint did not route a datagram".into()),
        }
    }

    fn events(&mut self, end: End) -> Result<(), BoxError> {
        if let Some((_, conn)) = self.conns[end as usize].as_mut() {
            while let Some(e) = conn.poll_event() {
                if let actix_quic::protocol::Event::ConnectionLost(e) = e {
                    return Err(format!("connection lost: {e}").into());
                }
            }
        }
        Ok(())
    }

    fn upkeep(&mut self, end: End, now: Instant) {
        if let Some((h, conn)) = self.conns[end as usize].as_mut() {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
            while let Some(e) = conn.poll_endpoint_event() {
                self.endpoints[end as usize].handle_event(*h, e);
            }
        }
    }

    fn connected(&self) -> bool {
        self.conns
            .iter()
            .all(|c| c.as_ref().is_some_and(|(_, c)| c.is_handshake_complete()))
    }

    fn client_connected(&self) -> bool {
        self.conns[End::Client as usize]
            .as_ref()
            .is_some_and(|(_, c)| c.is_handshake_complete())
    }

    fn connect(&mut self) -> Result<(), BoxError> {
        for (endpoint, conn) in self.endpoints.iter_mut().zip(&mut self.conns) {
            if let Some((h, _)) = conn.take() {
                endpoint.forget(h);
            }
        }
        let (client, server) = (&self.client_config, self.addrs[1]);
        let (h, conn) = self.endpoints[0].connect(Instant::now(), client, server, "localhost")?;
        self.conns[0] = Some((h, Box::new(conn)));
        Ok(())
    }

    fn open(&mut self) -> Result<Self::Stream, BoxError> {
        let dir = actix_quic::Dir::Bi;
        Ok(self
            .conn(End::Client)?
            .open(dir)
            .ok_or("no stream credit")?)
    }

    fn accept(&mut self) -> Option<Self::Stream> {
        self.conn(End::Server).ok()?.accept(actix_quic::Dir::Bi)
    }

    fn write(&mut self, end: End, s: Self::Stream, data: &[u8], fin: bool) -> Result<(), BoxError> {
        let conn = self.conn(end)?;
        let mut data = bytes::Bytes::copy_from_slice(data);
        while !data.is_empty() {
            if conn.write(s, &mut data).map_err(|e| format!("{e:?}"))? == 0 {
                return Err("a write was refused".into());
            }
        }
        if fin {
            conn.finish(s).map_err(|e| format!("{e:?}"))?;
        }
        Ok(())
    }

    fn read(&mut self, end: End, s: Self::Stream, out: &mut Vec<u8>) -> Result<bool, BoxError> {
        use actix_quic::protocol::ReadFailure;
        let conn = self.conn(end)?;
        loop {
            match conn.read(s, usize::MAX) {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk),
                Ok(None) => return Ok(true),
                Err(ReadFailure::Blocked) => return Ok(false),
                Err(e) => return Err(format!("{e:?}").into()),
            }
        }
    }
}

/// quinn's core.
struct Quinn {
    client_config: quinn_proto::ClientConfig,
    endpoints: [quinn_proto::Endpoint; 2],
    conns: [Option<(quinn_proto::ConnectionHandle, quinn_proto::Connection)>; 2],
    connected: [bool; 2],
    addrs: [SocketAddr; 2],
    wire: Vec<u8>,
    size: usize,
    /// Where an endpoint writes a datagram it answers itself.
    spare: Vec<u8>,
}

impl Quinn {
    fn new(tls: &Tls) -> Result<Self, BoxError> {
        use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
        let mut server_config = quinn_proto::ServerConfig::with_crypto(Arc::new(
            QuicServerConfig::try_from(tls.server.clone())?,
        ));
        server_config.transport_config(Arc::new(quinn_transport(MTUS[1])?));
        let mut client_config = quinn_proto::ClientConfig::new(Arc::new(
            QuicClientConfig::try_from(tls.client.clone())?,
        ));
        client_config.transport_config(Arc::new(quinn_transport(MTUS[1])?));
        let endpoint = |seed: u8, server: Option<Arc<quinn_proto::ServerConfig>>| {
            let mut config = quinn_proto::EndpointConfig::default();
            config.rng_seed(Some([seed; 32]));
            quinn_proto::Endpoint::new(Arc::new(config), server, true, None)
        };
        let client = endpoint(1, None);
        let server = endpoint(2, Some(Arc::new(server_config)));
        let mut quinn = Self {
            client_config,
            endpoints: [client, server],
            conns: [None, None],
            connected: [false; 2],
            addrs: [CLIENT.parse()?, SERVER.parse()?],
            wire: Vec::new(),
            size: 0,
            spare: Vec::new(),
        };
        quinn.connect()?;
        Ok(quinn)
    }

    fn conn(&mut self, end: End) -> Result<&mut quinn_proto::Connection, BoxError> {
        conn_of(&mut self.conns, end)
    }
}

impl Core for Quinn {
    type Stream = quinn_proto::StreamId;

    fn transmit(&mut self, from: End, now: Instant) -> Result<bool, BoxError> {
        let Some((_, conn)) = self.conns[from as usize].as_mut() else {
            return Ok(false);
        };
        self.wire.clear();
        Ok(match conn.poll_transmit(now, 1, &mut self.wire) {
            Some(t) => {
                self.size = t.size;
                true
            }
            None => false,
        })
    }

    fn deliver(&mut self, to: End, now: Instant) -> Result<(), BoxError> {
        use quinn_proto::DatagramEvent;
        let from = self.addrs[1 - to as usize];
        let data = BytesMut::from(&self.wire[..self.size]);
        let endpoint = &mut self.endpoints[to as usize];
        self.spare.clear();
        match endpoint.handle(now, from, None, None, data, &mut self.spare) {
            Some(DatagramEvent::ConnectionEvent(h, event)) => {
                match self.conns[to as usize].as_mut() {
                    Some((ours, conn)) if *ours == h => {
                        conn.handle_event(event);
                        Ok(())
                    }
                    _ => Err("routed to an unknown connection".into()),
                }
            }
            Some(DatagramEvent::NewConnection(incoming)) => {
                let conn = endpoint
                    .accept(incoming, now, &mut self.spare, None)
                    .map_err(|_| "the server refused the connection")?;
                self.conns[to as usize] = Some(conn);
                Ok(())
            }
            _ => Err("the endpoint did not route a datagram".into()),
        }
    }

    fn events(&mut self, end: End) -> Result<(), BoxError> {
        if let Some((_, conn)) = self.conns[end as usize].as_mut() {
            while let Some(e) = conn.poll() {
                match e {
                    quinn_proto::Event::Connected => self.connected[end as usize] = true,
                    quinn_proto::Event::ConnectionLost { reason } => {
                        return Err(format!("connection lost: {reason}").into())
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn upkeep(&mut self, end: End, now: Instant) {
        if let Some((h, conn)) = self.conns[end as usize].as_mut() {
            if conn.poll_timeout().is_some_and(|t| t <= now) {
                conn.handle_timeout(now);
            }
            while let Some(e) = conn.poll_endpoint_events() {
                if let Some(back) = self.endpoints[end as usize].handle_event(*h, e) {
                    conn.handle_event(back);
                }
            }
        }
    }

    fn connected(&self) -> bool {
        self.connected == [true; 2]
    }

    fn client_connected(&self) -> bool {
        self.connected[End::Client as usize]
    }

    fn connect(&mut self) -> Result<(), BoxError> {
        for (endpoint, conn) in self.endpoints.iter_mut().zip(&mut self.conns) {
            if let Some((h, _)) = conn.take() {
                endpoint.handle_event(h, quinn_proto::EndpointEvent::drained());
            }
        }
        self.connected = [false; 2];
        let config = self.client_config.clone();
        let conn = self.endpoints[0].connect(Instant::now(), config, self.addrs[1], "localhost")?;
        self.conns[0] = Some(conn);
        Ok(())
    }

    fn open(&mut self) -> Result<Self::Stream, BoxError> {
        let dir = quinn_proto::Dir::Bi;
        Ok(self
            .conn(End::Client)?
            .streams()
            .open(dir)
            .ok_or("no stream credit")?)
    }

    fn accept(&mut self) -> Option<Self::Stream> {
        self.conn(End::Server)
            .ok()?
            .streams()
            .accept(quinn_proto::Dir::Bi)
    }

    fn write(&mut self, end: End, s: Self::Stream, data: &[u8], fin: bool) -> Result<(), BoxError> {
        let conn = self.conn(end)?;
        let mut stream = conn.send_stream(s);
        let mut at = 0;
        while at < data.len() {
            match stream.write(&data[at..])? {
                0 => return Err("a write was refused".into()),
                n => at += n,
            }
        }
        if fin {
            stream.finish()?;
        }
        Ok(())
    }

    fn read(&mut self, end: End, s: Self::Stream, out: &mut Vec<u8>) -> Result<bool, BoxError> {
        let conn = self.conn(end)?;
        let mut stream = conn.recv_stream(s);
        let mut chunks = stream.read(true)?;
        let mut at_end = false;
        loop {
            match chunks.next(usize::MAX) {
                Ok(Some(chunk)) => out.extend_from_slice(&chunk.bytes),
                Ok(None) => {
                    at_end = true;
                    break;
                }
                Err(quinn_proto::ReadError::Blocked) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let _ = chunks.finalize();
        Ok(at_end)
    }
}
