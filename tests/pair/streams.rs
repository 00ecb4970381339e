//! Streams on the sans-IO core: many concurrent bidirectional streams,
//! unidirectional streams both ways, ordering of accepted streams, events,
//! RESET_STREAM and STOP_SENDING semantics.

use crate::util::*;
use actix_quic::protocol::Event;
use actix_quic::protocol::{Dir, Side};
use actix_quic::protocol::{ReadFailure, StreamEvent, StreamId, WriteFailure};
use actix_quic::testing::{Link, Pair};
use actix_quic::VarInt;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::time::Duration;

/// Client streams sending a payload each; the server echoes every stream
/// back once it has read it to the end.
struct Echo {
    total: usize,
    size: usize,
    /// Client side: stream -> (bytes written, finished, echo read, done).
    client: BTreeMap<StreamId, (usize, bool, Vec<u8>, bool)>,
    /// Server side: stream -> (bytes read, finished, echo written, finished).
    server: BTreeMap<StreamId, (Vec<u8>, bool, usize, bool)>,
    accepted: Vec<StreamId>,
}

impl Echo {
    fn new(total: usize, size: usize) -> Self {
        Self {
            total,
            size,
            client: BTreeMap::new(),
            server: BTreeMap::new(),
            accepted: Vec::new(),
        }
    }

    fn payload(&self, id: StreamId) -> Vec<u8> {
        pattern(u64::from(id), 0, self.size)
    }

    /// One round of application work on both sides; true when done.
    fn poll(&mut self, p: &mut Pair) -> bool {
        while self.client.len() < self.total {
            let Some(id) = p.client.open(Dir::Bi) else {
                break;
            };
            self.client.insert(id, (0, false, Vec::new(), false));
        }
        let ids: Vec<StreamId> = self.client.keys().copied().collect();
        for id in ids {
            let data = self.payload(id);
            let st = self.client.get_mut(&id).unwrap();
            if !st.1 && write_some(&mut p.client, id, &data, &mut st.0) {
                p.client.finish(id).unwrap();
                st.1 = true;
            }
            if !st.3 && read_all(&mut p.client, id, &mut st.2) == ReadEnd::Finished {
                st.3 = true;
            }
        }
        if let Some(s) = p.server.as_mut() {
            while let Some(id) = s.accept(Dir::Bi) {
                self.accepted.push(id);
                self.server.insert(id, (Vec::new(), false, 0, false));
            }
            for (&id, st) in self.server.iter_mut() {
                if !st.1 && read_all(s, id, &mut st.0) == ReadEnd::Finished {
                    st.1 = true;
                }
                if st.1 && !st.3 && write_some(s, id, &st.0.clone(), &mut st.2) {
                    s.finish(id).unwrap();
                    st.3 = true;
                }
            }
        }
        self.client.len() == self.total && self.client.values().all(|s| s.3)
    }

    fn check(&self) {
        assert_eq!(self.client.len(), self.total);
        for (&id, st) in &self.client {
            assert!(st.2 == self.payload(id), "echo of stream {id} differs");
        }
        // RFC 9000 §2.1, §3.2: streams are accepted in ID order, none skipped.
        let expected: Vec<StreamId> = (0..self.total as u64)
            .map(|i| StreamId::new(Side::Client, Dir::Bi, i))
            .collect();
        assert_eq!(self.accepted, expected);
    }
}

#[test]
fn two_hundred_bidi_streams_echoed() {
    // 200 streams against the default limit of 100 concurrent streams:
    // the second hundred open only as MAX_STREAMS credit comes back.
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let mut app = Echo::new(200, 10 * 1024);
    assert!(
        p.run_until(Duration::from_secs(60), |p| app.poll(p)),
        "echo incomplete: {} opened, {} done",
        app.client.len(),
        app.client.values().filter(|s| s.3).count()
    );
    app.check();
    assert!(p.client.error().is_none() && p.server().error().is_none());
    // Every stream was acknowledged in full on both sides.
    let finished = |events: &[Event]| {
        events
            .iter()
            .filter(|e| matches!(e, Event::Stream(StreamEvent::Finished(_))))
            .count()
    };
    assert!(
        p.run_until(Duration::from_secs(5), |p| finished(&p.client_events)
            == 200
            && finished(&p.server_events) == 200)
    );
    // Finished is reported once per stream.
    assert_eq!(finished(&p.client_events), 200);
}

#[test]
fn many_streams_echoed_over_lossy_reordering_link() {
    for seed in 1..=8 {
        let link = Link {
            loss: 0.03,
            jitter: Duration::from_millis(8),
            duplicate: 0.02,
            seed,
            ..Link::default()
        };
        let mut p = pair(link);
        assert!(p.handshake(), "seed {seed}: no handshake");
        let mut app = Echo::new(120, 3000);
        assert!(
            p.run_until(Duration::from_secs(120), |p| app.poll(p)),
            "seed {seed}: echo incomplete: {} opened, {} done",
            app.client.len(),
            app.client.values().filter(|s| s.3).count()
        );
        app.check();
    }
}

