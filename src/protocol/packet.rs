//! Packet headers (RFC 9000 §17), packet number encoding (§17.1, Appendix
//! A.2/A.3) and coalesced-packet splitting (§12.2).

use super::cid::{ConnectionId, MAX_CID_LEN};
use super::varint::{self, Reader};
use std::ops::Range;

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;

/// QUIC version 2 (RFC 9369 §3.1).
pub const VERSION_2: u32 = 0x6b33_43cf;

/// The versions we speak, in order of preference for a server's Version
/// Negotiation packet.
pub const SUPPORTED_VERSIONS: [u32; 2] = [VERSION_1, VERSION_2];

/// True for a version we speak.
pub fn is_supported(version: u32) -> bool {
    SUPPORTED_VERSIONS.contains(&version)
}

/// The rustls name of a version we speak.
pub fn rustls_version(version: u32) -> rustls::quic::Version {
    if version == VERSION_2 {
        rustls::quic::Version::V2
    } else {
        rustls::quic::Version::V1
    }
}

/// The smallest datagram a client Initial may travel in (RFC 9000 §14.1).
pub const MIN_INITIAL_SIZE: usize = 1200;

/// The long-header packet types (RFC 9000 §17.2); their wire bits differ
/// between versions (RFC 9369 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongType {
    /// Initial (0x00).
    Initial,
    /// 0-RTT (0x01).
    ZeroRtt,
    /// Handshake (0x02).
    Handshake,
    /// Retry (0x03).
    Retry,
}

impl LongType {
    /// The two type bits of this packet type in `version`.
    pub fn bits(self, version: u32) -> u8 {
        let v1 = match self {
            LongType::Initial => 0,
            LongType::ZeroRtt => 1,
            LongType::Handshake => 2,
            LongType::Retry => 3,
        };
        if version == VERSION_2 {
            // RFC 9369 §3.2: Initial 0b01, 0-RTT 0b10, Handshake 0b11,
            // Retry 0b00.
            (v1 + 1) & 0x03
        } else {
            v1
        }
    }

    /// The packet type that the two type bits `bits` denote in `version`.
    pub fn from_bits(bits: u8, version: u32) -> Self {
        let v1 = if version == VERSION_2 {
            (bits + 3) & 0x03
        } else {
            bits & 0x03
        };
        match v1 {
            0 => LongType::Initial,
            1 => LongType::ZeroRtt,
            2 => LongType::Handshake,
            _ => LongType::Retry,
        }
    }
}

/// What kind of packet a parsed header introduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderKind {
    /// A long-header packet of a known type and version.
    Long {
        /// The long packet type.
        ty: LongType,
        /// The version field.
        version: u32,
        /// The source connection ID.
        scid: ConnectionId,
    },
    /// A 1-RTT short-header packet.
    Short,
    /// A Version Negotiation packet (version 0) listing these versions.
    VersionNegotiation {
        /// The source connection ID.
        scid: ConnectionId,
        /// The versions the server supports.
        versions: Vec<u32>,
    },
    /// A long header of a version we do not speak: only its CIDs are known
    /// (RFC 8999 invariants).
    UnsupportedVersion {
        /// The version field.
        version: u32,
        /// The source connection ID.
        scid: ConnectionId,
    },
}

/// A header whose protected fields (low bits of the first byte and the
/// packet number) are still protected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialHeader {
    /// The packet kind.
    pub kind: HeaderKind,
    /// The destination connection ID.
    pub dcid: ConnectionId,
    /// Byte range of the Initial token within the packet (empty otherwise).
    pub token: Range<usize>,
    /// Offset of the packet number field within the packet.
    pub pn_offset: usize,
    /// Length of this packet within the datagram (the rest of the
    /// datagram for short headers, Retry and Version Negotiation).
    pub len: usize,
}

/// Why a header could not be parsed; such datagrams are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// The datagram ends inside the header or the Length field overruns it.
    Truncated,
    /// The fixed bit is zero, or a CID is longer than 20 bytes in v1.
    Invalid,
}

