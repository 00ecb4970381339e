//! Unreliable datagrams (RFC 9221) on the sans-IO core: the size limit
//! from the path and the peer's `max_datagram_frame_size`, bounded send
//! and receive queues that drop the oldest (counted in stats), frame
//! counters per type, and the errors for datagrams that cannot go.

use crate::util::*;
use actix_quic::protocol::frame::Frame;
use actix_quic::protocol::SendDatagramError;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::TransportConfig;
use actix_quic::protocol::TransportErrorCode as Code;
use actix_quic::testing::{Direction, Link};
use bytes::Bytes;
use std::time::Duration;

/// A connected pair whose server buffers `buffer` bytes of datagrams
/// (`None`: datagrams off).
fn server_buffering(buffer: Option<usize>) -> actix_quic::testing::Pair {
    let server = {
        let mut config = TransportConfig::default();
        config.datagram_receive_buffer_size(buffer);
        config
    };
    let mut p = pair_with(TransportConfig::default(), server, Link::default());
    assert!(p.handshake_and_settle());
    p
}

/// Sends `frame` from the client in a 1-RTT packet, bypassing checks.
fn client_sends_raw(p: &mut actix_quic::testing::Pair, frame: Frame) {
    let mut payload = Vec::new();
    frame.encode(&mut payload);
    let d = p
        .client
        .seal_raw_packet_for_test(SpaceId::Data, &payload)
        .unwrap();
    p.inject(Direction::ToServer, d);
}

fn datagram(i: u32, len: usize) -> Bytes {
    let mut v = vec![(i % 251) as u8; len];
    v[..4].copy_from_slice(&i.to_be_bytes());
    Bytes::from(v)
}

#[test]
fn datagrams_arrive_and_are_counted_per_frame_type() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let max = p
        .client
        .max_datagram_size()
        .expect("both sides accept datagrams");
    // The datagram size in use (1200, or more once PMTU discovery
    // found more) less a short header, the tag and the frame header.
    let mtu = usize::from(p.client.stats().mtu);
    assert!(max < mtu - 30 && max > mtu - 60, "{max} for {mtu}");
    for i in 0..20 {
        p.client
            .send_datagram(datagram(i, 100 + i as usize * 40))
            .unwrap();
    }
    p.advance(Duration::from_millis(200));
    let mut got = Vec::new();
    while let Some(d) = p.server().read_datagram() {
        got.push(d);
    }
    let want: Vec<Bytes> = (0..20)
        .map(|i| datagram(i, 100 + i as usize * 40))
        .collect();
    assert_eq!(got, want, "no loss on this link: all of them, in order");
    let c = p.client.stats();
    let s = p.server().stats();
    assert_eq!(c.frame_tx.datagram, 20);
    assert_eq!(s.frame_rx.datagram, 20);
    assert!(c.frame_tx.crypto > 0 && c.frame_tx.ack > 0 && s.frame_tx.handshake_done == 1);
    assert_eq!(c.frame_tx.total(), c.frames_sent);
    assert_eq!(s.frame_rx.total(), s.frames_received);
    assert_eq!(c.frame_tx.handshake_done, 0);
    assert_eq!(c.frame_rx.handshake_done, 1);
}

#[test]
fn largest_datagram_goes_intact_and_one_more_byte_is_too_large() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let max = p.client.max_datagram_size().unwrap();
    let full = datagram(7, max);
    p.client.send_datagram(full.clone()).unwrap();
    assert_eq!(
        p.client.send_datagram(datagram(8, max + 1)),
        Err(SendDatagramError::TooLarge),
        "never truncated"
    );
    p.advance(Duration::from_millis(100));
    assert_eq!(p.server().read_datagram(), Some(full));
    assert_eq!(p.server().read_datagram(), None);
}

