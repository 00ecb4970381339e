//! Property tests for the wire codecs, run in the normal suite so CI keeps
//! checking what the fuzz targets in `fuzz/` explore (RFC 9000 §12.4,
//! §16, §17, §18, §19; RFC 9221 §4):
//!
//! - random *valid* frames of every variant, with field values drawn
//!   across their legal ranges (and at the varint size boundaries),
//!   encode then decode to the same frame, alone and concatenated;
//! - random valid transport parameters round-trip for both senders;
//! - packet numbers within half a window of the expected one are
//!   recovered from their truncated form;
//! - random and mutated packets never panic `PartialHeader::parse`,
//!   `Frames`, `TransportParameters::decode` or `Endpoint::handle`, and
//!   whatever decodes re-encodes to the same value.
//!
//! Deterministic (a fixed-seed `SplitMix`) and fast (well under 2 s).

mod common;

use actix_quic::protocol::crypto::{self, TAG_LEN};
use actix_quic::protocol::frame::{Ack, EcnCounts, Frame, Frames, PacketSpaceKind};
use actix_quic::protocol::packet::{
    self, decode_pn, pn_len, HeaderKind, LongType, PartialHeader, MIN_INITIAL_SIZE,
};
use actix_quic::protocol::transport_params::{PreferredAddress, TransportParameters};
use actix_quic::protocol::varint::{self, Reader};
use actix_quic::protocol::Dir;
use actix_quic::protocol::Side;
use actix_quic::protocol::{ConnectionId, MAX_CID_LEN};
use actix_quic::protocol::{DatagramEvent, Endpoint};
use actix_quic::testing::SplitMix;
use bytes::Bytes;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Instant;

/// Values at the edges of the varint size classes (RFC 9000 §16).
const VARINT_EDGES: [u64; 8] = [
    0,
    63,
    64,
    16_383,
    16_384,
    (1 << 30) - 1,
    1 << 30,
    varint::MAX,
];

/// Random values drawn to exercise every encoding size.
struct Gen(SplitMix);

