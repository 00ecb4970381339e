//! Datagram Packetization Layer PMTU Discovery (RFC 8899, RFC 9000
//! §14.3): once the handshake is confirmed, probe packets (PING and
//! PADDING) search upward from the current datagram size to the
//! configured bound by bisection; an acknowledged probe raises the size
//! every later packet uses, three losses at one size lower the bound.
//! Probe losses are not congestion signals (RFC 8899 §3). A run of lost
//! full-size packets with no full-size acknowledgement between them is
//! taken for a black hole (RFC 8899 §4.3): the size falls back to the
//! base and the search starts again after a cooldown.

use super::sent::SentPacket;
use super::spaces::SpaceId;
use super::{Connection, FrameStats};
use crate::protocol::config::MtuDiscoveryConfig;
use crate::protocol::crypto::TAG_LEN;
use crate::protocol::frame;
use std::time::Instant;

/// The size every QUIC path carries (RFC 9000 §14).
pub(super) const BASE_MTU: u16 = 1200;

/// Probe losses at one size before the search gives up on it.
const MAX_PROBE_FAILURES: u8 = 3;

/// Loss events with full-size packets lost, and no full-size packet
/// acknowledged since, that make a black hole.
const BLACK_HOLE_LOSS_EVENTS: u8 = 3;

/// The search state.
#[derive(Debug)]
pub(super) struct MtuDiscovery {
    config: MtuDiscoveryConfig,
    /// Largest size known to work (the size in use).
    low: u16,
    /// Largest size that may work.
    high: u16,
    /// The probe in flight: its packet number and size.
    in_flight: Option<(u64, u16)>,
    /// Lost probes at the size being tried.
    failures: u8,
    /// When the next probe may go; `None` before the search starts.
    next_probe: Option<Instant>,
    /// Loss events of full-size packets since one was acknowledged.
    suspicious_losses: u8,
    /// `high` came down after failed probes (it is no longer the bound).
    high_failed: bool,
}

impl MtuDiscovery {
    /// A search from `current` up to the configured bound.
    pub(super) fn new(config: MtuDiscoveryConfig, current: u16) -> Self {
        Self {
            low: current,
            high: config.upper_bound.max(current),
            config,
            in_flight: None,
            failures: 0,
            next_probe: None,
            suspicious_losses: 0,
            high_failed: false,
        }
    }

    /// The size to probe next, if the search is not finished: the middle
    /// of the bounds, or the bound itself when it is near and untried
    /// (so an open path ends at exactly the configured bound).
    fn candidate(&self) -> Option<u16> {
        let gap = self.high.saturating_sub(self.low);
        let min = self.config.minimum_change.max(1);
        if gap == 0 || (gap < min && self.high_failed) {
            return None;
        }
        if gap < 2 * min && !self.high_failed {
            return Some(self.high);
        }
        if gap < min {
            return None;
        }
        Some(self.low + gap.div_ceil(2))
    }
}

impl Connection {
    /// Starts the search once the handshake is confirmed and the peer's
    /// max_udp_payload_size is known (RFC 9000 §14.3).
    pub(super) fn start_mtu_discovery(&mut self, now: Instant) {
        let Some(m) = self.path.mtud.as_mut() else {
            return;
        };
        if m.next_probe.is_some() {
            return;
        }
        let peer_max = self
            .peer_params
            .as_ref()
            .map_or(u64::from(m.high), |p| p.max_udp_payload_size);
        m.high = m.high.min(peer_max.min(u64::from(u16::MAX)) as u16);
        m.next_probe = Some(now);
    }

    /// The next probe's size and when it may go, if one could go then:
    /// none in flight, 1-RTT keys with packets left before their
    /// confidentiality limit, room in the congestion window, and the
    /// peer's address validated (RFC 9000 §8.1). An ACK freeing the
    /// window calls `poll_transmit` anyway, so a probe held back by these
    /// needs no timer.
    fn next_probe(&self) -> Option<(u16, Instant)> {
        let m = self.path.mtud.as_ref()?;
        if m.in_flight.is_some()
            || self.one_rtt.is_none()
            || self.state != super::State::Established
            || !self.path.validated
            || self.key_limit_reached()
        {
            return None;
        }
        let size = m.candidate()?;
        let at = m.next_probe?;
        (self.path.cc.available() >= u64::from(size)).then_some((size, at))
    }

