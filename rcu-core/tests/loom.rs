//! loom models of the grace-period guarantees, for both flavors.
//!
//! Run with `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p rcu-core --test loom
//! --release`. Each model has one reader thread and one updater (the main thread); the
//! platform maps loom threads to two CPU slots. Shared payloads live in `loom::cell::
//! UnsafeCell`s, so a free (a mutation) that races with a reader's access is reported by loom
//! as a data race, and a forbidden outcome of relaxed atomics fails an assertion.
//!
//! Models:
//! - `old_reader_misses_post_gp_write`: a reader that saw the value from before a grace
//!   period cannot see a write made after `synchronize`.
//! - `pre_gp_reader_writes_are_visible`: writes made in a reader that began before a grace
//!   period are visible to the updater after `synchronize`.
//! - `publish_subscribe_and_free`: a reader that finds a published object sees it
//!   initialised, and the updater's free after `synchronize` never races with the reader.
//! - `call_rcu_runs_once_after_readers`: a callback frees the old object only after every
//!   reader that could see it has left, and `barrier` sees it ran exactly once.
//! - `polled_cookie_protects_reader`: freeing once `poll(start_poll())` is true is safe.
//! - `grace_period_driven_by_another_cpu`: the same, while a third CPU (a callback
//!   processor) may be the one that starts and ends the grace period. This is the case where
//!   the updater's cookie must be ordered before another CPU's grace-period start.

#![cfg(loom)]

use std::ptr::NonNull;

use loom::cell::{Cell, UnsafeCell};
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::thread;
use rcu_core::{Counter, Platform, Qsbr, RawRcuPtr, Rcu, RcuHead};

loom::thread_local! {
    static CPU: Cell<usize> = Cell::new(0);
}

/// Loom threads as CPUs: the main thread is CPU 0, the reader CPU 1, a helper CPU 2.
struct LoomCpus;

// SAFETY: each loom thread sets a distinct index below MAX_CPUS before using RCU and keeps it;
// there is no preemption to control and no heavy barrier.
unsafe impl Platform for LoomCpus {
    const MAX_CPUS: usize = 3;
    fn cpu_id() -> usize {
        CPU.with(|c| c.get())
    }
    fn preempt_disable() {}
    fn preempt_enable() {}
    fn relax(_attempt: u32) {
        thread::yield_now();
    }
}

/// What the models need from a flavor: a fresh domain and the QSBR duties of a thread.
trait Flavor: Rcu + Send + 'static {
    fn fresh() -> &'static Self;
    fn enter(&self) {}
    fn leave(&self) {}
}

impl Flavor for Counter<LoomCpus, 3> {
    fn fresh() -> &'static Self {
        Box::leak(Box::new(Counter::new()))
    }
}

impl Flavor for Qsbr<LoomCpus, 3> {
    fn fresh() -> &'static Self {
        // SAFETY: readers run between `enter` and `leave`; `leave` is called outside readers.
        Box::leak(Box::new(unsafe { Qsbr::new() }))
    }
    fn enter(&self) {
        self.online();
    }
    fn leave(&self) {
        // SAFETY: called outside any read-side section, with no references kept.
        unsafe { self.offline() }
    }
}

fn on_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn old_reader_misses_post_gp_write<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let x: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let y: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let reader = thread::spawn(move || {
            on_cpu(1);
            rcu.enter();
            let guard = rcu.read_lock();
            let r1 = x.load(Relaxed);
            let r2 = y.load(Relaxed);
            drop(guard);
            rcu.leave();
            (r1, r2)
        });
        x.store(1, Relaxed);
        rcu.synchronize();
        y.store(1, Relaxed);
        let (r1, r2) = reader.join().unwrap();
        assert!(
            !(r1 == 0 && r2 == 1),
            "a pre-grace-period reader saw a post-grace-period write"
        );
    });
}

fn pre_gp_reader_writes_are_visible<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let a: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let b: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        let reader = thread::spawn(move || {
            on_cpu(1);
            rcu.enter();
            let guard = rcu.read_lock();
            a.store(1, Relaxed);
            let saw_b = b.load(Relaxed);
            drop(guard);
            rcu.leave();
            saw_b
        });
        b.store(1, Relaxed);
        rcu.synchronize();
        let saw_a = a.load(Relaxed);
        let saw_b = reader.join().unwrap();
        assert!(
            !(saw_b == 0 && saw_a == 0),
            "a write made in a pre-grace-period reader was not visible after synchronize"
        );
    });
}

/// A published object: a payload loom watches for races, and a callback head.
struct Object {
    payload: UnsafeCell<usize>,
    head: RcuHead,
}

fn new_object(value: usize) -> *mut Object {
    Box::into_raw(Box::new(Object {
        payload: UnsafeCell::new(value),
        head: RcuHead::new(),
    }))
}

/// Frees an object: poisons the payload (a write loom checks against readers), then drops it.
///
/// # Safety
///
/// `object` came from `new_object`, is unreachable for new readers, and a grace period has
/// elapsed since it was unpublished.
unsafe fn free_object(object: *mut Object) {
    // SAFETY: per the contract, nobody else accesses the object any more.
    unsafe {
        (*object).payload.with_mut(|p| *p = usize::MAX);
        drop(Box::from_raw(object));
    }
}

