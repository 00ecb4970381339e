//! The user-facing handles: thin, cloneable wrappers over actor addresses.
//! They build on the actors; the actors never name them.

mod connection;
mod endpoint;
mod events;
mod streams;

pub use connection::Connection;
pub use endpoint::{Connecting, Endpoint, ZeroRttAccepted};
pub use events::ConnectionEvent;
pub use streams::{RecvStream, SendStream};
