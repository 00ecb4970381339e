//! Where loss is detected (RFC 9002 §5, §6, Appendix A): the
//! ack-eliciting packets in flight per packet number space, RTT samples
//! from ACKs, packet- and time-threshold loss, spurious losses, persistent
//! congestion and the PTO with back-off. [`Recovery`] only decides; the
//! connection (`loss.rs`) feeds what it reports to congestion control,
//! PMTU discovery and the retransmission queues.

use super::sent::{LostPacket, SentFrame, SentPacket, SentPackets};
use super::spaces::{Discarded, SpaceId, Spaces};
use crate::protocol::frame::Ack;
use crate::protocol::rtt::{RttEstimator, GRANULARITY};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Initial packet reordering threshold (RFC 9002 §6.1.1, kPacketThreshold).
const PACKET_THRESHOLD: u64 = 3;

/// Most the reordering threshold grows to after spurious losses.
const MAX_PACKET_THRESHOLD: u64 = 256;

/// Initial time threshold in eighths of an RTT (RFC 9002 §6.1.2,
/// kTimeThreshold = 9/8).
const TIME_THRESHOLD_EIGHTHS: u32 = 9;

/// Most the time threshold grows to after spurious losses: two RTTs, in
/// eighths.
const MAX_TIME_THRESHOLD_EIGHTHS: u32 = 16;

/// Declared-lost packets remembered per space to spot spurious losses.
const RECENTLY_LOST: usize = 64;

/// Persistent congestion threshold (RFC 9002 §7.6.1).
const PERSISTENT_CONGESTION_THRESHOLD: u32 = 3;

/// Packets of one space in flight and what loss detection knows of them.
#[derive(Debug, Default)]
struct SpaceRecovery {
    /// Ack-eliciting packets awaiting acknowledgement.
    sent: SentPackets,
    /// Largest packet number the peer acknowledged.
    largest_acked: Option<u64>,
    /// Time of the last ack-eliciting packet sent (the PTO's base).
    last_ack_eliciting: Option<Instant>,
    /// Time-threshold loss timer (RFC 9002 §6.1.2).
    loss_time: Option<Instant>,
    /// Recently declared-lost packets, to recognise spurious losses.
    recently_lost: VecDeque<LostPacket>,
}

/// What an ACK frame acknowledged.
impl Discarded for SpaceRecovery {
    fn discarded() -> &'static Self {
        static DISCARDED: std::sync::LazyLock<SpaceRecovery> =
            std::sync::LazyLock::new(SpaceRecovery::default);
        &DISCARDED
    }
}

#[derive(Debug, Default)]
pub(super) struct Acked {
    /// Newly acknowledged packets, in the order of the ACK's ranges
    /// (highest first), each range by packet number.
    pub(super) packets: Vec<(u64, SentPacket)>,
    /// Packets we had declared lost that the ACK covers: the path
    /// reordered them (RFC 9002 §6.1); each undoes a loss.
    pub(super) spurious: u64,
    /// The ACK raised the largest acknowledged packet number: it was
    /// sent after every ACK processed before (RFC 9000 §13.4.2.1).
    pub(super) new_largest: bool,
}

/// Packets declared lost at once.
#[derive(Debug, Default)]
pub(super) struct Lost {
    /// The lost packets, by packet number (PMTU probes among them).
    pub(super) packets: Vec<(u64, SentPacket)>,
    /// Two lost ack-eliciting packets (not probes) span more than the
    /// persistent congestion duration (RFC 9002 §7.6.2).
    pub(super) persistent: bool,
}

/// When the loss detection timer fires, and for what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LossTimer {
    /// A packet of this space may be lost by time threshold.
    Loss(Instant, SpaceId),
    /// A probe timeout in this space.
    Pto(Instant, SpaceId),
}

impl LossTimer {
    /// When it fires.
    pub(super) fn at(self) -> Instant {
        match self {
            LossTimer::Loss(t, _) | LossTimer::Pto(t, _) => t,
        }
    }
}

