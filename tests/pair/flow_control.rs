//! Flow control (RFC 9000 §4) and stream limits (§4.6) on the sans-IO
//! core: small windows block the writer until the reader reads; stream
//! credit comes back as streams close.

use crate::util::*;
use actix_quic::protocol::Dir;
use actix_quic::protocol::Event;
use actix_quic::protocol::TransportConfig;
use actix_quic::protocol::{StreamEvent, StreamId, WriteFailure};
use actix_quic::testing::Link;
use actix_quic::VarInt;
use bytes::Bytes;
use std::time::Duration;

const WINDOW: u64 = 64 * 1024;

#[test]
fn eight_mib_through_64k_windows() {
    let mut p = pair_with(
        small_windows(WINDOW),
        small_windows(WINDOW),
        Link::default(),
    );
    assert!(p.handshake());
    let total = 8 * 1024 * 1024;
    let data = pattern(1, 0, total);
    let id = p.client.open(Dir::Uni).unwrap();
    let mut sent = 0;
    let mut finished = false;
    let mut got = Vec::new();
    let mut sid = None;
    let mut blocked = 0u32;
    let mut done = false;
    assert!(p.run_until(Duration::from_secs(600), |p| {
        if !finished {
            if write_some(&mut p.client, id, &data, &mut sent) {
                p.client.finish(id).unwrap();
                finished = true;
            } else {
                blocked += 1;
            }
        }
        // RFC 9000 §4.1: the writer never gets ahead of the reader by
        // more than the window.
        assert!(
            sent as u64 <= got.len() as u64 + WINDOW,
            "wrote {sent} with only {} read",
            got.len()
        );
        let s = p.server();
        if sid.is_none() {
            sid = s.accept(Dir::Uni);
        }
        if let Some(sid) = sid {
            done = read_all(s, sid, &mut got) == ReadEnd::Finished;
        }
        done
    }));
    assert_eq!(got.len(), total);
    assert!(got == data, "8 MiB differ");
    // The writer was held back many times and resumed each time.
    assert!(blocked > 50, "writer blocked only {blocked} times");
    assert!(p
        .client_events
        .contains(&Event::Stream(StreamEvent::Writable(id))));
}

#[test]
fn writer_blocked_until_reader_reads() {
    let mut p = pair_with(
        small_windows(WINDOW),
        small_windows(WINDOW),
        Link::default(),
    );
    assert!(p.handshake());
    let id = p.client.open(Dir::Bi).unwrap();
    let data = pattern(2, 0, 4 * WINDOW as usize);
    let mut sent = 0;
    assert!(!write_some(&mut p.client, id, &data, &mut sent));
    assert_eq!(sent as u64, WINDOW, "exactly the peer's window is taken");
    assert_eq!(p.client.write_credit(id), 0);
    assert_eq!(
        p.client.write(id, &mut Bytes::from_static(b"x")),
        Err(WriteFailure::Blocked)
    );
    // The server does not read: no credit ever comes back.
    assert!(p.run_until(Duration::from_secs(2), |p| p
        .server()
        .accept(Dir::Bi)
        .is_some()));
    p.advance(Duration::from_secs(3));
    assert_eq!(p.client.write_credit(id), 0);
    assert!(!write_some(&mut p.client, id, &data, &mut sent));
    assert_eq!(sent as u64, WINDOW);

    // Reading less than half the window earns nothing yet (credit is sent
    // in batches); once more than half is read, the window re-opens to a
    // full window beyond what was read at that moment.
    let mut got = Vec::new();
    while got.len() < (WINDOW / 4) as usize {
        got.extend_from_slice(&p.server().read(id, 1000).unwrap().unwrap());
    }
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.write_credit(id), 0);
    read_all(p.server(), id, &mut got);
    assert_eq!(got.len() as u64, WINDOW);
    let writable = Event::Stream(StreamEvent::Writable(id));
    assert!(p.run_until(Duration::from_secs(1), |p| p
        .client_events
        .contains(&writable)));
    let credit = p.client.write_credit(id);
    assert!(credit > WINDOW / 2 && credit < WINDOW, "credit {credit}");
    assert!(!write_some(&mut p.client, id, &data, &mut sent));
    assert_eq!(sent as u64, WINDOW + credit);
    // Everything arrives intact as the reader keeps reading.
    let mut sent_all = false;
    assert!(p.run_until(Duration::from_secs(10), |p| {
        if !sent_all && write_some(&mut p.client, id, &data, &mut sent) {
            p.client.finish(id).unwrap();
            sent_all = true;
        }
        read_all(p.server(), id, &mut got) == ReadEnd::Finished
    }));
    assert!(got == data);
}

