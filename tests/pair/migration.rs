//! Connection migration (RFC 9000 §9) on the sans-IO core: a server
//! follows a client to a new port or address, validates the path with
//! PATH_CHALLENGE / PATH_RESPONSE, keeps to the anti-amplification limit
//! until then, resets congestion state for a new address, returns to the
//! old path when validation fails, and drops everything from a new
//! address when migration is off.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::SpaceId;
use actix_quic::testing::{Direction, Link, Pair};
use bytes::{Bytes, BytesMut};
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A pair whose server config has `migration` set.
fn pair_migration(migration: bool, link: Link) -> Pair {
    let (c, mut s) = crate::common::configs();
    s.migration(migration);
    Pair::new(c, s, "localhost", link)
}

/// Downloads `len` bytes from the server on a stream the client opens,
/// calling `during` once when half of it has arrived. Returns what the
/// client read, or `None` when it stalled for `limit`.
fn download_with(
    p: &mut Pair,
    len: usize,
    limit: Duration,
    mut during: impl FnMut(&mut Pair),
) -> Option<Vec<u8>> {
    let id = p.client.open(Dir::Bi).unwrap();
    p.client.write(id, &mut Bytes::from_static(b"GET")).unwrap();
    p.client.finish(id).unwrap();
    let data = pattern(11, 0, len);
    let mut sent = 0;
    let mut finished = false;
    let mut accepted = false;
    let mut got = Vec::new();
    let mut fired = false;
    let ok = p.run_until(limit, |p| {
        if !accepted {
            accepted = p.server().accept(Dir::Bi).is_some();
        }
        if accepted && !finished && write_some(p.server(), id, &data, &mut sent) {
            p.server().finish(id).unwrap();
            finished = true;
        }
        let end = read_all(&mut p.client, id, &mut got);
        if !fired && got.len() >= len / 2 {
            fired = true;
            during(p);
        }
        end == ReadEnd::Finished
    });
    if ok {
        assert!(got == data, "data differs");
        Some(got)
    } else {
        None
    }
}

#[test]
fn nat_rebinding_to_a_new_port_keeps_the_connection() {
    let mut p = pair_migration(true, Link::default());
    assert!(p.handshake_and_settle());
    let new = addr("127.0.0.1:40001");
    let mut cwnd_before = 0;
    let got = download_with(&mut p, 2 << 20, Duration::from_secs(30), |p| {
        cwnd_before = p.server().stats().cwnd;
        p.set_client_addr(new);
    });
    assert!(got.is_some(), "transfer stalled after rebinding");
    let s = p.server().stats();
    assert_eq!(p.server().remote_address(), new);
    assert_eq!(s.migrations, 1);
    assert!(s.frame_tx.path_challenge >= 1);
    assert!(p.client.stats().frame_tx.path_response >= 1);
    // Only the port changed: the congestion state was kept (RFC 9000
    // §9.4), so the window did not fall back to the initial one.
    assert!(cwnd_before > 14720);
    assert!(s.cwnd > 14720, "cwnd {}", s.cwnd);
    assert!(p.client.error().is_none() && p.server().error().is_none());
}

#[test]
fn move_to_a_new_address_mid_transfer_completes() {
    let mut p = pair_migration(true, Link::default());
    assert!(p.handshake_and_settle());
    let new = addr("127.0.0.2:50000");
    let mut moved = false;
    let got = download_with(&mut p, 2 << 20, Duration::from_secs(30), |p| {
        p.set_client_addr(new);
        moved = true;
    });
    assert!(moved && got.is_some());
    assert_eq!(p.server().remote_address(), new);
    assert_eq!(p.server().stats().migrations, 1);
}

#[test]
fn congestion_window_starts_over_on_a_new_address() {
    let mut p = pair_migration(true, Link::default());
    assert!(p.handshake_and_settle());
    let _ = download_with(&mut p, 1 << 20, Duration::from_secs(30), |_| {});
    assert!(p.server().stats().cwnd > 14720);
    // One packet from a new address, with a stream frame (non-probing).
    p.set_client_addr(addr("10.0.0.9:1234"));
    let id = p.client.open(Dir::Uni).unwrap();
    p.client
        .write(id, &mut Bytes::from_static(b"moved"))
        .unwrap();
    // Delivered after the 10 ms one-way delay; nothing acknowledged on
    // the new path yet at 15 ms.
    p.advance(Duration::from_millis(15));
    let s = p.server().stats();
    assert_eq!(s.migrations, 1);
    assert_eq!(s.cwnd, 14720, "RFC 9000 §9.4: initial window on a new path");
}

