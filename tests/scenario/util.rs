//! Helpers shared by the `scenario` tests: pairs on the interop
//! runner's links, and a wall-clock guard.
#![allow(dead_code)]

use actix_quic::protocol::CongestionAlgorithm;
use actix_quic::protocol::TransportConfig;
use actix_quic::testing::{Link, Pair};

pub use crate::common::{pair, pair_with};
use std::time::Duration;

/// 10 Mbit/s, the interop runner's default link rate.
pub const TEN_MBIT: u64 = 10_000_000;

/// A pair whose both sides use `algorithm` for congestion control.
pub fn pair_with_cc(link: Link, algorithm: CongestionAlgorithm) -> Pair {
    let transport = {
        let mut config = TransportConfig::default();
        config.congestion(algorithm);
        config
    };
    pair_with(transport.clone(), transport, link)
}

/// Megabytes as the interop runner counts them.
pub const MB: u64 = 1_000_000;

/// Generous bound on virtual time for a scenario.
pub fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// The server connection's statistics.
pub fn server_stats(p: &Pair) -> actix_quic::ConnectionStats {
    p.server.as_ref().expect("server exists").stats()
}
