//! Address validation on the sans-IO core: Retry (RFC 9000 §8.1.2,
//! §17.2.5; RFC 9001 §5.8) and NEW_TOKEN (RFC 9000 §8.1.3).

use crate::util::*;
use actix_quic::protocol::crypto;
use actix_quic::protocol::packet;
use actix_quic::protocol::ConnectionId;
use actix_quic::protocol::TransportErrorCode;
use actix_quic::protocol::{ClientConfig, ServerConfig};
use actix_quic::protocol::{TokenKey, TokenStore};
use actix_quic::testing::{Direction, Link, Pair};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Client and server configurations; the server validates addresses
/// with Retry when `retry` is set.
fn configs(retry: bool) -> (ClientConfig, ServerConfig) {
    let (c, mut s) = crate::common::configs();
    s.retry(retry);
    (c, s)
}

/// Runs the handshake and returns how long it took on the virtual clock.
fn handshake_time(p: &mut Pair) -> Duration {
    let start = p.now;
    assert!(p.handshake(), "handshake did not complete");
    p.now - start
}

/// A Retry as an attacker who saw the client's first Initial could
/// forge it: right CIDs, a valid integrity tag for `orig_dcid`.
fn forged_retry(p: &Pair, orig_dcid: &ConnectionId, token: &[u8]) -> Vec<u8> {
    let scid = ConnectionId::new(&[0xee; 8]).unwrap();
    crypto::retry_packet(
        packet::VERSION_1,
        &p.client.initial_scid(),
        &scid,
        token,
        orig_dcid,
        0,
    )
}

#[test]
fn retry_handshake_costs_one_round_trip_and_works() {
    let (c, s) = configs(false);
    let mut plain = Pair::new(c, s, "localhost", Link::default());
    let plain_time = handshake_time(&mut plain);
    assert_eq!(plain.endpoint_responses, 0);

    let (c, s) = configs(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    let retry_time = handshake_time(&mut p);
    // One Retry, answered without any server state.
    assert_eq!(p.endpoint_responses, 1);
    assert!(p.client.retried());
    assert!(p.server().retried());
    assert!(!p.client.initial_token().is_empty());
    // One extra round trip of 2 × 10 ms.
    let extra = retry_time.saturating_sub(plain_time);
    assert!(
        extra >= Duration::from_millis(20) && extra < Duration::from_millis(30),
        "Retry cost {extra:?} ({plain_time:?} without, {retry_time:?} with)"
    );
    // The connection carries data both ways.
    let data = pattern(7, 0, 50_000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(5)), data);
    assert!(p.client.error().is_none());
    assert!(p.server().error().is_none());
}

#[test]
fn retry_survives_loss_of_the_first_initials() {
    // Lose the client's first Initial, its first Initial after the Retry
    // and the server's first datagram: retransmitted Initials still carry
    // the token, and recovery works as without Retry.
    let (c, s) = configs(true);
    let mut n = [0u32; 2];
    let link = Link {
        drop: Some(Box::new(move |dir, _d: &[u8]| {
            n[dir as usize] += 1;
            let k = n[dir as usize];
            match dir {
                Direction::ToServer => k == 1 || k == 3,
                Direction::ToClient => k == 1,
            }
        })),
        ..Link::default()
    };
    let mut p = Pair::new(c, s, "localhost", link);
    assert!(p.handshake());
    assert!(p.client.retried());
    assert_eq!(p.endpoint_responses, 1);
    assert_eq!(p.dropped, [2, 1]);
    let data = pattern(3, 0, 5_000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(5)), data);
}

#[test]
fn forged_or_damaged_retry_is_ignored() {
    let (c, s) = configs(false);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    let odcid = p.client.orig_dcid();
    // These arrive before the server's first answer.
    let wrong_odcid = ConnectionId::new(&[0x11; 8]).unwrap();
    p.inject(
        Direction::ToClient,
        forged_retry(&p, &wrong_odcid, b"token"),
    );
    let mut damaged = forged_retry(&p, &odcid, b"token");
    let last_token_byte = damaged.len() - 17;
    damaged[last_token_byte] ^= 0x01;
    p.inject(Direction::ToClient, damaged);
    // Valid tag but an empty token (RFC 9000 §17.2.5.2).
    p.inject(Direction::ToClient, forged_retry(&p, &odcid, b""));
    assert!(p.handshake());
    assert!(!p.client.retried());
    assert!(p.client.initial_token().is_empty());
    assert!(p.client.error().is_none());
}

#[test]
fn second_retry_is_ignored() {
    let (c, s) = configs(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.run_until(Duration::from_secs(1), |p| p.client.retried()));
    let token = p.client.initial_token().to_vec();
    // Another Retry with a valid tag: the client must not follow it
    // (RFC 9000 §17.2.5.2), or the server's retry_source_connection_id
    // would no longer match and the handshake would fail.
    let odcid = p.client.orig_dcid();
    p.inject(Direction::ToClient, forged_retry(&p, &odcid, b"other"));
    assert!(p.handshake());
    assert_eq!(p.client.initial_token(), &token[..]);
    assert!(p.client.error().is_none());
}

#[test]
fn version_negotiation_after_retry_is_ignored() {
    // RFC 9000 §6.2: once a packet (here the Retry) was processed, a
    // Version Negotiation packet is discarded.
    let (c, s) = configs(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.run_until(Duration::from_secs(1), |p| p.client.retried()));
    let vn = packet::version_negotiation(
        &p.client.orig_dcid(),
        &p.client.initial_scid(),
        0x2a,
        &[0x1a2a_3a4a],
    );
    p.inject(Direction::ToClient, vn);
    assert!(p.handshake());
    assert!(p.client.error().is_none());
}

