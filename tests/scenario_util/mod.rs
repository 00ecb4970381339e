//! Helpers shared by the `scenario_*` tests: pairs on the interop
//! runner's links, and a wall-clock guard.
#![allow(dead_code)]

use crate::common;
use actix_quic::protocol::CongestionAlgorithm;
use actix_quic::protocol::TransportConfig;
use actix_quic::testing::{Link, Pair};
use std::sync::Arc;
use std::time::Duration;

/// 10 Mbit/s, the interop runner's default link rate.
pub const TEN_MBIT: u64 = 10_000_000;

/// A pair with default settings on `link`.
pub fn pair(link: Link) -> Pair {
    let (c, s) = common::configs();
    Pair::new(c, s, "localhost", link)
}

/// A pair whose both sides use `algorithm` for congestion control.
pub fn pair_with_cc(link: Link, algorithm: CongestionAlgorithm) -> Pair {
    let (mut c, mut s) = common::configs();
    let transport = Arc::new(TransportConfig {
        congestion: algorithm,
        ..TransportConfig::default()
    });
    c.transport = transport.clone();
    s.transport = transport;
    Pair::new(c, s, "localhost", link)
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