#[test]
fn connection_window_is_shared_by_streams() {
    // Stream windows of 64 KiB but a connection window of 64 KiB too: two
    // streams together cannot exceed it.
    let server = {
        let mut config = TransportConfig::default();
        config
            .stream_receive_window(VarInt::from_u64(WINDOW).unwrap())
            .receive_window(VarInt::from_u64(WINDOW).unwrap());
        config
    };
    let mut p = pair_with(TransportConfig::default(), server, Link::default());
    assert!(p.handshake());
    let a = p.client.open(Dir::Uni).unwrap();
    let b = p.client.open(Dir::Uni).unwrap();
    let data = pattern(3, 0, WINDOW as usize);
    let (mut sa, mut sb) = (0, 0);
    assert!(!write_some(&mut p.client, a, &data[..40_000], &mut sa) || sa == 40_000);
    assert!(!write_some(&mut p.client, b, &data, &mut sb));
    assert_eq!((sa + sb) as u64, WINDOW);
    assert_eq!(p.client.write_credit(a), 0);
    // Reading stream a's bytes frees connection credit usable by b.
    let mut got_a = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| {
        while p.server().accept(Dir::Uni).is_some() {}
        read_all(p.server(), a, &mut got_a);
        got_a.len() == sa
    }));
    assert!(p.run_until(Duration::from_secs(2), |p| p.client.write_credit(b) > 0));
    let before = sb;
    write_some(
        &mut p.client,
        b,
        &pattern(3, 0, 2 * WINDOW as usize),
        &mut sb,
    );
    assert!(sb > before);
}

#[test]
fn third_stream_waits_for_max_streams() {
    let server = {
        let mut config = TransportConfig::default();
        config
            .max_concurrent_bidi_streams(VarInt::from_u64(2).unwrap())
            .max_concurrent_uni_streams(VarInt::from_u64(1).unwrap());
        config
    };
    let mut p = pair_with(TransportConfig::default(), server, Link::default());
    assert!(p.handshake());
    let s0 = p.client.open(Dir::Bi).unwrap();
    let s1 = p.client.open(Dir::Bi).unwrap();
    assert_eq!(p.client.open(Dir::Bi), None);
    let u0 = p.client.open(Dir::Uni).unwrap();
    assert_eq!(p.client.open(Dir::Uni), None);
    for id in [s0, s1, u0] {
        let mut d = Bytes::from(pattern(u64::from(id), 0, 100));
        p.client.write(id, &mut d).unwrap();
        p.client.finish(id).unwrap();
    }
    // The server reads s0 to the end but keeps its sending half open:
    // the stream is not closed, so no credit yet.
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| {
        while p.server().accept(Dir::Bi).is_some() {}
        read_all(p.server(), s0, &mut got) == ReadEnd::Finished
    }));
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.open(Dir::Bi), None);
    // Finishing the server's half closes s0 once the client has read the
    // FIN and the server has the ACK: MAX_STREAMS brings a third stream.
    p.server().finish(s0).unwrap();
    let mut echo = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| read_all(
        &mut p.client,
        s0,
        &mut echo
    ) == ReadEnd::Finished));
    let mut s2 = None;
    assert!(p.run_until(Duration::from_secs(2), |p| {
        s2 = p.client.open(Dir::Bi);
        s2.is_some()
    }));
    assert_eq!(s2.map(u64::from), Some(8));
    assert!(p
        .client_events
        .contains(&Event::Stream(StreamEvent::Available(Dir::Bi))));
    assert_eq!(p.client.open(Dir::Bi), None);

    // A uni stream is closed once read to the end.
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| {
        while p.server().accept(Dir::Uni).is_some() {}
        read_all(p.server(), u0, &mut got) == ReadEnd::Finished
    }));
    let mut u1 = None;
    assert!(p.run_until(Duration::from_secs(2), |p| {
        u1 = p.client.open(Dir::Uni);
        u1.is_some()
    }));
    assert_eq!(u1.map(u64::from), Some(6));

    // Raising the limit hands out credit without any stream closing.
    p.server()
        .set_max_concurrent_streams(Dir::Bi, VarInt::from_u32(10));
    let mut opened: Vec<StreamId> = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| {
        while let Some(id) = p.client.open(Dir::Bi) {
            opened.push(id);
        }
        !opened.is_empty()
    }));
    // 1 closed + 10 concurrent = 11 in total; 3 were opened before.
    assert_eq!(opened.len(), 8, "opened {opened:?}");
}

