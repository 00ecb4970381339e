//! The connection's timers, collapsed into one deadline (RFC 9000 §10,
//! RFC 9002 §6): each part reports when it wants to be woken, the table
//! answers which is next and which are due.

use super::{Connection, State};
use std::time::Instant;

/// One of the connection's timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// The closing or draining period ends (RFC 9000 §10.2).
    Close,
    /// Nothing was heard for the idle timeout (RFC 9000 §10.1).
    Idle,
    /// Loss detection: a time-threshold loss or a PTO (RFC 9002 §6).
    LossDetection,
    /// A delayed ACK is due (RFC 9000 §13.2.1).
    AckDelay,
    /// The path being validated gives up (RFC 9000 §8.2.4).
    PathValidation,
    /// The next PMTU probe may go (RFC 8899).
    MtuProbe,
    /// The pacer lets the next packet go (RFC 9002 §7.7).
    Pacing,
    /// A PING keeps the connection alive.
    KeepAlive,
}

impl Timer {
    /// Every timer.
    const ALL: [Timer; 8] = [
        Timer::Close,
        Timer::Idle,
        Timer::LossDetection,
        Timer::AckDelay,
        Timer::PathValidation,
        Timer::MtuProbe,
        Timer::Pacing,
        Timer::KeepAlive,
    ];
}

/// When each timer fires, if it is armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct TimerTable([Option<Instant>; Timer::ALL.len()]);

impl TimerTable {
    /// Arms `timer` for `at`, or disarms it with `None`. Arming an armed
    /// timer keeps the earlier deadline.
    pub(super) fn set(&mut self, timer: Timer, at: Option<Instant>) {
        let slot = &mut self.0[timer as usize];
        *slot = match (*slot, at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// When `timer` fires.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.0[timer as usize]
    }

    /// True when `timer` is armed for `now` or earlier.
    pub(super) fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// The earliest armed timer and its deadline.
    pub(super) fn next(&self) -> Option<(Timer, Instant)> {
        // A plain scan: this runs on every drive of the connection.
        let mut next: Option<(Timer, Instant)> = None;
        for (&timer, &at) in Timer::ALL.iter().zip(&self.0) {
            if let Some(at) = at {
                if next.is_none_or(|(_, earliest)| at < earliest) {
                    next = Some((timer, at));
                }
            }
        }
        next
    }
}

impl Connection {
    /// Every timer the connection's parts want, now.
    fn timers(&self) -> TimerTable {
        let mut t = TimerTable::default();
        t.set(Timer::Close, self.close.deadline);
        if matches!(self.state, State::Closing | State::Draining) {
            return t;
        }
        t.set(Timer::Idle, self.idle_deadline);
        t.set(Timer::PathValidation, self.path_validation_deadline());
        t.set(Timer::MtuProbe, self.mtu_probe_deadline());
        t.set(Timer::Pacing, self.path.pacing_until);
        t.set(Timer::LossDetection, self.loss_timer().map(|l| l.at()));
        for sp in self.spaces.iter() {
            t.set(Timer::AckDelay, sp.acks.deadline());
        }
        // Keep-alive as quinn's: a PING once nothing was received for the
        // interval, again every interval while the silence lasts.
        if let (Some(ka), Some(from), true) = (
            self.config.keep_alive_interval,
            self.keep_alive_from,
            self.handshake_complete,
        ) {
            t.set(Timer::KeepAlive, Some(from + ka));
        }
        t
    }

    /// When [`Connection::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Drained {
            return None;
        }
        self.timers().next().map(|(_, at)| at)
    }

    /// Handles the connection's timers that are due. The PMTU probe and
    /// pacing timers need no action: `poll_transmit` sends what they held.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timers = self.timers();
        if self.on_close_timers(now) {
            return;
        }
        if timers.is_due(Timer::LossDetection, now) {
            self.on_loss_timeout(now);
        }
        if timers.is_due(Timer::PathValidation, now) {
            self.on_path_validation_timeout(now);
        }
        if timers.is_due(Timer::AckDelay, now) {
            for sp in self.spaces.iter_mut() {
                sp.acks.on_timeout(now);
            }
        }
        if timers.is_due(Timer::KeepAlive, now) && self.one_rtt.is_some() {
            self.pending.ping = true;
            self.keep_alive_from = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_earliest_armed_timer_is_next() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Idle, Some(now + Duration::from_secs(30)));
        t.set(Timer::LossDetection, Some(now + Duration::from_millis(5)));
        t.set(Timer::AckDelay, None);
        assert_eq!(
            t.next(),
            Some((Timer::LossDetection, now + Duration::from_millis(5)))
        );
        assert!(t.is_due(Timer::LossDetection, now + Duration::from_millis(5)));
        assert!(!t.is_due(Timer::Idle, now + Duration::from_millis(5)));
        assert!(!t.is_due(Timer::AckDelay, now + Duration::from_secs(60)));
    }

    #[test]
    fn arming_twice_keeps_the_earlier_deadline() {
        // Per-space ACK deadlines share one timer: the earliest wins.
        let now = Instant::now();
        let mut t = TimerTable::default();
        t.set(Timer::AckDelay, Some(now + Duration::from_millis(25)));
        t.set(Timer::AckDelay, Some(now + Duration::from_millis(10)));
        t.set(Timer::AckDelay, None);
        t.set(Timer::AckDelay, Some(now + Duration::from_millis(20)));
        assert_eq!(
            t.get(Timer::AckDelay),
            Some(now + Duration::from_millis(10))
        );
    }
}
