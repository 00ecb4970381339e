//! Test utilities: a deterministic in-memory network for the sans-IO core.
//! Users may use them to test their own protocol logic.

pub mod pair;

pub use pair::{Direction, Link, Pair, SplitMix};
