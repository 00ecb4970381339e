//! Loss detection and recovery (RFC 9002 §5, §6, Appendix A): ACK
//! processing, packet- and time-threshold loss, PTO with back-off, and
//! requeueing of lost frames.

use super::spaces::{LostPacket, SentFrame, SentPacket, SpaceId};
use super::Connection;
use crate::protocol::error::TransportError;
use crate::protocol::frame::Ack;
use crate::protocol::rtt::GRANULARITY;
use std::time::{Duration, Instant};

/// Initial packet reordering threshold (RFC 9002 §6.1.1, kPacketThreshold).
pub(super) const PACKET_THRESHOLD: u64 = 3;

/// Most the reordering threshold grows to after spurious losses.
const MAX_PACKET_THRESHOLD: u64 = 256;

/// Initial time threshold in eighths of an RTT (RFC 9002 §6.1.2,
/// kTimeThreshold = 9/8).
pub(super) const TIME_THRESHOLD_EIGHTHS: u32 = 9;

/// Most the time threshold grows to after spurious losses: two RTTs, in
/// eighths.
const MAX_TIME_THRESHOLD_EIGHTHS: u32 = 16;

/// Declared-lost packets remembered per space to spot spurious losses.
const RECENTLY_LOST: usize = 64;

/// Persistent congestion threshold (RFC 9002 §7.6.1).
const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