impl PartialHeader {
    /// Parses the header at the start of `buf`. `short_dcid_len` is the
    /// length of the connection IDs this endpoint issues (short headers
    /// carry no length).
    pub fn parse(buf: &[u8], short_dcid_len: usize) -> Result<Self, HeaderError> {
        let mut r = Reader::new(buf);
        let first = r.u8().ok_or(HeaderError::Truncated)?;
        if first & 0x80 == 0 {
            // RFC 9000 §17.3.1: fixed bit must be 1.
            if first & 0x40 == 0 {
                return Err(HeaderError::Invalid);
            }
            let dcid = r.bytes(short_dcid_len).ok_or(HeaderError::Truncated)?;
            let dcid = ConnectionId::new(dcid).ok_or(HeaderError::Invalid)?;
            return Ok(Self {
                kind: HeaderKind::Short,
                dcid,
                token: 0..0,
                pn_offset: r.position(),
                len: buf.len(),
            });
        }
        let version = r.u32().ok_or(HeaderError::Truncated)?;
        let dcid = read_cid(&mut r, version)?;
        let scid = read_cid(&mut r, version)?;
        if version == 0 {
            // RFC 9000 §17.2.1: Version Negotiation.
            let mut versions = Vec::with_capacity(r.remaining() / 4);
            while let Some(v) = r.u32() {
                versions.push(v);
            }
            return Ok(Self {
                kind: HeaderKind::VersionNegotiation { scid, versions },
                dcid,
                token: 0..0,
                pn_offset: 0,
                len: buf.len(),
            });
        }
        if !is_supported(version) {
            return Ok(Self {
                kind: HeaderKind::UnsupportedVersion { version, scid },
                dcid,
                token: 0..0,
                pn_offset: 0,
                len: buf.len(),
            });
        }
        // RFC 9000 §17.2: fixed bit.
        if first & 0x40 == 0 {
            return Err(HeaderError::Invalid);
        }
        let ty = LongType::from_bits((first >> 4) & 0x03, version);
        let mut token = 0..0;
        if ty == LongType::Retry {
            return Ok(Self {
                kind: HeaderKind::Long { ty, version, scid },
                dcid,
                token: r.position()..buf.len(),
                pn_offset: 0,
                len: buf.len(),
            });
        }
        if ty == LongType::Initial {
            let tlen = r.varint().ok_or(HeaderError::Truncated)?;
            let start = r.position();
            let tlen = usize::try_from(tlen).map_err(|_| HeaderError::Truncated)?;
            r.bytes(tlen).ok_or(HeaderError::Truncated)?;
            token = start..start + tlen;
        }
        let length = r.varint().ok_or(HeaderError::Truncated)?;
        let pn_offset = r.position();
        let length = usize::try_from(length).map_err(|_| HeaderError::Truncated)?;
        if length > r.remaining() {
            return Err(HeaderError::Truncated);
        }
        Ok(Self {
            kind: HeaderKind::Long { ty, version, scid },
            dcid,
            token,
            pn_offset,
            len: pn_offset + length,
        })
    }

