//! A set of `u64` values stored as disjoint half-open ranges, used for
//! received packet numbers (ACK ranges), acknowledged stream bytes and
//! out-of-order receive tracking.

use std::collections::BTreeMap;
use std::ops::Range;

/// Disjoint, non-adjacent half-open ranges. The highest is kept apart
/// from the others: a set of one range (the usual ACK state and
/// acknowledged bytes, all in order) needs no allocation, and growing
/// that range, the common insert, touches no tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// The highest range, as (start, end); `None` for an empty set.
    high: Option<(u64, u64)>,
    /// The ranges below `high`, end by start (each ends before the next
    /// starts, the last before `high` starts).
    rest: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.rest.len() + usize::from(self.high.is_some())
    }

    /// True when the set holds nothing.
    pub fn is_empty(&self) -> bool {
        self.high.is_none()
    }

    /// True when `v` is in the set.
    pub fn contains(&self, v: u64) -> bool {
        // Past the highest range: the common case of a new packet number.
        let Some((start, end)) = self.high else {
            return false;
        };
        if v >= end {
            return false;
        }
        if v >= start {
            return true;
        }
        self.rest
            .range(..=v)
            .next_back()
            .is_some_and(|(_, &end)| v < end)
    }

    /// Adds `range`, merging with neighbours. Returns true if anything new was added.
    pub fn insert(&mut self, range: Range<u64>) -> bool {
        let (start, end) = (range.start, range.end);
        if start >= end {
            return false;
        }
        match &mut self.high {
            None => {
                self.high = Some((start, end));
                return true;
            }
            // Touching or overlapping the highest range from its start on
            // (the next packet number, the next bytes): it grows in place.
            Some((s, e)) if *s <= start && start <= *e => {
                if end <= *e {
                    return false;
                }
                *e = end;
                return true;
            }
            // A new highest range, beyond a gap.
            Some((s, e)) if start > *e => {
                self.rest.insert(*s, *e);
                self.high = Some((start, end));
                return true;
            }
            Some(_) => {}
        }
        self.with_all(|map| insert_into(map, start, end))
    }

    /// Removes `range` from the set.
    pub fn remove(&mut self, range: Range<u64>) {
        if range.start >= range.end || self.high.is_none() {
            return;
        }
        self.with_all(|map| {
            let overlapping: Vec<(u64, u64)> = map
                .range(..range.end)
                .rev()
                .take_while(|(_, &e)| e > range.start)
                .map(|(&s, &e)| (s, e))
                .collect();
            for (s, e) in overlapping {
                map.remove(&s);
                if s < range.start {
                    map.insert(s, range.start);
                }
                if e > range.end {
                    map.insert(range.end, e);
                }
            }
        });
    }

    /// `f` on all ranges in one map, then the highest set apart again;
    /// an emptied tree gives its node back.
    fn with_all<R>(&mut self, f: impl FnOnce(&mut BTreeMap<u64, u64>) -> R) -> R {
        if let Some((s, e)) = self.high.take() {
            self.rest.insert(s, e);
        }
        let r = f(&mut self.rest);
        self.high = self.rest.pop_last();
        self.release_if_empty();
        r
    }

    fn release_if_empty(&mut self) {
        if self.rest.is_empty() {
            self.rest = BTreeMap::new();
        }
    }

    /// The lowest range.
    pub fn first(&self) -> Option<Range<u64>> {
        self.rest
            .first_key_value()
            .map(|(&s, &e)| (s, e))
            .or(self.high)
            .map(|(s, e)| s..e)
    }

    /// The highest range.
    pub fn last(&self) -> Option<Range<u64>> {
        self.high.map(|(s, e)| s..e)
    }

    /// Removes and returns the lowest range.
    pub fn pop_first(&mut self) -> Option<Range<u64>> {
        let (s, e) = match self.rest.pop_first() {
            Some(first) => {
                self.release_if_empty();
                first
            }
            None => self.high.take()?,
        };
        Some(s..e)
    }

    /// Removes the lowest ranges until at most `max` remain.
    pub fn truncate_low(&mut self, max: usize) {
        while self.len() > max {
            self.pop_first();
        }
    }

    /// Ranges from highest to lowest.
    pub fn iter_rev(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.high
            .into_iter()
            .chain(self.rest.iter().rev().map(|(&s, &e)| (s, e)))
            .map(|(s, e)| s..e)
    }

    /// Ranges from lowest to highest.
    pub fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.rest
            .iter()
            .map(|(&s, &e)| (s, e))
            .chain(self.high)
            .map(|(s, e)| s..e)
    }
}