#[test]
fn uni_streams_both_ways() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let mut c_ids = Vec::new();
    let mut s_ids = Vec::new();
    for i in 0..5u64 {
        let c = p.client.open(Dir::Uni).unwrap();
        let s = p.server().open(Dir::Uni).unwrap();
        // RFC 9000 §2.1: client uni 0x2, server uni 0x3, stepping by 4.
        assert_eq!(u64::from(c), 4 * i + 2);
        assert_eq!(u64::from(s), 4 * i + 3);
        let mut d = Bytes::from(pattern(u64::from(c), 0, 5000));
        assert_eq!(p.client.write(c, &mut d), Ok(5000));
        p.client.finish(c).unwrap();
        let mut d = Bytes::from(pattern(u64::from(s), 0, 7000));
        assert_eq!(p.server().write(s, &mut d), Ok(7000));
        p.server().finish(s).unwrap();
        c_ids.push(c);
        s_ids.push(s);
    }
    // A uni stream cannot be read by its opener.
    assert_eq!(p.client.read(c_ids[0], 10), Err(ReadFailure::Closed));
    let mut at_server: BTreeMap<StreamId, (Vec<u8>, bool)> = BTreeMap::new();
    let mut at_client: BTreeMap<StreamId, (Vec<u8>, bool)> = BTreeMap::new();
    let mut order_s = Vec::new();
    let mut order_c = Vec::new();
    assert!(p.run_until(Duration::from_secs(10), |p| {
        while let Some(id) = p.server().accept(Dir::Uni) {
            order_s.push(id);
            at_server.insert(id, (Vec::new(), false));
        }
        while let Some(id) = p.client.accept(Dir::Uni) {
            order_c.push(id);
            at_client.insert(id, (Vec::new(), false));
        }
        assert_eq!(p.server().accept(Dir::Bi), None);
        for (&id, st) in at_server.iter_mut() {
            if !st.1 {
                st.1 = read_all(p.server(), id, &mut st.0) == ReadEnd::Finished;
            }
        }
        for (&id, st) in at_client.iter_mut() {
            if !st.1 {
                st.1 = read_all(&mut p.client, id, &mut st.0) == ReadEnd::Finished;
            }
        }
        at_server.len() == 5
            && at_client.len() == 5
            && at_server.values().all(|s| s.1)
            && at_client.values().all(|s| s.1)
    }));
    assert_eq!(order_s, c_ids);
    assert_eq!(order_c, s_ids);
    for (id, st) in &at_server {
        assert_eq!(st.0, pattern(u64::from(*id), 0, 5000));
    }
    for (id, st) in &at_client {
        assert_eq!(st.0, pattern(u64::from(*id), 0, 7000));
    }
    // The receiver of a uni stream cannot write to it.
    assert_eq!(
        p.server().write(c_ids[0], &mut Bytes::from_static(b"x")),
        Err(WriteFailure::Closed)
    );
    // Opened events, one per stream and direction.
    let opened = p
        .server_events
        .iter()
        .filter(|e| **e == Event::Stream(StreamEvent::Opened(Dir::Uni)))
        .count();
    assert_eq!(opened, 5);
}

#[test]
fn streams_arrive_in_order_even_when_frames_do_not() {
    // Open 10 streams, write the last one first: the server still accepts
    // 0, 4, 8, ... in order (a frame for stream N opens all below it).
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let ids: Vec<StreamId> = (0..10).map(|_| p.client.open(Dir::Bi).unwrap()).collect();
    for &id in ids.iter().rev() {
        let mut d = Bytes::from(pattern(u64::from(id), 0, 100));
        p.client.write(id, &mut d).unwrap();
        p.client.finish(id).unwrap();
        // One stream per flush so the server sees them in reverse.
        p.step();
    }
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(5), |p| {
        while let Some(id) = p.server().accept(Dir::Bi) {
            got.push(id);
        }
        got.len() == 10
    }));
    assert_eq!(got, ids);
}

#[test]
fn reset_stream_reaches_reader_with_code() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let id = p.client.open(Dir::Bi).unwrap();
    let mut d = Bytes::from(pattern(u64::from(id), 0, 3000));
    p.client.write(id, &mut d).unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p
        .server()
        .accept(Dir::Bi)
        .is_some()));
    assert!(p.client.reset(id, VarInt::from_u32(7)));
    // Writing after a reset fails; a second reset is ignored.
    assert_eq!(
        p.client.write(id, &mut Bytes::from_static(b"x")),
        Err(WriteFailure::Closed)
    );
    assert!(!p.client.reset(id, VarInt::from_u32(8)));
    let mut got = Vec::new();
    let mut end = ReadEnd::Open;
    assert!(p.run_until(Duration::from_secs(2), |p| {
        end = read_all(p.server(), id, &mut got);
        end != ReadEnd::Open
    }));
    assert_eq!(end, ReadEnd::Reset(VarInt::from_u32(7)));
    // Data read before the reset is a prefix of what was written.
    assert_eq!(got, pattern(u64::from(id), 0, got.len()));
    assert!(p
        .server_events
        .contains(&Event::Stream(StreamEvent::Readable(id))));
}

