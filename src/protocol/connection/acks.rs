//! Where ACKs are built: the packet numbers received in one packet number
//! space, when an acknowledgement is owed (RFC 9000 §13.2.1, §13.2.2),
//! and the ACK frame (RFC 9000 §19.3).

use super::FrameStats;
use crate::protocol::ecn::EcnCodepoint;
use crate::protocol::frame::{self, EcnCounts};
use crate::protocol::range_set::RangeSet;
use std::time::{Duration, Instant};

/// Most ACK ranges we track and report per space; older ranges are
/// forgotten (RFC 9000 §13.2.3 allows limiting them).
pub(crate) const MAX_ACK_RANGES: usize = 64;

/// Our ack_delay_exponent (the RFC default).
pub(super) const ACK_DELAY_EXPONENT: u64 = 3;

/// The receive side of one packet number space.
#[derive(Debug, Default)]
pub(super) struct AckState {
    /// Received packet numbers.
    received: RangeSet,
    /// Largest received packet number and when it arrived.
    largest: Option<(u64, Instant)>,
    /// An ACK should be sent now.
    pending: bool,
    /// Ack-eliciting packets received since the last ACK we sent.
    unacked_eliciting: u32,
    /// When a delayed ACK is due.
    deadline: Option<Instant>,
    /// ECN counts of the packets received (RFC 9000 §13.4.1), once any
    /// arrived marked: from then on every ACK carries them.
    ecn: Option<EcnCounts>,
}

impl AckState {
    /// Records a received packet number; false for a duplicate.
    pub(super) fn on_packet_received(&mut self, pn: u64, now: Instant) -> bool {
        if self.received.contains(pn) {
            return false;
        }
        self.received.insert(pn..pn + 1);
        self.received.truncate_low(MAX_ACK_RANGES);
        if self.largest.is_none_or(|(l, _)| pn > l) {
            self.largest = Some((pn, now));
        }
        true
    }

    /// Packet just recorded (not a duplicate) arrived with `codepoint`
    /// (RFC 9000 §13.4.1: counted once per QUIC packet processed).
    pub(super) fn on_ecn(&mut self, codepoint: Option<EcnCodepoint>) {
        let Some(c) = codepoint else {
            return;
        };
        let counts = self.ecn.get_or_insert_with(EcnCounts::default);
        match c {
            EcnCodepoint::Ect0 => counts.ect0 += 1,
            EcnCodepoint::Ect1 => counts.ect1 += 1,
            EcnCodepoint::Ce => counts.ce += 1,
        }
    }

    /// The largest packet number received.
    pub(super) fn largest(&self) -> Option<u64> {
        self.largest.map(|(pn, _)| pn)
    }

    /// Packet `pn`, just recorded, was ack-eliciting: decides when to
    /// acknowledge it (RFC 9000 §13.2.1). `immediately` for the Initial
    /// and Handshake spaces; otherwise every second packet, or one out of
    /// order, is acknowledged at once and others within `max_ack_delay`.
    pub(super) fn on_ack_eliciting(
        &mut self,
        now: Instant,
        pn: u64,
        immediately: bool,
        max_ack_delay: Duration,
    ) {
        self.unacked_eliciting += 1;
        let out_of_order = self.largest.is_some_and(|(l, _)| pn < l)
            || self.received.len() > 1 && self.received.last().is_some_and(|r| r.start == pn);
        if immediately || self.unacked_eliciting >= 2 || out_of_order {
            self.pending = true;
        } else if self.deadline.is_none() {
            self.deadline = Some(now + max_ack_delay);
        }
    }

