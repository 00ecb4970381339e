//! Hostile input on the sans-IO core: random bytes and mutated packets
//! must never panic nor disturb a connection; hand-crafted frames inside
//! validly protected packets must close the connection with the error
//! code RFC 9000 prescribes, which the sender then sees.

use crate::util::*;
use actix_quic::protocol::frame::{Ack, Frame};
use actix_quic::protocol::packet::{PartialHeader, MIN_INITIAL_SIZE};
use actix_quic::protocol::ConnectionError;
use actix_quic::protocol::ConnectionId;
use actix_quic::protocol::Dir;
use actix_quic::protocol::SpaceId;
use actix_quic::protocol::TransportErrorCode as Code;
use actix_quic::protocol::{DatagramEvent, Endpoint};
use actix_quic::testing::{Direction, Link, Pair, SplitMix};
use actix_quic::VarInt;
use bytes::{Bytes, BytesMut};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// Every datagram the link carried, with its direction.
type Log = Rc<RefCell<Vec<(Direction, Vec<u8>)>>>;

fn random_bytes(rng: &mut SplitMix, max: usize) -> Vec<u8> {
    let len = rng.below(max as u64 + 1) as usize;
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Mutations of a valid datagram: bit flips, truncation, extension,
/// header-field rewrites.
fn mutate(rng: &mut SplitMix, d: &[u8]) -> Vec<u8> {
    let mut m = d.to_vec();
    match rng.below(6) {
        0 => {
            let bit = rng.below(m.len() as u64 * 8);
            m[(bit / 8) as usize] ^= 1 << (bit % 8);
        }
        1 => m.truncate(rng.below(m.len() as u64) as usize),
        2 => m.extend(random_bytes(rng, 64)),
        3 => {
            // Scribble over the header.
            for b in m.iter_mut().take(rng.below(24) as usize + 1) {
                *b = rng.next_u64() as u8;
            }
        }
        4 => {
            // Valid datagram followed by a copy of itself (coalesced).
            m.extend_from_slice(d);
        }
        _ => {
            let at = rng.below(m.len() as u64) as usize;
            m[at] = 0xff;
        }
    }
    m
}

#[test]
fn random_bytes_to_endpoints_never_panic() {
    let (_, server) = crate::common::configs();
    let mut ep = Endpoint::new(
        actix_quic::protocol::EndpointConfig::new(),
        Some(server),
        [7; 32],
    );
    let mut rng = SplitMix::new(1);
    let now = std::time::Instant::now();
    let from = "127.0.0.1:1234".parse().unwrap();
    let mut new_conns = 0;
    for i in 0..20_000 {
        let mut d = random_bytes(&mut rng, 1500);
        if i % 4 == 0 && d.len() >= 7 {
            // Make some look like v1 long headers.
            d[0] = 0xc0 | (d[0] & 0x3f);
            d[1..5].copy_from_slice(&1u32.to_be_bytes());
        }
        if let DatagramEvent::NewConnection(incoming) = ep.handle(now, from, &d) {
            new_conns += 1;
            // Accepting feeds the junk to the connection.
            if let Ok((h, mut c)) = ep.accept(*incoming, now, None) {
                assert!(c.poll_event().is_none());
                ep.forget(h);
            }
        }
    }
    // Junk big enough to be an Initial may open a connection (the endpoint
    // only reads the header), but it never authenticates.
    let _ = new_conns;
}

#[test]
fn version_negotiation_for_unknown_versions_only_when_big_enough() {
    let (_, server) = crate::common::configs();
    let mut ep = Endpoint::new(
        actix_quic::protocol::EndpointConfig::new(),
        Some(server),
        [7; 32],
    );
    let now = std::time::Instant::now();
    let from = "127.0.0.1:1234".parse().unwrap();
    let mut d = vec![
        0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 4, 9, 9, 9, 9,
    ];
    assert!(matches!(ep.handle(now, from, &d), DatagramEvent::Drop));
    d.resize(MIN_INITIAL_SIZE, 0);
    match ep.handle(now, from, &d) {
        DatagramEvent::Respond(vn) => {
            let h = PartialHeader::parse(&vn, 8).unwrap();
            // RFC 9000 §17.2.1: CIDs swapped.
            assert_eq!(h.dcid.as_ref(), &[9, 9, 9, 9]);
        }
        e => panic!("expected Version Negotiation, got {e:?}"),
    }
}

#[test]
fn random_and_mutated_datagrams_do_not_disturb_a_transfer() {
    // Record every datagram, then throw garbage and mutations of real
    // packets at both sides while a transfer runs.
    let seen: Log = Rc::default();
    let s = seen.clone();
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            s.borrow_mut().push((dir, d.to_vec()));
            false
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    assert!(p.handshake());
    let mut rng = SplitMix::new(2);
    let data = pattern(5, 0, 400_000);
    let id = p.client.open(Dir::Uni).unwrap();
    let mut sent = 0;
    let mut finished = false;
    let mut got = Vec::new();
    let mut rounds = 0;
    assert!(p.run_until(Duration::from_secs(60), |p| {
        rounds += 1;
        if !finished && write_some(&mut p.client, id, &data, &mut sent) {
            p.client.finish(id).unwrap();
            finished = true;
        }
        let now = p.now;
        let addr = "127.0.0.1:4433".parse().unwrap();
        for _ in 0..4 {
            let junk = if rng.chance(0.5) {
                random_bytes(&mut rng, 1400)
            } else {
                let s = seen.borrow();
                let (_, d) = &s[rng.below(s.len() as u64) as usize];
                mutate(&mut rng, d)
            };
            // Directly into the connections...
            p.client
                .handle_datagram(now, addr, BytesMut::from(&junk[..]));
            p.server()
                .handle_datagram(now, addr, BytesMut::from(&junk[..]));
            // ...and over the link, through the server's endpoint.
            let dir = if rng.chance(0.5) {
                Direction::ToClient
            } else {
                Direction::ToServer
            };
            p.inject(dir, junk);
        }
        // Replay an old genuine datagram now and then: duplicates are
        // recognised by packet number.
        if rounds % 7 == 0 {
            let (dir, d) = {
                let s = seen.borrow();
                s[rng.below(s.len() as u64) as usize].clone()
            };
            p.inject(dir, d);
        }
        while p.server().accept(Dir::Uni).is_some() {}
        read_all(p.server(), id, &mut got) == ReadEnd::Finished
    }));
    assert!(got == data);
    assert!(p.client.error().is_none(), "{:?}", p.client.error());
    assert!(p.server().error().is_none(), "{:?}", p.server().error());
}

#[test]
fn random_handshake_garbage_does_not_break_the_handshake() {
    for seed in 0..10 {
        let mut p = pair(Link::default());
        let mut rng = SplitMix::new(seed);
        let ok = p.run_until(Duration::from_secs(10), |p| {
            let junk = random_bytes(&mut rng, 1300);
            let now = p.now;
            let addr = "127.0.0.1:4433".parse().unwrap();
            p.client
                .handle_datagram(now, addr, BytesMut::from(&junk[..]));
            if let Some(s) = p.server.as_mut() {
                s.handle_datagram(now, addr, BytesMut::from(&junk[..]));
            }
            p.client.is_handshake_complete()
                && p.server.as_ref().is_some_and(|s| s.is_handshake_complete())
        });
        assert!(ok, "seed {seed}: {:?}", p.client.error());
    }
}

/// A connected pair, settled.
fn connected() -> Pair {
    let mut p = pair(Link::default());
    assert!(p.handshake_and_settle());
    p
}

/// Sends `frames` from the client in one 1-RTT packet and runs until the
/// server has closed; returns the pair for inspection.
fn client_sends(frames: &[Frame]) -> Pair {
    let mut p = connected();
    send_raw(&mut p, Direction::ToServer, frames);
    p
}

fn send_raw(p: &mut Pair, dir: Direction, frames: &[Frame]) {
    let mut payload = Vec::new();
    for f in frames {
        f.encode(&mut payload);
    }
    send_raw_bytes(p, dir, &payload);
}

fn send_raw_bytes(p: &mut Pair, dir: Direction, payload: &[u8]) {
    let conn = match dir {
        Direction::ToServer => &mut p.client,
        Direction::ToClient => p.server.as_mut().unwrap(),
    };
    let d = conn
        .seal_raw_packet_for_test(SpaceId::Data, payload)
        .expect("1-RTT keys");
    p.inject(dir, d);
}

/// Runs until both sides know the connection is closed; checks the
/// server raised `code` and the client saw it as the peer's close.
fn expect_server_error(mut p: Pair, code: Code) {
    assert!(
        p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()
            && p.server().error().is_some())
    );
    assert_local_error(p.server().error(), code);
    assert_peer_closed_with(p.client.error(), code);
}

