//! RTT estimation (RFC 9002 §5).

use std::time::Duration;

/// Granularity of the loss timers (RFC 9002 §6.1.2, kGranularity).
pub(super) const GRANULARITY: Duration = Duration::from_millis(1);

/// Smoothed RTT, variance and minimum, per RFC 9002 §5.3.
#[derive(Debug, Clone, Copy)]
pub(super) struct RttEstimator {
    latest: Duration,
    smoothed: Option<Duration>,
    var: Duration,
    min: Duration,
    initial: Duration,
}

impl RttEstimator {
    /// An estimator that reports `initial` until the first sample.
    pub(super) fn new(initial: Duration) -> Self {
        Self {
            latest: initial,
            smoothed: None,
            var: initial / 2,
            min: initial,
            initial,
        }
    }

    /// The smoothed RTT (or the initial RTT before any sample).
    pub(super) fn smoothed(&self) -> Duration {
        self.smoothed.unwrap_or(self.initial)
    }

    /// The latest RTT sample.
    pub(super) fn latest(&self) -> Duration {
        self.latest
    }

    /// The RTT variation (rttvar).
    pub(super) fn variance(&self) -> Duration {
        self.var
    }

    /// The minimum RTT seen.
    pub(super) fn min(&self) -> Duration {
        self.min
    }

    /// The PTO base: smoothed_rtt + max(4*rttvar, kGranularity)
    /// (RFC 9002 §6.2.1), without max_ack_delay.
    pub(super) fn pto_base(&self) -> Duration {
        self.smoothed() + (4 * self.var).max(GRANULARITY)
    }

    /// Takes a sample (RFC 9002 §5.3). `ack_delay` is already limited to
    /// max_ack_delay by the caller once the handshake is confirmed.
    pub(super) fn update(&mut self, ack_delay: Duration, sample: Duration) {
        self.latest = sample;
        match self.smoothed {
            None => {
                self.min = sample;
                self.smoothed = Some(sample);
                self.var = sample / 2;
            }
            Some(smoothed) => {
                self.min = self.min.min(sample);
                let adjusted = if sample >= self.min + ack_delay {
                    sample - ack_delay
                } else {
                    sample
                };
                let diff = smoothed.abs_diff(adjusted);
                self.var = (3 * self.var + diff) / 4;
                self.smoothed = Some((7 * smoothed + adjusted) / 8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_then_smoothing() {
        let mut r = RttEstimator::new(Duration::from_millis(333));
        assert_eq!(r.smoothed(), Duration::from_millis(333));
        r.update(Duration::ZERO, Duration::from_millis(100));
        assert_eq!(r.smoothed(), Duration::from_millis(100));
        assert_eq!(r.min(), Duration::from_millis(100));
        r.update(Duration::from_millis(20), Duration::from_millis(140));
        // adjusted = 120; smoothed = (700 + 120) / 8 = 102.5 ms
        assert_eq!(r.smoothed(), Duration::from_micros(102_500));
    }
}