    /// The probe size, when a probe should go now.
    fn probe_due(&self, now: Instant) -> Option<u16> {
        self.next_probe()
            .and_then(|(size, at)| (at <= now).then_some(size))
    }

    /// When the next probe may go (for the timer), if one is waiting.
    pub(super) fn mtu_probe_deadline(&self) -> Option<Instant> {
        self.next_probe().map(|(_, at)| at)
    }

    /// Writes a probe datagram into `buf` from `start` when one is due:
    /// one 1-RTT packet of exactly the probe size holding a PING and
    /// PADDING. Returns its size.
    pub(super) fn write_mtu_probe(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        start: usize,
    ) -> Option<usize> {
        let size = usize::from(self.probe_due(now)?);
        buf.truncate(start);
        let header = self.write_header(SpaceId::Data, buf);
        buf.push(frame::PING as u8);
        let padding = (start + size - TAG_LEN).saturating_sub(buf.len());
        buf.resize(start + size - TAG_LEN, 0);
        self.seal_packet(SpaceId::Data, buf, &header);
        self.qlog.packet_sent(
            now,
            SpaceId::Data,
            false,
            header.pn,
            size,
            &[frame::PING as u8],
            padding,
        );
        let mut frames = FrameStats::default();
        frames.record(frame::PING);
        frames.record(frame::PADDING);
        self.count_sent(SpaceId::Data, frames);
        self.track_sent(
            SpaceId::Data,
            header.pn,
            SentPacket {
                time: now,
                size: size as u16,
                in_flight: true,
                frames: Vec::new(),
                zero_rtt: false,
                mtu_probe: true,
                ecn: false,
                ecn_testing: false,
                epoch: self.path.epoch,
            },
        );
        if let Some(m) = self.path.mtud.as_mut() {
            m.in_flight = Some((header.pn, size as u16));
        }
        tracing::trace!(side = ?self.side, size, "PMTU probe");
        Some(size)
    }

    /// An acknowledged packet of `size` bytes: a probe raises the size in
    /// use; any full-size packet clears black hole suspicion.
    pub(super) fn mtu_on_acked(&mut self, now: Instant, pn: u64, size: u16, probe: bool) {
        let Some(m) = self.path.mtud.as_mut() else {
            return;
        };
        if size > BASE_MTU {
            m.suspicious_losses = 0;
        }
        if !probe || m.in_flight.map(|(p, _)| p) != Some(pn) {
            return;
        }
        m.in_flight = None;
        m.failures = 0;
        m.low = m.low.max(size);
        m.next_probe = Some(if m.candidate().is_some() {
            now
        } else {
            // Found: look again, from here, after a while (RFC 8899 §5.2).
            let t = now + m.config.interval;
            m.high = m.config.upper_bound.max(m.low);
            m.high_failed = false;
            t
        });
        if usize::from(size) > self.path.mtu {
            tracing::debug!(side = ?self.side, size, "PMTU raised");
            self.path.mtu = usize::from(size);
        }
    }

    /// A lost probe (`probe`), or a loss event in which `large` packets
    /// larger than the base size were lost.
    pub(super) fn mtu_on_lost(&mut self, now: Instant, lost_probe: Option<u64>, large: bool) {
        let Some(m) = self.path.mtud.as_mut() else {
            return;
        };
        if let Some(pn) = lost_probe {
            if let Some((p, size)) = m.in_flight {
                if p == pn {
                    m.in_flight = None;
                    m.failures += 1;
                    if m.failures >= MAX_PROBE_FAILURES {
                        m.failures = 0;
                        m.high = size - 1;
                        m.high_failed = true;
                    }
                    m.next_probe = Some(now);
                }
            }
        }
        if !large || self.path.mtu <= usize::from(BASE_MTU) {
            return;
        }
        m.suspicious_losses += 1;
        if m.suspicious_losses >= BLACK_HOLE_LOSS_EVENTS {
            tracing::debug!(side = ?self.side, mtu = self.path.mtu, "PMTU black hole; back to the base size");
            m.suspicious_losses = 0;
            m.low = BASE_MTU;
            m.high = m.config.upper_bound.max(BASE_MTU);
            m.high_failed = false;
            m.failures = 0;
            m.in_flight = None;
            m.next_probe = Some(now + m.config.black_hole_cooldown);
            self.path.mtu = usize::from(BASE_MTU);
            self.stats.black_holes += 1;
        }
    }
}
