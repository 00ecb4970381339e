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
    fn truncated_is_none() {
        assert_eq!(Reader::new(&[]).varint(), None);
        assert_eq!(Reader::new(&[0x40]).varint(), None);
        assert_eq!(Reader::new(&[0xc0, 0, 0]).varint(), None);
    }
}
