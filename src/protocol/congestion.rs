//! Congestion control (RFC 9002 §7): NewReno.

use std::time::{Duration, Instant};

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
}

/// NewReno (RFC 9002 §7.3, Appendix B).
#[derive(Debug, Clone)]
pub struct NewReno {
    max_datagram_size: u64,
    window: u64,
    ssthresh: u64,
    bytes_acked: u64,
    recovery_start: Option<Instant>,
    /// Bytes counted in flight.
    pub in_flight: u64,
    /// How many times the window was reduced.
    pub congestion_events: u64,
}

impl NewReno {
    /// A controller with `initial_window` bytes for datagrams of `mds` bytes.
    pub fn new(initial_window: u64, mds: u64) -> Self {
        Self {
            max_datagram_size: mds,
            window: initial_window,
            ssthresh: u64::MAX,
            bytes_acked: 0,
            recovery_start: None,
            in_flight: 0,
            congestion_events: 0,
        }
    }

    fn min_window(&self) -> u64 {
        2 * self.max_datagram_size
    }

    /// Bytes that may still be sent now.
    pub fn available(&self) -> u64 {
        self.window.saturating_sub(self.in_flight)
    }

    /// The current window.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// A packet of `bytes` was sent.
    pub fn on_sent(&mut self, bytes: u64) {
        self.in_flight += bytes;
    }

    /// A packet left flight without ack or loss (discarded keys).
    pub fn on_removed(&mut self, bytes: u64) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
    }

    /// A packet sent at `sent_time` was acknowledged (RFC 9002 §7.3.1, §7.3.2).
    pub fn on_ack(&mut self, bytes: u64, sent_time: Instant, app_limited: bool) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        if self.recovery_start.is_some_and(|s| sent_time <= s) || app_limited {
            return;
        }
        if self.window < self.ssthresh {
            self.window += bytes;
        } else {
            self.bytes_acked += bytes;
            if self.bytes_acked >= self.window {
                self.bytes_acked -= self.window;
                self.window += self.max_datagram_size;
            }
        }
    }

    /// Packets were declared lost; the newest was sent at `largest_sent`
    /// (RFC 9002 §7.3.2). `persistent`: persistent congestion (§7.6).
    pub fn on_loss(&mut self, bytes: u64, largest_sent: Instant, now: Instant, persistent: bool) {
        self.in_flight = self.in_flight.saturating_sub(bytes);
        if self.recovery_start.is_none_or(|s| largest_sent > s) {
            self.recovery_start = Some(now);
            self.window = (self.window / 2).max(self.min_window());
            self.ssthresh = self.window;
            self.bytes_acked = 0;
            self.congestion_events += 1;
        }
        if persistent {
            self.window = self.min_window();
        }
    }

    /// The state snapshot.
    pub fn state(&self) -> CongestionState {
        CongestionState {
            window: self.window,
            in_flight: self.in_flight,
            ssthresh: self.ssthresh,
            algorithm: "NewReno",
        }
    }

    /// Time between packets to spread the window over an RTT (pacing),
    /// with a burst allowance handled by the caller.
    pub fn pacing_interval(&self, rtt: Duration, bytes: u64) -> Duration {
        if self.window == 0 {
            return Duration::ZERO;
        }
        // Pace at 1.25 x cwnd / rtt (RFC 9002 §7.7).
        rtt.mul_f64(bytes as f64 / (self.window as f64 * 1.25))
    }
}
