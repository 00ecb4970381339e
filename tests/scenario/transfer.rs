//! The interop runner's transfer scenarios on the sans-IO pair, at its
//! default link (15 ms one-way, 10 Mbit/s, 25-datagram queue) unless
//! noted: transferloss, transfercorruption, blackhole, and transfers
//! under reordering and duplication. Every byte is checked. Virtual time:
//! each runs in milliseconds and the same way every time.

use crate::util::*;
use actix_quic::testing::{Direction, Download, Link, LinkConfig, Loss, Outage, Pair};
use std::time::{Duration, Instant};

/// Downloads `size` bytes over `link` (symmetric) with `seed`; panics on
/// failure, reports the figures.
fn download(name: &str, link: LinkConfig, seed: u64, size: u64) -> (Pair, Download) {
    let wall = Instant::now();
    let mut p = pair(Link::symmetric(link).with_seed(seed));
    let d = p
        .download(size, minutes(5))
        .unwrap_or_else(|e| panic!("{name} (seed {seed}): {e}"));
    let s = server_stats(&p);
    eprintln!(
        "{name} (seed {seed}): {size} bytes in {:?}, {:.2} Mbit/s; server lost {} packets, \
         {} congestion events; link to client {:?}; wall {:?}",
        d.elapsed,
        d.goodput_mbps(),
        s.lost_packets,
        s.congestion_events,
        p.link_stats(Direction::ToClient),
        wall.elapsed()
    );
    (p, d)
}

/// transferloss: 2 % loss each way, at most 3 datagrams in a row: 2 MB
/// arrive intact.
#[test]
fn transferloss() {
    for seed in 0..3 {
        let link = LinkConfig {
            loss: Loss::bursts(0.02, 3),
            ..LinkConfig::interop()
        };
        let (p, _) = download("transferloss", link, seed, 2 * MB);
        assert!(p.link_stats(Direction::ToClient).lost > 10);
        assert!(server_stats(&p).lost_packets > 10);
    }
}

/// transferloss with real bursts: a Gilbert-Elliott channel losing 2 %
/// of datagrams in bursts of 3 on average (sometimes much longer): 2 MB
/// arrive intact.
#[test]
fn transferloss_gilbert_elliott() {
    for seed in 0..3 {
        let link = LinkConfig {
            loss: Loss::gilbert_elliott(0.02, 3.0),
            ..LinkConfig::interop()
        };
        let (p, _) = download("transferloss (Gilbert-Elliott)", link, seed, 2 * MB);
        assert!(p.link_stats(Direction::ToClient).lost > 10);
    }
}

/// transfercorruption: 2 % of datagrams corrupted each way: 2 MB arrive
/// intact, and no corrupted packet is accepted.
#[test]
fn transfercorruption() {
    for seed in 0..3 {
        let link = LinkConfig {
            corrupt: 0.02,
            ..LinkConfig::interop()
        };
        let (p, _) = download("transfercorruption", link, seed, 2 * MB);
        let corrupted = p.corrupted_delivered[0] + p.corrupted_delivered[1];
        assert!(corrupted > 10, "only {corrupted} corrupted");
        assert_eq!(
            p.corrupted_accepted,
            [0, 0],
            "a corrupted packet was accepted"
        );
        // Corrupted data packets are lost to the sender and repaired.
        assert!(server_stats(&p).lost_packets > 5);
    }
}

/// blackhole: the link is cut for 2 s every 5 s (up 3 s, down 2 s,
/// again and again): a 10 MB transfer still completes.
#[test]
fn blackhole() {
    let link = LinkConfig {
        outages: vec![Outage::cycle(
            Duration::from_secs(3),
            Duration::from_secs(2),
        )],
        ..LinkConfig::interop()
    };
    let (p, d) = download("blackhole", link, 0, 10 * MB);
    // It spanned several outages.
    assert!(d.elapsed > Duration::from_secs(10), "{:?}", d.elapsed);
    assert!(p.link_stats(Direction::ToClient).outage > 50);
}

/// duplication: 10 % of datagrams arrive twice: 10 MB intact, duplicates
/// cause no spurious loss (every packet the server declares lost was
/// really dropped by the link) and goodput stays at the clean link's.
#[test]
fn duplication() {
    let link = LinkConfig {
        duplicate: 0.1,
        ..LinkConfig::interop()
    };
    let (p, d) = download("duplication", link, 0, 10 * MB);
    let to_client = *p.link_stats(Direction::ToClient);
    assert!(to_client.duplicated > 500, "{to_client:?}");
    assert!(p.link_stats(Direction::ToServer).duplicated > 50);
    assert!(
        server_stats(&p).lost_packets <= to_client.dropped(),
        "spurious losses: {} declared, {} dropped",
        server_stats(&p).lost_packets,
        to_client.dropped()
    );
    assert!(
        d.link_share(TEN_MBIT) >= 0.9,
        "{:.2} Mbit/s",
        d.goodput_mbps()
    );
}

/// 10 % of datagrams held back by 10 ms (a third of the RTT; about ten
/// later datagrams overtake each at 10 Mbit/s).
fn reordering_link() -> LinkConfig {
    LinkConfig {
        reorder: 0.1,
        reorder_delay: Duration::from_millis(10),
        ..LinkConfig::interop()
    }
}

/// reordering: 10 % of datagrams reordered: 10 MB arrive intact.
#[test]
fn reordering_transfer_is_intact() {
    for seed in 0..2 {
        let (p, _) = download("reordering", reordering_link(), seed, 10 * MB);
        assert!(p.link_stats(Direction::ToClient).reordered > 500);
    }
}

/// reordering: the same link causes no spurious congestion collapse:
/// after the first spurious losses the reordering thresholds adapt, so
/// few packets beyond those the link dropped are declared lost, and
/// goodput stays above 85 % of the link rate.
#[test]
fn reordering_causes_no_congestion_collapse() {
    let (p, d) = download("reordering", reordering_link(), 0, 10 * MB);
    let dropped = p.link_stats(Direction::ToClient).dropped();
    let s = server_stats(&p);
    assert!(
        d.link_share(TEN_MBIT) >= 0.85 && s.lost_packets <= dropped + 100,
        "goodput {:.2} Mbit/s; {} packets declared lost, {dropped} dropped by the link, \
         {} congestion events",
        d.goodput_mbps(),
        s.lost_packets,
        s.congestion_events
    );
}
