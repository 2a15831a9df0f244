//! Intrusive callbacks: [`RcuHead`] and the queue behind `call_rcu` and `barrier`.
//!
//! `call_rcu` pushes the head onto a lock-free stack (`pending`), so it never waits and never
//! allocates and may be called from any context. The processing hook moves that stack, in
//! arrival order, to the tail of a FIFO (`waiting`) and stamps the batch with a cookie taken
//! *at the move*: everything in the batch was queued before the cookie, so a grace period
//! that ends at the cookie covers it. Cookies therefore never decrease along the FIFO, and the
//! callbacks that may run are always a prefix of it. The prefix is invoked in order with the
//! FIFO's lock held, which is what makes `barrier` exact: a marker queued by `barrier` runs
//! after every callback queued before it, and after they all returned.

use core::ptr::{self, NonNull};

use crate::gp::{Cookie, GpEngine};
use crate::sync::{const_fn, AtomicPtr, AtomicUsize, Ordering, TryLock, UnsafeCell};

/// The function a callback runs once a grace period has elapsed. It receives the head it was
/// queued with; typically it recovers the containing object (`container_of`) and frees it.
pub type RcuCallback = unsafe fn(NonNull<RcuHead>);

/// A callback head to embed in an RCU-protected object, Linux's `struct rcu_head`.
///
/// Queue it with [`Rcu::call_rcu`](crate::Rcu::call_rcu). While queued it belongs to the
/// domain: the object that holds it must stay where it is and must not be queued again.
///
/// # Examples
///
/// ```
/// use core::ptr::NonNull;
/// use rcu_core::RcuHead;
///
/// struct Node {
///     value: u64,
///     rcu: RcuHead,
/// }
///
/// /// Frees a `Node` allocated with `Box::new` once readers are done with it.
/// unsafe fn free_node(head: NonNull<RcuHead>) {
///     let offset = core::mem::offset_of!(Node, rcu);
///     // SAFETY: `head` is the `rcu` field of a `Node` leaked from a `Box`.
///     drop(unsafe { Box::from_raw(head.as_ptr().byte_sub(offset).cast::<Node>()) });
/// }
/// # let node = Node { value: 1, rcu: RcuHead::new() };
/// # let _ = (free_node as unsafe fn(NonNull<RcuHead>), node.value, node.rcu);
/// ```
#[derive(Debug)]
pub struct RcuHead {
    /// Next head in whichever list holds this one.
    next: AtomicPtr<RcuHead>,
    /// Set by `call_rcu`, taken by the invocation.
    func: UnsafeCell<Option<RcuCallback>>,
    /// The cookie of the batch this head was moved to `waiting` with.
    cookie: UnsafeCell<u64>,
}

// SAFETY: the cells are written only by the one owner of the head at each moment: the caller
// of `call_rcu` before the Release push, then the holder of the queue's lock after the Acquire
// swap that took it; the hand-over is ordered by that Release/Acquire pair.
unsafe impl Sync for RcuHead {}
// SAFETY: a head holds no thread-bound data; the function pointer is plain data.
unsafe impl Send for RcuHead {}

impl RcuHead {
    const_fn! {
        /// A head that is not queued.
        pub fn new() -> Self {
            Self {
                next: AtomicPtr::new(ptr::null_mut()),
                func: UnsafeCell::new(None),
                cookie: UnsafeCell::new(0),
            }
        }
    }
}

impl Default for RcuHead {
    fn default() -> Self {
        Self::new()
    }
}

/// The FIFO of callbacks moved out of `pending`, oldest first.
#[derive(Debug)]
struct Fifo {
    head: *mut RcuHead,
    tail: *mut RcuHead,
}

// SAFETY: the raw pointers name heads owned by the queue; the FIFO is only reached through the
// queue's `TryLock`, one thread at a time.
unsafe impl Send for Fifo {}

/// The callback queue of one domain.
#[derive(Debug)]
pub(crate) struct CallbackQueue {
    /// Lock-free stack of newly queued heads, newest first.
    pending: AtomicPtr<RcuHead>,
    /// Heads waiting for their batch's grace period, oldest first.
    waiting: TryLock<Fifo>,
    /// Heads queued whose callback has not yet returned (diagnostics and `barrier`'s fast
    /// exit).
    outstanding: AtomicUsize,
}

impl CallbackQueue {
    const_fn! {
        pub(crate) fn new() -> Self {
            Self {
                pending: AtomicPtr::new(ptr::null_mut()),
                waiting: TryLock::new(Fifo { head: ptr::null_mut(), tail: ptr::null_mut() }),
                outstanding: AtomicUsize::new(0),
            }
        }
    }

