//! The rcutorture pipeline (Linux kernel/rcu/rcutorture.c; the host version is
//! `tests/tests/torture.rs`), on every CPU of the machine, for three domains: the counter
//! flavor, the counter flavor with the IPI heavy barrier (fence-free readers), and QSBR.
//!
//! A writer (CPU 0) keeps replacing the element behind one [`RcuPtr`]. Each element has an
//! *age*: 0 while published, 1 once unpublished, one more each time an API reports a grace
//! period ended since. At [`AGE_LIMIT`] it is freed (its `mbtest` word cleared, then its
//! memory poisoned by the heap). Readers on every CPU load the element under a guard, linger
//! (sometimes in a nested section, sometimes long enough for several ticks to hit them) and
//! then look at its age: a reader may see 0 or 1, never more, since no grace period that
//! began after the retirement may end while the reader is inside. The writer cycles through
//! `synchronize`, `get_state` + `cond_synchronize`, `start_poll` + `poll`,
//! `Retired::try_reclaim`, `Retired::synchronize` and `Retired::defer_drop` (whose
//! `call_rcu` chain ages the element one grace period at a time), in shuffled bursts, with a
//! `barrier` now and then that must have run every earlier `defer_drop`. The last CPU also
//! asks for grace periods and queues `defer_drop`s between its reads (rcutorture's fake
//! writer). Callbacks run from the tick on every CPU, from the writer, and from `barrier`.
//!
//! QSBR readers report a quiescent state after every section, and sometimes go offline for
//! a while (an extended quiescent state); the tick reports one whenever it interrupts code
//! with preemption enabled.
//!
//! Left out from the host version: yielding inside a section (there is no scheduler; the
//! long spins let ticks land in sections instead), the progress line and stall watchdog
//! (`run.sh`'s time limit stands in), and the seeds from the environment.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use rcu_core::{Counter, Platform, Qsbr, Rcu, RcuHead, RcuPtr, Retired};

use super::spin;
use super::Ctx;
use crate::percpu::MAX_CPUS;
use crate::platform::{Kernel, KernelIpi, COUNTER, COUNTER_IPI, QSBR};
use crate::rng::Rng;

/// Updates the writer makes per flavor.
const UPDATES: u64 = 4_000;

/// The age at which an element is freed (rcutorture's `RCU_TORTURE_PIPE_LEN`).
const AGE_LIMIT: u32 = 10;
/// The age of an unpublished element whose grace period has not ended.
const AGE_RETIRED: u32 = 1;
/// The age after the first grace period following the retirement.
const AGE_AFTER_FIRST_GP: u32 = 2;
/// The greatest age a reader may see.
const MAX_LEGAL_AGE: u32 = AGE_RETIRED;
/// The `mbtest` word of an element that has not been freed.
const MB_LIVE: u32 = 0x4C49_5645;
/// Below this many read-side sections (all CPUs) a run proves nothing, and fails.
const MIN_READS: u64 = 10_000;

/// A domain under test and what its CPUs do for it.
pub trait Flavor: 'static {
    /// How the figures name it.
    const NAME: &'static str;
    /// The domain type.
    type Domain: Rcu + 'static;
    /// The domain.
    fn domain() -> &'static Self::Domain;
    /// The counters callbacks update.
    fn shared() -> &'static Shared;
    /// Reports a quiescent state (QSBR); nothing for the counter flavor.
    ///
    /// # Safety
    ///
    /// The CPU is outside every read-side section of the domain and uses nothing read in one.
    unsafe fn quiescent_state() {}
    /// Enters an extended quiescent state (QSBR: offline).
    ///
    /// # Safety
    ///
    /// As [`quiescent_state`](Self::quiescent_state), and the CPU reads nothing until
    /// [`leave_idle`](Self::leave_idle).
    unsafe fn enter_idle() {}
    /// Leaves it.
    fn leave_idle() {}
}

/// The counter flavor on this kernel.
pub struct CounterFlavor;
static COUNTER_SHARED: Shared = Shared::new();

impl Flavor for CounterFlavor {
    const NAME: &'static str = "rcutorture counter";
    type Domain = Counter<Kernel, MAX_CPUS>;
    fn domain() -> &'static Self::Domain {
        &COUNTER
    }
    fn shared() -> &'static Shared {
        &COUNTER_SHARED
    }
}

