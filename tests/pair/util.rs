//! Helpers shared by the protocol pair tests: configurations with
//! custom transport settings, deterministic payloads and small drivers.
#![allow(dead_code)]

use actix_quic::protocol::packet::{HeaderKind, LongType, PartialHeader};
use actix_quic::protocol::Dir;
use actix_quic::protocol::TransportConfig;
use actix_quic::protocol::TransportErrorCode;
use actix_quic::protocol::{Connection, ConnectionError};
use actix_quic::protocol::{ReadFailure, StreamId, WriteFailure};
use actix_quic::testing::Pair;
use actix_quic::VarInt;
use bytes::Bytes;

pub use crate::common::{pair, pair_with};
use std::time::Duration;

/// Transport settings with small flow-control windows.
pub fn small_windows(window: u64) -> TransportConfig {
    {
        let mut config = TransportConfig::default();
        config
            .stream_receive_window(VarInt::from_u64(window).unwrap())
            .receive_window(VarInt::from_u64(window).unwrap());
        config
    }
}

/// The byte at `offset` of the test payload of stream `seed`: varied
/// enough that a misplaced or repeated chunk shows.
pub fn pattern_byte(seed: u64, offset: u64) -> u8 {
    let x = offset
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(seed.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    (x >> 56) as u8 ^ (offset as u8)
}

/// `len` bytes of the payload of stream `seed`, starting at `offset`.
pub fn pattern(seed: u64, offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern_byte(seed, offset + i))
        .collect()
}

/// Writes as much of `data[*sent..]` as `conn` takes; returns true when
/// all of it went.
pub fn write_some(conn: &mut Connection, id: StreamId, data: &[u8], sent: &mut usize) -> bool {
    while *sent < data.len() {
        let end = data.len().min(*sent + 64 * 1024);
        let mut b = Bytes::copy_from_slice(&data[*sent..end]);
        match conn.write(id, &mut b) {
            Ok(n) => *sent += n,
            Err(WriteFailure::Blocked) => return false,
            Err(e) => panic!("write on {id} failed: {e:?}"),
        }
    }
    true
}

/// What a read loop found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// More may come.
    Open,
    /// The stream ended cleanly.
    Finished,
    /// The peer reset it with this code.
    Reset(actix_quic::VarInt),
    /// The stream is unknown (not opened yet, or forgotten after its end).
    Closed,
}

/// Reads everything available from `id` into `out`.
pub fn read_all(conn: &mut Connection, id: StreamId, out: &mut Vec<u8>) -> ReadEnd {
    loop {
        match conn.read(id, usize::MAX) {
            Ok(Some(b)) => out.extend_from_slice(&b),
            Ok(None) => return ReadEnd::Finished,
            Err(ReadFailure::Blocked) => return ReadEnd::Open,
            Err(ReadFailure::Reset(code)) => return ReadEnd::Reset(code),
            Err(ReadFailure::Closed) => return ReadEnd::Closed,
        }
    }
}

/// Sends `data` on a new client stream to the server, which reads it all;
/// returns what the server read. Panics if it does not finish within
/// `limit` of virtual time.
pub fn transfer(p: &mut Pair, data: &[u8], limit: Duration) -> Vec<u8> {
    let id = p.client.open(Dir::Uni).expect("stream credit");
    let mut sent = 0;
    let mut finished = false;
    let mut got = Vec::new();
    let mut sid = None;
    let mut done = false;
    let ok = p.run_until(limit, |p| {
        if !finished && write_some(&mut p.client, id, data, &mut sent) {
            p.client.finish(id).unwrap();
            finished = true;
        }
        let s = p.server();
        while sid.is_none() {
            match s.accept(Dir::Uni) {
                Some(a) if a == id => sid = Some(a),
                Some(_) => {}
                None => break,
            }
        }
        if let Some(sid) = sid {
            if read_all(s, sid, &mut got) == ReadEnd::Finished {
                done = true;
            }
        }
        done
    });
    assert!(
        ok,
        "transfer stalled: sent {sent} of {}, server read {} (client {:?} / server {:?})",
        data.len(),
        got.len(),
        p.client.stats(),
        p.server.as_ref().map(|s| s.stats())
    );
    got
}

/// Asserts `err` is a peer close with transport error `code`.
pub fn assert_peer_closed_with(err: Option<&ConnectionError>, code: TransportErrorCode) {
    match err {
        Some(ConnectionError::ConnectionClosed(c)) => {
            assert_eq!(c.error_code, code, "peer closed with {c}")
        }
        other => panic!("expected ConnectionClosed({code}), got {other:?}"),
    }
}

/// Asserts `err` is a local transport error `code`.
pub fn assert_local_error(err: Option<&ConnectionError>, code: TransportErrorCode) {
    match err {
        Some(ConnectionError::TransportError(e)) => assert_eq!(e.code, code, "{e}"),
        other => panic!("expected TransportError({code}), got {other:?}"),
    }
}

/// The long-header packet types coalesced in a datagram, in order; a
/// short-header packet shows as `None`.
pub fn packet_types(d: &[u8]) -> Vec<Option<LongType>> {
    let mut out = Vec::new();
    let mut rest = d;
    while !rest.is_empty() {
        let Ok(h) = PartialHeader::parse(rest, 8) else {
            break;
        };
        out.push(match h.kind {
            HeaderKind::Long { ty, .. } => Some(ty),
            _ => None,
        });
        rest = &rest[h.len.min(rest.len())..];
    }
    out
}
