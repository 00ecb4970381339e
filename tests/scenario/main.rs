//! The quic-interop-runner scenarios on the simulated network, in
//! virtual time and seeded: handshakes, transfers and goodput under loss,
//! corruption, reordering, outages and long RTTs. Run with `--nocapture`
//! to see the figures.

#[path = "../common/mod.rs"]
mod common;

mod goodput;
mod handshake;
mod quinn_sim;
mod transfer;
mod util;
