//! What a sent packet carried, remembered until it is acknowledged or
//! declared lost (RFC 9002 §A.1.1): the frames to send again if it is
//! lost, and what loss detection and congestion control need.

use crate::protocol::stream_id::{Dir, StreamId};
use crate::protocol::streams::{StreamChunk, StreamReset};
use std::time::Instant;

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
    Stream(StreamChunk),
    /// MAX_DATA.
    MaxData,
    /// MAX_STREAM_DATA for a stream.
    MaxStreamData(StreamId),
    /// MAX_STREAMS in a direction.
    MaxStreams(Dir),
    /// RESET_STREAM.
    Reset(StreamReset),
    /// STOP_SENDING for a stream, with our error code.
    StopSending { id: StreamId, code: u64 },
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
    /// Sent marked ECT(0), and whether in the ECN testing period
    /// (RFC 9000 §13.4.2); set when it is tracked.
    pub ecn: bool,
    pub ecn_testing: bool,
    /// The path epoch it was sent under ([`PathState::epoch`](super::path::PathState)):
    /// only packets of the current one count for congestion control.
    pub epoch: u32,
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

/// Slots of an empty [`SentPackets`] buffer kept for the next packet.
const KEPT_SLOTS: usize = 4;

/// The ack-eliciting packets of one packet number space awaiting
/// acknowledgement, oldest first.
///
/// Packet numbers only grow (RFC 9000 §12.3), so packets enter at the
/// back of a ring buffer and ACKs, which mostly cover the oldest ones,
/// take them from the front: no tree to rebalance per packet. A packet
/// taken from the middle leaves an empty slot until the slots before it
/// are gone too.
#[derive(Debug, Default)]
pub(super) struct SentPackets {
    slots: std::collections::VecDeque<(u64, Option<SentPacket>)>,
    /// Slots holding a packet.
    live: usize,
}

impl SentPackets {
    /// True when no packet is outstanding.
    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Remembers packet `pn`, newer than every packet remembered.
    pub(super) fn insert(&mut self, pn: u64, packet: SentPacket) {
        debug_assert!(self.slots.back().is_none_or(|(last, _)| *last < pn));
        self.slots.push_back((pn, Some(packet)));
        self.live += 1;
    }

    /// The index of the first slot at or after `pn`. Packet numbers are
    /// mostly consecutive (only a skipped number breaks the run), so the
    /// distance from the first slot usually lands on it at once.
    fn index_of(&self, pn: u64) -> usize {
        let Some(&(first, _)) = self.slots.front() else {
            return 0;
        };
        let Some(guess) = pn.checked_sub(first) else {
            return 0;
        };
        match usize::try_from(guess)
            .ok()
            .and_then(|g| Some((g, self.slots.get(g)?)))
        {
            Some((g, (p, _))) if *p == pn => g,
            _ => self.slots.partition_point(|(p, _)| *p < pn),
        }
    }

    /// Takes packet `pn` out.
    pub(super) fn remove(&mut self, pn: u64) -> Option<SentPacket> {
        let i = self.index_of(pn);
        let taken = match self.slots.get_mut(i) {
            Some((p, slot)) if *p == pn => slot.take(),
            _ => None,
        };
        if taken.is_some() {
            self.live -= 1;
            self.trim();
        }
        taken
    }

    /// Takes out every packet in `range`, appending them to `out` by
    /// packet number.
    pub(super) fn remove_range(
        &mut self,
        range: std::ops::RangeInclusive<u64>,
        out: &mut Vec<(u64, SentPacket)>,
    ) {
        let start = self.index_of(*range.start());
        for (pn, slot) in self.slots.range_mut(start..) {
            if *pn > *range.end() {
                break;
            }
            if let Some(p) = slot.take() {
                self.live -= 1;
                out.push((*pn, p));
            }
        }
        self.trim();
    }

