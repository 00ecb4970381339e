//! The receive path: splitting coalesced packets, removing protection,
//! and handling every frame (RFC 9000 §12, §19; RFC 9001 §5, §6).

use super::close::{ApplicationClose, ConnectionClose, ConnectionError};
use super::spaces::SpaceId;
use super::{Connection, EndpointEvent, Event, HandshakeData, State};
use crate::protocol::cid::ConnectionId;
use crate::protocol::crypto;
use crate::protocol::ecn::EcnCodepoint;
use crate::protocol::error::{TransportError, TransportErrorCode};
use crate::protocol::frame::{Frame, Frames, PacketSpaceKind};
use crate::protocol::packet::{HeaderKind, LongType, PartialHeader};
use crate::protocol::transport_params::TransportParameters;
use crate::protocol::varint::VarInt;
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::time::Instant;

/// Most CRYPTO chunks held beyond gaps in one packet number space.
const MAX_CRYPTO_FRAGMENTS: usize = 256;

/// Why a packet's payload could not be opened.
enum OpenFailure {
    /// No keys for its space (yet, or any more).
    NoKeys,
    /// The AEAD rejected it.
    Authentication,
    /// It used the previous key phase after the current one was used for
    /// a lower packet number (RFC 9001 §6.4).
    OldKeys,
}

/// Most 1-RTT packets a server keeps while its handshake completes.
const MAX_EARLY_1RTT: usize = 32;

impl Connection {
    /// Handles one UDP datagram from `remote` (possibly several coalesced
    /// packets, RFC 9000 §12.2).
    pub fn handle_datagram(&mut self, now: Instant, remote: SocketAddr, data: BytesMut) {
        self.handle_datagram_to(now, remote, None, None, data);
    }

    /// As [`handle_datagram`](Self::handle_datagram), with the local IP
    /// address the datagram was sent to (from IP_PKTINFO or the like):
    /// a server answers from the address its client reached; and the
    /// ECN codepoint of its IP header, which ACK frames report (RFC 9000
    /// §13.4.1).
    pub fn handle_datagram_to(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<std::net::IpAddr>,
        ecn: Option<EcnCodepoint>,
        mut data: BytesMut,
    ) {
        if self.state == State::Drained || !self.accept_from(remote) {
            return;
        }
        let datagram_len = data.len();
        self.stats.udp_rx_datagrams += 1;
        self.stats.udp_rx_bytes += data.len() as u64;
        self.path.on_datagram_received(data.len());
        let mut first = true;
        while !data.is_empty() {
            let header = match PartialHeader::parse(&data, self.cids.local_cid_len()) {
                Ok(h) => h,
                Err(_) => return,
            };
            // RFC 9000 §12.2: coalesced packets must share the DCID.
            if !first && header.dcid != self.current_local_dcid(&header) {
                return;
            }
            first = false;
            // The last packet takes the datagram's buffer as it is
            // (splitting it would make it shared, an allocation).
            let packet = if header.len >= data.len() {
                std::mem::take(&mut data)
            } else {
                data.split_to(header.len)
            };
            // RFC 9001 §5.7: a server must not process 1-RTT packets before
            // its handshake is complete. Rather than drop them (and lose the
            // client's first request when its Finished is lost), keep a few
            // and process them once the handshake completes.
            if header.kind == HeaderKind::Short
                && !self.side.is_client()
                && !self.handshake_complete
            {
                if let Some(h) = self.handshaking.as_deref_mut() {
                    if h.early_1rtt.len() < MAX_EARLY_1RTT {
                        h.early_1rtt.push((packet, ecn));
                    }
                }
                continue;
            }
            let authenticated = self.stats.packets_received;
            if let Some((pn, non_probing)) = self.handle_packet(now, header, ecn, packet) {
                self.on_packet_from(now, remote, pn, non_probing, datagram_len);
            }
            // A server answers from the address an authenticated packet
            // on the current path reached.
            if self.stats.packets_received > authenticated
                && !self.side.is_client()
                && local_ip.is_some()
                && remote == self.path.remote
            {
                self.path.local_ip = local_ip;
            }
            if self.state == State::Drained {
                return;
            }
        }
        let early = match self.handshaking.as_deref_mut() {
            Some(h) if self.handshake_complete => std::mem::take(&mut h.early_1rtt),
            _ => Vec::new(),
        };
        if self.handshaking.is_some()
            && self.handshake_confirmed
            && self.spaces[SpaceId::Initial as usize].discarded
            && self.spaces[SpaceId::Handshake as usize].discarded
        {
            // Its buffered packets taken, what only the handshake used
            // goes.
            self.handshaking = None;
        }
        if !early.is_empty() {
            for (packet, ecn) in early {
                if let Ok(header) = PartialHeader::parse(&packet, self.cids.local_cid_len()) {
                    let _ = self.handle_packet(now, header, ecn, packet);
                }
                if self.is_closed() {
                    return;
                }
            }
        }
    }