/// Loss detection state of a connection.
#[derive(Debug)]
pub(super) struct Recovery {
    spaces: Spaces<SpaceRecovery>,
    /// Consecutive PTOs without an acknowledgement (RFC 9002 §6.2.1).
    pto_count: u32,
    /// Reordering threshold in packets; grows after spurious losses.
    packet_threshold: u64,
    /// Time reordering threshold in eighths of an RTT; grows after
    /// spurious losses.
    time_threshold_eighths: u32,
    /// When the first RTT sample was taken (RFC 9002 §7.6.2).
    first_rtt_sample: Option<Instant>,
    /// The frame lists of packets acknowledged, emptied, for the next
    /// packets: no allocation per packet while a flow is going. Boxed, so
    /// an idle connection pays one pointer for it (the connection lives
    /// in its actor's task, whose size rounds up to 128 bytes).
    #[allow(clippy::box_collection)] // one word instead of a Vec's three
    spare_frames: Option<Box<Vec<Vec<SentFrame>>>>,
}

impl Default for Recovery {
    fn default() -> Self {
        Self {
            spaces: Default::default(),
            pto_count: 0,
            packet_threshold: PACKET_THRESHOLD,
            time_threshold_eighths: TIME_THRESHOLD_EIGHTHS,
            first_rtt_sample: None,
            spare_frames: None,
        }
    }
}

impl Recovery {
    /// Frees the Initial and Handshake spaces' state, both discarded.
    pub(super) fn release_early(&mut self) {
        self.spaces.release_early();
    }

    /// The PTO period for `space`, without back-off (RFC 9002 §6.2.1).
    pub(super) fn pto_duration(
        rtt: &RttEstimator,
        space: SpaceId,
        max_ack_delay: Duration,
    ) -> Duration {
        let mut d = rtt.pto_base();
        if space == SpaceId::Data {
            d += max_ack_delay;
        }
        d
    }

    /// Tracks an ack-eliciting packet of `space`.
    pub(super) fn on_packet_sent(&mut self, space: SpaceId, pn: u64, packet: SentPacket) {
        let sp = &mut self.spaces[space as usize];
        sp.last_ack_eliciting = Some(packet.time);
        sp.sent.insert(pn, packet);
    }

    /// An empty frame list for the next packet.
    pub(super) fn frame_list(&mut self) -> Vec<SentFrame> {
        self.spare_frames
            .as_mut()
            .and_then(|spare| spare.pop())
            .unwrap_or_default()
    }

    /// Keeps `frames` (the list of a packet of `space`, its frames
    /// handled) for a next packet. Only the Data space's lists are kept
    /// (the others carry the handshake), and no more of them than Data
    /// packets are outstanding (an ACK frees about as many as the packets
    /// sent next need), so an idle connection keeps none.
    pub(super) fn recycle_frames(&mut self, space: SpaceId, mut frames: Vec<SentFrame>) {
        if space != SpaceId::Data {
            return;
        }
        let keep = self.spaces[SpaceId::Data as usize].sent.len();
        if keep == 0 {
            self.spare_frames = None;
            return;
        }
        let spare = self.spare_frames.get_or_insert_with(Default::default);
        if frames.capacity() > 0 && spare.len() < keep {
            frames.clear();
            spare.push(frames);
        }
    }

    /// Largest packet number of `space` the peer acknowledged.
    pub(super) fn largest_acked(&self, space: SpaceId) -> Option<u64> {
        self.spaces[space as usize].largest_acked
    }

    /// True when ack-eliciting packets of `space` are outstanding.
    pub(super) fn has_in_flight(&self, space: SpaceId) -> bool {
        !self.spaces[space as usize].sent.is_empty()
    }

    /// Consecutive PTOs so far.
    pub(super) fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// An ACK made progress: the PTO back-off starts over (RFC 9002
    /// §6.2.1).
    pub(super) fn reset_pto_count(&mut self) {
        self.pto_count = 0;
    }

