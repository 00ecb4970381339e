//! ECN on the sending side (RFC 9000 §13.4.2, Appendix A.4; RFC 9002
//! §7.1): whether packets go out marked ECT(0), the validation of the
//! counts the peer reports in its ACK frames, and the CE increases that
//! count as congestion. The counts we report live with the ACK state
//! (`acks.rs`).

use crate::protocol::ecn::EcnCodepoint;
use crate::protocol::frame::EcnCounts;

/// Packets marked while a path is being tested (RFC 9000 §13.4.2
/// suggests ten).
const TESTING_PACKETS: u64 = 10;

/// Where ECN validation of the current path stands (RFC 9000 §A.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcnState {
    /// The first packets on the path go marked.
    Testing,
    /// The testing period is over and no ACK has validated it yet: no
    /// marks until one does.
    Unknown,
    /// Validated: packets go marked ECT(0).
    Capable,
    /// Validation failed (the path or the peer bleaches, drops or
    /// remarks ECN): no marks on this path.
    Failed,
    /// Switched off in the configuration.
    Disabled,
}

/// What an ACK's ECN counts said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EcnVerdict {
    /// Nothing to act on.
    Fine,
    /// The peer's CE count grew: a congestion event (RFC 9002 §7.1).
    Congestion,
}

/// ECN validation of the connection's current path.
#[derive(Debug)]
pub(super) struct Ecn {
    state: EcnState,
    /// Per packet number space: ECT(0) packets sent, and the counts of
    /// the last ACK whose counts were validated.
    sent: [u64; 3],
    reported: [EcnCounts; 3],
    /// Marked packets of the testing period: sent, lost, acknowledged.
    testing_sent: u64,
    testing_lost: u64,
    testing_acked: u64,
    /// Why validation failed, for the logs and the statistics.
    pub(super) failure: Option<&'static str>,
}

