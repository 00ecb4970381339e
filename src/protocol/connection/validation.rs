//! Address validation and stateless resets on the connection's side
//! (RFC 9000 §8.1, §10.3): the client following a Retry, tokens from
//! NEW_TOKEN frames kept for later connections, the server issuing them,
//! and telling the endpoint which stateless reset token ends this
//! connection.

use super::spaces::SpaceId;
use super::{ConnectError, Connection, EndpointEvent, State};
use crate::protocol::cid::ConnectionId;
use crate::protocol::config::TransportConfig;
use crate::protocol::crypto::{self, TAG_LEN};
use crate::protocol::packet::{HeaderKind, PartialHeader};
use crate::protocol::token::{TokenKey, TokenStore};
use crate::protocol::Side;
use bytes::Bytes;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What the endpoint learned from a client Initial's token before
/// accepting it (RFC 9000 §8.1).
#[derive(Debug, Clone, Default)]
pub(crate) struct ServerValidation {
    /// Set when the Initial carried a valid Retry token: the DCID of the
    /// client's first Initial, before our Retry (RFC 9000 §7.3). The
    /// accepted Initial's DCID is then the Retry's SCID.
    pub retry_orig_dcid: Option<ConnectionId>,
    /// A Retry or NEW_TOKEN token proved the client's address: no
    /// anti-amplification limit applies (RFC 9000 §8.1).
    pub address_validated: bool,
    /// Issue a NEW_TOKEN token sealed with this key once the handshake
    /// completes (RFC 9000 §8.1.3).
    pub new_token_key: Option<Arc<TokenKey>>,
    /// The QUIC version to answer in (v1 when unset).
    pub version: Option<u32>,
    /// The version of the client's Initial, when we answer in another
    /// (compatible version negotiation, RFC 9368 §2.3).
    pub original_version: Option<u32>,
    /// Follow the client when it moves to a new address (RFC 9000 §9);
    /// when false, the transport parameters say disable_active_migration
    /// and packets from other addresses are dropped.
    pub migration: bool,
}