/// The counter flavor with the IPI heavy barrier: fence-free readers.
pub struct CounterIpiFlavor;
static COUNTER_IPI_SHARED: Shared = Shared::new();

impl Flavor for CounterIpiFlavor {
    const NAME: &'static str = "rcutorture counter+ipi";
    type Domain = Counter<KernelIpi, MAX_CPUS>;
    fn domain() -> &'static Self::Domain {
        &COUNTER_IPI
    }
    fn shared() -> &'static Shared {
        &COUNTER_IPI_SHARED
    }
}

/// The QSBR flavor on this kernel.
pub struct QsbrFlavor;
static QSBR_SHARED: Shared = Shared::new();

impl Flavor for QsbrFlavor {
    const NAME: &'static str = "rcutorture qsbr";
    type Domain = Qsbr<Kernel, MAX_CPUS>;
    fn domain() -> &'static Self::Domain {
        &QSBR
    }
    fn shared() -> &'static Shared {
        &QSBR_SHARED
    }
    unsafe fn quiescent_state() {
        // SAFETY: forwarded from the caller.
        unsafe { QSBR.quiescent_state() };
    }
    unsafe fn enter_idle() {
        // SAFETY: forwarded from the caller.
        unsafe { QSBR.offline() };
    }
    fn leave_idle() {
        QSBR.online();
    }
}

/// Runs the pipeline for flavor `F` on every CPU; CPU 0 prints the figures and returns the
/// verdict.
pub fn run<F: Flavor>(ctx: &Ctx) -> bool {
    ctx.with_shared(
        || Run::<F>::new(),
        |run| {
            if ctx.is_reporter() {
                Some(writer(run))
            } else {
                reader_cpu(run, ctx);
                None
            }
        },
        |run, removed| {
            let removed = removed.expect("CPU 0 is the writer");
            report(run, removed)
        },
    )
}

// ---------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------

/// One version of the protected data (rcutorture's `struct rcu_torture`).
struct Element {
    age: AtomicU32,
    mbtest: AtomicU32,
    serial: u64,
    head: RcuHead,
}

/// The counters callbacks update (a callback gets nothing but its head). Relaxed
/// throughout: read after `barrier` or after the closing rendezvous.
pub struct Shared {
    allocated: AtomicU64,
    freed: AtomicU64,
    allocated_serials: AtomicU64,
    freed_serials: AtomicU64,
    /// Handles dropped by rcu-core (their element entered an aging chain).
    chained: AtomicU64,
    /// Callbacks of this test that ran.
    callbacks: AtomicU64,
}

