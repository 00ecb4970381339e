//! What the connection actor shares with its handles: the snapshot that
//! the handles' sync getters read, the token whose last drop closes the
//! connection, the parts a handle is made of, and the subscription guard.

use super::ConnectionActor;
use crate::messages::internal::AllHandlesDropped;
use crate::messages::Unsubscribe;
use crate::protocol::{
    CongestionState, Connection as ProtoConnection, ConnectionError, ConnectionStats,
    HandshakeData, SendDatagramError,
};
use actix::Addr;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Statistics.
    pub(crate) stats: ConnectionStats,
    /// Congestion controller state.
    pub(crate) congestion: CongestionState,
    /// Negotiated handshake data.
    pub(crate) handshake_data: Option<HandshakeData>,
    /// The peer's certificates.
    pub(crate) peer_certificates: Option<Vec<rustls::pki_types::CertificateDer<'static>>>,
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
            stats: conn.stats(),
            congestion: conn.congestion_state(),
            handshake_data: conn.handshake_data(),
            peer_certificates: conn.peer_certificates(),
            handshake_complete: conn.is_handshake_complete(),
            max_datagram_size: conn.max_datagram_size(),
            datagram_limit: conn.datagram_limit(),
            close_reason: conn.error().cloned(),
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
        self.stats = conn.stats();
        self.congestion = conn.congestion_state();
        if !self.handshake_complete {
            self.handshake_data = conn.handshake_data();
            self.peer_certificates = conn.peer_certificates();
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
    /// The latest snapshot.
    pub(crate) snapshot: Mutex<Snapshot>,
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
    /// The connection actor.
    pub(crate) addr: Addr<ConnectionActor>,
    /// The state the sync getters read.
    pub(crate) shared: Arc<Shared>,
    /// Keeps the connection open while any handle lives.
    pub(crate) token: Arc<HandleToken>,
}

/// Keeps a subscription to a connection's events (see
/// [`messages::Subscribe`](crate::messages::Subscribe)) and the connection
/// itself alive. Dropping it unsubscribes; if no other handle is left,
/// the connection then closes with code 0, as when the last `Connection`
/// goes.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    addr: Addr<ConnectionActor>,
    _token: Arc<HandleToken>,
}

impl Subscription {
    pub(super) fn new(id: u64, addr: Addr<ConnectionActor>, token: Arc<HandleToken>) -> Self {
        Self {
            id,
            addr,
            _token: token,
        }
    }

    /// This subscription's number on its connection.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.addr.do_send(Unsubscribe(self.id));
    }
}
