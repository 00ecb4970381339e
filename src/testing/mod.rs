//! Test utilities (cargo feature `testing`): simulated bad networks for
//! the sans-IO core and for whole endpoints, so that users can test their
//! own protocol logic and actors against loss, delay, reordering,
//! corruption and outages, deterministically.
//!
//! - [`SimLink`] models one direction of a network path (delay,
//!   bandwidth, queue, loss with bursts, reordering, duplication,
//!   corruption, outages) from a [`LinkConfig`], driven by a seed and a
//!   caller's clock.
//! - [`Pair`] is a client and a server
//!   [`protocol::Connection`](crate::protocol::Connection) joined by two
//!   such links ([`Link`]) under a virtual clock; a 10 MB transfer over a
//!   10 Mbit/s link takes milliseconds of real time. [`Pair::download`]
//!   measures goodput.
//! - [`Relay`] is an actix actor relaying real UDP datagrams on 127.0.0.1
//!   through the same model in real time, so whole
//!   [`Endpoint`](crate::Endpoint)s can be tested through a bad network.

mod download;
mod link;
mod pair;
mod relay;

pub use download::{payload_byte, Download, DownloadError};
pub use link::{Delivery, DropReason, LinkConfig, LinkStats, Loss, Outage, SimLink, SplitMix};
pub use pair::{Direction, DropFn, Link, Pair};
pub use relay::{Relay, RelayStats};
