//! Connection attempts on the sans-IO endpoint. Before the server decides
//! (`Incoming`) nothing is created and no TLS work is done; `refuse`,
//! `retry` and `ignore` keep nothing; what the client sends meanwhile
//! waits for the connection. Endpoint limits: past `max_incoming`
//! attempts (undecided or handshaking) or `max_connections`, and while
//! closing, new Initials are refused with CONNECTION_REFUSED, statelessly.

use crate::util::assert_peer_closed_with;
use actix_quic::protocol::{
    ClientConfig, Connection, ConnectionError, DatagramEvent, Endpoint, EndpointConfig,
    EndpointEvent, Incoming, ServerConfig, TransportErrorCode,
};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

const SERVER: &str = "127.0.0.1:4433";

fn server(configure: impl FnOnce(&mut ServerConfig)) -> Endpoint {
    let (_, mut s) = crate::common::configs();
    configure(&mut s);
    Endpoint::new(EndpointConfig::new(), Some(s), [7; 32])
}

/// A client connection and every datagram of its first flight.
fn client_with(config: &ClientConfig, seed: u8) -> (Connection, Vec<Vec<u8>>) {
    let now = Instant::now();
    let (_, mut conn) = Endpoint::new(EndpointConfig::new(), None, [seed; 32])
        .connect(now, config, SERVER.parse().unwrap(), "localhost")
        .unwrap();
    let mut datagrams = Vec::new();
    let mut buf = Vec::new();
    while let Some(t) = conn.poll_transmit(now, 1, &mut buf) {
        datagrams.push(buf[..t.size].to_vec());
        buf.clear();
    }
    (conn, datagrams)
}

