//! The actor layer: an endpoint actor per UDP socket and a connection actor
//! per QUIC connection, driving the sans-IO core in `crate::protocol`.

mod connection;
mod endpoint;
mod socket;

pub use connection::ConnectionActor;
pub(crate) use connection::{HandleParts, HandleToken, Shared, Snapshot};
pub use endpoint::EndpointActor;
pub(crate) use endpoint::{
    Accept, CloseEndpoint, Connect, Rebind, SetDefaultClientConfig, SetServerConfig, WaitIdle,
};
pub(crate) use socket::Socket;
