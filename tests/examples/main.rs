//! The examples run as processes, as a user runs them. The example
//! binaries are not built by `cargo test --test examples` alone: `cargo
//! build --examples` first (a plain `cargo test` builds them). A missing
//! or stale binary fails the test.

mod bench;
mod interop;
mod load;
mod process;
mod quic_cp;
