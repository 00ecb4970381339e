//! actix-web over HTTP/3 (feature `actix-web`): an `App` served by
//! `actix_quic::web::Http3Server`, asked by an h3 client over UDP on
//! 127.0.0.1; the same App on TCP advertises HTTP/3 with Alt-Svc.
#![cfg(feature = "actix-web")]

#[path = "../common/mod.rs"]
mod common;

#[path = "../examples/process.rs"]
mod process;

mod app;
mod bad_input;
mod client;
mod example;
mod requests;