impl Gen {
    fn new(seed: u64) -> Self {
        Self(SplitMix::new(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }

    fn bool(&mut self) -> bool {
        self.0.next_u64() & 1 == 1
    }

    /// A varint at most `max`: an edge value, or uniform within a random
    /// size class.
    fn varint_max(&mut self, max: u64) -> u64 {
        let v = match self.below(4) {
            0 => VARINT_EDGES[self.below(VARINT_EDGES.len() as u64) as usize],
            1 => self.below(64),
            2 => self.below(1 << 14),
            _ => {
                let bits = [30u32, 62][self.below(2) as usize];
                self.0.next_u64() & ((1u64 << bits) - 1)
            }
        };
        if v > max {
            self.below(max.saturating_add(1).max(1))
        } else {
            v
        }
    }

    fn varint(&mut self) -> u64 {
        self.varint_max(varint::MAX)
    }

    fn bytes(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = min + self.below((max - min + 1) as u64) as usize;
        (0..len).map(|_| self.0.next_u64() as u8).collect()
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.0.next_u64() as u8;
        }
        a
    }

    fn cid(&mut self, min: usize) -> ConnectionId {
        ConnectionId::new(&self.bytes(min, MAX_CID_LEN)).expect("<= 20 bytes")
    }

    fn dir(&mut self) -> Dir {
        if self.bool() {
            Dir::Bi
        } else {
            Dir::Uni
        }
    }

    /// Data and an offset such that offset + len stays within 2^62 - 1
    /// (RFC 9000 §19.6, §19.8).
    fn offset_and_data(&mut self) -> (u64, Bytes) {
        let data = self.bytes(0, 64);
        let offset = self.varint_max(varint::MAX - data.len() as u64);
        (offset, Bytes::from(data))
    }

    /// A valid ACK frame: 1 to 64 descending, disjoint, non-adjacent
    /// ranges (RFC 9000 §19.3.1), the first containing `largest`.
    fn ack(&mut self) -> Ack {
        let largest = self.varint();
        let mut ranges = Vec::new();
        let mut hi = largest;
        let count = 1 + self.below(64);
        for _ in 0..count {
            let lo = hi - self.varint_max(hi.min(1 << 20));
            ranges.push(lo..=hi);
            // Next range: hi' = lo - gap - 2 with gap >= 0.
            let Some(room) = lo.checked_sub(2) else { break };
            hi = room - self.varint_max(room.min(1 << 20));
        }
        let ecn = self.bool().then(|| EcnCounts {
            ect0: self.varint(),
            ect1: self.varint(),
            ce: self.varint(),
        });
        Ack {
            largest,
            delay: self.varint(),
            ranges,
            ecn,
        }
    }

    /// A random valid frame of variant `which` (0..VARIANTS).
    fn frame(&mut self, which: u64) -> Frame {
        match which {
            0 => Frame::Padding(1 + self.below(64) as usize),
            1 => Frame::Ping,
            2 => Frame::Ack(self.ack()),
            3 => Frame::ResetStream {
                id: common::stream_id(self.varint()),
                error_code: self.varint(),
                final_size: self.varint(),
            },
            4 => Frame::StopSending {
                id: common::stream_id(self.varint()),
                error_code: self.varint(),
            },
            5 => {
                let (offset, data) = self.offset_and_data();
                Frame::Crypto { offset, data }
            }
            6 => Frame::NewToken {
                token: Bytes::from(self.bytes(1, 64)),
            },
            7 => {
                let (offset, data) = self.offset_and_data();
                Frame::Stream {
                    id: common::stream_id(self.varint()),
                    offset,
                    fin: self.bool(),
                    data,
                }
            }
            8 => Frame::MaxData(self.varint()),
            9 => Frame::MaxStreamData {
                id: common::stream_id(self.varint()),
                max: self.varint(),
            },
            10 => Frame::MaxStreams {
                dir: self.dir(),
                count: self.varint_max(1 << 60),
            },
            11 => Frame::DataBlocked(self.varint()),
            12 => Frame::StreamDataBlocked {
                id: common::stream_id(self.varint()),
                limit: self.varint(),
            },
            13 => Frame::StreamsBlocked {
                dir: self.dir(),
                limit: self.varint_max(1 << 60),
            },
            14 => {
                let seq = self.varint();
                Frame::NewConnectionId {
                    seq,
                    retire_prior_to: self.varint_max(seq),
                    cid: self.cid(1),
                    reset_token: self.array(),
                }
            }
            15 => Frame::RetireConnectionId { seq: self.varint() },
            16 => Frame::PathChallenge(self.array()),
            17 => Frame::PathResponse(self.array()),
            18 => {
                let app = self.bool();
                Frame::ConnectionClose {
                    app,
                    code: self.varint(),
                    frame_type: if app { 0 } else { self.varint() },
                    reason: Bytes::from(self.bytes(0, 32)),
                }
            }
            19 => Frame::HandshakeDone,
            _ => Frame::Datagram {
                data: Bytes::from(self.bytes(0, 64)),
            },
        }
    }

    fn any_frame(&mut self) -> Frame {
        let which = self.below(VARIANTS);
        self.frame(which)
    }
}

/// Number of `Frame` variants `Gen::frame` produces.
const VARIANTS: u64 = 21;

fn decode_all(buf: &[u8]) -> Vec<Frame> {
    Frames::new(Bytes::copy_from_slice(buf))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("valid encoding fails to decode: {e:?} in {buf:02x?}"))
}

#[test]
fn random_valid_frames_round_trip() {
    let mut g = Gen::new(0xf4a3e5);
    for i in 0..20_000u64 {
        // Every variant in turn, with random fields.
        let f = g.frame(i % VARIANTS);
        let mut buf = Vec::new();
        f.encode(&mut buf);
        assert_eq!(buf.len(), f.encoded_len(), "{f:?}");
        if !matches!(f, Frame::Padding(_)) {
            assert_eq!(Reader::new(&buf).varint(), Some(f.ty()), "{f:?}");
        }
        assert_eq!(decode_all(&buf), vec![f.clone()], "{f:?}");
        // RFC 9000 §12.4: every frame may appear in a 1-RTT packet.
        assert!(f.allowed_in(PacketSpaceKind::OneRtt), "{f:?}");
    }
}

