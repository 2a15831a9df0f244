//! Torture test for rcu-core's grace periods, after Linux's rcutorture
//! (kernel/rcu/rcutorture.c).
//!
//! # The idea
//!
//! A writer keeps replacing the element behind one RCU pointer. Every element carries an
//! *age*, rcutorture's pipeline count: 0 while it is published, 1 as soon as the writer has
//! unpublished it, and one more each time an RCU API reports that a grace period has ended
//! since then. At [`AGE_LIMIT`] the element is freed. Readers load the current element under
//! a read guard, linger in the section for a random while, and then look at its age.
//!
//! A reader loaded the element while it was still published, so no grace period that began
//! after the retirement may end while the reader is still in its section. The reader may
//! therefore see age 0 or 1 (the writer retired the element under its feet), never more:
//! **an age of 2 or more means that a grace period ended too early**. So does an element whose
//! `mbtest` word (set before publication, cleared when the element is freed) reads as
//! cleared. Each run prints the histogram of the ages its readers saw.
//!
//! # Every grace-period API
//!
//! The writer cycles through the APIs in a shuffled order, each for a burst of one to three
//! consecutive updates, so that a broken API also gets to age the same elements several
//! times in a row. The APIs:
//!
//! | API | how the element's first grace period is detected |
//! |---|---|
//! | `synchronize` | returns; the retirement's own cookie must then be done (`try_reclaim` succeeds at once) |
//! | `get_state` + `cond_synchronize` | returns; as above |
//! | `start_poll` + `poll` | `poll` says done (with `Platform::relax` between tries); as above |
//! | `Retired::try_reclaim` | succeeds (polled alone, with `Platform::relax` between tries) |
//! | `Retired::synchronize` | the value is dropped, which ages it |
//! | `Retired::defer_drop` | the `call_rcu` callback drops the value, which ages it |
//!
//! The first four hand the element to the writer's list of retired elements, which every
//! later grace period of those APIs ages by one (rcutorture's synchronous mode). The last
//! two hand it to a chain of `call_rcu` callbacks on an intrusive [`RcuHead`]: each callback
//! ages the element and queues itself again, until the element reaches the limit and the
//! callback frees it (rcutorture's asynchronous mode). The writer also calls `barrier` and
//! checks that every `defer_drop` queued before it has run, and `process_callbacks`; a
//! separate thread calls `process_callbacks` in a loop; and *fake writers* (as rcutorture
//! has) call `synchronize`, `cond_synchronize`, `start_poll`/`poll`, `barrier` and
//! `defer_drop` without updating anything, so that grace periods and callbacks are driven
//! from several threads at once.
//!
//! Elements are boxes, freed for real when they reach the limit, so that a run under
//! AddressSanitizer reports a reader that touches an element freed too early:
//!
//! ```text
//! RUSTFLAGS="-Zsanitizer=address" cargo +nightly test -Zbuild-std \
//!     --target x86_64-unknown-linux-gnu -p tests --test torture
//! ```
//!
//! # Flavors
//!
//! The counter flavor on the hosted platform, the QSBR flavor on the hosted platform (its
//! threads come online, report a quiescent state after every read-side section, sometimes
//! go offline for a while in the middle of their run, and go offline before they exit), and
//! the counter flavor on the `membarrier` platform, whose readers use no fence (skipped when
//! the kernel lacks `membarrier`). Each has its own static domain.
//!
//! # Knobs (environment)
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `RCU_TORTURE_LONG=1` | long mode | short mode |
//! | `RCU_TORTURE_SECS=N` | seconds per flavor (fractions allowed) | 3, or 60 in long mode |
//! | `RCU_TORTURE_READERS=N` | reader threads | 3 |
//! | `RCU_TORTURE_CB_THREAD=0` | no callback-processing thread | one thread |
//! | `RCU_TORTURE_FAKE_WRITERS=N` | threads that only ask for grace periods and queue callbacks | 2 |
//! | `RCU_TORTURE_SEED=N` | seed (decimal or `0x` hex) | from the clock, printed |
//!
//! Run with `-- --nocapture` to see the tables.

use std::fmt::Write as _;
use std::hint;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use rcu_core::hosted::Hosted;
use rcu_core::{Counter, Platform, Qsbr, Rcu, RcuHead, RcuPtr, Retired};
use tests::membarrier::Membarrier;
use tests::rng::Rng;

/// The age at which an element is freed (rcutorture's `RCU_TORTURE_PIPE_LEN`).
const AGE_LIMIT: u32 = 10;

/// The age of an element that has been unpublished but whose grace period has not ended.
const AGE_RETIRED: u32 = 1;

/// The age of an element after the first grace period that followed its retirement.
const AGE_AFTER_FIRST_GP: u32 = 2;

/// The greatest age a reader may see: the element may have been retired while the reader
/// held it, but no grace period may end before the reader leaves.
const MAX_LEGAL_AGE: u32 = AGE_RETIRED;

/// The `mbtest` word of an element that has not been freed.
const MB_LIVE: u32 = 0x4C49_5645;

/// Below this many writer grace periods a run proves nothing, and fails.
const MIN_WRITER_GPS: u64 = 60;

/// Below this many read-side sections (all readers together) a run fails.
const MIN_READS: u64 = 1_000;

/// How long the writer may make no progress before the run is declared stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// [`RunState::writer_api`] while the writer is in `barrier` (the APIs use [`Api::tag`]).
const BARRIER_TAG: u8 = u8::MAX;

/// Counter flavor, hosted platform (readers fence on their outermost lock and unlock).
///
/// Checks that no reader sees an element older than one grace period or already freed,
/// whichever API retired it; that `barrier` waits for earlier `defer_drop`s; that the writer
/// and readers made real progress; and that every element was freed exactly once.
#[test]
fn counter_hosted() {
    torture::<CounterHosted>();
}

/// QSBR flavor, hosted platform, with readers that report quiescent states between their
/// sections and sometimes go offline and online again (extended quiescent states).
///
/// Checks the same as [`counter_hosted`].
#[test]
fn qsbr_hosted() {
    torture::<QsbrHosted>();
}

/// Counter flavor on the `membarrier` platform: readers use only a compiler fence and the
/// grace period pays with `membarrier(2)`. Skipped (with a message, not a failure) when the
/// kernel lacks `MEMBARRIER_CMD_PRIVATE_EXPEDITED`.
///
/// Checks the same as [`counter_hosted`].
#[test]
fn counter_membarrier() {
    if !Membarrier::available() {
        println!(
            "rcutorture {}: SKIPPED: membarrier unavailable",
            CounterMembarrier::NAME
        );
        return;
    }
    torture::<CounterMembarrier>();
}

