//! actix-quic: a QUIC transport (RFC 9000, 9001, 9002, 9221) in which every
//! connection is an actix actor.
//!
//! - [`Endpoint`] owns a UDP socket (an [`EndpointActor`]) and routes
//!   datagrams by connection ID to connection actors.
//! - [`Connection`] is a cheap handle to a [`ConnectionActor`]; each method
//!   sends one of the typed messages in [`messages`], which may also be
//!   sent straight to [`Connection::addr`].
//! - [`protocol`] is the sans-IO core: no actix, no sockets, no clock.
//! - `testing` (cargo feature `testing`) is a simulated network to test
//!   your own actors and protocols against loss, delay and reordering.
#![warn(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod actors;
mod errors;
mod handles;
#[cfg(feature = "h3")]
#[cfg_attr(docsrs, doc(cfg(feature = "h3")))]
pub mod http3;
pub mod messages;
pub mod protocol;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod web;

/// Test hook: faults injected into an endpoint's socket.
#[cfg(feature = "test-hooks")]
pub use actors::SocketFaults;
pub use actors::{ConnectionActor, EndpointActor, Subscription};
pub use errors::{
    ClosedStream, ReadError, ReadExactError, ReadToEndError, StoppedError, WriteError, Written,
};
pub use handles::{
    Connecting, Connection, ConnectionEvent, Endpoint, Incoming, KeyUpdate, RecvStream, RetryError,
    SendStream, ZeroRttAccepted,
};
pub use protocol::{
    ApplicationClose, ClientConfig, ConfigError, CongestionAlgorithm, CongestionPhase,
    CongestionState, ConnectError, ConnectionClose, ConnectionError, ConnectionId,
    ConnectionIdGenerator, ConnectionStats, Dir, EcnState, EcnStats, EndpointConfig, FrameStats,
    HandshakeData, IdleTimeout, MtuDiscoveryConfig, QuicLbCids, QuicLbConfig, QuicLbError,
    RandomCids, SendDatagramError, ServerConfig, ServerId, Side, StreamId, TokenKey, TokenStore,
    TransportConfig, TransportError, TransportErrorCode, VarInt, VarIntBoundsExceeded,
    ZeroRttState, VERSION_1, VERSION_2,
};
/// The rustls version this crate is built against, to build its
/// `ClientConfig` / `ServerConfig` with.
pub use rustls;

/// The README's code, compiled by `cargo test` so the tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
