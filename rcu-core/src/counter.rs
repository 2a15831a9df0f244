//! The counter flavor: readers announce themselves in per-CPU slots; needs no scheduler
//! hooks.
//!
//! This is liburcu's "memb" algorithm (Desnoyers et al., "User-Level Implementations of
//! Read-Copy Update", IEEE TPDS 2012, section 3), with CPUs in place of registered threads.
//!
//! # The words
//!
//! The global `gp_ctr` and each slot's `ctr` pack the same two fields:
//!
//! | bits (64-bit `usize`) | meaning                                                  |
//! |-----------------------|----------------------------------------------------------|
//! | 63..33                | unused                                                   |
//! | 32                    | phase                                                    |
//! | 31..0                 | nesting depth (in `gp_ctr`: always 1)                    |
//!
//! (On a 32-bit `usize` the split is at bit 16.) The outermost `read_lock` copies `gp_ctr`
//! into its slot, which records "reading, since phase p" with depth 1; nested locks only count.
//!
//! # Grace periods
//!
//! A reader is *old* when its depth is non-zero and its phase differs from the current
//! phase. A grace period waits until no reader is old, flips the phase, and waits again. Two
//! waits are needed because a reader may have loaded `gp_ctr` just before a flip and store it
//! just after: the first wait covers readers that stored a phase older than the current one,
//! the second those that had the current phase when the flip happened.
//!
//! # Fences
//!
//! The outermost `read_lock` stores its slot, then fences, then reads protected data; the
//! grace period publishes its update, fences, then loads the slots. This store-buffering
//! pair forbids the reader missing the update while the updater misses the reader. The
//! outermost `read_unlock` clears its slot with a Release store, and the grace period fences
//! after seeing it cleared, so the reader's accesses happen before anything freed
//! afterwards. When the platform has a heavy barrier, readers use compiler fences and the
//! grace period issues the heavy barrier in place of its first and last fence (liburcu's
//! "smp_mb_slave" / "smp_mb_master" split).

use core::marker::PhantomData;

use crate::domain::sealed::{DomainCore, Flavor};
use crate::gp::ReaderWait;
use crate::platform::{on_this_cpu, Platform};
use crate::sync::{compiler_fence, const_fn, fence, AtomicUsize, Ordering};
use crate::Rcu;

/// Bit that holds the phase in `gp_ctr` and slot counters.
const PHASE: usize = 1 << (usize::BITS / 2);
/// Bits that hold the nesting depth.
const NEST_MASK: usize = PHASE - 1;

/// An RCU domain whose readers announce themselves in per-CPU slots.
///
/// Self-contained: grace periods complete without any scheduler or tick hook, so it works
/// in a hosted program or in a kernel that reports nothing. A read-side critical section
/// costs a load and a store on the CPU's own slot, plus one fence on the outermost lock
/// unless the platform has a heavy barrier.
///
/// `N` is the number of reader slots; it must be at least `P::MAX_CPUS` (checked at compile
/// time when the domain is built).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "std")] {
/// use rcu_core::{hosted::Hosted, Counter, Rcu, RcuPtr};
///
/// static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();
///
/// let config = RcuPtr::new(&RCU, Some(String::from("v1")));
/// {
///     let guard = RCU.read_lock();
///     assert_eq!(config.load(&guard).map(String::as_str), Some("v1"));
/// }
/// let old = config.replace(Some(String::from("v2")));
/// old.synchronize(); // waits for readers, then frees "v1"
/// # }
/// ```
#[derive(Debug)]
pub struct Counter<P: Platform, const N: usize> {
    core: DomainCore,
    /// The current phase, with depth 1 (see the module documentation).
    gp_ctr: AtomicUsize,
    slots: [CounterSlot; N],
    _platform: PhantomData<fn() -> P>,
}

/// One CPU's announcement word, alone on its cache line(s).
#[derive(Debug)]
#[repr(align(128))]
struct CounterSlot {
    ctr: AtomicUsize,
}

impl CounterSlot {
    const_fn! {
        fn new() -> Self {
            Self { ctr: AtomicUsize::new(0) }
        }
    }
}

impl<P: Platform, const N: usize> Counter<P, N> {
    const_fn! {
        /// A domain with no readers and no callbacks.
        pub fn new() -> Self {
            const { assert!(N >= P::MAX_CPUS, "a domain needs a reader slot for every CPU") };
            Self {
                core: DomainCore::new(),
                gp_ctr: AtomicUsize::new(1),
                slots: crate::slots::new_slots!(CounterSlot, N),
                _platform: PhantomData,
            }
        }
    }

    /// The slot of `cpu`.
    #[inline(always)]
    fn slot(&self, cpu: usize) -> &CounterSlot {
        &self.slots[cpu]
    }

    /// Orders the reader's slot store against its protected accesses (the "slave" side).
    #[inline(always)]
    fn reader_fence() {
        if P::HAS_HEAVY_BARRIER {
            // The updater's heavy barrier runs a full fence on this CPU at some instruction
            // boundary; the compiler must only keep program order here.
            compiler_fence(Ordering::SeqCst);
        } else {
            // SeqCst fence pairs with the fences in `master_fence`/`gp_poll`: the
            // store-buffering argument in the module documentation.
            fence(Ordering::SeqCst);
        }
    }

