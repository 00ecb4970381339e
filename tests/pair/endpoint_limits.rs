//! Endpoint limits: beyond `max_incoming` handshakes or `max_connections`
//! connections, new Initials are refused with CONNECTION_REFUSED, without
//! creating state.

use actix_quic::protocol::TransportErrorCode;
use actix_quic::protocol::{Connection, ConnectionError, EndpointEvent};
use actix_quic::protocol::{DatagramEvent, Endpoint, ServerConfig};
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Instant;

fn client(port: u16) -> (Connection, Vec<u8>, SocketAddr) {
    let (conn, initial) = crate::common::client_and_first_datagram();
    (conn, initial, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn server(configure: impl FnOnce(&mut ServerConfig)) -> Endpoint {
    let (_, mut s) = crate::common::configs();
    configure(&mut s);
    Endpoint::new(
        actix_quic::protocol::EndpointConfig::new(),
        Some(s),
        [7; 32],
    )
}

fn expect_refused(ep: &mut Endpoint, port: u16) {
    let (mut conn, initial, addr) = client(port);
    let before = ep.connection_count();
    let DatagramEvent::Respond(close) = ep.handle(Instant::now(), addr, &initial) else {
        panic!("expected a stateless refusal");
    };
    assert_eq!(ep.connection_count(), before, "state was created");
    assert!(close.len() < initial.len(), "the refusal amplifies");
    conn.handle_datagram(
        Instant::now(),
        "127.0.0.1:4433".parse().unwrap(),
        BytesMut::from(&close[..]),
    );
    match conn.error() {
        Some(ConnectionError::ConnectionClosed(c)) => {
            assert_eq!(c.error_code, TransportErrorCode::CONNECTION_REFUSED)
        }
        e => panic!("client saw {e:?}"),
    }
}

#[test]
fn handshakes_beyond_max_incoming_are_refused_until_one_completes() {
    let mut ep = server(|s| s.max_incoming = 1);
    let (_, initial, addr) = client(1001);
    let DatagramEvent::NewConnection(h, _conn) = ep.handle(Instant::now(), addr, &initial) else {
        panic!("first connection accepted");
    };
    expect_refused(&mut ep, 1002);
    // Once the first handshake completes, a new one is accepted.
    ep.handle_event(h, EndpointEvent::Established);
    let (_, initial, addr) = client(1003);
    assert!(matches!(
        ep.handle(Instant::now(), addr, &initial),
        DatagramEvent::NewConnection(..)
    ));
}

#[test]
fn connections_beyond_max_connections_are_refused() {
    let mut ep = server(|s| s.max_connections = 2);
    for port in [2001, 2002] {
        let (_, initial, addr) = client(port);
        let DatagramEvent::NewConnection(h, _) = ep.handle(Instant::now(), addr, &initial) else {
            panic!("accepted");
        };
        ep.handle_event(h, EndpointEvent::Established);
    }
    expect_refused(&mut ep, 2003);
}

#[test]
fn a_closing_endpoint_refuses_new_connections() {
    let mut ep = server(|_| {});
    ep.reject_new_connections();
    expect_refused(&mut ep, 3001);
}
