//! A server keeps 1-RTT packets that arrive before its handshake completes
//! and processes them once it can (RFC 9001 §5.7), instead of dropping
//! them as quinn and aioquic do.

use crate::util::*;
use actix_quic::protocol::packet::{HeaderKind, LongType, PartialHeader};
use actix_quic::protocol::Dir;
use actix_quic::testing::{Direction, Link};
use bytes::Bytes;
use std::time::Duration;

fn has_handshake_packet(d: &[u8]) -> bool {
    let mut rest = d;
    while !rest.is_empty() {
        let Ok(h) = PartialHeader::parse(rest, 8) else {
            return false;
        };
        if matches!(
            h.kind,
            HeaderKind::Long {
                ty: LongType::Handshake,
                ..
            }
        ) {
            return true;
        }
        rest = &rest[h.len.min(rest.len())..];
    }
    false
}

#[test]
fn request_sent_while_client_finished_is_lost_is_not_lost() {
    // Drop the client's first datagram carrying its Finished (the first
    // client Handshake packet); let everything else through.
    let mut dropped = false;
    let link = Link {
        drop: Some(Box::new(move |dir, d| {
            if dir == Direction::ToServer && !dropped && has_handshake_packet(d) {
                dropped = true;
                return true;
            }
            false
        })),
        ..Link::default()
    };
    let mut p = pair(link);
    // The client completes its side as soon as the server's flight arrives.
    assert!(p.run_until(Duration::from_secs(5), |p| p.client.is_handshake_complete()));
    assert!(p
        .server
        .as_ref()
        .is_some_and(|s| !s.is_handshake_complete()));
    let id = p.client.open(Dir::Bi).unwrap();
    let mut data = Bytes::from_static(b"GET /index.html\r\n");
    p.client.write(id, &mut data).unwrap();
    p.client.finish(id).unwrap();
    // Step until the server completes its handshake (the client's Finished
    // is retransmitted on PTO): the request must be readable at that very
    // moment, from the packet kept since before, without waiting for the
    // client to retransmit it.
    assert!(p.run_until(Duration::from_secs(10), |p| p
        .server
        .as_ref()
        .is_some_and(|s| s.is_handshake_complete())));
    let s = p.server();
    assert_eq!(s.accept(Dir::Bi), Some(id));
    let mut got = Vec::new();
    while let Ok(Some(b)) = s.read(id, 1024) {
        got.extend_from_slice(&b);
    }
    assert_eq!(got, b"GET /index.html\r\n", "request not kept");
    assert_eq!(p.dropped[0] + p.dropped[1], 1);
}
