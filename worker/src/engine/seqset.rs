//! Sets of sequence numbers as sorted, disjoint ranges: which invocations of a shard are done,
//! which are left. Runs are mostly contiguous, so a few ranges hold millions of numbers.
//!
//! **Pure**: no I/O.

use std::ops::Range;

/// A set of u64 as sorted, disjoint, non-adjacent half-open ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SeqSet {
    ranges: Vec<Range<u64>>,
}

impl SeqSet {
    pub fn new() -> Self {
        SeqSet::default()
    }

    /// The numbers `range` holds.
    pub fn from_range(range: Range<u64>) -> Self {
        let mut set = SeqSet::new();
        set.insert_range(range);
        set
    }

    /// The union of `ranges`, in any order, overlapping or not.
    pub fn from_ranges(ranges: impl IntoIterator<Item = Range<u64>>) -> Self {
        let mut set = SeqSet::new();
        for r in ranges {
            set.insert_range(r);
        }
        set
    }

    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// How many numbers the set holds.
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    pub fn contains(&self, seq: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.end <= seq);
        self.ranges.get(i).is_some_and(|r| r.start <= seq)
    }

    /// Whether any number of `range` is in the set.
    pub fn intersects(&self, range: &Range<u64>) -> bool {
        if range.start >= range.end {
            return false;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges.get(i).is_some_and(|r| r.start < range.end)
    }

    /// Whether every number of `range` is in the set.
    pub fn covers(&self, range: &Range<u64>) -> bool {
        if range.start >= range.end {
            return true;
        }
        let i = self.ranges.partition_point(|r| r.end <= range.start);
        self.ranges
            .get(i)
            .is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    pub fn insert(&mut self, seq: u64) {
        // Sequence numbers mostly arrive in order: extend the last range without a search.
        if let Some(last) = self.ranges.last_mut() {
            if last.end == seq {
                last.end += 1;
                return;
            }
            if last.start <= seq && seq < last.end {
                return;
            }
        }
        self.insert_range(seq..seq.saturating_add(1));
    }

    pub fn insert_range(&mut self, range: Range<u64>) {
        if range.start >= range.end {
            return;
        }
        // The first range that touches or follows `range`, and the first one after it.
        let from = self.ranges.partition_point(|r| r.end < range.start);
        let to = self.ranges.partition_point(|r| r.start <= range.end);
        let mut merged = range;
        if from < to {
            merged.start = merged.start.min(self.ranges[from].start);
            merged.end = merged.end.max(self.ranges[to - 1].end);
        }
        self.ranges.splice(from..to, [merged]);
    }

    pub fn union_with(&mut self, other: &SeqSet) {
        for r in &other.ranges {
            self.insert_range(r.clone());
        }
    }

    /// The numbers of `within` that are not in the set.
    pub fn complement_within(&self, within: Range<u64>) -> SeqSet {
        let mut out = SeqSet::new();
        let mut at = within.start;
        for r in &self.ranges {
            if r.end <= at {
                continue;
            }
            if r.start >= within.end {
                break;
            }
            if r.start > at {
                out.ranges.push(at..r.start);
            }
            at = r.end;
        }
        if at < within.end {
            out.ranges.push(at..within.end);
        }
        out
    }

    /// The `index`-th smallest number of the set (0-based), if it has that many.
    pub fn nth(&self, mut index: u64) -> Option<u64> {
        for r in &self.ranges {
            let len = r.end - r.start;
            if index < len {
                return Some(r.start + index);
            }
            index -= len;
        }
        None
    }

    /// All numbers, in increasing order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.ranges.iter().flat_map(|r| r.clone())
    }
}

/// The `index`-th number of a set, found by binary search over running totals: the engine's
/// closed loop asks for every position in turn, and a fleet's reassigned shard may have many
/// ranges left.
#[derive(Clone, Debug, Default)]
pub struct Positions {
    ranges: Vec<Range<u64>>,
    /// Numbers in the ranges before each one.
    before: Vec<u64>,
}

impl Positions {
    pub fn new(set: &SeqSet) -> Self {
        let mut before = Vec::with_capacity(set.ranges.len());
        let mut total = 0;
        for r in &set.ranges {
            before.push(total);
            total += r.end - r.start;
        }
        Positions {
            ranges: set.ranges.clone(),
            before,
        }
    }

    pub fn len(&self) -> u64 {
        match (self.ranges.last(), self.before.last()) {
            (Some(r), Some(b)) => b + (r.end - r.start),
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, index: u64) -> Option<u64> {
        let i = self
            .before
            .partition_point(|&b| b <= index)
            .checked_sub(1)?;
        let r = &self.ranges[i];
        let at = r.start + (index - self.before[i]);
        (at < r.end).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_merge_adjacent_and_overlapping_ranges() {
        let mut s = SeqSet::new();
        for n in [0, 1, 2, 5, 7, 6, 3] {
            s.insert(n);
        }
        assert_eq!(s.ranges(), &[0..4, 5..8]);
        s.insert_range(4..5);
        assert_eq!(s.ranges(), std::slice::from_ref(&(0..8)));
        s.insert_range(10..12);
        s.insert_range(20..30);
        s.insert_range(11..21);
        assert_eq!(s.ranges(), &[0..8, 10..30]);
        assert_eq!(s.len(), 28);
        assert!(s.contains(0) && s.contains(29) && !s.contains(8) && !s.contains(30));
    }

    #[test]
    fn covers_intersects_and_complement() {
        let s = SeqSet::from_ranges([2..4, 6..9]);
        assert!(s.covers(&(6..9)) && !s.covers(&(3..7)) && s.covers(&(5..5)));
        assert!(s.intersects(&(3..5)) && !s.intersects(&(4..6)) && !s.intersects(&(9..20)));
        assert_eq!(s.complement_within(0..10).ranges(), &[0..2, 4..6, 9..10]);
        assert_eq!(
            s.complement_within(3..7).ranges(),
            std::slice::from_ref(&(4..6))
        );
        assert!(s.complement_within(6..9).is_empty());
    }

    #[test]
    fn positions_index_the_set_in_order() {
        let s = SeqSet::from_ranges([3..5, 10..11, 20..23]);
        let p = Positions::new(&s);
        assert_eq!(p.len(), 6);
        let all: Vec<u64> = (0..7).filter_map(|i| p.get(i)).collect();
        assert_eq!(all, [3, 4, 10, 20, 21, 22]);
        assert_eq!(all, s.iter().collect::<Vec<_>>());
        assert_eq!(s.nth(3), Some(20));
        assert_eq!(s.nth(6), None);
        assert!(Positions::new(&SeqSet::new()).get(0).is_none());
    }
}
