//! Hooks for tests that need to go where no well-behaved peer goes:
//! sending hand-crafted frames inside validly protected packets, lowering
//! the AEAD limits, skipping packet numbers, and a client ready for a
//! compatible version upgrade. Compiled only with the `test-hooks`
//! feature; not part of the stable API.

use super::spaces::SpaceId;
use super::{ConnectError, Connection};
use crate::protocol::crypto::{self, TAG_LEN};
use crate::protocol::error::{TransportError, TransportErrorCode};
use crate::protocol::packet::MIN_INITIAL_SIZE;
use crate::protocol::stream_id::StreamId;
use crate::protocol::Side;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What the hooks changed in a connection.
#[derive(Debug, Default)]
pub(super) struct Overrides {
    /// A lower integrity limit (RFC 9001 §6.6).
    pub(super) integrity_limit: Option<u64>,
    /// A lower confidentiality limit (RFC 9001 §6.6).
    pub(super) confidentiality_limit: Option<u64>,
    /// Client: the version to follow when the server answers in it.
    pub(super) upgrade_to: Option<u32>,
}

impl Connection {
    /// Streams with a sending part, and with a receiving part, that the
    /// connection still tracks.
    pub fn stream_tables_for_test(&self) -> (usize, usize) {
        self.streams.table_sizes()
    }

    /// **Test hook.** Protects `payload` (raw frame bytes, not checked) as
    /// one packet of `space` with this connection's current keys and next
    /// packet number, and returns it as a datagram for the peer. The
    /// packet is not tracked for loss recovery. PADDING is appended where
    /// header protection needs a longer payload, and to 1200 bytes for a
    /// client Initial. `None` without keys for `space`.
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
    pub fn set_integrity_limit_for_test(&mut self, limit: u64) {
        self.hooks.integrity_limit = Some(limit);
    }

    /// **Test hook.** Moves the next packet number of `space` up to `pn`
    /// (RFC 9000 §12.3 lets a sender skip packet numbers).
    pub fn skip_packet_numbers_for_test(&mut self, space: SpaceId, pn: u64) {
        let sp = &mut self.spaces[space as usize];
        sp.next_pn = sp.next_pn.max(pn);
    }

    /// **Test hook.** Lowers the number of packets the current 1-RTT keys
    /// may protect (RFC 9001 §6.6; 2^23 for AES-GCM) so that automatic
    /// key updates happen within a test.
    pub fn set_confidentiality_limit_for_test(&mut self, limit: u64) {
        self.hooks.confidentiality_limit = Some(limit);
    }

    /// **Test hook.** The current 1-RTT key phase bit (RFC 9001 §6).
    pub fn key_phase(&self) -> bool {
        self.one_rtt.as_ref().is_some_and(|k| k.phase)
    }

    /// **Test hook** for servers' compatible version negotiation (RFC 9368
    /// §2.3): a client that starts in `version` and, with `upgrade`, lists
    /// that version too and follows a server answering in it. Its TLS
    /// connection is made for `upgrade` (rustls cannot change versions
    /// later), so it cannot finish with a server that stays in `version`.
    pub fn client_with_upgrade(
        version: u32,
        upgrade: Option<u32>,
        config: &crate::protocol::ClientConfig,
        server_name: &str,
        now: Instant,
        remote: SocketAddr,
        rng: rand::rngs::StdRng,
    ) -> Result<Self, ConnectError> {
        let ids = Arc::new(crate::protocol::CidIssuer::random_with_key(&[1; 32]));
        let mut conn = Self::new_client(
            version,
            upgrade.unwrap_or(version),
            config.transport.clone(),
            config.crypto.clone(),
            server_name,
            now,
            remote,
            ids,
            rng,
        )?;
        conn.hooks.upgrade_to = upgrade.filter(|&u| u != version);
        Ok(conn)
    }

    /// A client made by [`Self::client_with_upgrade`] follows the server's
    /// first Initial in the version it upgraded to: true when `version` is
    /// that one.
    pub(super) fn follow_upgrade(&mut self, version: u32) -> bool {
        if !self.side.is_client()
            || self.hooks.upgrade_to != Some(version)
            || self.any_packet_processed
        {
            return false;
        }
        let Some(h) = self.handshaking() else {
            return false;
        };
        let keys =
            crypto::initial_keys_for(&h.initial_suite, version, &self.orig_dcid, Side::Client);
        tracing::debug!(version, "server upgraded the version");
        self.version = version;
        self.hooks.upgrade_to = None;
        self.spaces[SpaceId::Initial as usize].keys = Some(keys.into());
        true
    }

    /// **Test hook.** The token our Initial packets carry (empty for none).
    pub fn initial_token(&self) -> &[u8] {
        self.handshaking().map_or(&[][..], |h| &h.initial_token[..])
    }

    /// **Test hook.** Bytes that `write` would take on `id` right now.
    pub fn write_credit(&self, id: StreamId) -> u64 {
        self.streams.write_credit(id)
    }

    /// **Test hook.** Closes with a transport error of our own, as a
    /// protocol violation detected here would.
    pub fn close_with_transport_error(
        &mut self,
        now: Instant,
        code: TransportErrorCode,
        reason: &str,
    ) {
        self.transport_error(now, TransportError::new(code, reason));
    }
}