    /// True when an ACK must go now.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.pending || self.deadline.is_some_and(|t| t <= now)
    }

    /// When a delayed ACK is due.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The delayed-ACK timer: an ACK due by now is owed at once.
    pub(super) fn on_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|t| t <= now) {
            self.pending = true;
            self.deadline = None;
        }
    }

    /// Nothing more is sent in this space (closed): owe nothing.
    pub(super) fn cancel(&mut self) {
        self.pending = false;
        self.deadline = None;
    }

    /// The received ranges for an ACK frame, highest first (RFC 9000 §19.3).
    fn ranges_iter(&self) -> impl Iterator<Item = std::ops::RangeInclusive<u64>> + '_ {
        self.received.iter_rev().map(|r| r.start..=r.end - 1)
    }

    /// [`Self::ranges_iter`], collected.
    #[cfg(test)]
    pub(super) fn ranges(&self) -> Vec<std::ops::RangeInclusive<u64>> {
        self.ranges_iter().collect()
    }

    /// Writes an ACK frame before `limit` when one is owed at all (due,
    /// or delayed: it rides on whatever we send). `with_delay`: report the
    /// ACK Delay (the application space only, RFC 9000 §19.3).
    pub(super) fn write(
        &mut self,
        now: Instant,
        with_delay: bool,
        buf: &mut Vec<u8>,
        limit: usize,
        count: &mut FrameStats,
    ) {
        if !(self.pending || self.deadline.is_some() || self.unacked_eliciting > 0) {
            return;
        }
        let Some((largest, at)) = self.largest else {
            return;
        };
        let delay = now.saturating_duration_since(at).as_micros() as u64 >> ACK_DELAY_EXPONENT;
        let start = buf.len();
        frame::encode_ack(
            buf,
            largest,
            if with_delay { delay } else { 0 },
            self.received.len(),
            self.ranges_iter(),
            self.ecn.as_ref(),
        );
        if buf.len() > limit {
            buf.truncate(start);
            return;
        }
        count.record(frame::ACK);
        self.pending = false;
        self.deadline = None;
        self.unacked_eliciting = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::{Ack, Frame};

    const DELAY: Duration = Duration::from_millis(25);

    fn written(a: &mut AckState, now: Instant) -> Option<Ack> {
        let mut buf = Vec::new();
        a.write(now, true, &mut buf, 1200, &mut FrameStats::default());
        let mut frames = crate::protocol::frame::Frames::new(bytes::Bytes::from(buf));
        match frames.next() {
            Some(Ok(Frame::Ack(ack))) => Some(ack),
            None => None,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ack_ranges_tracked_are_bounded() {
        let mut a = AckState::default();
        let now = Instant::now();
        // Every other packet number: one range each.
        for pn in (0..10_000u64).step_by(2) {
            assert!(a.on_packet_received(pn, now));
        }
        let ranges = a.ranges();
        assert_eq!(ranges.len(), MAX_ACK_RANGES);
        // The newest ranges are the ones kept.
        assert_eq!(ranges[0], 9998..=9998);
        // Duplicates are recognised.
        assert!(!a.on_packet_received(9998, now));
    }

    #[test]
    fn every_second_packet_is_acknowledged_at_once() {
        // RFC 9000 §13.2.2.
        let now = Instant::now();
        let mut a = AckState::default();
        a.on_packet_received(0, now);
        a.on_ack_eliciting(now, 0, false, DELAY);
        assert!(!a.is_due(now));
        assert_eq!(a.deadline(), Some(now + DELAY));
        a.on_packet_received(1, now);
        a.on_ack_eliciting(now, 1, false, DELAY);
        assert!(a.is_due(now));
        let ack = written(&mut a, now).expect("an ACK");
        assert_eq!((ack.largest, ack.ranges.clone()), (1, vec![0..=1]));
        assert!(!a.is_due(now) && a.deadline().is_none());
        assert!(written(&mut a, now).is_none(), "nothing owed any more");
    }

    #[test]
    fn a_gap_is_acknowledged_at_once_and_a_lone_packet_after_the_delay() {
        let now = Instant::now();
        let mut a = AckState::default();
        a.on_packet_received(0, now);
        a.on_ack_eliciting(now, 0, false, DELAY);
        written(&mut a, now).unwrap();
        // 2 arrives before 1: out of order (RFC 9000 §13.2.1).
        a.on_packet_received(2, now);
        a.on_ack_eliciting(now, 2, false, DELAY);
        assert!(a.is_due(now));
        let ack = written(&mut a, now).unwrap();
        assert_eq!(ack.ranges, vec![2..=2, 0..=0]);
        // In order again: delayed, then due once the timer fires.
        a.on_packet_received(3, now);
        a.on_ack_eliciting(now, 3, false, DELAY);
        assert!(!a.is_due(now));
        a.on_timeout(now + DELAY);
        assert!(a.is_due(now + DELAY));
        let ack = written(&mut a, now + DELAY).unwrap();
        // ACK Delay in units of 2^3 microseconds.
        assert_eq!(ack.delay, 25_000 >> ACK_DELAY_EXPONENT);
    }

    #[test]
    fn handshake_spaces_acknowledge_immediately() {
        let now = Instant::now();
        let mut a = AckState::default();
        a.on_packet_received(0, now);
        a.on_ack_eliciting(now, 0, true, DELAY);
        assert!(a.is_due(now));
        a.cancel();
        assert!(!a.is_due(now));
    }
}