// ---------------------------------------------------------------------------------------
// Flavors under test
// ---------------------------------------------------------------------------------------

/// A domain under test, and what its threads must do for it.
trait Flavor: 'static {
    /// How tables and messages name it.
    const NAME: &'static str;

    /// The domain type.
    type Domain: Rcu + 'static;

    /// The domain: a static of its own, so that tests running side by side do not share
    /// grace periods or callbacks.
    fn domain() -> &'static Self::Domain;

    /// The counters that callbacks update (a callback gets nothing but its head).
    fn shared() -> &'static Shared;

    /// A thread starts using the domain (QSBR: comes online).
    fn thread_start() {}

    /// Reports a quiescent state (QSBR); nothing for other flavors.
    ///
    /// # Safety
    ///
    /// The calling thread is outside every read-side critical section of the domain and
    /// uses no reference obtained in one.
    unsafe fn quiescent_state() {}

    /// Enters an extended quiescent state (QSBR: goes offline).
    ///
    /// # Safety
    ///
    /// As [`quiescent_state`](Self::quiescent_state); and the thread reads nothing until
    /// [`leave_idle`](Self::leave_idle).
    unsafe fn enter_idle() {}

    /// Leaves the extended quiescent state.
    fn leave_idle() {}

    /// The thread stops using the domain (QSBR: goes offline).
    ///
    /// # Safety
    ///
    /// As [`enter_idle`](Self::enter_idle), for the rest of the thread's life.
    unsafe fn thread_exit() {}

    /// How a thread that polls for a grace period waits between tries.
    fn relax(attempt: u32);
}

/// The counter flavor on [`Hosted`].
struct CounterHosted;

static COUNTER_HOSTED: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();
static COUNTER_HOSTED_SHARED: Shared = Shared::new();

impl Flavor for CounterHosted {
    const NAME: &'static str = "counter (Hosted)";
    type Domain = Counter<Hosted, { Hosted::MAX_CPUS }>;

    fn domain() -> &'static Self::Domain {
        &COUNTER_HOSTED
    }

    fn shared() -> &'static Shared {
        &COUNTER_HOSTED_SHARED
    }

    fn relax(attempt: u32) {
        Hosted::relax(attempt);
    }
}

/// The QSBR flavor on [`Hosted`].
struct QsbrHosted;

// SAFETY: every thread of the QSBR test reaches this domain through `QsbrHosted`'s hooks,
// always inside a `Participant`:
// 1. threads read only between `thread_start` (online) and `thread_exit` (offline), and
//    readers leave an extended quiescent state (`leave_idle`) before their next section;
// 2. quiescent states, `offline`, `synchronize`, `cond_synchronize`, `barrier` and
//    `process_callbacks` are called only between sections, and what a section read is
//    borrowed from its guard, so nothing of it is used afterwards;
// 3. readers report after every section, the writer once per update and in every polling
//    loop, the callback thread once per round, and the `Participant` of every thread takes
//    it offline when it exits, on unwinding too.
static QSBR_HOSTED: Qsbr<Hosted, { Hosted::MAX_CPUS }> = unsafe { Qsbr::new() };
static QSBR_HOSTED_SHARED: Shared = Shared::new();

impl Flavor for QsbrHosted {
    const NAME: &'static str = "qsbr (Hosted)";
    type Domain = Qsbr<Hosted, { Hosted::MAX_CPUS }>;

    fn domain() -> &'static Self::Domain {
        &QSBR_HOSTED
    }

    fn shared() -> &'static Shared {
        &QSBR_HOSTED_SHARED
    }

    fn thread_start() {
        QSBR_HOSTED.online();
    }

    unsafe fn quiescent_state() {
        // SAFETY: forwarded from the caller.
        unsafe { QSBR_HOSTED.quiescent_state() };
    }

    unsafe fn enter_idle() {
        // SAFETY: forwarded from the caller.
        unsafe { QSBR_HOSTED.offline() };
    }

    fn leave_idle() {
        QSBR_HOSTED.online();
    }

    unsafe fn thread_exit() {
        // SAFETY: forwarded from the caller.
        unsafe { QSBR_HOSTED.offline() };
    }

    fn relax(attempt: u32) {
        Hosted::relax(attempt);
    }
}

/// The counter flavor on [`Membarrier`] (fence-free readers).
struct CounterMembarrier;

static COUNTER_MEMBARRIER: Counter<Membarrier, { Hosted::MAX_CPUS }> = Counter::new();
static COUNTER_MEMBARRIER_SHARED: Shared = Shared::new();

impl Flavor for CounterMembarrier {
    const NAME: &'static str = "counter (Membarrier)";
    type Domain = Counter<Membarrier, { Hosted::MAX_CPUS }>;

    fn domain() -> &'static Self::Domain {
        &COUNTER_MEMBARRIER
    }

    fn shared() -> &'static Shared {
        &COUNTER_MEMBARRIER_SHARED
    }

    fn relax(attempt: u32) {
        Membarrier::relax(attempt);
    }
}

/// A thread's membership in a flavor's domain, from `thread_start` until it is dropped
/// (also when the thread unwinds, so that a panicking QSBR thread does not hold every later
/// grace period up).
///
/// Created first thing in a thread, so it is dropped after every guard the thread opens.
struct Participant<F: Flavor> {
    /// `!Send`: membership belongs to the thread.
    _thread: PhantomData<*mut F>,
}

impl<F: Flavor> Participant<F> {
    fn enter() -> Self {
        F::thread_start();
        Self {
            _thread: PhantomData,
        }
    }
}

impl<F: Flavor> Drop for Participant<F> {
    fn drop(&mut self) {
        // SAFETY: the participant was created before, and so outlives, every guard of this
        // thread (see the type's documentation); the thread is leaving.
        unsafe { F::thread_exit() };
    }
}

// ---------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------

