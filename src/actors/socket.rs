//! The UDP socket shared by an endpoint and its connections: socket2 for
//! set-up, quinn-udp for batched I/O (GSO on send, GRO on receive).

use super::recv_windows::{RecvWindows, WINDOWS};
use crate::protocol::EcnCodepoint;
use bytes::BytesMut;
use futures::Stream;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::Interest;

/// Socket buffer size asked of the kernel (it may grant less).
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;

/// How long a blocked send waits when it cannot wait for the socket to
/// become writable.
#[cfg(unix)]
const WRITABLE_RETRY: std::time::Duration = std::time::Duration::from_millis(1);

/// The socket as registered with tokio's reactor. On Unix, for reads
/// only: every datagram the kernel frees makes a UDP socket writable
/// again, and a registration for writes would wake the thread for each
/// (on loopback, once per send). Sends are tried directly; only one that
/// finds the socket full waits, on a registration of its own (see
/// [`Socket::writable`]).
#[cfg(unix)]
type Io = tokio::io::unix::AsyncFd<std::net::UdpSocket>;
#[cfg(not(unix))]
type Io = tokio::net::UdpSocket;

/// True when a receive that offered `slots` messages and got `n`, the
/// first described by `meta`, should end the read: the next receive
/// would only find `EAGAIN`.
///
/// On Linux quinn-udp receives with `recvmmsg`, which on a non-blocking
/// socket stops early only at a receive that fails: the queue is empty
/// (`EAGAIN`), or a socket error arrived during the call, which raises
/// readiness events of its own. So fewer messages than `slots` means the
/// queue was empty at that moment. Other platforms are left out: on some
/// quinn-udp receives one datagram per call, and on the others this has
/// not been measured.
///
/// Only a lone datagram (`n == 1`, not a GRO batch) ends the read.
/// Request/response traffic arrives so, one datagram per wake-up, and the
/// receive this saves is one system call on each request's path (tokio
/// likewise ends a stream read that came back short). A short burst or a
/// GRO batch, though the queue was empty too, is read again at once: more
/// is likely on its way, and a receive is cheaper than a trip through the
/// reactor.
///
/// No wake-up is lost: the socket is registered edge-triggered, so a
/// datagram arriving after that receive is a new readiness event, and
/// tokio clears only the readiness this read saw, not a newer one.
fn drained(n: usize, slots: usize, meta: &quinn_udp::RecvMeta) -> bool {
    cfg!(any(target_os = "linux", target_os = "android"))
        && n == 1
        && n < slots
        && meta.len <= meta.stride
}

/// Registers `socket` with tokio's reactor for `interest`.
#[cfg(unix)]
fn register(
    socket: std::net::UdpSocket,
    interest: Interest,
) -> io::Result<tokio::io::unix::AsyncFd<std::net::UdpSocket>> {
    // SAFETY: a `std::net::UdpSocket` owns its descriptor, which stays
    // open and names the same socket until the socket is dropped, and
    // `as_raw_fd` always returns it; the `AsyncFd` owns the socket and
    // only lends it out by shared reference.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(socket, interest) }
        .map_err(|e| e.into_parts().1)
}

/// One received UDP datagram, or a GRO batch of them (all from the same
/// address, with the same ECN codepoint).
#[derive(Debug)]
pub struct Received {
    /// Who sent it.
    pub remote: SocketAddr,
    /// The local address it was sent to, where the platform reports it
    /// (IP_PKTINFO / IPV6_RECVPKTINFO on Linux).
    pub local_ip: Option<IpAddr>,
    /// The ECN codepoint of its IP header.
    pub ecn: Option<EcnCodepoint>,
    /// The payload: one datagram, or several of `segment` bytes each
    /// (the last may be shorter).
    pub data: BytesMut,
    /// The size of each datagram in `data`.
    pub segment: usize,
}

impl Received {
    /// True when `data` holds more than one datagram.
    pub(crate) fn is_batch(&self) -> bool {
        self.data.len() > self.segment
    }

    /// The first datagram's bytes.
    pub(crate) fn first(&self) -> &[u8] {
        &self.data[..self.segment.min(self.data.len())]
    }

