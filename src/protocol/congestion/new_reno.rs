//! NewReno (RFC 9002 §7.3, Appendix B).

use super::Controller;
use crate::protocol::rtt::RttEstimator;
use std::time::Instant;

/// RFC 9002's reference controller.
#[derive(Debug, Clone)]
pub(crate) struct NewReno {
    mds: u64,
    window: u64,
    ssthresh: u64,
    bytes_acked: u64,
}

impl NewReno {
    /// Starts with `initial_window` bytes for datagrams of `mds` bytes.
    pub(crate) fn new(initial_window: u64, mds: u64) -> Self {
        Self {
            mds,
            window: initial_window,
            ssthresh: u64::MAX,
            bytes_acked: 0,
        }
    }
}

impl Controller for NewReno {
    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn on_ack(&mut self, _now: Instant, _sent: Instant, bytes: u64, _rtt: &RttEstimator) {
        if self.window < self.ssthresh {
            // RFC 9002 §7.3.1: slow start.
            self.window += bytes;
        } else {
            // RFC 9002 §7.3.3: one datagram per window acknowledged.
            self.bytes_acked += bytes;
            if self.bytes_acked >= self.window {
                self.bytes_acked -= self.window;
                self.window += self.mds;
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, persistent: bool) {
        // RFC 9002 §7.3.2, kLossReductionFactor = 0.5.
        self.window = (self.window / 2).max(2 * self.mds);
        self.ssthresh = self.window;
        self.bytes_acked = 0;
        if persistent {
            // RFC 9002 §7.6.2: collapse to the minimum window.
            self.window = 2 * self.mds;
        }
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn name(&self) -> &'static str {
        "NewReno"
    }
}