/// Runs the torture test for one flavor, prints its table, and panics on any failure.
fn torture<F: Flavor>() {
    let config = Config::from_env::<F>();
    let rcu = F::domain();
    let run = RunState {
        stop: AtomicBool::new(false),
        errors: AtomicU64::new(0),
        writer_updates: AtomicU64::new(0),
        writer_api: AtomicU8::new(0),
    };
    let gp_seq_before = rcu.get_state().as_u64();
    let ptr = RcuPtr::new(rcu, Some(Handle::<F>::new(new_element::<F>(0))));

    // Readers, fake writers, the callback thread and the writer run until the writer stops
    // them.
    let started = Instant::now();
    let (writer, readers, fake_writers, callbacks) = thread::scope(|s| {
        let readers: Vec<_> = (0..config.readers)
            .map(|i| {
                let rng = Rng::new(config.flavor_seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9));
                let (ptr, run) = (&ptr, &run);
                s.spawn(move || reader::<F>(ptr, run, rng))
            })
            .collect();
        let fake_writers: Vec<_> = (0..config.fake_writers)
            .map(|i| {
                let rng =
                    Rng::new(config.flavor_seed ^ (i as u64 + 1).wrapping_mul(0xFA4E_0000_0001));
                let run = &run;
                s.spawn(move || fake_writer::<F>(run, rng))
            })
            .collect();
        let callbacks = config.callback_thread.then(|| {
            let rng = Rng::new(config.flavor_seed ^ 0xCA11_BAC5);
            let run = &run;
            s.spawn(move || callback_processor::<F>(run, rng))
        });
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let writer = s.spawn(|| {
            // Dropped when the writer returns or unwinds, which ends the watch below.
            let _done = done_tx;
            writer::<F>(&ptr, &run, &config, Rng::new(config.flavor_seed))
        });

        watch_writer::<F>(&run, &config, &done_rx);
        let writer = join(writer);
        let readers: Vec<ReaderStats> = readers.into_iter().map(join).collect();
        let fake_writers: Vec<FakeWriterStats> = fake_writers.into_iter().map(join).collect();
        let callbacks = callbacks.map(join).unwrap_or_default();
        (writer, readers, fake_writers, callbacks)
    });
    let elapsed = started.elapsed();

    // No reader is left: retire the last element and run every element to its end.
    let drain = drain::<F>(&ptr, writer.removed);
    drop(ptr);
    let gp_seq_after = rcu.get_state().as_u64();

    let report = Report {
        config: &config,
        elapsed,
        writer: writer.stats,
        readers: ReaderStats::merge(&readers),
        reads_per_reader: readers.iter().map(|r| r.reads).collect(),
        fake_writers: FakeWriterStats::merge(&fake_writers),
        callbacks,
        drain,
        engine_gps: gp_seq_after.wrapping_sub(gp_seq_before) / 4,
        shared: F::shared().snapshot(),
        pending_callbacks: rcu.pending_callbacks(),
    };
    println!("{}", report.table::<F>());
    report.check::<F>();
}

/// What every thread of a run shares (the callbacks use the flavor's [`Shared`] instead).
/// Relaxed throughout: these are flags and statistics that hand no data over.
struct RunState {
    /// Set by the writer when it is done; readers and the callback thread then leave.
    stop: AtomicBool,
    /// Failures seen by readers so far (for the progress line).
    errors: AtomicU64,
    /// Updates the writer has completed (for the progress line and the stall check).
    writer_updates: AtomicU64,
    /// [`Api::tag`] of the API the writer is waiting in.
    writer_api: AtomicU8,
}

/// Until the writer is done: prints a progress line every 10 s in long mode, and aborts the
/// process with a message if the writer makes no progress for [`STALL_TIMEOUT`] (a grace
/// period that never ends would otherwise hang the test without a word).
fn watch_writer<F: Flavor>(run: &RunState, config: &Config, done: &mpsc::Receiver<()>) {
    const TICK: Duration = Duration::from_secs(10);
    let started = Instant::now();
    let mut last_updates = 0;
    let mut stalled_for = Duration::ZERO;
    while let Err(mpsc::RecvTimeoutError::Timeout) = done.recv_timeout(TICK) {
        let updates = run.writer_updates.load(Ordering::Relaxed);
        if config.long {
            println!(
                "rcutorture {}: {:>4} s, {updates} updates, {} errors",
                F::NAME,
                started.elapsed().as_secs(),
                run.errors.load(Ordering::Relaxed),
            );
        }
        stalled_for = if updates == last_updates {
            stalled_for + TICK
        } else {
            Duration::ZERO
        };
        last_updates = updates;
        if stalled_for >= STALL_TIMEOUT {
            let tag = run.writer_api.load(Ordering::Relaxed);
            let step = if tag == BARRIER_TAG {
                "barrier"
            } else {
                Api::from_tag(tag).map_or("(none)", Api::name)
            };
            eprintln!(
                "rcutorture {}: STALL: the writer made no progress for {} s, waiting in {}; \
                 aborting",
                F::NAME,
                stalled_for.as_secs(),
                step,
            );
            std::process::abort();
        }
    }
}