    /// The datagrams, in order, without copying.
    pub(crate) fn into_datagrams(self) -> impl Iterator<Item = BytesMut> {
        let (mut data, segment) = (self.data, self.segment.max(1));
        std::iter::from_fn(move || {
            (!data.is_empty()).then(|| data.split_to(segment.min(data.len())))
        })
    }

    /// One `Received` per datagram.
    pub(crate) fn split(self) -> impl Iterator<Item = Received> {
        let (remote, local_ip, ecn) = (self.remote, self.local_ip, self.ecn);
        self.into_datagrams().map(move |data| Received {
            remote,
            local_ip,
            ecn,
            segment: data.len(),
            data,
        })
    }
}

/// A bound UDP socket with its quinn-udp state.
#[derive(Debug)]
pub(crate) struct Socket {
    io: Io,
    state: quinn_udp::UdpSocketState,
    local: SocketAddr,
    #[cfg(feature = "test-hooks")]
    faults: Arc<SocketFaults>,
}

/// **Test hook.** Faults to inject into an endpoint's socket: each
/// counter is how many of the next operations fail that way.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Default)]
pub struct SocketFaults {
    /// Sends failing with ENOBUFS (the kernel's buffers are full).
    pub enobufs: std::sync::atomic::AtomicU32,
    /// Sends failing with EAGAIN although the socket is writable.
    pub eagain: std::sync::atomic::AtomicU32,
    /// Receives failing with ECONNREFUSED (an ICMP port unreachable
    /// reported on the socket).
    pub refused: std::sync::atomic::AtomicU32,
    /// Received batches whose last datagram loses its last 100 bytes (a
    /// GRO batch cut short).
    pub truncated: std::sync::atomic::AtomicU32,
}

#[cfg(feature = "test-hooks")]
impl SocketFaults {
    /// Takes one fault from `counter`; true when there was one.
    fn take(counter: &std::sync::atomic::AtomicU32) -> bool {
        use std::sync::atomic::Ordering;
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }
}

