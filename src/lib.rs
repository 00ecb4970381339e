//! actix-quic: a QUIC transport in which every connection is an actix actor.
#![warn(missing_docs)]

pub mod protocol;
pub mod testing;