fn stream(id: u64, offset: u64, len: usize, fin: bool) -> Frame {
    Frame::Stream {
        id: crate::common::stream_id(id),
        offset,
        fin,
        data: Bytes::from(vec![0x5a; len]),
    }
}

#[test]
fn stream_beyond_stream_window_is_flow_control_error() {
    // Default stream window: 4 MiB.
    let p = client_sends(&[stream(0, 4 * 1024 * 1024, 1, false)]);
    expect_server_error(p, Code::FLOW_CONTROL_ERROR);
}

#[test]
fn stream_beyond_connection_window_is_flow_control_error() {
    let mut p = pair_with(
        Default::default(),
        {
            let mut config = actix_quic::protocol::TransportConfig::default();
            config
                .stream_receive_window(VarInt::from_u64(1 << 20).unwrap())
                .receive_window(VarInt::from_u64(1 << 20).unwrap());
            config
        },
        Link::default(),
    );
    assert!(p.handshake_and_settle());
    // Two streams, each within its window, together beyond MAX_DATA.
    send_raw(
        &mut p,
        Direction::ToServer,
        &[
            stream(0, (1 << 20) - 10, 10, false),
            stream(4, 20, 10, false),
        ],
    );
    expect_server_error(p, Code::FLOW_CONTROL_ERROR);
}

