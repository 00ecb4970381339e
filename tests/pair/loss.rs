//! Loss recovery (RFC 9002) on the sans-IO core: chosen datagrams of the
//! handshake dropped, periodic and seeded random loss, reordering,
//! duplication, tail loss and a temporary blackout.

use crate::util::*;
use actix_quic::protocol::packet::LongType;
use actix_quic::testing::{Direction, Link};
use actix_quic::VarInt;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Transfers `size` bytes client to server over `link`; returns the
/// datagrams the link dropped and the client's count of lost packets.
fn assert_transfer(link: Link, size: usize, limit: Duration) -> (u64, u64) {
    let mut p = pair(link);
    assert!(p.handshake(), "handshake failed: {:?}", p.client.error());
    let data = pattern(size as u64, 0, size);
    let got = transfer(&mut p, &data, limit);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "data corrupted");
    assert!(p.client.error().is_none(), "{:?}", p.client.error());
    (p.dropped[0] + p.dropped[1], p.client.stats().lost_packets)
}

#[test]
fn every_tenth_datagram_dropped() {
    let mut n = [0u64; 2];
    let link = Link {
        drop: Some(Box::new(move |dir, _| {
            n[dir as usize] += 1;
            n[dir as usize] % 10 == 0
        })),
        ..Link::default()
    };
    let (dropped, lost) = assert_transfer(link, 1024 * 1024, Duration::from_secs(60));
    assert!(dropped > 100 && lost > 50, "dropped {dropped}, lost {lost}");
}

#[test]
fn first_server_initial_dropped() {
    let seen = Rc::new(Cell::new(false));
    let s = seen.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            if dir == Direction::ToClient
                && !s.get()
                && packet_types(d).first() == Some(&Some(LongType::Initial))
            {
                s.set(true);
                return true;
            }
            false
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    assert!(seen.get(), "the server Initial was seen and dropped");
    let got = transfer(&mut p, &pattern(1, 0, 100_000), Duration::from_secs(10));
    assert!(got == pattern(1, 0, 100_000));
}

