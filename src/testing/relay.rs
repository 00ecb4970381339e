//! A UDP relay on 127.0.0.1 that puts a simulated bad network between
//! real sockets, so whole [`Endpoint`](crate::Endpoint)s (and the actors
//! built on them) can be tested against loss, delay, reordering,
//! corruption and outages.
//!
//! The relay is an actix actor. Clients send to [`Relay::local_addr`]
//! instead of the server; the relay gives each client address a socket
//! of its own towards the server (a small NAT), so the server sees one
//! distinct address per client and its answers find their way back.
//! Every datagram goes through a [`SimLink`] of its direction, the same
//! model the virtual-time [`Pair`](super::Pair) uses, here on the real
//! clock: delays are timers, outages count from the relay's start.
//!
//! ```no_run
//! # async fn run(server: actix_quic::Endpoint, client: actix_quic::Endpoint) -> std::io::Result<()> {
//! use actix_quic::testing::{LinkConfig, Loss, Relay};
//! use std::time::Duration;
//!
//! let link = LinkConfig {
//!     delay: Duration::from_millis(20),
//!     loss: Loss::random(0.1),
//!     ..LinkConfig::default()
//! };
//! let relay = Relay::symmetric(server.local_addr()?, link, 1)?;
//! let connection = client.connect(relay.local_addr(), "localhost").unwrap().await;
//! # Ok(()) }
//! ```
//!
//! Timing is only as precise as the runtime's timers (about a
//! millisecond), and the random decisions follow the seed but the order
//! of datagrams depends on the real scheduling of both peers, so runs
//! through a relay are not bit-for-bit repeatable; use the
//! [`Pair`](super::Pair) for that.

use super::link::{LinkConfig, LinkStats, SimLink};
use super::pair::Direction;
use actix::prelude::*;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::UdpSocket;

/// Most client addresses the relay keeps a socket for; datagrams from
/// further clients are dropped.
const MAX_CLIENTS: usize = 256;

/// Largest datagram the relay reads.
const MAX_DATAGRAM: usize = 65_535;

/// Socket buffer size the relay asks for, so bursts are not lost in the
/// kernel before the simulated link sees them.
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// What a [`Relay`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// The link towards the server.
    pub to_server: LinkStats,
    /// The link towards the clients.
    pub to_client: LinkStats,
    /// Client addresses seen.
    pub clients: usize,
    /// Datagrams the relay received but could not route (from an
    /// unexpected address, or beyond the client limit).
    pub unrouted: u64,
    /// Datagrams the operating system refused to send.
    pub send_errors: u64,
}

/// A handle to a running relay actor. Dropping it stops the relay.
#[derive(Debug)]
pub struct Relay {
    addr: Addr<RelayActor>,
    local: SocketAddr,
    server: SocketAddr,
}

impl Relay {
    /// Starts a relay on 127.0.0.1 (an ephemeral port) in front of
    /// `server`, with `to_server` applied to datagrams from clients and
    /// `to_client` to the answers; `seed` drives the random impairments.
    /// Must be called inside a running actix system.
    pub fn start(
        server: SocketAddr,
        to_server: LinkConfig,
        to_client: LinkConfig,
        seed: u64,
    ) -> io::Result<Self> {
        let front = bind(IpAddr::V4(Ipv4Addr::LOCALHOST))?;
        let local = front.local_addr()?;
        let now = Instant::now();
        let sims = [
            SimLink::new(to_server, seed, now),
            SimLink::new(to_client, seed ^ 0xd1b5_4a32_d192_ed03, now),
        ];
        let addr = RelayActor::create(|ctx| {
            let front = Arc::new(front);
            ctx.add_stream(receive(front.clone(), None));
            RelayActor {
                front,
                server,
                sims,
                clients: HashMap::new(),
                scheduled: BinaryHeap::new(),
                seq: 0,
                timer: None,
                stats: RelayStats::default(),
            }
        });
        Ok(Self {
            addr,
            local,
            server,
        })
    }

    /// [`Relay::start`] with the same model in both directions.
    pub fn symmetric(server: SocketAddr, link: LinkConfig, seed: u64) -> io::Result<Self> {
        Self::start(server, link.clone(), link, seed)
    }

    /// The address clients send to instead of the server's.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The server the relay forwards to.
    pub fn server_addr(&self) -> SocketAddr {
        self.server
    }

    /// What the relay did so far.
    pub async fn stats(&self) -> RelayStats {
        self.addr.send(RelayStatsRequest).await.unwrap_or_default()
    }

    /// Changes the model of direction `dir` from now on (the queue and
    /// generator state carry over).
    pub async fn set_link(&self, dir: Direction, config: LinkConfig) {
        let _ = self.addr.send(SetLink { dir, config }).await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.addr.do_send(StopRelay);
    }
}

/// Asks a relay for its [`RelayStats`].
#[derive(Debug, Message)]
#[rtype(result = "RelayStats")]
pub(crate) struct RelayStatsRequest;

/// Replaces the model of one direction of a relay.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct SetLink {
    /// The direction: [`Direction::ToServer`] is from the clients.
    pub dir: Direction,
    /// The new model.
    pub config: LinkConfig,
}

/// Stops a relay; its sockets close.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct StopRelay;

/// A datagram a relay socket received.
#[derive(Debug)]
struct Received {
    /// Who sent it.
    from: SocketAddr,
    /// For a socket towards the server: the client it serves.
    client: Option<SocketAddr>,
    data: Vec<u8>,
}

/// A datagram waiting for its arrival time: when, sending order,
/// direction, the client it belongs to, and its bytes.
type Scheduled = Reverse<(Instant, u64, Direction, SocketAddr, Vec<u8>)>;

