//! The messages an endpoint actor answers. The `Endpoint` handle wraps
//! exactly these.

use crate::actors::ConnectionActor;
use crate::protocol::{
    ClientConfig, ConnectError, ConnectionError, Incoming, RetryError, ServerConfig, VarInt,
};
use actix::{Addr, Message, MessageResponse, Recipient};
use bytes::Bytes;
use std::net::IpAddr;
use std::net::SocketAddr;

/// Starts a client connection; replies with its actor.
#[derive(Debug, Message)]
#[rtype(result = "Result<Addr<ConnectionActor>, ConnectError>")]
pub struct Connect {
    /// Configuration; the endpoint's default when `None`.
    pub config: Option<ClientConfig>,
    /// The server's address.
    pub remote: SocketAddr,
    /// The name to verify the server's certificate against.
    pub server_name: String,
}

/// Waits for the next connection attempt of a client, before any TLS
/// work; `None` once the endpoint is closed. A wait abandoned by its
/// caller takes nothing: the attempt goes to the next `Accept`. Decide on
/// it with [`AcceptIncoming`], [`RefuseIncoming`], [`RetryIncoming`] or
/// [`IgnoreIncoming`].
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<Incoming>")]
pub struct Accept;

/// Accepts a connection attempt, with `config` in place of the endpoint's
/// server configuration when given; replies with the connection's actor,
/// its handshake under way.
#[derive(Debug, Message)]
#[rtype(result = "Result<Addr<ConnectionActor>, ConnectionError>")]
pub struct AcceptIncoming {
    /// The attempt.
    pub incoming: Incoming,
    /// Transport and TLS settings for this connection.
    pub config: Option<ServerConfig>,
}

/// Refuses a connection attempt: the client's connection fails with
/// CONNECTION_REFUSED (RFC 9000 §20.1).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct RefuseIncoming(pub Incoming);

/// Answers a connection attempt with a Retry (RFC 9000 §8.1.2); the
/// client comes back with its address proven, as a new attempt. Fails,
/// giving the attempt back, when it answers a Retry already.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), RetryError>")]
pub struct RetryIncoming(pub Incoming);

/// Drops a connection attempt without a word.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct IgnoreIncoming(pub Incoming);

/// Asks a policy actor what to do with a new connection attempt, before
/// any TLS work: delivered to the recipient set with
/// [`SetIncomingPolicy`]. `Accept` puts the attempt where `accept()`
/// finds it.
#[derive(Debug, Clone, Message)]
#[rtype(result = "IncomingDecision")]
pub struct NewIncoming {
    /// The client's address.
    pub remote: SocketAddr,
    /// The local IP address the client reached, where the platform says.
    pub local_ip: Option<IpAddr>,
    /// The client proved its address with a token (RFC 9000 §8.1).
    pub remote_address_validated: bool,
    /// A Retry may answer it (it answers none yet).
    pub may_retry: bool,
}

/// A policy's answer to [`NewIncoming`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, MessageResponse)]
pub enum IncomingDecision {
    /// Hand it to `accept()`.
    Accept,
    /// Close it with CONNECTION_REFUSED.
    Refuse,
    /// Answer with a Retry; a client that answers one already is handed
    /// to `accept()`, its address being proven.
    Retry,
    /// Drop it without a word.
    Ignore,
}

/// Sets (or with `None`, removes) the actor that decides on each new
/// connection attempt; while none is set, every attempt goes to
/// `accept()`. An attempt whose policy cannot be reached is refused.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SetIncomingPolicy(pub Option<Recipient<NewIncoming>>);

/// Closes every connection and stops accepting.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct CloseEndpoint {
    /// Application error code.
    pub code: VarInt,
    /// Reason.
    pub reason: Bytes,
}

/// Waits until no connection is left.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "()")]
pub struct WaitIdle;

/// Sets the default client configuration.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SetDefaultClientConfig(pub ClientConfig);

/// Replaces the server configuration (`None`: stop accepting).
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct SetServerConfig(pub Option<ServerConfig>);
