//! What the connection does with acknowledgements and losses
//! ([`Recovery`](super::recovery::Recovery) decides which they are):
//! feeds congestion control, PMTU discovery and the streams, requeues the
//! content of lost packets, and sends probes on a PTO (RFC 9002 §6.2.4).

use super::ecn::EcnVerdict;
use super::qlog::{LostBecause, Metrics};
use super::recovery::{Acked, LossTimer, Lost, Recovery};
use super::sent::{SentFrame, SentPacket};
use super::spaces::SpaceId;
use super::Connection;
use crate::protocol::congestion::CongestionPhase;
use crate::protocol::error::{TransportError, TransportErrorCode};
use crate::protocol::frame::Ack;
use std::time::{Duration, Instant};

impl Connection {
    /// Handles an ACK frame (RFC 9002 §A.7).
    pub(super) fn on_ack_frame(
        &mut self,
        now: Instant,
        space: SpaceId,
        ack: &Ack,
    ) -> Result<(), TransportError> {
        if ack.largest >= self.spaces[space as usize].next_pn {
            return Err(TransportError::protocol_violation(
                "ACK for a packet never sent",
            ));
        }
        // RFC 9002 §5.3: the peer's ACK Delay counts only in the
        // application space, and at most max_ack_delay once the handshake
        // is confirmed.
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
        let Acked {
            packets,
            spurious,
            new_largest,
        } = self
            .recovery
            .on_ack_received(now, space, ack, delay, &mut self.path.rtt);
        if new_largest {
            self.on_ecn_feedback(now, space, &packets, ack);
        }
        // An ACK for packets declared lost: undo the window cut when every
        // loss of the event was only reordering.
        for _ in 0..spurious {
            self.path.cc.on_spurious_loss();
        }
        if packets.is_empty() {
            return Ok(());
        }
        if self.qlog.enabled() {
            let pns: Vec<u64> = packets.iter().map(|(pn, _)| *pn).collect();
            self.qlog.packets_acked(now, space, &pns);
        }
        for (pn, p) in packets {
            if space == SpaceId::Data {
                self.mtu_on_acked(now, pn, p.size, p.mtu_probe);
            }
            if p.in_flight && p.epoch == self.path.epoch {
                self.path.cc.on_ack(
                    now,
                    p.time,
                    u64::from(p.size),
                    &self.path.rtt,
                    self.app_limited,
                );
            }
            let mut frames = p.frames;
            for f in frames.drain(..) {
                self.on_frame_acked(f);
            }
            self.recovery.recycle_frames(space, frames);
        }
        self.detect_lost(now, space);
        // RFC 9002 §6.2.1: reset the PTO back-off, except for a client
        // still unsure the server validated its address.
        if !(self.side.is_client() && !self.handshake_complete && space == SpaceId::Initial) {
            self.recovery.reset_pto_count();
        }
        self.qlog_recovery(now);
        Ok(())
    }

    /// Validates the ECN counts of an ACK that raised the largest
    /// acknowledged (RFC 9000 §13.4.2.1) against the marked packets it
    /// newly acknowledges; a CE increase is a congestion event, dated by
    /// the newest of those packets (RFC 9002 §7.1, §B.7).
    fn on_ecn_feedback(
        &mut self,
        now: Instant,
        space: SpaceId,
        packets: &[(u64, SentPacket)],
        ack: &Ack,
    ) {
        let marked = packets.iter().filter(|(_, p)| p.ecn).count() as u64;
        let testing = packets.iter().filter(|(_, p)| p.ecn_testing).count() as u64;
        let verdict = self.ecn.on_ack(space as usize, marked, testing, ack.ecn);
        if verdict != EcnVerdict::Congestion {
            return;
        }
        let newest = packets
            .iter()
            .filter(|(_, p)| p.epoch == self.path.epoch)
            .map(|(_, p)| p.time)
            .max();
        if let Some(sent) = newest {
            if self.path.cc.on_ce(sent, now) {
                self.stats.ecn.ce_events += 1;
                tracing::trace!(side = ?self.side, "ECN-CE: congestion");
            }
        }
    }

    fn on_frame_acked(&mut self, f: SentFrame) {
        match f {
            SentFrame::Stream(chunk) => self.streams.on_stream_acked(chunk),
            SentFrame::Reset(r) => self.streams.on_reset_acked(r.id),
            _ => {}
        }
    }