impl Ecn {
    /// ECN as configured: tested from the first packet, or off.
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            state: if enabled {
                EcnState::Testing
            } else {
                EcnState::Disabled
            },
            sent: [0; 3],
            reported: [EcnCounts::default(); 3],
            testing_sent: 0,
            testing_lost: 0,
            testing_acked: 0,
            failure: None,
        }
    }

    /// Where validation stands.
    pub(super) fn state(&self) -> EcnState {
        self.state
    }

    /// The peer's last validated counts, summed over the spaces.
    pub(super) fn peer_counts(&self) -> EcnCounts {
        let mut sum = EcnCounts::default();
        for c in &self.reported {
            sum.ect0 += c.ect0;
            sum.ect1 += c.ect1;
            sum.ce += c.ce;
        }
        sum
    }

    /// The codepoint to send with now.
    pub(super) fn codepoint(&self) -> Option<EcnCodepoint> {
        matches!(self.state, EcnState::Testing | EcnState::Capable).then_some(EcnCodepoint::Ect0)
    }

    /// A packet of `space` went out, marked or not.
    pub(super) fn on_sent(&mut self, space: usize, marked: bool) {
        if !marked {
            return;
        }
        self.sent[space] += 1;
        if self.state == EcnState::Testing {
            self.testing_sent += 1;
            if self.testing_sent >= TESTING_PACKETS {
                self.state = EcnState::Unknown;
            }
        }
    }

    /// A marked packet was declared lost. When every packet marked while
    /// testing is lost, the marks are what got them dropped: fail.
    pub(super) fn on_marked_lost(&mut self, testing: bool) {
        if !testing {
            return;
        }
        self.testing_lost += 1;
        if self.state == EcnState::Unknown
            && self.testing_acked == 0
            && self.testing_lost >= self.testing_sent
        {
            self.fail("every marked packet was lost");
        }
    }

    /// True while packets sent now belong to the testing period.
    pub(super) fn testing(&self) -> bool {
        self.state == EcnState::Testing
    }

    /// An ACK frame of `space` that increased the largest acknowledged
    /// packet number (RFC 9000 §13.4.2.1: no other may fail validation)
    /// newly acknowledged `marked` packets sent ECT(0), `testing` of
    /// them in the testing period, and carried `counts`.
    pub(super) fn on_ack(
        &mut self,
        space: usize,
        marked: u64,
        testing: u64,
        counts: Option<EcnCounts>,
    ) -> EcnVerdict {
        if matches!(self.state, EcnState::Failed | EcnState::Disabled) {
            return EcnVerdict::Fine;
        }
        self.testing_acked += testing;
        let Some(counts) = counts else {
            if marked > 0 {
                self.fail("marked packets acknowledged without ECN counts");
            }
            return EcnVerdict::Fine;
        };
        let last = self.reported[space];
        let (Some(ect0), Some(ect1), Some(ce)) = (
            counts.ect0.checked_sub(last.ect0),
            counts.ect1.checked_sub(last.ect1),
            counts.ce.checked_sub(last.ce),
        ) else {
            self.fail("ECN counts went down");
            return EcnVerdict::Fine;
        };
        if ect0 + ce < marked {
            // Fewer ECT(0) or CE arrivals than marked packets acknowledged:
            // the marks were cleared on the way (bleaching) or not read.
            self.fail("ECN marks bleached");
            return EcnVerdict::Fine;
        }
        if ect1 > 0 || counts.ect0 + counts.ce > self.sent[space] {
            // Counts for marks we never set: remarking on the path.
            self.fail("ECN counts exceed the marks sent");
            return EcnVerdict::Fine;
        }
        self.reported[space] = counts;
        if marked > 0 && matches!(self.state, EcnState::Testing | EcnState::Unknown) {
            self.state = EcnState::Capable;
        }
        if ce > 0 {
            EcnVerdict::Congestion
        } else {
            EcnVerdict::Fine
        }
    }

    /// The connection moved to a new path (RFC 9000 §13.4.2: each path is
    /// validated): testing starts over, with the counts so far as the
    /// baseline.
    pub(super) fn on_new_path(&mut self) {
        if self.state == EcnState::Disabled {
            return;
        }
        self.state = EcnState::Testing;
        self.testing_sent = 0;
        self.testing_lost = 0;
        self.testing_acked = 0;
    }

    fn fail(&mut self, why: &'static str) {
        tracing::debug!(why, "ECN validation failed");
        self.state = EcnState::Failed;
        self.failure = Some(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(ect0: u64, ce: u64) -> Option<EcnCounts> {
        Some(EcnCounts { ect0, ect1: 0, ce })
    }

    #[test]
    fn testing_marks_ten_packets_then_waits_for_validation() {
        let mut e = Ecn::new(true);
        for _ in 0..TESTING_PACKETS {
            assert_eq!(e.codepoint(), Some(EcnCodepoint::Ect0));
            e.on_sent(2, true);
        }
        assert_eq!(e.state(), EcnState::Unknown);
        assert_eq!(e.codepoint(), None);
        assert_eq!(e.on_ack(2, 4, 4, counts(4, 0)), EcnVerdict::Fine);
        assert_eq!(e.state(), EcnState::Capable);
        assert_eq!(e.codepoint(), Some(EcnCodepoint::Ect0));
    }

    #[test]
    fn a_ce_increase_is_congestion() {
        let mut e = Ecn::new(true);
        (0..5).for_each(|_| e.on_sent(2, true));
        assert_eq!(e.on_ack(2, 2, 2, counts(2, 0)), EcnVerdict::Fine);
        assert_eq!(e.on_ack(2, 2, 2, counts(3, 1)), EcnVerdict::Congestion);
        assert_eq!(e.on_ack(2, 1, 1, counts(4, 1)), EcnVerdict::Fine);
        assert_eq!(e.state(), EcnState::Capable);
    }

    #[test]
    fn bleaching_fails_validation() {
        // Marked packets acknowledged, the counts did not grow.
        let mut e = Ecn::new(true);
        (0..3).for_each(|_| e.on_sent(2, true));
        e.on_ack(2, 3, 3, counts(0, 0));
        assert_eq!(e.state(), EcnState::Failed);
        assert_eq!(e.codepoint(), None);
        // A peer that reports nothing fails it too.
        let mut e = Ecn::new(true);
        e.on_sent(0, true);
        e.on_ack(0, 1, 1, None);
        assert_eq!(e.state(), EcnState::Failed);
    }

    #[test]
    fn counts_beyond_what_was_marked_or_going_down_fail() {
        let mut e = Ecn::new(true);
        (0..2).for_each(|_| e.on_sent(2, true));
        e.on_ack(2, 1, 1, counts(3, 0));
        assert_eq!(e.failure, Some("ECN counts exceed the marks sent"));
        let mut e = Ecn::new(true);
        (0..4).for_each(|_| e.on_sent(2, true));
        e.on_ack(2, 2, 2, counts(2, 0));
        e.on_ack(2, 0, 0, counts(1, 0));
        assert_eq!(e.failure, Some("ECN counts went down"));
    }

    #[test]
    fn every_marked_packet_lost_fails_and_a_new_path_tests_again() {
        let mut e = Ecn::new(true);
        (0..TESTING_PACKETS).for_each(|_| e.on_sent(2, true));
        (0..TESTING_PACKETS).for_each(|_| e.on_marked_lost(true));
        assert_eq!(e.state(), EcnState::Failed);
        e.on_new_path();
        assert_eq!(e.state(), EcnState::Testing);
        assert_eq!(Ecn::new(false).codepoint(), None);
    }
}
