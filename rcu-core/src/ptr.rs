//! RCU-protected pointers: [`RawRcuPtr`] (no allocator, raw pointers, Linux's `__rcu`
//! pointer) and, with `alloc`, the owning [`RcuPtr`] with its [`Retired`] values.
//!
//! Publication (Linux: `rcu_assign_pointer`) is a Release store (or RMW); subscription
//! (Linux: `rcu_dereference`) an Acquire load that pairs with it, so a reader that sees the pointer
//! sees the object initialised. Rust has no `consume` ordering; Acquire costs nothing extra on
//! x86-64 and one `ldar`/`fence r,rw` on AArch64/RISC-V.

use core::ptr;

use crate::domain::ReadGuard;
use crate::sync::{AtomicPtr, Ordering};
use crate::Rcu;

/// An RCU-protected raw pointer. Holds no ownership: the embedder decides how objects are
/// allocated and freed (typically with [`Rcu::call_rcu`] on an embedded
/// [`RcuHead`](crate::RcuHead)). Needs no allocator.
///
/// Loads are safe and return raw pointers; turning one into a reference is up to the caller
/// ([`load_ref`](Self::load_ref)), whose updaters must free objects only after a grace period
/// of the domain the readers use.
#[derive(Debug)]
pub struct RawRcuPtr<T> {
    ptr: AtomicPtr<T>,
}

impl<T> RawRcuPtr<T> {
    crate::sync::const_fn! {
        /// A null pointer.
        pub fn null() -> Self {
            Self { ptr: AtomicPtr::new(ptr::null_mut()) }
        }
    }

    /// A pointer to `value`. Nothing is published yet, so no ordering is needed.
    pub fn new(value: *mut T) -> Self {
        Self {
            ptr: AtomicPtr::new(value),
        }
    }

    /// Subscribes to the pointer inside a read-side critical section (Linux: `rcu_dereference`).
    #[inline(always)]
    pub fn load<D: Rcu>(&self, _guard: &ReadGuard<'_, D>) -> *mut T {
        // Acquire pairs with the Release in `publish`, `replace` and `compare_exchange`.
        self.ptr.load(Ordering::Acquire)
    }

