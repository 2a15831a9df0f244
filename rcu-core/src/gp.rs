//! The grace-period sequence and the state machine that advances it.
//!
//! # The sequence word
//!
//! Like Linux's `rcu_seq` (kernel/rcu/rcu.h), one 64-bit word counts grace periods and says
//! whether one is running:
//!
//! | bits  | meaning                                                          |
//! |-------|------------------------------------------------------------------|
//! | 63..2 | number of grace periods started (wraps)                          |
//! | 1     | always 0 (the QSBR flavor uses a value with this bit set as its "offline" mark) |
//! | 0     | 1 while a grace period is in progress                            |
//!
//! Starting a grace period adds 1; ending it rounds up to the next multiple of 4. A *cookie*
//! is the value the word must reach for a full grace period to have elapsed since the cookie
//! was taken: from an idle word `s` that is `s + 4` (the end of the next grace period), from a
//! busy one `s + 1` it is `s + 8` (the running one may have started before our update, so it
//! does not count). Comparisons wrap, as Linux's `ULONG_CMP_GE`: a cookie is reported done
//! only while it is less than 2^61 grace periods old, several centuries at a million grace
//! periods a second. Cookies are the full word: nothing is truncated, so no grace period is
//! ever missed the way 32-bit cookies missed them (Linux added `*_full` polling for that).
//!
//! The word starts 300 grace periods below wrap-around, as in Linux, so that every test run
//! crosses the wrap.
//!
//! # Who drives
//!
//! There is no grace-period thread. Whoever needs a grace period (a `synchronize` caller, the
//! callback processing hook, `poll`) *tries* to take the driver lock; the holder advances the
//! state machine as far as the readers allow without waiting, and everyone else returns to
//! their own wait loop. Concurrent `synchronize` callers therefore share grace periods: a
//! grace period started for one of them satisfies every cookie that ends with it.

use crate::sync::{const_fn, AtomicU64, Ordering, TryLock};

/// Bits of the sequence word that hold the state of the current grace period.
const STATE_MASK: u64 = 0b11;

/// Where the sequence starts: 300 grace periods before it wraps, as Linux does.
pub(crate) const INITIAL_SEQ: u64 = 0u64.wrapping_sub(300 << 2);

/// A grace-period cookie: the state the grace-period sequence must reach before a grace
/// period has elapsed since the cookie was taken.
///
/// Returned by [`Rcu::get_state`](crate::Rcu::get_state) and
/// [`Rcu::start_poll`](crate::Rcu::start_poll); tested by [`Rcu::poll`](crate::Rcu::poll).
/// Full width (64 bits), so comparisons stay exact across wrap-around: the grace-period
/// counter is a 64-bit word whose low two bits say whether a grace period is running, in the
/// manner of Linux's `rcu_seq`. It starts 300 grace periods before it wraps, as Linux's does,
/// and is compared modulo 2^64, so a cookie stays correct until it is 2^61 grace periods old.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cookie(pub(crate) u64);

impl Cookie {
    /// The raw sequence value, for diagnostics.
    #[inline]
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

/// `a` has reached or passed `b`, modulo 2^64 (Linux's `ULONG_CMP_GE`).
#[inline(always)]
pub(crate) fn seq_ge(a: u64, b: u64) -> bool {
    a.wrapping_sub(b) as i64 >= 0
}

/// What a flavor does to wait for pre-existing readers, one non-blocking step at a time.
pub trait ReaderWait {
    /// A grace period whose sequence value (odd) is `seq` has just started; the start is
    /// already ordered after every update that any cookie ending with it covers.
    fn gp_begin(&self, seq: u64, stage: &mut u32);

    /// Checks the readers once. Returns `true` when every reader that might have started
    /// before the grace period began has finished; `false` to be called again later.
    fn gp_poll(&self, seq: u64, stage: &mut u32) -> bool;
}

/// The grace-period sequence, the highest cookie anyone asked for, and the driver lock.
#[derive(Debug)]
pub(crate) struct GpEngine {
    /// The sequence word described in the module documentation.
    seq: AtomicU64,
    /// The highest cookie requested; a grace period is started while `seq` is below it.
    needed: AtomicU64,
    /// Held by whoever advances the state machine; holds the flavor's stage.
    driver: TryLock<u32>,
}

impl GpEngine {
    const_fn! {
        pub(crate) fn new() -> Self {
            Self::starting_at(INITIAL_SEQ)
        }
    }

    const_fn! {
        /// An engine whose sequence starts at `seq` (rounded down to an idle value).
        pub(crate) fn starting_at(seq: u64) -> Self {
            let seq = seq & !STATE_MASK;
            Self { seq: AtomicU64::new(seq), needed: AtomicU64::new(seq), driver: TryLock::new(0) }
        }
    }

    /// The cookie for "a full grace period from now" without asking for one.
    #[inline]
    pub(crate) fn snapshot(&self) -> Cookie {
        // An RMW rather than a load: AcqRel pairs with the AcqRel RMW in `start_gp`. If the
        // grace period that ends at our cookie starts after this point, its start reads our
        // write (or a later one) and so every update we made before taking the cookie happens
        // before the start, and therefore before the flavor's reader scan. A plain load (even
        // behind a SeqCst fence) would not give that happens-before edge in the Rust model.
        let s = self.seq.fetch_add(0, Ordering::AcqRel);
        Cookie((s.wrapping_add(2 * STATE_MASK + 1)) & !STATE_MASK)
    }