#[test]
fn reset_final_size_beyond_window_is_flow_control_error() {
    let p = client_sends(&[Frame::ResetStream {
        id: crate::common::stream_id(0),
        error_code: 0,
        final_size: 64 * 1024 * 1024,
    }]);
    expect_server_error(p, Code::FLOW_CONTROL_ERROR);
}

#[test]
fn stream_id_above_limit_is_stream_limit_error() {
    // Default limit: 100 bidi streams, so index 100 (ID 400) is over it.
    let p = client_sends(&[stream(400, 0, 1, false)]);
    expect_server_error(p, Code::STREAM_LIMIT_ERROR);
}

#[test]
fn stream_id_at_limit_is_accepted() {
    let mut p = client_sends(&[stream(396, 0, 1, true)]);
    p.advance(Duration::from_millis(200));
    assert!(p.server().error().is_none());
    // Opening stream 99 opens every lower one, in order.
    let mut n = 0;
    while let Some(id) = p.server().accept(Dir::Bi) {
        assert_eq!(u64::from(id), n * 4);
        n += 1;
    }
    assert_eq!(n, 100);
}

#[test]
fn data_on_own_uni_stream_is_stream_state_error() {
    // The server sends STREAM on a client-initiated uni stream.
    let mut p = connected();
    let id = p.client.open(Dir::Uni).unwrap();
    send_raw(
        &mut p,
        Direction::ToClient,
        &[stream(id.into(), 0, 5, false)],
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.server().error().is_some()));
    assert_local_error(p.client.error(), Code::STREAM_STATE_ERROR);
    assert_peer_closed_with(p.server().error(), Code::STREAM_STATE_ERROR);
}

