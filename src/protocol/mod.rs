//! The sans-IO QUIC core: no actix, no tokio, no sockets, no clock reads.
//! Time is always passed in as `now`.

pub mod assembler;
pub mod cid;
pub mod config;
pub mod congestion;
pub mod connection;
pub mod crypto;
pub mod endpoint;
pub mod error;
pub mod frame;
pub mod packet;
pub mod range_set;
pub mod rtt;
pub mod streams;
pub mod token;
pub mod transport_params;
pub mod varint;

/// Which end of a connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The endpoint that sent the first Initial.
    Client,
    /// The endpoint that accepted the connection.
    Server,
}

impl Side {
    /// True for the client.
    pub fn is_client(self) -> bool {
        self == Side::Client
    }

    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}
