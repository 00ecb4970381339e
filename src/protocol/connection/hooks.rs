//! Hooks for tests that need to go where no well-behaved peer goes:
//! sending hand-crafted frames inside validly protected packets, and
//! forcing a key update. Hidden from the documentation; not part of the
//! stable API.

use super::spaces::SpaceId;
use super::Connection;
use crate::protocol::crypto::{self, TAG_LEN};
use crate::protocol::packet::{self, LongType, MIN_INITIAL_SIZE};
use crate::protocol::varint;

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
        let sp = &mut self.spaces[space as usize];
        let pn = sp.take_pn();
        let pn_len = packet::pn_len(pn, sp.largest_acked);
        let (pn_offset, len_at) = if space == SpaceId::Data {
            let phase = self.one_rtt.as_ref().is_some_and(|k| k.phase);
            packet::write_short_header(&mut buf, &self.dcid, phase, pn, pn_len);
            (1 + self.dcid.len(), None)
        } else {
            let ty = if space == SpaceId::Initial {
                LongType::Initial
            } else {
                LongType::Handshake
            };
            let at = packet::write_long_header(
                &mut buf,
                ty,
                &self.dcid,
                &self.initial_scid,
                &[],
                pn,
                pn_len,
            );
            (at + 2, Some(at))
        };
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
        if let Some(at) = len_at {
            let len = buf.len() - (at + 2) + TAG_LEN;
            if len >= 1 << 14 {
                return None;
            }
            varint::write_with_len(&mut buf[at..], len as u64, 2);
        }
        let (key, hp): (
            &dyn rustls::quic::PacketKey,
            &dyn rustls::quic::HeaderProtectionKey,
        ) = if space == SpaceId::Data {
            let k = self.one_rtt.as_ref()?;
            (k.current.local.as_ref(), k.local_hp.as_ref())
        } else {
            let k = self.spaces[space as usize].keys.as_ref()?;
            (k.local.packet.as_ref(), k.local.header.as_ref())
        };
        crypto::seal(&mut buf, 0, pn_offset, pn_len, pn, key, hp);
        Some(buf)
    }
}