    /// Whether the grace period a cookie waits for has completed.
    #[inline]
    pub(crate) fn done(&self, cookie: Cookie) -> bool {
        // Acquire pairs with the Release store in `end_gp`: every reader the grace period
        // waited for finished before what we do after seeing it done.
        seq_ge(self.seq.load(Ordering::Acquire), cookie.0)
    }

    /// Asks for the grace period a cookie needs to be run.
    pub(crate) fn request(&self, cookie: Cookie) {
        let mut cur = self.needed.load(Ordering::Relaxed);
        while !seq_ge(cur, cookie.0) {
            // Relaxed: `needed` only says whether to start; the start's ordering comes from
            // the `seq` RMWs (see `snapshot`).
            match self.needed.compare_exchange_weak(
                cur,
                cookie.0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Advances the state machine as far as the readers allow, without waiting. Returns
    /// without doing anything when another CPU is driving.
    pub(crate) fn drive(&self, readers: &impl ReaderWait) {
        loop {
            let Some(mut driver) = self.driver.try_lock() else {
                return;
            };
            driver.with_mut(|stage| self.drive_locked(readers, stage));
            drop(driver);

            // A request that arrived while we held the lock may have found it taken and left
            // the start to us: look once more after releasing.
            let seq = self.seq.load(Ordering::Relaxed);
            if seq & STATE_MASK != 0 || seq_ge(seq, self.needed.load(Ordering::Relaxed)) {
                return;
            }
        }
    }

    fn drive_locked(&self, readers: &impl ReaderWait, stage: &mut u32) {
        loop {
            let mut seq = self.seq.load(Ordering::Relaxed);
            if seq & STATE_MASK == 0 {
                if seq_ge(seq, self.needed.load(Ordering::Relaxed)) {
                    return;
                }
                seq = self.start_gp();
                readers.gp_begin(seq, stage);
            }
            if !readers.gp_poll(seq, stage) {
                return;
            }
            self.end_gp(seq);
        }
    }

    /// Starts a grace period; returns the (odd) sequence value while it runs.
    fn start_gp(&self) -> u64 {
        // AcqRel pairs with the AcqRel RMW in `snapshot` (see there) and, for the Release
        // half, with the Acquire loads of `seq` in the QSBR flavor's quiescent-state reports:
        // a CPU that sees this grace period has also seen every update it covers.
        self.seq.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Ends the grace period started at `seq`.
    fn end_gp(&self, seq: u64) {
        // Release pairs with the Acquire load in `done`.
        self.seq
            .store((seq | STATE_MASK).wrapping_add(1), Ordering::Release);
    }

    /// The current sequence value (odd while a grace period runs).
    #[inline]
    pub(crate) fn current(&self) -> u64 {
        // Acquire: see `start_gp`.
        self.seq.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Readers that finish after a fixed number of polls.
    struct Slow(core::cell::Cell<u32>);

    impl ReaderWait for Slow {
        fn gp_begin(&self, _seq: u64, stage: &mut u32) {
            *stage = self.0.get();
        }
        fn gp_poll(&self, _seq: u64, stage: &mut u32) -> bool {
            if *stage == 0 {
                return true;
            }
            *stage -= 1;
            false
        }
    }

    #[test]
    fn snapshot_from_idle_needs_one_grace_period() {
        let e = GpEngine::starting_at(100 << 2);
        let c = e.snapshot();
        assert_eq!(c.0, 101 << 2);
        assert!(!e.done(c));
        e.request(c);
        e.drive(&Slow(core::cell::Cell::new(0)));
        assert!(
            e.done(c),
            "one grace period must satisfy a cookie taken while idle"
        );
    }

    #[test]
    fn snapshot_during_a_grace_period_needs_the_next_one() {
        let e = GpEngine::starting_at(7 << 2);
        let slow = Slow(core::cell::Cell::new(2));
        let first = e.snapshot();
        e.request(first);
        e.drive(&slow); // starts the grace period; the readers hold it open.
        assert_eq!(
            e.current() & STATE_MASK,
            1,
            "a grace period must be running"
        );
        let second = e.snapshot();
        assert_eq!(
            second.0,
            first.0 + 4,
            "a running grace period must not count"
        );
        e.request(second);
        e.drive(&slow);
        e.drive(&slow);
        assert!(e.done(first));
        assert!(
            !e.done(second),
            "the second cookie needs a grace period of its own"
        );
        // The second grace period started with two polls to go; finish it.
        e.drive(&slow);
        assert!(!e.done(second));
        e.drive(&slow);
        e.drive(&slow);
        assert!(e.done(second));
    }

    #[test]
    fn cookies_compare_across_wrap_around() {
        let e = GpEngine::starting_at(u64::MAX - 7);
        let idle = Slow(core::cell::Cell::new(0));
        let mut cookies = [Cookie(0); 8];
        for c in &mut cookies {
            *c = e.snapshot();
            assert!(!e.done(*c));
            e.request(*c);
            e.drive(&idle);
            assert!(e.done(*c));
        }
        assert!(
            e.current() < 64,
            "the sequence must have wrapped, it is {}",
            e.current()
        );
        for c in cookies {
            assert!(
                e.done(c),
                "cookie {c:?} taken before the wrap must stay done"
            );
        }
        let future = e.snapshot();
        assert!(
            !e.done(future),
            "a cookie taken after the wrap is not done yet"
        );
    }

    #[test]
    fn drive_without_request_starts_nothing() {
        let e = GpEngine::new();
        let before = e.current();
        e.drive(&Slow(core::cell::Cell::new(0)));
        assert_eq!(e.current(), before);
    }
}
