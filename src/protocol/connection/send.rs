//! The send path: assembling packets and coalescing them into datagrams
//! (RFC 9000 §12.2, §13, §14), sealing them in place, batching datagrams
//! for GSO, and the connection's single timer.

use super::spaces::{SentFrame, SentPacket, SpaceId};
use super::{Connection, FrameStats, State, Transmit, ACK_DELAY_EXPONENT};
use crate::protocol::crypto::{self, TAG_LEN};
use crate::protocol::frame::{self, Ack, Dir, Frame};
use crate::protocol::packet::{self, LongType, MIN_INITIAL_SIZE};
use crate::protocol::varint;
use std::time::Instant;

/// Where a packet being built starts and how its header was laid out.
pub(super) struct PacketHeader {
    /// Offset of the first header byte in the buffer.
    pub start: usize,
    /// Packet number.
    pub pn: u64,
    /// Encoded packet number length.
    pub pn_len: usize,
    /// Packet number offset from `start`.
    pub pn_offset: usize,
    /// Absolute offset of the Length placeholder (long headers).
    pub len_at: Option<usize>,
}

/// Smallest room worth starting a packet in.
const MIN_PACKET_ROOM: usize = 64;

impl Connection {
    /// Writes up to `max_datagrams` datagrams for one destination into
    /// `buf` (cleared first). Every datagram but the last has the same
    /// size, so the batch can go out with one GSO send.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        buf.clear();
        if matches!(self.state, State::Draining | State::Drained) {
            return None;
        }
        if let Some(size) = self.write_mtu_probe(now, buf, 0) {
            self.stats.udp_tx_datagrams += 1;
            self.stats.udp_tx_bytes += size as u64;
            return Some(Transmit {
                destination: self.remote,
                src_ip: self.local_ip,
                size,
                segment_size: None,
            });
        }
        let mut count = 0;
        let mut segment = 0;
        while count < max_datagrams.max(1) {
            let start = buf.len();
            let mut max_size = self.mtu;
            if !self.address_validated {
                // RFC 9000 §8.1: three times what we received.
                let budget = (3 * self.amp_received).saturating_sub(self.amp_sent) as usize;
                max_size = max_size.min(budget);
                if max_size < MIN_PACKET_ROOM {
                    break;
                }
            }
            self.update_pacing(now);
            self.check_confidentiality_limit();
            if !self.build_datagram(now, buf, start, max_size) {
                break;
            }
            let size = buf.len() - start;
            if !self.address_validated {
                self.amp_sent += size as u64;
            }
            self.stats.udp_tx_datagrams += 1;
            self.stats.udp_tx_bytes += size as u64;
            count += 1;
            if count == 1 {
                segment = size;
            }
            // A datagram shorter than the segment size ends the batch; so
            // does a handshake datagram (kept simple: one per call).
            if size < segment || size < self.mtu || self.state == State::Closing {
                break;
            }
        }
        if count == 0 {
            return None;
        }
        Some(Transmit {
            destination: self.remote,
            src_ip: self.local_ip,
            size: buf.len(),
            segment_size: (count > 1).then_some(segment),
        })
    }

    fn space_has_keys(&self, space: SpaceId) -> bool {
        match space {
            SpaceId::Data => self.one_rtt.is_some() || self.sending_0rtt(),
            s => self.spaces[s as usize].keys.is_some(),
        }
    }

    fn congestion_allows(&self, space: SpaceId) -> bool {
        if self.spaces[space as usize].probes > 0 {
            return true;
        }
        self.cc.available() >= self.mtu as u64
            && (space != SpaceId::Data || self.pacing_until.is_none())
    }

    /// Asks the pacer whether a full datagram may go now (RFC 9002 §7.7);
    /// sets `pacing_until` when it may not.
    fn update_pacing(&mut self, now: Instant) {
        self.pacing_until = None;
        if !self.config.pacing || self.cc.available() < self.mtu as u64 {
            return;
        }
        let mtu = self.mtu as u64;
        self.pacing_until = self
            .pacer
            .delay(now, mtu, mtu, self.cc.window(), self.rtt.smoothed());
    }

    /// True if `space` has something to send now.
    fn space_wants_send(&self, space: SpaceId, now: Instant) -> bool {
        if !self.space_has_keys(space) {
            return false;
        }
        let sp = &self.spaces[space as usize];
        if self.state == State::Closing {
            return self.close_send_pending;
        }
        if space == SpaceId::Data && self.key_limit_reached() {
            // RFC 9001 §6.6: not one more packet under these keys.
            return false;
        }
        if sp.ack_pending || sp.ack_deadline.is_some_and(|t| t <= now) || sp.probes > 0 {
            return true;
        }
        if !self.congestion_allows(space) {
            return false;
        }
        if sp.crypto_pending() {
            return true;
        }
        if space == SpaceId::Data {
            let p = &self.pending;
            let sp_pending = &self.streams.pending;
            return p.handshake_done
                || p.new_token.is_some()
                || !p.path_responses.is_empty()
                || p.path_challenge.is_some()
                || !p.new_cids.is_empty()
                || !p.retire_cids.is_empty()
                || p.ping
                || sp_pending.max_data
                || !sp_pending.max_stream_data.is_empty()
                || sp_pending.max_streams[0]
                || sp_pending.max_streams[1]
                || !sp_pending.resets.is_empty()
                || !sp_pending.stop_sending.is_empty()
                || sp_pending.data_blocked.is_some()
                || !sp_pending.stream_data_blocked.is_empty()
                || !self.datagrams_out.is_empty()
                || self.streams.has_pending_data();
        }
        false
    }

    /// Builds one datagram of coalesced packets; false if nothing to send.
    fn build_datagram(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        start: usize,
        max_size: usize,
    ) -> bool {
        let limit = start + max_size;
        let mut pad = false;
        let mut built_any = false;
        for (i, &space) in SpaceId::ALL.iter().enumerate() {
            if limit.saturating_sub(buf.len()) < MIN_PACKET_ROOM {
                break;
            }
            if !self.space_wants_send(space, now) {
                continue;
            }
            let last = !SpaceId::ALL[i + 1..]
                .iter()
                .any(|&s| self.space_wants_send(s, now));
            // RFC 9000 §14.1: a client pads every datagram with an Initial;
            // so does a server whose Initial is ack-eliciting.
            if space == SpaceId::Initial {
                pad = self.side.is_client() || self.initial_will_elicit();
            }
            // RFC 9000 §8.2.1, §8.2.2: datagrams with PATH_CHALLENGE or
            // PATH_RESPONSE are expanded to 1200 bytes (within the
            // anti-amplification budget), proving the path carries them.
            if space == SpaceId::Data
                && (self.pending.path_challenge.is_some()
                    || !self.pending.path_responses.is_empty())
            {
                pad = true;
            }
            let pad_to = (pad && last).then_some(start + MIN_INITIAL_SIZE.min(max_size));
            if self.build_packet(now, space, buf, limit, pad_to) {
                built_any = true;
            }
        }
        if self.state == State::Closing && built_any {
            self.close_send_pending = false;
        }
        built_any
    }

    fn initial_will_elicit(&self) -> bool {
        let sp = &self.spaces[SpaceId::Initial as usize];
        sp.crypto_pending() || sp.probes > 0
    }

    /// Builds one packet of `space` into `buf`, ending at or before `limit`.
    /// With `pad_to`, PADDING makes the datagram reach that offset.
    fn build_packet(
        &mut self,
        now: Instant,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        pad_to: Option<usize>,
    ) -> bool {
        let header = self.write_header(space, buf);
        let PacketHeader {
            start, pn, pn_len, ..
        } = header;
        let payload_start = buf.len();
        let payload_limit = limit - TAG_LEN;
        // RFC 9000 §12.5: 0-RTT carries no ACK and none of the control
        // frames a client could owe before the handshake.
        let zero_rtt = space == SpaceId::Data && self.sending_0rtt();
        let mut frames: Vec<SentFrame> = Vec::new();
        let mut eliciting = false;
        let mut frame_count = FrameStats::default();

        if self.state == State::Closing {
            if let Some((app, code, frame_type, reason)) = self.close_frame.clone() {
                // RFC 9000 §10.2.3: no application close in handshake packets.
                let f = if app && space != SpaceId::Data {
                    Frame::ConnectionClose {
                        app: false,
                        code: 0x0c,
                        frame_type: 0,
                        reason: bytes::Bytes::new(),
                    }
                } else {
                    Frame::ConnectionClose {
                        app,
                        code,
                        frame_type,
                        reason,
                    }
                };
                if f.encoded_len() <= payload_limit - buf.len() {
                    f.encode(buf);
                    frame_count.record(f.ty());
                }
            }
        } else {
            if !zero_rtt {
                self.write_ack(now, space, buf, payload_limit, &mut frame_count);
            }
            let cc_ok = self.congestion_allows(space);
            if cc_ok && space == SpaceId::Data && !zero_rtt {
                let before = buf.len();
                self.write_control_frames(buf, payload_limit, &mut frames, &mut frame_count);
                // Every control frame is ack-eliciting (RFC 9000 §13.2),
                // also those never retransmitted (DATA_BLOCKED,
                // PATH_RESPONSE, ...): such packets count in flight, under
                // congestion control and PTO like any other (RFC 9002 §2).
                eliciting |= buf.len() > before;
            }
            if cc_ok {
                self.write_crypto(space, buf, payload_limit, &mut frames, &mut frame_count);
            }
            if cc_ok && space == SpaceId::Data {
                while let Some(d) = self.datagrams_out.front() {
                    let f = Frame::Datagram { data: d.clone() };
                    if f.encoded_len() > payload_limit.saturating_sub(buf.len()) {
                        break;
                    }
                    f.encode(buf);
                    self.datagrams_out_bytes -= d.len();
                    self.datagrams_out.pop_front();
                    frame_count.record(frame::DATAGRAM_LEN);
                    eliciting = true;
                }
                let mut sent = Vec::new();
                self.streams
                    .write_stream_frames(buf, payload_limit, &mut sent);
                frame_count.add(frame::STREAM, sent.len() as u64);
                frames.extend(
                    sent.into_iter()
                        .map(|(id, offset, len, fin)| SentFrame::Stream {
                            id,
                            offset,
                            len,
                            fin,
                        }),
                );
            }
            eliciting |= !frames.is_empty();
            let sp = &mut self.spaces[space as usize];
            let probe = sp.probes > 0;
            if (probe || (space == SpaceId::Data && self.pending.ping)) && !eliciting {
                buf.push(frame::PING as u8);
                frame_count.record(frame::PING);
                eliciting = true;
            }
            if space == SpaceId::Data {
                self.pending.ping = false;
            }
            if probe && eliciting {
                self.spaces[space as usize].probes -= 1;
            }
        }
        if buf.len() == payload_start {
            buf.truncate(start);
            self.spaces[space as usize].next_pn -= 1;
            return false;
        }
        // Header protection samples 16 bytes from pn_offset + 4
        // (RFC 9001 §5.4.2): make the payload long enough.
        let min_payload = 4usize.saturating_sub(pn_len);
        let mut target = (payload_start + min_payload).max(buf.len());
        if let Some(p) = pad_to {
            target = target.max(p.saturating_sub(TAG_LEN).min(payload_limit));
        }
        let before_padding = buf.len();
        if buf.len() < target {
            buf.resize(target, 0);
        }
        self.seal_packet(space, buf, &header);
        let size = buf.len() - start;
        if buf.len() > before_padding {
            frame_count.record(frame::PADDING);
        }
        self.count_sent(space, frame_count);
        if eliciting {
            self.pacer.on_sent(size as u64);
            self.track_sent(
                space,
                pn,
                SentPacket {
                    time: now,
                    size: size as u16,
                    in_flight: true,
                    frames,
                    zero_rtt,
                    mtu_probe: false,
                },
            );
            self.last_sent_eliciting = Some(now);
            // RFC 9000 §10.1: the first ack-eliciting packet sent after a
            // receipt also restarts the idle timer.
            if !self.sent_eliciting_since_recv {
                self.sent_eliciting_since_recv = true;
                self.reset_idle(now);
            }
            self.app_limited = !self.streams.has_pending_data();
        }
        // RFC 9001 §4.9.1: a client drops Initial keys once it sends a
        // Handshake packet.
        if space == SpaceId::Handshake && self.side.is_client() {
            self.discard_space(SpaceId::Initial);
        }
        true
    }

    /// Counts a sealed packet of `space` carrying `frames` in the stats
    /// (and against the 1-RTT keys' confidentiality limit).
    pub(super) fn count_sent(&mut self, space: SpaceId, frames: FrameStats) {
        self.stats.packets_sent += 1;
        if space == SpaceId::Data {
            self.sealed_in_phase += 1;
        }
        self.stats.frames_sent += frames.total();
        self.stats.frame_tx += frames;
    }

    /// Tracks an ack-eliciting packet for loss recovery, in flight.
    pub(super) fn track_sent(&mut self, space: SpaceId, pn: u64, packet: SentPacket) {
        self.cc.on_sent(u64::from(packet.size));
        let sp = &mut self.spaces[space as usize];
        sp.last_ack_eliciting = Some(packet.time);
        sp.sent.insert(pn, packet);
    }

    /// Writes the header of the next packet of `space` (keys must exist),
    /// with a 2-byte Length placeholder for long headers.
    pub(super) fn write_header(&mut self, space: SpaceId, buf: &mut Vec<u8>) -> PacketHeader {
        let start = buf.len();
        let sp = &mut self.spaces[space as usize];
        let pn = sp.take_pn();
        let pn_len = packet::pn_len(pn, sp.largest_acked);
        let (pn_offset, len_at) = if space == SpaceId::Data && self.one_rtt.is_some() {
            let phase = self.one_rtt.as_ref().is_some_and(|k| k.phase);
            packet::write_short_header(buf, &self.dcid, phase, pn, pn_len);
            (1 + self.dcid.len(), None)
        } else {
            let ty = match space {
                SpaceId::Initial => LongType::Initial,
                SpaceId::Handshake => LongType::Handshake,
                SpaceId::Data => LongType::ZeroRtt,
            };
            let at = packet::write_long_header(
                buf,
                self.version,
                ty,
                &self.dcid,
                &self.initial_scid,
                &self.initial_token,
                pn,
                pn_len,
            );
            (at + 2 - start, Some(at))
        };
        PacketHeader {
            start,
            pn,
            pn_len,
            pn_offset,
            len_at,
        }
    }

    /// Fills in the Length field and seals the packet that `header`
    /// started, in place (RFC 9001 §5.3, §5.4).
    pub(super) fn seal_packet(&self, space: SpaceId, buf: &mut Vec<u8>, header: &PacketHeader) {
        if let Some(at) = header.len_at {
            let len = buf.len() - (at + 2) + TAG_LEN;
            varint::write_with_len(&mut buf[at..], len as u64, 2);
        }
        let (packet_key, hp): (
            &dyn rustls::quic::PacketKey,
            &dyn rustls::quic::HeaderProtectionKey,
        ) = if space == SpaceId::Data {
            match (&self.one_rtt, &self.zero_rtt_keys) {
                (Some(k), _) => (k.current.local.as_ref(), k.local_hp.as_ref()),
                (None, Some(z)) => (z.packet.as_ref(), z.header.as_ref()),
                (None, None) => unreachable!("keys checked by the caller"),
            }
        } else {
            let k = self.spaces[space as usize]
                .keys
                .as_ref()
                .expect("keys checked by the caller");
            (k.local.packet.as_ref(), k.local.header.as_ref())
        };
        crypto::seal(
            buf,
            header.start,
            header.pn_offset,
            header.pn_len,
            header.pn,
            packet_key,
            hp,
        );
    }

    fn write_ack(
        &mut self,
        now: Instant,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        count: &mut FrameStats,
    ) {
        let sp = &mut self.spaces[space as usize];
        let due = sp.ack_pending || sp.ack_deadline.is_some_and(|t| t <= now);
        // Piggyback an ACK on anything we send when one is owed at all.
        if !(due || sp.ack_deadline.is_some() || sp.unacked_eliciting > 0) {
            return;
        }
        let Some((largest, at)) = sp.largest_received else {
            return;
        };
        let delay = now.saturating_duration_since(at).as_micros() as u64 >> ACK_DELAY_EXPONENT;
        let ranges = sp.ack_ranges();
        let ack = Frame::Ack(Ack {
            largest,
            delay: if space == SpaceId::Data { delay } else { 0 },
            ranges,
            ecn: None,
        });
        if ack.encoded_len() > limit.saturating_sub(buf.len()) {
            return;
        }
        ack.encode(buf);
        count.record(frame::ACK);
        sp.ack_pending = false;
        sp.ack_deadline = None;
        sp.unacked_eliciting = 0;
    }

    fn write_crypto(
        &mut self,
        space: SpaceId,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut Vec<SentFrame>,
        count: &mut FrameStats,
    ) {
        let sp = &mut self.spaces[space as usize];
        loop {
            let room = limit.saturating_sub(buf.len());
            if room < 16 {
                return;
            }
            let (offset, avail, is_new) = match sp.crypto_retransmit.first() {
                Some(r) => (r.start, r.end - r.start, false),
                None => {
                    let total = sp.crypto_out.len() as u64;
                    if sp.crypto_sent >= total {
                        return;
                    }
                    (sp.crypto_sent, total - sp.crypto_sent, true)
                }
            };
            let hdr = frame::crypto_header_len(offset, avail.min(room as u64) as usize);
            let len = avail.min((room - hdr) as u64) as usize;
            if len == 0 {
                return;
            }
            frame::encode_crypto_header(buf, offset, len);
            let o = offset as usize;
            buf.extend_from_slice(&sp.crypto_out[o..o + len]);
            let end = offset + len as u64;
            if is_new {
                sp.crypto_sent = end;
            } else {
                sp.crypto_retransmit.remove(offset..end);
            }
            frames.push(SentFrame::Crypto {
                offset,
                len: len as u64,
            });
            count.record(frame::CRYPTO);
        }
    }

    fn write_control_frames(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut Vec<SentFrame>,
        count: &mut FrameStats,
    ) {
        let room = |buf: &Vec<u8>| limit.saturating_sub(buf.len()) >= 48;
        if self.pending.handshake_done && room(buf) {
            Frame::HandshakeDone.encode(buf);
            self.pending.handshake_done = false;
            frames.push(SentFrame::HandshakeDone);
            count.record(frame::HANDSHAKE_DONE);
        }
        self.write_new_token(buf, limit, frames, count);
        if room(buf) {
            if let Some(data) = self.pending.path_challenge.take() {
                Frame::PathChallenge(data).encode(buf);
                frames.push(SentFrame::PathChallenge(data));
                count.record(frame::PATH_CHALLENGE);
            }
        }
        while room(buf) {
            let Some(data) = self.pending.path_responses.pop_front() else {
                break;
            };
            Frame::PathResponse(data).encode(buf);
            count.record(frame::PATH_RESPONSE);
        }
        let sp = &mut self.streams.pending;
        if sp.max_data && room(buf) {
            sp.max_data = false;
            Frame::MaxData(self.streams.local_max_data()).encode(buf);
            frames.push(SentFrame::MaxData);
            count.record(frame::MAX_DATA);
        }
        for (i, dir) in [Dir::Bi, Dir::Uni].into_iter().enumerate() {
            if self.streams.pending.max_streams[i] && room(buf) {
                self.streams.pending.max_streams[i] = false;
                Frame::MaxStreams {
                    dir,
                    count: self.streams.local_max_streams(dir),
                }
                .encode(buf);
                frames.push(SentFrame::MaxStreams(dir));
                count.record(frame::MAX_STREAMS_BIDI);
            }
        }
        while room(buf) {
            let Some(&id) = self.streams.pending.max_stream_data.iter().next() else {
                break;
            };
            self.streams.pending.max_stream_data.remove(&id);
            if let Some(max) = self.streams.local_max_stream_data(id) {
                Frame::MaxStreamData { id, max }.encode(buf);
                frames.push(SentFrame::MaxStreamData(id));
                count.record(frame::MAX_STREAM_DATA);
            }
        }
        while room(buf) {
            let Some((id, code, size)) = self.streams.pending.resets.pop() else {
                break;
            };
            Frame::ResetStream {
                id,
                error_code: code,
                final_size: size,
            }
            .encode(buf);
            frames.push(SentFrame::Reset(id, code, size));
            count.record(frame::RESET_STREAM);
        }
        while room(buf) {
            let Some((id, code)) = self.streams.pending.stop_sending.pop() else {
                break;
            };
            Frame::StopSending {
                id,
                error_code: code,
            }
            .encode(buf);
            frames.push(SentFrame::StopSending(id, code));
            count.record(frame::STOP_SENDING);
        }
        if room(buf) {
            if let Some(limit) = self.streams.pending.data_blocked.take() {
                Frame::DataBlocked(limit).encode(buf);
                count.record(frame::DATA_BLOCKED);
            }
        }
        while room(buf) {
            let Some((id, limit)) = self.streams.pending.stream_data_blocked.pop() else {
                break;
            };
            Frame::StreamDataBlocked { id, limit }.encode(buf);
            count.record(frame::STREAM_DATA_BLOCKED);
        }
        while room(buf) {
            let Some(seq) = self.pending.new_cids.pop() else {
                break;
            };
            let Some(c) = self.local_cids.get(&seq) else {
                continue;
            };
            Frame::NewConnectionId {
                seq,
                retire_prior_to: 0,
                cid: c.cid,
                reset_token: c.reset_token,
            }
            .encode(buf);
            frames.push(SentFrame::NewCid(seq));
            count.record(frame::NEW_CONNECTION_ID);
        }
        while room(buf) {
            let Some(seq) = self.pending.retire_cids.pop() else {
                break;
            };
            Frame::RetireConnectionId { seq }.encode(buf);
            frames.push(SentFrame::RetireCid(seq));
            count.record(frame::RETIRE_CONNECTION_ID);
        }
    }

    /// When [`Connection::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Drained {
            return None;
        }
        let mut t = self.close_deadline;
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        if matches!(self.state, State::Closing | State::Draining) {
            return t;
        }
        consider(self.idle_deadline);
        consider(self.path_validation_deadline());
        consider(self.mtu_probe_deadline());
        consider(self.pacing_until);
        consider(self.loss_detection_deadline().map(|(t, _)| t));
        for sp in &self.spaces {
            consider(sp.ack_deadline);
        }
        if let (Some(ka), Some(last)) = (self.config.keep_alive_interval, self.last_sent_eliciting)
        {
            consider(Some(last + ka));
        }
        t
    }

    /// Handles the connection's timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.on_close_timers(now) {
            return;
        }
        if self
            .loss_detection_deadline()
            .is_some_and(|(t, _)| t <= now)
        {
            self.on_loss_timeout(now);
        }
        self.on_path_validation_timeout(now);
        for sp in &mut self.spaces {
            if sp.ack_deadline.is_some_and(|t| t <= now) {
                sp.ack_pending = true;
                sp.ack_deadline = None;
            }
        }
        if let (Some(ka), Some(last)) = (self.config.keep_alive_interval, self.last_sent_eliciting)
        {
            if last + ka <= now && self.one_rtt.is_some() {
                self.pending.ping = true;
            }
        }
    }
}
