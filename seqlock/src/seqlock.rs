//! [`SeqLock`]: a sequence counter, a writer lock and a `Plain` payload (Linux `seqlock_t`).

use core::fmt;

use crate::count::SeqCount;
use crate::lock::{SpinLock, WriterLock};
use crate::plain::{AtomicPayload, Plain};

/// A value that readers copy optimistically, without writing shared memory, while writers
/// take a lock.
///
/// Readers never block writers; writers make readers retry. Good for small, read-mostly data
/// updated by few writers: a clock, a statistics block, a configuration record, a path
/// walker's rename and mount generations.
///
/// The payload is stored and copied as relaxed atomic words (see [`Plain`]), so readers that
/// race with a writer are defined behaviour, and a copy is used only after the count proved
/// it whole.
///
/// # Examples
///
/// ```
/// use seqlock::SeqLock;
///
/// static CLOCK: SeqLock<[u64; 2]> = SeqLock::new([0, 0]);
///
/// CLOCK.update(|t| {
///     t[1] += 1_000;
///     t[0] += 1;
/// });
/// let [seconds, nanos] = CLOCK.read();
/// assert_eq!((seconds, nanos), (1, 1_000));
///
/// // Lockless first, then under the lock if a writer kept getting in the way.
/// let total = CLOCK.read_or_lock(|t| t[0] * 1_000_000_000 + t[1]);
/// assert_eq!(total, 1_000_001_000);
/// ```
pub struct SeqLock<T: Plain, L: WriterLock = SpinLock> {
    count: SeqCount,
    lock: L,
    data: AtomicPayload<T>,
}

impl<T: Plain> SeqLock<T, SpinLock> {
    crate::sync::const_fn! {
        /// A seqlock holding `value`, with the default spinning writer lock.
        pub fn new(value: T) -> Self {
            Self::with_lock(value)
        }
    }
}

impl<T: Plain, L: WriterLock> SeqLock<T, L> {
    /// A seqlock holding `value`, with writer lock `L`.
    #[cfg(not(loom))]
    pub const fn with_lock(value: T) -> Self {
        Self {
            count: SeqCount::new(),
            lock: L::INIT,
            data: AtomicPayload::new(value),
        }
    }

    /// A seqlock holding `value`, with writer lock `L`.
    #[cfg(loom)]
    pub fn with_lock(value: T) -> Self {
        Self {
            count: SeqCount::new(),
            lock: L::new(),
            data: AtomicPayload::new(value),
        }
    }

    /// A consistent copy of the value (Linux: `read_seqbegin`/`read_seqretry` loop). Spins
    /// while a write is in progress and retries after one overlapped; never writes shared
    /// memory.
    #[inline]
    pub fn read(&self) -> T {
        loop {
            if let Some(value) = self.read_once(self.count.read_begin()) {
                return value;
            }
            crate::sync::spin_loop();
        }
    }

    /// The reader with its Acquire fence removed: *wrong* on purpose, for the loom model that
    /// shows the model checker catches the torn reads it allows.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn read_without_acquire_fence(&self) -> T {
        loop {
            let seq = self.count.read_begin();
            let copy = self.data.load();
            if self.count.value() == seq.value() {
                // SAFETY: not sound in general, which is the point; the loom model only
                // inspects the bytes of a `[u64; N]`, for which every bit pattern is valid.
                return unsafe { copy.assume_init() };
            }
            crate::sync::spin_loop();
        }
    }

    /// One optimistic attempt: the value if no write was in progress or overlapped, `None`
    /// otherwise. Never waits, so it may be called where the writer cannot make progress.
    #[inline]
    pub fn try_read(&self) -> Option<T> {
        self.read_once(self.count.try_begin()?)
    }

    /// A copy taken under the writer lock (Linux: `read_seqlock_excl`): excludes writers and
    /// leaves the count alone, so optimistic readers are not disturbed.
    pub fn read_locked(&self) -> T {
        let _lock = self.lock.lock();
        // SAFETY: writers are excluded by the lock, so the copy is not torn.
        unsafe { self.data.load().assume_init() }
    }

    /// Calls `f` with a consistent copy: taken locklessly if one attempt succeeds, under the
    /// writer lock otherwise (Linux: `read_seqbegin_or_lock`). Bounds the reader's work when
    /// writers are frequent; `f` runs exactly once, on a copy that is never torn.
    pub fn read_or_lock<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let value = match self.try_read() {
            Some(value) => value,
            None => self.read_locked(),
        };
        f(&value)
    }

    /// Replaces the value (Linux: `write_seqlock`, store, `write_sequnlock`).
    pub fn set(&self, value: T) {
        let _lock = self.lock.lock();
        let _write = self.count.write_begin();
        self.data.store(&value);
    }

    /// Changes the value through `f` under the writer lock and publishes the result as one
    /// write. Readers see the value before or after, never in between.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let _lock = self.lock.lock();
        // SAFETY: writers are excluded by the lock, so the copy is not torn.
        let mut value = unsafe { self.data.load().assume_init() };
        let result = f(&mut value);
        let _write = self.count.write_begin();
        self.data.store(&value);
        result
    }

    /// The sequence counter, for callers that combine this seqlock's validation with other
    /// reads (a path walker checking a rename generation, say).
    pub fn count(&self) -> &SeqCount {
        &self.count
    }

    /// The value, through exclusive access (no synchronisation needed).
    #[cfg(not(loom))]
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// One read attempt for the section started at `seq`.
    #[inline(always)]
    fn read_once(&self, seq: crate::Seq) -> Option<T> {
        let copy = self.data.load();
        if self.count.read_retry(seq) {
            return None;
        }
        // SAFETY: no write overlapped the copy (the count did not move, and it was even at
        // `seq`), so it is a value some writer stored, hence a valid `T`.
        Some(unsafe { copy.assume_init() })
    }
}

