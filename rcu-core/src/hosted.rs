//! The hosted platform (feature `std`): threads stand in for CPUs.
//!
//! A thread takes a reader slot the first time RCU asks for its CPU index and gives it back
//! when it exits, so a slot always belongs to at most one live thread. There are
//! [`Hosted::MAX_CPUS`] slots; the thread that would need one more panics with a message that
//! says so. Preemption control does nothing: a slot belongs to its thread wherever the thread
//! runs. Updaters spin briefly, then yield.

use core::cell::Cell;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::platform::Platform;

/// Threads as CPUs. See the [module documentation](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct Hosted;

impl Hosted {
    /// Reader slots: how many threads may use RCU at the same time.
    pub const MAX_CPUS: usize = 64;

    /// Takes a slot for the current thread now rather than at its first RCU use, and
    /// returns its index. Idempotent.
    ///
    /// # Panics
    ///
    /// When all [`MAX_CPUS`](Self::MAX_CPUS) slots are held by live threads.
    pub fn register_thread() -> usize {
        <Self as Platform>::cpu_id()
    }

    /// How many slots live threads hold.
    pub fn registered_threads() -> usize {
        // Relaxed: a statistic.
        CLAIMED.iter().filter(|c| c.load(Ordering::Relaxed)).count()
    }
}

/// Which slots are held by live threads.
static CLAIMED: [AtomicBool; Hosted::MAX_CPUS] =
    [const { AtomicBool::new(false) }; Hosted::MAX_CPUS];

/// [`SLOT`] of a thread that has not claimed a slot yet.
const UNCLAIMED: usize = usize::MAX;
/// [`SLOT`] of a thread whose slot was given back by its thread-local destructor.
const RELEASED: usize = usize::MAX - 1;

/// A thread's claim on a slot; released by the thread-local destructor at thread exit.
struct Registration {
    slot: Cell<Option<usize>>,
}

impl Registration {
    fn claim(&self) -> usize {
        for (index, claimed) in CLAIMED.iter().enumerate() {
            // Acquire pairs with the Release store in `drop`: the previous owner's last uses
            // of the slot happen before ours.
            if claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                self.slot.set(Some(index));
                SLOT.with(|s| s.set(index));
                return index;
            }
        }
        panic!(
            "rcu-core hosted platform: all {} reader slots are held by live threads; \
             at most Hosted::MAX_CPUS threads may use RCU at the same time",
            Hosted::MAX_CPUS
        );
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(index) = self.slot.get() {
            SLOT.with(|s| s.set(RELEASED));
            // Release pairs with the Acquire exchange in `claim`.
            CLAIMED[index].store(false, Ordering::Release);
        }
    }
}

std::thread_local! {
    /// The thread's claim, whose destructor gives the slot back.
    static REGISTRATION: Registration = const { Registration { slot: Cell::new(None) } };
    /// The thread's slot index, or [`UNCLAIMED`] / [`RELEASED`]: a copy of the claim in a
    /// thread-local without a destructor, which is read without checking whether the
    /// thread-local is alive, so that `cpu_id` costs one load.
    static SLOT: Cell<usize> = const { Cell::new(UNCLAIMED) };
}

/// `cpu_id` for a thread that holds no slot: claims one, or panics after the thread gave
/// its slot back.
#[cold]
#[inline(never)]
fn claim_slot() -> usize {
    REGISTRATION
        .try_with(|r| match r.slot.get() {
            Some(index) => index,
            None => r.claim(),
        })
        .expect(
            "rcu-core hosted platform: RCU used by a thread-local destructor after the \
             thread's slot was released",
        )
}

// SAFETY:
// 1. `cpu_id` returns a claimed index below `MAX_CPUS`; a slot is claimed by one live thread
//    at a time (the `CLAIMED` flag), and a thread keeps its slot until it exits, so the value
//    is stable and exclusive to the thread.
// 2. The preemption functions do nothing, which trivially nests.
// 3. There is no heavy barrier.
unsafe impl Platform for Hosted {
    const MAX_CPUS: usize = Hosted::MAX_CPUS;

    #[inline]
    fn cpu_id() -> usize {
        let index = SLOT.with(Cell::get);
        if index < Hosted::MAX_CPUS {
            index
        } else {
            claim_slot()
        }
    }

    #[inline(always)]
    fn preempt_disable() {}

    #[inline(always)]
    fn preempt_enable() {}

    #[inline]
    fn relax(attempt: u32) {
        if attempt < 64 {
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}