    /// Handles an ACK frame of `space` (RFC 9002 §A.7): which packets it
    /// newly acknowledges, and an RTT sample (with the peer's `ack_delay`
    /// already decoded and capped) when its largest is among them.
    /// Lost packets are found by a following [`Self::detect_lost`].
    pub(super) fn on_ack_received(
        &mut self,
        now: Instant,
        space: SpaceId,
        ack: &Ack,
        ack_delay: Duration,
        rtt: &mut RttEstimator,
    ) -> Acked {
        let sp = &mut self.spaces[space as usize];
        let new_largest = sp.largest_acked.is_none_or(|l| ack.largest > l);
        sp.largest_acked = Some(sp.largest_acked.map_or(ack.largest, |l| l.max(ack.largest)));
        // RFC 9002 §6.1.1, §6.1.2: an ACK for a packet we declared lost
        // shows the path reorders. Raise the reordering thresholds past the
        // distance and the delay seen (as RACK does, RFC 8985 §6.2).
        let mut spurious = 0u64;
        let mut threshold = self.packet_threshold;
        let mut eighths = self.time_threshold_eighths;
        let rtt_now = rtt.latest().max(rtt.smoothed()).max(GRANULARITY);
        sp.recently_lost.retain(|l: &LostPacket| {
            if ack.ranges.iter().any(|r| r.contains(&l.pn)) {
                spurious += 1;
                threshold = threshold.max(l.largest_acked - l.pn + 1);
                let late = now.saturating_duration_since(l.sent);
                let needed = (late.as_nanos() * 8).div_ceil(rtt_now.as_nanos()) + 1;
                eighths = eighths.max(needed.min(u128::from(MAX_TIME_THRESHOLD_EIGHTHS)) as u32);
                false
            } else {
                true
            }
        });
        self.packet_threshold = threshold.min(MAX_PACKET_THRESHOLD);
        self.time_threshold_eighths = eighths;
        let mut packets: Vec<(u64, SentPacket)> = Vec::new();
        for r in &ack.ranges {
            sp.sent.remove_range(r.clone(), &mut packets);
        }
        // RTT sample when the largest acknowledged is newly acknowledged
        // (RFC 9002 §5.1); ack-only packets are never tracked, so every
        // tracked packet is ack-eliciting.
        if let Some((_, p)) = packets.iter().find(|(pn, _)| *pn == ack.largest) {
            rtt.update(ack_delay, now.saturating_duration_since(p.time));
            self.first_rtt_sample.get_or_insert(now);
        }
        Acked {
            packets,
            spurious,
            new_largest,
        }
    }

    /// Declares packets of `space` lost by packet or time threshold
    /// (RFC 9002 §A.10) and re-arms its loss timer. `max_ack_delay` is
    /// the peer's, for the persistent congestion duration.
    /// True when `pn` would be lost by the packet threshold in `space`
    /// (RFC 9002 §6.1.1), not by the time threshold (§6.1.2).
    pub(super) fn lost_by_reordering(&self, space: SpaceId, pn: u64) -> bool {
        self.spaces[space as usize]
            .largest_acked
            .is_some_and(|l| l >= pn + self.packet_threshold)
    }

    pub(super) fn detect_lost(
        &mut self,
        now: Instant,
        space: SpaceId,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
    ) -> Lost {
        let persistent_duration =
            (rtt.pto_base() + max_ack_delay) * PERSISTENT_CONGESTION_THRESHOLD;
        let first_sample = self.first_rtt_sample;
        let sp = &mut self.spaces[space as usize];
        sp.loss_time = None;
        let Some(largest_acked) = sp.largest_acked else {
            return Lost::default();
        };
        let rtt = rtt.latest().max(rtt.smoothed());
        let loss_delay = (rtt * self.time_threshold_eighths / 8).max(GRANULARITY);
        let lost_send_time = now.checked_sub(loss_delay);
        let mut lost = Vec::new();
        for (pn, p) in sp.sent.below(largest_acked) {
            if lost_send_time.is_some_and(|t| p.time <= t)
                || largest_acked >= pn + self.packet_threshold
            {
                lost.push(pn);
            } else {
                let t = p.time + loss_delay;
                sp.loss_time = Some(sp.loss_time.map_or(t, |l| l.min(t)));
            }
        }
        // RFC 9002 §7.6.2: persistent congestion when two lost ack-eliciting
        // packets were sent more than the persistent congestion duration
        // apart, nothing sent between them was acknowledged (a run of
        // consecutive packet numbers, all lost), and an RTT sample existed
        // before the first was sent.
        let mut run: Option<(u64, Instant)> = None;
        let mut out = Lost::default();
        for pn in lost {
            let p = sp.sent.remove(pn).expect("listed");
            if !p.mtu_probe {
                // RFC 8899 §3: a lost probe says nothing about congestion
                // nor about reordering.
                if sp.recently_lost.len() >= RECENTLY_LOST {
                    sp.recently_lost.pop_front();
                }
                sp.recently_lost.push_back(LostPacket {
                    pn,
                    largest_acked,
                    sent: p.time,
                });
                let start = match run {
                    Some((prev, start)) if prev + 1 == pn => start,
                    _ => p.time,
                };
                run = Some((pn, start));
                if first_sample.is_some_and(|f| f < start)
                    && p.time.saturating_duration_since(start) > persistent_duration
                {
                    out.persistent = true;
                }
            }
            out.packets.push((pn, p));
        }
        out
    }

