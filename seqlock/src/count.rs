//! [`SeqCount`]: the bare sequence counter (Linux `seqcount_t`).

use crate::sync::{const_fn, fence, spin_loop, AtomicSeq, Ordering};

/// The integer a [`SeqCount`] counts in: `u64` where the target has 64-bit atomics, `u32`
/// elsewhere.
///
/// With 32 bits, a reader that stays in one read section while exactly 2^31 write sections
/// complete (2^32 increments) sees the count it started with and accepts a torn copy; at one
/// write per microsecond that takes over half an hour of a single reader being stalled. With
/// 64 bits it would take centuries.
#[cfg(target_has_atomic = "64")]
pub type SeqValue = u64;
/// See the 64-bit variant.
#[cfg(not(target_has_atomic = "64"))]
pub type SeqValue = u32;

/// A sequence counter: even while no write is in progress, odd during a write.
///
/// Readers take a [`Seq`] with [`read_begin`](Self::read_begin) (or a variant), read the
/// protected data *with atomic loads*, and accept what they read only if
/// [`read_retry`](Self::read_retry) says no write overlapped. Writers bracket each change
/// with [`write_begin`](Self::write_begin) and the guard's drop; they must be serialised by
/// the caller (a lock, or a single writer), as in Linux.
///
/// `SeqCount` protects nothing by itself: for data in ordinary memory, the data must be
/// read and written with atomic operations (see [`SeqLock`](crate::SeqLock), which does it
/// for you), or readers race with writers.
///
/// # Examples
///
/// ```
/// use core::sync::atomic::{AtomicU32, Ordering::Relaxed};
/// use seqlock::SeqCount;
///
/// static SEQ: SeqCount = SeqCount::new();
/// static X: AtomicU32 = AtomicU32::new(0);
/// static Y: AtomicU32 = AtomicU32::new(0);
///
/// // Writer (the only one):
/// {
///     let _write = SEQ.write_begin();
///     X.store(1, Relaxed);
///     Y.store(1, Relaxed);
/// }
///
/// // Reader: X and Y always seen from the same write.
/// let (x, y) = loop {
///     let seq = SEQ.read_begin();
///     let (x, y) = (X.load(Relaxed), Y.load(Relaxed));
///     if !SEQ.read_retry(seq) {
///         break (x, y);
///     }
/// };
/// assert_eq!(x, y);
/// ```
#[derive(Debug)]
pub struct SeqCount {
    sequence: AtomicSeq,
}

/// A sample of a [`SeqCount`] taken at the start of a read section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "a read section is only valid once checked with read_retry"]
pub struct Seq(SeqValue);

impl Seq {
    /// The raw count. Always even: the begin functions never return an odd one
    /// ([`SeqCount::raw_begin`] clears the low bit).
    #[inline]
    pub fn value(self) -> SeqValue {
        self.0
    }
}

impl SeqCount {
    const_fn! {
        /// A counter at zero: no write in progress.
        pub fn new() -> Self {
            Self { sequence: AtomicSeq::new(0) }
        }
    }

    /// Starts a read section, waiting (spinning) while a write is in progress (Linux:
    /// `read_seqcount_begin`).
    ///
    /// Spins for as long as the writer stays inside its section; never call it where the
    /// writer cannot run (from an interrupt that preempted the writer on the same CPU): use
    /// [`raw_begin`](Self::raw_begin), [`try_begin`](Self::try_begin) or a
    /// [`SeqLatch`](crate::SeqLatch) there.
    #[inline]
    pub fn read_begin(&self) -> Seq {
        loop {
            if let Some(seq) = self.try_begin() {
                return seq;
            }
            spin_loop();
        }
    }

    /// Starts a read section without waiting (Linux: `raw_seqcount_begin`). If a write is in
    /// progress the low bit is cleared, so that [`read_retry`](Self::read_retry) fails: the
    /// caller reads, finds out afterwards, and retries.
    #[inline]
    pub fn raw_begin(&self) -> Seq {
        // Acquire pairs with the Release store in `write_end` (and `invalidate`): the data
        // of the write that made this count is visible to the reads that follow.
        Seq(self.sequence.load(Ordering::Acquire) & !1)
    }

    /// Starts a read section if no write is in progress.
    #[inline]
    pub fn try_begin(&self) -> Option<Seq> {
        // Acquire: as in `raw_begin`.
        let s = self.sequence.load(Ordering::Acquire);
        (s & 1 == 0).then_some(Seq(s))
    }

    /// Whether the read section started at `start` must be retried: `true` if a write began
    /// or ended since (Linux: `read_seqcount_retry`).
    #[inline]
    pub fn read_retry(&self, start: Seq) -> bool {
        // The Acquire fence pairs with the Release fence in `write_begin`: if any of our data
        // loads saw a value stored after a `write_begin`, the load below sees that
        // `write_begin`'s increment (or later) and we retry.
        fence(Ordering::Acquire);
        self.sequence.load(Ordering::Relaxed) != start.0
    }

