//! The QSBR flavor: zero-cost readers; the embedder reports quiescent states.
//!
//! Quiescent-state-based reclamation (McKenney and Slingwine, "Read-Copy Update: Using
//! Execution History to Solve Concurrency Problems", PDCS 1998; liburcu's `urcu-qsbr`;
//! Linux's non-preemptible RCU, where a context switch is the quiescent state). A read-side
//! critical section only disables preemption. A CPU passes through a *quiescent state*
//! whenever it is outside every section and holds no RCU reference: the kernel reports that
//! from its scheduler, its tick (when the tick interrupted user mode or the idle loop) and its
//! idle loop. A grace period ends once every online CPU has reported a quiescent state after
//! the grace period began. An offline CPU (or one in a long idle, an "extended quiescent
//! state") does not hold grace periods up.
//!
//! # The slot word
//!
//! Each CPU's slot holds either the grace-period sequence value it last saw at a quiescent
//! state, or `OFFLINE` (`0b10`, a value the sequence never takes since its bit 1 is always
//! clear; see [`Cookie`](crate::Cookie)). A grace period with (odd) sequence value `s` waits until
//! every slot holds `s` or `OFFLINE`.
//!
//! # Orderings
//!
//! - A quiescent-state report loads the sequence with Acquire and stores it into the slot
//!   with Release. The Release store pairs with the grace period's Acquire scan: what the CPU
//!   read before the report happens before the grace period ends. The Acquire load pairs
//!   with the AcqRel RMW that started the grace period: a CPU that reports the new value has
//!   seen every update the grace period covers, so its later sections cannot find the old
//!   objects.
//! - Coming online stores the slot, then runs a SeqCst fence before any read; the grace
//!   period runs a SeqCst fence between its start and its scan. Either the scan sees the CPU
//!   online, or the CPU's reads see the update (store buffering, forbidden by the fences).
//! - Going offline is a Release store, like a report.

use core::marker::PhantomData;

use crate::domain::sealed::{DomainCore, Flavor};
use crate::gp::ReaderWait;
use crate::platform::{on_this_cpu, Platform};
#[cfg(debug_assertions)]
use crate::sync::AtomicU32;
use crate::sync::{const_fn, fence, AtomicU64, Ordering};
use crate::Rcu;

/// The slot value of a CPU that is offline (or idle) for this domain.
const OFFLINE: u64 = 0b10;

