//! Variable-length integer encoding (RFC 9000 §16) and a small byte reader.


/// The largest value a varint can hold: 2^62 - 1.
pub const MAX: u64 = (1 << 62) - 1;

/// The number of bytes `v` takes when encoded (1, 2, 4 or 8).
///
/// Values above [`MAX`] cannot be encoded; callers keep values in range.
pub fn size(v: u64) -> usize {
    if v < 1 << 6 {
        1
    } else if v < 1 << 14 {
        2
    } else if v < 1 << 30 {
        4
    } else {
        8
    }
}

/// Appends `v` in its shortest encoding (RFC 9000 §16).
pub fn write(buf: &mut Vec<u8>, v: u64) {
    debug_assert!(v <= MAX, "varint out of range");
    match size(v) {
        1 => buf.push(v as u8),
        2 => buf.extend_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        4 => buf.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => buf.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes()),
    }
}

/// Appends `v` as a varint of exactly `len` bytes (1, 2, 4 or 8), used where
/// a length field is reserved before its value is known.
pub fn write_with_len(buf: &mut [u8], v: u64, len: usize) {
    match len {
        1 => buf[0] = v as u8,
        2 => buf[..2].copy_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        4 => buf[..4].copy_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => buf[..8].copy_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes()),
    }
}

/// An integer a QUIC varint can carry (RFC 9000 §16): below 2^62. Error
/// codes and stream counts a user passes are `VarInt`s, so a value the
/// wire cannot carry is refused where it is made, never sent as another
/// value.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarInt(u64);

/// The value is 2^62 or more: no QUIC varint carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("value too large for a QUIC varint")]
pub struct VarIntBoundsExceeded;

impl VarInt {
    /// The largest value: 2^62 - 1.
    pub const MAX: Self = Self(MAX);
    /// The most bytes an encoded varint takes.
    pub const MAX_SIZE: usize = 8;

    /// Any `u32` fits.
    pub const fn from_u32(x: u32) -> Self {
        Self(x as u64)
    }

    /// `x`, if it is below 2^62.
    pub fn from_u64(x: u64) -> Result<Self, VarIntBoundsExceeded> {
        if x <= MAX {
            Ok(Self(x))
        } else {
            Err(VarIntBoundsExceeded)
        }
    }

    /// A value read off the wire, below 2^62 by construction.
    pub(crate) fn from_wire(x: u64) -> Self {
        debug_assert!(x <= MAX);
        Self(x)
    }

    /// The value.
    pub const fn into_inner(self) -> u64 {
        self.0
    }

    /// How many bytes it takes encoded (1, 2, 4 or 8).
    pub fn size(self) -> usize {
        size(self.0)
    }
}

impl From<VarInt> for u64 {
    fn from(x: VarInt) -> u64 {
        x.0
    }
}

impl From<u8> for VarInt {
    fn from(x: u8) -> Self {
        Self(x.into())
    }
}

impl From<u16> for VarInt {
    fn from(x: u16) -> Self {
        Self(x.into())
    }
}

impl From<u32> for VarInt {
    fn from(x: u32) -> Self {
        Self(x.into())
    }
}

impl TryFrom<u64> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: u64) -> Result<Self, VarIntBoundsExceeded> {
        Self::from_u64(x)
    }
}

impl TryFrom<u128> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: u128) -> Result<Self, VarIntBoundsExceeded> {
        Self::from_u64(x.try_into().map_err(|_| VarIntBoundsExceeded)?)
    }
}

impl TryFrom<usize> for VarInt {
    type Error = VarIntBoundsExceeded;
    fn try_from(x: usize) -> Result<Self, VarIntBoundsExceeded> {
        Self::from_u64(x as u64)
    }
}

impl std::fmt::Debug for VarInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Display for VarInt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A forward-only reader over a byte slice that never panics on short input.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the beginning of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// True when everything has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.remaining() < n {
            return None;
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }

    /// Reads everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }

    /// Reads a varint (RFC 9000 §16).
    pub fn varint(&mut self) -> Option<u64> {
        let first = *self.buf.get(self.pos)?;
        let len = 1usize << (first >> 6);
        let b = self.bytes(len)?;
        let mut v = u64::from(first & 0x3f);
        for &x in &b[1..] {
            v = (v << 8) | u64::from(x);
        }
        Some(v)
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9000_appendix_a1_examples() {
        let cases: &[(&[u8], u64)] = &[
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (enc, v) in cases {
            assert_eq!(Reader::new(enc).varint(), Some(*v));
            let mut out = Vec::new();
            write(&mut out, *v);
            assert_eq!(&out[..], *enc);
        }
        // A two-byte encoding of 37 decodes too.
        assert_eq!(Reader::new(&[0x40, 0x25]).varint(), Some(37));
    }

    #[test]
    fn boundaries_round_trip() {
        for v in [0, 63, 64, 16383, 16384, (1 << 30) - 1, 1 << 30, MAX] {
            let mut out = Vec::new();
            write(&mut out, v);
            assert_eq!(out.len(), size(v));
            let mut r = Reader::new(&out);
            assert_eq!(r.varint(), Some(v));
            assert!(r.is_empty());
            let mut fixed = [0u8; 8];
            write_with_len(&mut fixed, v, 8);
            assert_eq!(Reader::new(&fixed).varint(), Some(v));
        }
    }

    #[test]
    fn var_int_refuses_what_the_wire_cannot_carry() {
        assert_eq!(VarInt::from_u64(MAX).map(VarInt::into_inner), Ok(MAX));
        assert_eq!(VarInt::from_u64(MAX + 1), Err(VarIntBoundsExceeded));
        assert_eq!(VarInt::try_from(1u64 << 63), Err(VarIntBoundsExceeded));
        assert_eq!(VarInt::try_from(u64::MAX), Err(VarIntBoundsExceeded));
        assert_eq!(VarInt::try_from(u128::from(u64::MAX) + 1), Err(VarIntBoundsExceeded));
        assert_eq!(VarInt::from(7u8).into_inner(), 7);
        assert_eq!(VarInt::from_u32(u32::MAX).size(), 8);
        assert_eq!(VarInt::MAX.size(), VarInt::MAX_SIZE);
    }

    #[test]
    fn truncated_is_none() {
        assert_eq!(Reader::new(&[]).varint(), None);
        assert_eq!(Reader::new(&[0x40]).varint(), None);
        assert_eq!(Reader::new(&[0xc0, 0, 0]).varint(), None);
    }
}