    /// Clears the slot of an outermost reader, after its protected accesses.
    #[inline(always)]
    fn leave(slot: &CounterSlot) {
        if P::HAS_HEAVY_BARRIER {
            // The updater's heavy barrier after it saw the slot cleared orders our accesses
            // before its frees; the compiler must only keep program order here.
            compiler_fence(Ordering::SeqCst);
            slot.ctr.store(0, Ordering::Relaxed);
        } else {
            // Release pairs with the SeqCst fence that follows the updater's scan in
            // `gp_poll` (`master_fence`): once the scan reads this 0, our accesses happen
            // before everything the updater does next. Only load-and-store-to-store order is
            // needed here, not a full fence: nothing this CPU does after leaving has to be
            // ordered against the updater (liburcu's memb flavor has a full barrier here
            // because it then checks the updater's futex).
            slot.ctr.store(0, Ordering::Release);
        }
    }

    /// The updater's side of `reader_fence`.
    #[inline]
    fn master_fence() {
        if P::HAS_HEAVY_BARRIER {
            P::heavy_barrier();
        } else {
            // SeqCst: pairs with the reader's fences in `reader_fence`.
            fence(Ordering::SeqCst);
        }
    }

    /// Whether any slot holds a reader of the phase before the current one.
    fn old_readers_active(&self) -> bool {
        // Relaxed loads: ordered by the fences around the scans in `gp_poll`.
        let current = self.gp_ctr.load(Ordering::Relaxed);
        self.slots.iter().any(|slot| {
            let v = slot.ctr.load(Ordering::Relaxed);
            v & NEST_MASK != 0 && (v ^ current) & PHASE != 0
        })
    }
}

impl<P: Platform, const N: usize> Default for Counter<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Platform, const N: usize> ReaderWait for Counter<P, N> {
    fn gp_begin(&self, _seq: u64, stage: &mut u32) {
        // Order the updates this grace period covers before the scans (master side).
        Self::master_fence();
        *stage = 0;
    }

    fn gp_poll(&self, _seq: u64, stage: &mut u32) -> bool {
        if *stage == 0 {
            if self.old_readers_active() {
                return false;
            }
            // SeqCst fences: the scan above happens before the flip, the flip before the scan
            // below (liburcu's two `cmm_smp_mb` around the parity switch).
            fence(Ordering::SeqCst);
            let current = self.gp_ctr.load(Ordering::Relaxed);
            self.gp_ctr.store(current ^ PHASE, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            *stage = 1;
        }
        if self.old_readers_active() {
            return false;
        }
        // The readers' unlocks we saw happen before whatever the caller frees next.
        Self::master_fence();
        true
    }
}

impl<P: Platform, const N: usize> Flavor for Counter<P, N> {
    type Readers = Self;

    #[inline(always)]
    fn core(&self) -> &DomainCore {
        &self.core
    }

    #[inline(always)]
    fn readers(&self) -> &Self {
        self
    }

    #[inline]
    fn updater_quiesce(&self) {}

    fn in_reader(&self) -> bool {
        on_this_cpu::<P, _>(|cpu| self.slot(cpu).ctr.load(Ordering::Relaxed) & NEST_MASK != 0)
    }

    fn may_run_callbacks(&self) -> bool {
        !self.in_reader()
    }

    #[inline]
    fn relax(&self, attempt: u32) {
        P::relax(attempt);
    }
}

impl<P: Platform, const N: usize> Rcu for Counter<P, N> {
    #[inline]
    unsafe fn raw_read_lock(&self) {
        P::preempt_disable();
        let slot = self.slot(P::cpu_id());
        // Relaxed: only this CPU (and handlers nested in it, which restore it) writes the slot.
        let ctr = slot.ctr.load(Ordering::Relaxed);
        if ctr & NEST_MASK == 0 {
            // Outermost: announce the current phase with depth 1, then order the announcement
            // before our reads (see `reader_fence`).
            slot.ctr
                .store(self.gp_ctr.load(Ordering::Relaxed), Ordering::Relaxed);
            Self::reader_fence();
        } else {
            debug_assert!(
                ctr & NEST_MASK != NEST_MASK,
                "rcu-core: read_lock nested too deeply"
            );
            slot.ctr.store(ctr + 1, Ordering::Relaxed);
        }
    }

    #[inline]
    unsafe fn raw_read_unlock(&self) {
        let slot = self.slot(P::cpu_id());
        let ctr = slot.ctr.load(Ordering::Relaxed);
        if ctr & NEST_MASK == 1 {
            // Outermost: our accesses happen before the slot says we left.
            Self::leave(slot);
        } else {
            assert!(
                ctr & NEST_MASK != 0,
                "rcu-core: read_unlock without a matching read_lock"
            );
            slot.ctr.store(ctr - 1, Ordering::Relaxed);
        }
        P::preempt_enable();
    }
}
