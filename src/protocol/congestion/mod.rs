//! Congestion control (RFC 9002 §7) behind one trait, with NewReno and
//! CUBIC (RFC 9438, HyStart++ slow start per RFC 9406), and a pacer that
//! spreads the window over the RTT (RFC 9002 §7.7).
//!
//! [`Congestion`] owns what every algorithm shares: bytes in flight, the
//! recovery period (one reduction per loss event, RFC 9002 §7.3.2) and the
//! app-limited rule; a [`Controller`] only grows and shrinks the window.

mod cubic;
mod new_reno;
mod pacing;

pub(super) use cubic::Cubic;
pub(super) use new_reno::NewReno;
pub(super) use pacing::Pacer;

use super::rtt::RttEstimator;
use std::fmt;
use std::time::Instant;

/// Which congestion controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CongestionAlgorithm {
    /// RFC 9002 NewReno.
    NewReno,
    /// RFC 9438 CUBIC with HyStart++ (the default, as in quinn and msquic).
    #[default]
    Cubic,
}

/// The congestion controller's state, for debugging and `congestion_state()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CongestionState {
    /// Congestion window in bytes.
    pub window: u64,
    /// Bytes in flight.
    pub in_flight: u64,
    /// Slow start threshold in bytes (`u64::MAX` before the first loss).
    pub ssthresh: u64,
    /// Algorithm name.
    pub algorithm: &'static str,
    /// Where the controller is (RFC 9002 §7.3).
    pub phase: CongestionPhase,
}

/// The phases of RFC 9002 §7.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CongestionPhase {
    /// The window grows by what is acknowledged.
    SlowStart,
    /// After a loss, until a packet sent after it is acknowledged: the
    /// window does not grow.
    Recovery,
    /// Growth past ssthresh, slower.
    CongestionAvoidance,
}

/// A window-growth algorithm.
pub(super) trait Controller: Send + fmt::Debug {
    /// A copy, kept before a reduction so a spurious one can be undone.
    fn clone_box(&self) -> Box<dyn Controller>;
    /// `bytes` sent at `sent` were acknowledged at `now`, outside recovery
    /// and while the sender was not app-limited.
    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator);
    /// A loss event started at `now` (once per recovery period); with
    /// `persistent`, persistent congestion was detected (RFC 9002 §7.6).
    fn on_congestion_event(&mut self, now: Instant, persistent: bool);
    /// The congestion window in bytes.
    fn window(&self) -> u64;
    /// The slow start threshold.
    fn ssthresh(&self) -> u64;
    /// A short name for diagnostics.
    fn name(&self) -> &'static str;
}

/// Shared congestion state around a [`Controller`].
#[derive(Debug)]
pub(super) struct Congestion {
    controller: Box<dyn Controller>,
    recovery_start: Option<Instant>,
    /// In the recovery period (RFC 9002 §7.3.2).
    in_recovery: bool,
    /// The controller as it was before the current loss event.
    before_event: Option<Box<dyn Controller>>,
    /// Packets declared lost in the current event, and how many of those
    /// were later acknowledged after all.
    event_lost: u64,
    event_spurious: u64,
    /// Loss events undone because every loss in them was spurious.
    pub spurious_events: u64,
    /// Bytes counted in flight.
    pub in_flight: u64,
    /// How many times the window was reduced.
    pub congestion_events: u64,
}

impl Congestion {
    /// A controller of kind `algorithm` for datagrams of `mds` bytes.
    pub(super) fn new(algorithm: CongestionAlgorithm, initial_window: u64, mds: u64) -> Self {
        let controller: Box<dyn Controller> = match algorithm {
            CongestionAlgorithm::NewReno => Box::new(NewReno::new(initial_window, mds)),
            CongestionAlgorithm::Cubic => Box::new(Cubic::new(initial_window, mds)),
        };
        Self {
            controller,
            recovery_start: None,
            in_recovery: false,
            before_event: None,
            event_lost: 0,
            event_spurious: 0,
            spurious_events: 0,
            in_flight: 0,
            congestion_events: 0,
        }
    }

    /// Bytes that may still be sent now.
    pub(super) fn available(&self) -> u64 {
        self.controller.window().saturating_sub(self.in_flight)
    }

    /// The current window.
    pub(super) fn window(&self) -> u64 {
        self.controller.window()
    }

    /// A packet of `bytes` was sent.
    pub(super) fn on_sent(&mut self, bytes: u64) {
        self.in_flight += bytes;
    }