#[test]
fn frame_for_unopened_local_stream_is_stream_state_error() {
    // MAX_STREAM_DATA for a client-initiated stream the client never opened.
    let mut p = connected();
    send_raw(
        &mut p,
        Direction::ToClient,
        &[Frame::MaxStreamData {
            id: crate::common::stream_id(8),
            max: 10,
        }],
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.server().error().is_some()));
    assert_local_error(p.client.error(), Code::STREAM_STATE_ERROR);
}

#[test]
fn changed_final_size_is_final_size_error() {
    let p = client_sends(&[stream(0, 0, 10, true), stream(0, 0, 20, true)]);
    expect_server_error(p, Code::FINAL_SIZE_ERROR);
}

#[test]
fn data_beyond_final_size_is_final_size_error() {
    let p = client_sends(&[stream(0, 0, 10, true), stream(0, 10, 5, false)]);
    expect_server_error(p, Code::FINAL_SIZE_ERROR);
}

#[test]
fn reset_below_received_is_final_size_error() {
    let p = client_sends(&[
        stream(0, 0, 100, false),
        Frame::ResetStream {
            id: crate::common::stream_id(0),
            error_code: 1,
            final_size: 50,
        },
    ]);
    expect_server_error(p, Code::FINAL_SIZE_ERROR);
}

#[test]
fn ack_of_unsent_packet_is_protocol_violation() {
    let p = client_sends(&[Frame::Ack(Ack {
        largest: 1_000_000,
        delay: 0,
        ranges: vec![1_000_000..=1_000_000],
        ecn: None,
    })]);
    expect_server_error(p, Code::PROTOCOL_VIOLATION);
}

#[test]
fn handshake_done_from_client_is_protocol_violation() {
    let p = client_sends(&[Frame::HandshakeDone]);
    expect_server_error(p, Code::PROTOCOL_VIOLATION);
}

#[test]
fn new_token_from_client_is_protocol_violation() {
    let p = client_sends(&[Frame::NewToken {
        token: Bytes::from_static(b"tok"),
    }]);
    expect_server_error(p, Code::PROTOCOL_VIOLATION);
}

#[test]
fn unknown_frame_type_is_frame_encoding_error() {
    let mut p = connected();
    send_raw_bytes(&mut p, Direction::ToServer, &[0x21, 0, 0, 0]);
    expect_server_error(p, Code::FRAME_ENCODING_ERROR);
}

#[test]
fn truncated_frame_is_frame_encoding_error() {
    let mut p = connected();
    // STREAM with a length field past the end of the packet.
    send_raw_bytes(
        &mut p,
        Direction::ToServer,
        &[0x0a, 0x00, 0x40, 0x80, 1, 2, 3],
    );
    expect_server_error(p, Code::FRAME_ENCODING_ERROR);
}

#[test]
fn too_many_connection_ids_is_connection_id_limit_error() {
    let mut p = connected();
    let frames: Vec<Frame> = (1..=8u64)
        .map(|seq| Frame::NewConnectionId {
            seq: 100 + seq,
            retire_prior_to: 0,
            cid: ConnectionId::new(&[seq as u8; 8]).unwrap(),
            reset_token: [seq as u8; 16],
        })
        .collect();
    send_raw(&mut p, Direction::ToClient, &frames);
    assert!(p.run_until(Duration::from_secs(5), |p| p.server().error().is_some()));
    assert_local_error(p.client.error(), Code::CONNECTION_ID_LIMIT_ERROR);
    assert_peer_closed_with(p.server().error(), Code::CONNECTION_ID_LIMIT_ERROR);
}

#[test]
fn padding_only_packet_is_accepted() {
    // PADDING is a frame: a packet of PADDING alone is not empty.
    let mut p = connected();
    send_raw_bytes(&mut p, Direction::ToServer, &[0; 30]);
    p.advance(Duration::from_millis(100));
    assert!(p.server().error().is_none());
}

