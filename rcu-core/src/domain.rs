//! The [`Rcu`] trait shared by every flavor, and the [`ReadGuard`] that readers hold.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::callback::{RcuCallback, RcuHead};
use crate::gp::Cookie;
use crate::sync::{AtomicBool, Ordering};

pub(crate) mod sealed {
    use crate::callback::CallbackQueue;
    use crate::gp::{GpEngine, ReaderWait};

    /// The machinery every domain has: grace periods and callbacks.
    #[derive(Debug)]
    pub struct DomainCore {
        pub(crate) engine: GpEngine,
        pub(crate) callbacks: CallbackQueue,
    }

    impl DomainCore {
        crate::sync::const_fn! {
            pub(crate) fn new() -> Self {
                Self { engine: GpEngine::new(), callbacks: CallbackQueue::new() }
            }
        }
    }

    /// What a flavor provides to the shared operations. Not nameable outside the crate, so
    /// [`Rcu`](crate::Rcu) cannot be implemented elsewhere.
    pub trait Flavor {
        /// How this flavor waits for readers.
        type Readers: ReaderWait;

        /// The shared grace-period and callback machinery.
        fn core(&self) -> &DomainCore;

        /// The flavor's reader tracking.
        fn readers(&self) -> &Self::Readers;

        /// Called by updaters each time round their wait loop, outside any read-side
        /// critical section: QSBR reports a quiescent state for the current CPU here (the
        /// updater is not reading, and without it a CPU that waits for a grace period would
        /// wait for itself).
        fn updater_quiesce(&self);

        /// Whether the current CPU is inside a read-side critical section of this domain.
        /// Exact for the counter flavor; QSBR knows it only in debug builds.
        fn in_reader(&self) -> bool;

        /// Whether callbacks may run here and now: not inside a read-side critical section of
        /// this domain. QSBR, which cannot tell in release builds, panics in debug builds
        /// instead of answering `false`, since its contract forbids the call.
        fn may_run_callbacks(&self) -> bool;

        /// The platform's wait strategy.
        fn relax(&self, attempt: u32);
    }
}

use sealed::Flavor;

