//! The user-facing handles: thin, cloneable wrappers over actor addresses.

mod connection;
mod endpoint;
mod streams;
mod subscription;

pub use connection::Connection;
pub use endpoint::{Connecting, Endpoint, ZeroRttAccepted};
pub use streams::{RecvStream, SendStream};
pub use subscription::Subscription;
