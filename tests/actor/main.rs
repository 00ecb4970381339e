//! Actor tests: endpoints and connection actors over real UDP on
//! 127.0.0.1, driven through the handles and raw messages. One file per
//! behaviour; shared set-up in `../common`.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod cancel;
mod close;
mod connection;
mod endpoint;
mod events;
mod identity;
mod idle;
mod incoming;
mod load_balancer;
mod migration;
mod relay;
mod retry;
mod socket_faults;
mod stateless_reset;
mod streams;
mod tokio_io;
mod version;
mod workers;