    /// A packet left flight without ack or loss (discarded keys).
    pub(super) fn on_removed(&mut self, bytes: u64) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }

    /// A packet sent at `sent` was acknowledged (RFC 9002 §7.3.1, §7.8).
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        rtt: &RttEstimator,
        app_limited: bool,
    ) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        // No growth for packets sent before recovery began, nor while the
        // application, not the window, limits sending.
        if self.recovery_start.is_some_and(|s| sent <= s) {
            return;
        }
        // RFC 9002 §7.3.2: a packet sent during recovery was acknowledged.
        self.in_recovery = false;
        if app_limited {
            return;
        }
        self.controller.on_ack(now, sent, bytes, rtt);
    }

    /// Packets were declared lost; the newest was sent at `largest_sent`
    /// (RFC 9002 §7.3.2). `persistent`: persistent congestion (§7.6).
    pub(super) fn on_loss(
        &mut self,
        bytes: u64,
        packets: u64,
        largest_sent: Instant,
        now: Instant,
        persistent: bool,
    ) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        let new_event = self.recovery_start.is_none_or(|s| largest_sent > s);
        if new_event || persistent {
            self.recovery_start = Some(now);
            self.in_recovery = true;
            self.congestion_events += 1;
            self.before_event = (!persistent).then(|| self.controller.clone_box());
            self.event_lost = 0;
            self.event_spurious = 0;
            self.controller.on_congestion_event(now, persistent);
        }
        self.event_lost += packets;
    }

    /// The peer reported more CE marks (RFC 9002 §7.1); the newest packet
    /// the ACK acknowledged was sent at `largest_sent`. A congestion event
    /// unless recovery began after that packet went (§7.3.2); unlike a
    /// loss it is never undone. Returns whether the window was reduced.
    pub(super) fn on_ce(&mut self, largest_sent: Instant, now: Instant) -> bool {
        if self.recovery_start.is_some_and(|s| largest_sent <= s) {
            return false;
        }
        self.recovery_start = Some(now);
        self.in_recovery = true;
        self.congestion_events += 1;
        self.before_event = None;
        self.event_lost = 0;
        self.event_spurious = 0;
        self.controller.on_congestion_event(now, false);
        true
    }

    /// A packet declared lost in the current event was acknowledged after
    /// all (it was reordered, not lost). When every loss of the event turns
    /// out spurious, the reduction is undone (RFC 9002 §7 allows undoing a
    /// reduction that a later ACK shows was unnecessary).
    pub(super) fn on_spurious_loss(&mut self) {
        self.event_spurious += 1;
        if self.event_spurious >= self.event_lost {
            if let Some(prev) = self.before_event.take() {
                self.controller = prev;
                self.recovery_start = None;
                self.in_recovery = false;
                self.spurious_events += 1;
            }
        }
    }

    /// The state snapshot.
    pub(super) fn state(&self) -> CongestionState {
        CongestionState {
            window: self.controller.window(),
            in_flight: self.in_flight,
            ssthresh: self.controller.ssthresh(),
            algorithm: self.controller.name(),
            phase: if self.in_recovery {
                CongestionPhase::Recovery
            } else if self.controller.window() < self.controller.ssthresh() {
                CongestionPhase::SlowStart
            } else {
                CongestionPhase::CongestionAvoidance
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rtt(ms: u64) -> RttEstimator {
        let mut r = RttEstimator::new(Duration::from_millis(ms));
        r.update(Duration::ZERO, Duration::from_millis(ms));
        r
    }

    #[test]
    fn one_reduction_per_recovery_period() {
        for alg in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let t0 = Instant::now();
            let mut c = Congestion::new(alg, 12_000, 1200);
            c.on_sent(12_000);
            c.on_loss(1200, 1, t0, t0 + Duration::from_millis(10), false);
            let w = c.window();
            assert!(w < 12_000, "{alg:?} reduced");
            // A loss of a packet sent before recovery began: no new cut.
            c.on_loss(
                1200,
                1,
                t0 + Duration::from_millis(5),
                t0 + Duration::from_millis(11),
                false,
            );
            assert_eq!(c.window(), w);
            assert_eq!(c.congestion_events, 1);
            // Acks of packets sent before recovery do not grow the window.
            c.on_ack(t0 + Duration::from_millis(12), t0, 1200, &rtt(10), false);
            assert_eq!(c.window(), w);
        }
    }

    #[test]
    fn spurious_loss_event_is_undone() {
        let t0 = Instant::now();
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 60_000, 1200);
        c.on_sent(2400);
        c.on_loss(2400, 2, t0, t0 + Duration::from_millis(10), false);
        assert!(c.window() < 60_000);
        c.on_spurious_loss();
        assert!(c.window() < 60_000, "one of two losses was real so far");
        c.on_spurious_loss();
        assert_eq!(c.window(), 60_000);
        assert_eq!(c.spurious_events, 1);
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let t0 = Instant::now();
        let mut c = Congestion::new(CongestionAlgorithm::Cubic, 12_000, 1200);
        c.on_sent(1200);
        c.on_ack(t0 + Duration::from_millis(10), t0, 1200, &rtt(10), true);
        assert_eq!(c.window(), 12_000);
        c.on_sent(1200);
        c.on_ack(t0 + Duration::from_millis(10), t0, 1200, &rtt(10), false);
        assert_eq!(c.window(), 13_200);
    }

    #[test]
    fn persistent_congestion_collapses_window() {
        for alg in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let t0 = Instant::now();
            let mut c = Congestion::new(alg, 120_000, 1200);
            c.on_loss(1200, 1, t0, t0 + Duration::from_secs(1), true);
            assert_eq!(c.window(), 2400, "{alg:?}");
        }
    }

    #[test]
    fn phases_follow_rfc9002() {
        for alg in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let t0 = Instant::now();
            let ms = |n| t0 + Duration::from_millis(n);
            let mut c = Congestion::new(alg, 12_000, 1200);
            assert_eq!(c.state().phase, CongestionPhase::SlowStart, "{alg:?}");
            c.on_sent(3600);
            c.on_loss(1200, 1, t0, ms(10), false);
            assert_eq!(c.state().phase, CongestionPhase::Recovery);
            // A packet sent before the loss was noticed: still recovering.
            c.on_ack(ms(11), ms(5), 1200, &rtt(10), false);
            assert_eq!(c.state().phase, CongestionPhase::Recovery);
            // One sent after: recovery is over, above ssthresh now.
            c.on_ack(ms(30), ms(20), 1200, &rtt(10), false);
            assert_eq!(c.state().phase, CongestionPhase::CongestionAvoidance);
            assert_eq!(c.state().algorithm, c.controller.name());
        }
    }
}