    /// Declares packets of `space` lost and deals with them: statistics,
    /// congestion control (not for PMTU probes, RFC 8899 §3), PMTU
    /// discovery, and their frames queued again.
    pub(super) fn detect_lost(&mut self, now: Instant, space: SpaceId) {
        let max_ack_delay = self.peer_max_ack_delay();
        let Lost {
            packets,
            persistent,
        } = self
            .recovery
            .detect_lost(now, space, &self.path.rtt, max_ack_delay);
        if packets.is_empty() {
            return;
        }
        let mut lost_count = 0;
        let mut lost_bytes = 0;
        let mut largest_lost_time = None;
        let mut lost_probe = None;
        let mut large_lost = false;
        let mut frames = Vec::new();
        for (pn, p) in packets {
            if self.qlog.enabled() {
                let why = if self.recovery.lost_by_reordering(space, pn) {
                    LostBecause::Reordering
                } else {
                    LostBecause::Time
                };
                self.qlog.packet_lost(now, space, pn, why);
            }
            // RFC 9000 §9.4: what was lost on a previous path is no
            // congestion signal for this one, nor in its flight.
            let this_path = p.epoch == self.path.epoch;
            // A lost PMTU probe says nothing about ECN either.
            if p.ecn && this_path && !p.mtu_probe {
                self.ecn.on_marked_lost(p.ecn_testing);
            }
            if p.mtu_probe {
                lost_probe = Some(pn);
                self.stats.lost_mtu_probes += 1;
                if this_path {
                    self.path.cc.on_removed(u64::from(p.size));
                }
                continue;
            }
            if this_path {
                large_lost |= p.size > super::mtud::BASE_MTU;
                lost_count += 1;
                if p.in_flight {
                    lost_bytes += u64::from(p.size);
                }
                largest_lost_time = Some(p.time);
            }
            self.stats.lost_packets += 1;
            self.stats.lost_bytes += u64::from(p.size);
            let mut lost = p.frames;
            frames.append(&mut lost);
            self.recovery.recycle_frames(space, lost);
        }
        if let Some(t) = largest_lost_time {
            self.path
                .cc
                .on_loss(lost_bytes, lost_count, t, now, persistent);
        }
        if space == SpaceId::Data {
            self.mtu_on_lost(now, lost_probe, large_lost);
        }
        for f in frames {
            self.requeue(space, f);
        }
        self.qlog_recovery(now);
    }

