//! Kernel-style read-copy update for `no_std`.
//!
//! RCU lets readers traverse shared data with (almost) no synchronisation while updaters
//! publish new versions and free old ones only after a *grace period*: a span of time during
//! which every reader that might have seen the old version has finished. This crate provides
//! two flavors of it behind one trait, [`Rcu`]:
//!
//! - [`Qsbr`]: quiescent-state-based reclamation. Readers cost nothing beyond disabling
//!   preemption; the embedder reports quiescent states from its scheduler, tick and idle loop.
//! - [`Counter`]: readers announce themselves in per-CPU slots (liburcu's "memb" algorithm);
//!   self-contained, needs no hooks. With a heavy barrier from the platform its readers run
//!   without any fence.
//!
//! Around them: read guards whose borrows cannot escape ([`ReadGuard`]); RCU pointers
//! ([`RawRcuPtr`], and with `alloc` the owning [`RcuPtr`] and its [`Retired`] values);
//! [`synchronize`](Rcu::synchronize); polled grace periods with full-width [`Cookie`]s;
//! [`call_rcu`](Rcu::call_rcu) with an intrusive [`RcuHead`]; [`defer_drop`](Rcu::defer_drop);
//! [`barrier`](Rcu::barrier); and intrusive RCU hash chains ([`HlistHead`]).
//!
//! # Algorithms and sources
//!
//! - Grace-period sequence numbers and polling follow Linux's `rcu_seq` helpers
//!   (kernel/rcu/rcu.h) and `get_state_synchronize_rcu`/`poll_state_synchronize_rcu`
//!   (kernel/rcu/tree.c): a 64-bit counter whose low bits say whether a grace period is
//!   running, started 300 grace periods before wrap-around; see [`Cookie`].
//! - The counter flavor is liburcu's memory-barrier flavor: M. Desnoyers, P. E. McKenney,
//!   A. Stern, M. Dagenais, J. Walpole, "User-Level Implementations of Read-Copy Update",
//!   IEEE TPDS 23(2), 2012, with the two-phase grace period of its section 3.
//! - QSBR is the same paper's section 4 and Linux's non-preemptible RCU, where a context
//!   switch is a quiescent state (P. E. McKenney, "Is Parallel Programming Hard, And, If So,
//!   What Can You Do About It?", chapter 9, "Deferred Processing").
//! - Callback batching follows the idea of Linux's segmented callback lists
//!   (kernel/rcu/rcu_segcblist.c): a batch is stamped with a grace-period cookie when it
//!   leaves the "new" segment, so ready callbacks form a prefix.
//! - The hash chains are Linux's `hlist` RCU operations (include/linux/rculist.h).
//!
//! Every ordering is argued in the Rust (C++20) memory model, not in the Linux kernel memory
//! model: where Linux relies on `smp_mb()` being cumulative, this crate uses an RMW on the
//! grace-period word to get a happens-before edge (documented at the grace-period engine,
//! and checked by a loom model in which a third CPU drives the grace period). The one step
//! outside the model is the optional heavy barrier, justified in [`Platform`]'s safety
//! contract.
//!
//! # Environment
//!
//! | what | allocates | may wait (spin or `Platform::relax`) | callable from |
//! |---|---|---|---|
//! | `read_lock`, guard drop, `RawRcuPtr`/`RcuPtr` loads, hlist iteration | no | no | any context, nested, interrupt and NMI handlers included (a handler's section nests in the interrupted one on the same slot) |
//! | `call_rcu`, `get_state`, `start_poll`, `poll` | no | no (lock-free; `start_poll` and `poll` do a bounded scan of the slots) | any context |
//! | `process_callbacks` | no | no; runs the ready callbacks, so it takes as long as they do | softirq, tick, idle loop, a worker thread; runs nothing inside a reader |
//! | `Qsbr::quiescent_state`, `online`, `offline` | no | no | the CPU itself, outside readers: scheduler, tick from user/idle, idle entry and exit, hotplug |
//! | `synchronize`, `cond_synchronize`, `barrier`, dropping a `Retired` | no | yes, until the readers the grace period waits for leave (`Platform::relax` between scans) | thread context, outside readers |
//! | `RcuPtr::new`/`replace`/`compare_exchange`, `defer_drop` (feature `alloc`) | yes, one box per value or per deferred drop | no | wherever the allocator may be called |
//! | `Retired::defer_drop` | no (the node carries its head) | no | any context |
//! | `hosted::Hosted` (feature `std`) | thread-local storage, once per thread | no | threads; panics when more than `Hosted::MAX_CPUS` threads use RCU at once |
//!
//! Panics: debug builds panic on a quiescent state, `offline`, `synchronize`, `barrier` or
//! (QSBR) `process_callbacks` inside a read-side critical section, and on a QSBR reader on an
//! offline CPU; all builds panic on an unbalanced `read_unlock` of the counter flavor and on
//! an [`RcuPtr`] loaded under another domain's guard.
//!
//! # Embedding in a kernel
//!
//! ```
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use rcu_core::{Platform, Qsbr, Rcu};
//!
//! // Stand-ins for the kernel's own per-CPU machinery.
//! fn this_cpu() -> usize { 0 }
//! static PREEMPT_COUNT: AtomicUsize = AtomicUsize::new(0);
//! fn schedule() {}
//!
//! struct Kernel;
//!
//! // SAFETY: `this_cpu` is below MAX_CPUS and stable while preemption is off; the preemption
//! // counter nests; there is no heavy barrier.
//! unsafe impl Platform for Kernel {
//!     const MAX_CPUS: usize = 8;
//!     fn cpu_id() -> usize { this_cpu() }
//!     fn preempt_disable() { PREEMPT_COUNT.fetch_add(1, Ordering::Relaxed); }
//!     fn preempt_enable() { PREEMPT_COUNT.fetch_sub(1, Ordering::Relaxed); }
//!     fn relax(attempt: u32) {
//!         if attempt < 100 { core::hint::spin_loop() } else { schedule() }
//!     }
//! }
//!
//! // SAFETY: the hooks below report quiescent states only outside readers, and CPUs read only
//! // while online.
//! static RCU: Qsbr<Kernel, 8> = unsafe { Qsbr::new() };
//!
//! // Bringing up a CPU (and leaving the idle loop).
//! fn cpu_starting() { RCU.online(); }
//!
//! // The scheduler, at every context switch: the outgoing task is not in a reader, since
//! // readers keep preemption disabled.
//! fn context_switch() {
//!     // SAFETY: no read-side critical section spans a context switch.
//!     unsafe { RCU.quiescent_state() };
//! }
//!
//! // The tick: a quiescent state if it interrupted user mode or idle; callbacks in any case
//! // (they are skipped when not allowed).
//! fn tick(from_user_or_idle: bool) {
//!     if from_user_or_idle {
//!         // SAFETY: user mode and idle hold no kernel RCU references.
//!         unsafe { RCU.quiescent_state() };
//!         RCU.process_callbacks();
//!     }
//! }
//!
//! // Entering idle: an extended quiescent state.
//! fn idle_enter() {
//!     // SAFETY: the idle loop holds no RCU references and runs no readers until idle_exit.
//!     unsafe { RCU.offline() };
//! }
//! fn idle_exit() { RCU.online(); }
//!
//! cpu_starting();
//! {
//!     let _guard = RCU.read_lock();
//! }
//! context_switch();
//! tick(true);
//! RCU.synchronize();
//! idle_enter();
//! idle_exit();
//! ```
//!
//! # Host use with threads
//!
//! ```
//! # #[cfg(feature = "std")] {
//! use rcu_core::{hosted::Hosted, Counter, Rcu, RcuPtr};
//! use std::thread;
//!
//! static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();
//!
//! let table = RcuPtr::new(&RCU, Some(vec![1, 2, 3]));
//! thread::scope(|s| {
//!     for _ in 0..3 {
//!         s.spawn(|| {
//!             let guard = RCU.read_lock();
//!             let v = table.load(&guard).expect("the table is always present");
//!             assert!(v.len() == 3 || v.len() == 4);
//!         });
//!     }
//!     // Copy, update, publish; free the old version once the readers are done.
//!     let guard = RCU.read_lock();
//!     let mut next = table.load(&guard).unwrap().clone();
//!     drop(guard);
//!     next.push(4);
//!     table.replace(Some(next)).defer_drop();
//! });
//! RCU.barrier(); // runs the deferred drop
//! # }
//! ```
//!
//! # Features
//!
//! No default features. `alloc`: [`RcuPtr`], [`Retired`], [`Rcu::defer_drop`]. `std`
//! (implies `alloc`): the [`hosted`] platform.

#![no_std]
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(any(feature = "std", test))]
extern crate std;

mod callback;
mod counter;
mod domain;
mod gp;
mod hlist;
mod platform;
mod ptr;
mod qsbr;
mod slots;
mod sync;

#[cfg(any(feature = "std", test))]
pub mod hosted;

pub use callback::{RcuCallback, RcuHead};
pub use counter::Counter;
pub use domain::{Rcu, ReadGuard};
pub use gp::Cookie;
pub use hlist::{HlistHead, HlistLinked, HlistNode, Iter as HlistIter};
pub use platform::Platform;
pub use ptr::RawRcuPtr;
#[cfg(any(feature = "alloc", test))]
pub use ptr::{RcuPtr, Retired};
pub use qsbr::Qsbr;