/// Reader body shared by the pointer models: reads the payload of whatever is published.
fn read_published<D: Flavor>(rcu: &'static D, ptr: &'static RawRcuPtr<Object>) -> usize {
    on_cpu(1);
    rcu.enter();
    let guard = rcu.read_lock();
    // SAFETY: objects are freed only after a grace period (checked by the models).
    let value = unsafe { ptr.load_ref(&guard) }.map_or(0, |o| o.payload.with(|p| unsafe { *p }));
    drop(guard);
    rcu.leave();
    value
}

fn publish_subscribe_and_free<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let ptr: &'static RawRcuPtr<Object> = Box::leak(Box::new(RawRcuPtr::new(new_object(1))));
        let reader = thread::spawn(move || read_published(rcu, ptr));
        let old = ptr.replace(new_object(2));
        rcu.synchronize();
        // SAFETY: unpublished, and a grace period has elapsed.
        unsafe { free_object(old) };
        let seen = reader.join().unwrap();
        assert!(
            seen == 1 || seen == 2,
            "reader saw {seen}: uninitialised or freed object"
        );
        // SAFETY: the reader is gone.
        unsafe { free_object(ptr.replace(std::ptr::null_mut())) };
    });
}

loom::lazy_static! {
    static ref INVOKED: AtomicUsize = AtomicUsize::new(0);
}

/// # Safety
///
/// `head` is the head of an `Object` that may be freed (see `free_object`).
unsafe fn free_object_callback(head: NonNull<RcuHead>) {
    let offset = std::mem::offset_of!(Object, head);
    INVOKED.fetch_add(1, Relaxed);
    // SAFETY: per the contract.
    unsafe { free_object(head.as_ptr().byte_sub(offset).cast::<Object>()) };
}

fn call_rcu_runs_once_after_readers<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let ptr: &'static RawRcuPtr<Object> = Box::leak(Box::new(RawRcuPtr::new(new_object(1))));
        let reader = thread::spawn(move || read_published(rcu, ptr));
        let old = ptr.replace(new_object(2));
        // SAFETY: the head is fresh; the object is unpublished and freed once by the callback.
        unsafe {
            let head = NonNull::new_unchecked(std::ptr::addr_of_mut!((*old).head));
            rcu.call_rcu(head, free_object_callback);
        }
        rcu.process_callbacks();
        rcu.barrier();
        assert_eq!(
            INVOKED.load(Relaxed),
            1,
            "the callback must run exactly once by barrier"
        );
        assert_eq!(rcu.pending_callbacks(), 0);
        reader.join().unwrap();
        // SAFETY: the reader is gone.
        unsafe { free_object(ptr.replace(std::ptr::null_mut())) };
    });
}

fn polled_cookie_protects_reader<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let ptr: &'static RawRcuPtr<Object> = Box::leak(Box::new(RawRcuPtr::new(new_object(1))));
        let reader = thread::spawn(move || read_published(rcu, ptr));
        let old = ptr.replace(new_object(2));
        let cookie = rcu.start_poll();
        rcu.enter();
        while !rcu.poll(cookie) {
            // The updater's own QSBR duty while it waits (it holds no references).
            rcu.leave();
            thread::yield_now();
            rcu.enter();
        }
        rcu.leave();
        // SAFETY: unpublished, and the cookie's grace period has completed.
        unsafe { free_object(old) };
        reader.join().unwrap();
        // SAFETY: the reader is gone.
        unsafe { free_object(ptr.replace(std::ptr::null_mut())) };
    });
}

fn grace_period_driven_by_another_cpu<D: Flavor>() {
    model(|| {
        let rcu = D::fresh();
        let ptr: &'static RawRcuPtr<Object> = Box::leak(Box::new(RawRcuPtr::new(new_object(1))));
        let reader = thread::spawn(move || read_published(rcu, ptr));
        let driver = thread::spawn(move || {
            on_cpu(2);
            rcu.enter();
            // Ask for and drive a grace period of its own, which may be the updater's.
            let cookie = rcu.start_poll();
            rcu.leave();
            while !rcu.poll(cookie) {
                thread::yield_now();
            }
        });
        let old = ptr.replace(new_object(2));
        let cookie = rcu.get_state();
        while !rcu.poll(cookie) {
            rcu.start_poll();
            thread::yield_now();
        }
        // SAFETY: unpublished, and the cookie's grace period has completed.
        unsafe { free_object(old) };
        reader.join().unwrap();
        driver.join().unwrap();
        // SAFETY: the reader is gone.
        unsafe { free_object(ptr.replace(std::ptr::null_mut())) };
    });
}

macro_rules! models {
    ($($name:ident),* $(,)?) => {
        mod counter {
            $( #[test] fn $name() { super::$name::<rcu_core::Counter<super::LoomCpus, 3>>() } )*
        }
        mod qsbr {
            $( #[test] fn $name() { super::$name::<rcu_core::Qsbr<super::LoomCpus, 3>>() } )*
        }
    };
}

models! {
    old_reader_misses_post_gp_write,
    pre_gp_reader_writes_are_visible,
    publish_subscribe_and_free,
    call_rcu_runs_once_after_readers,
    polled_cookie_protects_reader,
    grace_period_driven_by_another_cpu,
}