    fn current_local_dcid(&self, h: &PartialHeader) -> ConnectionId {
        // Any CID we issued (or the client's original DCID, or the Retry
        // SCID it switched to) is ours.
        if self.cids.is_local(&h.dcid)
            || h.dcid == self.orig_dcid
            || (!self.side.is_client() && Some(h.dcid) == self.retry_scid)
        {
            h.dcid
        } else {
            self.initial_scid
        }
    }

    /// Processes one packet; for a 1-RTT packet fully processed, returns
    /// its number and whether it was non-probing (RFC 9000 §9.1).
    fn handle_packet(
        &mut self,
        now: Instant,
        header: PartialHeader,
        ecn: Option<EcnCodepoint>,
        mut packet: BytesMut,
    ) -> Option<(u64, bool)> {
        let space = match &header.kind {
            HeaderKind::VersionNegotiation { versions, .. } => {
                // RFC 9000 §6.2: only before any other packet was processed,
                // and ignored when it lists our version.
                if self.side.is_client()
                    && !self.any_packet_processed
                    && self.state == State::Handshake
                    && !versions.contains(&self.version)
                {
                    self.drain_now(ConnectionError::VersionMismatch);
                }
                return None;
            }
            HeaderKind::UnsupportedVersion { .. } => return None,
            // RFC 9369 §4: a connection keeps the version it started with.
            HeaderKind::Long { version, .. } if !self.accept_version(*version) => return None,
            HeaderKind::Short => SpaceId::Data,
            HeaderKind::Long { ty, .. } => match ty {
                LongType::Initial => SpaceId::Initial,
                LongType::Handshake => SpaceId::Handshake,
                // RFC 9000 §17.2.3: only clients send 0-RTT.
                LongType::ZeroRtt if self.side.is_client() => return None,
                LongType::ZeroRtt => SpaceId::Data,
                LongType::Retry => {
                    self.on_retry(&header, &packet);
                    return None;
                }
            },
        };
        if self.is_closed() {
            if self.state == State::Closing {
                self.on_packet_while_closing();
            }
            return None;
        }
        if space == SpaceId::Initial && self.side.is_client() {
            if let HeaderKind::Long { .. } = header.kind {
                // RFC 9000 §17.2.2: a server Initial carries no token.
                if !header.token.is_empty() {
                    return None;
                }
            }
        }
        let Some((pn, payload)) = self.unprotect(now, space, &header, &mut packet) else {
            // A short packet that fails to decrypt may be a stateless reset
            // (RFC 9000 §10.3.1).
            if space == SpaceId::Data && self.is_stateless_reset(&packet) {
                self.drain_now(ConnectionError::Reset);
            }
            // A client without Handshake keys receiving Handshake packets
            // missed the server's Initial (RFC 9002 §6.2.3).
            if space == SpaceId::Handshake
                && self.side.is_client()
                && self.spaces[space as usize].keys.is_none()
                && !self.spaces[space as usize].discarded
            {
                self.speed_up_handshake();
            }
            return None;
        };
        // RFC 9000 §17.2.2: the first packet a client sends carries
        // CRYPTO; a server checks the first it processes.
        let first_initial =
            !self.side.is_client() && space == SpaceId::Initial && !self.any_packet_processed;
        self.any_packet_processed = true;
        self.stats.packets_received += 1;
        // Client: adopt the server's CID from its first Initial (RFC 9000 §7.2).
        if let HeaderKind::Long { scid, .. } = &header.kind {
            if self.side.is_client() && !self.got_server_scid {
                self.got_server_scid = true;
                self.cids.adopt_server_cid(*scid);
            }
        }
        // Server: a Handshake packet proves the client's address and ends
        // the Initial space (RFC 9001 §4.9.1, RFC 9000 §8.1).
        if space == SpaceId::Handshake && !self.side.is_client() {
            self.path.validated = true;
            self.discard_space(SpaceId::Initial);
        }
        if !self.spaces[space as usize].acks.on_packet_received(pn, now) {
            return None;
        }
        self.spaces[space as usize].acks.on_ecn(ecn);
        match ecn {
            Some(EcnCodepoint::Ect0) => self.stats.ecn.received_ect0 += 1,
            Some(EcnCodepoint::Ect1) => self.stats.ecn.received_ect1 += 1,
            Some(EcnCodepoint::Ce) => self.stats.ecn.received_ce += 1,
            None => {}
        }
        self.reset_idle(now);
        self.keep_alive_from = Some(now);
        self.sent_eliciting_since_recv = false;
        let kind = if is_0rtt(&header) {
            PacketSpaceKind::ZeroRtt
        } else {
            space.kind()
        };
        let mut ack_eliciting = false;
        let mut non_probing = false;
        let mut crypto = false;
        let mut frames = 0u64;
        if self.qlog.enabled() {
            let zero_rtt = kind == PacketSpaceKind::ZeroRtt;
            self.qlog
                .packet_received(now, space, zero_rtt, pn, header.len, &payload);
        }
        for frame in Frames::new(payload) {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.transport_error(now, e);
                    return None;
                }
            };
            frames += 1;
            self.stats.frame_rx.record(frame.ty());
            if !frame.allowed_in(kind) {
                self.transport_error(
                    now,
                    TransportError::protocol_violation("frame not allowed in this packet type")
                        .with_frame_type(frame.ty()),
                );
                return None;
            }
            ack_eliciting |= frame.is_ack_eliciting();
            crypto |= matches!(frame, Frame::Crypto { .. });
            non_probing |= !matches!(
                frame,
                Frame::Padding(_)
                    | Frame::PathChallenge(_)
                    | Frame::PathResponse(_)
                    | Frame::NewConnectionId { .. }
            );
            let ty = frame.ty();
            if let Err(e) = self.handle_frame(now, space, frame) {
                let e = if e.frame_type == 0 {
                    e.with_frame_type(ty)
                } else {
                    e
                };
                self.transport_error(now, e);
                return None;
            }
            if self.is_closed() {
                return None;
            }
        }
        self.stats.frames_received += frames;
        if frames == 0 {
            // RFC 9000 §12.4: a packet with no frames is a violation.
            self.transport_error(now, TransportError::protocol_violation("empty packet"));
            return None;
        }
        if first_initial && !crypto {
            self.transport_error(
                now,
                TransportError::protocol_violation("the client's first Initial carries no CRYPTO"),
            );
            return None;
        }
        if ack_eliciting {
            // RFC 9000 §13.2.1: a CE mark is acknowledged at once, so the
            // sender reacts to the congestion within a round trip.
            self.schedule_ack(now, space, pn, ecn == Some(EcnCodepoint::Ce));
        }
        (space == SpaceId::Data).then_some((pn, non_probing))
    }

    /// Decides when to acknowledge (RFC 9000 §13.2.1, §13.2.2): packets
    /// of the Initial and Handshake spaces at once.
    fn schedule_ack(&mut self, now: Instant, space: SpaceId, pn: u64, congested: bool) {
        if self.spaces[space as usize].discarded {
            // The packet's own frames completed the handshake: no ACK
            // goes in a discarded space.
            return;
        }
        let max_ack_delay = self.config.max_ack_delay;
        self.spaces[space as usize].acks.on_ack_eliciting(
            now,
            pn,
            space != SpaceId::Data || congested,
            max_ack_delay,
        );
    }

    /// Removes header and packet protection; returns the packet number and
    /// the plaintext payload.
    fn unprotect(
        &mut self,
        now: Instant,
        space: SpaceId,
        header: &PartialHeader,
        packet: &mut BytesMut,
    ) -> Option<(u64, Bytes)> {
        let largest = self.spaces[space as usize].acks.largest();
        let pn_offset = header.pn_offset;
        let (pn_len, pn) = {
            let hp: &dyn rustls::quic::HeaderProtectionKey = if is_0rtt(header) {
                self.zero_rtt_keys()?.header.as_ref()
            } else if space == SpaceId::Initial {
                self.initial_remote_keys(header)?.header.as_ref()
            } else if space == SpaceId::Data {
                self.one_rtt.as_ref()?.remote_hp.as_ref()
            } else {
                self.spaces[space as usize]
                    .keys
                    .as_ref()?
                    .remote
                    .header
                    .as_ref()
            };
            crypto::remove_header_protection(packet, pn_offset, largest, hp)?
        };
        let header_len = pn_offset + pn_len;
        let first = packet[0];
        let opened = if is_0rtt(header) || space == SpaceId::Initial {
            let keys = if space == SpaceId::Initial {
                self.initial_remote_keys(header)
            } else {
                self.zero_rtt_keys()
            };
            keys.ok_or(OpenFailure::NoKeys).and_then(|k| {
                crypto::open_payload(packet, header_len, pn, k.packet.as_ref())
                    .ok_or(OpenFailure::Authentication)
            })
        } else {
            self.open_packet(space, packet, header_len, pn, first)
        };
        let plain_len = match opened {
            Ok(n) => n,
            Err(OpenFailure::NoKeys) => return None,
            Err(OpenFailure::Authentication) => {
                // RFC 9001 §6.6: count packets that fail authentication;
                // past the AEAD's integrity limit the connection must end.
                self.auth_failures += 1;
                if self.auth_failures > self.integrity_limit(space) {
                    self.transport_error(
                        now,
                        TransportError::new(
                            TransportErrorCode::AEAD_LIMIT_REACHED,
                            "too many packets failed authentication",
                        ),
                    );
                }
                return None;
            }
            Err(OpenFailure::OldKeys) => {
                self.transport_error(
                    now,
                    TransportError::new(
                        TransportErrorCode::KEY_UPDATE_ERROR,
                        "old keys used after newer keys",
                    ),
                );
                return None;
            }
        };
        // RFC 9000 §17.2, §17.3.1: reserved bits must be zero after
        // protection is removed.
        let reserved = if space == SpaceId::Data && !is_0rtt(header) {
            0x18
        } else {
            0x0c
        };
        if first & reserved != 0 {
            self.transport_error(now, TransportError::protocol_violation("reserved bits set"));
            return None;
        }
        // Advancing past the header keeps the buffer unshared (splitting
        // it off would allocate).
        let mut payload = std::mem::take(packet);
        bytes::Buf::advance(&mut payload, header_len);
        payload.truncate(plain_len);
        Some((pn, payload.freeze()))
    }

    /// The integrity limit of the AEAD protecting `space` (RFC 9001 §6.6).
    fn integrity_limit(&self, space: SpaceId) -> u64 {
        let key: Option<&dyn rustls::quic::PacketKey> = if space == SpaceId::Data {
            self.one_rtt.as_ref().map(|k| k.current.remote.as_ref())
        } else {
            self.spaces[space as usize]
                .keys
                .as_ref()
                .map(|k| k.remote.packet.as_ref())
        };
        let limit = key.map_or(u64::MAX, |k| k.integrity_limit());
        #[cfg(feature = "test-hooks")]
        let limit = self.hooks.integrity_limit.map_or(limit, |o| o.min(limit));
        limit
    }

    /// Opens the payload of a packet whose header protection is removed,
    /// choosing the 1-RTT key phase (RFC 9001 §6).
    fn open_packet(
        &mut self,
        space: SpaceId,
        packet: &mut [u8],
        header_len: usize,
        pn: u64,
        first: u8,
    ) -> Result<usize, OpenFailure> {
        if space != SpaceId::Data {
            let keys = self.spaces[space as usize]
                .keys
                .as_ref()
                .ok_or(OpenFailure::NoKeys)?;
            return crypto::open_payload(packet, header_len, pn, keys.remote.packet.as_ref())
                .ok_or(OpenFailure::Authentication);
        }
        let keys = self.one_rtt.as_mut().ok_or(OpenFailure::NoKeys)?;
        let phase = first & 0x04 != 0;
        if phase == keys.phase {
            let n = crypto::open_payload(packet, header_len, pn, keys.current.remote.as_ref())
                .ok_or(OpenFailure::Authentication)?;
            keys.phase_first_pn = Some(keys.phase_first_pn.map_or(pn, |f| f.min(pn)));
            return Ok(n);
        }
        if keys.prev_remote.is_some() && keys.phase_first_pn.is_none_or(|f| pn < f) {
            // RFC 9001 §6.3, §6.5: a packet of the previous phase,
            // reordered, or sent before the peer saw the update we
            // initiated (no packet of the new phase has arrived yet).
            let prev = keys.prev_remote.as_deref().ok_or(OpenFailure::NoKeys)?;
            return crypto::open_payload(packet, header_len, pn, prev)
                .ok_or(OpenFailure::Authentication);
        }
        // RFC 9001 §6.2: the peer started a key update. Keep a copy: a
        // failed open leaves the buffer unspecified, and the old keys get
        // a second look below.
        let copy = keys.prev_remote.is_some().then(|| packet.to_vec());
        if let Some(n) = crypto::open_payload(packet, header_len, pn, keys.next_remote.as_ref()) {
            keys.rotate();
            keys.phase_first_pn = Some(pn);
            // RFC 9001 §6.2: we answer in the new phase from now on.
            self.on_new_key_phase(false);
            tracing::debug!(side = ?self.side, "peer initiated key update");
            return Ok(n);
        }
        // RFC 9001 §6.4: old keys on a packet numbered above one that
        // already used newer keys is a KEY_UPDATE_ERROR.
        if let (Some(mut copy), Some(prev)) = (copy, keys.prev_remote.as_deref()) {
            if crypto::open_payload(&mut copy, header_len, pn, prev).is_some() {
                return Err(OpenFailure::OldKeys);
            }
        }
        Err(OpenFailure::Authentication)
    }

    /// RFC 9000 §10.3.1: compares the end of the datagram, in constant
    /// time, with the reset token of the CID we send to; tokens of CIDs
    /// never used or retired are not checked.
    fn is_stateless_reset(&self, packet: &[u8]) -> bool {
        if packet.len() < crate::protocol::packet::MIN_STATELESS_RESET_LEN {
            return false;
        }
        self.cids.is_stateless_reset(&packet[packet.len() - 16..])
    }

    /// Handles one frame.
    fn handle_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        frame: Frame,
    ) -> Result<(), TransportError> {
        match frame {
            Frame::Padding(_) | Frame::Ping => {}
            Frame::Ack(ack) => self.on_ack_frame(now, space, &ack)?,
            Frame::Crypto { offset, data } => self.on_crypto(now, space, offset, data)?,
            Frame::Stream {
                id,
                offset,
                fin,
                data,
            } => self.streams.on_stream_frame(id, offset, data, fin)?,
            Frame::ResetStream {
                id,
                error_code,
                final_size,
            } => self.streams.on_reset(id, error_code, final_size)?,
            Frame::StopSending { id, error_code } => {
                self.streams.on_stop_sending(id, error_code)?
            }
            Frame::MaxData(max) => self.streams.on_max_data(max),
            Frame::MaxStreamData { id, max } => self.streams.on_max_stream_data(id, max)?,
            Frame::MaxStreams { dir, count } => self.streams.on_max_streams(dir, count),
            Frame::DataBlocked(_) | Frame::StreamsBlocked { .. } => {}
            Frame::StreamDataBlocked { id, .. } => self.streams.on_stream_data_blocked(id)?,
            Frame::NewToken { token } => {
                // RFC 9000 §19.7: clients never send NEW_TOKEN.
                if !self.side.is_client() {
                    return Err(TransportError::protocol_violation(
                        "NEW_TOKEN from a client",
                    ));
                }
                self.on_new_token(token);
            }
            Frame::NewConnectionId {
                seq,
                retire_prior_to,
                cid,
                reset_token,
            } => {
                let limit = self.config.active_connection_id_limit;
                self.cids
                    .on_new_cid(seq, retire_prior_to, cid, reset_token, limit)?;
                self.announce_reset_token();
            }
            Frame::RetireConnectionId { seq } => self.on_retire_cid(seq)?,
            Frame::PathChallenge(data) => {
                tracing::debug!(side = ?self.side, "PATH_CHALLENGE received");
                self.pending.on_path_challenge(data);
            }
            Frame::PathResponse(data) => {
                tracing::debug!(side = ?self.side, "PATH_RESPONSE received");
                self.on_path_response(data)
            }
            Frame::ConnectionClose {
                app,
                code,
                frame_type,
                reason,
            } => {
                let err = if app {
                    ConnectionError::ApplicationClosed(ApplicationClose {
                        error_code: VarInt::from_wire(code),
                        reason,
                    })
                } else {
                    ConnectionError::ConnectionClosed(ConnectionClose {
                        error_code: TransportErrorCode(code),
                        frame_type,
                        reason,
                    })
                };
                self.on_peer_close(now, err);
            }
            Frame::HandshakeDone => {
                if !self.side.is_client() {
                    return Err(TransportError::protocol_violation(
                        "HANDSHAKE_DONE from a client",
                    ));
                }
                if !self.handshake_confirmed {
                    self.handshake_confirmed = true;
                    self.start_mtu_discovery(now);
                    self.discard_space(SpaceId::Handshake);
                    self.retire_tls();
                }
            }
            Frame::Datagram { data } => {
                let Some(limit) = self.config.datagram_receive_buffer_size else {
                    return Err(TransportError::protocol_violation(
                        "DATAGRAM frames were not negotiated",
                    ));
                };
                // RFC 9221 §3: larger than the max_datagram_frame_size we
                // announced is a violation (counted leniently: type byte
                // and data, as a frame without a Length field).
                if 1 + data.len() > limit.min(super::MAX_DATAGRAM_FRAME_SIZE) {
                    return Err(TransportError::protocol_violation("DATAGRAM too large"));
                }
                // Unreliable: drop the oldest to stay within the buffer
                // (or this one, when it alone is larger).
                let (kept, dropped) = self
                    .datagrams
                    .get_or_insert_with(Box::default)
                    .receive(data, limit);
                self.stats.datagrams_dropped_rx += dropped;
                if kept {
                    self.events.push_back(Event::DatagramReceived);
                }
            }
        }
        Ok(())
    }

    fn on_crypto(
        &mut self,
        now: Instant,
        space: SpaceId,
        offset: u64,
        data: Bytes,
    ) -> Result<(), TransportError> {
        let limit = self.config.crypto_buffer_size;
        let sp = &mut self.spaces[space as usize];
        let end = offset + data.len() as u64;
        if space == SpaceId::Initial
            && !self.side.is_client()
            && !data.is_empty()
            && end <= sp.crypto_in.read_offset()
        {
            // The client sent its Initial CRYPTO again: it has not seen
            // ours (RFC 9002 §6.2.3).
            self.speed_up_handshake();
        }
        let sp = &mut self.spaces[space as usize];
        if end > sp.crypto_in.read_offset() + limit {
            return Err(TransportError::new(
                TransportErrorCode::CRYPTO_BUFFER_EXCEEDED,
                "too much out-of-order CRYPTO data",
            ));
        }
        sp.crypto_in.insert(offset, data);
        // RFC 9000 §21.7: a handshake needs a few CRYPTO frames, not
        // thousands of fragments (each costs tracking whatever its size).
        if sp.crypto_in.ahead_chunks() > MAX_CRYPTO_FRAGMENTS {
            return Err(TransportError::new(
                TransportErrorCode::CRYPTO_BUFFER_EXCEEDED,
                "CRYPTO data too fragmented",
            ));
        }
        while let Some(chunk) = self.spaces[space as usize].crypto_in.read(usize::MAX) {
            let read = self.tls.read_hs(space, &chunk);
            if let Err(e) = read {
                self.tls_error(now, e);
                return Ok(());
            }
        }
        self.after_tls(now)
    }

    /// Reacts to TLS progress: peer parameters, keys, handshake completion.
    fn after_tls(&mut self, now: Instant) -> Result<(), TransportError> {
        // A resuming client's TLS session reports the parameters stored with
        // the ticket until EncryptedExtensions replaces them: read the
        // peer's only once ALPN is known or the handshake finished.
        let raw = if self.params_from_handshake {
            None
        } else {
            let client = self.side.is_client();
            self.tls
                .with_live(|tls| {
                    let params_current =
                        !client || tls.alpn_protocol().is_some() || !tls.is_handshaking();
                    params_current
                        .then(|| tls.quic_transport_parameters().map(<[u8]>::to_vec))
                        .flatten()
                })
                .flatten()
        };
        if let Some(raw) = raw {
            let params = TransportParameters::decode(&raw, self.side.peer())?;
            self.validate_peer_params(&params)?;
            self.qlog.parameters_set(now, false, &params);
            self.apply_peer_params(now, params);
            self.params_from_handshake = true;
            // ALPN and the server name are settled with the peer's
            // parameters: a server's from the ClientHello, a
            // client's from EncryptedExtensions.
            self.note_handshake_data();
            self.events.push_back(Event::HandshakeDataReady);
        }
        self.pump_tls();
        self.init_server_0rtt();
        if !self.handshake_complete && !self.tls.is_handshaking() {
            self.handshake_complete = true;
            self.state = State::Established;
            self.finish_0rtt();
            self.note_handshake_data();
            if !self.side.is_client() {
                // RFC 9001 §4.1.2: the server's handshake is confirmed now.
                self.handshake_confirmed = true;
                self.start_mtu_discovery(now);
                self.pending.handshake_done = true;
                self.discard_space(SpaceId::Handshake);
                self.queue_new_token(now);
            }
            self.issue_cids();
            self.endpoint_events.push_back(EndpointEvent::Established);
            self.events.push_back(Event::Connected);
        }
        self.retire_tls();
        Ok(())
    }

    /// Records what the handshake has agreed so far.
    fn note_handshake_data(&mut self) {
        let data = self.tls.with_live(|tls| HandshakeData {
            protocol: tls.alpn_protocol().map(<[u8]>::to_vec),
            server_name: match &*tls {
                rustls::quic::Connection::Server(s) => s.server_name().map(str::to_string),
                rustls::quic::Connection::Client(_) => None,
            },
            cipher_suite: tls.negotiated_cipher_suite().map(|s| s.suite()),
            resumed: tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        });
        if data.is_some() {
            self.handshake_data = data;
        }
    }

    /// Drops the TLS session once the handshake is confirmed and TLS has
    /// nothing more to do: a server's tickets are written, a client has
    /// read one (the server's others come in the same flight; any later
    /// one is skipped). See [`TlsSession::retire`].
    fn retire_tls(&mut self) {
        if !self.handshake_confirmed || (self.side.is_client() && self.tls.tickets_received() == 0)
        {
            return;
        }
        if self.tls.retire() {
            tracing::trace!(side = ?self.side, "TLS session retired");
            self.compact_due = true;
        }
    }

    /// RFC 9000 §7.3: authenticate the connection IDs.
    fn validate_peer_params(&self, p: &TransportParameters) -> Result<(), TransportError> {
        let bad = |m: &str| TransportError::new(TransportErrorCode::TRANSPORT_PARAMETER_ERROR, m);
        // RFC 9368 §4: the peer's chosen version must be the one its
        // packets used (for a client, the version it started in), or
        // negotiation was tampered with.
        let expected = self
            .handshaking()
            .and_then(|h| h.original_version.as_ref())
            .map_or(self.version, |o| o.version);
        if let Some(vi) = &p.version_information {
            if vi.chosen != expected {
                return Err(TransportError::new(
                    TransportErrorCode::VERSION_NEGOTIATION_ERROR,
                    "version_information disagrees with the version in use",
                ));
            }
        }
        if p.initial_source_connection_id != Some(self.cids.dcid()) {
            return Err(bad("initial_source_connection_id mismatch"));
        }
        if self.side.is_client() {
            if p.original_destination_connection_id != Some(self.orig_dcid) {
                return Err(bad("original_destination_connection_id mismatch"));
            }
            // RFC 9000 §7.3: present exactly when we followed a Retry, and
            // equal to its SCID.
            if p.retry_source_connection_id != self.retry_scid {
                return Err(bad(if self.retry_scid.is_none() {
                    "retry_source_connection_id without Retry"
                } else {
                    "retry_source_connection_id mismatch"
                }));
            }
        }
        Ok(())
    }

    /// The peer's flow-control and stream limits (RFC 9000 §18.2).
    pub(super) fn apply_stream_limits(&mut self, p: &TransportParameters) {
        self.streams.set_peer_params(
            p.initial_max_data,
            p.initial_max_stream_data_bidi_local,
            p.initial_max_stream_data_bidi_remote,
            p.initial_max_stream_data_uni,
            p.initial_max_streams_bidi,
            p.initial_max_streams_uni,
        );
    }

    fn apply_peer_params(&mut self, now: Instant, p: TransportParameters) {
        self.apply_stream_limits(&p);
        if let Some(token) = p.stateless_reset_token {
            self.cids.set_first_reset_token(token);
            self.announce_reset_token();
        }
        let mtu_cap = p.max_udp_payload_size.min(65527) as usize;
        self.path.mtu = self.path.mtu.min(mtu_cap).max(1200);
        self.peer_params = Some(super::PeerParams::from(&p));
        self.reset_idle(now);
    }

    /// Drops a space's keys and state (RFC 9001 §4.9).
    pub(super) fn discard_space(&mut self, space: SpaceId) {
        let sp = &mut self.spaces[space as usize];
        if sp.discarded {
            return;
        }
        sp.discard();
        let bytes = self.recovery.discard(space);
        self.path.cc.on_removed(bytes);
        if self.spaces[SpaceId::Initial as usize].discarded
            && self.spaces[SpaceId::Handshake as usize].discarded
        {
            // Neither comes back: their states go.
            self.spaces.release_early();
            self.recovery.release_early();
        }
    }

    fn on_retire_cid(&mut self, seq: u64) -> Result<(), TransportError> {
        // RFC 9000 §19.16.
        if let Some(cid) = self.cids.on_retire_cid(seq)? {
            self.endpoint_events
                .push_back(EndpointEvent::RetireCid(cid));
            if self.handshake_complete {
                self.issue_cids();
            }
        }
        Ok(())
    }
}

