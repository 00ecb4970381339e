//! Packet number spaces (RFC 9000 §12.3): per-space keys, packet numbers,
//! received-packet tracking for ACKs, sent-packet records for recovery and
//! the CRYPTO streams.

use crate::protocol::assembler::Assembler;
use crate::protocol::crypto::SpaceKeys;
use crate::protocol::frame::{Dir, PacketSpaceKind};
use crate::protocol::range_set::RangeSet;
use crate::protocol::streams::StreamId;
use std::collections::BTreeMap;
use std::time::Instant;

/// Most ACK ranges we track and report per space; older ranges are
/// forgotten (RFC 9000 §13.2.3 allows limiting them).
pub(crate) const MAX_ACK_RANGES: usize = 64;

/// Index of a packet number space.
#[cfg_attr(not(feature = "test-hooks"), allow(unreachable_pub))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpaceId {
    /// Initial packets.
    Initial = 0,
    /// Handshake packets.
    Handshake = 1,
    /// 0-RTT and 1-RTT packets.
    Data = 2,
}

impl SpaceId {
    /// All spaces, in sending order.
    pub(crate) const ALL: [SpaceId; 3] = [SpaceId::Initial, SpaceId::Handshake, SpaceId::Data];

    /// The frame-table kind for packets of this space (1-RTT for Data).
    pub(crate) fn kind(self) -> PacketSpaceKind {
        match self {
            SpaceId::Initial => PacketSpaceKind::Initial,
            SpaceId::Handshake => PacketSpaceKind::Handshake,
            SpaceId::Data => PacketSpaceKind::OneRtt,
        }
    }
}

/// A frame we may need to send again if its packet is lost.
#[derive(Debug, Clone)]
pub(crate) enum SentFrame {
    /// CRYPTO bytes.
    Crypto {
        /// Offset in the crypto stream.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// STREAM bytes.
    Stream {
        /// Stream.
        id: StreamId,
        /// Offset.
        offset: u64,
        /// Length.
        len: u64,
        /// FIN flag.
        fin: bool,
    },
    /// MAX_DATA.
    MaxData,
    /// MAX_STREAM_DATA for a stream.
    MaxStreamData(StreamId),
    /// MAX_STREAMS in a direction.
    MaxStreams(Dir),
    /// RESET_STREAM.
    Reset(StreamId, u64, u64),
    /// STOP_SENDING.
    StopSending(StreamId, u64),
    /// NEW_CONNECTION_ID with this sequence number.
    NewCid(u64),
    /// PATH_CHALLENGE with this data (RFC 9000 §8.2).
    PathChallenge([u8; 8]),
    /// RETIRE_CONNECTION_ID with this sequence number.
    RetireCid(u64),
    /// HANDSHAKE_DONE.
    HandshakeDone,
    /// NEW_TOKEN with this token.
    NewToken(bytes::Bytes),
}

/// What we remember about a sent ack-eliciting packet (RFC 9002 §A.1.1).
#[derive(Debug)]
pub(crate) struct SentPacket {
    /// When it was sent.
    pub time: Instant,
    /// Bytes on the wire.
    pub size: u16,
    /// Counted in bytes in flight.
    pub in_flight: bool,
    /// Frames to requeue if lost.
    pub frames: Vec<SentFrame>,
    /// Sent in a 0-RTT packet (sent again if the server rejects 0-RTT).
    pub zero_rtt: bool,
    /// A PMTU probe (RFC 8899): its loss is no congestion signal.
    pub mtu_probe: bool,
}

/// One packet number space's state.
#[derive(Default)]
pub(crate) struct PacketSpace {
    /// Keys (Initial and Handshake only; Data keys live in `OneRttKeys`).
    pub keys: Option<SpaceKeys>,
    /// Set once keys for this space were discarded (RFC 9001 §4.9).
    pub discarded: bool,
    /// Next packet number to send.
    pub next_pn: u64,
    /// Largest packet number the peer acknowledged.
    pub largest_acked: Option<u64>,
    /// Ack-eliciting packets awaiting acknowledgement.
    pub sent: BTreeMap<u64, SentPacket>,
    /// Time of the last ack-eliciting packet sent.
    pub last_ack_eliciting: Option<Instant>,
    /// Time-threshold loss timer (RFC 9002 §6.1.2).
    pub loss_time: Option<Instant>,
    /// Received packet numbers, for ACK frames.
    pub received: RangeSet,
    /// Largest received packet number and when it arrived.
    pub largest_received: Option<(u64, Instant)>,
    /// An ACK should be sent.
    pub ack_pending: bool,
    /// Ack-eliciting packets received since the last ACK we sent.
    pub unacked_eliciting: u32,
    /// When a delayed ACK is due.
    pub ack_deadline: Option<Instant>,
    /// Every CRYPTO byte we produced (kept until the space is discarded).
    pub crypto_out: Vec<u8>,
    /// How much of `crypto_out` was sent at least once.
    pub crypto_sent: u64,
    /// CRYPTO ranges to send again.
    pub crypto_retransmit: RangeSet,
    /// Incoming CRYPTO data.
    pub crypto_in: Assembler,
    /// PTO probes left to send in this space.
    pub probes: u8,
    /// Recently declared-lost packets, to recognise spurious losses.
    pub recently_lost: std::collections::VecDeque<LostPacket>,
}

impl PacketSpace {
    /// True when CRYPTO data is waiting.
    pub(crate) fn crypto_pending(&self) -> bool {
        !self.crypto_retransmit.is_empty() || self.crypto_sent < self.crypto_out.len() as u64
    }