/// Adds `start..end` to the ranges in `map`, merging with neighbours;
/// true if anything new was added.
fn insert_into(map: &mut BTreeMap<u64, u64>, mut start: u64, mut end: u64) -> bool {
    // Merge with a predecessor that overlaps or touches.
    if let Some((&s, &e)) = map.range(..=start).next_back() {
        if e >= end {
            return false;
        }
        if e >= start {
            start = s;
            map.remove(&s);
        }
    }
    // Absorb successors that overlap or touch.
    while let Some((&s, &e)) = map.range(start..).next() {
        if s > end {
            break;
        }
        end = end.max(e);
        map.remove(&s);
    }
    map.insert(start, end);
    true
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
    fn the_highest_range_grows_in_place() {
        let mut s = RangeSet::new();
        for pn in 0..100 {
            assert!(!s.contains(pn));
            assert!(s.insert(pn..pn + 1));
            assert!(s.contains(pn));
        }
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0..100]);
        assert!(!s.insert(50..100), "already there");
        assert!(s.insert(90..120), "overlapping its end");
        assert!(s.insert(121..122), "after a gap of one: a range of its own");
        assert!(s.insert(130..131), "after a gap: a range of its own");
        assert!(s.insert(124..125), "below the highest: a range of its own");
        assert!(s.insert(122..124), "merging two");
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0..120, 121..125, 130..131]);
    }

    /// Random inserts and removes against the set of values they mean.
    #[test]
    fn matches_a_set_of_values() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (state >> 33) % n
        };
        let mut s = RangeSet::new();
        let mut model = std::collections::BTreeSet::new();
        let mut hi = 0;
        for step in 0..5000u64 {
            // Mostly in order, as packet numbers arrive (touching the
            // highest range, or one or two past it), with jumps back.
            let start = match next(4) {
                0 => next(hi + 10),
                1 => hi.saturating_sub(next(8)),
                _ => hi + next(3),
            };
            let end = start + 1 + next(6);
            hi = hi.max(end);
            if next(10) == 0 {
                s.remove(start..end);
                (start..end).for_each(|v| {
                    model.remove(&v);
                });
            } else {
                let new = (start..end).any(|v| !model.contains(&v));
                assert_eq!(s.insert(start..end), new, "insert {start}..{end}");
                model.extend(start..end);
            }
            let v = next(step + 10);
            assert_eq!(s.contains(v), model.contains(&v), "contains {v}");
            let values: Vec<u64> = s.iter().flatten().collect();
            assert!(values.iter().eq(model.iter()), "after step {step}");
            // The ranges are disjoint, apart and ordered whichever way
            // they are read.
            let ranges: Vec<Range<u64>> = s.iter().collect();
            assert!(ranges.windows(2).all(|w| w[0].end < w[1].start));
            assert_eq!(s.len(), ranges.len());
            assert_eq!(s.is_empty(), ranges.is_empty());
            assert!(s.iter_rev().eq(ranges.iter().rev().cloned()));
            assert_eq!(s.first(), ranges.first().cloned());
            assert_eq!(s.last(), ranges.last().cloned());
            if next(50) == 0 {
                if let Some(r) = s.pop_first() {
                    assert_eq!(Some(&r), ranges.first());
                    r.for_each(|v| {
                        model.remove(&v);
                    });
                }
            }
        }
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
