//! PTO probes during the handshake (RFC 9002 §6.2.4): every probe of a
//! handshake space carries CRYPTO data while some is outstanding, probes
//! go in every space with data in flight, and a server rejects a first
//! Initial without CRYPTO (RFC 9000 §17.2.2), as aioquic does.

use crate::util::*;
use actix_quic::protocol::packet::LongType;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::TransportErrorCode as Code;
use actix_quic::testing::{Direction, Link, Pair};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Drops the first `n` datagrams sent towards `towards`.
fn drop_first(towards: Direction, n: u32) -> Link {
    let mut left = n;
    Link {
        drop: Some(Box::new(move |dir, _| {
            if dir == towards && left > 0 {
                left -= 1;
                return true;
            }
            false
        })),
        ..Link::default()
    }
}

/// The client's first two datagrams are lost: its PTO sends two probes,
/// and the one that arrives must carry the ClientHello, or a server
/// enforcing RFC 9000 §17.2.2 (ours) closes the connection.
#[test]
fn every_client_probe_carries_the_client_hello() {
    let mut p = pair(drop_first(Direction::ToServer, 2));
    assert!(p.handshake(), "client {:?}", p.client.error());
    assert!(p.server().error().is_none(), "{:?}", p.server().error());
    assert_eq!(p.dropped[Direction::ToServer as usize], 2);
    assert_eq!(
        p.client.stats().frame_tx.ping,
        0,
        "a probe went without the ClientHello"
    );
}

/// A client Initial with no CRYPTO frame as the first packet the server
/// sees: PROTOCOL_VIOLATION.
#[test]
fn a_first_initial_without_crypto_is_a_protocol_violation() {
    // The client's own first datagram is lost; a PING-only Initial
    // sealed with its keys arrives instead.
    let mut p = pair(drop_first(Direction::ToServer, 1));
    let ping = p
        .client
        .seal_raw_packet_for_test(SpaceId::Initial, &[0x01])
        .expect("initial keys");
    p.inject(Direction::ToServer, ping);
    assert!(p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()));
    assert_local_error(p.server().error(), Code::PROTOCOL_VIOLATION);
    assert_peer_closed_with(p.client.error(), Code::PROTOCOL_VIOLATION);
}

/// Every datagram the server sends for 3 s is lost, while it holds
/// Initial and Handshake data in flight: each of its probes carries
/// CRYPTO data (none is a bare PING), and Initial probes go coalesced
/// with Handshake probes (RFC 9002 §6.2.4 names this case).
#[test]
fn every_server_probe_carries_crypto_in_each_space_in_flight() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            if dir != Direction::ToClient {
                return false;
            }
            log.borrow_mut().push(packet_types(d));
            true
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    p.advance(Duration::from_secs(3));
    let sent = seen.borrow();
    assert!(sent.len() >= 3, "first flight and two probes: {sent:?}");
    for (i, d) in sent.iter().enumerate() {
        assert!(
            d.contains(&Some(LongType::Initial)) && d.contains(&Some(LongType::Handshake)),
            "server datagram {i} lacks a space in flight: {d:?}"
        );
    }
    let frames = p.server().stats().frame_tx;
    assert_eq!(frames.ping, 0, "a probe without CRYPTO: {frames:?}");
    assert_eq!(frames.crypto as usize, 2 * sent.len());
}

/// The server's first datagram (its Initial with the ServerHello) is
/// lost and its Handshake datagrams arrive: the client cannot read them,
/// so it sends its ClientHello again at once, the server takes that
/// duplicate as a sign and sends its Initial again: the handshake costs
/// a round trip more, not a PTO (RFC 9002 §6.2.3).
#[test]
fn a_lost_server_initial_costs_a_round_trip_not_a_pto() {
    let (client, server, _) = crate::common::configs_with_large_certificate(120);
    let flight = Rc::new(RefCell::new(Vec::new()));
    let log = flight.clone();
    let mut dropped = false;
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            if dir != Direction::ToClient {
                return false;
            }
            log.borrow_mut().push(packet_types(d));
            let first = !dropped;
            dropped = true;
            first
        })),
        ..Link::default()
    };
    let mut p = Pair::new(client, server, "localhost", link);
    let t0 = p.start();
    assert!(p.handshake(), "{:?}", p.client.error());
    let took = p.now - t0;
    let flight = flight.borrow();
    assert!(
        flight.len() >= 3 && flight[1] == [Some(LongType::Handshake)],
        "the first flight spans datagrams: {flight:?}"
    );
    // Without the early resend the client waits for the server's PTO
    // (three times the 333 ms initial RTT).
    let rtt = 2 * Link::default().delay;
    assert!(took < 4 * rtt + Duration::from_millis(50), "took {took:?}");
    assert_eq!(p.client.stats().frame_tx.ping, 0);
}