impl Socket {
    /// A socket bound on `addr`, dual-stack when IPv6; with `reuse_port`
    /// (`SO_REUSEPORT`, Unix only), one of several on the same address
    /// among which the kernel spreads senders by address.
    pub(crate) fn bind_std(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::UdpSocket> {
        let domain = socket2::Domain::for_address(addr);
        let s = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if addr.is_ipv6() {
            let _ = s.set_only_v6(false);
        }
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        if reuse_port {
            s.set_reuse_port(true)?;
        }
        #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
        if reuse_port {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "SO_REUSEPORT is not available here",
            ));
        }
        s.bind(&addr.into())?;
        Ok(s.into())
    }

    /// Takes over a bound socket (as `Endpoint::rebind` does), with large
    /// buffers; must run inside a tokio (actix) runtime.
    pub(crate) fn from_std(std: std::net::UdpSocket) -> io::Result<Arc<Self>> {
        Self::from_std_with(
            std,
            #[cfg(feature = "test-hooks")]
            Arc::default(),
        )
    }

    /// As [`from_std`](Self::from_std); under the `test-hooks` feature,
    /// with the faults to inject (which the workers of one endpoint
    /// share).
    pub(crate) fn from_std_with(
        std: std::net::UdpSocket,
        #[cfg(feature = "test-hooks")] faults: Arc<SocketFaults>,
    ) -> io::Result<Arc<Self>> {
        let s = socket2::SockRef::from(&std);
        let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        std.set_nonblocking(true)?;
        let state = quinn_udp::UdpSocketState::new((&std).into())?;
        let local = std.local_addr()?;
        #[cfg(unix)]
        let io = register(std, Interest::READABLE)?;
        #[cfg(not(unix))]
        let io = tokio::net::UdpSocket::from_std(std)?;
        Ok(Arc::new(Self {
            io,
            state,
            local,
            #[cfg(feature = "test-hooks")]
            faults,
        }))
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Most datagrams one GSO send may carry.
    pub(crate) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Sends `contents` (one datagram, or several of `segment_size` with
    /// GSO) without blocking, from `src_ip` when given (the address the
    /// peer reached on a wildcard-bound socket), with the ECN codepoint
    /// `ecn`. Only `WouldBlock` is returned as an error; other send
    /// errors are logged and treated as loss, as UDP allows.
    pub(crate) fn try_send(
        &self,
        destination: SocketAddr,
        src_ip: Option<IpAddr>,
        ecn: Option<EcnCodepoint>,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        #[cfg(feature = "test-hooks")]
        {
            if SocketFaults::take(&self.faults.enobufs) {
                return Err(io::Error::other("no buffer space available (injected)"));
            }
            if SocketFaults::take(&self.faults.eagain) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let t = quinn_udp::Transmit {
            destination,
            ecn: ecn.and_then(|c| quinn_udp::EcnCodepoint::from_bits(c.bits())),
            contents,
            segment_size,
            src_ip,
        };
        #[cfg(unix)]
        return self.state.send(self.io.get_ref().into(), &t);
        #[cfg(not(unix))]
        self.io.try_io(Interest::WRITABLE, || {
            self.state.send((&self.io).into(), &t)
        })
    }

    /// Waits until the socket may accept a send again.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        #[cfg(unix)]
        {
            // A duplicate descriptor, registered for writes while we wait
            // (the reactor takes one registration per descriptor). It
            // reports at once if the socket is writable already.
            let dup = self.io.get_ref().try_clone();
            match dup.and_then(|d| register(d, Interest::WRITABLE)) {
                Ok(w) => w.writable().await?.retain_ready(),
                // Out of descriptors, say: try the send again shortly
                // rather than give up on it.
                Err(_) => tokio::time::sleep(WRITABLE_RETRY).await,
            }
            Ok(())
        }
        #[cfg(not(unix))]
        self.io.writable().await
    }

    /// Runs `recv` once the socket is readable, telling the reactor when
    /// it found the socket's queue empty: on `EAGAIN`, or when `recv` says
    /// so (with the count it received).
    fn poll_receive(
        &self,
        cx: &mut Context<'_>,
        recv: impl FnOnce(quinn_udp::UdpSockRef<'_>) -> io::Result<(usize, bool)>,
    ) -> Poll<io::Result<usize>> {
        #[cfg(unix)]
        {
            let mut guard = std::task::ready!(self.io.poll_read_ready(cx))?;
            let res = recv(self.io.get_ref().into());
            match &res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Ok((_, true)) => guard.clear_ready(),
                _ => guard.retain_ready(),
            }
            Poll::Ready(res.map(|(n, _)| n))
        }
        #[cfg(not(unix))]
        {
            std::task::ready!(self.io.poll_recv_ready(cx))?;
            Poll::Ready(
                self.io
                    .try_io(Interest::READABLE, || recv((&self.io).into()))
                    .map(|(n, _)| n),
            )
        }
    }

    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        windows: &mut RecvWindows,
    ) -> Poll<io::Result<Vec<Received>>> {
        loop {
            let mut metas = [quinn_udp::RecvMeta::default(); WINDOWS];
            let res = std::task::ready!(self.poll_receive(cx, |socket| {
                #[cfg(feature = "test-hooks")]
                if SocketFaults::take(&self.faults.refused) {
                    return Err(io::ErrorKind::ConnectionRefused.into());
                }
                // On the stack: a receive that finds nothing allocates nothing.
                let mut buffers = windows.windows().iter_mut();
                let mut iovs: [IoSliceMut<'_>; WINDOWS] = std::array::from_fn(|_| {
                    IoSliceMut::new(buffers.next().map_or(&mut [][..], |b| &mut b[..]))
                });
                let n = self.state.recv(socket, &mut iovs, &mut metas)?;
                let slots = iovs.len().min(quinn_udp::BATCH_SIZE);
                Ok((n, drained(n, slots, &metas[0])))
            }));
            #[cfg(feature = "test-hooks")]
            if let Ok(n @ 1..) = res {
                if SocketFaults::take(&self.faults.truncated) {
                    let last = &mut metas[n - 1];
                    last.len = last.len.saturating_sub(100);
                }
            }
            match res {
                Ok(n) => {
                    let mut out = Vec::with_capacity(n);
                    for (i, meta) in metas.iter().enumerate().take(n) {
                        let ecn = meta.ecn.and_then(|c| EcnCodepoint::from_bits(c as u8));
                        windows.take(i, meta.len, meta.stride, |data, segment| {
                            out.push(Received {
                                remote: meta.addr,
                                local_ip: meta.dst_ip,
                                ecn,
                                data,
                                segment,
                            })
                        });
                    }
                    return Poll::Ready(Ok(out));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => {
                    // ICMP errors and the like: nothing to do for UDP.
                    tracing::trace!(error = %e, "recv error");
                    continue;
                }
            }
        }
    }
}