    /// The earliest time-threshold loss timer and its space (RFC 9002 §A.8).
    fn earliest_loss_time(&self) -> Option<(Instant, SpaceId)> {
        SpaceId::ALL
            .iter()
            .filter_map(|&s| self.spaces[s as usize].loss_time.map(|t| (t, s)))
            .min_by_key(|(t, _)| *t)
    }

    /// The PTO deadline and its space (RFC 9002 §A.8). `anti_deadlock`:
    /// for a client whose handshake is not confirmed, the space to probe
    /// and when it last sent an ack-eliciting packet, used when nothing
    /// is in flight (RFC 9002 §6.2.2.1).
    fn pto_time(
        &self,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
        handshake_confirmed: bool,
        anti_deadlock: Option<(SpaceId, Instant)>,
    ) -> Option<(Instant, SpaceId)> {
        let backoff = 1u32 << self.pto_count.min(10);
        if self.spaces.iter().all(|s| s.sent.is_empty()) {
            let (space, base) = anti_deadlock?;
            return Some((base + rtt.pto_base() * backoff, space));
        }
        let mut best: Option<(Instant, SpaceId)> = None;
        for s in SpaceId::ALL {
            let sp = &self.spaces[s as usize];
            if sp.sent.is_empty() {
                continue;
            }
            // RFC 9002 §6.2.1: no application-data PTO before confirmation.
            if s == SpaceId::Data && !handshake_confirmed {
                continue;
            }
            let Some(last) = sp.last_ack_eliciting else {
                continue;
            };
            let t = last + Self::pto_duration(rtt, s, max_ack_delay) * backoff;
            if best.is_none_or(|(b, _)| t < b) {
                best = Some((t, s));
            }
        }
        best
    }

    /// When the loss detection timer fires next, and why: a loss timer
    /// first, else the PTO.
    pub(super) fn timer(
        &self,
        rtt: &RttEstimator,
        max_ack_delay: Duration,
        handshake_confirmed: bool,
        anti_deadlock: Option<(SpaceId, Instant)>,
    ) -> Option<LossTimer> {
        if let Some((t, s)) = self.earliest_loss_time() {
            return Some(LossTimer::Loss(t, s));
        }
        self.pto_time(rtt, max_ack_delay, handshake_confirmed, anti_deadlock)
            .map(|(t, s)| LossTimer::Pto(t, s))
    }

    /// A PTO fired in `space` (RFC 9002 §6.2.4): counts it and restarts
    /// the space's timer base at `now`. The probes' content is
    /// [`probe_frames`](Self::probe_frames).
    pub(super) fn on_pto(&mut self, now: Instant, space: SpaceId) {
        self.pto_count += 1;
        self.spaces[space as usize].last_ack_eliciting = Some(now);
    }

    /// What probes in `space` should carry again (RFC 9002 §6.2.4): for
    /// application data, the frames of the two oldest packets
    /// outstanding; in the handshake spaces, all unacknowledged CRYPTO
    /// data (it is small).
    pub(super) fn probe_frames(&self, space: SpaceId) -> Vec<SentFrame> {
        let sent = self.spaces[space as usize].sent.iter().map(|(_, p)| p);
        if space == SpaceId::Data {
            sent.take(2)
                .flat_map(|p| p.frames.iter().cloned())
                .collect()
        } else {
            sent.flat_map(|p| p.frames.iter().cloned())
                .filter(|f| matches!(f, SentFrame::Crypto { .. }))
                .collect()
        }
    }

