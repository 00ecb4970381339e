//! HTTP/3 through the `h3` crate on actix-quic (feature `h3`), against
//! h3 on quinn (h3-quinn) as the independent peer, both directions, over
//! UDP on 127.0.0.1.
#![cfg(feature = "h3")]

#[path = "../common/mod.rs"]
mod common;

// Only `run` and `example` are used here.
#[path = "../examples/process.rs"]
#[allow(dead_code)]
mod process;

mod app;
mod bench;
mod interop;