    /// qlog: metrics_updated and congestion_state_updated, when changed.
    fn qlog_recovery(&mut self, now: Instant) {
        if !self.qlog.enabled() {
            return;
        }
        let rtt = &self.path.rtt;
        let cc = self.path.cc.state();
        self.qlog.metrics(
            now,
            Metrics {
                smoothed_rtt: rtt.smoothed(),
                latest_rtt: rtt.latest(),
                min_rtt: rtt.min(),
                rtt_variance: rtt.variance(),
                congestion_window: cc.window,
                bytes_in_flight: cc.in_flight,
            },
        );
        let phase = match cc.phase {
            CongestionPhase::SlowStart => "slow_start",
            CongestionPhase::Recovery => "recovery",
            CongestionPhase::CongestionAvoidance => "congestion_avoidance",
        };
        self.qlog.congestion_state(now, phase);
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
            SentFrame::Stream(chunk) => self.streams.on_stream_lost(chunk),
            SentFrame::MaxData => self.streams.pending.max_data = true,
            SentFrame::MaxStreamData(id) => {
                if self.streams.local_max_stream_data(id).is_some() {
                    self.streams.pending.max_stream_data.insert(id);
                }
            }
            SentFrame::MaxStreams(d) => {
                self.streams.pending.max_streams[d.index()] = true;
            }
            SentFrame::Reset(r) => self.streams.pending.resets.push(r),
            SentFrame::StopSending { id, code } => {
                if self.streams.local_max_stream_data(id).is_some() {
                    self.streams.pending.stop_sending.push((id, code));
                }
            }
            SentFrame::NewCid(seq) => self.cids.requeue_new(seq),
            SentFrame::RetireCid(seq) => self.cids.requeue_retire(seq),
            SentFrame::PathChallenge(data) => self.on_path_challenge_lost(data),
            SentFrame::HandshakeDone => self.pending.handshake_done = true,
            SentFrame::NewToken(t) => self.pending.new_token = Some(t),
        }
    }

    /// The loss detection timer, unless the connection is closed.
    pub(super) fn loss_timer(&self) -> Option<LossTimer> {
        if self.is_closed() {
            return None;
        }
        // RFC 9002 §6.2.2.1: a client without a confirmed handshake keeps
        // probing even with nothing in flight.
        let anti_deadlock = if self.side.is_client() && !self.handshake_confirmed {
            let space = if self.spaces[SpaceId::Handshake as usize].keys.is_some() {
                SpaceId::Handshake
            } else {
                SpaceId::Initial
            };
            self.spaces[space as usize]
                .keys
                .as_ref()
                .and(self.last_sent_eliciting)
                .map(|t| (space, t))
        } else {
            None
        };
        self.recovery.timer(
            &self.path.rtt,
            self.peer_max_ack_delay(),
            self.handshake_confirmed,
            anti_deadlock,
        )
    }

    /// Handles the loss detection timer (RFC 9002 §A.9).
    pub(super) fn on_loss_timeout(&mut self, now: Instant) {
        let Some(timer) = self.loss_timer() else {
            return;
        };
        if timer.at() > now {
            return;
        }
        let space = match timer {
            LossTimer::Loss(_, space) => {
                self.detect_lost(now, space);
                return;
            }
            LossTimer::Pto(_, space) => space,
        };
        if space == SpaceId::Data && self.key_limit_reached() {
            // RFC 9001 §6.6: the keys are used up and no acknowledgement
            // arrived that would allow an update.
            self.transport_error(
                now,
                TransportError::new(
                    TransportErrorCode::AEAD_LIMIT_REACHED,
                    "confidentiality limit reached without a key update",
                ),
            );
            return;
        }
        // Nothing acknowledged for a PTO while full-size packets (not only
        // probes) are out: maybe a PMTU black hole (RFC 8899 §4.3).
        let black_hole = space == SpaceId::Data
            && self
                .recovery
                .has_outstanding_larger_than(space, super::mtud::BASE_MTU);
        if black_hole {
            self.mtu_on_lost(now, None, true);
        }
        self.recovery.on_pto(now, space);
        tracing::trace!(side = ?self.side, ?space, pto_count = self.recovery.pto_count(), "PTO");
        // RFC 9002 §6.2.4: two probes in the space whose timer fired, and
        // probes in every other space with data in flight too (the peer
        // may have keys for only one of them: a server with Initial and
        // Handshake data out, a client with Handshake and 1-RTT). Probes
        // carry data when there is some: the content of the oldest
        // outstanding packets is queued again, and a probe that finds
        // nothing queued in a handshake space takes the oldest CRYPTO
        // again (`send.rs`), so a bare PING goes only when no CRYPTO is
        // outstanding.
        for s in SpaceId::ALL {
            let anti_deadlock = s == space && !self.recovery.has_in_flight(s);
            if !(anti_deadlock || self.recovery.has_in_flight(s)) || !self.space_has_keys(s) {
                continue;
            }
            self.spaces[s as usize].probes = 2;
            for f in self.recovery.probe_frames(s) {
                self.requeue(s, f);
            }
        }
        if space != SpaceId::Data
            && self.side.is_client()
            && !self.recovery.has_in_flight(space)
            && self.spaces[space as usize].crypto_sent > 0
        {
            // Anti-deadlock probe: resend from the start.
            let sp = &mut self.spaces[space as usize];
            let end = sp.crypto_out.len() as u64;
            sp.crypto_retransmit.insert(0..end);
        }
    }

    /// The peer shows it lacks our handshake data (RFC 9002 §6.2.3): a
    /// server received the client's Initial CRYPTO again, a client
    /// received Handshake packets before it could read them. Once per
    /// connection, the unacknowledged CRYPTO data goes again at once,
    /// rather than a PTO later. Only once, so that an attacker repeating
    /// packets cannot make us repeat ours.
    pub(super) fn speed_up_handshake(&mut self) {
        if self.handshake_sped_up || self.handshake_complete {
            return;
        }
        let mut any = false;
        for s in [SpaceId::Initial, SpaceId::Handshake] {
            if !self.space_has_keys(s) {
                continue;
            }
            for f in self.recovery.probe_frames(s) {
                self.requeue(s, f);
                any = true;
            }
        }
        if any {
            tracing::trace!(side = ?self.side, "handshake data sent again early");
            self.handshake_sped_up = true;
        }
    }

    /// The PTO period for a space, without back-off (RFC 9002 §6.2.1).
    pub(super) fn pto_duration(&self, space: SpaceId) -> Duration {
        Recovery::pto_duration(&self.path.rtt, space, self.peer_max_ack_delay())
    }
}