impl Shared {
    const fn new() -> Self {
        Self {
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            allocated_serials: AtomicU64::new(0),
            freed_serials: AtomicU64::new(0),
            chained: AtomicU64::new(0),
            callbacks: AtomicU64::new(0),
        }
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

fn new_element<F: Flavor>(serial: u64) -> Box<Element> {
    let shared = F::shared();
    shared.allocated.fetch_add(1, Ordering::Relaxed);
    shared
        .allocated_serials
        .fetch_add(serial, Ordering::Relaxed);
    Box::new(Element {
        age: AtomicU32::new(0),
        mbtest: AtomicU32::new(MB_LIVE),
        serial,
        head: RcuHead::new(),
    })
}

fn free_element<F: Flavor>(element: Box<Element>) {
    // A reader that could still see the element (which RCU forbids) would notice.
    element.mbtest.store(0, Ordering::Relaxed);
    let shared = F::shared();
    shared.freed.fetch_add(1, Ordering::Relaxed);
    shared
        .freed_serials
        .fetch_add(element.serial, Ordering::Relaxed);
    drop(element);
}

/// Ages `element` by one grace period; returns the new age.
fn age_once(element: &Element) -> u32 {
    // Relaxed: the grace period orders this after every reader that could see the element;
    // if it did not, that reader would see the new age, which is what the test looks for.
    element.age.fetch_add(1, Ordering::Relaxed) + 1
}

/// Retired elements past their first grace period, owned by the writer: every later grace
/// period of the writer's waits ages them all (rcutorture's synchronous mode).
#[derive(Default)]
struct RemovedList {
    #[allow(clippy::vec_box)]
    elements: Vec<Box<Element>>,
}

impl RemovedList {
    fn age_all<F: Flavor>(&mut self) {
        let mut i = 0;
        while i < self.elements.len() {
            if age_once(&self.elements[i]) >= AGE_LIMIT {
                free_element::<F>(self.elements.swap_remove(i));
            } else {
                i += 1;
            }
        }
    }
}

/// What the RCU pointer holds. When rcu-core drops a retired handle (from
/// `Retired::synchronize` or the `defer_drop` callback), a grace period has ended since the
/// retirement: the handle ages its element and passes it to a chain of aging callbacks.
struct Handle<F: Flavor> {
    element: Option<Box<Element>>,
    _flavor: PhantomData<fn() -> F>,
}

impl<F: Flavor> Handle<F> {
    fn new(element: Box<Element>) -> Self {
        Self {
            element: Some(element),
            _flavor: PhantomData,
        }
    }

    fn element(&self) -> &Element {
        self.element
            .as_deref()
            .expect("a published handle holds its element")
    }

    fn take(mut self) -> Box<Element> {
        self.element
            .take()
            .expect("a handle holds its element until it is dropped")
    }
}

impl<F: Flavor> Drop for Handle<F> {
    fn drop(&mut self) {
        let Some(element) = self.element.take() else {
            return;
        };
        let age = age_once(&element);
        assert_eq!(
            age,
            AGE_AFTER_FIRST_GP,
            "{}: element #{} was aged by someone else before rcu-core dropped it",
            F::NAME,
            element.serial
        );
        F::shared().chained.fetch_add(1, Ordering::Relaxed);
        queue_aging::<F>(element);
    }
}

/// Hands `element` to a chain of callbacks that ages it once per grace period and frees it
/// at [`AGE_LIMIT`] (rcutorture's asynchronous mode).
fn queue_aging<F: Flavor>(element: Box<Element>) {
    let element = Box::into_raw(element);
    // SAFETY:
    // 1. The head belongs to an element we own (it came out of a `Box`) and is queued
    //    nowhere; the element stays leaked, valid and in place, until `age_callback` takes
    //    the box back.
    // 2. `age_callback` only ages the element and queues it again or frees it; it was
    //    retired a grace period ago, so no reader that starts now can reach it.
    // 3. `age_callback` does not call `barrier`.
    // The head pointer is derived from the pointer to the whole element, so that the
    // callback may step back to it.
    unsafe {
        let head = NonNull::new_unchecked(core::ptr::addr_of_mut!((*element).head));
        F::domain().call_rcu(head, age_callback::<F>);
    }
}

/// One step of an aging chain.
///
/// # Safety
///
/// `head` is the `head` field of an element leaked by [`queue_aging`] (or by an earlier step
/// of this chain), which the callback now owns.
unsafe fn age_callback<F: Flavor>(head: NonNull<RcuHead>) {
    F::shared().callbacks.fetch_add(1, Ordering::Relaxed);
    let offset = core::mem::offset_of!(Element, head);
    // SAFETY: by the contract, stepping back by the field offset stays inside the element.
    let element = unsafe { head.as_ptr().byte_sub(offset) }.cast::<Element>();
    // SAFETY: the element is live and owned by this chain (contract).
    if age_once(unsafe { &*element }) >= AGE_LIMIT {
        // SAFETY: the element came from `Box::into_raw` in `queue_aging`, and rcu-core no
        // longer holds its head (it detached it before calling us).
        free_element::<F>(unsafe { Box::from_raw(element) });
    } else {
        // SAFETY: as in `queue_aging`: the head is queued nowhere, and the element stays
        // leaked until a later step frees it.
        unsafe { F::domain().call_rcu(head, age_callback::<F>) };
    }
}

// ---------------------------------------------------------------------------------------
// The shared state of a run
// ---------------------------------------------------------------------------------------

/// What every CPU of a run shares. Relaxed counters throughout: they are statistics, read by
/// CPU 0 after the closing rendezvous.
struct Run<F: Flavor> {
    ptr: RcuPtr<'static, Handle<F>, F::Domain>,
    /// Set by the writer when it is done.
    stop: AtomicBool,
    readers: ReaderTotals,
    fake: [AtomicU64; 5],
    gp_seq_before: u64,
}

impl<F: Flavor> Run<F> {
    fn new() -> Self {
        let rcu = F::domain();
        Self {
            gp_seq_before: rcu.get_state().as_u64(),
            ptr: RcuPtr::new(rcu, Some(Handle::new(new_element::<F>(0)))),
            stop: AtomicBool::new(false),
            readers: ReaderTotals::default(),
            fake: Default::default(),
        }
    }
}

/// What the readers of every CPU saw, summed.
#[derive(Default)]
struct ReaderTotals {
    reads: AtomicU64,
    nested: AtomicU64,
    long_delays: AtomicU64,
    idles: AtomicU64,
    histogram: [AtomicU64; AGE_LIMIT as usize + 1],
    max_age: AtomicU32,
    too_old: AtomicU64,
    recycled: AtomicU64,
    empty: AtomicU64,
}

/// One CPU's reader counts, added to [`ReaderTotals`] at the end.
#[derive(Default)]
struct ReaderStats {
    reads: u64,
    nested: u64,
    long_delays: u64,
    idles: u64,
    histogram: [u64; AGE_LIMIT as usize + 1],
    max_age: u32,
    too_old: u64,
    recycled: u64,
    empty: u64,
}

impl ReaderStats {
    /// Records the age and liveness of an element seen in a section.
    fn observe(&mut self, flavor: &str, element: &Element) {
        let age = element.age.load(Ordering::Relaxed);
        let mbtest = element.mbtest.load(Ordering::Relaxed);
        self.histogram[age.min(AGE_LIMIT) as usize] += 1;
        self.max_age = self.max_age.max(age);
        if age > MAX_LEGAL_AGE {
            if self.too_old == 0 {
                crate::kprintln!(
                    "{flavor}: FAIL: CPU {} saw element #{} at age {age}",
                    crate::percpu::cpu_index(),
                    element.serial
                );
            }
            self.too_old += 1;
        }
        if mbtest != MB_LIVE {
            if self.recycled == 0 {
                crate::kprintln!(
                    "{flavor}: FAIL: CPU {} saw element #{} freed (mbtest {mbtest:#x})",
                    crate::percpu::cpu_index(),
                    element.serial
                );
            }
            self.recycled += 1;
        }
    }

    fn add_to(&self, totals: &ReaderTotals) {
        let add = |sum: &AtomicU64, n: u64| sum.fetch_add(n, Ordering::Relaxed);
        add(&totals.reads, self.reads);
        add(&totals.nested, self.nested);
        add(&totals.long_delays, self.long_delays);
        add(&totals.idles, self.idles);
        for (sum, &n) in totals.histogram.iter().zip(&self.histogram) {
            add(sum, n);
        }
        totals.max_age.fetch_max(self.max_age, Ordering::Relaxed);
        add(&totals.too_old, self.too_old);
        add(&totals.recycled, self.recycled);
        add(&totals.empty, self.empty);
    }
}

// ---------------------------------------------------------------------------------------
// Readers
// ---------------------------------------------------------------------------------------

/// A reading CPU: reads until the writer stops; the last CPU also plays the fake writer.
fn reader_cpu<F: Flavor>(run: &Run<F>, ctx: &Ctx) {
    let mut rng = Rng::new(0x7A3E_0000 ^ ctx.cpu as u64);
    let mut stats = ReaderStats::default();
    let fake_writer = ctx.cpu == ctx.cpus - 1 && ctx.cpus > 2;
    // Relaxed: the flag hands nothing over.
    while !run.stop.load(Ordering::Relaxed) {
        read_section(run, &mut rng, &mut stats);
        stats.reads += 1;
        // SAFETY: `read_section` dropped its guards, and what it read borrowed from them.
        unsafe { F::quiescent_state() };

        if rng.one_in(256) {
            // SAFETY: as above; nothing is read until `leave_idle`.
            unsafe { F::enter_idle() };
            spin(rng.below(5_000));
            F::leave_idle();
            stats.idles += 1;
        }
        if fake_writer && stats.reads % 16 == 0 {
            fake_write(run, &mut rng);
        }
    }
    stats.add_to(&run.readers);
}

/// One read-side critical section: load, linger, look at the age.
fn read_section<F: Flavor>(run: &Run<F>, rng: &mut Rng, stats: &mut ReaderStats) {
    let guard = F::domain().read_lock();
    let Some(handle) = run.ptr.load(&guard) else {
        stats.empty += 1;
        return;
    };
    let element = handle.element();

    // Sometimes a nested section, as an interrupt handler on the same CPU would open.
    if rng.one_in(8) {
        let inner = F::domain().read_lock();
        if let Some(inner_handle) = run.ptr.load(&inner) {
            reader_delay(rng, stats);
            stats.observe(F::NAME, inner_handle.element());
        }
        drop(inner);
        stats.nested += 1;
    }

    reader_delay(rng, stats);
    stats.observe(F::NAME, element);
    drop(guard);
}

/// Lingers in a section: mostly a short spin, rarely one long enough for ticks to land.
fn reader_delay(rng: &mut Rng, stats: &mut ReaderStats) {
    if rng.one_in(2_000) {
        spin(50_000);
        stats.long_delays += 1;
    } else {
        spin(rng.below(256));
    }
}

/// One request of the fake writer: a grace period or a callback, updating nothing.
fn fake_write<F: Flavor>(run: &Run<F>, rng: &mut Rng) {
    let rcu = F::domain();
    let kind = rng.below(5) as usize;
    match kind {
        0 => rcu.synchronize(),
        1 => {
            let cookie = rcu.get_state();
            spin(rng.below(1_000));
            rcu.cond_synchronize(cookie);
        }
        2 => {
            let cookie = rcu.start_poll();
            let mut attempt = 0;
            while !rcu.poll(cookie) {
                // SAFETY: the fake writer is outside every section here.
                unsafe { F::quiescent_state() };
                Kernel::relax(attempt);
                attempt += 1;
            }
        }
        3 => rcu.barrier(),
        _ => rcu.defer_drop(Box::new([0u64; 4])),
    }
    run.fake[kind].fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------------------

/// The grace-period APIs the writer cycles through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Synchronize,
    CondSynchronize,
    StartPoll,
    TryReclaim,
    RetiredSynchronize,
    DeferDrop,
}

impl Api {
    const ALL: [Api; 6] = [
        Api::Synchronize,
        Api::CondSynchronize,
        Api::StartPoll,
        Api::TryReclaim,
        Api::RetiredSynchronize,
        Api::DeferDrop,
    ];

    fn name(self) -> &'static str {
        match self {
            Api::Synchronize => "synchronize",
            Api::CondSynchronize => "cond_synchronize",
            Api::StartPoll => "start_poll+poll",
            Api::TryReclaim => "try_reclaim",
            Api::RetiredSynchronize => "Retired::synchronize",
            Api::DeferDrop => "defer_drop",
        }
    }
}

/// Every API in each cycle, in a shuffled order, each for a burst of one to three updates.
struct Schedule {
    order: [Api; 6],
    index: usize,
    left_in_burst: u64,
}

impl Schedule {
    fn next(&mut self, rng: &mut Rng) -> Api {
        if self.left_in_burst == 0 {
            self.index += 1;
            if self.index == self.order.len() {
                self.index = 0;
                for i in (1..self.order.len()).rev() {
                    self.order.swap(i, rng.below(i as u64 + 1) as usize);
                }
            }
            self.left_in_burst = 1 + rng.below(3);
        }
        self.left_in_burst -= 1;
        self.order[self.index]
    }
}

/// What the writer hands to the report.
struct WriterResult {
    per_api: [u64; 6],
    polls_not_done: u64,
    barriers: u64,
    chain_retirements: u64,
    removed: RemovedList,
    own_reads: ReaderStats,
}

/// Publishes [`UPDATES`] new elements and retires the old ones through every API.
fn writer<F: Flavor>(run: &Run<F>) -> WriterResult {
    let rcu = F::domain();
    let mut rng = Rng::new(0x5EED_F202_6001);
    let mut schedule = Schedule {
        order: Api::ALL,
        index: Api::ALL.len() - 1,
        left_in_burst: 0,
    };
    let mut result = WriterResult {
        per_api: [0; 6],
        polls_not_done: 0,
        barriers: 0,
        chain_retirements: 0,
        removed: RemovedList::default(),
        own_reads: ReaderStats::default(),
    };

    for serial in 1..=UPDATES {
        let api = schedule.next(&mut rng);
        let retired = publish(run, Some(new_element::<F>(serial)), rng.one_in(4));
        retire(api, retired, &mut result, &mut rng);
        result.per_api[Api::ALL.iter().position(|&a| a == api).unwrap_or(0)] += 1;

        if rng.one_in(8) {
            rcu.process_callbacks();
        }
        if rng.one_in(32) {
            check_barrier::<F>(&mut result);
        }
        // SAFETY: the writer's sections (in `publish`) are closed.
        unsafe { F::quiescent_state() };

        // The writer's CPU reads too.
        read_section(run, &mut rng, &mut result.own_reads);
        result.own_reads.reads += 1;
        // SAFETY: as above.
        unsafe { F::quiescent_state() };
    }
    check_barrier::<F>(&mut result);
    // Relaxed: the flag hands nothing over.
    run.stop.store(true, Ordering::Relaxed);
    result
}

/// Publishes `element` in place of the current one (with `replace`, or `compare_exchange`),
/// which enters the pipeline at age 1.
fn publish<F: Flavor>(
    run: &Run<F>,
    element: Option<Box<Element>>,
    by_compare_exchange: bool,
) -> Retired<'static, Handle<F>, F::Domain> {
    // The guard keeps the current element valid until it has been aged below.
    let guard = F::domain().read_lock();
    let current = run.ptr.load(&guard);
    let new = element.map(Handle::new);
    let retired = if by_compare_exchange {
        match run.ptr.compare_exchange(current, new) {
            Ok(retired) => retired,
            Err(_) => panic!("{}: compare_exchange failed with a single updater", F::NAME),
        }
    } else {
        run.ptr.replace(new)
    };
    if let Some(current) = current {
        let age = age_once(current.element());
        assert_eq!(
            age,
            AGE_RETIRED,
            "{}: an element aged while published",
            F::NAME
        );
    }
    drop(guard);
    retired
}

