//! What the connection actor shares with its handles: the snapshot that
//! the handles' sync getters read, the token whose last drop closes the
//! connection, the parts a handle is made of, and the subscription guard.

use super::ConnectionActor;
use crate::messages::internal::AllHandlesDropped;
use crate::messages::Unsubscribe;
use crate::protocol::{
    CongestionState, Connection as ProtoConnection, ConnectionError, ConnectionStats, Dir,
    HandshakeData, SendDatagramError, Side, StreamId, TlsSession,
};
use actix::dev::channel::{self, AddressReceiver};
use actix::{Addr, Context};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

/// Numbers connections in this process (`Connection::stable_id`).
static STABLE_IDS: AtomicUsize = AtomicUsize::new(1);

/// What sync getters on the `Connection` handle read, refreshed by every
/// drive of the actor.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// Peer address.
    pub(crate) remote: SocketAddr,
    /// Server: the local IP the client reached.
    pub(crate) local_ip: Option<std::net::IpAddr>,
    /// Smoothed RTT.
    pub(crate) rtt: Duration,
    /// Smallest RTT sample.
    pub(crate) min_rtt: Duration,
    /// Statistics.
    pub(crate) stats: ConnectionStats,
    /// Congestion controller state.
    pub(crate) congestion: CongestionState,
    /// Negotiated handshake data.
    pub(crate) handshake_data: Option<HandshakeData>,
    /// The peer's certificates.
    /// The handshake completed: what it agreed is final.
    handshake_complete: bool,
    /// Largest datagram we may send.
    pub(crate) max_datagram_size: Option<usize>,
    /// Largest datagram `send_datagram` takes now, or why none.
    pub(crate) datagram_limit: Result<usize, SendDatagramError>,
    /// Why the connection closed.
    pub(crate) close_reason: Option<ConnectionError>,
}

impl Snapshot {
    /// The state of `conn` now.
    pub(super) fn of(conn: &ProtoConnection) -> Self {
        Self {
            remote: conn.remote_address(),
            local_ip: conn.local_ip(),
            rtt: conn.rtt(),
            min_rtt: conn.min_rtt(),
            stats: conn.stats(),
            congestion: conn.congestion_state(),
            handshake_data: conn.handshake_data(),
            handshake_complete: conn.is_handshake_complete(),
            max_datagram_size: conn.max_datagram_size(),
            datagram_limit: conn.datagram_limit(),
            close_reason: conn.error().cloned(),
        }
    }

    /// A connection whose actor has not started yet: its address, and
    /// what a connection knows before its first packet.
    fn waiting(remote: SocketAddr, local_ip: Option<std::net::IpAddr>) -> Self {
        Self {
            remote,
            local_ip,
            rtt: Duration::from_millis(333),
            min_rtt: Duration::from_millis(333),
            stats: ConnectionStats::default(),
            congestion: CongestionState {
                window: 0,
                in_flight: 0,
                ssthresh: u64::MAX,
                algorithm: "",
                phase: crate::protocol::CongestionPhase::SlowStart,
            },
            handshake_data: None,
            handshake_complete: false,
            max_datagram_size: None,
            datagram_limit: Err(SendDatagramError::Disabled),
            close_reason: None,
        }
    }

    /// The application closed the connection: its handles see it at once.
    pub(crate) fn closed_locally(&mut self) {
        self.close_reason
            .get_or_insert(ConnectionError::LocallyClosed);
    }

    /// Brings the snapshot up to date with `conn`; what is learned once
    /// (handshake data, certificates, the close reason) is kept.
    pub(super) fn update(&mut self, conn: &ProtoConnection) {
        self.remote = conn.remote_address();
        self.local_ip = conn.local_ip();
        self.rtt = conn.rtt();
        self.min_rtt = conn.min_rtt();
        self.stats = conn.stats();
        self.congestion = conn.congestion_state();
        if !self.handshake_complete {
            self.handshake_data = conn.handshake_data();
            self.handshake_complete = conn.is_handshake_complete();
        }
        self.max_datagram_size = conn.max_datagram_size();
        self.datagram_limit = conn.datagram_limit();
        if self.close_reason.is_none() {
            self.close_reason = conn.error().cloned();
        }
    }
}

/// State shared between the actor and its handles.
#[derive(Debug)]
pub(crate) struct Shared {
    /// A number unique to this connection in this process.
    pub(crate) stable_id: usize,
    /// Which end of the connection this is.
    pub(crate) side: Side,
    /// The latest snapshot.
    pub(crate) snapshot: Mutex<Snapshot>,
    /// The connection's TLS session, for exporting keying material; set
    /// once the actor has the connection.
    pub(crate) tls: OnceLock<TlsSession>,
    /// Our stream IDs, bidirectional and unidirectional: handed out here,
    /// in order, by handles (with no round trip to the actor while the
    /// peer's limit allows) and by the actor alike.
    streams: [StreamCredit; 2],
}

/// The next index of our streams of one direction, and the peer's limit
/// on them as the actor last saw it.
#[derive(Debug, Default)]
struct StreamCredit {
    next: AtomicU64,
    limit: AtomicU64,
}

impl Shared {
    /// The shared state of `conn`, which an actor drives.
    pub(crate) fn of(conn: &ProtoConnection) -> Arc<Self> {
        let shared = Self::new(conn.side(), Snapshot::of(conn));
        let _ = shared.tls.set(conn.tls_session());
        shared.publish_limits(conn);
        shared
    }

