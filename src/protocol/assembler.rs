//! Reassembly of out-of-order byte ranges (STREAM and CRYPTO data) into an
//! ordered stream, keeping received `Bytes` without copying.
//!
//! Each kept chunk is a slice of the datagram it arrived in. A peer that
//! sends many tiny frames could make a few bytes of flow-control credit pin
//! whole datagrams and map entries; when chunks are many and small on
//! average, the assembler copies contiguous runs into compact buffers
//! (amortised: at most once per doubling of the chunk count).

use bytes::{Bytes, BytesMut};
use std::collections::BTreeMap;

/// Chunk count below which no defragmentation happens.
const DEFRAG_MIN_CHUNKS: usize = 64;

/// Average chunk size below which chunks count as fragments.
const SMALL_AVERAGE: u64 = 512;

/// Buffered out-of-order chunks and the read offset.
#[derive(Debug)]
pub struct Assembler {
    chunks: BTreeMap<u64, Bytes>,
    read: u64,
    buffered: u64,
    defrag_at: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Self {
            chunks: BTreeMap::new(),
            read: 0,
            buffered: 0,
            defrag_at: DEFRAG_MIN_CHUNKS,
        }
    }
}

impl Assembler {
    /// The offset up to which data was handed out.
    pub fn read_offset(&self) -> u64 {
        self.read
    }

    #[cfg(any(test, feature = "test-hooks"))]
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
        if self.chunks.len() > self.defrag_at {
            if self.buffered / (self.chunks.len() as u64) < SMALL_AVERAGE {
                self.defragment();
            }
            self.defrag_at = (2 * self.chunks.len()).max(DEFRAG_MIN_CHUNKS);
        }
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Number of separate chunks held.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Copies each run of contiguous chunks into one compact buffer, so no
    /// chunk keeps a datagram alive for a few bytes.
    fn defragment(&mut self) {
        let old = std::mem::take(&mut self.chunks);
        let mut run: Option<(u64, BytesMut)> = None;
        for (offset, chunk) in old {
            match &mut run {
                Some((start, buf)) if *start + buf.len() as u64 == offset => {
                    buf.extend_from_slice(&chunk);
                }
                _ => {
                    if let Some((start, buf)) = run.take() {
                        self.chunks.insert(start, buf.freeze());
                    }
                    run = Some((offset, BytesMut::from(&chunk[..])));
                }
            }
        }
        if let Some((start, buf)) = run {
            self.chunks.insert(start, buf.freeze());
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
    fn many_tiny_fragments_are_compacted() {
        let mut a = Assembler::default();
        // 1-byte chunks with no gaps between pairs: 2000 bytes in pieces.
        for i in 0..2000u64 {
            a.insert(10 + i, Bytes::copy_from_slice(&[i as u8]));
        }
        assert!(a.chunk_count() < 100, "{} chunks", a.chunk_count());
        // Gapped fragments stay separate but are copied out.
        let mut b = Assembler::default();
        for i in 0..1000u64 {
            b.insert(10 + 2 * i, Bytes::copy_from_slice(&[1]));
        }
        assert_eq!(b.chunk_count(), 1000);
        assert_eq!(b.buffered(), 1000);
        a.insert(0, Bytes::from_static(&[0; 10]));
        let mut total = 0;
        while let Some(c) = a.read(usize::MAX) {
            total += c.len();
        }
        assert_eq!(total, 2010);
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

    #[test]
    fn gapped_fragments_survive_compaction_exactly() {
        // 1-byte fragments with gaps, each sliced from its own 1200-byte
        // datagram: compaction copies them out and must keep every byte.
        let mut a = Assembler::default();
        for i in 0..2000u64 {
            let datagram = Bytes::from(vec![7u8; 1200]);
            a.insert(1 + 2 * i, datagram.slice(600..601));
        }
        assert_eq!(a.buffered(), 2000);
        assert_eq!(a.chunk_count(), 2000);
    }
}
