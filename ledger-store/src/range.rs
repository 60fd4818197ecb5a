//! The empty-range rule of the [`crate::Store`] range reads, in one place.
//!
//! Every range read takes its seqnos as a `RangeInclusive<u64>` and a `limit`. A read of a
//! range with start > end (or an exhausted range), or with `limit == 0`, reads nothing, and
//! seqno 0 is never an entry (nor a row, version or signature), so a range starting at 0
//! reads the same as one starting at 1. Every backend turns its arguments into a
//! [`ReadRange`] with [`ReadRange::new`] and returns an empty result on `None`, instead of
//! checking the bounds itself.

use std::ops::RangeInclusive;

/// A range read with something to read: seqnos `first..=last` (`1 <= first <= last`), at most
/// `limit` (`>= 1`) items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadRange {
    /// The first seqno read (at least 1).
    pub(crate) first: u64,
    /// The last seqno read (at least `first`).
    pub(crate) last: u64,
    /// The most items returned (at least 1).
    pub(crate) limit: usize,
}

impl ReadRange {
    /// The read of `seqnos`, at most `limit` items, or `None` if it reads nothing: `seqnos` is
    /// empty once seqno 0 is left out, or `limit` is 0. This is the only place the rule is
    /// stated.
    pub(crate) fn new(seqnos: RangeInclusive<u64>, limit: usize) -> Option<Self> {
        if seqnos.is_empty() || limit == 0 {
            return None;
        }
        let (first, last) = seqnos.into_inner();
        let first = first.max(1);
        (first <= last).then_some(Self { first, last, limit })
    }

    /// The same read ending at `last_seqno` at the latest (for reads that must not see past
    /// the store's extent), or `None` if that leaves nothing to read.
    pub(crate) fn up_to(self, last_seqno: u64) -> Option<Self> {
        Self::new(self.first..=self.last.min(last_seqno), self.limit)
    }

    /// [`ReadRange::new`] ending at `last_seqno` at the latest: the read of a store whose
    /// last seqno is `last_seqno`.
    pub(crate) fn within(
        seqnos: RangeInclusive<u64>,
        limit: usize,
        last_seqno: u64,
    ) -> Option<Self> {
        Self::new(seqnos, limit).and_then(|r| r.up_to(last_seqno))
    }

    /// The seqnos read, as a range.
    pub(crate) fn seqnos(&self) -> RangeInclusive<u64> {
        self.first..=self.last
    }
}

#[cfg(test)]
mod tests {
    use std::ops::RangeInclusive;

    use super::ReadRange;

    #[test]
    fn the_rule() {
        let r = |first, last, limit| Some(ReadRange { first, last, limit });
        assert_eq!(ReadRange::new(1..=5, 3), r(1, 5, 3));
        assert_eq!(ReadRange::new(0..=5, 3), r(1, 5, 3));
        assert_eq!(ReadRange::new(5..=5, 1), r(5, 5, 1));
        assert_eq!(
            ReadRange::new(0..=u64::MAX, usize::MAX),
            r(1, u64::MAX, usize::MAX)
        );
        assert_eq!(ReadRange::new(RangeInclusive::new(6, 5), 3), None);
        assert_eq!(ReadRange::new(RangeInclusive::new(u64::MAX, 0), 3), None);
        assert_eq!(ReadRange::new(0..=0, 3), None);
        assert_eq!(ReadRange::new(1..=5, 0), None);
        let mut spent = 5..=5;
        assert_eq!(spent.next(), Some(5));
        assert_eq!(ReadRange::new(spent, 3), None);
        assert_eq!(
            ReadRange::new(1..=5, 3).and_then(|r| r.up_to(4)),
            r(1, 4, 3)
        );
        assert_eq!(ReadRange::new(3..=5, 3).and_then(|r| r.up_to(2)), None);
        assert_eq!(ReadRange::new(1..=5, 3).and_then(|r| r.up_to(0)), None);
    }
}