    /// Queues `head` to run `func` after a grace period.
    ///
    /// # Safety
    ///
    /// 1. `head` points to a live `RcuHead` that is not queued, and it stays valid and in
    ///    place until `func` has been called with it.
    /// 2. Calling `func(head)` once, from any thread, after a grace period, is sound.
    #[inline]
    pub(crate) unsafe fn push(&self, head: NonNull<RcuHead>, func: RcuCallback) {
        // SAFETY: by obligation 1 the head is live and nobody else owns it until the push below
        // publishes it.
        let h = unsafe { head.as_ref() };
        h.func.with_mut(|f| {
            // SAFETY: we own the head (see above).
            unsafe { *f = Some(func) }
        });
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        let mut first = self.pending.load(Ordering::Relaxed);
        loop {
            h.next.store(first, Ordering::Relaxed);
            // Release pairs with the Acquire swap in `process`: the head's fields, written
            // above, are visible to the processor that takes it.
            match self.pending.compare_exchange_weak(
                first,
                head.as_ptr(),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => first = actual,
            }
        }
    }

    /// Heads queued and not yet completely invoked.
    #[inline]
    pub(crate) fn outstanding(&self) -> usize {
        // Acquire pairs with the Release decrement in `process`.
        self.outstanding.load(Ordering::Acquire)
    }

    /// Moves new callbacks to the FIFO, advances grace periods without waiting, and invokes
    /// every callback whose grace period has completed. Returns how many ran, or `None` if
    /// another CPU is processing.
    pub(crate) fn process(&self, engine: &GpEngine, drive: impl FnOnce()) -> Option<usize> {
        let mut fifo = self.waiting.try_lock()?;
        Some(fifo.with_mut(|fifo| {
            // Take the new heads. Acquire pairs with the Release CAS in `push`.
            let newest = self.pending.swap(ptr::null_mut(), Ordering::Acquire);
            if !newest.is_null() {
                let cookie = engine.snapshot();
                engine.request(cookie);
                // SAFETY: the heads came from `pending`, which only holds heads pushed under
                // `push`'s contract, and the swap made us their only owner.
                unsafe { Self::append_in_arrival_order(fifo, newest, cookie) };
            }
            if fifo.head.is_null() {
                return 0;
            }

            drive();

            // Invoke the ready prefix.
            let mut ran = 0;
            while !fifo.head.is_null() {
                let head = fifo.head;
                // SAFETY: heads in the FIFO are live and owned by the queue (push contract).
                let h = unsafe { &*head };
                // SAFETY: the cookie was written by `append_in_arrival_order` under this lock.
                let cookie = h.cookie.with(|c| unsafe { *c });
                if !engine.done(Cookie(cookie)) {
                    break;
                }
                fifo.head = h.next.load(Ordering::Relaxed);
                if fifo.head.is_null() {
                    fifo.tail = ptr::null_mut();
                }
                // SAFETY: we own the head; `func` was set in `push`.
                let func = h.func.with_mut(|f| unsafe { (*f).take() });
                let func = func.expect("a queued RcuHead always has a callback");
                // SAFETY: the grace period of the head's batch has completed (checked above,
                // with Acquire), the head was detached from the FIFO so nothing touches it
                // again, and `push`'s contract makes this one call sound.
                unsafe { func(NonNull::new_unchecked(head)) };
                // Release pairs with the Acquire load in `outstanding`: whoever sees the count
                // drop also sees what the callback did.
                self.outstanding.fetch_sub(1, Ordering::Release);
                ran += 1;
            }
            ran
        }))
    }

    /// Appends the stack starting at `newest` to the FIFO, oldest first, stamping `cookie`.
    ///
    /// # Safety
    ///
    /// The caller owns every head in the stack and holds the FIFO's lock.
    unsafe fn append_in_arrival_order(fifo: &mut Fifo, newest: *mut RcuHead, cookie: Cookie) {
        // Reverse the stack so that the oldest head comes first.
        let mut reversed: *mut RcuHead = ptr::null_mut();
        let batch_tail = newest;
        let mut cur = newest;
        while !cur.is_null() {
            // SAFETY: owned by the caller.
            let h = unsafe { &*cur };
            let next = h.next.load(Ordering::Relaxed);
            h.next.store(reversed, Ordering::Relaxed);
            // SAFETY: owned by the caller.
            h.cookie.with_mut(|c| unsafe { *c = cookie.0 });
            reversed = cur;
            cur = next;
        }
        if fifo.tail.is_null() {
            fifo.head = reversed;
        } else {
            // SAFETY: the FIFO's tail is a live head owned by the queue.
            unsafe { (*fifo.tail).next.store(reversed, Ordering::Relaxed) };
        }
        fifo.tail = batch_tail;
    }
}