fn client(seed: u8) -> (Connection, Vec<Vec<u8>>) {
    let (c, _) = crate::common::configs();
    client_with(&c, seed)
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn offered(ep: &mut Endpoint, from: SocketAddr, datagram: &[u8]) -> Incoming {
    match ep.handle(Instant::now(), from, datagram) {
        DatagramEvent::NewConnection(incoming) => *incoming,
        e => panic!("expected an Incoming, got {e:?}"),
    }
}

/// Feeds `datagram` (from the server) to `conn`; returns its error.
fn answer(conn: &mut Connection, datagram: &[u8]) -> Option<ConnectionError> {
    conn.handle_datagram(
        Instant::now(),
        SERVER.parse().unwrap(),
        BytesMut::from(datagram),
    );
    conn.error().cloned()
}

fn assert_refused(e: Option<ConnectionError>) {
    assert_peer_closed_with(e.as_ref(), TransportErrorCode::CONNECTION_REFUSED);
}

/// A new client's Initial gets a stateless CONNECTION_REFUSED, smaller
/// than the Initial, and the endpoint keeps nothing.
fn expect_refused(ep: &mut Endpoint, seed: u8, port: u16) {
    let (mut conn, initial) = client(seed);
    let before = ep.connection_count();
    let DatagramEvent::Respond(close) = ep.handle(Instant::now(), addr(port), &initial[0]) else {
        panic!("expected a stateless refusal");
    };
    assert_eq!(ep.connection_count(), before, "state was created");
    assert!(close.len() < initial[0].len(), "the refusal amplifies");
    assert_refused(answer(&mut conn, &close));
}

#[test]
fn undecided_attempts_count_toward_max_incoming_and_the_next_is_refused_statelessly() {
    // Without automatic Retry, which would answer the second attempt
    // (half of max_incoming unvalidated, see `flood.rs`).
    let mut ep = server(|s| {
        s.max_incoming(2).retry_above(None);
    });
    let (_, first) = client(1);
    let (_, second) = client(2);
    let a = offered(&mut ep, addr(1001), &first[0]);
    let _b = offered(&mut ep, addr(1002), &second[0]);
    assert_eq!(ep.connection_count(), 0, "no connection before accept");
    // A third attempt finds no room.
    expect_refused(&mut ep, 3, 1003);
    // Deciding on one makes room.
    ep.ignore(a);
    let (_, fourth) = client(4);
    offered(&mut ep, addr(1004), &fourth[0]);
}

#[test]
fn refuse_closes_the_attempt_with_connection_refused() {
    let mut ep = server(|_| {});
    let (mut conn, initial) = client(5);
    let incoming = offered(&mut ep, addr(1005), &initial[0]);
    assert_eq!(incoming.remote_address(), addr(1005));
    assert!(!incoming.remote_address_validated());
    let close = ep.refuse(incoming);
    assert_eq!(ep.connection_count(), 0);
    assert_refused(answer(&mut conn, &close));
}

#[test]
fn retry_brings_the_client_back_validated_and_only_once() {
    let mut ep = server(|_| {});
    let (mut conn, initial) = client(6);
    let incoming = offered(&mut ep, addr(1006), &initial[0]);
    assert!(incoming.may_retry());
    let retry = ep.retry(incoming, Instant::now()).unwrap();
    assert_eq!(answer(&mut conn, &retry), None);
    // The client's new Initial carries the token.
    let mut buf = Vec::new();
    let t = conn.poll_transmit(Instant::now(), 1, &mut buf).unwrap();
    let again = offered(&mut ep, addr(1006), &buf[..t.size]);
    assert!(again.remote_address_validated());
    assert!(!again.may_retry());
    // A second Retry is refused, and the attempt comes back to accept.
    let again = ep.retry(again, Instant::now()).unwrap_err().into_incoming();
    let (_, server_conn) = ep.accept(again, Instant::now(), None).unwrap();
    assert!(server_conn.retried());
    assert_eq!(ep.connection_count(), 1);
}

#[test]
fn ignore_answers_nothing_and_forgets_what_followed() {
    let mut ep = server(|_| {});
    let (_, initial) = client(7);
    let incoming = offered(&mut ep, addr(1007), &initial[0]);
    // The client sends its Initial again while we decide: held, not a
    // second Incoming.
    assert!(matches!(
        ep.handle(Instant::now(), addr(1007), &initial[0]),
        DatagramEvent::Drop
    ));
    ep.ignore(incoming);
    assert_eq!(ep.connection_count(), 0);
    // Once ignored, the client's next try is a new attempt.
    offered(&mut ep, addr(1007), &initial[0]);
}

#[test]
fn datagrams_sent_while_the_server_decides_reach_the_connection() {
    // A ClientHello too large for one datagram (many ALPN protocols):
    // the Initial spans two, and the server needs both to answer.
    let alpn: Vec<Vec<u8>> = (0..120)
        .map(|i| format!("protocol-{i:04}").into_bytes())
        .chain([b"test".to_vec()])
        .collect();
    let (server_tls, cert) = crate::common::server_crypto(&[b"test"]);
    let mut client_tls = crate::common::client_crypto(&cert, &[]);
    client_tls.alpn_protocols = alpn;
    let client_cfg = ClientConfig::new(Arc::new(client_tls)).unwrap();
    let (_, datagrams) = client_with(&client_cfg, 8);
    assert!(datagrams.len() >= 2, "the ClientHello fits one datagram");

    let mut ep = Endpoint::new(
        EndpointConfig::new(),
        Some(ServerConfig::with_crypto(Arc::new(server_tls)).unwrap()),
        [7; 32],
    );
    let incoming = offered(&mut ep, addr(1008), &datagrams[0]);
    for d in &datagrams[1..] {
        assert!(matches!(
            ep.handle(Instant::now(), addr(1008), d),
            DatagramEvent::Drop
        ));
    }
    let (_, mut conn) = ep.accept(incoming, Instant::now(), None).unwrap();
    // The whole ClientHello was read: ALPN is settled and the server's
    // first flight is ready.
    let data = conn.handshake_data().expect("ClientHello processed");
    assert_eq!(data.protocol.as_deref(), Some(&b"test"[..]));
    let mut buf = Vec::new();
    assert!(conn.poll_transmit(Instant::now(), 1, &mut buf).is_some());
}

#[test]
fn handshakes_count_toward_max_incoming_until_they_complete() {
    let mut ep = server(|s| {
        s.max_incoming(1).retry_above(None);
    });
    let (_, initial) = client(11);
    let incoming = offered(&mut ep, addr(1011), &initial[0]);
    let (h, _conn) = ep.accept(incoming, Instant::now(), None).unwrap();
    expect_refused(&mut ep, 12, 1012);
    // Once the first handshake completes, a new attempt is offered.
    ep.handle_event(h, EndpointEvent::Established);
    let (_, initial) = client(13);
    offered(&mut ep, addr(1013), &initial[0]);
}

#[test]
fn connections_beyond_max_connections_are_refused() {
    let mut ep = server(|s| {
        s.max_connections(2);
    });
    for seed in [21, 22] {
        let (_, initial) = client(seed);
        let incoming = offered(&mut ep, addr(2000 + u16::from(seed)), &initial[0]);
        let (h, _) = ep.accept(incoming, Instant::now(), None).unwrap();
        ep.handle_event(h, EndpointEvent::Established);
    }
    expect_refused(&mut ep, 23, 2023);
}

#[test]
fn a_closing_endpoint_refuses_new_connections() {
    let mut ep = server(|_| {});
    ep.reject_new_connections();
    expect_refused(&mut ep, 31, 3031);
}
