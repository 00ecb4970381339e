//! Packet header parsing (RFC 9000 §17) and packet number recovery
//! (RFC 9000 §17.1, Appendix A.3) on arbitrary bytes.
//!
//! Input: byte 0 picks the short-header DCID length (0..=20); the rest is
//! a datagram, parsed packet by packet as a receiver would walk coalesced
//! packets. The first 17 bytes also drive a packet-number round trip.
#![no_main]

use actix_quic::protocol::packet::{
    decode_pn, invariant_long_cids, pn_len, HeaderKind, PartialHeader,
};
use libfuzzer_sys::fuzz_target;

const PN_SPACE: u64 = 1 << 62;

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn packet_numbers(data: &[u8]) {
    // Largest received, within the packet number space.
    let largest = u64_at(data, 0) % PN_SPACE;
    let sel = data.get(16).copied().unwrap_or(0);
    let largest = if sel & 0x80 != 0 { None } else { Some(largest) };
    let nbits = 8 * (u32::from(sel & 0x03) + 1);
    let win = 1u64 << nbits;
    let mask = win - 1;
    let truncated = u64_at(data, 8) & mask;

    // Any truncated value decodes to a number with the same low bits.
    let pn = decode_pn(largest, truncated, nbits);
    assert_eq!(pn & mask, truncated, "{largest:?} {truncated:#x} {nbits}");

    // RFC 9000 A.3: a packet number within half a window of the expected
    // one is recovered exactly.
    let expected = largest.map_or(0, |l| l + 1);
    let hwin = win / 2;
    let delta = u64_at(data, 8) >> nbits; // independent of `truncated`
    let offset = delta % win; // 0..win, mapped onto (expected - hwin, expected + hwin]
    if let Some(actual) = (expected + offset + 1).checked_sub(hwin) {
        if actual < PN_SPACE {
            assert_eq!(
                decode_pn(largest, actual & mask, nbits),
                actual,
                "largest {largest:?} actual {actual:#x} nbits {nbits}"
            );
        }
    }

    // RFC 9000 A.2 then A.3: what the sender truncates to with its largest
    // acknowledged, the receiver (having received that much) recovers.
    if let Some(la) = largest {
        let ahead = 1 + (u64_at(data, 8) % (1 << 31));
        let sent = la + ahead;
        if sent < PN_SPACE {
            let len = pn_len(sent, Some(la));
            assert!((1..=4).contains(&len));
            let bits = 8 * len as u32;
            let t = sent & ((1u64 << bits) - 1);
            assert_eq!(
                decode_pn(Some(la), t, bits),
                sent,
                "la {la:#x} sent {sent:#x}"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, datagram)) = data.split_first() else {
        return;
    };
    let short_dcid_len = usize::from(first) % 21;
    let mut at = 0;
    while at < datagram.len() {
        let buf = &datagram[at..];
        let Ok(h) = PartialHeader::parse(buf, short_dcid_len) else {
            break;
        };
        assert!(h.len <= buf.len(), "{h:?}");
        assert!(
            h.token.start <= h.token.end && h.token.end <= h.len,
            "{h:?}"
        );
        assert!(h.dcid.len() <= 20);
        match &h.kind {
            HeaderKind::Short => {
                assert_eq!(h.dcid.len(), short_dcid_len);
                assert_eq!(h.pn_offset, 1 + short_dcid_len);
                assert_eq!(h.len, buf.len());
            }
            HeaderKind::Long { .. } => {
                assert!(h.pn_offset <= h.len, "{h:?}");
                let cids =
                    invariant_long_cids(buf).expect("a parsed long header has invariant CIDs");
                assert_eq!(cids.0, &h.dcid[..]);
            }
            HeaderKind::VersionNegotiation { versions, .. } => {
                assert!(versions.len() * 4 <= buf.len());
            }
            HeaderKind::UnsupportedVersion { .. } => {}
        }
        let _ = h.is_protected();
        // The receiver's walk over coalesced packets (RFC 9000 §12.2).
        at += h.len.max(1);
    }
    let _ = invariant_long_cids(datagram);
    packet_numbers(data);
});
