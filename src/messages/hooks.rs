//! Test hooks (feature `test-hooks`): what an actor holds, so tests can
//! check that nothing is left behind. Not a stable API.

use crate::actors::ConnectionActor;
use actix::{Addr, Message};

/// Asks an endpoint actor for its connection actors (the first
/// worker's answer holds every worker's).
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Vec<Addr<ConnectionActor>>")]
pub struct ConnectionActors;

/// Asks a connection actor how big its tables are.
#[derive(Debug, Clone, Copy, Message)]
#[rtype(result = "Tables")]
pub struct TableSizes;

/// How many entries a connection holds per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tables {
    /// Streams with a sending part in the protocol core.
    pub send_streams: usize,
    /// Streams with a receiving part in the protocol core.
    pub recv_streams: usize,
    /// Entries of the actor's per-stream tables: parked reads, writes,
    /// `stopped()` calls and stream outboxes.
    pub stream_waiters: usize,
}
