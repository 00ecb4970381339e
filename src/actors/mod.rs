//! The actor layer: an endpoint actor per UDP socket and a connection actor
//! per QUIC connection, driving the sans-IO core in `crate::protocol`.
//! Nothing here knows the handles built on top (`crate::handles`).

mod connection;
mod endpoint;
mod recv_windows;
mod reply;
mod socket;
mod workers;

pub use connection::{ConnectionActor, Subscription};
pub(crate) use connection::{
    ConnectionParts, EventSink, Inbox, Outbox, OutboxError, PendingActor, Snapshot, Take,
};
pub use endpoint::EndpointActor;
pub(crate) use endpoint::EndpointShared;
#[cfg(feature = "test-hooks")]
pub use socket::SocketFaults;
pub(crate) use socket::{Received, Socket};
pub(crate) use workers::start_endpoint;