#[test]
fn random_frame_sequences_round_trip() {
    let mut g = Gen::new(0x5e9);
    for _ in 0..2_000 {
        let n = 1 + g.below(12) as usize;
        let mut frames: Vec<Frame> = Vec::with_capacity(n);
        let mut buf = Vec::new();
        for _ in 0..n {
            let f = g.any_frame();
            f.encode(&mut buf);
            // Consecutive PADDING decodes as one run (RFC 9000 §19.1).
            match (frames.last_mut(), &f) {
                (Some(Frame::Padding(a)), Frame::Padding(b)) => *a += b,
                _ => frames.push(f),
            }
        }
        assert_eq!(decode_all(&buf), frames);
    }
}

/// Random valid transport parameters that `sender` may send.
fn random_params(g: &mut Gen, sender: Side) -> TransportParameters {
    let server = sender == Side::Server;
    let some = |g: &mut Gen| g.below(3) != 0;
    let mut p = TransportParameters {
        max_idle_timeout: g.varint(),
        max_udp_payload_size: 1200 + g.varint_max(varint::MAX - 1200),
        initial_max_data: g.varint(),
        initial_max_stream_data_bidi_local: g.varint(),
        initial_max_stream_data_bidi_remote: g.varint(),
        initial_max_stream_data_uni: g.varint(),
        initial_max_streams_bidi: g.varint_max(1 << 60),
        initial_max_streams_uni: g.varint_max(1 << 60),
        ack_delay_exponent: g.below(21),
        max_ack_delay: g.below(1 << 14),
        disable_active_migration: g.bool(),
        active_connection_id_limit: 2 + g.varint_max(varint::MAX - 2),
        initial_source_connection_id: some(g).then(|| g.cid(0)),
        max_datagram_frame_size: some(g).then(|| g.varint()),
        ..TransportParameters::default()
    };
    if server {
        p.original_destination_connection_id = some(g).then(|| g.cid(0));
        p.stateless_reset_token = some(g).then(|| g.array());
        p.retry_source_connection_id = some(g).then(|| g.cid(0));
        p.preferred_address = some(g).then(|| {
            // An absent family is all zeros on the wire and decodes as
            // None, so offered ones use a non-zero port.
            let port = 1 + g.below(u16::MAX as u64) as u16;
            PreferredAddress {
                v4: g
                    .bool()
                    .then(|| SocketAddrV4::new(Ipv4Addr::from(g.array::<4>()), port)),
                v6: g
                    .bool()
                    .then(|| SocketAddrV6::new(Ipv6Addr::from(g.array::<16>()), port, 0, 0)),
                cid: g.cid(1),
                reset_token: g.array(),
            }
        });
    }
    p
}

#[test]
fn random_transport_parameters_round_trip() {
    let mut g = Gen::new(0x7a9);
    for i in 0..5_000 {
        let sender = if i % 2 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let p = random_params(&mut g, sender);
        let mut buf = Vec::new();
        p.encode(&mut buf);
        let got = TransportParameters::decode(&buf, sender)
            .unwrap_or_else(|e| panic!("{p:?} does not decode: {e:?}"));
        assert_eq!(got, p);
    }
}

#[test]
fn packet_numbers_within_half_a_window_are_recovered() {
    // RFC 9000 §17.1 and Appendix A.3.
    let mut g = Gen::new(0x9e);
    for _ in 0..50_000 {
        let largest = g.bool().then(|| g.varint_max((1 << 62) - 2));
        let nbits = 8 * (1 + g.below(4) as u32);
        let win = 1u64 << nbits;
        let expected = largest.map_or(0, |l| l + 1);
        // (expected - win/2, expected + win/2]
        let Some(actual) = (expected + 1 + g.below(win)).checked_sub(win / 2) else {
            continue;
        };
        if actual >= 1 << 62 {
            continue;
        }
        let got = decode_pn(largest, actual & (win - 1), nbits);
        assert_eq!(got, actual, "largest {largest:?} nbits {nbits}");
        // And the sender's choice of length (Appendix A.2) suffices.
        if let Some(la) = largest.filter(|&la| actual > la && actual - la < 1 << 31) {
            let len = pn_len(actual, Some(la));
            let bits = 8 * len as u32;
            assert_eq!(
                decode_pn(Some(la), actual & ((1 << bits) - 1), bits),
                actual
            );
        }
    }
}