/// Waits for the grace period `retired` needs through `api` and ages what it covers.
fn retire<F: Flavor>(
    api: Api,
    retired: Retired<'static, Handle<F>, F::Domain>,
    result: &mut WriterResult,
    rng: &mut Rng,
) {
    let rcu = F::domain();
    let handle = match api {
        Api::Synchronize => {
            rcu.synchronize();
            reclaim_after_wait(api, retired)
        }
        Api::CondSynchronize => {
            let cookie = rcu.get_state();
            spin(rng.below(2_000));
            rcu.cond_synchronize(cookie);
            reclaim_after_wait(api, retired)
        }
        Api::StartPoll => {
            let cookie = rcu.start_poll();
            let mut attempt = 0;
            while !rcu.poll(cookie) {
                result.polls_not_done += 1;
                // SAFETY: the writer is outside every read-side section.
                unsafe { F::quiescent_state() };
                Kernel::relax(attempt);
                attempt += 1;
            }
            reclaim_after_wait(api, retired)
        }
        Api::TryReclaim => {
            let mut retired = retired;
            let mut attempt = 0;
            loop {
                match retired.try_reclaim() {
                    Ok(handle) => break handle.expect("the pointer always holds an element"),
                    Err(back) => retired = back,
                }
                result.polls_not_done += 1;
                // SAFETY: the writer is outside every read-side section.
                unsafe { F::quiescent_state() };
                Kernel::relax(attempt);
                attempt += 1;
            }
        }
        Api::RetiredSynchronize => {
            // Dropping the value ages it and passes it to an aging chain (see `Handle`).
            result.chain_retirements += 1;
            retired.synchronize();
            result.removed.age_all::<F>();
            return;
        }
        Api::DeferDrop => {
            result.chain_retirements += 1;
            retired.defer_drop();
            return;
        }
    };

    // A grace period has ended since the retirement: age the elements retired earlier,
    // then this one, which joins them.
    result.removed.age_all::<F>();
    let element = handle.take();
    let age = age_once(&element);
    assert_eq!(
        age,
        AGE_AFTER_FIRST_GP,
        "{}: element #{} aged by someone else before its first grace period",
        F::NAME,
        element.serial
    );
    result.removed.elements.push(element);
}