    fn new(side: Side, snapshot: Snapshot) -> Arc<Self> {
        Arc::new(Self {
            stable_id: STABLE_IDS.fetch_add(1, Ordering::Relaxed),
            side,
            snapshot: Mutex::new(snapshot),
            tls: OnceLock::new(),
            streams: Default::default(),
        })
    }

    /// True when the peer's limit, as `conn` knows it, allows another of
    /// our streams of `dir` than those handed out.
    #[cfg(debug_assertions)]
    pub(super) fn stream_credit_left(&self, conn: &ProtoConnection, dir: Dir) -> bool {
        self.streams[dir.index()].next.load(Ordering::Acquire) < conn.open_limit(dir)
    }

    /// Takes the next index of our streams of `dir` if the peer's limit
    /// allows one more.
    pub(crate) fn take_stream(&self, dir: Dir) -> Option<StreamId> {
        let credit = &self.streams[dir.index()];
        let limit = credit.limit.load(Ordering::Acquire);
        credit
            .next
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|index| StreamId::new(self.side, dir, index))
    }

    /// The peer's stream limits as `conn` knows them now.
    pub(super) fn publish_limits(&self, conn: &ProtoConnection) {
        for dir in [Dir::Bi, Dir::Uni] {
            self.streams[dir.index()]
                .limit
                .store(conn.open_limit(dir), Ordering::Release);
        }
    }

    /// The snapshot, locked.
    pub(crate) fn snapshot(&self) -> std::sync::MutexGuard<'_, Snapshot> {
        self.snapshot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The actor took `conn`: the handles read its state from now on
    /// (keeping a close they already asked for).
    fn adopt(&self, conn: &ProtoConnection) {
        let _ = self.tls.set(conn.tls_session());
        self.publish_limits(conn);
        let mut snapshot = self.snapshot();
        let closed = snapshot.close_reason.take();
        *snapshot = Snapshot::of(conn);
        snapshot.close_reason = closed.or(snapshot.close_reason.take());
    }
}

/// A connection actor whose address and handle exist before it does, so
/// that `connect` and `Incoming::accept` hand out a `Connection` at once
/// (quinn's `Connecting::into_0rtt` is sync); the endpoint actor starts
/// it on its own thread once it has routed the connection, or, if it
/// cannot, drops it with the reason, which the handles then report.
pub(crate) struct PendingActor {
    mailbox: AddressReceiver<ConnectionActor>,
    shared: Arc<Shared>,
    token: Weak<HandleToken>,
}

impl std::fmt::Debug for PendingActor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingActor")
            .field("stable_id", &self.shared.stable_id)
            .finish_non_exhaustive()
    }
}

impl PendingActor {
    /// An actor to be, for a connection with `remote`, and the parts of a
    /// handle to it. `conn` is the connection when it exists already (a
    /// client's), so the handles read its state at once.
    pub(crate) fn new(
        remote: SocketAddr,
        local_ip: Option<std::net::IpAddr>,
        conn: Option<&ProtoConnection>,
    ) -> (Self, ConnectionParts) {
        let (tx, mailbox) = channel::channel(16);
        let addr = Addr::new(tx);
        let shared = match conn {
            Some(conn) => Shared::of(conn),
            // Only a server's connection starts without one.
            None => Shared::new(Side::Server, Snapshot::waiting(remote, local_ip)),
        };
        let token = Arc::new(HandleToken::new(addr));
        let pending = Self {
            mailbox,
            shared: shared.clone(),
            token: Arc::downgrade(&token),
        };
        let parts = ConnectionParts { shared, token };
        (pending, parts)
    }

    /// Starts `actor` on the current thread, as the actor the handles
    /// address.
    pub(crate) fn start(self, mut actor: ConnectionActor) -> Addr<ConnectionActor> {
        self.shared.adopt(&actor.conn);
        actor.shared = self.shared;
        actor.token = self.token;
        Context::with_receiver(self.mailbox).run(actor)
    }

    /// The connection could not start: its handles report `error`.
    pub(crate) fn fail(self, error: ConnectionError) {
        self.shared.snapshot().close_reason.get_or_insert(error);
    }
}

/// Held by every user handle of a connection; when the last is dropped the
/// connection closes with code 0 and an empty reason.
#[derive(Debug)]
pub(crate) struct HandleToken {
    addr: Addr<ConnectionActor>,
}

impl HandleToken {
    pub(super) fn new(addr: Addr<ConnectionActor>) -> Self {
        Self { addr }
    }
}

impl Drop for HandleToken {
    fn drop(&mut self) {
        self.addr.do_send(AllHandlesDropped);
    }
}

/// What a handle to a connection is made of: the actor's address, the
/// shared snapshot, and a token keeping the connection open.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionParts {
    /// The state the sync getters read.
    pub(crate) shared: Arc<Shared>,
    /// Keeps the connection open while any handle lives.
    pub(crate) token: Arc<HandleToken>,
}

impl ConnectionParts {
    /// The connection actor (the token's address: one `Addr` per
    /// connection's handles, each costing an allocation).
    pub(crate) fn addr(&self) -> &Addr<ConnectionActor> {
        &self.token.addr
    }
}

/// Keeps a subscription to a connection's events (see
/// [`messages::Subscribe`](crate::messages::Subscribe)) and the connection
/// itself alive. Dropping it unsubscribes; if no other handle is left,
/// the connection then closes with code 0, as when the last `Connection`
/// goes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    token: Arc<HandleToken>,
}

impl Subscription {
    pub(super) fn new(id: u64, token: Arc<HandleToken>) -> Self {
        Self { id, token }
    }

    /// This subscription's number on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.token.addr.do_send(Unsubscribe(self.id));
    }
}
