//! Groups 1 and 2: the RCU read side and the update side, ours against crossbeam-epoch,
//! arc-swap and reader-writer locks.
//!
//! # Read side
//!
//! One operation enters a read-side section, loads a shared pointer, dereferences it and
//! leaves: `read_lock` + [`RcuPtr::load`] for our flavors, `pin` + `Atomic::load` + deref for
//! crossbeam-epoch, `load` for arc-swap, a read lock and a read of the value for
//! `std::sync::RwLock` and `spin::RwLock`. Every thread reads the same pointer. QSBR threads
//! go online before their batch and report a quiescent state after it (outside the clock:
//! QSBR readers pay nothing per section, the reports belong to the scheduler), and go
//! offline before they exit. The counter flavor is run on [`Hosted`] (readers fence on the
//! outermost lock and unlock) and, where the kernel has it, on the `membarrier(2)` platform
//! (readers use compiler fences only; grace periods pay for an IPI to every CPU).
//!
//! # Update side
//!
//! - `synchronize` latency with idle readers: besides the threads that call `synchronize`
//!   in a loop, as many reader threads hold a reader slot and block until the batch is over
//!   without being in a section. For QSBR they are idle the way a kernel's idle CPU is: in
//!   an extended quiescent state (online, then offline). The updaters themselves are offline
//!   (QSBR) or registered (counter).
//! - `call_rcu` throughput: each thread queues callbacks on intrusive [`RcuHead`]s, calls
//!   `process_callbacks` every [`TICK`] callbacks (with a quiescent state first, for QSBR,
//!   as a tick from user mode would), and `barrier` at the end of every chunk of
//!   [`CHUNK`] heads, before it reuses them, so that the time covers running every callback.
//!   crossbeam-epoch's nearest equivalent is `pin().defer(..)` with `flush` every [`TICK`]
//!   callbacks, then pinning and flushing until all of the thread's closures have run.
//! - Polled cookies: `get_state` then `poll` of the cookie (not yet done, since no grace
//!   period is asked for); ours only, both flavors.

use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_epoch as epoch;
use rcu_core::hosted::Hosted;
use rcu_core::{Counter, Qsbr, Rcu, RcuHead, RcuPtr};

use super::{measure, threaded, Background, Figures, Row, Sample, Settings, Start, Stop};
use crate::membarrier::Membarrier;

/// The QSBR domain of groups 1 and 2.
// SAFETY: every thread that uses it goes through [`Flavor`]: it reads only between
// `enter` (online) and the drop of its `Participant` (offline); quiescent states, `offline`,
// `synchronize`, `barrier` and `process_callbacks` are called only between read-side
// sections, from which nothing is kept; threads report a quiescent state after every batch
// and during `call_rcu` batches every `TICK` callbacks, and the participant takes a thread
// offline before it exits, on unwinding too.
static QSBR: Qsbr<Hosted, { Hosted::MAX_CPUS }> = unsafe { Qsbr::new() };

/// The counter domain of groups 1 and 2, on the hosted platform.
static COUNTER: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

/// The counter domain on the `membarrier(2)` platform (fence-free readers).
static COUNTER_MB: Counter<Membarrier, { Hosted::MAX_CPUS }> = Counter::new();

/// Callbacks between two calls of `process_callbacks` (or crossbeam's `flush`).
pub const TICK: u64 = 64;

/// Heads a `call_rcu` thread queues before it waits for them with `barrier` and reuses them.
pub const CHUNK: usize = 16 * 1024;

/// A domain under test and the duties its threads have.
trait Flavor: Rcu + 'static {
    /// How the tables name it.
    const NAME: &'static str;

    /// The domain.
    fn get() -> &'static Self;

    /// The current thread starts reading (QSBR: online); undone when the result drops.
    fn enter(&'static self) -> Participant<Self> {
        Participant(self)
    }

    /// The current thread holds nothing from a read-side section (QSBR: a quiescent state).
    fn quiesce(&self) {}

    /// The current thread stops using the domain (QSBR: offline).
    fn leave(&self) {}
}

/// A thread's participation in a domain; leaves it when dropped.
struct Participant<D: Flavor>(&'static D);

impl<D: Flavor> Drop for Participant<D> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

type QsbrD = Qsbr<Hosted, { Hosted::MAX_CPUS }>;
type CounterD = Counter<Hosted, { Hosted::MAX_CPUS }>;
type CounterMbD = Counter<Membarrier, { Hosted::MAX_CPUS }>;

impl Flavor for QsbrD {
    const NAME: &'static str = "qsbr (ours)";

    fn get() -> &'static Self {
        &QSBR
    }

    fn enter(&'static self) -> Participant<Self> {
        self.online();
        Participant(self)
    }

    fn quiesce(&self) {
        // SAFETY: called only between read-side sections, with nothing from them kept (see
        // `QSBR`).
        unsafe { self.quiescent_state() }
    }

    fn leave(&self) {
        // SAFETY: as in `quiesce`; the thread reads nothing afterwards.
        unsafe { self.offline() }
    }
}

