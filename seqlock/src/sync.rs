//! The atomics every other module uses: loom's under `cfg(loom)`, `core`'s otherwise.

#[cfg(all(loom, not(target_has_atomic = "64")))]
pub(crate) use loom::sync::atomic::AtomicU32;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU64};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::fence;
#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use core::sync::atomic::AtomicU32;
#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use core::sync::atomic::AtomicU64;

pub(crate) use core::sync::atomic::Ordering;

/// The atomic behind a sequence count: the widest the target has (see `SeqValue`).
#[cfg(target_has_atomic = "64")]
pub(crate) type AtomicSeq = AtomicU64;
/// The atomic behind a sequence count: the widest the target has (see `SeqValue`).
#[cfg(not(target_has_atomic = "64"))]
pub(crate) type AtomicSeq = AtomicU32;

/// What a reader does between two attempts: a CPU hint, or under loom a yield so that the
/// model checker runs the writer.
#[inline(always)]
pub(crate) fn spin_loop() {
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(not(loom))]
    core::hint::spin_loop();
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
}
pub(crate) use const_fn;
