//! The ECN field of the IP header (RFC 3168 §5), as QUIC uses it (RFC
//! 9000 §13.4): what a datagram was received with, and what one is to be
//! sent with.

/// An ECN codepoint other than Not-ECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EcnCodepoint {
    /// ECT(0): ECN-capable transport, the codepoint QUIC marks with.
    Ect0,
    /// ECT(1): ECN-capable transport (L4S); never set by actix-quic.
    Ect1,
    /// CE: a router on the path signalled congestion.
    Ce,
}

impl EcnCodepoint {
    /// The codepoint in the two low bits of an IP TOS / traffic-class
    /// byte; `None` for Not-ECT.
    pub fn from_bits(tos: u8) -> Option<Self> {
        match tos & 0b11 {
            0b10 => Some(Self::Ect0),
            0b01 => Some(Self::Ect1),
            0b11 => Some(Self::Ce),
            _ => None,
        }
    }

    /// The two ECN bits of the TOS / traffic-class byte.
    pub fn bits(self) -> u8 {
        match self {
            Self::Ect0 => 0b10,
            Self::Ect1 => 0b01,
            Self::Ce => 0b11,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codepoints_round_trip_through_the_tos_byte() {
        for c in [EcnCodepoint::Ect0, EcnCodepoint::Ect1, EcnCodepoint::Ce] {
            assert_eq!(EcnCodepoint::from_bits(0xb8 | c.bits()), Some(c));
        }
        assert_eq!(EcnCodepoint::from_bits(0xb8), None, "Not-ECT");
    }
}
