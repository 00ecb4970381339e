//! Stream IDs (RFC 9000 §2.1): who opened a stream, its direction and
//! its index, in one 62-bit number.

use super::Side;
use std::fmt;

/// The most streams of one kind a connection can ever have, and so the
/// largest count MAX_STREAMS, STREAMS_BLOCKED and the initial_max_streams
/// parameters may carry: 2^60 (RFC 9000 §4.6, §19.11), since a stream ID
/// must fit a varint.
pub(crate) const MAX_STREAM_COUNT: u64 = 1 << 60;

/// Direction of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Bidirectional streams.
    Bi,
    /// Unidirectional streams.
    Uni,
}

impl Dir {
    /// 0 for bidirectional, 1 for unidirectional: an index into per-direction state.
    pub(crate) fn index(self) -> usize {
        match self {
            Dir::Bi => 0,
            Dir::Uni => 1,
        }
    }
}

/// A stream's ID (RFC 9000 §2.1): the low bit says who opened it, the
/// next its direction, the rest is its index among the streams of that
/// kind.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(u64);

impl StreamId {
    /// The `index`th stream that `initiator` opened in direction `dir`.
    pub fn new(initiator: Side, dir: Dir, index: u64) -> Self {
        Self(
            (index << 2) | (u64::from(dir == Dir::Uni) << 1) | u64::from(initiator == Side::Server),
        )
    }

    /// The stream with this ID as frames carry it (any varint is one).
    pub(crate) fn from_raw(id: u64) -> Self {
        Self(id)
    }

    /// Who opened the stream.
    pub fn initiator(self) -> Side {
        if self.0 & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        }
    }

    /// The stream's direction.
    pub fn dir(self) -> Dir {
        if self.0 & 2 == 0 {
            Dir::Bi
        } else {
            Dir::Uni
        }
    }

    /// The stream's index among those of its initiator and direction.
    pub fn index(self) -> u64 {
        self.0 >> 2
    }
}

impl From<StreamId> for u64 {
    fn from(id: StreamId) -> u64 {
        id.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.initiator() {
            Side::Client => "client",
            Side::Server => "server",
        };
        let dir = match self.dir() {
            Dir::Bi => "bi",
            Dir::Uni => "uni",
        };
        write!(f, "StreamId({} {who} {dir} {})", self.0, self.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_low_bits_name_initiator_and_direction() {
        // RFC 9000 §2.1, Table 1.
        for (id, side, dir) in [
            (0, Side::Client, Dir::Bi),
            (1, Side::Server, Dir::Bi),
            (2, Side::Client, Dir::Uni),
            (3, Side::Server, Dir::Uni),
        ] {
            let s = StreamId::new(side, dir, 5);
            assert_eq!(u64::from(s), 20 + id);
            assert_eq!((s.initiator(), s.dir(), s.index()), (side, dir, 5));
            assert_eq!(StreamId::from_raw(20 + id), s);
        }
        assert_eq!(
            format!("{:?}", StreamId::from_raw(6)),
            "StreamId(6 client uni 1)"
        );
    }
}