/// Batches of received datagrams, as a stream for an actor.
pub(super) struct RecvBatches {
    socket: Arc<Socket>,
    windows: RecvWindows,
}

impl RecvBatches {
    /// Reads from `socket`.
    pub(super) fn new(socket: Arc<Socket>) -> Self {
        Self {
            socket,
            windows: RecvWindows::new(),
        }
    }
}

impl Stream for RecvBatches {
    type Item = Vec<Received>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.socket.poll_recv(cx, &mut this.windows) {
            Poll::Ready(Ok(batch)) => Poll::Ready(Some(batch)),
            Poll::Ready(Err(e)) => {
                tracing::warn!(error = %e, "socket closed");
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// The next batch, or a failure after 5 s.
    async fn next(batches: &mut RecvBatches) -> Vec<Received> {
        tokio::time::timeout(std::time::Duration::from_secs(5), batches.next())
            .await
            .expect("a datagram within 5 s")
            .expect("the socket is open")
    }

    #[test]
    fn only_a_lone_datagram_short_of_the_slots_ends_a_read() {
        let meta = |len, stride| quinn_udp::RecvMeta {
            len,
            stride,
            ..Default::default()
        };
        let linux = cfg!(any(target_os = "linux", target_os = "android"));
        assert_eq!(drained(1, WINDOWS, &meta(40, 40)), linux);
        // A full read: more may be queued.
        assert!(!drained(1, 1, &meta(40, 40)));
        assert!(!drained(WINDOWS, WINDOWS, &meta(40, 40)));
        // A burst, or a GRO batch: read again at once.
        assert!(!drained(2, WINDOWS, &meta(40, 40)));
        assert!(!drained(1, WINDOWS, &meta(120, 40)));
        // Nothing received is EAGAIN's business, not this rule's.
        assert!(!drained(0, WINDOWS, &meta(0, 0)));
    }

    #[tokio::test]
    async fn a_lone_datagram_ends_the_read_and_the_next_datagram_still_wakes_it() {
        let socket = Socket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let to = socket.local_addr();
        let mut batches = RecvBatches::new(socket);
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        // One at a time: each read finds a lone datagram, which clears
        // the readiness; the next datagram must wake it again.
        for i in 0..50u8 {
            peer.send_to(&[i; 40], to).unwrap();
            let got = next(&mut batches).await;
            assert_eq!(got.len(), 1);
            assert_eq!(&got[0].data[..], &[i; 40]);
        }
        // More than a batch at once: every one arrives, in order.
        for i in 0..3 * WINDOWS as u8 {
            // Sizes differ, so the kernel does not coalesce them (GRO).
            peer.send_to(&vec![i; 40 + usize::from(i)], to).unwrap();
        }
        let mut seen = Vec::new();
        while seen.len() < 3 * WINDOWS {
            for r in next(&mut batches).await {
                for d in r.split() {
                    seen.push(d.data[0]);
                }
            }
        }
        assert_eq!(seen, (0..3 * WINDOWS as u8).collect::<Vec<_>>());
    }

    #[test]
    fn a_batch_splits_into_its_datagrams_in_order() {
        let data: BytesMut = (0..24u8).collect::<Vec<_>>().as_slice().into();
        let r = Received {
            remote: "127.0.0.1:4433".parse().unwrap(),
            local_ip: None,
            ecn: Some(EcnCodepoint::Ect0),
            data,
            segment: 10,
        };
        assert!(r.is_batch());
        assert_eq!(r.first(), &(0..10u8).collect::<Vec<_>>()[..]);
        let parts: Vec<Received> = r.split().collect();
        let sizes: Vec<usize> = parts.iter().map(|p| p.data.len()).collect();
        assert_eq!(sizes, [10, 10, 4]);
        assert!(parts
            .iter()
            .all(|p| !p.is_batch() && p.segment == p.data.len()));
        assert!(parts.iter().all(|p| p.ecn == Some(EcnCodepoint::Ect0)));
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.data.iter().copied()).collect();
        assert_eq!(joined, (0..24u8).collect::<Vec<_>>());
    }
}
