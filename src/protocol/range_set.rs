//! A set of `u64` values stored as disjoint half-open ranges, used for
//! received packet numbers (ACK ranges), acknowledged stream bytes and
//! out-of-order receive tracking.

use std::collections::BTreeMap;
use std::ops::Range;

/// Disjoint, non-adjacent half-open ranges keyed by start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// True when `v` is in the set.
    pub fn contains(&self, v: u64) -> bool {
        self.map
            .range(..=v)
            .next_back()
            .is_some_and(|(_, &end)| v < end)
    }

    /// Adds `range`, merging with neighbours. Returns true if anything new was added.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        let (mut start, mut end) = (range.start, range.end);
        if start >= end {
            return false;
        }
        // Merge with a predecessor that overlaps or touches.
        if let Some((&s, &e)) = self.map.range(..=start).next_back() {
            if e >= end {
                return false;
            }
            if e >= start {
                start = s;
                self.map.remove(&s);
            }
        }
        // Absorb successors that overlap or touch.
        while let Some((&s, &e)) = self.map.range(start..).next() {
            if s > end {
                break;
            }
            end = end.max(e);
            self.map.remove(&s);
        }
        self.map.insert(start, end);
        true
    }

    /// Removes `range` from the set.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        let overlapping: Vec<(u64, u64)> = self
            .map
            .range(..range.end)
            .rev()
            .take_while(|(_, &e)| e > range.start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.map.remove(&s);
            if s < range.start {
                self.map.insert(s, range.start);
            }
            if e > range.end {
                self.map.insert(range.end, e);
            }
        }
    }

    /// The lowest range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.map.iter().next().map(|(&s, &e)| s..e)
    }

    /// The highest range.
    pub fn last(&self) -> Option<Range<u64>> {
        self.map.iter().next_back().map(|(&s, &e)| s..e)
    }

    /// Removes and returns the lowest range.
    pub fn pop_first(&mut self) -> Option<Range<u64>> {
        self.map.pop_first().map(|(s, e)| s..e)
    }

    /// Removes the lowest ranges until at most `max` remain.
    pub fn truncate_low(&mut self, max: usize) {
        while self.map.len() > max {
            self.map.pop_first();
        }
    }

    /// Ranges from highest to lowest.
    pub fn iter_rev(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.map.iter().rev().map(|(&s, &e)| s..e)
    }

    /// Ranges from lowest to highest.
    pub fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.map.iter().map(|(&s, &e)| s..e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_and_remove_splits() {
        let mut s = RangeSet::new();
        assert!(s.insert(5..10));
        assert!(s.insert(12..15));
        assert!(!s.insert(6..9));
        assert!(s.insert(10..12));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![5..15]);
        s.remove(7..9);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![5..7, 9..15]);
        assert!(s.contains(5) && !s.contains(7) && s.contains(14) && !s.contains(15));
        s.insert(0..100);
        assert_eq!(s.len(), 1);
        s.remove(0..100);
        assert!(s.is_empty());
    }

    #[test]
    fn truncate_keeps_highest() {
        let mut s = RangeSet::new();
        for i in 0..10 {
            s.insert(i * 3..i * 3 + 1);
        }
        s.truncate_low(3);
        assert_eq!(s.first(), Some(21..22));
        assert_eq!(s.last(), Some(27..28));
    }
}