#[test]
fn stop_sending_reaches_writer_with_code() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let id = p.client.open(Dir::Bi).unwrap();
    let mut d = Bytes::from(pattern(u64::from(id), 0, 1000));
    p.client.write(id, &mut d).unwrap();
    assert!(p.run_until(Duration::from_secs(2), |p| p
        .server()
        .accept(Dir::Bi)
        .is_some()));
    assert!(p.server().stop(id, VarInt::from_u32(9)));
    assert_eq!(p.server().read(id, 100), Err(ReadFailure::Closed));
    assert!(
        p.run_until(Duration::from_secs(2), |p| p.client_events.contains(
            &Event::Stream(StreamEvent::Stopped(id, VarInt::from_u32(9)))
        ))
    );
    assert_eq!(
        p.client.write(id, &mut Bytes::from_static(b"more")),
        Err(WriteFailure::Stopped(VarInt::from_u32(9)))
    );
    assert_eq!(
        p.client.finish(id),
        Err(WriteFailure::Stopped(VarInt::from_u32(9)))
    );
    // The other direction of the stream still works.
    let mut d = Bytes::from_static(b"reply");
    assert_eq!(p.server().write(id, &mut d), Ok(5));
    p.server().finish(id).unwrap();
    let mut got = Vec::new();
    assert!(p.run_until(Duration::from_secs(2), |p| read_all(
        &mut p.client,
        id,
        &mut got
    ) == ReadEnd::Finished));
    assert_eq!(got, b"reply");
    assert!(p.client.error().is_none() && p.server().error().is_none());
}

#[test]
fn finished_event_after_everything_acknowledged() {
    let mut p = pair(Link::default());
    assert!(p.handshake());
    let id = p.client.open(Dir::Uni).unwrap();
    let mut d = Bytes::from(pattern(u64::from(id), 0, 50_000));
    assert_eq!(p.client.write(id, &mut d), Ok(50_000));
    p.client.finish(id).unwrap();
    assert_eq!(p.client.finish(id), Err(WriteFailure::Closed));
    let fin = Event::Stream(StreamEvent::Finished(id));
    assert!(p.run_until(Duration::from_secs(5), |p| p.client_events.contains(&fin)));
    // Nothing is retransmitted afterwards (PMTU probes may still go).
    let sent = p.client.stats().frame_tx.stream;
    p.advance(Duration::from_secs(1));
    assert_eq!(p.client.stats().frame_tx.stream, sent);
    assert_eq!(p.client_events.iter().filter(|e| **e == fin).count(), 1);
}

#[test]
fn transmit_batches_are_gso_shaped() {
    // poll_transmit may write several datagrams at once: all but the last
    // of the same size (segment_size), each a complete QUIC packet, full
    // but for at most one AEAD block's worth (stream data stops at a
    // whole number of 16-byte blocks).
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    let id = p.client.open(Dir::Uni).unwrap();
    let mut d = Bytes::from(pattern(1, 0, 200_000));
    p.client.write(id, &mut d).unwrap();
    let now = p.now;
    let mut buf = Vec::new();
    let t = p.client.poll_transmit(now, 8, &mut buf).unwrap();
    let seg = t.segment_size.expect("a batch");
    let mtu = usize::from(p.client.stats().mtu);
    assert!(seg <= mtu && seg + 16 > mtu, "segment {seg}, MTU {mtu}");
    // Here (MTU 1452, 8-byte CID, 1-byte packet number) a packet filling
    // the MTU would carry 1426 bytes to seal, not a whole number of
    // blocks: the stream data stops two bytes short.
    assert!(seg < mtu, "segment {seg}, MTU {mtu}");
    assert!(t.size > seg && t.size <= 8 * seg);
    for chunk in buf[..t.size].chunks(seg) {
        let h = actix_quic::protocol::packet::PartialHeader::parse(chunk, 8).unwrap();
        assert_eq!(h.kind, actix_quic::protocol::packet::HeaderKind::Short);
        assert_eq!(h.len, chunk.len());
    }
    // max_datagrams = 1 yields exactly one datagram.
    let t = p.client.poll_transmit(now, 1, &mut buf).unwrap();
    assert_eq!(t.segment_size, None);
    assert!(t.size <= seg);
}

/// Stream data fills its packets: once the handshake is done, a transfer
/// sends no PADDING (without MTU probes, which are padded), and the
/// counter says so (it once counted every packet, the tag taken for
/// padding).
#[test]
fn stream_data_packets_carry_no_padding() {
    let mut config = actix_quic::TransportConfig::default();
    config.mtu_discovery_config(None);
    let mut p = crate::common::pair_with(config.clone(), config, Link::default());
    assert!(p.handshake());
    let padded = p.client.stats().frame_tx.padding;
    let before = p.client.stats().packets_sent;
    let data = pattern(9, 0, 100_000);
    assert_eq!(transfer(&mut p, &data, Duration::from_secs(5)), data);
    let s = p.client.stats();
    assert!(s.packets_sent > before + 60, "{s:?}");
    assert_eq!(s.frame_tx.padding, padded, "{s:?}");
}