/// Joins a scoped thread, passing its panic on.
fn join<T>(handle: thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// The knobs of a run (see the module documentation).
struct Config {
    duration: Duration,
    readers: usize,
    callback_thread: bool,
    fake_writers: usize,
    /// The seed to pass in `RCU_TORTURE_SEED` to replay the run.
    seed: u64,
    /// `seed` mixed with the flavor's name, so that flavors do not share a stream.
    flavor_seed: u64,
    long: bool,
}

impl Config {
    fn from_env<F: Flavor>() -> Self {
        let long = env("RCU_TORTURE_LONG").is_some_and(|v| v != "0");
        let secs = env("RCU_TORTURE_SECS").map_or(if long { 60.0 } else { 3.0 }, |v| {
            v.parse::<f64>()
                .expect("RCU_TORTURE_SECS must be a number of seconds")
        });
        let readers = env("RCU_TORTURE_READERS").map_or(3, |v| {
            v.parse().expect("RCU_TORTURE_READERS must be a number")
        });
        assert!(readers >= 1, "RCU_TORTURE_READERS must be at least 1");
        let callback_thread = env("RCU_TORTURE_CB_THREAD").as_deref() != Some("0");
        let fake_writers = env("RCU_TORTURE_FAKE_WRITERS").map_or(2, |v| {
            v.parse()
                .expect("RCU_TORTURE_FAKE_WRITERS must be a number")
        });
        let seed = env("RCU_TORTURE_SEED").map_or_else(clock_seed, |v| {
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.expect("RCU_TORTURE_SEED must be a decimal or 0x-hex number")
        });
        let flavor_seed = seed
            ^ F::NAME
                .bytes()
                .fold(0u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        Self {
            duration: Duration::from_secs_f64(secs),
            readers,
            callback_thread,
            fake_writers,
            seed,
            flavor_seed,
            long,
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn clock_seed() -> u64 {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    now.as_nanos() as u64
}

// ---------------------------------------------------------------------------------------
// Elements
// ---------------------------------------------------------------------------------------

/// One version of the protected data (rcutorture's `struct rcu_torture`).
struct Element {
    /// Grace periods known to have ended since the element was retired (`rtort_pipe_count`).
    age: AtomicU32,
    /// [`MB_LIVE`] from before publication until the element is freed (`rtort_mbtest`).
    mbtest: AtomicU32,
    /// `1 + ` the index in [`Api::ALL`] of the API that retired it; 0 while published. Only
    /// for failure messages.
    retired_by: AtomicU8,
    /// Allocation number, for the freed-exactly-once check and for failure messages.
    serial: u64,
    /// The head of the aging callbacks.
    head: RcuHead,
}

/// Allocates an element with age 0, ready to publish.
fn new_element<F: Flavor>(serial: u64) -> Box<Element> {
    let shared = F::shared();
    // Relaxed: statistics, read after every thread was joined.
    shared.allocated.fetch_add(1, Ordering::Relaxed);
    shared
        .allocated_serials
        .fetch_add(serial, Ordering::Relaxed);
    Box::new(Element {
        age: AtomicU32::new(0),
        mbtest: AtomicU32::new(MB_LIVE),
        retired_by: AtomicU8::new(0),
        serial,
        head: RcuHead::new(),
    })
}

/// Frees an element that has reached the end of its life.
fn free_element<F: Flavor>(element: Box<Element>) {
    debug_assert!(element.age.load(Ordering::Relaxed) >= AGE_LIMIT);
    // A reader that can still see the element (which RCU forbids) would notice this store.
    element.mbtest.store(0, Ordering::Relaxed);
    let shared = F::shared();
    // Relaxed: statistics, read after every thread was joined (or after `barrier`).
    shared.freed.fetch_add(1, Ordering::Relaxed);
    shared
        .freed_serials
        .fetch_add(element.serial, Ordering::Relaxed);
    drop(element);
}

/// Ages `element` by one grace period; returns the new age.
fn age_once(element: &Element) -> u32 {
    // Relaxed: the grace period orders this after every reader that could see the element;
    // if it did not, the reader would see the new age, which is what the test looks for.
    element.age.fetch_add(1, Ordering::Relaxed) + 1
}

/// Retired elements that have had their first grace period, owned by the writer
/// (rcutorture's `rcu_torture_removed`): every later grace period of the writer's own waits
/// ages them all.
#[derive(Default)]
struct RemovedList {
    // A box per element, freed on its own when it reaches the limit, so that AddressSanitizer
    // sees each free.
    #[allow(clippy::vec_box)]
    elements: Vec<Box<Element>>,
}

impl RemovedList {
    fn push(&mut self, element: Box<Element>) {
        self.elements.push(element);
    }

    fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }

    /// Ages every element by the grace period that just ended, and frees those that reach
    /// the limit.
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

/// What the RCU pointer holds: the element, until the first grace period after its
/// retirement.
///
/// When rcu-core drops a retired handle (from `Retired::synchronize` or the `defer_drop`
/// callback), a grace period has ended since the retirement: the handle ages its element
/// and passes it on to the chain of aging callbacks. The writer takes the element out
/// instead when it reclaims the handle itself ([`take`](Self::take)).
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

    /// The element, for readers.
    fn element(&self) -> &Element {
        self.element
            .as_deref()
            .expect("a published handle holds its element")
    }

    /// Takes the element out, so that dropping the handle does nothing.
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
        // (Not while unwinding: a second panic would abort before the first is reported.)
        if age != AGE_AFTER_FIRST_GP && !thread::panicking() {
            panic!(
                "{}: element #{} was aged by someone else before rcu-core dropped it",
                F::NAME,
                element.serial
            );
        }
        if element.retired_by.load(Ordering::Relaxed) == Api::DeferDrop.tag() {
            // Relaxed: a statistic, read after `barrier` or after every thread was joined.
            F::shared().callbacks.fetch_add(1, Ordering::Relaxed);
        }
        // Relaxed: read by the writer after `barrier`, which orders every callback it waited
        // for before its return.
        F::shared().chained.fetch_add(1, Ordering::Relaxed);
        queue_aging::<F>(element);
    }
}

/// Hands `element` to a chain of callbacks that ages it once per grace period and frees it
/// at [`AGE_LIMIT`] (rcutorture's asynchronous mode).
fn queue_aging<F: Flavor>(element: Box<Element>) {
    let element = Box::into_raw(element);
    // SAFETY:
    // 1. The head is part of an element we own (it came out of a `Box`) and is queued
    //    nowhere; the element stays leaked, so valid and in place, until `age_callback`
    //    takes the box back.
    // 2. `age_callback` only ages the element and either queues it again or frees it; the
    //    element was retired a grace period ago, so no reader that starts now can reach it.
    // 3. `age_callback` does not call `barrier`.
    // The head pointer is derived from the pointer to the whole element, so that the
    // callback may step back to it.
    unsafe {
        let head = NonNull::new_unchecked(ptr::addr_of_mut!((*element).head));
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
    // Relaxed: a statistic, read after `barrier` or after every thread was joined.
    F::shared().callbacks.fetch_add(1, Ordering::Relaxed);
    let offset = std::mem::offset_of!(Element, head);
    // SAFETY: by the contract, stepping back by the field offset stays inside the element
    // the head was derived from.
    let element = unsafe { head.as_ptr().byte_sub(offset) }.cast::<Element>();
    // SAFETY: the element is live and owned by this chain (contract).
    if age_once(unsafe { &*element }) >= AGE_LIMIT {
        // SAFETY: the element came from `Box::into_raw` in `queue_aging`, and rcu-core no
        // longer holds its head (it detached it before calling us).
        free_element::<F>(unsafe { Box::from_raw(element) });
    } else {
        // SAFETY: as in `queue_aging`: rcu-core detached the head before calling us, so it is
        // queued nowhere, and the element stays leaked until a later step frees it.
        unsafe { F::domain().call_rcu(head, age_callback::<F>) };
    }
}

/// The counters callbacks update, one static per flavor. Relaxed throughout: they are read
/// after `barrier` or after every thread of the run was joined, both of which order them.
struct Shared {
    allocated: AtomicU64,
    freed: AtomicU64,
    /// Sums of the serials allocated and freed: equal sums and counts say that every
    /// element was freed exactly once.
    allocated_serials: AtomicU64,
    freed_serials: AtomicU64,
    /// Handles dropped by rcu-core (their element entered an aging chain).
    chained: AtomicU64,
    /// Callbacks of this test that ran: `defer_drop`s and aging steps.
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

    fn snapshot(&self) -> SharedStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SharedStats {
            allocated: get(&self.allocated),
            freed: get(&self.freed),
            allocated_serials: get(&self.allocated_serials),
            freed_serials: get(&self.freed_serials),
            chained: get(&self.chained),
            callbacks: get(&self.callbacks),
        }
    }
}

/// A copy of [`Shared`] at the end of a run.
struct SharedStats {
    allocated: u64,
    freed: u64,
    allocated_serials: u64,
    freed_serials: u64,
    chained: u64,
    callbacks: u64,
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
            Api::CondSynchronize => "get_state + cond_synchronize",
            Api::StartPoll => "start_poll + poll",
            Api::TryReclaim => "Retired::try_reclaim",
            Api::RetiredSynchronize => "Retired::synchronize",
            Api::DeferDrop => "Retired::defer_drop (call_rcu)",
        }
    }

    fn index(self) -> usize {
        Api::ALL
            .iter()
            .position(|&api| api == self)
            .expect("every API is in ALL")
    }

    /// The value of [`Element::retired_by`] for this API.
    fn tag(self) -> u8 {
        self.index() as u8 + 1
    }

    fn from_tag(tag: u8) -> Option<Api> {
        Api::ALL.get(usize::from(tag).checked_sub(1)?).copied()
    }
}

/// The writer's order of APIs: every API in each cycle, in a shuffled order, each for a
/// burst of one to three consecutive updates.
struct Schedule {
    order: [Api; 6],
    index: usize,
    left_in_burst: u64,
}

impl Schedule {
    fn new() -> Self {
        Self {
            order: Api::ALL,
            index: Api::ALL.len() - 1,
            left_in_burst: 0,
        }
    }

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

/// What the writer counted.
#[derive(Default)]
struct WriterStats {
    /// Updates retired through each API, indexed as [`Api::ALL`].
    per_api: [u64; 6],
    /// Updates that replaced with `compare_exchange` rather than `replace`.
    compare_exchanges: u64,
    /// Calls to `poll` or `try_reclaim` that found the grace period not yet over, per API.
    polls_not_done: [u64; 6],
    barriers: u64,
    process_calls: u64,
    process_ran: u64,
    /// Retirements whose element entered an aging chain.
    chain_retirements: u64,
}

impl WriterStats {
    fn grace_periods(&self) -> u64 {
        self.per_api.iter().sum()
    }
}

/// What the writer hands back: its counts, and the retired elements still aging.
struct WriterResult {
    stats: WriterStats,
    removed: RemovedList,
}

/// Sets the stop flag when dropped, so that readers also stop when the writer panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        // Relaxed: the flag only tells threads to leave; nothing is handed over with it.
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Publishes new elements and retires old ones through every API until the time is up.
fn writer<F: Flavor>(
    ptr: &RcuPtr<'static, Handle<F>, F::Domain>,
    run: &RunState,
    config: &Config,
    mut rng: Rng,
) -> WriterResult {
    let _participant = Participant::<F>::enter();
    let _stop = StopOnDrop(&run.stop);
    let rcu = F::domain();
    let mut stats = WriterStats::default();
    let mut removed = RemovedList::default();
    let mut schedule = Schedule::new();
    let started = Instant::now();
    let mut serial = 1;

    while started.elapsed() < config.duration {
        // Publish a fresh element; the old one is out of new readers' reach.
        let api = schedule.next(&mut rng);
        let by_compare_exchange = rng.one_in(4);
        stats.compare_exchanges += u64::from(by_compare_exchange);
        let retired = publish::<F>(
            ptr,
            Some(new_element::<F>(serial)),
            api,
            by_compare_exchange,
        );
        serial += 1;

        // Wait for its grace period through `api`, then age what the grace period covers.
        run.writer_api.store(api.tag(), Ordering::Relaxed);
        retire::<F>(api, retired, &mut removed, &mut stats, &mut rng);
        stats.per_api[api.index()] += 1;

        // Now and then: run callbacks here too, or wait for all of them.
        if rng.one_in(8) {
            stats.process_calls += 1;
            stats.process_ran += rcu.process_callbacks() as u64;
        }
        if rng.one_in(32) {
            run.writer_api.store(BARRIER_TAG, Ordering::Relaxed);
            check_barrier::<F>(&mut stats);
        }

        // SAFETY: the writer's sections (in `publish`) are closed.
        unsafe { F::quiescent_state() };
        run.writer_updates.fetch_add(1, Ordering::Relaxed);
    }

    run.writer_api.store(BARRIER_TAG, Ordering::Relaxed);
    check_barrier::<F>(&mut stats);
    WriterResult { stats, removed }
}

/// Publishes `element` in place of the current one, which it labels as retired by `api`
/// (for failure messages), with `replace` or `compare_exchange`.
fn publish<F: Flavor>(
    ptr: &RcuPtr<'static, Handle<F>, F::Domain>,
    element: Option<Box<Element>>,
    api: Api,
    by_compare_exchange: bool,
) -> Retired<'static, Handle<F>, F::Domain> {
    // The guard keeps the current element valid until it has been marked below.
    let guard = F::domain().read_lock();
    let current = ptr.load(&guard);
    let new = element.map(Handle::new);
    let retired = if by_compare_exchange {
        match ptr.compare_exchange(current, new) {
            Ok(retired) => retired,
            Err(_) => panic!("{}: compare_exchange failed with a single updater", F::NAME),
        }
    } else {
        ptr.replace(new)
    };

    // Unpublished: the element enters the pipeline at age 1, as in rcutorture's writer.
    if let Some(current) = current {
        let element = current.element();
        // Relaxed: only for failure messages.
        element.retired_by.store(api.tag(), Ordering::Relaxed);
        let age = age_once(element);
        assert_eq!(
            age,
            AGE_RETIRED,
            "{}: element #{} aged while published",
            F::NAME,
            element.serial
        );
    }
    drop(guard);
    retired
}

/// Waits for the grace period `retired` needs through `api` and ages what it covers.
fn retire<F: Flavor>(
    api: Api,
    retired: Retired<'static, Handle<F>, F::Domain>,
    removed: &mut RemovedList,
    stats: &mut WriterStats,
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
            // Sometimes the grace period ends (driven by the callback thread) meanwhile.
            spin(rng.below(2_000));
            rcu.cond_synchronize(cookie);
            reclaim_after_wait(api, retired)
        }
        Api::StartPoll => {
            let cookie = rcu.start_poll();
            let mut attempt = 0;
            while !rcu.poll(cookie) {
                stats.polls_not_done[api.index()] += 1;
                // SAFETY: the writer is outside every read-side section.
                unsafe { F::quiescent_state() };
                F::relax(attempt);
                attempt = attempt.saturating_add(1);
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
                stats.polls_not_done[api.index()] += 1;
                // SAFETY: the writer is outside every read-side section.
                unsafe { F::quiescent_state() };
                F::relax(attempt);
                attempt = attempt.saturating_add(1);
            }
        }
        Api::RetiredSynchronize => {
            // Dropping the value ages it and passes it to an aging chain (see `Handle`).
            stats.chain_retirements += 1;
            retired.synchronize();
            removed.age_all::<F>();
            return;
        }
        Api::DeferDrop => {
            // The callback ages the value and passes it on; the writer waits for nothing.
            stats.chain_retirements += 1;
            retired.defer_drop();
            return;
        }
    };

    // A grace period has ended since the retirement: age the elements retired earlier, then
    // this one, which joins them.
    removed.age_all::<F>();
    let element = handle.take();
    let age = age_once(&element);
    assert_eq!(
        age,
        AGE_AFTER_FIRST_GP,
        "{}: element #{} was aged by someone else before its first grace period",
        F::NAME,
        element.serial
    );
    removed.push(element);
}

