//! Interop with quinn, the independent peer: our client against a quinn
//! server and a quinn client against our server, over UDP on 127.0.0.1.

#[path = "../common/mod.rs"]
mod common;

mod quinn;
mod quinn_0rtt;
mod quinn_api;
