//! Stateless reset (RFC 9000 §10.3): an endpoint that lost a
//! connection's state answers its packets with a reset the peer
//! recognises by the token, from the same key after a restart; a
//! datagram with a wrong token is not one.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::{ConnectionError, Event};
use actix_quic::protocol::{ConnectionHandle, Endpoint, EndpointConfig};
use actix_quic::testing::{Direction, Link, Pair};
use bytes::Bytes;
use std::time::Duration;

#[test]
fn forgotten_connection_is_reset_statelessly() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    // The server loses all state of the connection (a restart keeps the
    // reset key in real deployments; here the endpoint stays).
    p.server_endpoint().forget(ConnectionHandle(0));
    p.server = None;
    let id = p.client.open(Dir::Bi).unwrap();
    let mut data = Bytes::from(vec![7u8; 200]);
    p.client.write(id, &mut data).unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p.client.error().is_some()));
    assert_eq!(p.client.error(), Some(&ConnectionError::Reset));
    assert!(p
        .client_events
        .contains(&Event::ConnectionLost(ConnectionError::Reset)));
    assert_eq!(p.endpoint_responses, 1);
    // The client went quiet at once (draining, RFC 9000 §10.3.1).
    let sent = p.datagrams[Direction::ToServer as usize];
    p.advance(Duration::from_secs(5));
    assert_eq!(p.datagrams[Direction::ToServer as usize], sent);
}

#[test]
fn short_datagram_with_a_wrong_token_is_not_a_reset() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let mut bogus = vec![0x40u8; 42];
    bogus[41] ^= 0xff;
    p.inject(Direction::ToClient, bogus);
    p.advance(Duration::from_millis(100));
    assert!(p.client.error().is_none());
    let data = pattern(1, 0, 1000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(2)), data);
}

/// Connects, then restarts the server: a new endpoint built by `restart`
/// with no connection state. The client then writes; returns how its
/// connection ended.
fn restart_server(
    first: EndpointConfig,
    restart: EndpointConfig,
    limit: Duration,
) -> ConnectionError {
    let (c, s) = crate::common::configs();
    let mut p = Pair::new(c, s.clone(), "localhost", Link::default());
    *p.server_endpoint() = Endpoint::new(first, Some(s.clone()), [7; 32]);
    assert!(p.handshake_and_settle());
    *p.server_endpoint() = Endpoint::new(restart, Some(s), [8; 32]);
    p.server = None;
    let id = p.client.open(Dir::Bi).unwrap();
    p.client
        .write(id, &mut Bytes::from(vec![7u8; 200]))
        .unwrap();
    assert!(p.run_until(limit, |p| p.client.error().is_some()));
    p.client.error().unwrap().clone()
}

#[test]
fn restarted_server_with_the_same_reset_key_resets_old_connections() {
    let secret = [0x42u8; 32];
    let key = || EndpointConfig::with_reset_key(&secret);
    let end = restart_server(key(), key(), Duration::from_secs(2));
    assert_eq!(end, ConnectionError::Reset);
}

#[test]
fn restarted_server_with_another_reset_key_is_not_believed() {
    // A new random key: its resets carry tokens the client never saw.
    let end = restart_server(
        EndpointConfig::new(),
        EndpointConfig::new(),
        Duration::from_secs(120),
    );
    assert_eq!(end, ConnectionError::TimedOut);
}