/// A 0-RTT packet (RFC 9000 §17.2.3)?
fn is_0rtt(h: &PartialHeader) -> bool {
    matches!(
        h.kind,
        HeaderKind::Long {
            ty: LongType::ZeroRtt,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::packet::{VERSION_1, VERSION_2};
    use crate::protocol::transport_params::VersionInformation;
    use std::sync::Arc;

    fn client(version: u32) -> Connection {
        let config = crate::protocol::endpoint::tests::client_config();
        Connection::client(
            version,
            config.transport,
            config.crypto,
            "localhost",
            Instant::now(),
            "127.0.0.1:4433".parse().unwrap(),
            Arc::new(crate::protocol::CidIssuer::random_with_key(&[7; 32])),
            rand::SeedableRng::seed_from_u64(7),
        )
        .unwrap()
    }

    /// RFC 9368 §4: a server whose version_information names another
    /// version than its packets use is refused with
    /// VERSION_NEGOTIATION_ERROR; a matching one passes.
    #[test]
    fn version_information_must_match_the_version_in_use() {
        for (ours, chosen, ok) in [
            (VERSION_1, VERSION_1, true),
            (VERSION_2, VERSION_2, true),
            (VERSION_1, VERSION_2, false),
            (VERSION_2, VERSION_1, false),
        ] {
            let conn = client(ours);
            let params = TransportParameters {
                initial_source_connection_id: Some(conn.cids.dcid()),
                original_destination_connection_id: Some(conn.orig_dcid),
                version_information: Some(VersionInformation {
                    chosen,
                    available: vec![VERSION_1, VERSION_2],
                }),
                ..TransportParameters::default()
            };
            match conn.validate_peer_params(&params) {
                Ok(()) => assert!(ok, "{ours:#x} accepted {chosen:#x}"),
                Err(e) => {
                    assert!(!ok, "{ours:#x} refused {chosen:#x}: {e}");
                    assert_eq!(e.code, TransportErrorCode::VERSION_NEGOTIATION_ERROR);
                }
            }
        }
    }
}
