//! The network path a connection uses: the peer's address, RTT
//! estimation, congestion control and pacing, the datagram size (with
//! PMTU discovery), and the anti-amplification limit until the peer's
//! address is validated (RFC 9000 §8.1, §9; RFC 9002).

use super::migration::PathValidation;
use super::mtud::MtuDiscovery;
use crate::protocol::config::TransportConfig;
use crate::protocol::congestion::{Congestion, Pacer};
use crate::protocol::rtt::RttEstimator;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Smallest room worth starting a packet in.
pub(super) const MIN_PACKET_ROOM: usize = 64;

/// The path and what is known of it.
pub(super) struct PathState {
    /// The peer's address.
    pub(super) remote: SocketAddr,
    /// Server: the local address the client's packets reach.
    pub(super) local_ip: Option<IpAddr>,
    pub(super) rtt: RttEstimator,
    pub(super) cc: Congestion,
    pacer: Pacer,
    /// Set while the pacer holds back ack-eliciting data until then.
    pub(super) pacing_until: Option<Instant>,
    /// The datagram size in use.
    pub(super) mtu: usize,
    /// Path MTU discovery, when enabled.
    pub(super) mtud: Option<MtuDiscovery>,
    /// The peer's address is validated: no amplification limit.
    pub(super) validated: bool,
    /// Bytes received on the path while not validated.
    amp_received: u64,
    /// Bytes sent on the path while not validated.
    amp_sent: u64,
    /// A new path being validated after the peer moved to it.
    pub(super) validation: Option<Box<PathValidation>>,
    /// Which congestion controller the path uses: counts the moves to a
    /// new address. Packets sent under an earlier one no longer count in
    /// flight, and their acknowledgement or loss says nothing about this
    /// path (RFC 9000 §9.4).
    pub(super) epoch: u32,
}

impl PathState {
    /// A path to `remote` with `config`'s initial settings; `validated`
    /// for a client (the server's address needs no validation).
    pub(super) fn new(config: &TransportConfig, remote: SocketAddr, validated: bool) -> Self {
        let mtu = usize::from(config.initial_mtu.max(1200));
        Self {
            remote,
            local_ip: None,
            rtt: RttEstimator::new(config.initial_rtt),
            cc: Congestion::new(config.congestion, config.initial_window, mtu as u64),
            pacer: Pacer::new(),
            pacing_until: None,
            mtu,
            mtud: config
                .mtu_discovery
                .map(|c| MtuDiscovery::new(c, mtu as u16)),
            validated,
            amp_received: 0,
            amp_sent: 0,
            validation: None,
            epoch: 0,
        }
    }

    /// The most a datagram may carry now: the datagram size, or less
    /// under the anti-amplification limit (RFC 9000 §8.1: three times
    /// what was received); `None` when not even a small packet may go.
    pub(super) fn send_budget(&self) -> Option<usize> {
        if self.validated {
            return Some(self.mtu);
        }
        let budget = (3 * self.amp_received).saturating_sub(self.amp_sent) as usize;
        let max = self.mtu.min(budget);
        (max >= MIN_PACKET_ROOM).then_some(max)
    }

    /// A datagram of `len` bytes arrived on the path.
    pub(super) fn on_datagram_received(&mut self, len: usize) {
        if !self.validated {
            self.amp_received += len as u64;
        }
    }

    /// A datagram of `len` bytes went out on the path.
    pub(super) fn on_datagram_sent(&mut self, len: usize) {
        if !self.validated {
            self.amp_sent += len as u64;
        }
    }

    /// An ack-eliciting packet of `len` bytes went out: the pacer counts it.
    pub(super) fn on_eliciting_sent(&mut self, len: usize) {
        self.pacer.on_sent(len as u64);
    }

