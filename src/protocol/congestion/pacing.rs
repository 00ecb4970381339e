//! A token-bucket pacer (RFC 9002 §7.7): sending may burst a little, then
//! is spread at 1.25 x window / RTT.

use std::time::{Duration, Instant};

/// Bursts last at most this long at the pacing rate.
const BURST_INTERVAL: Duration = Duration::from_millis(2);
/// Smallest burst, in datagrams.
const MIN_BURST: u64 = 10;
/// Largest burst, in datagrams.
const MAX_BURST: u64 = 256;

/// Paces ack-eliciting packets.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    tokens: u64,
    capacity: u64,
    last: Option<Instant>,
}

impl Default for Pacer {
    fn default() -> Self {
        Self::new()
    }
}

impl Pacer {
    /// An empty pacer; the first call fills it.
    pub(crate) fn new() -> Self {
        Self {
            tokens: 0,
            capacity: 0,
            last: None,
        }
    }

    fn capacity(window: u64, mtu: u64, rtt: Duration) -> u64 {
        let rtt_ns = rtt.as_nanos().max(1);
        let burst = (u128::from(window) * BURST_INTERVAL.as_nanos() / rtt_ns) as u64;
        burst.clamp(MIN_BURST * mtu, MAX_BURST * mtu)
    }

    /// When `bytes` may next be sent: `None` now, else the instant the
    /// bucket holds enough.
    pub(crate) fn delay(
        &mut self,
        now: Instant,
        bytes: u64,
        mtu: u64,
        window: u64,
        rtt: Duration,
    ) -> Option<Instant> {
        let capacity = Self::capacity(window, mtu, rtt);
        if capacity != self.capacity {
            self.capacity = capacity;
            self.tokens = self.tokens.min(capacity);
        }
        let Some(last) = self.last else {
            self.last = Some(now);
            self.tokens = capacity;
            return None;
        };
        // Refill at 1.25 x window per RTT.
        let elapsed = now.saturating_duration_since(last);
        let rtt_ns = rtt.as_nanos().max(1);
        let refill = (u128::from(window) * 5 / 4 * elapsed.as_nanos() / rtt_ns) as u64;
        if refill > 0 {
            self.tokens = (self.tokens.saturating_add(refill)).min(capacity);
            self.last = Some(now);
        }
        if self.tokens >= bytes.min(capacity) {
            return None;
        }
        let missing = bytes.min(capacity) - self.tokens;
        let rate_per_ns = (u128::from(window) * 5 / 4).max(1);
        let wait_ns = (u128::from(missing) * rtt_ns).div_ceil(rate_per_ns);
        Some(now + Duration::from_nanos(wait_ns as u64))
    }

    /// `bytes` were sent.
    pub(crate) fn on_sent(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_spreads() {
        let t0 = Instant::now();
        let mut p = Pacer::new();
        let rtt = Duration::from_millis(100);
        let window = 1_200_000; // 12 MB/s at 100 ms: 2 ms bursts of 24 kB
        let mut sent = 0;
        while p.delay(t0, 1200, 1200, window, rtt).is_none() {
            p.on_sent(1200);
            sent += 1;
        }
        assert_eq!(sent, 20, "burst of 2 ms at 12 MB/s");
        let next = p.delay(t0, 1200, 1200, window, rtt).unwrap();
        // 1200 bytes at 15 MB/s (1.25 x) = 80 us.
        assert!(next - t0 <= Duration::from_micros(81), "{:?}", next - t0);
        assert!(p.delay(next, 1200, 1200, window, rtt).is_none());
    }
}