#[test]
fn unvalidated_path_is_limited_to_three_times_and_abandoned() {
    // After the move nothing reaches the client (the new address is a
    // spoof, say), and only one datagram comes from there.
    let cut = Rc::new(Cell::new(false));
    let from_new = Rc::new(Cell::new(0u32));
    let (c, f) = (cut.clone(), from_new.clone());
    let mut p = pair_migration(
        true,
        Link {
            drop: Some(Box::new(move |dir, _| {
                if !c.get() {
                    return false;
                }
                match dir {
                    Direction::ToClient => true,
                    Direction::ToServer => {
                        f.set(f.get() + 1);
                        f.get() > 1
                    }
                }
            })),
            ..Link::default()
        },
    );
    assert!(p.handshake_and_settle());
    let old = p.client_addr();
    cut.set(true);
    p.set_client_addr(addr("127.0.0.1:40002"));
    let id = p.client.open(Dir::Uni).unwrap();
    p.client.write(id, &mut Bytes::from_static(b"hi")).unwrap();
    let before = p.server().stats().udp_tx_bytes;
    let received_before = p.server().stats().udp_rx_bytes;
    // The server answers the request with plenty of data, all for the
    // new, unvalidated path.
    let mut answered = false;
    p.run_until(Duration::from_millis(300), |p| {
        if !answered && p.server().accept(Dir::Uni).is_some() {
            let out = p.server().open(Dir::Uni).unwrap();
            let mut big = Bytes::from(vec![3u8; 200_000]);
            p.server().write(out, &mut big).unwrap();
            answered = true;
        }
        false
    });
    assert!(answered);
    let s = p.server().stats();
    assert_eq!(s.migrations, 1);
    let received = s.udp_rx_bytes - received_before;
    let sent = s.udp_tx_bytes - before;
    assert!(received > 0 && received <= 1500, "{received}");
    assert!(sent <= 3 * received, "sent {sent} for {received} received");
    assert!(
        s.frame_tx.path_challenge >= 1,
        "a challenge fits in the budget"
    );
    // RFC 9000 §9.3.2: validation fails; back to the old address.
    p.advance(Duration::from_secs(5));
    assert_eq!(p.server().remote_address(), old);
}

#[test]
fn migration_off_drops_packets_from_a_new_address() {
    let mut p = pair_migration(false, Link::default());
    assert!(p.handshake_and_settle());
    p.set_client_addr(addr("127.0.0.1:40003"));
    let received = p.server().stats().packets_received;
    let id = p.client.open(Dir::Uni).unwrap();
    p.client.write(id, &mut Bytes::from_static(b"hi")).unwrap();
    p.advance(Duration::from_secs(1));
    let s = p.server().stats();
    assert_eq!(s.packets_received, received, "nothing from the new address");
    assert_eq!(s.migrations, 0);
    assert_eq!(p.server().remote_address(), addr("127.0.0.1:40000"));
}

#[test]
fn client_ignores_packets_from_another_server_address() {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let d = p
        .server()
        .seal_raw_packet_for_test(SpaceId::Data, &[0x01])
        .unwrap();
    let before = p.client.stats().packets_received;
    let now = p.start() + Duration::from_secs(1);
    p.client
        .handle_datagram(now, addr("127.0.0.9:4433"), BytesMut::from(&d[..]));
    assert_eq!(p.client.stats().packets_received, before);
}

/// A lost PATH_RESPONSE (the challenge itself arrived and was
/// acknowledged) does not fail the validation: the server challenges
/// again after a PTO (RFC 9000 §8.2.1), and the new path is validated.
#[test]
fn a_lost_path_response_is_answered_by_a_new_challenge() {
    // Drop the first full-size client datagram after the move: the one
    // padding the PATH_RESPONSE to 1200 bytes (the client only ACKs).
    let moved = Rc::new(Cell::new(false));
    let dropped = Rc::new(Cell::new(0));
    let (m, d) = (moved.clone(), dropped.clone());
    let link = Link {
        drop: Some(Box::new(move |dir, data| {
            let first = dir == Direction::ToServer && m.get() && data.len() >= 1200 && d.get() == 0;
            if first {
                d.set(1);
            }
            first
        })),
        ..Link::default()
    };
    let mut p = pair_migration(true, link);
    assert!(p.handshake_and_settle());
    let new = addr("127.0.0.2:50001");
    let got = download_with(&mut p, 1 << 20, Duration::from_secs(30), |p| {
        p.set_client_addr(new);
        moved.set(true);
    });
    assert!(got.is_some(), "transfer stalled");
    assert_eq!(dropped.get(), 1, "no PATH_RESPONSE was dropped");
    let s = p.server().stats();
    assert_eq!(p.server().remote_address(), new);
    // Validated on the first move: the path was never given up.
    assert_eq!(s.migrations, 1);
    assert!(
        s.frame_tx.path_challenge >= 2,
        "challenged {} times",
        s.frame_tx.path_challenge
    );
    assert!(p.client.stats().frame_tx.path_response >= 2);
}