/// Mutations of valid bytes: bit flips, byte overwrites, truncation,
/// extension, splicing in random bytes, duplication.
fn mutate(g: &mut Gen, d: &[u8]) -> Vec<u8> {
    let mut m = d.to_vec();
    for _ in 0..1 + g.below(3) {
        match g.below(6) {
            0 if !m.is_empty() => {
                let bit = g.below(m.len() as u64 * 8);
                m[(bit / 8) as usize] ^= 1 << (bit % 8);
            }
            1 if !m.is_empty() => {
                let at = g.below(m.len() as u64) as usize;
                m[at] = [0x00, 0xff, 0x40, 0x80, 0xc0][g.below(5) as usize];
            }
            2 => m.truncate(g.below(m.len() as u64 + 1) as usize),
            3 => m.extend(g.bytes(0, 32)),
            4 => {
                let at = g.below(m.len() as u64 + 1) as usize;
                let ins = g.bytes(1, 8);
                m.splice(at..at, ins);
            }
            _ => m.extend_from_slice(d),
        }
    }
    m
}

#[test]
fn random_and_mutated_frames_never_panic_and_reencode() {
    let mut g = Gen::new(0xb00);
    for i in 0..20_000 {
        let buf = if i % 3 == 0 {
            g.bytes(0, 64)
        } else {
            let mut valid = Vec::new();
            for _ in 0..1 + g.below(3) {
                g.any_frame().encode(&mut valid);
            }
            mutate(&mut g, &valid)
        };
        for f in Frames::new(Bytes::from(buf)).flatten() {
            let mut out = Vec::new();
            f.encode(&mut out);
            assert_eq!(out.len(), f.encoded_len());
            assert_eq!(decode_all(&out), vec![f]);
        }
    }
}

#[test]
fn random_and_mutated_transport_parameters_never_panic() {
    let mut g = Gen::new(0x7b);
    for i in 0..10_000 {
        let sender = if i % 2 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        let buf = if i % 4 == 0 {
            g.bytes(0, 96)
        } else {
            let mut valid = Vec::new();
            random_params(&mut g, Side::Server).encode(&mut valid);
            mutate(&mut g, &valid)
        };
        for side in [sender, sender.peer()] {
            if let Ok(p) = TransportParameters::decode(&buf, side) {
                let mut out = Vec::new();
                p.encode(&mut out);
                assert_eq!(TransportParameters::decode(&out, side), Ok(p));
            }
        }
    }
}

/// Valid headers of every kind, each followed by some payload.
fn sample_headers(g: &mut Gen) -> Vec<Vec<u8>> {
    let d = g.cid(8);
    let s = g.cid(0);
    let mut out = Vec::new();
    for ty in [LongType::Initial, LongType::ZeroRtt, LongType::Handshake] {
        let mut b = Vec::new();
        let pn_len = 1 + g.below(4) as usize;
        let len_at = packet::write_long_header(
            &mut b,
            packet::VERSION_1,
            ty,
            &d,
            &s,
            &g.bytes(0, 8),
            7,
            pn_len,
        );
        b.extend(g.bytes(20, 60));
        let len = b.len() - len_at - 2;
        varint::write_with_len(&mut b[len_at..], len as u64, 2);
        out.push(b);
    }
    let mut short = Vec::new();
    packet::write_short_header(
        &mut short,
        &ConnectionId::new(&[7; 8]).unwrap(),
        g.bool(),
        9,
        2,
    );
    short.extend(g.bytes(20, 60));
    out.push(short);
    out.push(packet::version_negotiation(&d, &s, 0x2a, &[1, 0x1a2a_3a4a]));
    let mut coalesced = out[0].clone();
    coalesced.extend_from_slice(&out[2]);
    coalesced.extend_from_slice(&out[3]);
    out.push(coalesced);
    out
}

