//! Test utilities: simulated bad networks for the sans-IO core and for
//! whole endpoints. They are part of the public API so that users can
//! test their own protocol logic and actors against loss, delay,
//! reordering, corruption and outages, deterministically.
//!
//! - [`link`]: a model of one direction of a network path (delay,
//!   bandwidth, queue, loss with bursts, reordering, duplication,
//!   corruption, outages), driven by a seed and a caller's clock.
//! - [`pair`]: a client and a server [`Connection`](crate::protocol::connection::Connection)
//!   joined by two such links under a virtual clock; a 10 MB transfer
//!   over a 10 Mbit/s link takes milliseconds of real time.
//!   [`Pair::download`] measures goodput.
//! - [`relay`]: an actix actor relaying real UDP datagrams on 127.0.0.1
//!   through the same model in real time, so whole
//!   [`Endpoint`](crate::Endpoint)s can be tested through a bad network.

pub mod download;
pub mod link;
pub mod pair;
pub mod relay;

pub use download::{payload_byte, Download, DownloadError};
pub use link::{Delivery, DropReason, LinkConfig, LinkStats, Loss, Outage, SimLink, SplitMix};
pub use pair::{Direction, Link, Pair};
pub use relay::{Relay, RelayStats};
