//! The actor layer: an endpoint actor per UDP socket and a connection actor
//! per QUIC connection, driving the sans-IO core in `crate::protocol`.

pub mod connection;
pub mod endpoint;
pub mod socket;

pub use connection::ConnectionActor;
pub use endpoint::EndpointActor;