    /// The CRYPTO frames of the oldest outstanding packet of `space` that
    /// carries any: what a probe takes again when nothing else waits, so
    /// that every probe of a handshake space carries handshake data
    /// (a PING-only probe teaches the peer nothing, and a server may
    /// reject a first Initial without CRYPTO, RFC 9000 §17.2.2).
    pub(super) fn oldest_crypto(&self, space: SpaceId) -> Vec<SentFrame> {
        self.spaces[space as usize]
            .sent
            .iter()
            .map(|(_, p)| {
                p.frames
                    .iter()
                    .filter(|f| matches!(f, SentFrame::Crypto { .. }))
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .find(|f| !f.is_empty())
            .unwrap_or_default()
    }

    /// True when a packet of `space` larger than `size`, not a PMTU
    /// probe, is outstanding.
    pub(super) fn has_outstanding_larger_than(&self, space: SpaceId, size: u16) -> bool {
        self.spaces[space as usize]
            .sent
            .iter()
            .any(|(_, p)| !p.mtu_probe && p.size > size)
    }

    /// Forgets everything sent in `space` (its keys are discarded, RFC
    /// 9002 §6.4, or a Retry restarts it, §6.3), and restarts the PTO
    /// back-off. Returns the bytes that were in flight.
    pub(super) fn discard(&mut self, space: SpaceId) -> u64 {
        let sp = std::mem::take(&mut self.spaces[space as usize]);
        self.pto_count = 0;
        sp.sent
            .iter()
            .filter(|(_, p)| p.in_flight)
            .map(|(_, p)| u64::from(p.size))
            .sum()
    }

    /// Forgets every packet of every space: the connection closed.
    pub(super) fn clear(&mut self) {
        for sp in self.spaces.iter_mut() {
            sp.sent = SentPackets::default();
            sp.loss_time = None;
        }
    }

    /// Takes out the 0-RTT packets in flight (the server rejected 0-RTT).
    pub(super) fn take_zero_rtt(&mut self) -> Vec<SentPacket> {
        let sp = &mut self.spaces[SpaceId::Data as usize];
        sp.sent
            .remove_where(|_, p| p.zero_rtt)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// The path changed (RFC 9000 §9.4): RTT samples start over.
    pub(super) fn on_new_path(&mut self) {
        self.first_rtt_sample = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::Ack;

    const MS: Duration = Duration::from_millis(1);
    const MAX_ACK_DELAY: Duration = Duration::from_millis(25);

    fn packet(time: Instant) -> SentPacket {
        SentPacket {
            time,
            size: 1200,
            in_flight: true,
            frames: vec![SentFrame::HandshakeDone],
            zero_rtt: false,
            mtu_probe: false,
            ecn: false,
            ecn_testing: false,
            epoch: 0,
        }
    }

    fn ack(ranges: &[std::ops::RangeInclusive<u64>]) -> Ack {
        Ack {
            largest: *ranges[0].end(),
            delay: 0,
            ranges: ranges.to_vec(),
            ecn: None,
        }
    }

    /// `n` packets of the Data space, one every `gap`, from `start`.
    fn sent(n: u64, start: Instant, gap: Duration) -> Recovery {
        let mut r = Recovery::default();
        for pn in 0..n {
            r.on_packet_sent(SpaceId::Data, pn, packet(start + gap * pn as u32));
        }
        r
    }

    fn pns(packets: &[(u64, SentPacket)]) -> Vec<u64> {
        packets.iter().map(|(pn, _)| *pn).collect()
    }

    #[test]
    fn an_ack_acknowledges_its_ranges_and_samples_the_rtt() {
        let t0 = Instant::now();
        let mut r = sent(5, t0, MS);
        let mut rtt = RttEstimator::new(Duration::from_millis(333));
        let now = t0 + 54 * MS;
        let acked = r.on_ack_received(
            now,
            SpaceId::Data,
            &ack(&[3..=4, 0..=1]),
            Duration::ZERO,
            &mut rtt,
        );
        assert_eq!(pns(&acked.packets), [3, 4, 0, 1]);
        // Sampled on the largest acknowledged, sent at 4 ms.
        assert_eq!(rtt.latest(), 50 * MS);
        assert_eq!(r.largest_acked(SpaceId::Data), Some(4));
        // A duplicate ACK acknowledges nothing and takes no sample.
        let again = r.on_ack_received(
            now + MS,
            SpaceId::Data,
            &ack(&[3..=4]),
            Duration::ZERO,
            &mut rtt,
        );
        assert!(again.packets.is_empty());
        assert_eq!(rtt.latest(), 50 * MS);
    }

    #[test]
    fn three_later_packets_acknowledged_declare_a_loss() {
        // RFC 9002 §6.1.1: kPacketThreshold = 3.
        let t0 = Instant::now();
        let mut r = sent(5, t0, Duration::ZERO);
        let mut rtt = RttEstimator::new(Duration::from_millis(100));
        let now = t0 + 100 * MS;
        r.on_ack_received(now, SpaceId::Data, &ack(&[2..=3]), Duration::ZERO, &mut rtt);
        let lost = r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY);
        assert_eq!(pns(&lost.packets), [0], "0 is 3 behind, 1 only 2");
        r.on_ack_received(
            now,
            SpaceId::Data,
            &ack(&[4..=4, 2..=3]),
            Duration::ZERO,
            &mut rtt,
        );
        let lost = r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY);
        assert_eq!(pns(&lost.packets), [1]);
        assert!(!lost.persistent);
    }

    #[test]
    fn an_old_enough_packet_is_lost_by_time_and_a_younger_one_arms_the_timer() {
        // RFC 9002 §6.1.2: 9/8 of the RTT.
        let t0 = Instant::now();
        let mut r = Recovery::default();
        r.on_packet_sent(SpaceId::Data, 0, packet(t0));
        r.on_packet_sent(SpaceId::Data, 1, packet(t0 + 90 * MS));
        r.on_packet_sent(SpaceId::Data, 2, packet(t0 + 100 * MS));
        let mut rtt = RttEstimator::new(Duration::from_millis(333));
        let now = t0 + 200 * MS;
        r.on_ack_received(now, SpaceId::Data, &ack(&[2..=2]), Duration::ZERO, &mut rtt);
        assert_eq!(rtt.latest(), 100 * MS);
        let lost = r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY);
        // Loss delay 112.5 ms: 0 (sent 200 ms ago) is lost, 1 (110 ms) not yet.
        assert_eq!(pns(&lost.packets), [0]);
        let timer = r.timer(&rtt, MAX_ACK_DELAY, true, None);
        assert_eq!(
            timer,
            Some(LossTimer::Loss(
                t0 + 90 * MS + rtt.latest() * 9 / 8,
                SpaceId::Data
            ))
        );
    }

    #[test]
    fn a_spurious_loss_raises_the_reordering_threshold() {
        let t0 = Instant::now();
        let mut r = sent(10, t0, Duration::ZERO);
        let mut rtt = RttEstimator::new(Duration::from_millis(100));
        let now = t0 + 100 * MS;
        r.on_ack_received(now, SpaceId::Data, &ack(&[5..=5]), Duration::ZERO, &mut rtt);
        let lost = r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY);
        assert_eq!(pns(&lost.packets), [0, 1, 2]);
        // The "lost" packet 0 arrives after all: reordering by 6 packets.
        let acked = r.on_ack_received(
            now,
            SpaceId::Data,
            &ack(&[5..=5, 0..=0]),
            Duration::ZERO,
            &mut rtt,
        );
        assert_eq!(acked.spurious, 1);
        assert_eq!(r.packet_threshold, 6);
        // 9 is 6 ahead of 3 but only 5 ahead of 4: with the old threshold
        // of 3, 4 and 6 would be lost too.
        r.on_ack_received(
            now,
            SpaceId::Data,
            &ack(&[9..=9, 5..=5]),
            Duration::ZERO,
            &mut rtt,
        );
        let lost = r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY);
        assert_eq!(pns(&lost.packets), [3]);
    }

    /// Packet 0 acknowledged 10 ms after it went (the first RTT sample),
    /// then `n` packets 200 ms apart; the ACK of `acked` (all of them
    /// past the last) comes 55 ms after the last was sent.
    fn losses_after_a_sample(n: u64, acked: &[u64]) -> Lost {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let mut rtt = RttEstimator::new(Duration::from_millis(100));
        r.on_packet_sent(SpaceId::Data, 0, packet(t0));
        r.on_ack_received(
            t0 + 10 * MS,
            SpaceId::Data,
            &ack(&[0..=0]),
            Duration::ZERO,
            &mut rtt,
        );
        let sent_at = |pn: u64| t0 + 20 * MS + 200 * MS * pn as u32;
        for pn in 1..=n {
            r.on_packet_sent(SpaceId::Data, pn, packet(sent_at(pn)));
        }
        let mut ranges: Vec<_> = acked.iter().rev().map(|&pn| pn..=pn).collect();
        ranges.push(0..=0);
        let now = sent_at(n) + 55 * MS;
        r.on_ack_received(now, SpaceId::Data, &ack(&ranges), Duration::ZERO, &mut rtt);
        r.detect_lost(now, SpaceId::Data, &rtt, MAX_ACK_DELAY)
    }

    #[test]
    fn a_long_run_of_losses_is_persistent_congestion() {
        // RFC 9002 §7.6.2: all lost over more than 3 * (PTO base + max
        // ack delay) = about 300 ms here, with an RTT sample taken before
        // the first was sent.
        let lost = losses_after_a_sample(5, &[5]);
        assert_eq!(pns(&lost.packets), [1, 2, 3, 4]);
        assert!(lost.persistent);
    }

    #[test]
    fn losses_with_an_acknowledged_packet_between_are_not_persistent() {
        // 3 arrived: no run of losses spans the duration.
        let lost = losses_after_a_sample(5, &[3, 5]);
        assert_eq!(pns(&lost.packets), [1, 2, 4]);
        assert!(!lost.persistent);
    }

    #[test]
    fn the_pto_backs_off_and_probes_carry_the_oldest_data() {
        let t0 = Instant::now();
        let mut r = sent(3, t0, MS);
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let base = Recovery::pto_duration(&rtt, SpaceId::Data, MAX_ACK_DELAY);
        // No application-data PTO before the handshake is confirmed.
        assert_eq!(r.timer(&rtt, MAX_ACK_DELAY, false, None), None);
        let first = r.timer(&rtt, MAX_ACK_DELAY, true, None).unwrap();
        assert_eq!(first, LossTimer::Pto(t0 + 2 * MS + base, SpaceId::Data));
        r.on_pto(first.at(), SpaceId::Data);
        let frames = r.probe_frames(SpaceId::Data);
        assert_eq!(frames.len(), 2, "the two oldest packets' frames");
        assert_eq!(r.pto_count(), 1);
        let second = r.timer(&rtt, MAX_ACK_DELAY, true, None).unwrap();
        assert_eq!(second, LossTimer::Pto(first.at() + 2 * base, SpaceId::Data));
        r.reset_pto_count();
        assert_eq!(r.discard(SpaceId::Data), 3 * 1200);
        assert_eq!(r.timer(&rtt, MAX_ACK_DELAY, true, None), None);
    }

    #[test]
    fn probes_in_a_handshake_space_take_its_crypto_again() {
        let t0 = Instant::now();
        let mut r = Recovery::default();
        let crypto = |offset, len| SentFrame::Crypto { offset, len };
        // An ACK-only-like packet first (no CRYPTO), then two with CRYPTO.
        for (pn, frames) in [
            (0, vec![SentFrame::HandshakeDone]),
            (1, vec![crypto(0, 1000)]),
            (2, vec![crypto(1000, 500)]),
        ] {
            r.on_packet_sent(
                SpaceId::Handshake,
                pn,
                SentPacket {
                    frames,
                    ..packet(t0)
                },
            );
        }
        let ranges = |frames: Vec<SentFrame>| -> Vec<(u64, u64)> {
            frames
                .iter()
                .map(|f| match f {
                    SentFrame::Crypto { offset, len } => (*offset, *len),
                    f => panic!("not CRYPTO: {f:?}"),
                })
                .collect()
        };
        assert_eq!(ranges(r.oldest_crypto(SpaceId::Handshake)), [(0, 1000)]);
        assert_eq!(
            ranges(r.probe_frames(SpaceId::Handshake)),
            [(0, 1000), (1000, 500)]
        );
        assert!(r.oldest_crypto(SpaceId::Initial).is_empty());
    }

    #[test]
    fn a_client_probes_when_nothing_is_in_flight_before_confirmation() {
        // RFC 9002 §6.2.2.1: the anti-deadlock PTO.
        let t0 = Instant::now();
        let r = Recovery::default();
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let t = r.timer(&rtt, MAX_ACK_DELAY, false, Some((SpaceId::Handshake, t0)));
        assert_eq!(
            t,
            Some(LossTimer::Pto(t0 + rtt.pto_base(), SpaceId::Handshake))
        );
    }
}