#[test]
fn random_and_mutated_headers_never_panic() {
    let mut g = Gen::new(0x4ead);
    for i in 0..20_000 {
        let buf = if i % 3 == 0 {
            g.bytes(0, 80)
        } else {
            let samples = sample_headers(&mut g);
            let s = &samples[g.below(samples.len() as u64) as usize];
            mutate(&mut g, s)
        };
        let short_len = g.below(MAX_CID_LEN as u64 + 1) as usize;
        // Walk coalesced packets as a receiver does (RFC 9000 §12.2).
        let mut at = 0;
        while at < buf.len() {
            let Ok(h) = PartialHeader::parse(&buf[at..], short_len) else {
                break;
            };
            assert!(h.len <= buf.len() - at, "{h:?}");
            assert!(
                h.token.start <= h.token.end && h.token.end <= h.len,
                "{h:?}"
            );
            if h.kind == HeaderKind::Short {
                assert_eq!(h.dcid.len(), short_len);
            }
            at += h.len.max(1);
        }
        let _ = packet::invariant_long_cids(&buf);
    }
}

/// A client Initial that the server's Initial keys for `dcid`
/// authenticate, carrying `payload` padded to a 1200-byte datagram.
fn sealed_initial(dcid: &ConnectionId, scid: &ConnectionId, payload: &[u8]) -> Vec<u8> {
    let keys = crypto::initial_keys(dcid, Side::Client);
    let mut buf = Vec::new();
    let pn_len = 2;
    let len_at = packet::write_long_header(
        &mut buf,
        packet::VERSION_1,
        LongType::Initial,
        dcid,
        scid,
        &[],
        0,
        pn_len,
    );
    let pn_offset = len_at + 2;
    buf.extend_from_slice(payload);
    buf.resize(buf.len().max(MIN_INITIAL_SIZE - TAG_LEN), 0);
    let len = buf.len() - pn_offset + TAG_LEN;
    varint::write_with_len(&mut buf[len_at..], len as u64, 2);
    crypto::seal(
        &mut buf,
        0,
        pn_offset,
        pn_len,
        0,
        keys.local.packet.as_ref(),
        keys.local.header.as_ref(),
    );
    buf
}

#[test]
fn random_and_mutated_datagrams_never_panic_the_endpoint() {
    let (client_cfg, server_cfg) = common::configs();
    let mut ep = Endpoint::new(
        actix_quic::protocol::EndpointConfig::new(),
        Some(server_cfg),
        [7; 32],
    );
    let mut g = Gen::new(0xe4d);
    let now = Instant::now();
    let from: SocketAddr = "127.0.0.1:5555".parse().unwrap();
    // A real client's first datagram, to mutate.
    let mut client_ep = Endpoint::new(actix_quic::protocol::EndpointConfig::new(), None, [8; 32]);
    let (_, mut client) = client_ep
        .connect(
            now,
            &client_cfg,
            "127.0.0.1:4433".parse().unwrap(),
            "localhost",
        )
        .unwrap();
    let mut first = Vec::new();
    let t = client.poll_transmit(now, 1, &mut first).unwrap();
    first.truncate(t.size);
    let mut samples = sample_headers(&mut g);
    samples.push(first);
    let mut accepted = 0;
    let mut buf = Vec::new();
    for i in 0..3_000 {
        let d = match i % 4 {
            0 => g.bytes(0, 1300),
            // Authentic Initials with random or mutated frames inside:
            // the server connection parses them.
            1 => {
                let mut payload = Vec::new();
                for _ in 0..1 + g.below(4) {
                    g.any_frame().encode(&mut payload);
                }
                let payload = if g.bool() {
                    mutate(&mut g, &payload)
                } else {
                    payload
                };
                sealed_initial(&g.cid(8), &g.cid(0), &payload)
            }
            _ => {
                let s = &samples[g.below(samples.len() as u64) as usize];
                mutate(&mut g, s)
            }
        };
        match ep.handle(now, from, &d) {
            DatagramEvent::NewConnection(incoming) => {
                if let Ok((h, mut c)) = ep.accept(*incoming, now, None) {
                    accepted += 1;
                    while c.poll_transmit(now, 4, &mut buf).is_some() {}
                    while c.poll_event().is_some() {}
                    ep.forget(h);
                }
            }
            DatagramEvent::Respond(r) => assert!(r.len() <= d.len().max(MIN_INITIAL_SIZE)),
            DatagramEvent::Route(_) | DatagramEvent::Forward(_) | DatagramEvent::Drop => {}
        }
    }
    // The sealed Initials were authentic, so some made connections.
    assert!(accepted > 0);
}
