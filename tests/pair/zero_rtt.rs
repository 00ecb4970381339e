//! Session resumption and 0-RTT (RFC 9001 §4.6, RFC 9000 §7.4.1) on the
//! sans-IO core: a second connection sends its request in the first
//! flight; a server that rejects early data still gets it, in 1-RTT.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::ZeroRttState;
use actix_quic::protocol::{ClientConfig, ServerConfig};
use actix_quic::testing::{Link, Pair};
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// Client and server configurations allowing 0-RTT (stateful tickets,
/// `max_early_data_size` of `u32::MAX` as RFC 9001 §4.6.1 asks).
fn zero_rtt_configs(server_early_data: bool) -> (ClientConfig, ServerConfig) {
    let (c, early, late) = zero_rtt_servers();
    (c, if server_early_data { early } else { late })
}

/// A client with early data on, and two servers with the same
/// certificate: one accepting 0-RTT, one not.
fn zero_rtt_servers() -> (ClientConfig, ServerConfig, ServerConfig) {
    let (mut server, cert) = crate::common::server_crypto(&[b"test"]);
    server.max_early_data_size = u32::MAX;
    let mut no_early = server.clone();
    no_early.max_early_data_size = 0;
    let mut client = crate::common::client_crypto(&cert, &[b"test"]);
    client.enable_early_data = true;
    (
        ClientConfig::new(Arc::new(client)).unwrap(),
        ServerConfig::with_crypto(Arc::new(server)).unwrap(),
        ServerConfig::with_crypto(Arc::new(no_early)).unwrap(),
    )
}

/// A first connection that completes and leaves a session ticket with
/// the client.
fn first_connection(c: &ClientConfig, s: &ServerConfig) {
    let mut p = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
    assert!(p.handshake_and_settle());
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::None);
    // Tickets arrive in 1-RTT CRYPTO frames after the handshake.
    p.advance(Duration::from_millis(100));
}

/// Opens a stream on a fresh client, writes `request` and FIN at once
/// (before any packet went out), and runs until the server read it all.
/// Returns the pair and when the server had the request.
fn request_in_first_flight(c: &ClientConfig, s: &ServerConfig, request: &[u8]) -> (Pair, Duration) {
    let mut p = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::Offered);
    let id = p
        .client
        .open(Dir::Bi)
        .expect("stream credit from the ticket");
    p.client
        .write(id, &mut Bytes::copy_from_slice(request))
        .unwrap();
    p.client.finish(id).unwrap();
    let mut got = Vec::new();
    let mut at = None;
    assert!(p.run_until(Duration::from_secs(5), |p| {
        let Some(server) = p.server.as_mut() else {
            return false;
        };
        while server.accept(Dir::Bi).is_some() {}
        if read_all(server, id, &mut got) == ReadEnd::Finished && at.is_none() {
            at = Some(p.now - p.start());
        }
        at.is_some() && p.client.is_handshake_complete()
    }));
    assert_eq!(got, request);
    (p, at.unwrap())
}

#[test]
fn resumed_connection_sends_its_request_in_0rtt() {
    let (c, s) = zero_rtt_configs(true);
    first_connection(&c, &s);
    let (mut p, at) = request_in_first_flight(&c, &s, b"GET /index.html\r\n");
    // One one-way delay (10 ms): the request came with the ClientHello,
    // not after a round trip.
    assert!(at <= Duration::from_millis(15), "request read after {at:?}");
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::Accepted);
    assert_eq!(p.server().zero_rtt_state(), ZeroRttState::Accepted);
    p.advance(Duration::from_millis(50));
    assert!(p.client.handshake_data().unwrap().resumed);
    assert!(p.server().handshake_data().unwrap().resumed);
    // The connection goes on normally.
    let got = transfer(&mut p, &pattern(2, 0, 100_000), Duration::from_secs(5));
    assert_eq!(got.len(), 100_000);
}

#[test]
fn rejected_0rtt_is_sent_again_in_1rtt() {
    let (c, s, s_no) = zero_rtt_servers();
    first_connection(&c, &s);
    // The same client meets a server that takes no early data.
    let (p, at) = request_in_first_flight(&c, &s_no, b"GET /again\r\n");
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::Rejected);
    // The request needed the handshake: more than one round trip.
    assert!(at >= Duration::from_millis(30), "read after {at:?}");
}

#[test]
fn no_ticket_means_no_0rtt() {
    let (c, s) = zero_rtt_configs(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::None);
    // No remembered limits: no stream before the handshake.
    assert!(p.client.open(Dir::Bi).is_none());
    assert!(p.handshake());
    assert!(!p.client.handshake_data().unwrap().resumed);
    assert_eq!(p.client.zero_rtt_state(), ZeroRttState::None);
    assert_eq!(p.server().zero_rtt_state(), ZeroRttState::None);
}

#[test]
fn each_ticket_gives_one_0rtt_connection_and_tickets_are_renewed() {
    let (c, s) = zero_rtt_configs(true);
    first_connection(&c, &s);
    // Every resumed connection brings new tickets, so 0-RTT goes on.
    for i in 0..5 {
        let (mut p, at) = request_in_first_flight(&c, &s, format!("GET /{i}").as_bytes());
        assert!(at <= Duration::from_millis(15), "{i}: {at:?}");
        assert_eq!(p.client.zero_rtt_state(), ZeroRttState::Accepted);
        p.advance(Duration::from_millis(100));
    }
}
