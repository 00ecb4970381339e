//! Protocol tests: a sans-IO client and server joined by a simulated
//! network on a virtual clock (`actix_quic::testing::Pair`). One file per
//! behaviour; shared set-up in `util` and `../common`.

#[path = "../common/mod.rs"]
mod common;

/// Counts the heap bytes each test's thread holds (`pinning.rs`).
#[global_allocator]
static ALLOC: alloc_count::Counting = alloc_count::Counting;

mod alloc_count;
mod amplification;
mod bad_input;
mod cids;
mod close;
mod datagrams;
mod early_1rtt;
mod ecn;
mod error_codes;
mod flood;
mod flow_control;
mod handshake;
mod idle;
mod incoming;
mod key_update;
mod loss;
mod migration;
mod mtu;
mod persistent_congestion;
mod pinning;
mod probes;
#[cfg(feature = "qlog")]
mod qlog;
mod retry;
mod seed;
mod stateless_reset;
mod streams;
mod util;
mod version;
mod zero_rtt;
