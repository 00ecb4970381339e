//! Reassembly of out-of-order byte ranges (STREAM and CRYPTO data) into an
//! ordered stream, keeping received `Bytes` without copying.
//!
//! Data that arrives in order, the common case, goes to a queue of ready
//! chunks and out again without touching an ordered map; only data that
//! arrives ahead of a gap waits in one, until the gap fills.
//!
//! Each kept chunk is a slice of the datagram it arrived in. A peer that
//! sends many tiny frames could make a few bytes of flow-control credit pin
//! whole datagrams and map entries; when chunks are many and small on
//! average, the assembler copies contiguous runs into compact buffers
//! (amortised: at most once per doubling of the chunk count).

use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, VecDeque};

/// Chunk count below which no defragmentation happens.
const DEFRAG_MIN_CHUNKS: usize = 64;

/// Average chunk size below which chunks count as fragments.
const SMALL_AVERAGE: u64 = 512;

/// Buffered chunks and the read offset.
#[derive(Debug)]
pub struct Assembler {
    /// Contiguous chunks from the read offset on, in order.
    ready: VecDeque<Bytes>,
    /// Where `ready` ends: everything below was received.
    ready_end: u64,
    /// Chunks beyond a gap, by offset, none overlapping and all at or
    /// above `ready_end`.
    ahead: BTreeMap<u64, Bytes>,
    read: u64,
    buffered: u64,
    defrag_at: usize,
}

impl Default for Assembler {
    fn default() -> Self {
        Self {
            ready: VecDeque::new(),
            ready_end: 0,
            ahead: BTreeMap::new(),
            read: 0,
            buffered: 0,
            defrag_at: DEFRAG_MIN_CHUNKS,
        }
    }
}

impl Assembler {
    /// Frees the buffer of read chunks when none is waiting.
    pub(crate) fn compact(&mut self) {
        if self.ready.is_empty() {
            self.ready = VecDeque::new();
        }
    }

    /// The offset up to which data was handed out.
    pub fn read_offset(&self) -> u64 {
        self.read
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Bytes held in the buffer.
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// Stores `data` at `offset`, dropping what was already received, so
    /// memory never exceeds the covered range.
    pub fn insert(&mut self, mut offset: u64, mut data: Bytes) {
        loop {
            // Everything below `ready_end` was read or is ready.
            if offset < self.ready_end {
                let skip = (self.ready_end - offset).min(data.len() as u64) as usize;
                data = data.slice(skip..);
                offset += skip as u64;
            }
            if data.is_empty() {
                break;
            }
            if offset != self.ready_end {
                self.insert_ahead(offset, data);
                break;
            }
            // In order: ready at once, up to the first chunk ahead, which
            // then follows it (and the rest of `data` is trimmed against
            // what moved).
            let room = self
                .ahead
                .keys()
                .next()
                .map_or(usize::MAX, |&o| (o - offset) as usize);
            let piece = data.split_to(data.len().min(room));
            offset += piece.len() as u64;
            self.push_ready(piece);
            self.promote();
        }
        self.maybe_defragment();
    }

    fn push_ready(&mut self, piece: Bytes) {
        self.ready_end += piece.len() as u64;
        self.buffered += piece.len() as u64;
        self.ready.push_back(piece);
    }

    /// Moves the chunks ahead that now follow `ready` into it.
    fn promote(&mut self) {
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() != self.ready_end {
                break;
            }
            let chunk = entry.remove();
            self.buffered -= chunk.len() as u64;
            self.push_ready(chunk);
        }
    }

    /// Stores `data` at `offset` (beyond `ready_end`) among the chunks
    /// ahead, skipping what they hold already.
    fn insert_ahead(&mut self, mut offset: u64, mut data: Bytes) {
        while !data.is_empty() {
            if let Some((&o, b)) = self.ahead.range(..=offset).next_back() {
                let end = o + b.len() as u64;
                if end > offset {
                    let skip = (end - offset).min(data.len() as u64) as usize;
                    data = data.slice(skip..);
                    offset += skip as u64;
                    continue;
                }
            }
            let limit = self
                .ahead
                .range(offset + 1..)
                .next()
                .map_or(usize::MAX, |(&o, _)| (o - offset) as usize);
            let piece = data.split_to(data.len().min(limit));
            offset += piece.len() as u64;
            self.buffered += piece.len() as u64;
            self.ahead.insert(offset - piece.len() as u64, piece);
        }
    }

    /// Chunks held beyond a gap: each costs a map entry and a buffer
    /// whatever its size, the cost a fragmenting peer drives up.
    pub fn ahead_chunks(&self) -> usize {
        self.ahead.len()
    }

    #[cfg(any(test, feature = "test-hooks"))]
    /// Number of separate chunks held.
    pub fn chunk_count(&self) -> usize {
        self.ready.len() + self.ahead.len()
    }