#[test]
fn stop_sending_for_receive_only_stream_is_stream_state_error() {
    // STOP_SENDING on a server-initiated uni stream, sent by the server
    // (the stream's sender) is invalid for the client that only reads it:
    // here the client sends STOP_SENDING for its own uni stream's receive
    // half, which does not exist.
    let mut p = connected();
    let id = p.server().open(Dir::Uni).unwrap();
    send_raw(
        &mut p,
        Direction::ToClient,
        &[Frame::StopSending { id, error_code: 1 }],
    );
    assert!(p.run_until(Duration::from_secs(5), |p| p.client.error().is_some()));
    assert_local_error(p.client.error(), Code::STREAM_STATE_ERROR);
}

#[test]
fn random_frames_in_valid_packets_never_panic() {
    // Random payloads inside authenticated packets reach the frame parser
    // and every frame handler. The receiver either ignores them or closes
    // with a transport error; it never panics, and both sides end closed
    // or healthy.
    let mut rng = SplitMix::new(3);
    let rounds: u64 = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    for round in 0..rounds {
        let mut p = connected();
        // Some real streams first, so frames may hit live state.
        let id = p.client.open(Dir::Bi).unwrap();
        p.client
            .write(id, &mut Bytes::from(pattern(1, 0, 3000)))
            .unwrap();
        let uid = p.server().open(Dir::Uni).unwrap();
        p.server()
            .write(uid, &mut Bytes::from(pattern(2, 0, 3000)))
            .unwrap();
        p.advance(Duration::from_millis(50));
        let mut cid_forged = false;
        for _ in 0..3 {
            let mut payload = Vec::new();
            // Build from plausible frame types with random fields. Left
            // out: CONNECTION_CLOSE (a forged one ends only the receiver)
            // and NEW/RETIRE_CONNECTION_ID (forged ones make the receiver
            // switch to, or stop routing, CIDs the forger never uses, so
            // the close cannot reach it).
            for _ in 0..(1 + rng.below(4)) {
                let ty = [
                    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0a, 0x0b, 0x0d, 0x0f,
                    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x1a, 0x1b, 0x1e, 0x30, 0x31,
                ][rng.below(26) as usize];
                payload.push(ty);
                for _ in 0..rng.below(6) {
                    // Small varints, mostly valid stream IDs and offsets.
                    let v = rng.below(64) as u8;
                    payload.push(v);
                }
                if rng.chance(0.3) {
                    payload.extend(random_bytes(&mut rng, 40));
                }
            }
            let dir = if rng.chance(0.5) {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            if p.client.is_closed() || p.server().is_closed() {
                break;
            }
            if std::env::var("DBG").is_ok() {
                eprintln!("round {round} {dir:?} {payload:02x?}");
            }
            // A 0x18 byte anywhere may decode as NEW_CONNECTION_ID.
            cid_forged |= payload.contains(&0x18);
            send_raw_bytes(&mut p, dir, &payload);
            p.advance(Duration::from_millis(30));
        }
        p.advance(Duration::from_secs(2));
        let c = p.client.error().cloned();
        let s = p.server().error().cloned();
        // Either both are healthy or both know it is over, except when
        // one received a forged CONNECTION_CLOSE (from the random tail).
        let forged = |e: &Option<ConnectionError>| {
            matches!(
                e,
                Some(ConnectionError::ConnectionClosed(_) | ConnectionError::ApplicationClosed(_))
            )
        };
        assert!(
            c.is_some() == s.is_some() || forged(&c) || forged(&s) || cid_forged,
            "round {round}: client {c:?} server {s:?}"
        );
    }
}

#[test]
fn crypto_data_after_the_handshake_is_an_unexpected_message() {
    // A KeyUpdate (RFC 9001 §6: never in QUIC); the server's TLS session
    // is gone by now, so the core refuses it as rustls would have.
    let mut p = connected();
    assert!(p.server().tls_session_retired());
    send_raw(
        &mut p,
        Direction::ToServer,
        &[Frame::Crypto {
            offset: 0,
            data: Bytes::from_static(&[24, 0, 0, 1, 0]),
        }],
    );
    expect_server_error(p, Code::crypto(10));
}