#[test]
fn first_client_initial_dropped() {
    let mut first = true;
    let link = Link {
        drop: Some(Box::new(move |dir, _| {
            let drop = dir == Direction::ToServer && first;
            first &= dir != Direction::ToServer;
            drop
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    assert!(p.datagrams[0] >= 2);
}

#[test]
fn client_finished_dropped() {
    // The client's first Handshake datagram carries its Finished; without
    // it the server cannot complete. The client's Handshake PTO resends it.
    let dropped = Rc::new(Cell::new(0u32));
    let d2 = dropped.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            if dir == Direction::ToServer
                && d2.get() == 0
                && packet_types(d).contains(&Some(LongType::Handshake))
            {
                d2.set(1);
                return true;
            }
            false
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    assert_eq!(dropped.get(), 1);
    let got = transfer(&mut p, &pattern(2, 0, 200_000), Duration::from_secs(10));
    assert!(got == pattern(2, 0, 200_000));
}

#[test]
fn whole_first_server_flight_dropped() {
    // Every server datagram of the first flight is lost: the client's
    // Initial PTO (and the server's) recover, within the server's
    // anti-amplification budget (RFC 9000 §8.1).
    let mut n = 0;
    let link = Link {
        drop: Some(Box::new(move |dir, _| {
            if dir == Direction::ToClient {
                n += 1;
                return n <= 3;
            }
            false
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake(), "{:?}", p.client.error());
}

#[test]
fn handshake_under_heavy_loss() {
    for seed in 0..20 {
        let link = Link {
            loss: 0.3,
            seed,
            ..Link::default()
        };
        let mut p = pair(link);
        assert!(
            p.handshake(),
            "seed {seed}: client {:?}, server {:?}",
            p.client.error(),
            p.server.as_ref().and_then(|s| s.error().cloned())
        );
    }
}

#[test]
fn five_percent_random_loss_one_mib() {
    for seed in [1, 2, 3, 42] {
        let link = Link {
            loss: 0.05,
            seed,
            ..Link::default()
        };
        let (dropped, lost) = assert_transfer(link, 1024 * 1024, Duration::from_secs(120));
        assert!(dropped > 20 && lost > 20, "dropped {dropped}, lost {lost}");
    }
}

#[test]
fn reordering_and_duplication() {
    for seed in [5, 6, 7] {
        let link = Link {
            jitter: Duration::from_millis(15),
            duplicate: 0.1,
            loss: 0.01,
            seed,
            ..Link::default()
        };
        assert_transfer(link, 512 * 1024, Duration::from_secs(120));
    }
}

#[test]
fn tail_loss_of_fin_recovered_by_pto() {
    // Drop the last datagram the client sends for the transfer: nothing
    // follows it to trigger packet-threshold loss, so only the PTO can.
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let armed = Rc::new(Cell::new(false));
    let hits = Rc::new(Cell::new(0u32));
    let (a, h) = (armed.clone(), hits.clone());
    p.link.drop = Some(Box::new(move |dir, _| {
        if dir == Direction::ToServer && a.get() {
            a.set(false);
            h.set(h.get() + 1);
            return true;
        }
        false
    }));
    let id = p.client.open(actix_quic::protocol::Dir::Uni).unwrap();
    let mut b = bytes::Bytes::from(pattern(3, 0, 500));
    p.client.write(id, &mut b).unwrap();
    p.client.finish(id).unwrap();
    armed.set(true);
    let mut got = Vec::new();
    let start = p.now;
    assert!(p.run_until(Duration::from_secs(5), |p| {
        while p.server().accept(actix_quic::protocol::Dir::Uni).is_some() {}
        read_all(p.server(), id, &mut got) == ReadEnd::Finished
    }));
    assert_eq!(hits.get(), 1);
    assert_eq!(got, pattern(3, 0, 500));
    // Recovered in about one PTO, not an idle-timeout's worth.
    assert!(
        p.now - start < Duration::from_secs(1),
        "took {:?}",
        p.now - start
    );
}

#[test]
fn corrupted_datagrams_are_dropped_not_fatal() {
    // Bit flips break authentication: such packets are dropped like lost
    // ones (RFC 9001 §5.3) and never close the connection.
    for seed in [11, 12] {
        let link = Link {
            corrupt: 0.05,
            seed,
            ..Link::default()
        };
        assert_transfer(link, 256 * 1024, Duration::from_secs(60));
    }
}

#[test]
fn client_datagrams_with_initial_are_padded() {
    // RFC 9000 §14.1: every client datagram carrying an Initial, and every
    // server datagram with an ack-eliciting Initial, is at least 1200 bytes,
    // also when handshake packets are lost and retransmitted.
    let bad = Rc::new(Cell::new(0u32));
    let b = bad.clone();
    let mut rng = actix_quic::testing::SplitMix::new(9);
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            let types = packet_types(d);
            // Clients pad every Initial datagram; servers those with an
            // ack-eliciting Initial, which after the first flight is any
            // server Initial but a bare ACK (too small to tell apart
            // here, so only datagrams over 200 bytes are checked).
            let initial = types.contains(&Some(LongType::Initial));
            let short = d.len() < 1200;
            if initial && short && (dir == Direction::ToServer || d.len() > 200) {
                b.set(b.get() + 1);
            }
            rng.chance(0.25)
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    assert_eq!(bad.get(), 0, "short Initial datagrams");
}

#[test]
fn random_impairment_sweep() {
    // Many seeds of random delay, loss, reordering, duplication and
    // corruption, with small windows and a mix of finished and reset
    // streams: every stream ends intact (or reset, as a prefix).
    use actix_quic::protocol::Dir;
    use actix_quic::testing::SplitMix;
    for seed in 0..25u64 {
        let mut rng = SplitMix::new(seed * 7919);
        let link = Link {
            loss: rng.next_f64() * 0.15,
            jitter: Duration::from_millis(rng.below(30)),
            duplicate: rng.next_f64() * 0.1,
            corrupt: rng.next_f64() * 0.02,
            delay: Duration::from_millis(1 + rng.below(100)),
            seed,
            ..Link::default()
        };
        let desc = format!("seed {seed} {link:?}");
        let window = 16 * 1024 + rng.below(200_000);
        let mut p = pair_with(small_windows(window), small_windows(window), link);
        assert!(p.handshake(), "{desc}: no handshake");
        struct S {
            id: actix_quic::StreamId,
            data: Vec<u8>,
            sent: usize,
            closed: bool,
            got: Vec<u8>,
            done: bool,
            reset: bool,
        }
        let count = 1 + rng.below(30);
        let mut streams: Vec<S> = Vec::new();
        let ok = p.run_until(Duration::from_secs(600), |p| {
            while (streams.len() as u64) < count {
                let Some(id) = p.client.open(Dir::Bi) else {
                    break;
                };
                let size = rng.below(300_000) as usize;
                streams.push(S {
                    id,
                    data: pattern(u64::from(id), 0, size),
                    sent: 0,
                    closed: false,
                    got: Vec::new(),
                    done: false,
                    reset: rng.chance(0.15),
                });
            }
            while p.server().accept(Dir::Bi).is_some() {}
            for s in streams.iter_mut().filter(|s| !s.done) {
                if !s.closed && write_some(&mut p.client, s.id, &s.data, &mut s.sent) {
                    if s.reset {
                        p.client.reset(s.id, VarInt::from_u32(5));
                    } else {
                        p.client.finish(s.id).unwrap();
                    }
                    s.closed = true;
                }
                match read_all(p.server(), s.id, &mut s.got) {
                    ReadEnd::Finished => {
                        assert!(s.got == s.data, "{desc}: stream {} differs", s.id);
                        s.done = true;
                    }
                    ReadEnd::Reset(code) => {
                        assert!(
                            s.reset && code == VarInt::from_u32(5),
                            "{desc}: unexpected reset"
                        );
                        assert!(s.got == s.data[..s.got.len()], "{desc}: bad prefix");
                        s.done = true;
                    }
                    ReadEnd::Open | ReadEnd::Closed => {}
                }
            }
            streams.len() as u64 == count && streams.iter().all(|s| s.done)
        });
        assert!(
            ok,
            "{desc}: stalled, {} of {count} done; client {:?}",
            streams.iter().filter(|s| s.done).count(),
            p.client.error()
        );
    }
}
