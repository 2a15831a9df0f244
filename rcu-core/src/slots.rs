//! Building the per-CPU slot arrays in constant context (and outside it under loom, whose
//! atomics are not `const`).

/// `[T::new(); N]` for a `T` that is not `Copy`.
macro_rules! new_slots {
    ($ty:ty, $n:expr) => {{
        #[cfg(not(loom))]
        let slots = [const { <$ty>::new() }; $n];
        #[cfg(loom)]
        let slots = core::array::from_fn(|_| <$ty>::new());
        slots
    }};
}
pub(crate) use new_slots;
