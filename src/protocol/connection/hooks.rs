//! Hooks for tests that need to go where no well-behaved peer goes:
//! sending hand-crafted frames inside validly protected packets, and
//! forcing a key update. Hidden from the documentation; not part of the
//! stable API.

use super::spaces::SpaceId;
use super::Connection;
use crate::protocol::crypto::TAG_LEN;
use crate::protocol::packet::MIN_INITIAL_SIZE;

impl Connection {
    /// **Test hook.** Protects `payload` (raw frame bytes, not checked) as
    /// one packet of `space` with this connection's current keys and next
    /// packet number, and returns it as a datagram for the peer. The
    /// packet is not tracked for loss recovery. PADDING is appended where
    /// header protection needs a longer payload, and to 1200 bytes for a
    /// client Initial. `None` without keys for `space`.
    #[doc(hidden)]
    pub fn seal_raw_packet_for_test(&mut self, space: SpaceId, payload: &[u8]) -> Option<Vec<u8>> {
        let has_keys = match space {
            SpaceId::Data => self.one_rtt.is_some(),
            s => self.spaces[s as usize].keys.is_some(),
        };
        if !has_keys {
            return None;
        }
        let mut buf = Vec::new();
        let header = self.write_header(space, &mut buf);
        let pn_len = header.pn_len;
        let payload_start = buf.len();
        buf.extend_from_slice(payload);
        // RFC 9001 §5.4.2: room for the header protection sample.
        let mut target = payload_start + 4usize.saturating_sub(pn_len);
        if space == SpaceId::Initial && self.side.is_client() {
            // RFC 9000 §14.1.
            target = target.max(MIN_INITIAL_SIZE - TAG_LEN);
        }
        if buf.len() < target {
            buf.resize(target, 0);
        }
        if header.len_at.is_some() && buf.len() + TAG_LEN >= (1 << 14) {
            return None;
        }
        self.seal_packet(space, &mut buf, &header);
        Some(buf)
    }

    /// **Test hook.** Like [`seal_raw_packet_for_test`], with packet
    /// number `pn` instead of the next one; the next packet number is left
    /// as it was. With the current key phase kept, lets a test send a
    /// packet of an old phase numbered above packets of a newer one (RFC
    /// 9001 §6.4).
    ///
    /// [`seal_raw_packet_for_test`]: Self::seal_raw_packet_for_test
    #[doc(hidden)]
    pub fn seal_raw_packet_at_pn_for_test(
        &mut self,
        space: SpaceId,
        pn: u64,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let next = std::mem::replace(&mut self.spaces[space as usize].next_pn, pn);
        let sealed = self.seal_raw_packet_for_test(space, payload);
        self.spaces[space as usize].next_pn = next;
        sealed
    }

    /// **Test hook.** Lowers the number of packets failing authentication
    /// that this connection tolerates (RFC 9001 §6.6) below the AEAD's
    /// own limit (2^52 for AES-GCM, out of a test's reach).
    #[doc(hidden)]
    pub fn set_integrity_limit_for_test(&mut self, limit: u64) {
        self.integrity_limit_override = Some(limit);
    }

    /// **Test hook.** Moves the next packet number of `space` up to `pn`
    /// (RFC 9000 §12.3 lets a sender skip packet numbers).
    #[doc(hidden)]
    pub fn skip_packet_numbers_for_test(&mut self, space: SpaceId, pn: u64) {
        let sp = &mut self.spaces[space as usize];
        sp.next_pn = sp.next_pn.max(pn);
    }

    /// **Test hook.** Lowers the number of packets the current 1-RTT keys
    /// may protect (RFC 9001 §6.6; 2^23 for AES-GCM) so that automatic
    /// key updates happen within a test.
    #[doc(hidden)]
    pub fn set_confidentiality_limit_for_test(&mut self, limit: u64) {
        self.confidentiality_limit_override = Some(limit);
    }
}
