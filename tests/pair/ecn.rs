//! ECN (RFC 9000 §13.4, RFC 9002 §7.1) on the simulated network: marks
//! are validated and reported both ways, CE marks at a queue reduce the
//! window without a loss, and a path that bleaches the marks turns
//! marking off.

use crate::util::*;
use actix_quic::protocol::{EcnState, TransportConfig};
use actix_quic::testing::{Link, LinkConfig};
use std::time::Duration;

/// A 10 Mbit/s link with a 60-datagram queue; CE marks from `threshold`
/// datagrams queued when given.
fn bottleneck(threshold: Option<usize>) -> LinkConfig {
    LinkConfig {
        bandwidth: Some(10_000_000),
        queue: Some(60),
        ecn_threshold: threshold,
        ..LinkConfig::with_delay(Duration::from_millis(20))
    }
}

#[test]
fn marks_are_validated_and_reported_both_ways() {
    let mut p = pair(Link::default());
    let d = p.download(200_000, Duration::from_secs(10)).unwrap();
    assert!(d.bytes == 200_000);
    for (side, s) in [("client", p.client.stats()), ("server", p.server().stats())] {
        let e = s.ecn;
        assert_eq!(e.state, EcnState::Capable, "{side}: {e:?}");
        assert!(e.sent_ect0 > 10, "{side}: {e:?}");
        assert!(e.received_ect0 > 10, "{side}: {e:?}");
        assert!(e.peer_ect0 > 10, "{side}: {e:?}");
        assert_eq!((e.received_ce, e.peer_ce, e.ce_events), (0, 0, 0), "{side}");
    }
    // What one side marked, the other counted (every packet arrived).
    let (c, s) = (p.client.stats().ecn, p.server().stats().ecn);
    assert!(s.received_ect0 <= c.sent_ect0 && c.peer_ect0 <= s.received_ect0);
    assert!(c.received_ect0 <= s.sent_ect0 && s.peer_ect0 <= c.received_ect0);
}

#[test]
fn ce_marks_reduce_the_window_without_a_loss() {
    let size = 4_000_000;
    let mut marked = pair(Link::symmetric(bottleneck(Some(8))));
    marked.download(size, Duration::from_secs(30)).unwrap();
    let s = marked.server().stats();
    let to_client = *marked.link_stats(actix_quic::testing::Direction::ToClient);
    assert!(to_client.ce_marked > 0, "{to_client:?}");
    assert!(s.ecn.ce_events > 0, "{:?}", s.ecn);
    assert_eq!(s.ecn.peer_ce, marked.client.stats().ecn.received_ce);
    assert_eq!(s.lost_packets, 0, "CE marks, not losses, slowed it");
    assert_eq!(to_client.queue_full, 0);
    // The same transfer without marks fills the queue and loses.
    let mut tail_drop = pair(Link::symmetric(bottleneck(None)));
    tail_drop.download(size, Duration::from_secs(30)).unwrap();
    let t = tail_drop.server().stats();
    assert!(t.lost_packets > 0, "the queue overflowed: {t:?}");
    assert_eq!(t.ecn.ce_events, 0);
    assert_eq!(t.ecn.state, EcnState::Capable);
}

#[test]
fn a_bleaching_path_turns_marking_off() {
    let link = LinkConfig {
        ecn_bleach: true,
        ..LinkConfig::default()
    };
    let mut p = pair(Link::symmetric(link));
    p.download(200_000, Duration::from_secs(10)).unwrap();
    for s in [p.client.stats(), p.server().stats()] {
        assert_eq!(s.ecn.state, EcnState::Failed, "{:?}", s.ecn);
        assert_eq!(s.ecn.received_ect0, 0);
        // Marked only until the first ACK showed the marks gone.
        assert!(s.ecn.sent_ect0 <= 10, "{:?}", s.ecn);
    }
}

#[test]
fn ecn_can_be_switched_off() {
    let mut off = TransportConfig::default();
    off.ecn(false);
    let mut p = pair_with(off, TransportConfig::default(), Link::default());
    p.download(100_000, Duration::from_secs(10)).unwrap();
    let c = p.client.stats().ecn;
    assert_eq!((c.state, c.sent_ect0), (EcnState::Disabled, 0));
    // It still reports the server's marks (RFC 9000 §13.4.1).
    assert!(c.received_ect0 > 0);
    assert_eq!(p.server().stats().ecn.state, EcnState::Capable);
}