    fn maybe_defragment(&mut self) {
        let chunks = self.ready.len() + self.ahead.len();
        if chunks > self.defrag_at {
            if self.buffered / (chunks as u64) < SMALL_AVERAGE {
                self.defragment();
            }
            let chunks = self.ready.len() + self.ahead.len();
            self.defrag_at = (2 * chunks).max(DEFRAG_MIN_CHUNKS);
        }
    }

    /// Copies each run of contiguous chunks into one compact buffer, so no
    /// chunk keeps a datagram alive for a few bytes.
    fn defragment(&mut self) {
        if self.ready.len() > 1 {
            let mut buf = BytesMut::with_capacity((self.ready_end - self.read) as usize);
            for chunk in self.ready.drain(..) {
                buf.extend_from_slice(&chunk);
            }
            self.ready.push_back(buf.freeze());
        }
        let old = std::mem::take(&mut self.ahead);
        let mut run: Option<(u64, BytesMut)> = None;
        for (offset, chunk) in old {
            match &mut run {
                Some((start, buf)) if *start + buf.len() as u64 == offset => {
                    buf.extend_from_slice(&chunk);
                }
                _ => {
                    if let Some((start, buf)) = run.take() {
                        self.ahead.insert(start, buf.freeze());
                    }
                    run = Some((offset, BytesMut::from(&chunk[..])));
                }
            }
        }
        if let Some((start, buf)) = run {
            self.ahead.insert(start, buf.freeze());
        }
    }

    /// True when data at the read offset is buffered.
    pub fn has_data(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Takes up to `max` bytes at the read offset.
    pub fn read(&mut self, max: usize) -> Option<Bytes> {
        let front = self.ready.front_mut()?;
        let chunk = if front.len() > max {
            front.split_to(max)
        } else {
            self.ready.pop_front().expect("a front chunk")
        };
        self.read += chunk.len() as u64;
        self.buffered -= chunk.len() as u64;
        Some(chunk)
    }

    /// Drops everything and moves the read offset to `offset`.
    pub fn clear_to(&mut self, offset: u64) {
        self.ready.clear();
        self.ahead.clear();
        self.buffered = 0;
        self.read = self.read.max(offset);
        self.ready_end = self.ready_end.max(self.read);
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

    /// In-order data goes to the ready queue and out again as the same
    /// `Bytes` (no copy), never through the map.
    #[test]
    fn in_order_data_takes_the_fast_path() {
        let mut a = Assembler::default();
        let mut offset = 0;
        let mut sent = Vec::new();
        for i in 0..100u8 {
            let chunk = Bytes::from(vec![i; 1000]);
            sent.push(chunk.as_ptr());
            a.insert(offset, chunk);
            offset += 1000;
            assert!(a.ahead.is_empty());
        }
        for ptr in sent {
            assert_eq!(a.read(usize::MAX).unwrap().as_ptr(), ptr);
        }
        assert_eq!(a.buffered(), 0);
        assert_eq!(a.read_offset(), 100_000);
    }

    /// A gap holds later data in the map; filling it moves everything that
    /// follows to the ready queue, overlaps trimmed on the way.
    #[test]
    fn filling_a_gap_promotes_what_follows() {
        let mut a = Assembler::default();
        a.insert(0, Bytes::from_static(b"ab"));
        a.insert(4, Bytes::from_static(b"ef"));
        a.insert(6, Bytes::from_static(b"gh"));
        assert_eq!(a.ahead.len(), 2);
        // A retransmission of what is ready adds nothing.
        a.insert(0, Bytes::from_static(b"ab"));
        assert_eq!(a.buffered(), 6);
        // The gap, overlapping what is ahead.
        a.insert(1, Bytes::from_static(b"bcdefg"));
        assert!(a.ahead.is_empty());
        assert_eq!(a.buffered(), 8);
        let mut out = Vec::new();
        while let Some(b) = a.read(3) {
            out.extend_from_slice(&b);
        }
        assert_eq!(out, b"abcdefgh");
    }

    /// Whatever the order of arrival, the bytes come out whole, once.
    #[test]
    fn any_order_reassembles() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        // Deterministic shuffles of overlapping pieces.
        for seed in 1..50u64 {
            let mut x = seed;
            let mut a = Assembler::default();
            let mut out = Vec::new();
            for _ in 0..400 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let start = (x % 5000) as usize;
                let len = ((x >> 20) % 300) as usize;
                let end = (start + len).min(5000);
                a.insert(start as u64, Bytes::copy_from_slice(&data[start..end]));
                while let Some(b) = a.read(((x >> 40) % 700 + 1) as usize) {
                    out.extend_from_slice(&b);
                }
            }
            a.insert(0, Bytes::copy_from_slice(&data));
            while let Some(b) = a.read(usize::MAX) {
                out.extend_from_slice(&b);
            }
            assert_eq!(out, data, "seed {seed}");
            assert_eq!(a.buffered(), 0);
        }
    }
}