/// Reclaims a retired value after `api` said its grace period is over; panics if the
/// retirement's own cookie disagrees.
fn reclaim_after_wait<F: Flavor>(
    api: Api,
    retired: Retired<'static, Handle<F>, F::Domain>,
) -> Handle<F> {
    let cookie = retired.cookie();
    match retired.try_reclaim() {
        Ok(handle) => handle.expect("the pointer always holds an element"),
        Err(_) => panic!(
            "{}: {} returned, but the grace period of the retirement cookie {:#x} has not \
             ended",
            F::NAME,
            api.name(),
            cookie.as_u64()
        ),
    }
}

/// Calls `barrier` and checks that every `defer_drop` queued before it has run.
fn check_barrier<F: Flavor>(stats: &mut WriterStats) {
    F::domain().barrier();
    stats.barriers += 1;
    let chained = F::shared().chained.load(Ordering::Relaxed);
    assert_eq!(
        chained,
        stats.chain_retirements,
        "{}: barrier returned before every earlier defer_drop callback had run",
        F::NAME
    );
}

/// Retires the last element and runs every retired element to its end, once readers are
/// gone: the removed list with `synchronize`, the aging chains with `barrier`.
fn drain<F: Flavor>(
    ptr: &RcuPtr<'static, Handle<F>, F::Domain>,
    mut removed: RemovedList,
) -> DrainStats {
    let _participant = Participant::<F>::enter();
    let rcu = F::domain();
    let mut stats = DrainStats::default();

    let last = publish::<F>(ptr, None, Api::Synchronize, false);
    rcu.synchronize();
    let element = reclaim_after_wait(Api::Synchronize, last).take();
    age_once(&element);
    removed.push(element);

    while !removed.is_empty() {
        rcu.synchronize();
        removed.age_all::<F>();
        stats.synchronizes += 1;
    }

    // Each barrier lets every chain advance by at least one step.
    while rcu.pending_callbacks() != 0 {
        assert!(
            stats.barriers <= u64::from(AGE_LIMIT),
            "{}: callbacks still pending after {} barriers",
            F::NAME,
            stats.barriers
        );
        rcu.barrier();
        stats.barriers += 1;
    }
    stats
}