    /// Asks the pacer whether a full datagram may go now (RFC 9002 §7.7);
    /// sets `pacing_until` when it may not.
    pub(super) fn update_pacing(&mut self, now: Instant, enabled: bool) {
        self.pacing_until = None;
        if !enabled || self.cc.available() < self.mtu as u64 {
            return;
        }
        let mtu = self.mtu as u64;
        self.pacing_until = self
            .pacer
            .delay(now, mtu, mtu, self.cc.window(), self.rtt.smoothed());
    }

    /// True when congestion control lets a full datagram of new data go
    /// (application data also waits for the pacer).
    pub(super) fn congestion_allows(&self, application: bool) -> bool {
        self.cc.available() >= self.mtu as u64 && (!application || self.pacing_until.is_none())
    }

    /// The peer moved to `remote` (RFC 9000 §9): the new address is not
    /// validated, and `first` is the datagram received from it. A new IP
    /// address is a new path: congestion control and RTT estimation start
    /// afresh (§9.4); a new port only (NAT rebinding) keeps the window
    /// and the RTT estimate. Either way nothing is in flight on the new
    /// path: what went to the old address must not count against it
    /// (§9.4), or a full window sent to an address the peer left would
    /// hold back the path validation itself. Returns the previous address
    /// and whether it was validated.
    pub(super) fn move_to(
        &mut self,
        config: &TransportConfig,
        remote: SocketAddr,
        first: usize,
    ) -> (SocketAddr, bool) {
        let previous = std::mem::replace(&mut self.remote, remote);
        if previous.ip() != remote.ip() {
            self.cc = Congestion::new(config.congestion, config.initial_window, self.mtu as u64);
            self.epoch = self.epoch.wrapping_add(1);
            self.rtt = RttEstimator::new(config.initial_rtt);
            self.pacer = Pacer::new();
        } else {
            self.cc.in_flight = 0;
            self.epoch = self.epoch.wrapping_add(1);
        }
        let previous_validated = std::mem::replace(&mut self.validated, false);
        self.amp_received = first as u64;
        self.amp_sent = 0;
        (previous, previous_validated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_unvalidated_path_carries_three_times_what_arrived() {
        // RFC 9000 §8.1.
        let config = TransportConfig::default();
        let mut p = PathState::new(&config, addr("10.0.0.1:443"), false);
        assert_eq!(p.send_budget(), None, "nothing received yet");
        p.on_datagram_received(1200);
        assert_eq!(p.send_budget(), Some(1200));
        p.on_datagram_sent(1200);
        p.on_datagram_sent(1200);
        assert_eq!(p.send_budget(), Some(1200));
        p.on_datagram_sent(1200 - 10);
        assert_eq!(p.send_budget(), None, "10 bytes left");
        p.validated = true;
        assert_eq!(p.send_budget(), Some(p.mtu));
    }

    #[test]
    fn a_new_address_starts_congestion_control_afresh_a_new_port_does_not() {
        let config = TransportConfig::default();
        let mut p = PathState::new(&config, addr("10.0.0.1:443"), true);
        p.cc.on_sent(5000);
        p.rtt.update(
            std::time::Duration::ZERO,
            std::time::Duration::from_millis(80),
        );
        let (prev, validated) = p.move_to(&config, addr("10.0.0.1:444"), 100);
        assert_eq!((prev, validated), (addr("10.0.0.1:443"), true));
        assert_eq!(
            (p.cc.in_flight, p.epoch),
            (0, 1),
            "a new port: what is in flight stays with the old address"
        );
        assert_eq!(p.rtt.smoothed(), std::time::Duration::from_millis(80));
        assert_eq!(p.send_budget(), Some(300), "three times the 100 bytes");
        p.move_to(&config, addr("10.9.9.9:444"), 1200);
        assert_eq!(p.rtt.smoothed(), config.initial_rtt);
        assert_eq!(p.cc.in_flight, 0, "the old path's bytes stay with it");
        assert_eq!(p.epoch, 2);
        assert_eq!(p.send_budget(), Some(1200));
    }
}