impl Flavor for CounterD {
    const NAME: &'static str = "counter (ours)";

    fn get() -> &'static Self {
        &COUNTER
    }
}

impl Flavor for CounterMbD {
    const NAME: &'static str = "counter+membarrier (ours)";

    fn get() -> &'static Self {
        &COUNTER_MB
    }
}

/// The value every reader loads.
const VALUE: u64 = 0x5EED;

/// The rows of our flavor `D` reading `ptr`.
fn our_read_row<'a, D: Flavor>(
    set: &str,
    threads: usize,
    ptr: &'a RcuPtr<'static, u64, D>,
) -> Row<'a> {
    Row::new(set, D::NAME, threads, true, move |ops| {
        let ns = threaded(threads, ops, &[], |_, start| {
            let rcu = D::get();
            let _participant = rcu.enter();
            let began = start.wait();
            for _ in 0..ops {
                let guard = rcu.read_lock();
                if let Some(value) = ptr.load(&guard) {
                    black_box(*value);
                }
            }
            let spent = began.elapsed();
            rcu.quiesce();
            spent
        });
        Sample::time(ns)
    })
}

/// Group 1: the read side.
pub fn read_side(settings: &Settings) -> Vec<Figures> {
    let qsbr = RcuPtr::new(&QSBR, Some(VALUE));
    let counter = RcuPtr::new(&COUNTER, Some(VALUE));
    let counter_mb = Membarrier::available().then(|| RcuPtr::new(&COUNTER_MB, Some(VALUE)));
    let crossbeam = epoch::Atomic::new(VALUE);
    let arc_swap = ArcSwap::from_pointee(VALUE);
    let std_rwlock = std::sync::RwLock::new(VALUE);
    let spin_rwlock = spin::RwLock::new(VALUE);

    let set = "enter, load, deref, leave";
    let mut rows = Vec::new();
    for threads in settings.thread_counts() {
        rows.push(our_read_row(set, threads, &qsbr));
        rows.push(our_read_row(set, threads, &counter));
        if let Some(ptr) = &counter_mb {
            rows.push(our_read_row(set, threads, ptr));
        }
        let crossbeam = &crossbeam;
        rows.push(Row::new(
            set,
            "crossbeam-epoch",
            threads,
            false,
            move |ops| {
                Sample::time(super::timed_loop(threads, ops, &[], |_| {
                    let guard = epoch::pin();
                    // Acquire: crossbeam's `rcu_dereference`; pairs with the publication of the
                    // pointer, which here happened before the threads were spawned.
                    let shared = crossbeam.load(Ordering::Acquire, &guard);
                    // SAFETY: the pointer was set by `Atomic::new` and is never changed or freed
                    // until every thread has been joined (`into_owned` below), so it is valid
                    // and not null for the guard's lifetime.
                    black_box(unsafe { *shared.deref() });
                }))
            },
        ));
        let arc_swap = &arc_swap;
        rows.push(Row::new(set, "arc-swap", threads, false, move |ops| {
            Sample::time(super::timed_loop(threads, ops, &[], |_| {
                let guard = arc_swap.load();
                black_box(**guard);
            }))
        }));
        let std_rwlock = &std_rwlock;
        rows.push(Row::new(set, "std RwLock", threads, false, move |ops| {
            Sample::time(super::timed_loop(threads, ops, &[], |_| {
                let guard = std_rwlock.read().expect("never poisoned");
                black_box(*guard);
            }))
        }));
        let spin_rwlock = &spin_rwlock;
        rows.push(Row::new(set, "spin RwLock", threads, false, move |ops| {
            Sample::time(super::timed_loop(threads, ops, &[], |_| {
                let guard = spin_rwlock.read();
                black_box(*guard);
            }))
        }));
    }
    let figures = measure(settings, "1. RCU read side", rows);
    // SAFETY: every thread that loaded the pointer has been joined, so no guard can still
    // reference the value.
    drop(unsafe { crossbeam.into_owned() });
    figures
}

/// Group 2: the update side.
pub fn update_side(settings: &Settings) -> Vec<Figures> {
    let mut rows = Vec::new();
    let idle = settings.threads;
    let set = format!("synchronize, {idle} idle readers");
    for threads in settings.thread_counts() {
        rows.push(synchronize_row::<QsbrD>(&set, threads, idle));
        rows.push(synchronize_row::<CounterD>(&set, threads, idle));
        if Membarrier::available() {
            rows.push(synchronize_row::<CounterMbD>(&set, threads, idle));
        }
    }
    let set = "call_rcu + run callbacks";
    for threads in settings.thread_counts() {
        rows.push(call_rcu_row::<QsbrD>(set, threads));
        rows.push(call_rcu_row::<CounterD>(set, threads));
        rows.push(crossbeam_defer_row(set, threads));
    }
    let set = "get_state + poll";
    for threads in settings.thread_counts() {
        rows.push(cookie_row::<QsbrD>(set, threads));
        rows.push(cookie_row::<CounterD>(set, threads));
    }
    measure(settings, "2. RCU update side", rows)
}