    /// Starts a write section; it ends when the guard drops (Linux:
    /// `write_seqcount_begin`/`write_seqcount_end`).
    ///
    /// Writers must be serialised by the caller. Debug builds panic when a write section is
    /// begun while another is open (nested or overlapping).
    #[inline]
    pub fn write_begin(&self) -> WriteGuard<'_> {
        let s = self.sequence.load(Ordering::Relaxed);
        debug_assert!(
            s & 1 == 0,
            "seqlock: write section begun while another is open"
        );
        self.sequence.store(s.wrapping_add(1), Ordering::Relaxed);
        // Release fence pairs with the Acquire fence in `read_retry`: the odd count is ordered
        // before every data store of this section.
        fence(Ordering::Release);
        WriteGuard {
            count: self,
            start: s,
        }
    }

    /// Makes every read section in flight fail without opening a write section (Linux:
    /// `write_seqcount_invalidate`): the count advances by two and stays even. For writers
    /// that changed the data in another way (under the same serialisation), for instance
    /// before freeing it.
    #[inline]
    pub fn invalidate(&self) {
        let s = self.sequence.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "seqlock: invalidate inside a write section");
        // Release pairs with the Acquire loads of the begin functions: the changes made
        // before this call are visible to readers that start after it.
        self.sequence.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Orders the data stores before this call against those after it, as seen by readers,
    /// and fails every read section that overlaps this point (Linux:
    /// `write_seqcount_barrier`): the count goes through an odd value and back to even.
    ///
    /// For data whose readers can tolerate either the old or the new state of each part, but
    /// not a mix across the barrier.
    #[inline]
    pub fn write_barrier(&self) {
        let s = self.sequence.load(Ordering::Relaxed);
        debug_assert!(s & 1 == 0, "seqlock: write_barrier inside a write section");
        // Release: stores before the barrier are visible to a reader that sees the odd count.
        self.sequence.store(s.wrapping_add(1), Ordering::Release);
        // Release fence: the odd count is ordered before the stores after the barrier
        // (pairs with the Acquire fence in `read_retry`), as in `write_begin`.
        fence(Ordering::Release);
        self.sequence.store(s.wrapping_add(2), Ordering::Relaxed);
    }

    /// Whether a write section is open (a snapshot).
    #[inline]
    pub fn is_write_locked(&self) -> bool {
        self.sequence.load(Ordering::Relaxed) & 1 != 0
    }

    /// The current count (a snapshot, for diagnostics).
    #[inline]
    pub fn value(&self) -> SeqValue {
        self.sequence.load(Ordering::Relaxed)
    }

    /// Ends the write section started at `start`.
    #[inline]
    fn write_end(&self, start: SeqValue) {
        // Release pairs with the Acquire loads of the begin functions: every data store of the
        // section is visible to readers that see the new even count.
        self.sequence
            .store(start.wrapping_add(2), Ordering::Release);
    }
}

impl Default for SeqCount {
    fn default() -> Self {
        Self::new()
    }
}

/// An open write section of a [`SeqCount`]; closes it when dropped.
#[derive(Debug)]
#[must_use = "the write section ends when the guard is dropped"]
pub struct WriteGuard<'a> {
    count: &'a SeqCount,
    start: SeqValue,
}

impl Drop for WriteGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.count.write_end(self.start);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn begin_and_retry_without_writers() {
        let c = SeqCount::new();
        let s = c.read_begin();
        assert_eq!(s.value(), 0);
        assert!(!c.read_retry(s));
        assert_eq!(c.try_begin(), Some(s));
        assert_eq!(c.raw_begin(), s);
    }

    #[test]
    fn a_write_section_makes_readers_retry_and_stays_even_after() {
        let c = SeqCount::new();
        let before = c.read_begin();
        let guard = c.write_begin();
        assert!(c.is_write_locked());
        assert_eq!(c.value(), 1, "odd while writing");
        assert_eq!(
            c.try_begin(),
            None,
            "try_begin must refuse while a write is in progress"
        );
        let raw = c.raw_begin();
        assert_eq!(raw.value(), 0, "raw_begin clears the low bit");
        assert!(
            c.read_retry(raw),
            "a raw begin during a write must fail its retry"
        );
        drop(guard);
        assert!(!c.is_write_locked());
        assert_eq!(c.value(), 2);
        assert!(
            c.read_retry(before),
            "a reader overlapping a write must retry"
        );
        assert!(
            c.read_retry(raw),
            "still fails after the write ended: the count moved on"
        );
        let after = c.read_begin();
        assert!(!c.read_retry(after));
    }

    #[test]
    fn invalidate_fails_readers_and_keeps_the_count_even() {
        let c = SeqCount::new();
        let s = c.read_begin();
        c.invalidate();
        assert_eq!(c.value(), 2);
        assert!(c.read_retry(s));
        assert!(c.try_begin().is_some());
    }

    #[test]
    fn write_barrier_fails_readers_in_flight() {
        let c = SeqCount::new();
        let s = c.read_begin();
        c.write_barrier();
        assert_eq!(c.value(), 2);
        assert!(c.read_retry(s));
    }

    #[test]
    fn count_wraps_around() {
        let c = SeqCount {
            sequence: AtomicSeq::new(SeqValue::MAX - 1),
        };
        let s = c.read_begin();
        drop(c.write_begin());
        assert_eq!(c.value(), 0, "the count wraps to zero");
        assert!(c.read_retry(s));
        assert!(!c.read_retry(c.read_begin()));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "write section begun while another is open")]
    fn nested_write_sections_panic() {
        let c = SeqCount::new();
        let _outer = c.write_begin();
        let _inner = c.write_begin();
    }
}
