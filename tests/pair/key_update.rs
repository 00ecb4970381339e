//! 1-RTT key updates (RFC 9001 §6) on the sans-IO core, initiated by
//! either side, during transfers, with reordering across the update.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::TransportErrorCode as Code;
use actix_quic::testing::{Direction, Link};
use bytes::Bytes;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[test]
fn refused_before_confirmation_and_before_ack() {
    let mut p = pair(Link::default());
    assert!(!p.client.force_key_update(), "no 1-RTT keys yet");
    assert!(p.handshake());
    assert!(p.handshake_and_settle());
    assert!(p.client.force_key_update());
    assert!(p.client.key_phase());
    // RFC 9001 §6.1: no second update before a packet of this phase is
    // acknowledged.
    assert!(!p.client.force_key_update());
    let got = transfer(&mut p, &pattern(1, 0, 20_000), Duration::from_secs(5));
    assert_eq!(got, pattern(1, 0, 20_000));
    // The server followed.
    assert!(p.server().key_phase());
    assert!(p.client.force_key_update());
    assert!(!p.client.key_phase());
}

#[test]
fn updates_by_both_sides_during_transfer() {
    for (seed, jitter) in [(1, 0), (2, 15), (3, 15)] {
        let link = Link {
            jitter: Duration::from_millis(jitter),
            loss: if jitter > 0 { 0.02 } else { 0.0 },
            seed,
            ..Link::default()
        };
        let mut p = pair(link);
        assert!(p.handshake_and_settle());
        let data = pattern(seed, 0, 2 << 20);
        let id = p.client.open(Dir::Bi).unwrap();
        let mut sent = 0;
        let mut finished = false;
        let mut got = Vec::new();
        let mut echo_sent = 0;
        let mut echo_fin = false;
        let mut echo = Vec::new();
        let mut updates = 0;
        let mut next_update = 100_000;
        assert!(
            p.run_until(Duration::from_secs(120), |p| {
                if !finished && write_some(&mut p.client, id, &data, &mut sent) {
                    p.client.finish(id).unwrap();
                    finished = true;
                }
                while p.server().accept(Dir::Bi).is_some() {}
                let end = read_all(p.server(), id, &mut got);
                // Echo what arrived.
                if echo_sent < got.len() {
                    let mut b = Bytes::copy_from_slice(&got[echo_sent..]);
                    if let Ok(n) = p.server().write(id, &mut b) {
                        echo_sent += n;
                    }
                }
                if end == ReadEnd::Finished && echo_sent == got.len() && !echo_fin {
                    p.server().finish(id).unwrap();
                    echo_fin = true;
                }
                // Alternate who updates, every 100 kB received.
                if got.len() >= next_update {
                    let ok = if updates % 2 == 0 {
                        p.client.force_key_update()
                    } else {
                        p.server().force_key_update()
                    };
                    if ok {
                        updates += 1;
                        next_update += 100_000;
                    }
                }
                read_all(&mut p.client, id, &mut echo) == ReadEnd::Finished
            }),
            "seed {seed}: sent {sent}, server got {}, echo {} (client {:?})",
            got.len(),
            echo.len(),
            p.client.error()
        );
        assert!(got == data && echo == data, "seed {seed}: data differs");
        assert!(updates >= 4, "seed {seed}: only {updates} key updates");
        assert!(p.client.error().is_none() && p.server().error().is_none());
    }
}

#[test]
fn packets_of_old_phase_in_flight_are_accepted() {
    // RFC 9001 §6.1, §6.5: after we update, packets the peer sent before
    // it saw the update still carry the old phase and must decrypt; none
    // may be dropped (which would show as loss on a lossless link).
    for initiator_is_client in [true, false] {
        let mut p = pair(Link::default());
        assert!(p.handshake_and_settle());
        let data = pattern(7, 0, 300_000);
        // The other side has a window of packets on the wire...
        let (id, mut sent) = if initiator_is_client {
            (p.server().open(Dir::Uni).unwrap(), 0)
        } else {
            (p.client.open(Dir::Uni).unwrap(), 0)
        };
        let sender_writes = |p: &mut actix_quic::testing::Pair, sent: &mut usize| {
            let c = if initiator_is_client {
                p.server()
            } else {
                &mut p.client
            };
            write_some(c, id, &data, sent)
        };
        sender_writes(&mut p, &mut sent);
        p.send_ready();
        assert!(p.in_flight() > 2);
        // ...when this side updates its keys.
        let ok = if initiator_is_client {
            p.client.force_key_update()
        } else {
            p.server().force_key_update()
        };
        assert!(ok, "initiator is client: {initiator_is_client}");
        let mut got = Vec::new();
        let mut fin = false;
        assert!(p.run_until(Duration::from_secs(10), |p| {
            if !fin && sender_writes(p, &mut sent) {
                let c = if initiator_is_client {
                    p.server()
                } else {
                    &mut p.client
                };
                c.finish(id).unwrap();
                fin = true;
            }
            let r = if initiator_is_client {
                &mut p.client
            } else {
                p.server()
            };
            while r.accept(Dir::Uni).is_some() {}
            read_all(r, id, &mut got) == ReadEnd::Finished
        }));
        assert!(got == data);
        assert_eq!(p.client.stats().lost_packets, 0);
        assert_eq!(p.server().stats().lost_packets, 0);
        assert_eq!(p.client.key_phase(), p.server().key_phase());
    }
}