impl Connection {
    /// Accepts a client's first Initial, after the endpoint validated its
    /// token (`validation`): `client_dcid` and `client_scid` come from its
    /// header; `scid` is the CID we choose.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn server_validated(
        config: Arc<TransportConfig>,
        tls_config: Arc<rustls::ServerConfig>,
        now: Instant,
        remote: SocketAddr,
        scid: ConnectionId,
        client_dcid: ConnectionId,
        client_scid: ConnectionId,
        ids: Arc<crate::protocol::CidIssuer>,
        validation: ServerValidation,
        rng: rand::rngs::StdRng,
    ) -> Result<Self, ConnectError> {
        let token = ids.reset_token(&scid);
        // RFC 9000 §7.3: after a Retry, original_destination_connection_id
        // is the DCID of the client's first Initial and
        // retry_source_connection_id the Retry's SCID, which the client
        // now uses as its DCID.
        let orig_dcid = validation.retry_orig_dcid.unwrap_or(client_dcid);
        let version = validation
            .version
            .unwrap_or(crate::protocol::packet::VERSION_1);
        let mut params = Self::local_params(
            version,
            &crate::protocol::packet::SUPPORTED_VERSIONS,
            &config,
            &scid,
            Some(&orig_dcid),
            Some(token),
        );
        let retry_scid = validation.retry_orig_dcid.map(|_| client_dcid);
        params.retry_source_connection_id = retry_scid;
        params.disable_active_migration = !validation.migration;
        let mut encoded = Vec::new();
        params.encode(&mut encoded);
        let initial_suite = crypto::initial_suite(tls_config.crypto_provider());
        let tls = rustls::quic::ServerConnection::new(
            tls_config,
            crate::protocol::packet::rustls_version(version),
            encoded,
        )
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
        let mut conn = Self::new(
            version,
            Side::Server,
            config,
            tls.into(),
            now,
            remote,
            scid,
            client_scid,
            orig_dcid,
            ids,
            rng,
            initial_suite,
        );
        conn.qlog.parameters_set(now, true, &params);
        if let Some(rscid) = retry_scid {
            // RFC 9001 §5.2: Initial keys come from the DCID the client's
            // Initials carry now.
            conn.spaces[SpaceId::Initial as usize].keys = Some(
                crypto::initial_keys_for(&initial_suite, version, &rscid, Side::Server).into(),
            );
            conn.retry_scid = Some(rscid);
        }
        conn.path.validated = validation.address_validated;
        conn.token_key = validation.new_token_key;
        conn.allow_migration = validation.migration;
        if let Some(original) = validation.original_version {
            conn.keep_original_version(original);
        }
        Ok(conn)
    }

    /// Client: takes a NEW_TOKEN token for `server_name` from `store` for
    /// our Initials, and keeps NEW_TOKEN tokens this server sends there.
    /// Call before the first `poll_transmit`.
    pub(crate) fn use_token_store(&mut self, store: Arc<TokenStore>, server_name: &str) {
        if !self.side.is_client() {
            return;
        }
        if let (Some(t), Some(h)) = (store.take(server_name), self.handshaking.as_deref_mut()) {
            h.initial_token = t;
        }
        self.token_store = Some((store, server_name.to_string()));
    }

    /// True once this client followed a Retry, or this server accepted a
    /// connection through one.
    pub fn retried(&self) -> bool {
        self.retry_scid.is_some()
    }

    /// Client: handles a Retry packet (RFC 9000 §17.2.5.2, RFC 9001 §5.8,
    /// RFC 9002 §6.3). Anything wrong with it means it is discarded.
    pub(super) fn on_retry(&mut self, header: &PartialHeader, packet: &[u8]) {
        let HeaderKind::Long { scid, .. } = header.kind else {
            return;
        };
        // RFC 9000 §17.2.5.2: at most one Retry, and none after any
        // Initial from the server was processed.
        if !self.side.is_client()
            || self.state != State::Handshake
            || self.handshaking.is_none()
            || self.retry_scid.is_some()
            || self.any_packet_processed
            || header.dcid != self.initial_scid
        {
            return;
        }
        // RFC 9000 §17.2.5.1: the SCID must differ from our DCID.
        if scid == self.cids.dcid() {
            return;
        }
        // RFC 9001 §5.8: the integrity tag covers our original DCID.
        if !crypto::retry_integrity_ok(&self.orig_dcid, packet) {
            tracing::debug!("Retry with a bad integrity tag discarded");
            return;
        }
        // RFC 9000 §17.2.5.2: an empty token is discarded.
        let token_end = packet.len() - TAG_LEN;
        if header.token.start >= token_end {
            return;
        }
        let token = Bytes::copy_from_slice(&packet[header.token.start..token_end]);
        tracing::debug!(side = ?self.side, scid = %scid, "following Retry");
        // RFC 9000 §17.2.5.2, §7.2: the Retry's SCID becomes our DCID and
        // the Initial keys follow it (RFC 9001 §5.2); the token goes into
        // every later Initial, replacing any NEW_TOKEN token (§8.1.3).
        self.retry_scid = Some(scid);
        self.cids.adopt_server_cid(scid);
        let Some(h) = self.handshaking.as_deref_mut() else {
            return;
        };
        h.initial_token = token;
        let suite = h.initial_suite;
        // RFC 9002 §6.3: reset recovery for the Initial space; the CRYPTO
        // data goes again from offset 0, with new packet numbers (RFC 9000
        // §17.2.5.3: numbers are never reused).
        let sp = &mut self.spaces[SpaceId::Initial as usize];
        sp.keys = Some(crypto::initial_keys_for(&suite, self.version, &scid, Side::Client).into());
        sp.probes = 0;
        sp.crypto_sent = 0;
        sp.crypto_retransmit = Default::default();
        let in_flight = self.recovery.discard(SpaceId::Initial);
        self.path.cc.on_removed(in_flight);
        // RFC 9000 §6.2: a Version Negotiation after this is discarded.
        self.any_packet_processed = true;
    }

    /// Client: a NEW_TOKEN frame (RFC 9000 §19.7) for a later connection.
    pub(super) fn on_new_token(&mut self, token: Bytes) {
        if let Some((store, name)) = &self.token_store {
            store.insert(name, token);
        }
    }

    /// Server: queues a NEW_TOKEN frame once the handshake completed
    /// (RFC 9000 §8.1.3), bound to the client's address.
    pub(super) fn queue_new_token(&mut self, now: Instant) {
        if let Some(key) = &self.token_key {
            let remote = self.path.remote;
            let token = self.rng.with(|rng| key.seal_validation(rng, now, remote));
            self.pending.new_token = Some(Bytes::from(token));
        }
    }

    /// Tells the endpoint the peer's stateless reset token for the CID we
    /// send to, so a reset (which carries a random DCID) still reaches us
    /// (RFC 9000 §10.3.1).
    pub(super) fn announce_reset_token(&mut self) {
        if let Some(t) = self.cids.reset_token_to_announce() {
            self.endpoint_events
                .push_back(EndpointEvent::ResetToken(self.path.remote, t));
        }
    }
}