/// An RCU domain: read-side critical sections, grace periods and callbacks.
///
/// Implemented by [`Qsbr`](crate::Qsbr) and [`Counter`](crate::Counter); code that only
/// reads and updates (RCU pointers, lists, a path walker) is generic over it. The trait is
/// sealed: the grace-period machinery behind the provided methods is internal.
///
/// Linux names are given in brackets.
pub trait Rcu: Flavor + Sync + Sized {
    /// Enters a read-side critical section (Linux: `rcu_read_lock`). Sections nest. Everything read
    /// through the guard stays valid until the guard is dropped, and no longer: references
    /// derived from it borrow from it.
    #[inline]
    fn read_lock(&self) -> ReadGuard<'_, Self> {
        // SAFETY: the guard calls `raw_read_unlock` exactly once, on the same thread (it is
        // `!Send`), when dropped.
        unsafe { self.raw_read_lock() };
        ReadGuard {
            domain: self,
            _not_send: PhantomData,
        }
    }

    /// Enters a read-side critical section without a guard, for callers that cannot hold
    /// one (an FFI boundary, a kernel's entry code).
    ///
    /// # Safety
    ///
    /// 1. The caller calls [`raw_read_unlock`](Self::raw_read_unlock) exactly once for this
    ///    call, on the same CPU (or thread, for the hosted platform).
    /// 2. Pointers read in the section are not used after that unlock.
    unsafe fn raw_read_lock(&self);

    /// Leaves a read-side critical section entered with [`raw_read_lock`](Self::raw_read_lock)
    ///. Debug builds panic when there is no section to leave.
    ///
    /// # Safety
    ///
    /// The current CPU entered a section with `raw_read_lock` that has not been left yet.
    unsafe fn raw_read_unlock(&self);

    /// Waits until every read-side critical section that had begun when this was called has
    /// ended (Linux: `synchronize_rcu`). Concurrent callers share grace periods.
    ///
    /// # Panics
    ///
    /// In debug builds, when called inside a read-side critical section of this domain (a
    /// deadlock for the counter flavor, a use-after-free for QSBR).
    fn synchronize(&self) {
        assert_not_in_reader(self, "synchronize");
        let cookie = self.core().engine.snapshot();
        wait_for(self, cookie);
    }

    /// A cookie that [`poll`](Self::poll) reports done once a full grace period has elapsed
    /// from now (Linux: `get_state_synchronize_rcu`). Does not start a grace period: one must be
    /// started by something else (a [`start_poll`](Self::start_poll), `synchronize`, or
    /// queued callbacks).
    #[inline]
    fn get_state(&self) -> Cookie {
        self.core().engine.snapshot()
    }

    /// Like [`get_state`](Self::get_state), and makes sure the grace period the cookie
    /// needs is started (Linux: `start_poll_synchronize_rcu`). Never waits.
    ///
    /// Without a grace-period thread, grace periods advance whenever anyone calls
    /// [`poll`](Self::poll), [`process_callbacks`](Self::process_callbacks),
    /// [`synchronize`](Self::synchronize), [`cond_synchronize`](Self::cond_synchronize) or
    /// [`barrier`](Self::barrier).
    #[inline]
    fn start_poll(&self) -> Cookie {
        let core = self.core();
        let cookie = core.engine.snapshot();
        core.engine.request(cookie);
        core.engine.drive(self.readers());
        cookie
    }

    /// Whether a full grace period has elapsed since `cookie` was taken
    /// (Linux: `poll_state_synchronize_rcu`). If not, advances any requested grace period as far as
    /// the readers allow, without waiting. Callable from any context.
    #[inline]
    fn poll(&self, cookie: Cookie) -> bool {
        let engine = &self.core().engine;
        if engine.done(cookie) {
            return true;
        }
        engine.drive(self.readers());
        engine.done(cookie)
    }

    /// Waits until a full grace period has elapsed since `cookie` was taken, returning at
    /// once if it already has (Linux: `cond_synchronize_rcu`).
    ///
    /// # Panics
    ///
    /// As [`synchronize`](Self::synchronize), if it has to wait.
    fn cond_synchronize(&self, cookie: Cookie) {
        if !self.core().engine.done(cookie) {
            assert_not_in_reader(self, "cond_synchronize");
            wait_for(self, cookie);
        }
    }

    /// Queues `func(head)` to run after a grace period (Linux: `call_rcu`). Never waits and never
    /// allocates; callable from any context, interrupt handlers included.
    ///
    /// The callback runs from [`process_callbacks`](Self::process_callbacks) or
    /// [`barrier`](Self::barrier), outside any read-side critical section.
    ///
    /// # Safety
    ///
    /// 1. `head` points to an [`RcuHead`] that is not queued; it stays valid and does not
    ///    move until `func` has been called with it.
    /// 2. Calling `func(head)` once, on any CPU, after a grace period, is sound (so whatever
    ///    it frees must be unreachable for readers that start after this call).
    /// 3. `func` does not call [`barrier`](Self::barrier) of this domain.
    #[inline]
    unsafe fn call_rcu(&self, head: NonNull<RcuHead>, func: RcuCallback) {
        // SAFETY: forwarded obligations 1 and 2.
        unsafe { self.core().callbacks.push(head, func) };
    }

    /// Frees `value` after a grace period (Linux: `kfree_rcu`). Costs one small allocation (the
    /// callback head that travels with the box).
    #[cfg(any(feature = "alloc", test))]
    fn defer_drop<T: Send + 'static>(&self, value: alloc::boxed::Box<T>) {
        crate::ptr::defer_drop_box(self, value);
    }

    /// The processing hook: moves newly queued callbacks towards their grace period,
    /// advances grace periods without waiting, and runs every callback whose grace period
    /// has completed. Returns how many ran.
    ///
    /// Call it where a kernel would run RCU's softirq: from the tick, the idle loop or a
    /// worker. Never waits. Runs nothing (and returns 0) when another CPU is processing or
    /// when the current CPU is inside a read-side critical section of this domain (the
    /// counter flavor detects that always, QSBR in debug builds, where it panics instead:
    /// QSBR's contract already forbids it).
    fn process_callbacks(&self) -> usize {
        if !self.may_run_callbacks() {
            return 0;
        }
        let core = self.core();
        core.callbacks
            .process(&core.engine, || core.engine.drive(self.readers()))
            .unwrap_or(0)
    }

    /// Waits until every callback queued before this call has run and returned
    /// (Linux: `rcu_barrier`), driving grace periods and running callbacks itself.
    ///
    /// # Panics
    ///
    /// In debug builds, when called inside a read-side critical section.
    fn barrier(&self) {
        assert_not_in_reader(self, "barrier");
        let core = self.core();
        if core.callbacks.outstanding() == 0 {
            return;
        }

        // Queue a marker behind everything queued so far; the FIFO runs it last.
        let marker = BarrierMarker {
            head: RcuHead::new(),
            done: AtomicBool::new(false),
        };
        // SAFETY: 1. the marker is a fresh head on our stack, and we do not return (so it
        // stays in place) until its callback has run; 2. `mark_done` only sets a flag in the
        // marker; 3. it does not call `barrier`.
        // The head pointer is derived from a pointer to the whole marker, so that `mark_done`
        // may step back to it.
        unsafe {
            let whole: *const BarrierMarker = &marker;
            let head = NonNull::new_unchecked(core::ptr::addr_of!((*whole).head).cast_mut());
            self.call_rcu(head, mark_done);
        }

        let mut attempt = 0;
        // Acquire pairs with the Release store in `mark_done`.
        while !marker.done.load(Ordering::Acquire) {
            self.updater_quiesce();
            self.process_callbacks();
            if marker.done.load(Ordering::Acquire) {
                break;
            }
            self.relax(attempt);
            attempt = attempt.saturating_add(1);
        }
    }

    /// Callbacks queued whose function has not yet returned.
    #[inline]
    fn pending_callbacks(&self) -> usize {
        self.core().callbacks.outstanding()
    }
}