#[test]
fn retry_after_server_initial_is_ignored() {
    let (c, s) = configs(false);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.run_until(Duration::from_secs(1), |p| p
        .client
        .stats()
        .packets_received
        > 0));
    let odcid = p.client.orig_dcid();
    p.inject(Direction::ToClient, forged_retry(&p, &odcid, b"late"));
    assert!(p.handshake());
    assert!(!p.client.retried());
}

#[test]
fn invalid_retry_token_closes_with_invalid_token() {
    // An attacker races the server with a Retry whose token the server
    // never issued (sealed under another key): the client follows it,
    // and the server closes at once with INVALID_TOKEN (RFC 9000 §8.1.2).
    let (c, s) = configs(true);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    let odcid = p.client.orig_dcid();
    let scid = ConnectionId::new(&[0xee; 8]).unwrap();
    let token = TokenKey::new(&[0x99; 32]).seal_retry_for_test(
        Instant::now(),
        "127.0.0.1:40000".parse().unwrap(),
        &odcid,
        &scid,
    );
    p.inject(Direction::ToClient, forged_retry(&p, &odcid, &token));
    assert!(p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()));
    assert!(p.client.retried());
    assert_peer_closed_with(p.client.error(), TransportErrorCode::INVALID_TOKEN);
    assert!(p.server.is_none(), "the server kept no state");
}

#[test]
fn new_token_lets_the_next_connection_skip_retry() {
    let (c, s) = configs(true);
    let store = Arc::new(TokenStore::default());
    let mut c = c;
    c.token_store(Some(store.clone()));
    let mut first = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
    let first_time = handshake_time(&mut first);
    assert!(first.client.retried());
    assert!(first.handshake_and_settle());
    assert_eq!(store.len(), 1, "the client kept the server's NEW_TOKEN");

    // A later connection from the same client address, to an endpoint
    // sharing the server configuration (and so its token key).
    let mut second = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
    assert!(store.is_empty(), "a token is used once");
    assert!(!second.client.initial_token().is_empty());
    let second_time = handshake_time(&mut second);
    assert_eq!(second.endpoint_responses, 0, "no Retry");
    assert!(!second.client.retried());
    assert!(!second.server().retried());
    assert!(
        first_time >= second_time + Duration::from_millis(20),
        "{first_time:?} with Retry, {second_time:?} with a token"
    );
    let data = pattern(5, 0, 20_000);
    assert_eq!(transfer(&mut second, &data, Duration::from_secs(5)), data);
    // It got a fresh token for the next time.
    assert!(second.handshake_and_settle());
    assert_eq!(store.len(), 1);

    // Another server name has no token: that connection needs a Retry.
    let mut other = Pair::new(c, s, "127.0.0.1", Link::default());
    assert!(other.client.initial_token().is_empty());
    // (The certificate is for "localhost"; only the first flight matters.)
    other.run_until(Duration::from_millis(100), |p| p.client.retried());
    assert_eq!(other.endpoint_responses, 1);
}

/// Bytes the server sends when everything the client sends after its
/// first `pass` datagrams is lost: an unvalidated server stops at three
/// times what it received (RFC 9000 §8.1); a validated one keeps
/// retransmitting its first flight.
fn server_bytes_with_client_silenced(c: ClientConfig, s: ServerConfig, pass: u32) -> u64 {
    let sent = Rc::new(Cell::new(0u64));
    let counter = sent.clone();
    let mut to_server = 0;
    let link = Link {
        drop: Some(Box::new(move |dir, d: &[u8]| match dir {
            Direction::ToServer => {
                to_server += 1;
                to_server > pass
            }
            Direction::ToClient => {
                counter.set(counter.get() + d.len() as u64);
                false
            }
        })),
        ..Link::default()
    };
    let mut p = Pair::new(c, s, "localhost", link);
    p.advance(Duration::from_secs(10));
    assert!(p.server.is_some());
    sent.get()
}

#[test]
fn tokens_lift_the_amplification_limit() {
    // Without a token: at most 3 × 1200 bytes.
    let (c, s) = configs(false);
    let unvalidated = server_bytes_with_client_silenced(c, s, 1);
    assert!(unvalidated <= 3 * 1200, "{unvalidated} bytes");
    // Through a Retry (the client's second Initial carries the token).
    let (c, s) = configs(true);
    let retried = server_bytes_with_client_silenced(c, s, 2);
    assert!(retried > 3 * 1200, "{retried} bytes after Retry");
    // With a NEW_TOKEN token from an earlier connection, Retry or not
    // (RFC 9000 §8.1.3).
    for retry in [false, true] {
        let (mut c, s) = configs(retry);
        let store = Arc::new(TokenStore::default());
        c.token_store(Some(store.clone()));
        let mut first = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
        assert!(first.handshake_and_settle());
        assert_eq!(store.len(), 1);
        let validated = server_bytes_with_client_silenced(c, s, 1);
        assert!(
            validated > 3 * 1200,
            "{validated} bytes with a token (retry {retry})"
        );
    }
}

#[test]
fn tokens_can_be_turned_off() {
    let (mut c, mut s) = configs(false);
    s.send_new_token(false);
    let store = Arc::new(TokenStore::default());
    c.token_store(Some(store.clone()));
    let mut p = Pair::new(c.clone(), s.clone(), "localhost", Link::default());
    assert!(p.handshake_and_settle());
    assert!(store.is_empty());
    s.send_new_token(true);
    c.token_store(None);
    let mut p = Pair::new(c, s, "localhost", Link::default());
    assert!(p.handshake_and_settle());
    assert!(store.is_empty());
}
