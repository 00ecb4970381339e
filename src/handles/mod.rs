//! The user-facing handles: thin, cloneable wrappers over actor addresses.
//! They build on the actors; the actors never name them.

mod connecting;
mod connection;
mod endpoint;
mod events;
mod incoming;
mod streams;

pub use connecting::{Connecting, ZeroRttAccepted};
pub use connection::{Connection, KeyUpdate};
pub use endpoint::Endpoint;
pub use events::ConnectionEvent;
pub use incoming::{Incoming, RetryError};
pub use streams::{RecvStream, SendStream};