impl<T: Plain + Default> Default for SeqLock<T, SpinLock> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T: Plain + fmt::Debug, L: WriterLock> fmt::Debug for SeqLock<T, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeqLock")
            .field("value", &self.read())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// 13 bytes with alignment 1: copied as 8 + 4 + 1 bytes.
    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Ragged {
        d: [u8; 7],
        c: [u8; 5],
        a: u8,
    }
    crate::impl_plain!(Ragged {
        d: [u8; 7],
        c: [u8; 5],
        a: u8
    });

    /// 10 bytes with alignment 2: copied as 8 + 2 bytes.
    #[derive(Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    struct Halves {
        x: u16,
        y: [u16; 3],
        z: u16,
    }
    crate::impl_plain!(Halves {
        x: u16,
        y: [u16; 3],
        z: u16
    });

    #[test]
    fn set_read_update_roundtrip_for_ragged_payloads() {
        assert_eq!(core::mem::size_of::<Ragged>(), 13);
        let lock = SeqLock::new(Ragged {
            d: [1; 7],
            c: [2; 5],
            a: 3,
        });
        assert_eq!(
            lock.read(),
            Ragged {
                d: [1; 7],
                c: [2; 5],
                a: 3
            }
        );
        lock.set(Ragged {
            d: [7, 6, 5, 4, 3, 2, 1],
            c: [9; 5],
            a: 10,
        });
        assert_eq!(
            lock.try_read(),
            Some(Ragged {
                d: [7, 6, 5, 4, 3, 2, 1],
                c: [9; 5],
                a: 10
            })
        );
        let old_a = lock.update(|v| core::mem::replace(&mut v.a, 11));
        assert_eq!(old_a, 10);
        assert_eq!(lock.read_locked().a, 11);
        assert_eq!(lock.read_or_lock(|v| v.c), [9; 5]);
        assert_eq!(lock.count().value(), 4, "two writes, two increments each");

        assert_eq!(core::mem::size_of::<Halves>(), 10);
        let halves = SeqLock::new(Halves {
            x: 1,
            y: [2, 3, 4],
            z: 5,
        });
        halves.set(Halves {
            x: 0xFFFF,
            y: [6, 7, 8],
            z: 0xABCD,
        });
        assert_eq!(
            halves.read(),
            Halves {
                x: 0xFFFF,
                y: [6, 7, 8],
                z: 0xABCD
            }
        );
    }

    #[test]
    fn odd_sized_payloads() {
        let lock = SeqLock::new([1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        lock.set([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(lock.read(), [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        let flags = SeqLock::new([true, false, true]);
        flags.update(|f| f[1] = true);
        assert_eq!(flags.read(), [true; 3]);
        let mut one = SeqLock::new(7u8);
        *one.get_mut() = 8;
        assert_eq!(one.read(), 8);
    }

    #[test]
    fn try_read_fails_during_a_write_and_read_or_lock_falls_back() {
        let lock = SeqLock::new(5u64);
        let write = lock.count().write_begin();
        assert_eq!(
            lock.try_read(),
            None,
            "try_read must refuse while a write is open"
        );
        drop(write);
        assert_eq!(lock.try_read(), Some(5));

        // A write that overlaps the optimistic attempt: simulate with a begun section.
        let seq = lock.count().read_begin();
        lock.set(6);
        assert_eq!(
            lock.read_once(seq),
            None,
            "an overlapped copy must be discarded"
        );
        assert_eq!(lock.read_or_lock(|v| *v), 6);
    }

    #[test]
    fn read_locked_does_not_disturb_optimistic_readers() {
        let lock = SeqLock::new(1u32);
        let seq = lock.count().read_begin();
        assert_eq!(lock.read_locked(), 1);
        assert!(!lock.count().read_retry(seq));
    }

    #[test]
    fn debug_shows_the_value() {
        let lock = SeqLock::new(3u16);
        assert!(std::format!("{lock:?}").contains('3'));
    }

    #[test]
    fn concurrent_readers_never_see_torn_values() {
        // Miri interprets every step; fewer rounds still interleave the threads there.
        const ROUNDS: u64 = if cfg!(miri) { 300 } else { 20_000 };
        let lock = SeqLock::new([0u64; 4]);
        std::thread::scope(|s| {
            s.spawn(|| {
                for i in 1..=ROUNDS {
                    lock.set([i, i.wrapping_mul(3), !i, i ^ 0x5555]);
                }
            });
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..ROUNDS {
                        let [a, b, c, d] = lock.read();
                        assert!(
                            b == a.wrapping_mul(3) && c == !a && d == a ^ 0x5555 || a == 0,
                            "torn read: {a} {b} {c} {d}"
                        );
                    }
                });
            }
        });
    }
}
