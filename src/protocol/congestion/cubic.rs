//! CUBIC (RFC 9438) with HyStart++ slow start (RFC 9406).

use super::Controller;
use crate::protocol::rtt::RttEstimator;
use std::time::{Duration, Instant};

/// RFC 9438 §4.1: C = 0.4 (segments per second cubed).
const C: f64 = 0.4;
/// RFC 9438 §4.6: multiplicative decrease factor.
const BETA: f64 = 0.7;
/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u32 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: u64 = 4;
const CSS_ROUNDS: u32 = 5;

/// Where slow start is (RFC 9406 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    SlowStart,
    /// Conservative Slow Start, entered when RTTs grew, with the RTT
    /// baseline that made it enter and the rounds spent in it.
    Css {
        baseline: Duration,
        rounds: u32,
    },
    CongestionAvoidance,
}

/// The CUBIC controller.
#[derive(Debug, Clone)]
pub(crate) struct Cubic {
    mds: u64,
    window: u64,
    ssthresh: u64,
    phase: Phase,
    /// W_max in bytes: the window before the last reduction.
    w_max: f64,
    /// K in seconds (RFC 9438 §4.2).
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch: Option<Instant>,
    /// W_est, the Reno-friendly window estimate in bytes (§4.3).
    w_est: f64,
    /// Acked bytes not yet turned into window growth (sub-byte precision).
    carry: f64,
    // HyStart++ round tracking (RFC 9406 §4.2): a round ends when a packet
    // sent after it began is acknowledged.
    round_start: Option<Instant>,
    last_round_min_rtt: Option<Duration>,
    current_round_min_rtt: Option<Duration>,
    rtt_samples: u32,
}

impl Cubic {
    /// Starts with `initial_window` bytes for datagrams of `mds` bytes.
    pub(crate) fn new(initial_window: u64, mds: u64) -> Self {
        Self {
            mds,
            window: initial_window,
            ssthresh: u64::MAX,
            phase: Phase::SlowStart,
            w_max: 0.0,
            k: 0.0,
            epoch: None,
            w_est: 0.0,
            carry: 0.0,
            round_start: None,
            last_round_min_rtt: None,
            current_round_min_rtt: None,
            rtt_samples: 0,
        }
    }

    fn segments(&self, bytes: f64) -> f64 {
        bytes / self.mds as f64
    }

    /// W_cubic(t) in bytes (RFC 9438 §4.2).
    fn w_cubic(&self, t: f64) -> f64 {
        let segs = C * (t - self.k).powi(3) + self.segments(self.w_max);
        segs * self.mds as f64
    }

    /// HyStart++ bookkeeping for one ack in slow start (RFC 9406 §4.2).
    fn hystart(&mut self, sent: Instant, now: Instant, rtt: &RttEstimator) {
        match self.round_start {
            Some(start) if sent >= start => {
                // A new round begins.
                self.last_round_min_rtt = self.current_round_min_rtt.take();
                self.rtt_samples = 0;
                self.round_start = Some(now);
                if let Phase::Css { baseline, rounds } = self.phase {
                    if rounds + 1 >= CSS_ROUNDS {
                        // Leave slow start for congestion avoidance.
                        self.ssthresh = self.window;
                        self.phase = Phase::CongestionAvoidance;
                        return;
                    }
                    self.phase = Phase::Css {
                        baseline,
                        rounds: rounds + 1,
                    };
                }
            }
            None => self.round_start = Some(now),
            _ => {}
        }
        let latest = rtt.latest();
        self.current_round_min_rtt =
            Some(self.current_round_min_rtt.map_or(latest, |m| m.min(latest)));
        self.rtt_samples += 1;
        match self.phase {
            Phase::SlowStart => {
                if let (Some(cur), Some(last)) =
                    (self.current_round_min_rtt, self.last_round_min_rtt)
                {
                    if self.rtt_samples >= N_RTT_SAMPLE {
                        let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH, MAX_RTT_THRESH);
                        if cur >= last + thresh {
                            self.phase = Phase::Css {
                                baseline: cur,
                                rounds: 0,
                            };
                        }
                    }
                }
            }
            Phase::Css { baseline, .. } => {
                if self.current_round_min_rtt.is_some_and(|c| c < baseline) {
                    // The RTT increase was spurious: resume slow start.
                    self.phase = Phase::SlowStart;
                }
            }
            Phase::CongestionAvoidance => {}
        }
    }
}