/// Reclaims a retired value after `api` said its grace period is over; panics if the
/// retirement's own cookie disagrees.
fn reclaim_after_wait<F: Flavor>(
    api: Api,
    retired: Retired<'static, Handle<F>, F::Domain>,
) -> Handle<F> {
    match retired.try_reclaim() {
        Ok(handle) => handle.expect("the pointer always holds an element"),
        Err(_) => panic!(
            "{}: {} returned, but the retirement's grace period has not ended",
            F::NAME,
            api.name()
        ),
    }
}

/// Calls `barrier` and checks that every `defer_drop` queued before it has run.
fn check_barrier<F: Flavor>(result: &mut WriterResult) {
    F::domain().barrier();
    result.barriers += 1;
    let chained = Shared::get(&F::shared().chained);
    assert_eq!(
        chained,
        result.chain_retirements,
        "{}: barrier returned before every earlier defer_drop callback had run",
        F::NAME
    );
}

// ---------------------------------------------------------------------------------------
// The end of a run
// ---------------------------------------------------------------------------------------

/// Retires the last element, runs every element to its end, prints the figures and checks
/// them. Runs on CPU 0 after every other CPU left the run.
fn report<F: Flavor>(run: Run<F>, mut writer: WriterResult) -> bool {
    let rcu = F::domain();
    let name = F::NAME;

    // Drain: the removed list with `synchronize`, the aging chains with `barrier`.
    let last = publish(&run, None, false);
    rcu.synchronize();
    let element = reclaim_after_wait(Api::Synchronize, last).take();
    age_once(&element);
    writer.removed.elements.push(element);
    while !writer.removed.elements.is_empty() {
        rcu.synchronize();
        writer.removed.age_all::<F>();
    }
    let mut barriers = 0;
    while rcu.pending_callbacks() != 0 && barriers <= AGE_LIMIT {
        rcu.barrier();
        barriers += 1;
    }
    let engine_gps = rcu.get_state().as_u64().wrapping_sub(run.gp_seq_before) / 4;
    writer.own_reads.add_to(&run.readers);
    let Run {
        ptr, readers, fake, ..
    } = run;
    drop(ptr);

    let shared = F::shared();
    let get = Shared::get;
    let (allocated, freed) = (get(&shared.allocated), get(&shared.freed));
    let serials_match = get(&shared.allocated_serials) == get(&shared.freed_serials);
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let reads = load(&readers.reads);
    let max_age = readers.max_age.load(Ordering::Relaxed);
    let (too_old, recycled, empty) = (
        load(&readers.too_old),
        load(&readers.recycled),
        load(&readers.empty),
    );
    let writer_gps: u64 = writer.per_api.iter().sum();

    crate::kprintln!(
        "{name}: writer: {UPDATES} updates, {writer_gps} grace periods waited for \
         ({} {} / {} {} / {} {} / {} {} / {} {} / {} {}), {} polls not yet done, {} barriers",
        Api::ALL[0].name(),
        writer.per_api[0],
        Api::ALL[1].name(),
        writer.per_api[1],
        Api::ALL[2].name(),
        writer.per_api[2],
        Api::ALL[3].name(),
        writer.per_api[3],
        Api::ALL[4].name(),
        writer.per_api[4],
        Api::ALL[5].name(),
        writer.per_api[5],
        writer.polls_not_done,
        writer.barriers
    );
    crate::kprintln!(
        "{name}: fake writer: synchronize {} cond_synchronize {} poll {} barrier {} \
         defer_drop {}; grace periods completed (engine): {engine_gps}",
        load(&fake[0]),
        load(&fake[1]),
        load(&fake[2]),
        load(&fake[3]),
        load(&fake[4])
    );
    crate::kprint!(
        "{name}: read sections {reads} (nested {}, long {}, idle periods {}); ages seen",
        load(&readers.nested),
        load(&readers.long_delays),
        load(&readers.idles)
    );
    for (age, count) in readers.histogram.iter().enumerate() {
        let count = load(count);
        if count != 0 {
            crate::kprint!(" [{age}]: {count}");
        }
    }
    crate::kprintln!("; maximum age {max_age} (at most {MAX_LEGAL_AGE} allowed)");
    crate::kprintln!(
        "{name}: elements allocated {allocated}, freed {freed}; callbacks run {}; \
         too old {too_old}, freed while read {recycled}, empty {empty}",
        get(&shared.callbacks)
    );

    let passed = max_age <= MAX_LEGAL_AGE
        && too_old == 0
        && recycled == 0
        && empty == 0
        && allocated == freed
        && serials_match
        && allocated == UPDATES + 1
        && rcu.pending_callbacks() == 0
        && writer_gps == UPDATES
        && reads >= MIN_READS;
    super::verdict_line(name, passed)
}