/// The relay actor; see the [module documentation](self). Use it through
/// [`Relay`].
#[derive(Debug)]
pub(crate) struct RelayActor {
    front: Arc<UdpSocket>,
    server: SocketAddr,
    /// Indexed by `Direction as usize`.
    sims: [SimLink; 2],
    /// Client address -> the socket that talks to the server for it.
    clients: HashMap<SocketAddr, Arc<UdpSocket>>,
    scheduled: BinaryHeap<Scheduled>,
    seq: u64,
    /// The armed timer: its deadline and handle.
    timer: Option<(Instant, SpawnHandle)>,
    stats: RelayStats,
}

impl Actor for RelayActor {
    type Context = Context<Self>;
}

impl RelayActor {
    /// The socket towards the server for `client`, made on first use.
    fn back_socket(
        &mut self,
        client: SocketAddr,
        ctx: &mut Context<Self>,
    ) -> Option<Arc<UdpSocket>> {
        if let Some(s) = self.clients.get(&client) {
            return Some(s.clone());
        }
        if self.clients.len() >= MAX_CLIENTS {
            return None;
        }
        let ip = match self.server.ip() {
            ip if ip.is_loopback() => ip,
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        match bind(ip) {
            Ok(s) => {
                let s = Arc::new(s);
                ctx.add_stream(receive(s.clone(), Some(client)));
                self.clients.insert(client, s.clone());
                self.stats.clients = self.clients.len();
                Some(s)
            }
            Err(e) => {
                tracing::warn!(%client, "relay cannot bind a socket: {e}");
                None
            }
        }
    }

    /// Puts `data` on the simulated link of `dir` and schedules what
    /// comes out.
    fn forward(
        &mut self,
        dir: Direction,
        client: SocketAddr,
        data: Vec<u8>,
        ctx: &mut Context<Self>,
    ) {
        let now = Instant::now();
        // The relay does not see the sender's ECN field (a UDP socket
        // here would need to read it): nothing is marked through it.
        let Ok((first, copy)) = self.sims[dir as usize].send(now, data, None) else {
            return;
        };
        for d in std::iter::once(first).chain(copy) {
            self.seq += 1;
            self.scheduled
                .push(Reverse((d.at, self.seq, dir, client, d.data)));
        }
        self.arm(ctx);
    }

    /// Makes the timer fire at the earliest scheduled arrival.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        let Some(Reverse((next, ..))) = self.scheduled.peek() else {
            return;
        };
        let next = *next;
        if let Some((at, handle)) = self.timer {
            if at <= next {
                return;
            }
            ctx.cancel_future(handle);
        }
        let wait = next.saturating_duration_since(Instant::now());
        let handle = ctx.run_later(wait, |act, ctx| {
            act.timer = None;
            act.deliver_due();
            act.arm(ctx);
        });
        self.timer = Some((next, handle));
    }

    /// Sends every datagram whose arrival time has come.
    fn deliver_due(&mut self) {
        let now = Instant::now();
        while self
            .scheduled
            .peek()
            .is_some_and(|Reverse((at, ..))| *at <= now)
        {
            let Reverse((_, _, dir, client, data)) = self.scheduled.pop().expect("checked");
            let sent = match dir {
                Direction::ToServer => match self.clients.get(&client) {
                    Some(s) => s.try_send_to(&data, self.server),
                    None => continue,
                },
                Direction::ToClient => self.front.try_send_to(&data, client),
            };
            if let Err(e) = sent {
                self.stats.send_errors += 1;
                tracing::debug!(?dir, "relay send failed: {e}");
            }
        }
    }
}

impl StreamHandler<Received> for RelayActor {
    fn handle(&mut self, msg: Received, ctx: &mut Context<Self>) {
        match msg.client {
            None => {
                if self.back_socket(msg.from, ctx).is_none() {
                    self.stats.unrouted += 1;
                    return;
                }
                self.forward(Direction::ToServer, msg.from, msg.data, ctx);
            }
            Some(client) => {
                if msg.from != self.server {
                    self.stats.unrouted += 1;
                    return;
                }
                self.forward(Direction::ToClient, client, msg.data, ctx);
            }
        }
    }

    /// A socket failed; the others keep going.
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}

impl Handler<RelayStatsRequest> for RelayActor {
    type Result = MessageResult<RelayStatsRequest>;

    fn handle(&mut self, _: RelayStatsRequest, _: &mut Context<Self>) -> Self::Result {
        MessageResult(RelayStats {
            to_server: *self.sims[0].stats(),
            to_client: *self.sims[1].stats(),
            ..self.stats
        })
    }
}

impl Handler<SetLink> for RelayActor {
    type Result = ();

    fn handle(&mut self, msg: SetLink, _: &mut Context<Self>) {
        self.sims[msg.dir as usize].config = msg.config;
    }
}

impl Handler<StopRelay> for RelayActor {
    type Result = ();

    fn handle(&mut self, _: StopRelay, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A non-blocking UDP socket on `ip`, ephemeral port, with large buffers.
fn bind(ip: IpAddr) -> io::Result<UdpSocket> {
    let addr = SocketAddr::new(ip, 0);
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: the kernel may cap these.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// The datagrams `socket` receives, as a stream; ends on a socket error
/// other than a reported ICMP error.
fn receive(
    socket: Arc<UdpSocket>,
    client: Option<SocketAddr>,
) -> impl futures::Stream<Item = Received> {
    let buf = vec![0u8; MAX_DATAGRAM];
    futures::stream::unfold((socket, buf), move |(socket, mut buf)| async move {
        loop {
            match socket.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let msg = Received {
                        from,
                        client,
                        data: buf[..n].to_vec(),
                    };
                    return Some((msg, (socket, buf)));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    tracing::debug!("relay socket closed: {e}");
                    return None;
                }
            }
        }
    })
}