/// Moving to a new address in the middle of a fast transfer: what is in
/// flight to the old address is not counted against the new path's
/// fresh window (RFC 9000 §9.4), so the PATH_CHALLENGE goes at once and
/// the path is validated in about one round trip, not after a PTO.
#[test]
fn a_new_path_is_validated_without_waiting_for_the_old_flight() {
    let mut p = pair_migration(true, Link::default());
    assert!(p.handshake_and_settle());
    let new = addr("127.0.0.2:50002");
    let id = p.client.open(Dir::Bi).unwrap();
    p.client.write(id, &mut Bytes::from_static(b"GET")).unwrap();
    p.client.finish(id).unwrap();
    let data = pattern(12, 0, 4 << 20);
    let (mut sent, mut got, mut accepted) = (0, Vec::new(), false);
    // Until the server has a full window in flight.
    assert!(p.run_until(Duration::from_secs(10), |p| {
        if !accepted {
            accepted = p.server().accept(Dir::Bi).is_some();
        }
        if accepted {
            write_some(p.server(), id, &data, &mut sent);
        }
        read_all(&mut p.client, id, &mut got);
        p.server().congestion_state().in_flight > 200_000
    }));
    p.set_client_addr(new);
    let moved_at = p.now;
    let rtt = p.server().rtt();
    // The server follows: its fresh window holds none of the old flight.
    assert!(p.run_until(Duration::from_secs(1), |p| {
        read_all(&mut p.client, id, &mut got);
        p.server().stats().migrations == 1
    }));
    let in_flight = p.server().congestion_state().in_flight;
    assert!(
        in_flight < 20_000,
        "{in_flight} bytes in flight on the new path"
    );
    assert!(p.run_until(Duration::from_secs(10), |p| {
        write_some(p.server(), id, &data, &mut sent);
        read_all(&mut p.client, id, &mut got);
        p.server().stats().frame_rx.path_response > 0
    }));
    let took = p.now - moved_at;
    assert!(took < rtt * 4, "validated after {took:?} (RTT {rtt:?})");
}

/// A client that knows it moved (a new socket, `Endpoint::rebind`)
/// announces its new address with one small PING, and then has nothing
/// to send until the server answers. Meanwhile, what the server sent to
/// the old socket is lost, and its congestion window is full of it.
/// Three times that PING is all the server may send to the unvalidated
/// address (RFC 9000 §8.1); its first packet there must still be the
/// PATH_CHALLENGE, or neither side ever sends again. Before the fix, a
/// new port kept the old flight counted against the new path, the
/// challenge waited for congestion control, and the datagram was padded
/// to the budget around an ACK alone: the transfer stalled.
#[test]
fn a_client_that_moves_with_one_small_ping_is_validated() {
    for (i, new) in ["127.0.0.1:40001", "127.0.0.2:50000"].iter().enumerate() {
        // Flow control credit far beyond the congestion window, so that
        // the window is what holds the server back.
        let mut client = actix_quic::TransportConfig::default();
        client
            .stream_receive_window(actix_quic::VarInt::from_u32(32 << 20))
            .receive_window(actix_quic::VarInt::from_u32(64 << 20));
        let server = actix_quic::TransportConfig::default();
        let mut p = crate::common::pair_with(client, server, Link::default());
        assert!(p.handshake_and_settle());
        let id = p.client.open(Dir::Bi).unwrap();
        p.client.write(id, &mut Bytes::from_static(b"GET")).unwrap();
        p.client.finish(id).unwrap();
        let len = 16 << 20;
        let data = pattern(11, 0, len);
        let (mut sent, mut got) = (0, Vec::new());
        let mut accepted = false;
        // Phases: 0 downloading, 1 the old socket is gone (30 ms, under
        // a PTO: what the server sends is lost while the client's last
        // ACKs still reach it), 2 moved.
        let (mut phase, mut gone_at) = (0, None);
        let mut window_full = false;
        let ok = p.run_until(Duration::from_secs(30), |p| {
            accepted = accepted || p.server().accept(Dir::Bi).is_some();
            if accepted && sent < len && write_some(p.server(), id, &data, &mut sent) {
                p.server().finish(id).unwrap();
            }
            if phase == 1 {
                p.lose_in_flight(Direction::ToClient);
                if p.now() >= gone_at.unwrap() + Duration::from_millis(30) {
                    let cc = p.server().congestion_state();
                    window_full = cc.in_flight + 1500 > cc.window;
                    p.set_client_addr(addr(new));
                    assert!(p.client.local_address_changed());
                    phase = 2;
                }
                return false;
            }
            let end = read_all(&mut p.client, id, &mut got);
            if phase == 0 && got.len() >= len / 4 {
                phase = 1;
                gone_at = Some(p.now());
            }
            end == ReadEnd::Finished
        });
        assert!(window_full, "case {i}: a full window was lost");
        assert!(ok, "case {i}: the transfer stalled after the move");
        assert!(got == data);
        let s = p.server().stats();
        assert_eq!(p.server().remote_address(), addr(new));
        assert_eq!(s.migrations, 1);
        assert_eq!(p.client.stats().frame_rx.path_challenge, 1, "case {i}");
    }
}