/// `synchronize` in a loop on `threads` threads beside `idle` idle reader threads.
fn synchronize_row<D: Flavor>(set: &str, threads: usize, idle: usize) -> Row<'static> {
    Row::new(set, D::NAME, threads, true, move |ops| {
        let idle_reader = |start: &Start<'_>, stop: &Stop| {
            let rcu = D::get();
            {
                let _participant = rcu.enter();
                Hosted::register_thread();
            }
            start.wait();
            stop.wait();
        };
        let job: Background<'_> = &idle_reader;
        let background = vec![job; idle];
        let ns = threaded(threads, ops, &background, |_, start| {
            let rcu = D::get();
            Hosted::register_thread();
            let began = start.wait();
            for _ in 0..ops {
                rcu.synchronize();
            }
            began.elapsed()
        });
        Sample::time(ns)
    })
}

/// Callbacks run by the `call_rcu` rows (all threads together).
static CALLBACKS_RUN: AtomicU64 = AtomicU64::new(0);

/// The callback of the `call_rcu` rows: counts itself and leaves the head alone (it belongs
/// to the thread that queued it).
fn count_callback(_head: NonNull<RcuHead>) {
    // Relaxed: a count, read after `barrier`, which orders the callbacks before it.
    CALLBACKS_RUN.fetch_add(1, Ordering::Relaxed);
}

/// `call_rcu` throughput of flavor `D`.
fn call_rcu_row<D: Flavor>(set: &str, threads: usize) -> Row<'static> {
    let mut row = Row::new(set, D::NAME, threads, true, move |ops| {
        // Relaxed: read after the threads have been joined.
        let before = CALLBACKS_RUN.load(Ordering::Relaxed);
        let ns = threaded(threads, ops, &[], |_, start| {
            let rcu = D::get();
            let heads: Box<[RcuHead]> = (0..CHUNK.min(ops as usize))
                .map(|_| RcuHead::new())
                .collect();
            let _participant = rcu.enter();
            let began = start.wait();
            let mut queued = 0;
            while queued < ops {
                let n = (ops - queued).min(heads.len() as u64) as usize;
                for (i, head) in heads[..n].iter().enumerate() {
                    // SAFETY: 1. the head is not queued: it is fresh or its callback ran
                    // before the `barrier` below returned, and it stays in place until the
                    // `barrier` after this chunk; 2. the callback frees nothing; 3. it does
                    // not call `barrier`.
                    unsafe { rcu.call_rcu(NonNull::from(head), count_callback) };
                    if (i as u64 + 1) % TICK == 0 {
                        rcu.quiesce();
                        rcu.process_callbacks();
                    }
                }
                rcu.barrier();
                queued += n as u64;
            }
            let spent = began.elapsed();
            drop(heads);
            spent
        });
        // Relaxed: as above; every callback ran before a `barrier` that was joined.
        let ran = CALLBACKS_RUN.load(Ordering::Relaxed) - before;
        assert_eq!(ran, threads as u64 * ops, "call_rcu: callbacks lost");
        Sample::time(ns)
    });
    row.max_ops = 1 << 24;
    row
}

/// Closures run by the crossbeam `defer` row, per thread index.
static DEFERRED_RUN: [AtomicU64; Hosted::MAX_CPUS] =
    [const { AtomicU64::new(0) }; Hosted::MAX_CPUS];

/// crossbeam-epoch's `defer` + `flush`, then flushing until every closure of the thread ran.
fn crossbeam_defer_row(set: &str, threads: usize) -> Row<'static> {
    let mut row = Row::new(set, "crossbeam-epoch defer", threads, false, move |ops| {
        let ns = threaded(threads, ops, &[], |index, start| {
            let counter: &'static AtomicU64 = &DEFERRED_RUN[index];
            // Relaxed: only this thread's closures write it, and the loop below waits for them.
            let target = counter.load(Ordering::Relaxed) + ops;
            let began = start.wait();
            for i in 0..ops {
                let guard = epoch::pin();
                guard.defer(move || {
                    // Relaxed: a count (see `target`).
                    counter.fetch_add(1, Ordering::Relaxed);
                });
                if (i + 1) % TICK == 0 {
                    guard.flush();
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            // Relaxed: a count; the closures' effects are only this counter.
            while counter.load(Ordering::Relaxed) < target {
                epoch::pin().flush();
                assert!(
                    Instant::now() < deadline,
                    "crossbeam-epoch: deferred closures did not run within 30 s"
                );
            }
            began.elapsed()
        });
        Sample::time(ns)
    });
    row.max_ops = 1 << 24;
    row
}

/// `get_state` + `poll` of flavor `D`.
fn cookie_row<D: Flavor>(set: &str, threads: usize) -> Row<'static> {
    Row::new(set, D::NAME, threads, true, move |ops| {
        let ns = threaded(threads, ops, &[], |_, start| {
            let rcu = D::get();
            Hosted::register_thread();
            let began = start.wait();
            for _ in 0..ops {
                let cookie = rcu.get_state();
                black_box(rcu.poll(black_box(cookie)));
            }
            began.elapsed()
        });
        Sample::time(ns)
    })
}