#[test]
fn reset_and_stopped_streams_return_credit() {
    // Streams ended by RESET_STREAM or STOP_SENDING instead of FIN count
    // as closed too (RFC 9000 §3.2, §3.3), or the peer runs out of streams.
    let server = {
        let mut config = TransportConfig::default();
        config
            .max_concurrent_bidi_streams(VarInt::from_u64(1).unwrap())
            .max_concurrent_uni_streams(VarInt::from_u64(1).unwrap());
        config
    };
    let mut p = pair_with(TransportConfig::default(), server, Link::default());
    assert!(p.handshake());
    for round in 0..6u64 {
        // Uni: the client resets it; the server reads the reset.
        let mut u = None;
        assert!(
            p.run_until(Duration::from_secs(2), |p| {
                u = p.client.open(Dir::Uni);
                u.is_some()
            }),
            "round {round}: uni credit not returned after a reset"
        );
        let u = u.unwrap();
        let mut d = Bytes::from(pattern(u64::from(u), 0, 2000));
        p.client.write(u, &mut d).unwrap();
        p.step();
        assert!(p.client.reset(u, VarInt::from_u32(1)));
        let mut sink = Vec::new();
        assert!(p.run_until(Duration::from_secs(2), |p| {
            while p.server().accept(Dir::Uni).is_some() {}
            read_all(p.server(), u, &mut sink) == ReadEnd::Reset(VarInt::from_u32(1))
        }));

        // Bidi: the server stops the client's half and resets its own;
        // the client answers STOP_SENDING with its own reset.
        let mut b = None;
        assert!(
            p.run_until(Duration::from_secs(2), |p| {
                b = p.client.open(Dir::Bi);
                b.is_some()
            }),
            "round {round}: bidi credit not returned after stop + reset"
        );
        let b = b.unwrap();
        let mut d = Bytes::from(pattern(u64::from(b), 0, 2000));
        p.client.write(b, &mut d).unwrap();
        assert!(
            p.run_until(Duration::from_secs(2), |p| p.server().accept(Dir::Bi)
                == Some(b))
        );
        assert!(p.server().stop(b, VarInt::from_u32(2)));
        assert!(p.server().reset(b, VarInt::from_u32(3)));
        let mut sink = Vec::new();
        assert!(p.run_until(Duration::from_secs(2), |p| read_all(
            &mut p.client,
            b,
            &mut sink
        ) == ReadEnd::Reset(
            VarInt::from_u32(3)
        )));
        assert!(p.run_until(Duration::from_secs(2), |p| p
            .client_events
            .contains(&Event::Stream(StreamEvent::Stopped(b, VarInt::from_u32(2))))));
    }
}

