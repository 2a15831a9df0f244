//! The atomics, cells and the try-lock every other module uses.
//!
//! Under `cfg(loom)` the atomics and cells come from loom so that the model checker sees every
//! access; otherwise they are `core`'s. Nothing outside this module names `core::sync::atomic`
//! directly, so a model run covers the same code a kernel runs.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, AtomicUsize};

#[cfg(all(debug_assertions, loom))]
pub(crate) use loom::sync::atomic::AtomicU32;

#[cfg(all(debug_assertions, not(loom)))]
pub(crate) use core::sync::atomic::AtomicU32;

pub(crate) use core::sync::atomic::{compiler_fence, Ordering};

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` behind loom's closure interface, so that loom can check the
/// accesses under `cfg(loom)` and the same code compiles to plain pointer use otherwise.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Declares a constructor that is a `const fn` in normal builds and a plain `fn` under loom,
/// whose atomics cannot be built in a constant context.
macro_rules! const_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
    ($(#[$meta:meta])* $vis:vis unsafe fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const unsafe fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis unsafe fn $($rest)*
    };
}
pub(crate) use const_fn;

/// A lock that is only ever tried, never waited for.
///
/// Grace-period drivers and callback processors use it: whoever holds it does the work for
/// everybody, and whoever fails to take it has nothing to wait for (the holder will see its
/// request, or it retries from its own wait loop). It therefore never spins and is safe to
/// try from any context, interrupt handlers included.
#[derive(Debug)]
pub(crate) struct TryLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through a `TryLockGuard`, and at most one guard exists at a
// time (the `locked` flag), so sharing the lock shares `T` with one thread at a time: `T: Send`
// is all that is needed, exactly as for `std::sync::Mutex`.
unsafe impl<T: Send> Sync for TryLock<T> {}

impl<T> TryLock<T> {
    const_fn! {
        pub(crate) fn new(value: T) -> Self {
            Self { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<TryLockGuard<'_, T>> {
        // Acquire pairs with the Release store in `TryLockGuard::drop`: the previous holder's
        // writes to the value are visible to us.
        self.locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            // `then`, not `then_some`: a guard built for a failed attempt would release the
            // holder's lock when dropped.
            .then(|| TryLockGuard { lock: self })
    }
}

/// Proof that the [`TryLock`] is held; releases it when dropped.
///
/// # Invariants
///
/// Exists only while `lock.locked` is true because of this guard's own successful exchange.
pub(crate) struct TryLockGuard<'a, T> {
    lock: &'a TryLock<T>,
}

impl<T> TryLockGuard<'_, T> {
    /// Runs `f` with exclusive access to the protected value.
    #[inline]
    pub(crate) fn with_mut<R>(&mut self, f: impl FnOnce(&mut T) -> R) -> R {
        self.lock.value.with_mut(|value| {
            // SAFETY: this guard is the only one (the `locked` flag was false when it was made
            // and stays true until it drops), and `&mut self` keeps the reference from being
            // duplicated through the guard.
            f(unsafe { &mut *value })
        })
    }
}

impl<T> Drop for TryLockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // Release pairs with the Acquire exchange in `try_lock`.
        self.lock.locked.store(false, Ordering::Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A failed attempt must leave the holder's lock held (a guard built eagerly for the
    /// failed attempt would release it on drop).
    #[test]
    fn failed_try_lock_keeps_the_lock_held() {
        let lock = TryLock::new(0u32);
        let held = lock.try_lock().expect("the lock starts free");
        assert!(lock.try_lock().is_none());
        assert!(
            lock.try_lock().is_none(),
            "a failed try_lock released the holder's lock"
        );
        drop(held);
        assert!(lock.try_lock().is_some());
    }
}
