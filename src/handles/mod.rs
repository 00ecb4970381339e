//! The user-facing handles: thin, cloneable wrappers over actor addresses.

pub mod connection;
pub mod endpoint;
pub mod streams;
pub mod subscription;

pub use connection::Connection;
pub use endpoint::{Connecting, Endpoint, ZeroRttAccepted};
pub use streams::{RecvStream, SendStream};
pub use subscription::Subscription;
