//! The interop runner's goodput scenario on the sans-IO pair: 10 MB over
//! its default link (15 ms one-way, 10 Mbit/s, 25-datagram queue, IPv4
//! and UDP headers counted), with each congestion controller; and the
//! same download over a 100 Mbit/s, 25 ms link with 0.1 % loss.
//! Goodput is bytes over the time from the first Initial to the last
//! byte read, as the runner measures it.

use crate::util::*;
use actix_quic::protocol::CongestionAlgorithm;
use actix_quic::testing::{Direction, Download, Link, LinkConfig, Loss};
use std::time::{Duration, Instant};

const ALGORITHMS: [CongestionAlgorithm; 2] =
    [CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno];

fn measure(name: &str, link: LinkConfig, cc: CongestionAlgorithm) -> Download {
    let wall = Instant::now();
    let link_bps = link.bandwidth.expect("a link rate");
    let mut p = pair_with_cc(Link::symmetric(link), cc);
    let d = p
        .download(10 * MB, minutes(5))
        .unwrap_or_else(|e| panic!("{name} {cc:?}: {e}"));
    let s = server_stats(&p);
    eprintln!(
        "{name} {cc:?}: 10 MB in {:?}: {:.2} Mbit/s, {:.1} % of the link; server lost {} \
         packets ({} dropped by the link), {} congestion events; wall {:?}",
        d.elapsed,
        d.goodput_mbps(),
        d.link_share(link_bps) * 100.0,
        s.lost_packets,
        p.link_stats(Direction::ToClient).dropped(),
        s.congestion_events,
        wall.elapsed()
    );
    d
}

/// goodput: 10 MB over the 10 Mbit/s link reach at least 90 % of the
/// link rate, with either controller.
#[test]
fn goodput_ten_mbit() {
    for cc in ALGORITHMS {
        let d = measure("goodput 10 Mbit/s", LinkConfig::interop(), cc);
        assert!(
            d.link_share(TEN_MBIT) >= 0.9,
            "{cc:?}: {:.2} Mbit/s is below 90 % of 10 Mbit/s",
            d.goodput_mbps()
        );
    }
}

/// goodput on a 100 Mbit/s, 25 ms one-way link (the runner's 25-datagram
/// queue) with 0.1 % random loss: reported per controller. The floor
/// only catches a collapse.
#[test]
fn goodput_hundred_mbit_lossy() {
    let link = LinkConfig {
        delay: Duration::from_millis(25),
        bandwidth: Some(100_000_000),
        loss: Loss::random(0.001),
        ..LinkConfig::interop()
    };
    for cc in ALGORITHMS {
        let d = measure("goodput 100 Mbit/s 0.1 % loss", link.clone(), cc);
        assert!(
            d.goodput_mbps() >= 10.0,
            "{cc:?}: {:.2} Mbit/s",
            d.goodput_mbps()
        );
    }
}