/// What the final drain did.
#[derive(Default)]
struct DrainStats {
    synchronizes: u64,
    barriers: u64,
}

// ---------------------------------------------------------------------------------------
// Readers and the callback thread
// ---------------------------------------------------------------------------------------

/// What a reader counted.
#[derive(Clone, Default)]
struct ReaderStats {
    reads: u64,
    nested: u64,
    /// Sections in which the reader yielded the CPU.
    preempted: u64,
    /// Extended quiescent states (QSBR: offline and back online).
    idles: u64,
    /// Ages seen; the last bucket holds [`AGE_LIMIT`] and more.
    histogram: [u64; AGE_LIMIT as usize + 1],
    max_age: u32,
    too_old: u64,
    recycled: u64,
    empty: u64,
    first_too_old: Option<Sighting>,
    first_recycled: Option<Sighting>,
}

/// An element a reader should not have seen.
#[derive(Clone, Copy)]
struct Sighting {
    serial: u64,
    age: u32,
    mbtest: u32,
    retired_by: Option<Api>,
}

impl Sighting {
    fn of(element: &Element, age: u32) -> Self {
        Self {
            serial: element.serial,
            age,
            mbtest: element.mbtest.load(Ordering::Relaxed),
            retired_by: Api::from_tag(element.retired_by.load(Ordering::Relaxed)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "element #{} at age {}, mbtest {:#x}, retired by {}",
            self.serial,
            self.age,
            self.mbtest,
            self.retired_by.map_or("(not yet retired)", Api::name)
        )
    }
}

impl ReaderStats {
    fn errors(&self) -> u64 {
        self.too_old + self.recycled + self.empty
    }