impl Controller for Cubic {
    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn on_ack(&mut self, now: Instant, sent: Instant, bytes: u64, rtt: &RttEstimator) {
        if self.window < self.ssthresh && self.phase != Phase::CongestionAvoidance {
            self.hystart(sent, now, rtt);
            match self.phase {
                Phase::SlowStart => self.window += bytes,
                Phase::Css { .. } => self.window += bytes / CSS_GROWTH_DIVISOR,
                Phase::CongestionAvoidance => {}
            }
            return;
        }
        self.phase = Phase::CongestionAvoidance;
        let cwnd = self.window as f64;
        let epoch = *self.epoch.get_or_insert_with(|| {
            // RFC 9438 §4.2: a new epoch; K from how far below W_max we are.
            if self.w_max <= cwnd {
                self.k = 0.0;
                self.w_max = cwnd;
            } else {
                self.k = ((self.w_max - cwnd) / self.mds as f64 / C).cbrt();
            }
            self.w_est = cwnd;
            now
        });
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let rtt_s = rtt.smoothed().as_secs_f64();
        // RFC 9438 §4.2: target = W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
        let target = self.w_cubic(t + rtt_s).clamp(cwnd, 1.5 * cwnd);
        // RFC 9438 §4.3: the Reno-friendly estimate.
        let alpha = 3.0 * (1.0 - BETA) / (1.0 + BETA);
        self.w_est += alpha * bytes as f64 / cwnd * self.mds as f64;
        let growth = if self.w_est > target {
            // Reno-friendly region: grow as Reno would.
            (self.w_est - cwnd).max(0.0) * bytes as f64 / cwnd
        } else {
            // Concave or convex region (§4.4, §4.5).
            (target - cwnd) * bytes as f64 / cwnd
        };
        self.carry += growth;
        let whole = self.carry.floor();
        self.carry -= whole;
        self.window += whole as u64;
    }

    fn on_congestion_event(&mut self, _now: Instant, persistent: bool) {
        let cwnd = self.window as f64;
        // RFC 9438 §4.7: fast convergence.
        self.w_max = if cwnd < self.w_max {
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.window = ((cwnd * BETA) as u64).max(2 * self.mds);
        self.ssthresh = self.window;
        self.epoch = None;
        self.carry = 0.0;
        self.phase = Phase::CongestionAvoidance;
        if persistent {
            // RFC 9438 §4.8 / RFC 9002 §7.6.2.
            self.window = 2 * self.mds;
            self.w_max = 0.0;
        }
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn name(&self) -> &'static str {
        "Cubic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtt(ms: u64) -> RttEstimator {
        let mut r = RttEstimator::new(Duration::from_millis(ms));
        r.update(Duration::ZERO, Duration::from_millis(ms));
        r
    }

    #[test]
    fn reduction_is_beta_and_growth_returns_to_w_max() {
        let t0 = Instant::now();
        let mut c = Cubic::new(100 * 1200, 1200);
        c.on_congestion_event(t0, false);
        assert_eq!(c.window(), 84_000); // 0.7 x 120000
                                        // Ack a window's worth every RTT for K seconds: back near W_max.
        let r = rtt(20);
        let mut now = t0;
        for _ in 0..300 {
            now += Duration::from_millis(20);
            let w = c.window();
            for _ in 0..w / 1200 {
                c.on_ack(now, now - Duration::from_millis(20), 1200, &r);
            }
        }
        // K = cbrt(36 segments / 0.4) ~ 4.5 s; after 6 s we are above W_max.
        assert!(c.window() > 120_000, "window {}", c.window());
    }

    #[test]
    fn hystart_leaves_slow_start_when_rtt_grows() {
        let t0 = Instant::now();
        let mut c = Cubic::new(10 * 1200, 1200);
        let mut now = t0;
        let mut rtt_ms = 20;
        for round in 0..20 {
            let r = rtt(rtt_ms);
            let start = now;
            now += Duration::from_millis(rtt_ms);
            for _ in 0..16 {
                c.on_ack(now, start + Duration::from_micros(1), 1200, &r);
            }
            if round >= 3 {
                rtt_ms += 10; // queue building up
            }
        }
        assert_ne!(c.ssthresh(), u64::MAX, "left slow start without loss");
    }
}
