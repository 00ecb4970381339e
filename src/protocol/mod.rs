//! The sans-IO QUIC core: no actix, no tokio, no sockets, no clock reads.
//! Time is always passed in as `now`.
//!
//! Most users never touch this module: [`Endpoint`](crate::Endpoint) and
//! [`Connection`](crate::Connection) drive it. It is public for those who
//! drive the core themselves, as quinn-proto is: a [`Endpoint`] routes
//! datagrams and accepts connections; each [`Connection`] takes
//! datagrams, timeouts and stream commands, and is drained with
//! [`Connection::poll_transmit`], [`Connection::poll_timeout`],
//! [`Connection::poll_endpoint_event`] and [`Connection::poll_event`].

/// Declares modules that are internal, except under the `test-hooks`
/// feature: the crate's own tests and fuzz targets drive these codecs
/// directly. Their items are `pub` so that the feature can expose them;
/// without it they are reachable only through the re-exports below.
macro_rules! hooked_modules {
    ($($(#[$attr:meta])* mod $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "test-hooks")]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "test-hooks"))]
        #[allow(unreachable_pub)]
        mod $name;
    )*};
}

hooked_modules! {
    /// Out-of-order byte reassembly for streams and CRYPTO data.
    mod assembler;
    /// Packet protection through rustls (RFC 9001 §5).
    mod crypto;
    /// Frame encoding and decoding (RFC 9000 §12.4, §19; RFC 9221 §4).
    mod frame;
    /// Packet headers, packet numbers and coalescing (RFC 9000 §17).
    mod packet;
    /// Sets of ranges: received packet numbers, acknowledged bytes.
    mod range_set;
    /// Transport parameters (RFC 9000 §18).
    mod transport_params;
    /// Variable-length integers (RFC 9000 §16).
    mod varint;
}

pub(crate) mod backend;
mod cid;
mod cid_generator;
mod config;
mod congestion;
mod connection;
mod ecn;
mod endpoint;
mod error;
mod exporter;
mod incoming;
mod quic_lb;
mod rtt;
mod stream_id;
mod streams;
mod token;
mod workers;

pub use cid::{ConnectionId, MAX_CID_LEN};
pub(crate) use cid_generator::CidIssuer;
pub use cid_generator::{ConnectionIdGenerator, RandomCids};
pub use config::{
    ClientConfig, ConfigError, EndpointConfig, IdleTimeout, MtuDiscoveryConfig, ServerConfig,
    TransportConfig,
};
pub use congestion::{CongestionAlgorithm, CongestionPhase, CongestionState};
pub use connection::{
    ApplicationClose, ConnectError, Connection, ConnectionClose, ConnectionError, ConnectionStats,
    EcnState, EcnStats, EndpointEvent, Event, FrameStats, HandshakeData, SendDatagramError,
    Transmit, ZeroRttState,
};
#[cfg(feature = "qlog")]
#[cfg_attr(docsrs, doc(cfg(feature = "qlog")))]
pub use connection::{QlogDir, QlogFactory};
pub use ecn::EcnCodepoint;
pub(crate) use endpoint::ClientFactory;
pub use endpoint::{ConnectionHandle, DatagramEvent, Endpoint, EndpointStats};
pub use error::{TransportError, TransportErrorCode};
pub use incoming::{AcceptError, Incoming, RetryError};
pub use packet::{VERSION_1, VERSION_2};
pub use quic_lb::{QuicLbCids, QuicLbConfig, QuicLbError, ServerId};
pub use stream_id::{Dir, StreamId};
pub use streams::{ReadFailure, SendStatus, StreamEvent, WriteFailure};
pub use token::{TokenKey, TokenStore};
pub use varint::{VarInt, VarIntBoundsExceeded};
pub(crate) use workers::{SharedCounts, WorkerRole, MAX_WORKERS};

pub(crate) use connection::TlsSession;
// For the simulated network's corruption accounting.
#[cfg(feature = "testing")]
pub(crate) use cid_generator::DEFAULT_CID_LEN;
#[cfg(feature = "testing")]
pub(crate) use packet::PartialHeader;

/// Test hooks: packet number spaces, for sealing hand-crafted packets.
#[cfg(feature = "test-hooks")]
pub use connection::spaces::SpaceId;

/// A hash map whose hasher is keyed by a secret the caller chooses (from
/// an endpoint's seed), for keys a peer can choose.
pub(crate) type KeyedMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// The set of [`KeyedMap`].
pub(crate) type KeyedSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

/// Which end of a connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that sent the first Initial.
    Client,
    /// The endpoint that accepted the connection.
    Server,
}

impl Side {
    /// True for the client.
    pub fn is_client(self) -> bool {
        self == Side::Client
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}