    /// Takes out every packet `pick` chooses, by packet number.
    pub(super) fn remove_where(
        &mut self,
        mut pick: impl FnMut(u64, &SentPacket) -> bool,
    ) -> Vec<(u64, SentPacket)> {
        let mut out = Vec::new();
        for (pn, slot) in &mut self.slots {
            if slot.as_ref().is_some_and(|p| pick(*pn, p)) {
                out.extend(slot.take().map(|p| (*pn, p)));
                self.live -= 1;
            }
        }
        self.trim();
        out
    }

    /// The outstanding packets, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &SentPacket)> {
        self.slots
            .iter()
            .filter_map(|(pn, slot)| slot.as_ref().map(|p| (*pn, p)))
    }

    /// The outstanding packets below `pn`, oldest first.
    pub(super) fn below(&self, pn: u64) -> impl Iterator<Item = (u64, &SentPacket)> {
        self.iter().take_while(move |(p, _)| *p < pn)
    }

    /// Packets outstanding.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    /// Drops the empty slots at both ends. When nothing is left, a
    /// buffer beyond [`KEPT_SLOTS`] is freed: an idle connection holds
    /// little, and one that sends a packet at a time allocates none.
    fn trim(&mut self) {
        if self.live == 0 {
            if self.slots.capacity() > KEPT_SLOTS {
                self.slots = Default::default();
            } else {
                self.slots.clear();
            }
            return;
        }
        while self.slots.front().is_some_and(|(_, s)| s.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|(_, s)| s.is_none()) {
            self.slots.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(size: u16) -> SentPacket {
        SentPacket {
            time: Instant::now(),
            size,
            in_flight: true,
            frames: Vec::new(),
            zero_rtt: size % 2 == 1,
            mtu_probe: false,
            ecn: false,
            ecn_testing: false,
            epoch: 0,
        }
    }

    fn pns(s: &SentPackets) -> Vec<u64> {
        s.iter().map(|(pn, _)| pn).collect()
    }

    #[test]
    fn packets_leave_from_anywhere_and_the_buffer_is_freed_when_empty() {
        let mut s = SentPackets::default();
        for pn in [1, 2, 4, 5, 7, 8, 9] {
            s.insert(pn, packet(pn as u16));
        }
        let mut out = Vec::new();
        s.remove_range(4..=7, &mut out);
        assert_eq!(out.iter().map(|(pn, _)| *pn).collect::<Vec<_>>(), [4, 5, 7]);
        assert_eq!(pns(&s), [1, 2, 8, 9]);
        assert_eq!(s.below(9).map(|(pn, _)| pn).collect::<Vec<_>>(), [1, 2, 8]);
        assert!(s.remove(3).is_none() && s.remove(4).is_none());
        assert_eq!(s.remove(1).map(|p| p.size), Some(1));
        assert_eq!(s.slots.front().map(|(pn, _)| *pn), Some(2), "front trimmed");
        let zero_rtt = s.remove_where(|_, p| p.zero_rtt);
        assert_eq!(zero_rtt.iter().map(|(pn, _)| *pn).collect::<Vec<_>>(), [9]);
        assert_eq!(s.slots.back().map(|(pn, _)| *pn), Some(8), "back trimmed");
        s.remove_range(0..=100, &mut out);
        assert!(s.is_empty());
        assert_eq!(
            s.slots.capacity(),
            0,
            "nothing outstanding, nothing large held"
        );
        s.insert(20, packet(2));
        assert_eq!(pns(&s), [20]);
    }

    #[test]
    fn finding_a_packet_agrees_with_a_search_across_skipped_numbers() {
        let mut s = SentPackets::default();
        for pn in (10..400).filter(|pn| pn % 37 != 0) {
            s.insert(pn, packet(1));
        }
        for pn in 0..420 {
            let searched = s.slots.partition_point(|(p, _)| *p < pn);
            assert_eq!(s.index_of(pn), searched, "{pn}");
        }
    }
}
