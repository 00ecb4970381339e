//! Reassembly of out-of-order byte ranges (STREAM and CRYPTO data) into an
//! ordered stream, keeping received `Bytes` without copying.

use bytes::Bytes;
use std::collections::BTreeMap;

/// Buffered out-of-order chunks and the read offset.
#[derive(Debug, Default)]
pub struct Assembler {
    chunks: BTreeMap<u64, Bytes>,
    read: u64,
    buffered: u64,
}

impl Assembler {
    /// The offset up to which data was handed out.
    pub fn read_offset(&self) -> u64 {
        self.read
    }

    /// Bytes held in the buffer.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Stores `data` at `offset`, dropping what was already read or is
    /// already buffered, so memory never exceeds the covered range.
    pub fn insert(&mut self, mut offset: u64, mut data: Bytes) {
        if offset < self.read {
            let skip = (self.read - offset).min(data.len() as u64) as usize;
            data = data.slice(skip..);
            offset += skip as u64;
        }
        while !data.is_empty() {
            if let Some((&o, b)) = self.chunks.range(..=offset).next_back() {
                let end = o + b.len() as u64;
                if end > offset {
                    let skip = (end - offset).min(data.len() as u64) as usize;
                    data = data.slice(skip..);
                    offset += skip as u64;
                    continue;
                }
            }
            let limit = self
                .chunks
                .range(offset + 1..)
                .next()
                .map_or(usize::MAX, |(&o, _)| (o - offset) as usize);
            let piece = data.split_to(data.len().min(limit));
            offset += piece.len() as u64;
            self.buffered += piece.len() as u64;
            self.chunks.insert(offset - piece.len() as u64, piece);
        }
    }

    /// True when data at the read offset is buffered.
    pub fn has_data(&self) -> bool {
        self.chunks.contains_key(&self.read)
    }

    /// Takes up to `max` bytes at the read offset.
    pub fn read(&mut self, max: usize) -> Option<Bytes> {
        let mut chunk = self.chunks.remove(&self.read)?;
        if chunk.len() > max {
            let rest = chunk.split_off(max);
            self.chunks.insert(self.read + max as u64, rest);
        }
        self.read += chunk.len() as u64;
        self.buffered -= chunk.len() as u64;
        Some(chunk)
    }

    /// Drops everything and moves the read offset to `offset`.
    pub fn clear_to(&mut self, offset: u64) {
        self.chunks.clear();
        self.buffered = 0;
        self.read = self.read.max(offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorders_and_dedups() {
        let mut a = Assembler::default();
        a.insert(5, Bytes::from_static(b"fghij"));
        a.insert(3, Bytes::from_static(b"defg"));
        assert!(!a.has_data());
        a.insert(0, Bytes::from_static(b"abcde"));
        let mut out = Vec::new();
        while let Some(b) = a.read(3) {
            out.extend_from_slice(&b);
        }
        assert_eq!(out, b"abcdefghij");
        assert_eq!(a.buffered(), 0);
        a.insert(2, Bytes::from_static(b"xyz"));
        assert_eq!(a.buffered(), 0);
    }

    #[test]
    fn overlapping_inside_existing() {
        let mut a = Assembler::default();
        a.insert(0, Bytes::from_static(b"0123456789"));
        a.insert(2, Bytes::from_static(b"23"));
        a.insert(8, Bytes::from_static(b"89ab"));
        assert_eq!(a.buffered(), 12);
        assert_eq!(&a.read(100).unwrap()[..], b"0123456789");
        assert_eq!(&a.read(100).unwrap()[..], b"ab");
    }
}
