//! Packet number spaces (RFC 9000 §12.3): per space the keys, the next
//! packet number, the receive side for ACKs ([`AckState`]), the PTO
//! probes owed, and the CRYPTO stream both ways. Sent packets are
//! tracked by [`Recovery`](super::recovery::Recovery).

use super::acks::AckState;
use crate::protocol::assembler::Assembler;
use crate::protocol::crypto::SpaceKeys;
use crate::protocol::frame::PacketSpaceKind;
use crate::protocol::range_set::RangeSet;

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
    pub(super) fn kind(self) -> PacketSpaceKind {
        match self {
            SpaceId::Initial => PacketSpaceKind::Initial,
            SpaceId::Handshake => PacketSpaceKind::Handshake,
            SpaceId::Data => PacketSpaceKind::OneRtt,
        }
    }
}

/// One packet number space's state.
#[derive(Default)]
pub(super) struct PacketSpace {
    /// Keys (Initial and Handshake only; Data keys live in `OneRttKeys`).
    pub(super) keys: Option<SpaceKeys>,
    /// Set once keys for this space were discarded (RFC 9001 §4.9).
    pub(super) discarded: bool,
    /// Next packet number to send.
    pub(super) next_pn: u64,
    /// Received packet numbers and the ACKs owed for them.
    pub(super) acks: AckState,
    /// Every CRYPTO byte we produced (kept until the space is discarded).
    pub(super) crypto_out: Vec<u8>,
    /// How much of `crypto_out` was sent at least once.
    pub(super) crypto_sent: u64,
    /// CRYPTO ranges to send again.
    pub(super) crypto_retransmit: RangeSet,
    /// Incoming CRYPTO data.
    pub(super) crypto_in: Assembler,
    /// PTO probes left to send in this space.
    pub(super) probes: u8,
}

impl PacketSpace {
    /// True when CRYPTO data is waiting.
    pub(super) fn crypto_pending(&self) -> bool {
        !self.crypto_retransmit.is_empty() || self.crypto_sent < self.crypto_out.len() as u64
    }

    /// Allocates the next packet number.
    pub(super) fn take_pn(&mut self) -> u64 {
        let pn = self.next_pn;
        self.next_pn += 1;
        pn
    }

    /// Forgets everything: used when the space's keys are discarded
    /// (RFC 9001 §4.9). Nothing of it is used again, so it is all freed
    /// (an idle connection should cost little memory).
    pub(super) fn discard(&mut self) {
        *self = PacketSpace {
            discarded: true,
            next_pn: self.next_pn,
            ..PacketSpace::default()
        };
    }
}

/// A state per packet number space whose Initial and Handshake parts
/// are freed once both spaces are discarded (RFC 9001 §4.9): an
/// established connection keeps only its Data space's.
pub(super) struct Spaces<T: Discarded> {
    /// Initial and Handshake, until [`release_early`](Self::release_early).
    early: Option<Box<[T; 2]>>,
    data: T,
}

/// The state of a space that is gone, for what still looks at one.
pub(super) trait Discarded: Default + Sized + 'static {
    /// A discarded space's state.
    fn discarded() -> &'static Self;
}

impl<T: Discarded + std::fmt::Debug> std::fmt::Debug for Spaces<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<T: Discarded> Default for Spaces<T> {
    fn default() -> Self {
        Self {
            early: Some(Box::default()),
            data: T::default(),
        }
    }
}

impl<T: Discarded> Spaces<T> {
    /// Frees the Initial and Handshake states; a later look at them
    /// sees [`Discarded::discarded`].
    pub(super) fn release_early(&mut self) {
        self.early = None;
    }

    /// The states still held, in space order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.early.iter().flat_map(|e| e.iter()).chain([&self.data])
    }

    /// The states still held, in space order.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.early
            .iter_mut()
            .flat_map(|e| e.iter_mut())
            .chain([&mut self.data])
    }
}

impl<T: Discarded> std::ops::Index<usize> for Spaces<T> {
    type Output = T;

    fn index(&self, i: usize) -> &T {
        match (i, &self.early) {
            (0 | 1, Some(early)) => &early[i],
            (0 | 1, None) => T::discarded(),
            _ => &self.data,
        }
    }
}

impl<T: Discarded> std::ops::IndexMut<usize> for Spaces<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        if i >= 2 {
            return &mut self.data;
        }
        // Nothing changes a released space's state; should something
        // ask, it gets a fresh one rather than a panic.
        debug_assert!(self.early.is_some(), "space {i} was released");
        &mut self.early.get_or_insert_with(Box::default)[i]
    }
}

impl Discarded for PacketSpace {
    fn discarded() -> &'static Self {
        static DISCARDED: std::sync::LazyLock<PacketSpace> =
            std::sync::LazyLock::new(|| PacketSpace {
                discarded: true,
                ..PacketSpace::default()
            });
        &DISCARDED
    }
}