/// Seals a PING from `conn` in a 1-RTT packet numbered `pn`.
fn ping_at(conn: &mut actix_quic::protocol::Connection, pn: u64) -> Vec<u8> {
    conn.seal_raw_packet_at_pn_for_test(SpaceId::Data, pn, &[0x01])
        .expect("1-RTT keys")
}

fn run_until_both_closed(p: &mut actix_quic::testing::Pair) {
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()
            && p.server().error().is_some())
    );
}

#[test]
fn old_keys_above_a_newer_packet_is_key_update_error() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    // A packet of phase 0 numbered far above anything sent so far, held
    // back while the client moves to phase 1.
    let old = ping_at(&mut p.client, 1_000);
    assert!(p.client.force_key_update());
    let got = transfer(&mut p, &pattern(7, 0, 10_000), Duration::from_secs(5));
    assert_eq!(got.len(), 10_000);
    assert!(p.server().key_phase(), "the server followed the update");
    assert!(p.server().error().is_none());
    // RFC 9001 §6.4: phase-0 keys on packet 1000, above the phase-1
    // packets already received.
    p.inject(Direction::ToServer, old);
    run_until_both_closed(&mut p);
    assert_local_error(p.server().error(), Code::KEY_UPDATE_ERROR);
    assert_peer_closed_with(p.client.error(), Code::KEY_UPDATE_ERROR);
}

#[test]
fn old_keys_below_the_first_newer_packet_are_accepted() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let old = ping_at(&mut p.client, 1_000);
    // The update's first packets are numbered above the held one.
    let _ = ping_at(&mut p.client, 1_001);
    p.client.skip_packet_numbers_for_test(SpaceId::Data, 1_002);
    assert!(p.client.force_key_update());
    let got = transfer(&mut p, &pattern(8, 0, 10_000), Duration::from_secs(5));
    assert_eq!(got.len(), 10_000);
    assert!(p.server().key_phase());
    p.inject(Direction::ToServer, old);
    p.advance(Duration::from_millis(200));
    assert!(p.server().error().is_none(), "{:?}", p.server().error());
    assert!(p.client.error().is_none());
}

#[test]
fn too_many_forged_packets_is_aead_limit_reached() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    p.server().set_integrity_limit_for_test(3);
    let forged = |p: &mut actix_quic::testing::Pair| {
        let mut d = ping_at(&mut p.client, 900);
        // The tag no longer matches; header protection still comes off.
        *d.last_mut().unwrap() ^= 0x01;
        p.inject(Direction::ToServer, d);
        p.advance(Duration::from_millis(10));
    };
    // RFC 9001 §6.6: up to the limit the forgeries are only dropped.
    for _ in 0..3 {
        forged(&mut p);
        assert!(p.server().error().is_none());
    }
    let got = transfer(&mut p, &pattern(9, 0, 5_000), Duration::from_secs(5));
    assert_eq!(got.len(), 5_000, "the connection still works");
    forged(&mut p);
    run_until_both_closed(&mut p);
    assert_local_error(p.server().error(), Code::AEAD_LIMIT_REACHED);
    assert_peer_closed_with(p.client.error(), Code::AEAD_LIMIT_REACHED);
}

#[test]
fn keys_update_on_their_own_before_the_confidentiality_limit() {
    for (seed, loss) in [(1, 0.0), (2, 0.02)] {
        let mut p = pair(Link {
            loss,
            seed,
            ..Link::default()
        });
        assert!(p.handshake_and_settle());
        // RFC 9001 §6.6 with a limit of 100 packets per key phase: 2 MB
        // (~1,800 packets) need well over a dozen updates.
        p.client.set_confidentiality_limit_for_test(100);
        let data = pattern(seed, 0, 2 << 20);
        let got = transfer(&mut p, &data, Duration::from_secs(60));
        assert!(got == data, "seed {seed}: data differs");
        let (c, s) = (p.client.stats(), p.server().stats());
        assert!(
            c.key_updates >= 15,
            "seed {seed}: {} updates",
            c.key_updates
        );
        // The server followed each one.
        assert_eq!(s.key_updates, c.key_updates, "seed {seed}");
        assert!(p.client.error().is_none() && p.server().error().is_none());
    }
}

#[test]
fn confidentiality_limit_without_a_possible_update_is_aead_limit_reached() {
    let cut = Rc::new(Cell::new(false));
    let c = cut.clone();
    let mut p = pair(Link {
        drop: Some(Box::new(move |dir, _| {
            dir == Direction::ToClient && c.get()
        })),
        ..Link::default()
    });
    assert!(p.handshake_and_settle());
    p.client.set_confidentiality_limit_for_test(16);
    // Nothing reaches the client any more, so no packet of the current
    // phase is ever acknowledged and no update may start (RFC 9001 §6.1);
    // the client must stop at the limit (§6.6).
    cut.set(true);
    let id = p.client.open(Dir::Uni).unwrap();
    let mut data = Bytes::from(vec![1u8; 200_000]);
    let _ = p.client.write(id, &mut data);
    assert!(p.run_until(Duration::from_secs(20), |p| p.client.error().is_some()));
    assert_local_error(p.client.error(), Code::AEAD_LIMIT_REACHED);
    assert!(p.client.stats().packets_sent >= 16);
}
