//! [`SeqLatch`]: two copies and a count, so that readers never wait (Linux
//! `seqcount_latch_t`, include/linux/seqlock.h).
//!
//! The writer updates the copies one at a time, and the count's low bit tells readers which
//! copy is not being written:
//!
//! | count | readers use | the writer is |
//! |-------|-------------|---------------|
//! | even  | copy 0      | idle, or about to write copy 1 |
//! | odd   | copy 1      | writing copy 0 |
//!
//! A write: count += 1 (odd: readers move to copy 1), write copy 0, count += 1 (even: readers
//! move back to copy 0), write copy 1. A reader picks the copy by the count, copies it, and
//! retries only if the count moved meanwhile: never because a write is *in progress*. So a
//! reader running in an interrupt or NMI that preempted the writer halfway, on the same CPU,
//! completes instead of spinning forever (the use Linux makes of it for timekeeping and
//! module address lookups).

use core::fmt;

use crate::count::SeqValue;
use crate::lock::{SpinLock, WriterLock};
use crate::plain::{AtomicPayload, Plain};
use crate::sync::{fence, AtomicSeq, Ordering};

/// A value with two copies whose readers never wait for the writer.
///
/// Costs twice the memory of a [`SeqLock`](crate::SeqLock) and two stores per write; in
/// exchange [`read`](Self::read) is wait-free with respect to the writer (it retries only
/// when a write *completed a step* during the copy) and is safe from any context.
///
/// # Examples
///
/// ```
/// use seqlock::SeqLatch;
///
/// static CLOCK_BASE: SeqLatch<[u64; 2]> = SeqLatch::new([0, 0]);
///
/// CLOCK_BASE.write([1, 500]);
/// // From anywhere, including an interrupt that preempted `write` on this CPU:
/// assert_eq!(CLOCK_BASE.read(), [1, 500]);
/// ```
pub struct SeqLatch<T: Plain, L: WriterLock = SpinLock> {
    count: AtomicSeq,
    lock: L,
    copies: [AtomicPayload<T>; 2],
}

impl<T: Plain> SeqLatch<T, SpinLock> {
    crate::sync::const_fn! {
        /// A latch holding `value` in both copies, with the default writer lock.
        pub fn new(value: T) -> Self {
            Self::with_lock(value)
        }
    }
}

impl<T: Plain, L: WriterLock> SeqLatch<T, L> {
    /// A latch holding `value`, with writer lock `L`.
    #[cfg(not(loom))]
    pub const fn with_lock(value: T) -> Self {
        Self {
            count: AtomicSeq::new(0),
            lock: L::INIT,
            copies: [AtomicPayload::new(value), AtomicPayload::new(value)],
        }
    }

    /// A latch holding `value`, with writer lock `L`.
    #[cfg(loom)]
    pub fn with_lock(value: T) -> Self {
        Self {
            count: AtomicSeq::new(0),
            lock: L::new(),
            copies: [AtomicPayload::new(value), AtomicPayload::new(value)],
        }
    }

    /// A consistent copy of the value (Linux: `read_seqcount_latch` loop). Never waits for a
    /// write in progress; retries only if the writer moved between copies during the read.
    #[inline]
    pub fn read(&self) -> T {
        loop {
            // Acquire pairs with the Release stores in `write`: the copy this count points at
            // was completely written before the count was published.
            let start = self.count.load(Ordering::Acquire);
            let copy = self.copies[(start & 1) as usize].load();
            // Acquire fence pairs with the Release fences in `write`: if the copy saw any
            // store the writer made to it after `start`, the load below sees the count moved.
            fence(Ordering::Acquire);
            if self.count.load(Ordering::Relaxed) == start {
                // SAFETY: the writer did not touch the copy we read while we read it (it only
                // writes the copy the count does not point at, and the count did not move),
                // so the copy is a value some writer stored.
                return unsafe { copy.assume_init() };
            }
            crate::sync::spin_loop();
        }
    }

    /// Replaces the value (Linux: `write_seqcount_latch_begin`, update copy 0,
    /// `write_seqcount_latch`, update copy 1). Writers are serialised by the latch's lock;
    /// readers are never blocked.
    pub fn write(&self, value: T) {
        self.write_interrupted(value, || {});
    }

