//! Version negotiation seen by a client (RFC 9000 §6.2).

mod common;

use actix_quic::protocol::connection::ConnectionError;
use actix_quic::protocol::packet::{self, PartialHeader};
use bytes::BytesMut;
use std::time::Instant;

fn vn_for(initial: &[u8], versions: &[u32]) -> BytesMut {
    let h = PartialHeader::parse(initial, 8).unwrap();
    let scid = match h.kind {
        packet::HeaderKind::Long { scid, .. } => scid,
        k => panic!("{k:?}"),
    };
    BytesMut::from(&packet::version_negotiation(&h.dcid, &scid, 0x2a, versions)[..])
}

#[test]
fn version_negotiation_without_our_version_fails_with_version_mismatch() {
    let (mut conn, initial) = common::client_and_first_datagram();
    let vn = vn_for(&initial, &[0x1a2a_3a4a, 0xff00_001d]);
    conn.handle_datagram(Instant::now(), "127.0.0.1:4433".parse().unwrap(), vn);
    assert_eq!(conn.error(), Some(&ConnectionError::VersionMismatch));
}

#[test]
fn version_negotiation_listing_our_version_is_ignored() {
    let (mut conn, initial) = common::client_and_first_datagram();
    let vn = vn_for(&initial, &[packet::VERSION_1, 0x1a2a_3a4a]);
    conn.handle_datagram(Instant::now(), "127.0.0.1:4433".parse().unwrap(), vn);
    assert_eq!(conn.error(), None);
}