    /// Records the age (and liveness) of an element seen in a section.
    fn observe(&mut self, element: &Element, run: &RunState) {
        let age = element.age.load(Ordering::Relaxed);
        let mbtest = element.mbtest.load(Ordering::Relaxed);
        self.histogram[age.min(AGE_LIMIT) as usize] += 1;
        self.max_age = self.max_age.max(age);
        if age > MAX_LEGAL_AGE {
            self.too_old += 1;
            self.first_too_old.get_or_insert(Sighting::of(element, age));
            run.errors.fetch_add(1, Ordering::Relaxed);
        }
        if mbtest != MB_LIVE {
            self.recycled += 1;
            self.first_recycled
                .get_or_insert(Sighting::of(element, age));
            run.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn merge(all: &[ReaderStats]) -> ReaderStats {
        let mut total = ReaderStats::default();
        for r in all {
            total.reads += r.reads;
            total.nested += r.nested;
            total.preempted += r.preempted;
            total.idles += r.idles;
            for (sum, n) in total.histogram.iter_mut().zip(r.histogram) {
                *sum += n;
            }
            total.max_age = total.max_age.max(r.max_age);
            total.too_old += r.too_old;
            total.recycled += r.recycled;
            total.empty += r.empty;
            total.first_too_old = total.first_too_old.or(r.first_too_old);
            total.first_recycled = total.first_recycled.or(r.first_recycled);
        }
        total
    }
}

/// Reads until the writer says stop.
fn reader<F: Flavor>(
    ptr: &RcuPtr<'static, Handle<F>, F::Domain>,
    run: &RunState,
    mut rng: Rng,
) -> ReaderStats {
    let _participant = Participant::<F>::enter();
    let mut stats = ReaderStats::default();

    // Relaxed: the flag hands nothing over.
    while !run.stop.load(Ordering::Relaxed) {
        read_section::<F>(ptr, run, &mut rng, &mut stats);
        stats.reads += 1;

        // SAFETY: `read_section` has dropped its guards, and what it read borrowed from them.
        unsafe { F::quiescent_state() };

        if rng.one_in(256) {
            // An extended quiescent state in the middle of the run.
            // SAFETY: as above; no section is opened until `leave_idle`.
            unsafe { F::enter_idle() };
            spin(rng.below(5_000));
            if rng.one_in(2) {
                thread::yield_now();
            }
            F::leave_idle();
            stats.idles += 1;
        }
    }
    stats
}

/// One read-side critical section: load, check, linger, look at the age.
fn read_section<F: Flavor>(
    ptr: &RcuPtr<'static, Handle<F>, F::Domain>,
    run: &RunState,
    rng: &mut Rng,
    stats: &mut ReaderStats,
) {
    let guard = F::domain().read_lock();
    let Some(handle) = ptr.load(&guard) else {
        stats.empty += 1;
        run.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let element = handle.element();
    if element.mbtest.load(Ordering::Relaxed) != MB_LIVE {
        stats.recycled += 1;
        stats.first_recycled.get_or_insert(Sighting::of(element, 0));
        run.errors.fetch_add(1, Ordering::Relaxed);
    }

    // Sometimes a nested section, as an interrupt handler on the same CPU would open.
    if rng.one_in(8) {
        let inner = F::domain().read_lock();
        if let Some(inner_handle) = ptr.load(&inner) {
            reader_delay(rng, stats);
            stats.observe(inner_handle.element(), run);
        }
        drop(inner);
        stats.nested += 1;
    }

    reader_delay(rng, stats);
    stats.observe(element, run);
    drop(guard);
}

/// Lingers in a section: mostly a short spin, sometimes a yield (the reader may be
/// preempted for a whole time slice), rarely a long spin with yields. Never sleeps.
fn reader_delay(rng: &mut Rng, stats: &mut ReaderStats) {
    if rng.one_in(2_000) {
        for _ in 0..1 + rng.below(4) {
            spin(20_000);
            thread::yield_now();
        }
        stats.preempted += 1;
    } else if rng.one_in(64) {
        thread::yield_now();
        stats.preempted += 1;
    } else {
        spin(rng.below(256));
    }
}

/// What the callback thread counted.
#[derive(Default)]
struct CallbackStats {
    calls: u64,
    ran: u64,
}

/// What the fake writers counted, by API.
#[derive(Clone, Copy, Default)]
struct FakeWriterStats {
    synchronize: u64,
    cond_synchronize: u64,
    poll: u64,
    barrier: u64,
    defer_drop: u64,
    process_calls: u64,
    process_ran: u64,
}

impl FakeWriterStats {
    fn total(&self) -> u64 {
        self.synchronize + self.cond_synchronize + self.poll + self.barrier + self.defer_drop
    }

    fn merge(all: &[FakeWriterStats]) -> FakeWriterStats {
        let mut sum = FakeWriterStats::default();
        for f in all {
            sum.synchronize += f.synchronize;
            sum.cond_synchronize += f.cond_synchronize;
            sum.poll += f.poll;
            sum.barrier += f.barrier;
            sum.defer_drop += f.defer_drop;
            sum.process_calls += f.process_calls;
            sum.process_ran += f.process_ran;
        }
        sum
    }
}

/// Asks for grace periods and queues callbacks without updating anything, so that grace
/// periods, callback processing and `barrier` are driven from several threads at once
/// (rcutorture's fake writers).
fn fake_writer<F: Flavor>(run: &RunState, mut rng: Rng) -> FakeWriterStats {
    let _participant = Participant::<F>::enter();
    let rcu = F::domain();
    let mut stats = FakeWriterStats::default();
    // Relaxed: the flag hands nothing over.
    while !run.stop.load(Ordering::Relaxed) {
        match rng.below(5) {
            0 => {
                rcu.synchronize();
                stats.synchronize += 1;
            }
            1 => {
                let cookie = rcu.get_state();
                spin(rng.below(1_000));
                rcu.cond_synchronize(cookie);
                stats.cond_synchronize += 1;
            }
            2 => {
                let cookie = rcu.start_poll();
                let mut attempt = 0;
                while !rcu.poll(cookie) {
                    // SAFETY: this thread never opens a read-side section.
                    unsafe { F::quiescent_state() };
                    F::relax(attempt);
                    attempt = attempt.saturating_add(1);
                }
                stats.poll += 1;
            }
            3 => {
                rcu.barrier();
                stats.barrier += 1;
            }
            _ => {
                // A flood of callbacks, processed here as well as on the callback thread.
                for _ in 0..1 + rng.below(256) {
                    rcu.defer_drop(Box::new([0u64; 4]));
                    stats.defer_drop += 1;
                    if rng.one_in(2) {
                        stats.process_calls += 1;
                        stats.process_ran += rcu.process_callbacks() as u64;
                    }
                }
            }
        }
        // SAFETY: this thread never opens a read-side section.
        unsafe { F::quiescent_state() };
        spin(rng.below(5_000));
        if rng.one_in(4) {
            thread::yield_now();
        }
    }
    stats
}

/// Calls `process_callbacks` in a loop until the writer says stop (a kernel's softirq).
fn callback_processor<F: Flavor>(run: &RunState, mut rng: Rng) -> CallbackStats {
    let _participant = Participant::<F>::enter();
    let rcu = F::domain();
    let mut stats = CallbackStats::default();
    // Relaxed: the flag hands nothing over.
    while !run.stop.load(Ordering::Relaxed) {
        let ran = rcu.process_callbacks();
        stats.calls += 1;
        stats.ran += ran as u64;
        // SAFETY: this thread never opens a read-side section.
        unsafe { F::quiescent_state() };
        if ran == 0 {
            thread::yield_now();
        } else {
            spin(rng.below(1_000));
        }
    }
    stats
}

fn spin(iterations: u64) {
    for _ in 0..iterations {
        hint::spin_loop();
    }
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// Everything a run measured.
struct Report<'a> {
    config: &'a Config,
    elapsed: Duration,
    writer: WriterStats,
    readers: ReaderStats,
    reads_per_reader: Vec<u64>,
    fake_writers: FakeWriterStats,
    callbacks: CallbackStats,
    drain: DrainStats,
    /// Grace periods the domain's sequence advanced by, whoever started them.
    engine_gps: u64,
    shared: SharedStats,
    pending_callbacks: usize,
}

impl Report<'_> {
    /// The aligned table printed after each run.
    fn table<F: Flavor>(&self) -> String {
        let c = self.config;
        let r = &self.readers;
        let w = &self.writer;
        let mut t = String::new();
        let mut row = |label: &str, value: String, note: String| {
            let line = format!("  {label:<34} {value:>12}  {note}");
            let _ = writeln!(t, "{}", line.trim_end());
        };

        row(
            "readers",
            c.readers.to_string(),
            format!("per reader: {:?}", self.reads_per_reader),
        );
        row(
            "read sections",
            r.reads.to_string(),
            format!(
                "nested {}, preempted {}, extended QS {}",
                r.nested, r.preempted, r.idles
            ),
        );
        row(
            "duration",
            format!("{:.2} s", self.elapsed.as_secs_f64()),
            String::new(),
        );
        row(
            "writer grace periods",
            w.grace_periods().to_string(),
            format!("{} by compare_exchange", w.compare_exchanges),
        );
        for api in Api::ALL {
            let note = match api {
                Api::StartPoll | Api::TryReclaim => {
                    format!(
                        "{} polls found it not yet done",
                        w.polls_not_done[api.index()]
                    )
                }
                _ => String::new(),
            };
            row(
                &format!("  {}", api.name()),
                w.per_api[api.index()].to_string(),
                note,
            );
        }
        let f = &self.fake_writers;
        row(
            "fake writer operations",
            f.total().to_string(),
            format!(
                "{} fake writers: synchronize {}, cond_synchronize {}, poll {}, barrier {}, \
                 defer_drop {}",
                c.fake_writers, f.synchronize, f.cond_synchronize, f.poll, f.barrier, f.defer_drop
            ),
        );
        row(
            "barrier",
            w.barriers.to_string(),
            format!("+ {} in the final drain", self.drain.barriers),
        );
        row(
            "process_callbacks (writer)",
            w.process_calls.to_string(),
            format!("ran {} callbacks", w.process_ran),
        );
        row(
            "process_callbacks (fake writers)",
            f.process_calls.to_string(),
            format!("ran {} callbacks", f.process_ran),
        );
        row(
            "process_callbacks (thread)",
            self.callbacks.calls.to_string(),
            format!("ran {} callbacks", self.callbacks.ran),
        );
        row(
            "callbacks invoked",
            self.shared.callbacks.to_string(),
            "defer_drop and aging steps".into(),
        );
        row(
            "grace periods (engine)",
            self.engine_gps.to_string(),
            "whoever started them".into(),
        );
        row(
            "elements allocated / freed",
            format!("{} / {}", self.shared.allocated, self.shared.freed),
            String::new(),
        );
        let histogram: Vec<String> = r
            .histogram
            .iter()
            .enumerate()
            .map(|(age, n)| {
                if age == AGE_LIMIT as usize {
                    format!("{age}+:{n}")
                } else {
                    format!("{age}:{n}")
                }
            })
            .collect();
        row("ages seen", String::new(), histogram.join(" "));
        row(
            "max age seen",
            r.max_age.to_string(),
            format!("legal: 0..={MAX_LEGAL_AGE}"),
        );
        row(
            "errors",
            r.errors().to_string(),
            format!(
                "too old {}, recycled {}, empty {}",
                r.too_old, r.recycled, r.empty
            ),
        );

        format!(
            "rcutorture {}: seed {:#x} (rerun with RCU_TORTURE_SEED), {} mode, callback thread {}\n{t}",
            F::NAME,
            c.seed,
            if c.long { "long" } else { "short" },
            if c.callback_thread { "on" } else { "off" },
        )
    }

    /// Panics with a message that names the flavor if anything went wrong.
    fn check<F: Flavor>(&self) {
        let name = F::NAME;
        let r = &self.readers;
        let histogram = format!("{:?}", r.histogram);

        assert!(
            r.too_old == 0,
            "{name}: {} read sections saw an element older than one grace period (max age {}, \
             ages seen {histogram}); first: {}",
            r.too_old,
            r.max_age,
            r.first_too_old.map_or_else(String::new, |s| s.describe()),
        );
        assert!(
            r.recycled == 0,
            "{name}: {} read sections saw an element whose mbtest was cleared (ages seen \
             {histogram}); first: {}",
            r.recycled,
            r.first_recycled.map_or_else(String::new, |s| s.describe()),
        );
        assert!(
            r.empty == 0,
            "{name}: {} read sections found the pointer empty",
            r.empty
        );

        // Not vacuous.
        let gps = self.writer.grace_periods();
        assert!(
            gps >= MIN_WRITER_GPS,
            "{name}: the writer did only {gps} grace periods"
        );
        for api in Api::ALL {
            assert!(
                self.writer.per_api[api.index()] > 0,
                "{name}: {} never used",
                api.name()
            );
        }
        assert!(
            r.reads >= MIN_READS,
            "{name}: readers did only {} read sections",
            r.reads
        );
        assert!(
            self.reads_per_reader.iter().all(|&n| n > 0),
            "{name}: a reader never read: {:?}",
            self.reads_per_reader
        );

        // Every element freed exactly once, nothing left queued.
        let s = &self.shared;
        assert_eq!(
            self.pending_callbacks, 0,
            "{name}: callbacks still pending after the drain"
        );
        assert_eq!(
            s.chained, self.writer.chain_retirements,
            "{name}: {} elements retired into aging chains, {} reached them",
            self.writer.chain_retirements, s.chained
        );
        assert_eq!(
            (s.allocated, s.allocated_serials),
            (s.freed, s.freed_serials),
            "{name}: elements allocated (count, sum of serials) differ from those freed"
        );
    }
}