    /// The version of a long-header packet of a version we speak.
    pub fn version(&self) -> Option<u32> {
        match self.kind {
            HeaderKind::Long { version, .. } => Some(version),
            _ => None,
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// True for packets that carry a packet number and protected payload.
    pub fn is_protected(&self) -> bool {
        match &self.kind {
            HeaderKind::Short => true,
            HeaderKind::Long { ty, .. } => *ty != LongType::Retry,
            _ => false,
        }
    }
}

fn read_cid(r: &mut Reader<'_>, version: u32) -> Result<ConnectionId, HeaderError> {
    let len = r.u8().ok_or(HeaderError::Truncated)? as usize;
    // RFC 9000 §17.2: in v1 a CID longer than 20 bytes is invalid; other
    // versions may use up to 255 (RFC 8999), which we cannot represent and
    // treat as invalid too.
    if len > MAX_CID_LEN {
        let _ = version;
        return Err(HeaderError::Invalid);
    }
    let b = r.bytes(len).ok_or(HeaderError::Truncated)?;
    ConnectionId::new(b).ok_or(HeaderError::Invalid)
}

/// Number of bytes to encode packet number `pn` given the largest packet
/// number the peer acknowledged (RFC 9000 §17.1, Appendix A.2).
pub fn pn_len(pn: u64, largest_acked: Option<u64>) -> usize {
    let unacked = match largest_acked {
        Some(la) => pn.saturating_sub(la),
        None => pn + 1,
    };
    // Twice the range, plus one bit of margin.
    let bits = 64 - (unacked.max(1) * 2).leading_zeros() as usize;
    bits.div_ceil(8).clamp(1, 4)
}

/// Recovers a full packet number from its truncated form (RFC 9000 A.3).
pub fn decode_pn(largest: Option<u64>, truncated: u64, nbits: u32) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let win = 1u64 << nbits;
    let hwin = win / 2;
    let mask = win - 1;
    let candidate = (expected & !mask) | truncated;
    if candidate + hwin <= expected && candidate < (1 << 62) - win {
        candidate + win
    } else if candidate > expected + hwin && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// Writes a long header up to and including the packet number, leaving
/// the Length field as a 2-byte placeholder. Returns the offset of the
/// length placeholder; the packet number follows it.
#[allow(clippy::too_many_arguments)]
pub fn write_long_header(
    buf: &mut Vec<u8>,
    version: u32,
    ty: LongType,
    dcid: &ConnectionId,
    scid: &ConnectionId,
    token: &[u8],
    pn: u64,
    pn_len: usize,
) -> usize {
    buf.push(0xc0 | (ty.bits(version) << 4) | (pn_len as u8 - 1));
    buf.extend_from_slice(&version.to_be_bytes());
    buf.push(dcid.len() as u8);
    buf.extend_from_slice(dcid);
    buf.push(scid.len() as u8);
    buf.extend_from_slice(scid);
    if ty == LongType::Initial {
        varint::write(buf, token.len() as u64);
        buf.extend_from_slice(token);
    }
    let len_at = buf.len();
    buf.extend_from_slice(&[0x40, 0]);
    write_pn(buf, pn, pn_len);
    len_at
}

/// Writes a short header (RFC 9000 §17.3.1) with key phase `key_phase`.
pub fn write_short_header(
    buf: &mut Vec<u8>,
    dcid: &ConnectionId,
    key_phase: bool,
    pn: u64,
    pn_len: usize,
) {
    buf.push(0x40 | (u8::from(key_phase) << 2) | (pn_len as u8 - 1));
    buf.extend_from_slice(dcid);
    write_pn(buf, pn, pn_len);
}

fn write_pn(buf: &mut Vec<u8>, pn: u64, len: usize) {
    let bytes = pn.to_be_bytes();
    buf.extend_from_slice(&bytes[8 - len..]);
}

/// Builds a Version Negotiation packet answering a packet with the given
/// CIDs (RFC 9000 §6, §17.2.1): our SCID is their DCID and vice versa.
pub fn version_negotiation(
    their_dcid: &[u8],
    their_scid: &[u8],
    random_byte: u8,
    versions: &[u32],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + their_dcid.len() + their_scid.len() + 4 * versions.len());
    out.push(0x80 | (random_byte & 0x7f));
    out.extend_from_slice(&0u32.to_be_bytes());
    out.push(their_scid.len() as u8);
    out.extend_from_slice(their_scid);
    out.push(their_dcid.len() as u8);
    out.extend_from_slice(their_dcid);
    for v in versions {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// The smallest stateless reset: 5 bytes that look like a short header
/// and the 16-byte token (RFC 9000 §10.3).
pub const MIN_STATELESS_RESET_LEN: usize = 21;

/// Builds a stateless reset of `len` bytes (at least
/// [`MIN_STATELESS_RESET_LEN`]) ending in `token` (RFC 9000 §10.3): the
/// fixed bits of a short header, then unpredictable bits.
pub fn stateless_reset(len: usize, token: &[u8; 16], rng: &mut impl rand::RngCore) -> Vec<u8> {
    let len = len.max(MIN_STATELESS_RESET_LEN);
    let mut out = vec![0u8; len];
    rng.fill_bytes(&mut out[..len - 16]);
    // Header Form 0, Fixed Bit 1; the other six bits stay random.
    out[0] = 0x40 | (out[0] & 0x3f);
    out[len - 16..].copy_from_slice(token);
    out
}

/// The CIDs of a long header of any version, read per the RFC 8999
/// invariants (lengths up to 255), used to answer unknown versions.
pub fn invariant_long_cids(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut r = Reader::new(buf);
    let first = r.u8()?;
    if first & 0x80 == 0 {
        return None;
    }
    r.u32()?;
    let dl = r.u8()? as usize;
    let d = r.bytes(dl)?;
    let sl = r.u8()? as usize;
    let s = r.bytes(sl)?;
    Some((d, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pn_decode_rfc_example() {
        // RFC 9000 A.3: largest 0xa82f30ea, truncated 0x9b32 (16 bits).
        assert_eq!(decode_pn(Some(0xa82f_30ea), 0x9b32, 16), 0xa82f_9b32);
        assert_eq!(decode_pn(None, 0, 8), 0);
        assert_eq!(decode_pn(Some(0xff), 0x00, 8), 0x100);
    }

    #[test]
    fn pn_len_rfc_example() {
        // RFC 9000 A.2: 0xac5c02 with 0xabe8b3 acked needs 16 bits;
        // 0xace8fe needs 24.
        assert_eq!(pn_len(0xac5c02, Some(0xabe8b3)), 2);
        assert_eq!(pn_len(0xace8fe, Some(0xabe8b3)), 3);
        assert_eq!(pn_len(0, None), 1);
    }

    #[test]
    fn pn_round_trip_over_many_gaps() {
        for largest in [0u64, 1, 200, 65_000, 1 << 30] {
            for ahead in [1u64, 2, 100, 1000, 30_000] {
                let pn = largest + ahead;
                let len = pn_len(pn, Some(largest));
                let bits = 8 * len as u32;
                let trunc = pn & ((1u64 << bits) - 1);
                assert_eq!(decode_pn(Some(largest), trunc, bits), pn);
            }
        }
    }

    #[test]
    fn long_header_round_trip() {
        let d = ConnectionId::new(&[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        let s = ConnectionId::new(&[9, 9]).unwrap();
        let mut buf = Vec::new();
        let len_at =
            write_long_header(&mut buf, VERSION_1, LongType::Initial, &d, &s, b"tok", 7, 2);
        buf.extend_from_slice(&[0u8; 40]);
        let payload_len = buf.len() - len_at - 2;
        varint::write_with_len(&mut buf[len_at..], payload_len as u64, 2);
        let h = PartialHeader::parse(&buf, 8).unwrap();
        assert_eq!(h.dcid, d);
        assert_eq!(
            h.kind,
            HeaderKind::Long {
                ty: LongType::Initial,
                version: VERSION_1,
                scid: s
            }
        );
        assert_eq!(&buf[h.token.clone()], b"tok");
        assert_eq!(h.pn_offset, len_at + 2);
        assert_eq!(h.len, buf.len());
    }

    #[test]
    fn short_and_vn() {
        let d = ConnectionId::new(&[7; 8]).unwrap();
        let mut buf = Vec::new();
        write_short_header(&mut buf, &d, true, 5, 1);
        buf.extend_from_slice(&[0; 20]);
        let h = PartialHeader::parse(&buf, 8).unwrap();
        assert_eq!(h.kind, HeaderKind::Short);
        assert_eq!(h.dcid, d);
        let vn = version_negotiation(&[1, 2], &[3], 0x55, &[VERSION_1]);
        let h = PartialHeader::parse(&vn, 8).unwrap();
        assert_eq!(h.dcid.as_ref(), &[3]);
        assert!(
            matches!(h.kind, HeaderKind::VersionNegotiation { ref versions, .. } if versions == &[VERSION_1])
        );
    }

    #[test]
    fn stateless_reset_looks_like_a_short_header() {
        let token = [0xab; 16];
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(466);
        for len in [0, 21, 42, 100] {
            let r = stateless_reset(len, &token, &mut rng);
            assert_eq!(r.len(), len.max(MIN_STATELESS_RESET_LEN));
            assert_eq!(r[0] & 0xc0, 0x40);
            assert_eq!(&r[r.len() - 16..], &token);
            let h = PartialHeader::parse(&r, 8).unwrap();
            assert_eq!(h.kind, HeaderKind::Short);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (x >> (i % 8 * 8)) as u8).collect();
            let _ = PartialHeader::parse(&bytes, 8);
            let _ = invariant_long_cids(&bytes);
        }
    }
}