impl Connection {
    /// Handles an ACK frame (RFC 9002 §A.7).
    pub(super) fn on_ack_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        ack: &Ack,
    ) -> Result<(), TransportError> {
        let sp = &mut self.spaces[space as usize];
        if ack.largest >= sp.next_pn {
            return Err(TransportError::protocol_violation(
                "ACK for a packet never sent",
            ));
        }
        sp.largest_acked = Some(sp.largest_acked.map_or(ack.largest, |l| l.max(ack.largest)));
        // RFC 9002 §6.1.1, §6.1.2: an ACK for a packet we declared lost
        // shows the path reorders. Raise the reordering thresholds past the
        // distance and the delay seen (as RACK does, RFC 8985 §6.2), and
        // undo the window cut when the loss was only reordering.
        let mut spurious = 0u64;
        let mut threshold = self.packet_threshold;
        let mut eighths = self.time_threshold_eighths;
        let rtt = self.rtt.latest().max(self.rtt.smoothed()).max(GRANULARITY);
        sp.recently_lost.retain(|l: &LostPacket| {
            if ack.ranges.iter().any(|r| r.contains(&l.pn)) {
                spurious += 1;
                threshold = threshold.max(l.largest_acked - l.pn + 1);
                let late = now.saturating_duration_since(l.sent);
                let needed = (late.as_nanos() * 8).div_ceil(rtt.as_nanos()) + 1;
                eighths = eighths.max(needed.min(u128::from(MAX_TIME_THRESHOLD_EIGHTHS)) as u32);
                false
            } else {
                true
            }
        });
        self.packet_threshold = threshold.min(MAX_PACKET_THRESHOLD);
        self.time_threshold_eighths = eighths;
        for _ in 0..spurious {
            self.cc.on_spurious_loss();
        }
        let sp = &mut self.spaces[space as usize];
        let mut newly: Vec<(u64, SentPacket)> = Vec::new();
        for r in &ack.ranges {
            let pns: Vec<u64> = sp.sent.range(r.clone()).map(|(&pn, _)| pn).collect();
            for pn in pns {
                if let Some(p) = sp.sent.remove(&pn) {
                    newly.push((pn, p));
                }
            }
        }
        if newly.is_empty() {
            return Ok(());
        }
        // RTT sample when the largest acknowledged is newly acknowledged
        // (RFC 9002 §5.1); ack-only packets are never tracked, so every
        // tracked packet is ack-eliciting.
        if let Some((_, p)) = newly.iter().find(|(pn, _)| *pn == ack.largest) {
            let sample = now.saturating_duration_since(p.time);
            let exponent = self
                .peer_params
                .as_ref()
                .map_or(3, |p| p.ack_delay_exponent);
            let mut delay = Duration::from_micros(ack.delay.saturating_mul(1 << exponent));
            if space != SpaceId::Data {
                delay = Duration::ZERO;
            } else if self.handshake_confirmed {
                delay = delay.min(self.peer_max_ack_delay());
            }
            self.rtt.update(delay, sample);
            self.first_rtt_sample.get_or_insert(now);
        }
        for (pn, p) in newly {
            if space == SpaceId::Data {
                self.mtu_on_acked(now, pn, p.size, p.mtu_probe);
            }
            if p.in_flight {
                self.cc
                    .on_ack(now, p.time, u64::from(p.size), &self.rtt, self.app_limited);
            }
            for f in p.frames {
                self.on_frame_acked(f);
            }
        }
        self.detect_lost(now, space);
        // RFC 9002 §6.2.1: reset the PTO back-off, except for a client
        // still unsure the server validated its address.
        if !(self.side.is_client() && !self.handshake_complete && space == SpaceId::Initial) {
            self.pto_count = 0;
        }
        Ok(())
    }

    fn on_frame_acked(&mut self, f: SentFrame) {
        match f {
            SentFrame::Stream {
                id,
                offset,
                len,
                fin,
            } => self.streams.on_stream_acked(id, offset, len, fin),
            SentFrame::Reset(id, ..) => self.streams.on_reset_acked(id),
            _ => {}
        }
    }

    /// Declares packets lost by packet or time threshold (RFC 9002 §A.10).
    pub(super) fn detect_lost(&mut self, now: Instant, space: SpaceId) {
        let persistent_duration =
            (self.rtt.pto_base() + self.peer_max_ack_delay()) * PERSISTENT_CONGESTION_THRESHOLD;
        let first_sample = self.first_rtt_sample;
        let sp = &mut self.spaces[space as usize];
        sp.loss_time = None;
        let Some(largest_acked) = sp.largest_acked else {
            return;
        };
        let rtt = self.rtt.latest().max(self.rtt.smoothed());
        let loss_delay = (rtt * self.time_threshold_eighths / 8).max(GRANULARITY);
        let lost_send_time = now.checked_sub(loss_delay);
        let mut lost = Vec::new();
        for (&pn, p) in sp.sent.range(..largest_acked) {
            if lost_send_time.is_some_and(|t| p.time <= t)
                || largest_acked >= pn + self.packet_threshold
            {
                lost.push(pn);
            } else {
                let t = p.time + loss_delay;
                sp.loss_time = Some(sp.loss_time.map_or(t, |l| l.min(t)));
            }
        }
        if lost.is_empty() {
            return;
        }
        let mut lost_count = lost.len() as u64;
        let mut lost_bytes = 0;
        let mut largest_lost_time = None;
        let mut frames = Vec::new();
        // RFC 9002 §7.6.2: persistent congestion when two lost ack-eliciting
        // packets were sent more than the persistent congestion duration
        // apart, nothing sent between them was acknowledged (a run of
        // consecutive packet numbers, all lost), and an RTT sample existed
        // before the first was sent.
        let mut run: Option<(u64, Instant)> = None;
        let mut persistent = false;
        let mut lost_probe = None;
        let mut large_lost = false;
        for pn in lost {
            let p = sp.sent.remove(&pn).expect("listed");
            if p.mtu_probe {
                // RFC 8899 §3: a lost probe says nothing about congestion.
                lost_probe = Some(pn);
                lost_count -= 1;
                self.stats.lost_mtu_probes += 1;
                self.cc.on_removed(u64::from(p.size));
                continue;
            }
            large_lost |= p.size > super::mtud::BASE_MTU;
            if sp.recently_lost.len() >= RECENTLY_LOST {
                sp.recently_lost.pop_front();
            }
            sp.recently_lost.push_back(LostPacket {
                pn,
                largest_acked,
                sent: p.time,
            });
            if p.in_flight {
                lost_bytes += u64::from(p.size);
            }
            largest_lost_time = Some(p.time);
            let start = match run {
                Some((prev, start)) if prev + 1 == pn => start,
                _ => p.time,
            };
            run = Some((pn, start));
            if first_sample.is_some_and(|f| f < start)
                && p.time.saturating_duration_since(start) > persistent_duration
            {
                persistent = true;
            }
            self.stats.lost_packets += 1;
            self.stats.lost_bytes += u64::from(p.size);
            frames.extend(p.frames);
        }
        if let Some(t) = largest_lost_time {
            self.cc.on_loss(lost_bytes, lost_count, t, now, persistent);
        }
        if space == SpaceId::Data {
            self.mtu_on_lost(now, lost_probe, large_lost);
        }
        for f in frames {
            self.requeue(space, f);
        }
    }

    /// Puts a lost frame's content back in the send queues.
    pub(super) fn requeue(&mut self, space: SpaceId, f: SentFrame) {
        match f {
            SentFrame::Crypto { offset, len } => {
                let sp = &mut self.spaces[space as usize];
                if !sp.discarded {
                    sp.crypto_retransmit.insert(offset..offset + len);
                }
            }
            SentFrame::Stream {
                id,
                offset,
                len,
                fin,
            } => self.streams.on_stream_lost(id, offset, len, fin),
            SentFrame::MaxData => self.streams.pending.max_data = true,
            SentFrame::MaxStreamData(id) => {
                if self.streams.local_max_stream_data(id).is_some() {
                    self.streams.pending.max_stream_data.insert(id);
                }
            }
            SentFrame::MaxStreams(d) => {
                self.streams.pending.max_streams[d as usize] = true;
            }
            SentFrame::Reset(id, code, size) => self.streams.pending.resets.push((id, code, size)),
            SentFrame::StopSending(id, code) => {
                if self.streams.local_max_stream_data(id).is_some() {
                    self.streams.pending.stop_sending.push((id, code));
                }
            }
            SentFrame::NewCid(seq) => {
                if self.local_cids.contains_key(&seq) {
                    self.pending.new_cids.push(seq);
                }
            }
            SentFrame::RetireCid(seq) => self.pending.retire_cids.push(seq),
            SentFrame::PathChallenge(data) => self.on_path_challenge_lost(data),
            SentFrame::HandshakeDone => self.pending.handshake_done = true,
            SentFrame::NewToken(t) => self.pending.new_token = Some(t),
        }
    }

    /// The earliest loss time and its space (RFC 9002 §A.8).
    fn earliest_loss_time(&self) -> Option<(Instant, SpaceId)> {
        SpaceId::ALL
            .iter()
            .filter_map(|&s| self.spaces[s as usize].loss_time.map(|t| (t, s)))
            .min_by_key(|(t, _)| *t)
    }

    /// The PTO deadline and its space (RFC 9002 §A.8).
    fn pto_time(&self) -> Option<(Instant, SpaceId)> {
        let backoff = 1u32 << self.pto_count.min(10);
        let any_in_flight = self.spaces.iter().any(|s| s.has_in_flight());
        if !any_in_flight {
            // Anti-deadlock (RFC 9002 §6.2.2.1): a client without a
            // confirmed handshake keeps probing.
            if self.side.is_client() && !self.handshake_confirmed && !self.is_closed() {
                let space = if self.spaces[SpaceId::Handshake as usize].keys.is_some() {
                    SpaceId::Handshake
                } else {
                    SpaceId::Initial
                };
                self.spaces[space as usize].keys.as_ref()?;
                let base = self.last_sent_eliciting?;
                return Some((base + self.rtt.pto_base() * backoff, space));
            }
            return None;
        }
        let mut best: Option<(Instant, SpaceId)> = None;
        for s in SpaceId::ALL {
            let sp = &self.spaces[s as usize];
            if !sp.has_in_flight() {
                continue;
            }
            // RFC 9002 §6.2.1: no application-data PTO before confirmation.
            if s == SpaceId::Data && !self.handshake_confirmed {
                continue;
            }
            let Some(last) = sp.last_ack_eliciting else {
                continue;
            };
            let t = last + self.pto_duration(s) * backoff;
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, s));
            }
        }
        best
    }

    /// When the loss-detection timer fires next.
    pub(super) fn loss_detection_deadline(&self) -> Option<(Instant, SpaceId)> {
        if self.is_closed() {
            return None;
        }
        self.earliest_loss_time().or_else(|| self.pto_time())
    }

    /// Handles the loss-detection timer (RFC 9002 §A.9).
    pub(super) fn on_loss_timeout(&mut self, now: Instant) {
        if let Some((t, space)) = self.earliest_loss_time() {
            if t <= now {
                self.detect_lost(now, space);
            }
            return;
        }
        let Some((t, space)) = self.pto_time() else {
            return;
        };
        if t > now {
            return;
        }
        if space == SpaceId::Data && self.key_limit_reached() {
            // RFC 9001 §6.6: the keys are used up and no acknowledgement
            // arrived that would allow an update.
            self.transport_error(
                now,
                TransportError::new(
                    crate::protocol::error::TransportErrorCode::AEAD_LIMIT_REACHED,
                    "confidentiality limit reached without a key update",
                ),
            );
            return;
        }
        self.pto_count += 1;
        tracing::trace!(side = ?self.side, ?space, pto_count = self.pto_count, "PTO");
        if space == SpaceId::Data {
            // Nothing acknowledged for a PTO while full-size packets (not
            // only probes) are out: maybe a PMTU black hole (RFC 8899
            // §4.3).
            let large = self.spaces[space as usize]
                .sent
                .values()
                .any(|p| !p.mtu_probe && p.size > super::mtud::BASE_MTU);
            if large {
                self.mtu_on_lost(now, None, true);
            }
        }
        // RFC 9002 §6.2.4: probes carry data when there is some. Requeue
        // the content of the oldest outstanding packets so the probes
        // retransmit it; a bare PING goes only when nothing is waiting.
        let sp = &mut self.spaces[space as usize];
        sp.probes = 2;
        let oldest: Vec<SentFrame> = sp
            .sent
            .values()
            .take(2)
            .flat_map(|p| p.frames.iter().cloned())
            .collect();
        // A probe resets the timer base even if nothing is requeued.
        sp.last_ack_eliciting = Some(now);
        if space != SpaceId::Data {
            // Handshake data is small: resend all of it that is unacked.
            let crypto: Vec<SentFrame> = sp
                .sent
                .values()
                .flat_map(|p| p.frames.iter().cloned())
                .filter(|f| matches!(f, SentFrame::Crypto { .. }))
                .collect();
            for f in crypto {
                self.requeue(space, f);
            }
            if self.side.is_client()
                && !self.spaces[space as usize].has_in_flight()
                && self.spaces[space as usize].crypto_sent > 0
            {
                // Anti-deadlock probe: resend from the start.
                let sp = &mut self.spaces[space as usize];
                let end = sp.crypto_out.len() as u64;
                sp.crypto_retransmit.insert(0..end);
            }
        } else {
            for f in oldest {
                self.requeue(space, f);
            }
        }
    }
}