/// Waits until `cookie`'s grace period has completed, driving grace periods meanwhile: the
/// body of `synchronize` and `cond_synchronize`.
fn wait_for<D: Rcu>(rcu: &D, cookie: Cookie) {
    let engine = &rcu.core().engine;
    engine.request(cookie);
    let mut attempt = 0;
    loop {
        rcu.updater_quiesce();
        engine.drive(rcu.readers());
        if engine.done(cookie) {
            return;
        }
        rcu.relax(attempt);
        attempt = attempt.saturating_add(1);
    }
}

/// Panics (debug builds) when the current CPU is inside a read-side critical section of `rcu`,
/// where `what` would deadlock (counter) or free too early (QSBR).
#[inline]
fn assert_not_in_reader<D: Rcu>(rcu: &D, what: &str) {
    if cfg!(debug_assertions) && rcu.in_reader() {
        panic!("rcu-core: {what} called inside an RCU read-side critical section");
    }
}

/// The marker `barrier` queues behind every earlier callback.
struct BarrierMarker {
    head: RcuHead,
    done: AtomicBool,
}

/// The marker's callback.
///
/// # Safety
///
/// `head` is the `head` field of a live `BarrierMarker`.
unsafe fn mark_done(head: NonNull<RcuHead>) {
    let offset = core::mem::offset_of!(BarrierMarker, head);
    // SAFETY: by the contract, stepping back by the field offset gives the marker.
    let marker = unsafe { &*head.as_ptr().byte_sub(offset).cast::<BarrierMarker>() };
    // Release pairs with the Acquire loads in `barrier`. This store is the last access to
    // the marker: `barrier` may return and pop it as soon as it is visible.
    marker.done.store(true, Ordering::Release);
}

/// A read-side critical section of domain `D`; leaves it when dropped (Linux: `rcu_read_unlock`).
///
/// Guards nest, are `!Send` (a section belongs to its CPU), and everything loaded under a
/// guard borrows from it, so no reference outlives the section; the compile-fail tests in
/// `tests/ui/` check both.
#[must_use = "the read-side critical section ends when the guard is dropped"]
pub struct ReadGuard<'a, D: Rcu> {
    domain: &'a D,
    _not_send: PhantomData<*mut ()>,
}

impl<'a, D: Rcu> ReadGuard<'a, D> {
    /// The domain this section belongs to.
    #[inline]
    pub fn domain(&self) -> &'a D {
        self.domain
    }
}

impl<D: Rcu> Drop for ReadGuard<'_, D> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `read_lock` entered exactly this section on this thread (the guard is
        // `!Send`), and this is the only unlock for it.
        unsafe { self.domain.raw_read_unlock() };
    }
}

