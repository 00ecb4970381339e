//! Explicit limits on what a peer can make us track.

use actix_quic::protocol::assembler::Assembler;
use actix_quic::protocol::connection::spaces::{PacketSpace, MAX_ACK_RANGES};
use bytes::Bytes;
use std::time::Instant;

#[test]
fn ack_ranges_tracked_are_bounded() {
    let mut sp = PacketSpace::default();
    let now = Instant::now();
    // Every other packet number: one range each.
    for pn in (0..10_000u64).step_by(2) {
        assert!(sp.on_packet_received(pn, now));
    }
    let ranges = sp.ack_ranges();
    assert_eq!(ranges.len(), MAX_ACK_RANGES);
    // The newest ranges are the ones kept.
    assert_eq!(ranges[0], 9998..=9998);
    // Duplicates are recognised.
    assert!(!sp.on_packet_received(9998, now));
}

#[test]
fn gapped_fragments_survive_compaction_exactly() {
    // 1-byte fragments with gaps, each sliced from its own 1200-byte
    // datagram: compaction copies them out and must keep every byte.
    let mut a = Assembler::default();
    for i in 0..2000u64 {
        let datagram = Bytes::from(vec![7u8; 1200]);
        a.insert(1 + 2 * i, datagram.slice(600..601));
    }
    assert_eq!(a.buffered(), 2000);
    assert_eq!(a.chunk_count(), 2000);
}
