//! actix-quic: a QUIC transport (RFC 9000, 9001, 9002, 9221) in which every
//! connection is an actix actor.
//!
//! - [`Endpoint`] owns a UDP socket (an [`actors::EndpointActor`]) and
//!   routes datagrams by connection ID to connection actors.
//! - [`Connection`] is a cheap handle to an [`actors::ConnectionActor`];
//!   each method sends one of the typed messages in [`messages`], which
//!   may also be sent straight to [`Connection::addr`].
//! - [`protocol`] is the sans-IO core: no actix, no sockets, no clock.
#![warn(missing_docs)]

pub mod actors;
pub mod errors;
pub mod handles;
pub mod messages;
pub mod protocol;
pub mod testing;

pub use errors::{
    ClosedStream, ConnectError, ConnectionError, ReadError, ReadExactError, ReadToEndError,
    SendDatagramError, StoppedError, WriteError,
};
pub use handles::{
    Connecting, Connection, Endpoint, RecvStream, SendStream, Subscription, ZeroRttAccepted,
};
pub use protocol::config::TransportConfig;
pub use protocol::connection::{ApplicationClose, ConnectionClose, ConnectionStats, ZeroRttState};
pub use protocol::endpoint::{ClientConfig, EndpointConfig, ServerConfig};
pub use protocol::error::{TransportError, TransportErrorCode};

/// The README's code, compiled by `cargo test` so the tour stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