    /// [`write`](Self::write), calling `interrupt` at each point between its steps where an
    /// interrupt or NMI on the writer's CPU could run a reader: after the count turned odd
    /// and after copy 0 was written (readers use copy 1, the old value), then after the
    /// count turned even and after copy 1 was written (readers use copy 0, the new value).
    ///
    /// For tests and fuzz targets that play that reader on the writer's own thread, which
    /// [`write`](Self::write) gives no chance to. `interrupt` runs with the writer lock held:
    /// if it writes to this latch it waits for itself forever.
    #[doc(hidden)]
    #[inline]
    pub fn write_interrupted(&self, value: T, mut interrupt: impl FnMut()) {
        let _lock = self.lock.lock();
        let start = self.count.load(Ordering::Relaxed);
        debug_assert!(start & 1 == 0, "seqlock: latch count odd outside a write");

        // Readers move to copy 1. Release: copy 1 (written by the previous write) is visible
        // to readers that see the odd count.
        self.count.store(start.wrapping_add(1), Ordering::Release);
        // Release fence: the odd count is ordered before the stores to copy 0 (pairs with the
        // Acquire fence in `read`).
        fence(Ordering::Release);
        interrupt();
        self.copies[0].store(&value);
        interrupt();

        // Readers move back to copy 0. Release: copy 0's new value is visible to readers
        // that see the even count.
        self.count.store(start.wrapping_add(2), Ordering::Release);
        // Release fence: the even count is ordered before the stores to copy 1.
        fence(Ordering::Release);
        interrupt();
        self.copies[1].store(&value);
        interrupt();
    }

    /// The current count (a snapshot, for diagnostics): two per completed write.
    pub fn count(&self) -> SeqValue {
        self.count.load(Ordering::Relaxed)
    }
}

impl<T: Plain + fmt::Debug, L: WriterLock> fmt::Debug for SeqLatch<T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqLatch")
            .field("value", &self.read())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_and_the_count_advances_by_two() {
        let latch = SeqLatch::new(1u32);
        assert_eq!(latch.read(), 1);
        latch.write(2);
        assert_eq!(latch.count(), 2);
        assert_eq!(latch.read(), 2);
        latch.write(3);
        assert_eq!(latch.read(), 3);
        assert_eq!(latch.count(), 4);
        assert!(std::format!("{latch:?}").contains('3'));
    }

    /// A reader that interrupts the writer between its two steps reads the copy the writer
    /// is not touching, without waiting.
    #[test]
    fn reads_mid_write_use_the_stable_copy() {
        let latch = SeqLatch::new([5u64; 3]);
        // The first half of a write, by hand: readers move to copy 1 (the old value).
        latch.count.store(1, Ordering::Release);
        latch.copies[0].store(&[6; 3]);
        assert_eq!(latch.read(), [5; 3], "odd count: copy 1, the old value");
        latch.count.store(2, Ordering::Release);
        assert_eq!(latch.read(), [6; 3], "even count: copy 0, the new value");
    }

    /// `write_interrupted` stops at the four points between the write's steps; a reader
    /// there gets the old value while the count is odd and the new one once it is even.
    #[test]
    fn write_interrupted_shows_old_then_new() {
        let latch = SeqLatch::new([1u64; 2]);
        let mut seen = std::vec::Vec::new();
        latch.write_interrupted([2; 2], || seen.push((latch.count(), latch.read())));
        assert_eq!(
            seen,
            [(1, [1; 2]), (1, [1; 2]), (2, [2; 2]), (2, [2; 2])],
            "(count, value read) at each interruption"
        );
    }

    #[test]
    fn concurrent_readers_never_see_torn_values() {
        // Miri interprets every step; fewer rounds still interleave the threads there.
        const ROUNDS: u64 = if cfg!(miri) { 300 } else { 20_000 };
        let latch = SeqLatch::new([0u64; 3]);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..=ROUNDS {
                    latch.write([i, i << 1, !i]);
                }
            });
            s.spawn(|| {
                for _ in 0..ROUNDS {
                    let [a, b, c] = latch.read();
                    assert!(a == 0 || (b == a << 1 && c == !a), "torn read: {a} {b} {c}");
                }
            });
        });
    }
}
