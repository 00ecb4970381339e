//! Path MTU discovery (RFC 8899, RFC 9000 §14.3) on the sans-IO core:
//! the datagram size grows to what the path carries, probe losses are no
//! congestion signal, a black hole sends it back to 1200, and
//! `max_datagram_size()` follows.

use crate::util::*;
use actix_quic::protocol::TransportConfig;
use actix_quic::testing::Link;
use std::time::Duration;

#[test]
fn grows_to_the_upper_bound_on_an_open_path() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    p.advance(Duration::from_secs(1));
    for s in [p.client.stats(), p.server().stats()] {
        assert_eq!(s.mtu, 1452, "{s:?}");
        assert_eq!(s.lost_mtu_probes, 0);
    }
    let max = p.client.max_datagram_size().unwrap();
    assert!(max > 1400, "max_datagram_size follows: {max}");
    let got = transfer(&mut p, &pattern(1, 0, 1 << 20), Duration::from_secs(10));
    assert_eq!(got.len(), 1 << 20);
}

#[test]
fn finds_a_smaller_path_mtu_without_congestion_losses() {
    let mut p = pair(Link {
        max_datagram: 1350,
        ..Link::default()
    });
    assert!(p.handshake_and_settle());
    p.advance(Duration::from_secs(2));
    for s in [p.client.stats(), p.server().stats()] {
        // Within the search's 20-byte resolution below what the path takes.
        assert!((1330..=1350).contains(&s.mtu), "{s:?}");
        assert!(s.lost_mtu_probes >= 3, "oversized probes were lost");
        assert_eq!(s.lost_packets, 0, "no normal packet was lost");
        assert_eq!(s.congestion_events, 0, "probe losses are not congestion");
    }
    let data = pattern(2, 0, 2 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(20));
    assert!(got == data);
    assert_eq!(p.client.stats().lost_packets, 0);
}

#[test]
fn black_hole_falls_back_to_1200_and_the_transfer_completes() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.stats().mtu, 1452);
    // The path now drops everything above 1200 bytes.
    p.link.max_datagram = 1200;
    let data = pattern(3, 0, 1 << 20);
    let got = transfer(&mut p, &data, Duration::from_secs(60));
    assert!(got == data);
    let s = p.client.stats();
    assert_eq!(s.black_holes, 1, "{s:?}");
    assert_eq!(s.mtu, 1200);
    assert!(p.client.max_datagram_size().unwrap() < 1200);
}

#[test]
fn disabled_keeps_the_initial_size() {
    let off = {
        let mut config = TransportConfig::default();
        config.mtu_discovery_config(None);
        config
    };
    let mut p = pair_with(off.clone(), off, Link::default());
    assert!(p.handshake_and_settle());
    p.advance(Duration::from_secs(2));
    assert_eq!(p.client.stats().mtu, 1200);
    assert_eq!(p.server().stats().mtu, 1200);
}
