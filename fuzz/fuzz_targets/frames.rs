//! Frame decoding (RFC 9000 §19, RFC 9221 §4) on an arbitrary decrypted
//! payload: no panic, and every frame decoded re-encodes to bytes that
//! decode to the same frame, with `encoded_len` equal to what `encode`
//! writes.
#![no_main]

use actix_quic::protocol::frame::{Frame, Frames, PacketSpaceKind};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut errors = 0;
    for item in Frames::new(Bytes::copy_from_slice(data)) {
        let frame = match item {
            Ok(f) => f,
            Err(_) => {
                errors += 1;
                continue;
            }
        };
        let mut buf = Vec::new();
        frame.encode(&mut buf);
        assert_eq!(buf.len(), frame.encoded_len(), "{frame:?}");
        let again: Vec<_> = Frames::new(Bytes::from(buf.clone())).collect();
        assert_eq!(again, vec![Ok(frame.clone())], "{frame:?} as {buf:02x?}");
        let _ = frame.ty();
        let _ = frame.is_ack_eliciting();
        for kind in [
            PacketSpaceKind::Initial,
            PacketSpaceKind::Handshake,
            PacketSpaceKind::ZeroRtt,
            PacketSpaceKind::OneRtt,
        ] {
            let _ = frame.allowed_in(kind);
        }
        if let Frame::Ack(ack) = &frame {
            // Decoded ranges are descending, disjoint and start at largest.
            assert_eq!(ack.ranges.first().map(|r| *r.end()), Some(ack.largest));
            for w in ack.ranges.windows(2) {
                assert!(*w[1].end() + 1 < *w[0].start(), "{ack:?}");
            }
        }
    }
    // The iterator stops after its first error.
    assert!(errors <= 1);
});
