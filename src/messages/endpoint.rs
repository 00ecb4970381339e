//! The messages an endpoint actor answers. The `Endpoint` handle wraps
//! exactly these.

use crate::actors::ConnectionActor;
use crate::protocol::{ClientConfig, ConnectError, ServerConfig, VarInt};
use actix::{Addr, Message};
use bytes::Bytes;
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

/// Waits for the next connection a client opened to this endpoint;
/// `None` once the endpoint is closed. A wait abandoned by its caller
/// takes nothing: the connection goes to the next `Accept`.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Option<Addr<ConnectionActor>>")]
pub struct Accept;

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