#[test]
fn discarded_data_returns_connection_credit() {
    // Data the reader stopped, and data cut off by a reset, still counts
    // as consumed for the connection window (RFC 9000 §4.5): after many
    // such streams a full window still flows.
    let mut p = pair_with(
        TransportConfig::default(),
        small_windows(WINDOW),
        Link::default(),
    );
    assert!(p.handshake());
    for i in 0..8u64 {
        // Stopped by the reader while data keeps arriving.
        let a = p
            .client
            .open(Dir::Uni)
            .unwrap_or_else(|| panic!("round {i}: {:?}", p.client.error()));
        let mut sent = 0;
        let data = pattern(u64::from(a), 0, WINDOW as usize / 2);
        write_some(&mut p.client, a, &data[..1000], &mut sent);
        assert!(
            p.run_until(Duration::from_secs(2), |p| p.server().accept(Dir::Uni)
                == Some(a))
        );
        p.server().stop(a, VarInt::from_u32(5));
        write_some(&mut p.client, a, &data, &mut sent);
        p.advance(Duration::from_millis(200));
        // Reset by the writer with unread data.
        let b = p.client.open(Dir::Uni).unwrap();
        let mut sent = 0;
        write_some(&mut p.client, b, &pattern(u64::from(b), 0, 3000), &mut sent);
        p.step();
        p.client.reset(b, VarInt::from_u32(6));
        p.advance(Duration::from_millis(200));
        // Stopped while the rest of the stream, FIN included, is already
        // on its way: no RESET_STREAM follows, the data alone must be
        // credited.
        let c = p.client.open(Dir::Uni).unwrap();
        let data = pattern(u64::from(c), 0, 20_000);
        let mut sent = 0;
        write_some(&mut p.client, c, &data[..1000], &mut sent);
        assert!(p.run_until(Duration::from_secs(2), |p| {
            let mut found = false;
            while let Some(x) = p.server().accept(Dir::Uni) {
                found |= x == c;
            }
            found
        }));
        assert!(write_some(&mut p.client, c, &data, &mut sent));
        p.client.finish(c).unwrap();
        p.step();
        assert!(p.server().stop(c, VarInt::from_u32(7)), "round {i}");
        p.advance(Duration::from_millis(200));
    }
    let got = transfer(
        &mut p,
        &pattern(9, 0, 4 * WINDOW as usize),
        Duration::from_secs(30),
    );
    assert!(got == pattern(9, 0, 4 * WINDOW as usize));
}

#[test]
fn blocked_writer_retrying_does_not_flood_the_link() {
    // A writer that retries while blocked on the connection window (as an
    // event loop does on every wake-up) must not make each retry cost a
    // DATA_BLOCKED packet: the link stays quiet until the reader reads.
    let server = {
        let mut config = TransportConfig::default();
        config
            .stream_receive_window(VarInt::from_u64(1 << 20).unwrap())
            .receive_window(VarInt::from_u64(WINDOW).unwrap());
        config
    };
    let mut p = pair_with(TransportConfig::default(), server, Link::default());
    assert!(p.handshake_and_settle());
    let id = p.client.open(Dir::Uni).unwrap();
    let data = pattern(4, 0, 4 * WINDOW as usize);
    let mut sent = 0;
    assert!(!write_some(&mut p.client, id, &data, &mut sent));
    assert_eq!(sent as u64, WINDOW);
    p.advance(Duration::from_millis(500));
    let before = p.client.stats().packets_sent;
    let datagrams = p.datagrams;
    let start = p.now;
    p.run_until(Duration::from_secs(10), |p| {
        assert!(!write_some(&mut p.client, id, &data, &mut sent));
        false
    });
    assert!(p.now - start >= Duration::from_secs(10));
    let extra = p.client.stats().packets_sent - before;
    assert!(
        extra <= 3,
        "{extra} packets sent while blocked ({:?} datagrams before, {:?} after)",
        datagrams,
        p.datagrams
    );
}

/// The largest stream limits a user can ask for are granted as the most
/// the wire allows (2^60 streams, RFC 9000 §4.6), never overflowing and
/// never a frame the peer must reject.
#[test]
fn the_largest_stream_limits_are_granted_as_two_to_the_sixty() {
    let unlimited = {
        let mut config = TransportConfig::default();
        config
            .max_concurrent_bidi_streams(VarInt::MAX)
            .max_concurrent_uni_streams(VarInt::MAX)
            .receive_window(VarInt::MAX)
            .stream_receive_window(VarInt::MAX);
        config
    };
    let mut p = pair_with(TransportConfig::default(), unlimited, Link::default());
    assert!(p.handshake_and_settle());
    p.server().set_max_concurrent_streams(Dir::Bi, VarInt::MAX);
    p.server().set_max_concurrent_streams(Dir::Uni, VarInt::MAX);
    let data = pattern(1, 0, 100_000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(5)), data);
    let mut opened = 0;
    assert!(p.run_until(Duration::from_secs(1), |p| {
        while opened < 1000 && p.client.open(Dir::Bi).is_some() {
            opened += 1;
        }
        opened == 1000
    }));
    assert!(p.client.error().is_none(), "{:?}", p.client.error());
    assert!(p.server().error().is_none(), "{:?}", p.server().error());
}