impl<D: Rcu> core::fmt::Debug for ReadGuard<'_, D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReadGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    //! Operations every flavor shares, run against both. QSBR threads go online before they
    //! read and report quiescent states where the counter flavor needs nothing.

    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::boxed::Box;
    use std::sync::mpsc;
    use std::thread;
    use std::vec::Vec;

    use crate::hosted::Hosted;
    use crate::{Counter, Qsbr, Rcu, RcuHead};

    type C = Counter<Hosted, { Hosted::MAX_CPUS }>;
    type Q = Qsbr<Hosted, { Hosted::MAX_CPUS }>;

    /// What a test needs beyond `Rcu`: building a domain and the per-thread QSBR duties.
    trait Harness: Rcu + 'static {
        fn fresh() -> Self;
        /// Makes the current thread able to read.
        fn enter(&self) {}
        /// Reports that the current thread holds no references (outside readers).
        fn quiesce(&self) {}
        /// Undoes `enter`.
        fn leave(&self) {}
    }

    impl Harness for C {
        fn fresh() -> Self {
            C::new()
        }
    }

    impl Harness for Q {
        fn fresh() -> Self {
            // SAFETY: the tests read only between `enter` and `leave`, and quiesce outside
            // read-side sections.
            unsafe { Q::new() }
        }
        fn enter(&self) {
            self.online();
        }
        fn quiesce(&self) {
            // SAFETY: called only outside read-side sections.
            unsafe { self.quiescent_state() }
        }
        fn leave(&self) {
            // SAFETY: called only outside read-side sections.
            unsafe { self.offline() }
        }
    }

    /// Polls `cookie` until done, with a generous bound so a bug fails instead of hanging.
    fn poll_until_done<D: Harness>(rcu: &D, cookie: crate::Cookie) {
        for _ in 0..1_000_000 {
            rcu.quiesce();
            if rcu.poll(cookie) {
                return;
            }
            thread::yield_now();
        }
        panic!("grace period for {cookie:?} never completed");
    }

    /// A reader on another thread, holding a section open until told to leave.
    struct HeldReader {
        leave: mpsc::Sender<()>,
        handle: thread::JoinHandle<()>,
    }

    fn hold_reader<D: Harness>(rcu: &'static D) -> HeldReader {
        let (entered_tx, entered_rx) = mpsc::channel();
        let (leave_tx, leave_rx) = mpsc::channel::<()>();
        let handle = thread::spawn(move || {
            rcu.enter();
            let guard = rcu.read_lock();
            entered_tx.send(()).unwrap();
            leave_rx.recv().unwrap();
            drop(guard);
            rcu.leave();
        });
        entered_rx.recv().unwrap();
        HeldReader {
            leave: leave_tx,
            handle,
        }
    }

    impl HeldReader {
        fn release(self) {
            self.leave.send(()).unwrap();
            self.handle.join().unwrap();
        }
    }

    /// A heap domain that threads can borrow for `'static`, and the pointer to free it with.
    fn leak<D: Harness>() -> (&'static D, *mut D) {
        let raw = Box::into_raw(Box::new(D::fresh()));
        // SAFETY: the box is leaked until `unleak`, which the tests call last.
        (unsafe { &*raw }, raw)
    }

    /// Frees a domain made by `leak`.
    ///
    /// # Safety
    ///
    /// `raw` came from `leak`, every thread that used the domain has been joined, and nothing
    /// uses it afterwards.
    unsafe fn unleak<D: Harness>(raw: *mut D) {
        // SAFETY: per the contract, the box is ours again.
        drop(unsafe { Box::from_raw(raw) });
    }

    /// A grace period does not end while a reader that began before it is still inside.
    fn grace_period_waits_for_preexisting_reader<D: Harness>() {
        let (rcu, owner) = leak::<D>();
        rcu.enter();
        let reader = hold_reader(rcu);
        let cookie = rcu.start_poll();
        for _ in 0..1000 {
            rcu.quiesce();
            assert!(
                !rcu.poll(cookie),
                "grace period ended while a pre-existing reader was inside"
            );
        }
        reader.release();
        poll_until_done(rcu, cookie);
        rcu.leave();
        // SAFETY: every thread that used the domain has been joined.
        unsafe { unleak(owner) };
    }

    /// Nested sections on one thread: the grace period waits for the outermost unlock.
    fn nesting_holds_until_outermost_unlock<D: Harness>() {
        let (rcu, owner) = leak::<D>();
        let (cookie_tx, cookie_rx) = mpsc::channel();
        let (step_tx, step_rx) = mpsc::channel::<()>();
        let (ack_tx, ack_rx) = mpsc::channel::<()>();
        let reader = thread::spawn(move || {
            rcu.enter();
            let outer = rcu.read_lock();
            let inner = rcu.read_lock();
            cookie_tx.send(()).unwrap();
            step_rx.recv().unwrap();
            drop(outer); // out of order: the inner guard still holds the section
            ack_tx.send(()).unwrap();
            step_rx.recv().unwrap();
            drop(inner);
            rcu.leave();
        });
        cookie_rx.recv().unwrap();
        rcu.enter();
        let cookie = rcu.start_poll();
        assert!(!rcu.poll(cookie));
        step_tx.send(()).unwrap();
        ack_rx.recv().unwrap();
        for _ in 0..1000 {
            rcu.quiesce();
            assert!(
                !rcu.poll(cookie),
                "grace period ended while a nested section was inside"
            );
        }
        step_tx.send(()).unwrap();
        reader.join().unwrap();
        poll_until_done(rcu, cookie);
        rcu.leave();
        // SAFETY: every thread that used the domain has been joined.
        unsafe { unleak(owner) };
    }

    /// `synchronize` returns only after the pre-existing reader left.
    fn synchronize_waits<D: Harness>() {
        let (rcu, owner) = leak::<D>();
        let reader = hold_reader(rcu);
        let left = std::sync::Arc::new(core::sync::atomic::AtomicBool::new(false));
        let updater = {
            let left = left.clone();
            thread::spawn(move || {
                rcu.enter();
                rcu.synchronize();
                let saw = left.load(Ordering::SeqCst);
                rcu.leave();
                saw
            })
        };
        // Give the updater every chance to (wrongly) finish first.
        for _ in 0..1000 {
            thread::yield_now();
        }
        left.store(true, Ordering::SeqCst);
        reader.release();
        assert!(
            updater.join().unwrap(),
            "synchronize returned before the reader left"
        );
        // SAFETY: every thread that used the domain has been joined.
        unsafe { unleak(owner) };
    }

    /// Many grace periods, crossing the sequence's wrap-around (it starts 300 before it):
    /// every cookie is done after `cond_synchronize`, none before its grace period.
    fn cookies_survive_wrap_around<D: Harness>() {
        let rcu = D::fresh();
        rcu.enter();
        let start = rcu.get_state().as_u64();
        let mut old = Vec::new();
        for i in 0..400 {
            let cookie = rcu.get_state();
            assert!(!rcu.poll(cookie), "a fresh cookie cannot be done");
            if i % 2 == 0 {
                rcu.cond_synchronize(cookie);
            } else {
                rcu.synchronize();
            }
            assert!(rcu.poll(cookie));
            old.push(cookie);
        }
        let end = rcu.get_state().as_u64();
        assert!(
            end < start,
            "the sequence must have wrapped ({start:#x} -> {end:#x})"
        );
        for cookie in old {
            assert!(
                rcu.poll(cookie),
                "a cookie from before the wrap must stay done"
            );
        }
        rcu.leave();
    }

    static INVOKED: AtomicUsize = AtomicUsize::new(0);

    struct Object {
        value: usize,
        rcu: RcuHead,
    }

    /// # Safety
    ///
    /// `head` is the `rcu` field of a leaked `Box<Object>`.
    unsafe fn free_object(head: core::ptr::NonNull<RcuHead>) {
        let offset = core::mem::offset_of!(Object, rcu);
        // SAFETY: per the contract.
        let object = unsafe { Box::from_raw(head.as_ptr().byte_sub(offset).cast::<Object>()) };
        INVOKED.fetch_add(object.value, Ordering::SeqCst);
    }

    /// Callbacks run once each, never while a reader that predates them is inside, and
    /// `barrier` waits for all of them.
    fn call_rcu_runs_once_after_readers<D: Harness>(tag: usize) {
        let (rcu, owner) = leak::<D>();
        rcu.enter();
        let reader = hold_reader(rcu);
        let before = INVOKED.load(Ordering::SeqCst);
        for _ in 0..10 {
            let object = Box::into_raw(Box::new(Object {
                value: tag,
                rcu: RcuHead::new(),
            }));
            // SAFETY: the head is fresh, the object leaked until `free_object` frees it once.
            unsafe {
                let head =
                    core::ptr::NonNull::new_unchecked(core::ptr::addr_of_mut!((*object).rcu));
                rcu.call_rcu(head, free_object);
            }
        }
        assert_eq!(rcu.pending_callbacks(), 10);
        for _ in 0..100 {
            rcu.quiesce();
            rcu.process_callbacks();
        }
        assert_eq!(
            rcu.pending_callbacks(),
            10,
            "a callback ran while a prior reader was inside"
        );
        reader.release();
        rcu.barrier();
        assert_eq!(rcu.pending_callbacks(), 0);
        // Other tests use other tags; only our ten count here.
        let ran = INVOKED.load(Ordering::SeqCst) - before;
        assert_eq!(ran % tag, 0);
        rcu.barrier(); // nothing queued: returns at once
        rcu.leave();
        // SAFETY: every thread that used the domain has been joined.
        unsafe { unleak(owner) };
    }

    /// `defer_drop` frees exactly once, after `barrier` at the latest.
    fn defer_drop_frees<D: Harness>() {
        struct Counted(std::sync::Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let rcu = D::fresh();
        rcu.enter();
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        for _ in 0..5 {
            rcu.defer_drop(Box::new(Counted(drops.clone())));
        }
        {
            let _guard = rcu.read_lock();
            assert_eq!(drops.load(Ordering::SeqCst), 0);
        }
        rcu.barrier();
        assert_eq!(drops.load(Ordering::SeqCst), 5);
        rcu.leave();
    }

    /// Callbacks queued from a callback's own processing and from several threads all run.
    fn concurrent_call_rcu_and_barrier<D: Harness>() {
        let (rcu, owner) = leak::<D>();
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        thread::scope(|s| {
            for _ in 0..3 {
                let drops = drops.clone();
                s.spawn(move || {
                    rcu.enter();
                    for i in 0..200 {
                        rcu.defer_drop(Box::new(DropCount(drops.clone())));
                        if i % 16 == 0 {
                            rcu.barrier();
                        } else {
                            rcu.process_callbacks();
                        }
                        rcu.quiesce();
                    }
                    rcu.leave();
                });
            }
        });
        rcu.enter();
        rcu.barrier();
        rcu.leave();
        assert_eq!(drops.load(Ordering::SeqCst), 600);
        // SAFETY: every thread that used the domain has been joined.
        unsafe { unleak(owner) };
    }

    struct DropCount(std::sync::Arc<AtomicUsize>);
    impl Drop for DropCount {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    macro_rules! for_both_flavors {
        ($($name:ident $(($arg:expr))?),* $(,)?) => {
            mod counter {
                $( #[test] fn $name() { super::$name::<super::C>($($arg)?) } )*
            }
            mod qsbr {
                $( #[test] fn $name() { super::$name::<super::Q>($($arg)?) } )*
            }
        };
    }

    for_both_flavors! {
        grace_period_waits_for_preexisting_reader,
        nesting_holds_until_outermost_unlock,
        synchronize_waits,
        cookies_survive_wrap_around,
        call_rcu_runs_once_after_readers(7),
        defer_drop_frees,
        concurrent_call_rcu_and_barrier,
    }

    /// A counter reader on the updater's own thread makes `process_callbacks` run nothing.
    #[test]
    fn counter_process_callbacks_skips_inside_reader() {
        let rcu = C::new();
        rcu.defer_drop(Box::new(5u32));
        let guard = rcu.read_lock();
        assert_eq!(rcu.process_callbacks(), 0);
        drop(guard);
        rcu.barrier();
        assert_eq!(rcu.pending_callbacks(), 0);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "synchronize called inside an RCU read-side critical section")]
    fn counter_synchronize_inside_reader_panics() {
        let rcu = C::new();
        let _guard = rcu.read_lock();
        rcu.synchronize();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "barrier called inside an RCU read-side critical section")]
    fn qsbr_barrier_inside_reader_panics() {
        /// A callback that is never meant to run.
        unsafe fn unreachable(_: core::ptr::NonNull<RcuHead>) {
            unreachable!("queued only to make barrier wait");
        }
        static HEAD: RcuHead = RcuHead::new();
        let rcu = <Q as Harness>::fresh();
        rcu.online();
        // SAFETY: a static head, never queued elsewhere; the callback never runs because the
        // test panics before any grace period.
        unsafe { rcu.call_rcu(core::ptr::NonNull::from(&HEAD), unreachable) };
        let _guard = rcu.read_lock();
        rcu.barrier();
    }

    #[test]
    #[should_panic(expected = "read_unlock without a matching read_lock")]
    fn counter_unbalanced_unlock_panics() {
        let rcu = C::new();
        // SAFETY: deliberately broken to check the panic; nothing is read.
        unsafe { rcu.raw_read_unlock() };
    }
}