/// An RCU domain with zero-cost readers and embedder-reported quiescent states.
///
/// In release builds `read_lock` and `read_unlock` only disable and enable preemption. The
/// price is a contract, taken on by whoever builds the domain (hence the `unsafe`
/// constructor): see [`Qsbr::new`].
///
/// CPUs start offline. `N` must be at least `P::MAX_CPUS` (checked at compile time).
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "std")] {
/// use rcu_core::{hosted::Hosted, Qsbr, Rcu, RcuPtr};
///
/// // SAFETY: this thread reads only while online, and reports quiescent states and goes
/// // offline only outside read-side critical sections.
/// static RCU: Qsbr<Hosted, { Hosted::MAX_CPUS }> = unsafe { Qsbr::new() };
///
/// RCU.online();
/// let counter = RcuPtr::new(&RCU, Some(1u64));
/// {
///     let guard = RCU.read_lock();
///     assert_eq!(counter.load(&guard), Some(&1));
/// }
/// // SAFETY: no read-side critical section is open and no reference from one is kept.
/// unsafe { RCU.quiescent_state() };
/// counter.replace(Some(2)).synchronize();
/// // SAFETY: as above.
/// unsafe { RCU.offline() };
/// # }
/// ```
#[derive(Debug)]
pub struct Qsbr<P: Platform, const N: usize> {
    core: DomainCore,
    slots: [QsbrSlot; N],
    _platform: PhantomData<fn() -> P>,
}

/// One CPU's quiescent-state word, alone on its cache line(s).
#[derive(Debug)]
#[repr(align(128))]
struct QsbrSlot {
    /// The sequence value last seen at a quiescent state, or `OFFLINE`.
    seen: AtomicU64,
    /// Read-side nesting depth, kept only to catch misuse.
    #[cfg(debug_assertions)]
    nesting: AtomicU32,
}

impl QsbrSlot {
    const_fn! {
        fn new() -> Self {
            Self {
                seen: AtomicU64::new(OFFLINE),
                #[cfg(debug_assertions)]
                nesting: AtomicU32::new(0),
            }
        }
    }

    /// Panics (debug builds) when this CPU is inside a read-side critical section.
    #[inline(always)]
    fn assert_outside_reader(&self, what: &str) {
        #[cfg(debug_assertions)]
        if self.nesting.load(Ordering::Relaxed) != 0 {
            panic!("rcu-core: {what} inside an RCU read-side critical section");
        }
        let _ = what;
    }
}

impl<P: Platform, const N: usize> Qsbr<P, N> {
    const_fn! {
        /// A domain whose CPUs are all offline.
        ///
        /// # Safety
        ///
        /// For the lifetime of the domain, its user guarantees:
        ///
        /// 1. Readers run only on CPUs that are online for this domain (after
        ///    [`online`](Self::online), before [`offline`](Self::offline)). Debug builds
        ///    panic otherwise.
        /// 2. Every quiescent-state report, `offline`, `synchronize`, `cond_synchronize`,
        ///    `barrier` and `process_callbacks` happens outside any read-side critical
        ///    section of this domain on the calling CPU, with no reference from such a
        ///    section still in use. Debug builds panic otherwise.
        /// 3. Every online CPU reports quiescent states (or goes offline) from time to time;
        ///    grace periods wait for it otherwise. With the hosted platform: a thread goes
        ///    offline before it exits.
        pub unsafe fn new() -> Self {
            const { assert!(N >= P::MAX_CPUS, "a domain needs a reader slot for every CPU") };
            Self {
                core: DomainCore::new(),
                slots: crate::slots::new_slots!(QsbrSlot, N),
                _platform: PhantomData,
            }
        }
    }

    /// Reports a quiescent state for the current CPU (Linux: `rcu_qs`): the scheduler's context
    /// switch, the tick from user mode or idle, an idle-loop iteration. Cheap when no grace
    /// period is waiting for this CPU (a load and a compare).
    ///
    /// # Safety
    ///
    /// The current CPU is outside every read-side critical section of this domain and uses
    /// no reference obtained in one (debug builds panic on the former).
    #[inline]
    pub unsafe fn quiescent_state(&self) {
        on_this_cpu::<P, _>(|cpu| {
            let slot = &self.slots[cpu];
            slot.assert_outside_reader("quiescent state reported");
            self.report(slot);
        });
    }

    /// Marks the current CPU online (Linux: `rcu_cpu_starting`, leaving idle): its readers count
    /// from now on. Idempotent.
    pub fn online(&self) {
        on_this_cpu::<P, _>(|cpu| {
            let seq = self.core.engine.current();
            self.slots[cpu].seen.store(seq, Ordering::Relaxed);
            // SeqCst: pairs with the fence in `gp_begin` (store buffering, see the module
            // documentation): the slot store is ordered before every read that follows.
            fence(Ordering::SeqCst);
        });
    }

    /// Marks the current CPU offline (Linux: `rcu_report_dead`, entering idle): an extended
    /// quiescent state that lasts until [`online`](Self::online).
    ///
    /// # Safety
    ///
    /// As [`quiescent_state`](Self::quiescent_state); and the CPU runs no reader of this
    /// domain until it is online again.
    pub unsafe fn offline(&self) {
        on_this_cpu::<P, _>(|cpu| {
            let slot = &self.slots[cpu];
            slot.assert_outside_reader("offline");
            // Release pairs with the Acquire scan in `gp_poll`: what this CPU read before
            // happens before the grace periods that skip it.
            slot.seen.store(OFFLINE, Ordering::Release);
        });
    }

    /// Whether the current CPU is online for this domain.
    pub fn is_online(&self) -> bool {
        on_this_cpu::<P, _>(|cpu| self.slots[cpu].seen.load(Ordering::Relaxed) != OFFLINE)
    }

    /// Reports a quiescent state for `slot` if it is online and behind.
    #[inline(always)]
    fn report(&self, slot: &QsbrSlot) {
        let seen = slot.seen.load(Ordering::Relaxed);
        if seen == OFFLINE {
            return;
        }
        // Acquire: see the module documentation ("Orderings").
        let seq = self.core.engine.current();
        if seen != seq {
            // Release pairs with the Acquire scan in `gp_poll`.
            slot.seen.store(seq, Ordering::Release);
        }
    }
}

impl<P: Platform, const N: usize> ReaderWait for Qsbr<P, N> {
    fn gp_begin(&self, _seq: u64, _stage: &mut u32) {
        // SeqCst: pairs with the fence in `online` (store buffering).
        fence(Ordering::SeqCst);
    }

    fn gp_poll(&self, seq: u64, _stage: &mut u32) -> bool {
        self.slots.iter().all(|slot| {
            // Acquire pairs with the Release stores in `report` and `offline`.
            let seen = slot.seen.load(Ordering::Acquire);
            seen == OFFLINE || seen == seq
        })
    }
}

impl<P: Platform, const N: usize> Flavor for Qsbr<P, N> {
    type Readers = Self;

    #[inline(always)]
    fn core(&self) -> &DomainCore {
        &self.core
    }

    #[inline(always)]
    fn readers(&self) -> &Self {
        self
    }

    fn updater_quiesce(&self) {
        // The updater is outside any read-side section (checked by the caller in debug
        // builds, promised by `Qsbr::new`'s contract otherwise).
        on_this_cpu::<P, _>(|cpu| self.report(&self.slots[cpu]));
    }

    fn in_reader(&self) -> bool {
        #[cfg(debug_assertions)]
        return on_this_cpu::<P, _>(|cpu| self.slots[cpu].nesting.load(Ordering::Relaxed) != 0);
        #[cfg(not(debug_assertions))]
        return false;
    }

    fn may_run_callbacks(&self) -> bool {
        if self.in_reader() {
            panic!(
                "rcu-core: QSBR process_callbacks called inside an RCU read-side critical section"
            );
        }
        true
    }

    #[inline]
    fn relax(&self, attempt: u32) {
        P::relax(attempt);
    }
}

impl<P: Platform, const N: usize> Rcu for Qsbr<P, N> {
    #[inline(always)]
    unsafe fn raw_read_lock(&self) {
        P::preempt_disable();
        #[cfg(debug_assertions)]
        {
            let slot = &self.slots[P::cpu_id()];
            assert!(
                slot.seen.load(Ordering::Relaxed) != OFFLINE,
                "rcu-core: QSBR read_lock on a CPU that is offline for this domain"
            );
            slot.nesting.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[inline(always)]
    unsafe fn raw_read_unlock(&self) {
        #[cfg(debug_assertions)]
        {
            let slot = &self.slots[P::cpu_id()];
            let depth = slot.nesting.fetch_sub(1, Ordering::Relaxed);
            assert!(
                depth != 0,
                "rcu-core: read_unlock without a matching read_lock"
            );
        }
        P::preempt_enable();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::hosted::Hosted;

    type Q = Qsbr<Hosted, { Hosted::MAX_CPUS }>;

    fn fresh() -> Q {
        // SAFETY: each test keeps the contract except where it checks the debug panic.
        unsafe { Q::new() }
    }

    /// An online CPU holds a grace period until it reports a quiescent state; an offline one
    /// does not hold it at all.
    #[test]
    fn online_cpu_holds_grace_period_until_quiescent_state() {
        let rcu = fresh();
        assert!(!rcu.is_online());
        rcu.online();
        assert!(rcu.is_online());
        let cookie = rcu.start_poll();
        for _ in 0..100 {
            assert!(
                !rcu.poll(cookie),
                "grace period ended without this CPU's quiescent state"
            );
        }
        // SAFETY: outside any read-side section.
        unsafe { rcu.quiescent_state() };
        assert!(rcu.poll(cookie));

        // SAFETY: as above.
        unsafe { rcu.offline() };
        let cookie = rcu.start_poll();
        assert!(
            rcu.poll(cookie),
            "an offline CPU must not hold a grace period"
        );
    }

    /// `synchronize` on an online CPU counts its caller as quiescent instead of deadlocking.
    #[test]
    fn synchronize_from_online_cpu_completes() {
        let rcu = fresh();
        rcu.online();
        for _ in 0..10 {
            rcu.synchronize();
        }
        // SAFETY: outside any read-side section.
        unsafe { rcu.offline() };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "quiescent state reported inside an RCU read-side critical section")]
    fn quiescent_state_inside_reader_panics() {
        let rcu = fresh();
        rcu.online();
        let _guard = rcu.read_lock();
        // SAFETY: deliberately broken; the debug check fires before anything is reported.
        unsafe { rcu.quiescent_state() };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "offline inside an RCU read-side critical section")]
    fn offline_inside_reader_panics() {
        let rcu = fresh();
        rcu.online();
        let _guard = rcu.read_lock();
        // SAFETY: deliberately broken; the debug check fires first.
        unsafe { rcu.offline() };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "QSBR read_lock on a CPU that is offline")]
    fn reader_on_offline_cpu_panics() {
        let rcu = fresh();
        let _guard = rcu.read_lock();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "read_unlock without a matching read_lock")]
    fn unbalanced_unlock_panics() {
        let rcu = fresh();
        rcu.online();
        // SAFETY: deliberately broken to check the panic; nothing is read.
        unsafe { rcu.raw_read_unlock() };
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "QSBR process_callbacks called inside an RCU read-side critical")]
    fn process_callbacks_inside_reader_panics() {
        let rcu = fresh();
        rcu.online();
        let _guard = rcu.read_lock();
        rcu.process_callbacks();
    }
}