    /// Subscribes and borrows the target for the guard's lifetime.
    ///
    /// # Safety
    ///
    /// Every object this pointer has pointed to is valid until a grace period of `D`'s domain
    /// has elapsed after it was unpublished.
    #[inline(always)]
    pub unsafe fn load_ref<'g, D: Rcu>(&'g self, guard: &'g ReadGuard<'_, D>) -> Option<&'g T> {
        // SAFETY: by the contract, the object stays valid until the guard's section ends.
        unsafe { self.load(guard).as_ref() }
    }

    /// Reads the pointer on the update side, where the caller's own lock (or ownership)
    /// keeps it stable (Linux: `rcu_dereference_protected`).
    #[inline]
    pub fn load_protected(&self) -> *mut T {
        // Relaxed: updaters are serialised by the caller, whose lock orders them.
        self.ptr.load(Ordering::Relaxed)
    }

    /// Publishes `value` (Linux: `rcu_assign_pointer`): readers that see it see it initialised.
    #[inline]
    pub fn publish(&self, value: *mut T) {
        // Release pairs with the Acquire in `load`.
        self.ptr.store(value, Ordering::Release);
    }

    /// Publishes `value` and returns the previous pointer (Linux: `rcu_replace_pointer`), which
    /// readers may still use until a grace period has elapsed.
    #[inline]
    pub fn replace(&self, value: *mut T) -> *mut T {
        // Release pairs with the Acquire in `load`; Acquire lets the caller use the old object.
        self.ptr.swap(value, Ordering::AcqRel)
    }

    /// Publishes `new` if the pointer is still `current`; returns the previous pointer on
    /// success and the actual one on failure.
    #[inline]
    pub fn compare_exchange(&self, current: *mut T, new: *mut T) -> Result<*mut T, *mut T> {
        // Release pairs with the Acquire in `load`; Acquire on both outcomes lets the caller use
        // what it got back.
        self.ptr
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

#[cfg(any(feature = "alloc", test))]
pub use owned::{RcuPtr, Retired};

#[cfg(any(feature = "alloc", test))]
pub(crate) use owned::defer_drop_box;

#[cfg(any(feature = "alloc", test))]
mod owned {
    use alloc::boxed::Box;
    use core::marker::PhantomData;
    use core::ptr::{self, NonNull};

    use super::*;
    use crate::gp::Cookie;
    use crate::RcuHead;

    /// The heap cell behind an [`RcuPtr`]: the value and the head that frees it after a grace
    /// period, so that retiring it needs no further allocation.
    struct Node<T> {
        value: T,
        head: RcuHead,
    }

    /// An owning RCU pointer to an optional heap value, bound to one domain.
    ///
    /// Readers [`load`](Self::load) under a [`ReadGuard`] of the same domain; updaters
    /// [`replace`](Self::replace) or [`compare_exchange`](Self::compare_exchange) and get the
    /// old value back as a [`Retired`], which frees it only after a grace period.
    ///
    /// # Panics
    ///
    /// `load` panics if the guard belongs to another domain: that domain's grace periods do
    /// not protect this pointer's values.
    pub struct RcuPtr<'d, T, D: Rcu> {
        raw: RawRcuPtr<Node<T>>,
        domain: &'d D,
        _owns: PhantomData<Box<T>>,
    }

    // SAFETY: values are shared with readers on other threads (`T: Sync`) and are dropped by
    // whichever thread frees them after a grace period (`T: Send`).
    unsafe impl<T: Send + Sync, D: Rcu> Send for RcuPtr<'_, T, D> {}
    // SAFETY: as for `Send`; every access to the pointer word is atomic.
    unsafe impl<T: Send + Sync, D: Rcu> Sync for RcuPtr<'_, T, D> {}

    impl<'d, T, D: Rcu> RcuPtr<'d, T, D> {
        /// A pointer in `domain`, holding `value`.
        pub fn new(domain: &'d D, value: Option<T>) -> Self {
            Self {
                raw: RawRcuPtr::new(into_node(value)),
                domain,
                _owns: PhantomData,
            }
        }

        /// The domain whose grace periods protect this pointer's values.
        pub fn domain(&self) -> &'d D {
            self.domain
        }

        /// Subscribes to the current value (Linux: `rcu_dereference`). The reference lives as long
        /// as both the guard and this pointer are borrowed.
        #[inline]
        pub fn load<'g>(&'g self, guard: &'g ReadGuard<'_, D>) -> Option<&'g T> {
            assert!(
                ptr::eq(guard.domain(), self.domain),
                "rcu-core: RcuPtr loaded under a guard of another RCU domain"
            );
            // SAFETY: nodes are unpublished only by `replace`/`compare_exchange`, which hand
            // them to a `Retired` that frees them after a grace period of `self.domain`, the
            // guard's domain (checked above); `drop` frees the last one when no borrow of
            // `self`, and so no reference returned here, remains.
            unsafe { self.raw.load_ref(guard).map(|node| &node.value) }
        }

        /// Publishes `value` and retires the previous one (Linux: `rcu_replace_pointer`).
        pub fn replace(&self, value: Option<T>) -> Retired<'d, T, D> {
            let old = self.raw.replace(into_node(value));
            Retired::new(old, self.domain)
        }

        /// Publishes `new` if the current value is `current` (compared by address, as
        /// returned by [`load`](Self::load) or `None`); retires the previous one. On failure
        /// returns `new` unchanged.
        pub fn compare_exchange(
            &self,
            current: Option<&T>,
            new: Option<T>,
        ) -> Result<Retired<'d, T, D>, Option<T>> {
            // Only the address is needed (it is compared, never dereferenced).
            let current = current.map_or(ptr::null_mut(), |value| {
                let offset = core::mem::offset_of!(Node<T>, value);
                ptr::from_ref(value)
                    .wrapping_byte_sub(offset)
                    .cast::<Node<T>>()
                    .cast_mut()
            });
            let new = into_node(new);
            match self.raw.compare_exchange(current, new) {
                Ok(old) => Ok(Retired::new(old, self.domain)),
                // SAFETY: `new` was never published, so we still own it alone.
                Err(_) => Err(unsafe { from_node(new) }),
            }
        }
    }

    impl<T, D: Rcu> Drop for RcuPtr<'_, T, D> {
        fn drop(&mut self) {
            // Every reference `load` returned borrowed `self`, so none is alive any more.
            // SAFETY: see above; no reader can reach the node.
            drop(unsafe { from_node(self.raw.load_protected()) });
        }
    }

    impl<T: core::fmt::Debug, D: Rcu> core::fmt::Debug for RcuPtr<'_, T, D> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("RcuPtr")
                .field("ptr", &self.raw.load_protected())
                .finish()
        }
    }

    /// A value taken out of an [`RcuPtr`]; readers may still be using it.
    ///
    /// It can be freed only after a grace period: by [`synchronize`](Self::synchronize),
    /// [`defer_drop`](Self::defer_drop), or [`try_reclaim`](Self::try_reclaim) once the
    /// cookie taken at retirement has completed. Dropping it waits for the grace period
    /// (as `synchronize`), so a value is never freed early and never leaked.
    #[must_use = "dropping a Retired waits for a grace period"]
    pub struct Retired<'d, T, D: Rcu> {
        node: *mut Node<T>,
        domain: &'d D,
        cookie: Cookie,
    }

    // SAFETY: the retired value is dropped on whichever thread frees it (`T: Send`); readers
    // may still share it (`T: Sync`).
    unsafe impl<T: Send + Sync, D: Rcu> Send for Retired<'_, T, D> {}

    impl<'d, T, D: Rcu> Retired<'d, T, D> {
        fn new(node: *mut Node<T>, domain: &'d D) -> Self {
            // The cookie is taken after the unpublishing RMW, so its grace period covers
            // every reader that could have seen the node; it is requested at once so that
            // `try_reclaim` sees progress without anyone else asking for a grace period.
            let cookie = if node.is_null() {
                domain.get_state()
            } else {
                domain.start_poll()
            };
            Self {
                node,
                domain,
                cookie,
            }
        }

        /// Whether there is a value at all (the pointer may have held `None`).
        pub fn is_some(&self) -> bool {
            !self.node.is_null()
        }

        /// The cookie whose completion makes the value free to drop.
        pub fn cookie(&self) -> Cookie {
            self.cookie
        }

        /// Waits for a grace period (unless one has already elapsed) and drops the value.
        pub fn synchronize(self) {
            drop(self)
        }

        /// Returns the value if a grace period has elapsed since retirement, or `self` back.
        /// Never waits.
        pub fn try_reclaim(self) -> Result<Option<T>, Self> {
            if !self.domain.poll(self.cookie) {
                return Err(self);
            }
            let this = core::mem::ManuallyDrop::new(self);
            // SAFETY: the grace period has elapsed, so no reader can still see the node, and
            // `ManuallyDrop` keeps `Drop` from freeing it again.
            Ok(unsafe { from_node(this.node) })
        }

        /// Frees the value from a callback after a grace period (Linux: `kfree_rcu`); never
        /// waits and allocates nothing (the node carries its own callback head).
        pub fn defer_drop(self)
        where
            T: Send,
        {
            let this = core::mem::ManuallyDrop::new(self);
            if this.node.is_null() {
                return;
            }
            // SAFETY: `this.node` is a live node we own; its head is not queued (a node is
            // retired once). `drop_node::<T>` frees exactly such a node once, after the grace
            // period; `T: Send` lets that happen on another CPU; it does not call `barrier`.
            unsafe {
                let node = this.node;
                let head = NonNull::new_unchecked(ptr::addr_of_mut!((*node).head));
                this.domain.call_rcu(head, drop_node::<T>);
            }
        }
    }

    impl<T, D: Rcu> Drop for Retired<'_, T, D> {
        fn drop(&mut self) {
            if self.node.is_null() {
                return;
            }
            self.domain.cond_synchronize(self.cookie);
            // SAFETY: a grace period has elapsed since the node was unpublished.
            drop(unsafe { from_node(self.node) });
        }
    }

    impl<T, D: Rcu> core::fmt::Debug for Retired<'_, T, D> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Retired")
                .field("node", &self.node)
                .field("cookie", &self.cookie)
                .finish()
        }
    }

    fn into_node<T>(value: Option<T>) -> *mut Node<T> {
        value.map_or(ptr::null_mut(), |value| {
            Box::into_raw(Box::new(Node {
                value,
                head: RcuHead::new(),
            }))
        })
    }

    /// # Safety
    ///
    /// `node` is null or came from `into_node` and is owned by the caller, unreachable by
    /// readers.
    unsafe fn from_node<T>(node: *mut Node<T>) -> Option<T> {
        // SAFETY: by the contract, a non-null `node` is an unshared `Box` allocation.
        (!node.is_null()).then(|| unsafe { Box::from_raw(node) }.value)
    }

    /// Callback that frees an `RcuPtr` node.
    ///
    /// # Safety
    ///
    /// `head` is the `head` field of a node owned by the callback.
    unsafe fn drop_node<T>(head: NonNull<crate::RcuHead>) {
        let offset = core::mem::offset_of!(Node<T>, head);
        // SAFETY: by the contract, stepping back by the field offset gives the node.
        drop(unsafe { from_node(head.as_ptr().byte_sub(offset).cast::<Node<T>>()) });
    }

    /// A boxed value travelling with the head that frees it.
    struct Deferred<T> {
        head: RcuHead,
        /// Never read: it is dropped with the `Deferred`.
        _value: Box<T>,
    }

    /// Frees `value` after a grace period of `domain` (see [`Rcu::defer_drop`]).
    pub(crate) fn defer_drop_box<D: Rcu, T: Send + 'static>(domain: &D, value: Box<T>) {
        let deferred = Box::into_raw(Box::new(Deferred {
            head: RcuHead::new(),
            _value: value,
        }));
        // SAFETY: the head is fresh and lives in a leaked box until `drop_deferred` frees it
        // once, after the grace period; `T: Send` lets that happen on another CPU; it does not
        // call `barrier`.
        // The head pointer is derived from the box's raw pointer so that it may be stepped back
        // to the whole allocation.
        unsafe {
            let head = NonNull::new_unchecked(ptr::addr_of_mut!((*deferred).head));
            domain.call_rcu(head, drop_deferred::<T>);
        }
    }

    /// # Safety
    ///
    /// `head` is the `head` field of a leaked `Deferred<T>`.
    unsafe fn drop_deferred<T>(head: NonNull<crate::RcuHead>) {
        let offset = core::mem::offset_of!(Deferred<T>, head);
        // SAFETY: by the contract, stepping back gives the leaked box, which we now own.
        drop(unsafe { Box::from_raw(head.as_ptr().byte_sub(offset).cast::<Deferred<T>>()) });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use alloc::string::String;
    use core::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use crate::hosted::Hosted;
    use crate::{Counter, Rcu, RcuPtr};

    type C = Counter<Hosted, { Hosted::MAX_CPUS }>;

    #[derive(Debug)]
    struct Tracked(Arc<AtomicUsize>, u32);
    impl Drop for Tracked {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Publish, load under a guard, replace; the old value is freed only by a reclaim path.
    #[test]
    fn replace_retires_and_each_reclaim_path_frees_once() {
        let rcu = C::new();
        let drops = Arc::new(AtomicUsize::new(0));
        let ptr = RcuPtr::new(&rcu, Some(Tracked(drops.clone(), 1)));
        {
            let guard = rcu.read_lock();
            assert_eq!(ptr.load(&guard).map(|t| t.1), Some(1));
        }

        // synchronize
        ptr.replace(Some(Tracked(drops.clone(), 2))).synchronize();
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        // try_reclaim: refused while a reader that could see the value is inside.
        let guard = rcu.read_lock();
        let retired = ptr.replace(Some(Tracked(drops.clone(), 3)));
        assert!(retired.is_some());
        let retired = retired.try_reclaim().expect_err("reclaimed under a reader");
        drop(guard);
        let mut retired = Some(retired);
        for _ in 0..1_000_000 {
            match retired.take().unwrap().try_reclaim() {
                Ok(value) => {
                    assert_eq!(value.as_ref().map(|t| t.1), Some(2));
                    break;
                }
                Err(r) => retired = Some(r),
            }
        }
        assert!(retired.is_none(), "try_reclaim never succeeded");
        assert_eq!(drops.load(Ordering::SeqCst), 2);

        // defer_drop
        ptr.replace(None).defer_drop();
        rcu.barrier();
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        {
            let guard = rcu.read_lock();
            assert!(ptr.load(&guard).is_none());
        }
        // Retiring `None` is free.
        assert!(!ptr.replace(None).is_some());
        drop(ptr);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    /// compare_exchange succeeds only against the current value and hands back `new` on
    /// failure.
    #[test]
    fn compare_exchange_checks_the_current_value() {
        let rcu = C::new();
        let ptr = RcuPtr::new(&rcu, Some(String::from("a")));
        let guard = rcu.read_lock();
        let seen = ptr.load(&guard);
        let stale: Option<&String> = None;
        let back = ptr
            .compare_exchange(stale, Some(String::from("x")))
            .unwrap_err();
        assert_eq!(back.as_deref(), Some("x"));
        let retired = ptr.compare_exchange(seen, Some(String::from("b"))).unwrap();
        drop(guard);
        retired.synchronize();
        let guard = rcu.read_lock();
        assert_eq!(ptr.load(&guard).map(String::as_str), Some("b"));
    }

    /// The raw pointer's publish, load, replace and compare-exchange see and return the right
    /// pointers.
    #[test]
    fn raw_pointer_operations() {
        let rcu = C::new();
        let (mut a, mut b, mut c) = (1u32, 2u32, 3u32);
        let (pa, pb, pc) = (&raw mut a, &raw mut b, &raw mut c);
        let ptr = crate::RawRcuPtr::<u32>::null();
        assert!(ptr.load_protected().is_null());
        ptr.publish(pa);
        {
            let guard = rcu.read_lock();
            assert_eq!(ptr.load(&guard), pa);
            // SAFETY: the targets are locals that outlive every reader of this test.
            assert_eq!(unsafe { ptr.load_ref(&guard) }, Some(&1));
        }
        assert_eq!(ptr.replace(pb), pa);
        assert_eq!(
            ptr.compare_exchange(pa, pc),
            Err(pb),
            "stale expected value must fail"
        );
        assert_eq!(ptr.compare_exchange(pb, pc), Ok(pb));
        assert_eq!(ptr.load_protected(), pc);
    }

    /// Dropping the pointer frees its current value.
    #[test]
    fn drop_frees_current_value() {
        let rcu = C::new();
        let drops = Arc::new(AtomicUsize::new(0));
        drop(RcuPtr::new(&rcu, Some(Tracked(drops.clone(), 0))));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    }

    #[test]
    #[should_panic(expected = "RcuPtr loaded under a guard of another RCU domain")]
    fn load_under_foreign_guard_panics() {
        let a = C::new();
        let b = C::new();
        let ptr = RcuPtr::new(&a, Some(1u8));
        let guard = b.read_lock();
        let _ = ptr.load(&guard);
    }
}
