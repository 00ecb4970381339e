//! The send path: assembling packets and coalescing them into datagrams
//! (RFC 9000 §12.2, §13, §14), sealing them in place, and batching
//! datagrams for GSO.

use super::path::MIN_PACKET_ROOM;
use super::payload::Payload;
use super::sent::{SentFrame, SentPacket};
use super::spaces::SpaceId;
use super::{Connection, FrameStats, State, Transmit};
use crate::protocol::crypto::{self, TAG_LEN};
use crate::protocol::frame::{self, Frame};
use crate::protocol::packet::{self, LongType, MIN_INITIAL_SIZE};
use crate::protocol::stream_id::Dir;
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

/// The AEAD block: AES-GCM seals a payload in 16-byte blocks, and a
/// partial last block costs as much as a whole one plus a call of its
/// own, on both ends.
const BLOCK: usize = 16;

/// Where stream data filling a packet stops, before `limit`: at a whole
/// number of AEAD blocks after `payload_start`, so a full packet's
/// payload has no partial block. A full packet so gives up at most 15
/// bytes (1 % at 1200 B), and saves the partial block's cipher call
/// and GHASH update each way: about -4 % CPU per MiB on both ends of a
/// bulk transfer at 1452 B (`bench --cost bulk`).
fn block_aligned(payload_start: usize, limit: usize) -> usize {
    payload_start + (limit.saturating_sub(payload_start) / BLOCK) * BLOCK
}

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
        // One codepoint for the whole batch (RFC 9000 §13.4.2).
        let ecn = self.ecn.codepoint();
        self.tx_ecn = ecn.map(|c| (c, self.ecn.testing()));
        if let Some(size) = self.write_mtu_probe(now, buf, 0) {
            self.stats.udp_tx_datagrams += 1;
            self.stats.udp_tx_bytes += size as u64;
            return Some(Transmit {
                destination: self.path.remote,
                src_ip: self.path.local_ip,
                ecn,
                size,
                segment_size: None,
            });
        }
        let mut count = 0;
        let mut segment = 0;
        while count < max_datagrams.max(1) {
            let start = buf.len();
            // Before the budget check, so that a pacing deadline that has
            // passed never stays armed while the budget holds us back.
            self.path.update_pacing(now, self.config.pacing);
            // RFC 9000 §8.1: three times what we received, until the
            // peer's address is validated.
            let Some(mut max_size) = self.path.send_budget() else {
                break;
            };
            if count > 0 {
                // No datagram of a GSO batch may be longer than its first.
                max_size = max_size.min(segment);
            }
            self.check_confidentiality_limit();
            if !self.build_datagram(now, buf, start, max_size) {
                break;
            }
            let size = buf.len() - start;
            self.path.on_datagram_sent(size);
            self.stats.udp_tx_datagrams += 1;
            self.stats.udp_tx_bytes += size as u64;
            count += 1;
            if count == 1 {
                segment = size;
            }
            // A datagram shorter than the segment size ends the batch; so
            // does one that is not full (its stream data ends within the
            // last AEAD block's worth of room), and a handshake datagram
            // (kept simple: one per call).
            if size < segment || size + BLOCK <= self.path.mtu || self.state == State::Closing {
                break;
            }
        }
        if count == 0 {
            return None;
        }
        Some(Transmit {
            destination: self.path.remote,
            src_ip: self.path.local_ip,
            ecn,
            size: buf.len(),
            segment_size: (count > 1).then_some(segment),
        })
    }

    /// True when packets of `space` can be protected now.
    pub(super) fn space_has_keys(&self, space: SpaceId) -> bool {
        match space {
            SpaceId::Data => self.one_rtt.is_some() || self.sending_0rtt(),
            s => self.spaces[s as usize].keys.is_some(),
        }
    }

    /// PTO probes go regardless of the window (RFC 9002 §7.5); other
    /// packets need congestion control (and for application data, the
    /// pacer) to let them.
    fn congestion_allows(&self, space: SpaceId) -> bool {
        self.spaces[space as usize].probes > 0
            || self.path.congestion_allows(space == SpaceId::Data)
    }

    /// True if `space` has something to send now.
    fn space_wants_send(&self, space: SpaceId, now: Instant) -> bool {
        if !self.space_has_keys(space) {
            return false;
        }
        let sp = &self.spaces[space as usize];
        if self.state == State::Closing {
            return self.close.send_pending;
        }
        if space == SpaceId::Data && self.key_limit_reached() {
            // RFC 9001 §6.6: not one more packet under these keys.
            return false;
        }
        if sp.acks.is_due(now) || sp.probes > 0 {
            return true;
        }
        if space == SpaceId::Data && self.pending.path_probe() {
            return true;
        }
        if !self.congestion_allows(space) {
            return false;
        }
        if sp.crypto_pending() {
            return true;
        }
        space == SpaceId::Data
            && (self.pending.wants_send()
                || self.streams.wants_send()
                || self.cids.wants_send()
                || self.datagrams.as_ref().is_some_and(|d| d.wants_send()))
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
            if space == SpaceId::Data && self.pending.path_probe() {
                pad = true;
            }
            let pad_to = (pad && last).then_some(start + MIN_INITIAL_SIZE.min(max_size));
            if self.build_packet(now, space, buf, limit, pad_to) {
                built_any = true;
            }
        }
        if self.state == State::Closing && built_any {
            self.close.send_pending = false;
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
        let mut frames: Vec<SentFrame> = self.recovery.frame_list();
        let mut eliciting = false;
        let mut frame_count = FrameStats::default();

        if self.state == State::Closing {
            if let Some(close) = &self.close.frame {
                let f = close.frame_for(space);
                if f.encoded_len() <= payload_limit - buf.len() {
                    f.encode(buf);
                    frame_count.record(f.ty());
                }
            }
        } else {
            if !zero_rtt {
                self.spaces[space as usize].acks.write(
                    now,
                    space == SpaceId::Data,
                    buf,
                    payload_limit,
                    &mut frame_count,
                );
            }
            let cc_ok = self.congestion_allows(space);
            let sp = &self.spaces[space as usize];
            let probe_retakes_crypto =
                space != SpaceId::Data && sp.probes > 0 && !sp.crypto_pending();
            if space == SpaceId::Data && !zero_rtt {
                let before = buf.len();
                if cc_ok {
                    self.write_control_frames(buf, payload_limit, &mut frames, &mut frame_count);
                } else {
                    self.write_path_frames(buf, payload_limit, &mut frames, &mut frame_count);
                }
                // Every control frame is ack-eliciting (RFC 9000 §13.2),
                // also those never retransmitted (DATA_BLOCKED,
                // PATH_RESPONSE, ...): such packets count in flight, under
                // congestion control and PTO like any other (RFC 9002 §2).
                eliciting |= buf.len() > before;
            }
            if probe_retakes_crypto {
                // RFC 9002 §6.2.4: nothing new to send, so the probe
                // carries the oldest outstanding CRYPTO data again.
                for f in self.recovery.oldest_crypto(space) {
                    self.requeue(space, f);
                }
            }
            if cc_ok {
                self.write_crypto(space, buf, payload_limit, &mut frames, &mut frame_count);
            }
            if cc_ok && space == SpaceId::Data {
                if let Some(d) = &mut self.datagrams {
                    eliciting |= d.write(buf, payload_limit, &mut frame_count);
                }
                let written = self.streams.write_stream_frames(
                    buf,
                    block_aligned(payload_start, payload_limit),
                    &mut |c| frames.push(SentFrame::Stream(c)),
                );
                frame_count.add(frame::STREAM, written);
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
        let plaintext = self
            .qlog
            .enabled()
            .then(|| buf[payload_start..before_padding].to_vec());
        if buf.len() < target {
            buf.resize(target, 0);
        }
        let padding = buf.len() - before_padding;
        self.seal_packet(space, buf, &header);
        let size = buf.len() - start;
        if let Some(plaintext) = plaintext {
            self.qlog
                .packet_sent(now, space, zero_rtt, pn, size, &plaintext, padding);
        }
        if padding > 0 {
            frame_count.record(frame::PADDING);
        }
        self.count_sent(space, frame_count);
        if eliciting {
            self.path.on_eliciting_sent(size);
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
                    ecn: false,
                    ecn_testing: false,
                    epoch: self.path.epoch,
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
        } else {
            self.recovery.recycle_frames(space, frames);
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
        let marked = self.tx_ecn.is_some();
        self.ecn.on_sent(space as usize, marked);
        self.stats.ecn.sent_ect0 += u64::from(marked);
        if space == SpaceId::Data {
            self.sealed_in_phase += 1;
        }
        self.stats.frames_sent += frames.total();
        self.stats.frame_tx += frames;
    }

    /// Tracks an ack-eliciting packet for loss recovery, in flight.
    pub(super) fn track_sent(&mut self, space: SpaceId, pn: u64, mut packet: SentPacket) {
        packet.ecn = self.tx_ecn.is_some();
        packet.ecn_testing = self.tx_ecn.is_some_and(|(_, testing)| testing);
        self.path.cc.on_sent(u64::from(packet.size));
        self.recovery.on_packet_sent(space, pn, packet);
    }

    /// Writes the header of the next packet of `space` (keys must exist),
    /// with a 2-byte Length placeholder for long headers.
    pub(super) fn write_header(&mut self, space: SpaceId, buf: &mut Vec<u8>) -> PacketHeader {
        let start = buf.len();
        let pn = self.spaces[space as usize].take_pn();
        let pn_len = packet::pn_len(pn, self.recovery.largest_acked(space));
        let dcid = self.cids.dcid();
        let (pn_offset, len_at) = if space == SpaceId::Data && self.one_rtt.is_some() {
            let phase = self.one_rtt.as_ref().is_some_and(|k| k.phase);
            packet::write_short_header(buf, &dcid, phase, pn, pn_len);
            (1 + dcid.len(), None)
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
                &dcid,
                &self.initial_scid,
                self.handshaking().map_or(&[][..], |h| &h.initial_token[..]),
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
            match (&self.one_rtt, self.zero_rtt_keys()) {
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

    /// Writes the control frames of the Data space: the connection's own,
    /// the streams', then the CIDs'.
    fn write_control_frames(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut Vec<SentFrame>,
        count: &mut FrameStats,
    ) {
        let mut p = Payload {
            buf,
            limit,
            frames,
            count,
        };
        self.pending.write(&mut p);
        self.write_stream_control(&mut p);
        self.cids.write(&mut p);
    }

    /// Writes only the path validation frames, which congestion control
    /// does not hold back (see `PendingFrames::write_path_frames`).
    fn write_path_frames(
        &mut self,
        buf: &mut Vec<u8>,
        limit: usize,
        frames: &mut Vec<SentFrame>,
        count: &mut FrameStats,
    ) {
        self.pending.write_path_frames(&mut Payload {
            buf,
            limit,
            frames,
            count,
        });
    }

    /// Writes the streams' control frames: flow control credit, resets,
    /// STOP_SENDING and BLOCKED frames (RFC 9000 §4, §3.5).
    fn write_stream_control(&mut self, p: &mut Payload<'_>) {
        let s = &mut self.streams;
        if s.pending.max_data && p.has_control_room() {
            s.pending.max_data = false;
            p.put(
                &Frame::MaxData(s.local_max_data()),
                Some(SentFrame::MaxData),
            );
        }
        for (i, dir) in [Dir::Bi, Dir::Uni].into_iter().enumerate() {
            if s.pending.max_streams[i] && p.has_control_room() {
                s.pending.max_streams[i] = false;
                let count = s.local_max_streams(dir);
                p.put(
                    &Frame::MaxStreams { dir, count },
                    Some(SentFrame::MaxStreams(dir)),
                );
            }
        }
        while p.has_control_room() {
            let Some(&id) = s.pending.max_stream_data.iter().next() else {
                break;
            };
            s.pending.max_stream_data.remove(&id);
            if let Some(max) = s.local_max_stream_data(id) {
                p.put(
                    &Frame::MaxStreamData { id, max },
                    Some(SentFrame::MaxStreamData(id)),
                );
            }
        }
        while p.has_control_room() {
            let Some(r) = s.pending.resets.pop() else {
                break;
            };
            let f = Frame::ResetStream {
                id: r.id,
                error_code: r.code,
                final_size: r.final_size,
            };
            p.put(&f, Some(SentFrame::Reset(r)));
        }
        while p.has_control_room() {
            let Some((id, code)) = s.pending.stop_sending.pop() else {
                break;
            };
            let f = Frame::StopSending {
                id,
                error_code: code,
            };
            p.put(&f, Some(SentFrame::StopSending { id, code }));
        }
        if p.has_control_room() {
            if let Some(limit) = s.pending.data_blocked.take() {
                p.put(&Frame::DataBlocked(limit), None);
            }
        }
        while p.has_control_room() {
            let Some((id, limit)) = s.pending.stream_data_blocked.pop() else {
                break;
            };
            p.put(&Frame::StreamDataBlocked { id, limit }, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_data_stops_at_a_whole_number_of_blocks() {
        assert_eq!(block_aligned(20, 20 + 1423), 20 + 1408);
        assert_eq!(block_aligned(20, 20 + 1408), 20 + 1408);
        assert_eq!(block_aligned(20, 20 + 15), 20);
        assert_eq!(block_aligned(20, 10), 20, "no room at all");
    }
}
