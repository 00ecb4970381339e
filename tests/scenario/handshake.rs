//! The interop runner's handshake scenarios on the sans-IO pair, at its
//! default link (15 ms one-way, 10 Mbit/s, 25-datagram queue) unless
//! noted: handshakeloss, handshakecorruption and longrtt. Virtual time:
//! each runs in milliseconds and the same way every time.

use crate::quinn_sim::QuinnPair;
use crate::util::*;
use actix_quic::testing::{Direction, Link, LinkConfig, Loss};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Connections per scenario, as in the interop runner.
const CONNECTIONS: u64 = 50;

/// What `CONNECTIONS` sequential 1 KB downloads over `link` did.
#[derive(Debug, Default)]
struct Sequence {
    slowest: Duration,
    total: Duration,
    dropped: u64,
    corrupted: u64,
    corrupted_accepted: u64,
}

impl Sequence {
    /// Neither the slowest connection nor the sum of all is slower than
    /// `reference`'s.
    fn assert_no_slower_than(&self, reference: &Sequence) {
        assert!(
            self.slowest <= reference.slowest,
            "slowest {:?}, the reference's {:?}",
            self.slowest,
            reference.slowest
        );
        assert!(
            self.total <= reference.total,
            "total {:?}, the reference's {:?}",
            self.total,
            reference.total
        );
    }
}

/// Runs `CONNECTIONS` connections one after the other over `link` (a new
/// seed each), each downloading 1 KB; panics if any fails.
fn sequential_downloads(name: &str, link: LinkConfig) -> Sequence {
    let wall = Instant::now();
    let mut s = Sequence::default();
    for i in 0..CONNECTIONS {
        let mut p = pair(Link::symmetric(link.clone()).with_seed(1000 + i));
        let d = p
            .download(1024, Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{name}: connection {i} failed: {e}"));
        s.slowest = s.slowest.max(d.elapsed);
        s.total += d.elapsed;
        s.dropped += p.dropped[0] + p.dropped[1];
        s.corrupted += p.corrupted_delivered[0] + p.corrupted_delivered[1];
        s.corrupted_accepted += p.corrupted_accepted[0] + p.corrupted_accepted[1];
    }
    eprintln!(
        "{name}: {CONNECTIONS} connections, {:?} of virtual time (slowest {:?}), \
         {} datagrams dropped, {} corrupted ({} accepted); wall {:?}",
        s.total,
        s.slowest,
        s.dropped,
        s.corrupted,
        s.corrupted_accepted,
        wall.elapsed()
    );
    s
}

/// The same `CONNECTIONS` downloads between a quinn client and a quinn
/// server (quinn-proto on the same link, the same seeds).
fn quinn_sequential_downloads(name: &str, link: LinkConfig) -> Sequence {
    let mut s = Sequence::default();
    for i in 0..CONNECTIONS {
        let mut p = QuinnPair::new(link.clone(), 1000 + i);
        let elapsed = p
            .download(1024, Duration::from_secs(60))
            .unwrap_or_else(|| panic!("quinn, {name}: connection {i} failed"));
        s.slowest = s.slowest.max(elapsed);
        s.total += elapsed;
        s.dropped += p.dropped();
    }
    eprintln!(
        "{name}, quinn: {CONNECTIONS} connections, {:?} of virtual time (slowest {:?}), \
         {} datagrams dropped",
        s.total, s.slowest, s.dropped
    );
    s
}

/// handshakeloss: 30 % loss each way, never more than 3 datagrams in a
/// row; 50 sequential connections each download 1 KB, all succeed, with
/// a server that enforces "the client's first packet carries CRYPTO"
/// (RFC 9000 §17.2.2, as aioquic does): every probe carries the
/// handshake. The slowest connection and the total are no worse than
/// quinn's over the same link with the same seeds.
#[test]
fn handshakeloss() {
    let link = LinkConfig {
        loss: Loss::bursts(0.3, 3),
        ..LinkConfig::interop()
    };
    let ours = sequential_downloads("handshakeloss", link.clone());
    let quinn = quinn_sequential_downloads("handshakeloss", link);
    assert!(ours.dropped > 100, "the link dropped {}", ours.dropped);
    assert!(quinn.dropped > 100, "the link dropped {}", quinn.dropped);
    ours.assert_no_slower_than(&quinn);
}

/// handshakecorruption: 30 % of datagrams corrupted each way; 50
/// sequential connections each download 1 KB (checked byte by byte), and
/// no corrupted packet is ever accepted: packet protection rejects it.
/// No slower than quinn over the same link.
#[test]
fn handshakecorruption() {
    let link = LinkConfig {
        corrupt: 0.3,
        ..LinkConfig::interop()
    };
    let s = sequential_downloads("handshakecorruption", link.clone());
    assert!(s.corrupted > 100, "only {} corrupted", s.corrupted);
    assert_eq!(s.corrupted_accepted, 0, "a corrupted packet was accepted");
    let quinn = quinn_sequential_downloads("handshakecorruption", link);
    s.assert_no_slower_than(&quinn);
}

/// longrtt: 750 ms one-way delay (1.5 s RTT, far above the 333 ms
/// initial RTT): the client's Initial times out and is sent again, and
/// the handshake completes anyway.
#[test]
fn longrtt() {
    let client_initials = Rc::new(Cell::new(0u32));
    let counter = client_initials.clone();
    let mut link = Link::symmetric(LinkConfig {
        delay: Duration::from_millis(750),
        ..LinkConfig::interop()
    });
    // Counts datagrams starting with a long-header Initial; drops none.
    link.drop = Some(Box::new(move |dir, d| {
        if dir == Direction::ToServer && d.first().is_some_and(|b| b & 0xb0 == 0x80) {
            counter.set(counter.get() + 1);
        }
        false
    }));
    let mut p = pair(link);
    let d = p.download(1024, Duration::from_secs(60)).expect("longrtt");
    eprintln!(
        "longrtt: handshake {:?}, 1 KB downloaded after {:?}; client sent {} Initial datagrams",
        d.handshake,
        d.elapsed,
        client_initials.get()
    );
    assert!(
        d.handshake >= Duration::from_millis(2250),
        "{:?}",
        d.handshake
    );
    assert!(
        client_initials.get() >= 2,
        "the ClientHello was not sent again"
    );
    assert!(
        p.client.rtt() >= Duration::from_millis(1400),
        "{:?}",
        p.client.rtt()
    );
}

/// The quinn reference is sound: on a clean link its 1 KB download takes
/// what ours does, to within a round trip (both need 2 RTTs plus the
/// serialisation of the same certificate).
#[test]
fn the_quinn_reference_takes_what_we_take_on_a_clean_link() {
    let link = LinkConfig::interop();
    let ours = pair(Link::symmetric(link.clone()).with_seed(7))
        .download(1024, Duration::from_secs(10))
        .expect("ours")
        .elapsed;
    let quinn = QuinnPair::new(link, 7)
        .download(1024, Duration::from_secs(10))
        .expect("quinn");
    eprintln!("clean link, 1 KB: ours {ours:?}, quinn {quinn:?}");
    let rtt = Duration::from_millis(30);
    assert!(ours.abs_diff(quinn) < rtt, "ours {ours:?}, quinn {quinn:?}");
}