#[test]
fn peer_limit_bounds_the_size() {
    // The server buffers 500 bytes, so it announces a
    // max_datagram_frame_size of 500 (RFC 9221 §3).
    let mut p = server_buffering(Some(500));
    let max = p.client.max_datagram_size().unwrap();
    // Frame type and a 2-byte length.
    assert_eq!(max, 497);
    assert_eq!(
        p.client.send_datagram(datagram(1, 498)),
        Err(SendDatagramError::TooLarge)
    );
    p.client.send_datagram(datagram(1, 497)).unwrap();
    p.advance(Duration::from_millis(100));
    assert_eq!(p.server().read_datagram(), Some(datagram(1, 497)));
    // The client's own limit is untouched.
    assert!(p.server().max_datagram_size().unwrap() > 1000);
}

#[test]
fn disabled_on_either_side_means_none() {
    let off = {
        let mut config = TransportConfig::default();
        config.datagram_receive_buffer_size(None);
        config
    };
    for (client, server, error) in [
        (
            off.clone(),
            TransportConfig::default(),
            SendDatagramError::Disabled,
        ),
        (
            TransportConfig::default(),
            off.clone(),
            SendDatagramError::UnsupportedByPeer,
        ),
    ] {
        let mut p = pair_with(client, server, Link::default());
        assert!(p.handshake_and_settle());
        assert_eq!(p.client.max_datagram_size(), None);
        assert_eq!(p.server().max_datagram_size(), None);
        assert_eq!(p.client.send_datagram(Bytes::from_static(b"x")), Err(error));
    }
}

#[test]
fn receive_overflow_drops_the_oldest_and_counts_them() {
    let mut p = server_buffering(Some(3_000));
    for i in 0..10 {
        p.client.send_datagram(datagram(i, 1_000)).unwrap();
    }
    p.advance(Duration::from_millis(200));
    let got: Vec<Bytes> = std::iter::from_fn(|| p.server().read_datagram()).collect();
    // Three fit in the buffer: the newest three.
    assert_eq!(got, (7..10).map(|i| datagram(i, 1_000)).collect::<Vec<_>>());
    assert_eq!(p.server().stats().datagrams_dropped_rx, 7);
    assert!(p.server().error().is_none());
}

#[test]
fn send_overflow_drops_the_oldest_and_counts_them() {
    let client = {
        let mut config = TransportConfig::default();
        config.datagram_send_buffer_size(10_000);
        config
    };
    let mut p = pair_with(client, TransportConfig::default(), Link::default());
    assert!(p.handshake_and_settle());
    // Queued without a chance to send: 10 of 1,000 bytes fit.
    for i in 0..25 {
        p.client.send_datagram(datagram(i, 1_000)).unwrap();
    }
    assert_eq!(p.client.stats().datagrams_dropped_tx, 15);
    p.advance(Duration::from_millis(200));
    let got: Vec<Bytes> = std::iter::from_fn(|| p.server().read_datagram()).collect();
    assert_eq!(
        got,
        (15..25).map(|i| datagram(i, 1_000)).collect::<Vec<_>>()
    );
}

#[test]
fn datagram_beyond_the_announced_limit_is_protocol_violation() {
    let mut p = server_buffering(Some(500));
    client_sends_raw(
        &mut p,
        Frame::Datagram {
            data: Bytes::from(vec![1u8; 600]),
        },
    );
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()
            && p.server().error().is_some())
    );
    assert_local_error(p.server().error(), Code::PROTOCOL_VIOLATION);
    assert_peer_closed_with(p.client.error(), Code::PROTOCOL_VIOLATION);
}

#[test]
fn datagram_to_a_peer_that_disabled_them_is_protocol_violation() {
    let mut p = server_buffering(None);
    client_sends_raw(
        &mut p,
        Frame::Datagram {
            data: Bytes::from_static(b"unasked"),
        },
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.server().error().is_some()));
    assert_local_error(p.server().error(), Code::PROTOCOL_VIOLATION);
}