    /// True when ack-eliciting packets are outstanding.
    pub(crate) fn has_in_flight(&self) -> bool {
        !self.sent.is_empty()
    }

    /// Records a received packet number; returns false for a duplicate.
    pub(crate) fn on_packet_received(&mut self, pn: u64, now: Instant) -> bool {
        if self.received.contains(pn) {
            return false;
        }
        self.received.insert(pn..pn + 1);
        self.received.truncate_low(MAX_ACK_RANGES);
        if self.largest_received.is_none_or(|(l, _)| pn > l) {
            self.largest_received = Some((pn, now));
        }
        true
    }

    /// The received ranges for an ACK frame, highest first (RFC 9000 §19.3).
    pub(crate) fn ack_ranges(&self) -> Vec<std::ops::RangeInclusive<u64>> {
        self.received
            .iter_rev()
            .map(|r| r.start..=r.end - 1)
            .collect()
    }

    /// Allocates the next packet number.
    pub(crate) fn take_pn(&mut self) -> u64 {
        let pn = self.next_pn;
        self.next_pn += 1;
        pn
    }

    /// Forgets everything sent: used when the space's keys are discarded.
    /// Returns the bytes that were counted in flight.
    pub(crate) fn discard(&mut self) -> u64 {
        self.keys = None;
        self.discarded = true;
        let in_flight = self
            .sent
            .values()
            .filter(|p| p.in_flight)
            .map(|p| u64::from(p.size))
            .sum();
        self.sent.clear();
        self.loss_time = None;
        self.last_ack_eliciting = None;
        self.ack_pending = false;
        self.ack_deadline = None;
        self.probes = 0;
        self.crypto_out = Vec::new();
        self.crypto_retransmit = RangeSet::new();
        // Nothing of a discarded space is used again: free it all (an
        // idle connection should cost little memory).
        self.received = RangeSet::new();
        self.crypto_in = Assembler::default();
        self.recently_lost = std::collections::VecDeque::new();
        in_flight
    }
}

/// A packet declared lost, remembered to recognise the loss as spurious
/// when an ACK for it arrives after all (RFC 9002 §6.1).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LostPacket {
    /// Its packet number.
    pub pn: u64,
    /// The largest acknowledged packet number when it was declared lost.
    pub largest_acked: u64,
    /// When it was sent.
    pub sent: Instant,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_ranges_tracked_are_bounded() {
        let mut sp = PacketSpace::default();
        let now = Instant::now();
        // Every other packet number: one range each.
        for pn in (0..10_000u64).step_by(2) {
            assert!(sp.on_packet_received(pn, now));
        }
        let ranges = sp.ack_ranges();
        assert_eq!(ranges.len(), MAX_ACK_RANGES);
        // The newest ranges are the ones kept.
        assert_eq!(ranges[0], 9998..=9998);
        // Duplicates are recognised.
        assert!(!sp.on_packet_received(9998, now));
    }
}
