//! [`Plain`]: the payload contract, and [`AtomicPayload`], which stores a `Plain` value as
//! atomic words.
//!
//! # Why the payload lives in atomic words
//!
//! An optimistic reader copies the data while a writer may be changing it, and throws the
//! copy away afterwards if the sequence count moved. Under the Rust (C++20) memory model a
//! non-atomic read that races with a write is undefined behaviour *whether or not the
//! result is used*, and `read_volatile` is a non-atomic read: it keeps the compiler from
//! removing or merging the access, but it does not make the race defined (the
//! `core::ptr::read_volatile` documentation says so; H.-J. Boehm, "Can Seqlocks Get Along
//! With Programming Language Memory Models?", MSPC 2012, works through the problem; RFC 3301
//! proposes atomic memcpy for exactly this). So both sides access the payload as relaxed
//! atomic words. On x86-64, AArch64 and RISC-V a relaxed atomic load or store of an aligned
//! word is the same instruction as a plain one, so the sound reader costs what the unsound
//! one did; the compiler only loses the freedom to merge or vectorise the copy.
//!
//! # The copy
//!
//! The value is stored in a buffer aligned to 8 bytes and copied with the widest atomic the
//! target has (64-bit where `target_has_atomic = "64"`, otherwise 32-bit), then one narrower
//! access for each remaining part (4, 2, 1 bytes), so every access is naturally aligned and
//! covers only the value's own bytes. Readers and writers use exactly the same accesses, so
//! they never mix sizes on one location.

/// Plain data: a type whose every byte is initialised and carries no pointer provenance, so
/// that it can be copied through integer atomics.
///
/// Implemented for the integer types, `bool`, `char`, and arrays of `Plain` types. Implement
/// it for your own `#[repr(C)]` structs with [`impl_plain!`](crate::impl_plain), which checks
/// at compile time that the fields are `Plain` and that there is no padding.
///
/// A value is only ever assumed initialised after the sequence check proved the copy was
/// not torn, so a `Plain` type need not accept every bit pattern (`bool` does not): every
/// accepted copy is a value some writer stored.
///
/// # Safety
///
/// Implementors guarantee:
///
/// 1. No padding and no uninitialised bytes: every byte of every value is initialised.
/// 2. No pointers, references or other values whose provenance matters (they would lose it
///    through the integer copy).
/// 3. No interior mutability and no drop glue (`Copy` already rules out the latter).
pub unsafe trait Plain: Copy + 'static {}

macro_rules! plain {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: a primitive without padding, pointers or interior mutability.
            unsafe impl Plain for $t {}
        )*
    };
}

plain!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, bool, char);

// SAFETY: an array has no padding between elements (its size is `N * size_of::<T>()`), and
// each element is `Plain`.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

/// Implements [`Plain`] for a `#[repr(C)]` struct after checking at compile time that every
/// field is `Plain` and that the fields fill the struct with no padding.
///
/// ```
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Position {
///     x: i32,
///     y: i32,
///     tick: u64,
/// }
/// seqlock::impl_plain!(Position { x: i32, y: i32, tick: u64 });
/// ```
///
/// A struct with padding is rejected:
///
/// ```compile_fail
/// #[derive(Clone, Copy)]
/// #[repr(C)]
/// struct Padded {
///     small: u8,
///     big: u64,
/// }
/// seqlock::impl_plain!(Padded { small: u8, big: u64 });
/// ```
#[macro_export]
macro_rules! impl_plain {
    ($ty:ty { $($field:ident : $fty:ty),+ $(,)? }) => {
        const _: () = {
            fn _fields_are_plain(value: &$ty) {
                fn check<T: $crate::Plain>(_: &T) {}
                $( check::<$fty>(&value.$field); )+
            }
            $crate::__static_assertions::const_assert_eq!(
                ::core::mem::size_of::<$ty>(),
                0 $( + ::core::mem::size_of::<$fty>() )+
            );
        };
        // SAFETY: the checks above prove that every field is `Plain` and that the fields'
        // sizes add up to the struct's, so there is no padding; the caller lists every field.
        unsafe impl $crate::Plain for $ty {}
    };
}

#[cfg(not(loom))]
pub(crate) use words::AtomicPayload;

#[cfg(not(loom))]
mod words {
    use core::cell::UnsafeCell;
    use core::mem::{size_of, MaybeUninit};
    use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU8, Ordering};

    use super::Plain;

    #[cfg(target_has_atomic = "64")]
    use core::sync::atomic::AtomicU64 as Wide;
    #[cfg(target_has_atomic = "64")]
    type WideInt = u64;
    #[cfg(not(target_has_atomic = "64"))]
    use core::sync::atomic::AtomicU32 as Wide;
    #[cfg(not(target_has_atomic = "64"))]
    type WideInt = u32;
    /// Bytes in the widest atomic word.
    const WIDE: usize = size_of::<WideInt>();

    /// A `Plain` value in memory that is only ever accessed with atomic operations (after
    /// construction), in the pattern described in the module documentation.
    #[repr(C, align(8))]
    pub(crate) struct AtomicPayload<T> {
        value: UnsafeCell<MaybeUninit<T>>,
    }

    // SAFETY: all shared access goes through atomic operations; `T: Plain` has no interior
    // mutability or thread-bound state.
    unsafe impl<T: Plain + Send> Sync for AtomicPayload<T> {}

    impl<T: Plain> AtomicPayload<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self {
                value: UnsafeCell::new(MaybeUninit::new(value)),
            }
        }

        /// Copies the value out with relaxed atomic loads. The copy may be torn if a writer
        /// is active; it is initialised memory either way (every byte was loaded).
        #[inline(always)]
        pub(crate) fn load(&self) -> MaybeUninit<T> {
            let mut out = MaybeUninit::<T>::uninit();
            let src = self.value.get().cast::<u8>();
            let dst = out.as_mut_ptr().cast::<u8>();
            // SAFETY: `for_each_part` yields in-bounds, naturally aligned parts of the value
            // (the buffer is 8-aligned); every access to them after construction is atomic.
            unsafe {
                for_each_part::<T>(|offset, width| match width {
                    w if w == WIDE => {
                        let v = Wide::from_ptr(src.add(offset).cast()).load(Ordering::Relaxed);
                        dst.add(offset).cast::<WideInt>().write_unaligned(v);
                    }
                    4 => {
                        let v = AtomicU32::from_ptr(src.add(offset).cast()).load(Ordering::Relaxed);
                        dst.add(offset).cast::<u32>().write_unaligned(v);
                    }
                    2 => {
                        let v = AtomicU16::from_ptr(src.add(offset).cast()).load(Ordering::Relaxed);
                        dst.add(offset).cast::<u16>().write_unaligned(v);
                    }
                    _ => {
                        let v = AtomicU8::from_ptr(src.add(offset)).load(Ordering::Relaxed);
                        dst.add(offset).write(v);
                    }
                });
            }
            out
        }

        /// Stores `value` with relaxed atomic stores.
        #[inline(always)]
        pub(crate) fn store(&self, value: &T) {
            let src = core::ptr::from_ref(value).cast::<u8>();
            let dst = self.value.get().cast::<u8>();
            // SAFETY: as in `load`; `value` is a valid `T`, so all its bytes are initialised
            // (`Plain` has no padding) and may be read as integers.
            unsafe {
                for_each_part::<T>(|offset, width| match width {
                    w if w == WIDE => {
                        let v = src.add(offset).cast::<WideInt>().read_unaligned();
                        Wide::from_ptr(dst.add(offset).cast()).store(v, Ordering::Relaxed);
                    }
                    4 => {
                        let v = src.add(offset).cast::<u32>().read_unaligned();
                        AtomicU32::from_ptr(dst.add(offset).cast()).store(v, Ordering::Relaxed);
                    }
                    2 => {
                        let v = src.add(offset).cast::<u16>().read_unaligned();
                        AtomicU16::from_ptr(dst.add(offset).cast()).store(v, Ordering::Relaxed);
                    }
                    _ => {
                        let v = src.add(offset).read();
                        AtomicU8::from_ptr(dst.add(offset)).store(v, Ordering::Relaxed);
                    }
                });
            }
        }

        /// The value, through exclusive access.
        pub(crate) fn get_mut(&mut self) -> &mut T {
            // SAFETY: the value is initialised from construction on, and `&mut self` excludes
            // every other access.
            unsafe { self.value.get_mut().assume_init_mut() }
        }
    }

    /// Calls `f(offset, width)` for the parts a `T` is copied in: the widest atomic word
    /// while it fits, then 4, 2 and 1 bytes.
    ///
    /// # Safety
    ///
    /// None for the caller; `f` receives offsets that are multiples of their width and lie
    /// within `size_of::<T>()`.
    #[inline(always)]
    unsafe fn for_each_part<T>(mut f: impl FnMut(usize, usize)) {
        let size = size_of::<T>();
        let mut offset = 0;
        while offset + WIDE <= size {
            f(offset, WIDE);
            offset += WIDE;
        }
        for width in [4, 2, 1] {
            if width < WIDE && offset + width <= size {
                f(offset, width);
                offset += width;
            }
        }
        debug_assert_eq!(offset, size);
    }
}

#[cfg(loom)]
pub(crate) use model::AtomicPayload;

/// Under loom, the payload is a row of loom atomic words that the model checker tracks; the
/// value's bytes are packed into them (the tail of the last word is zero).
#[cfg(loom)]
mod model {
    use core::mem::{size_of, MaybeUninit};

    use super::Plain;
    use crate::sync::{AtomicU64, Ordering};

    pub(crate) struct AtomicPayload<T> {
        words: std::vec::Vec<AtomicU64>,
        _value: core::marker::PhantomData<T>,
    }

    impl<T: Plain> AtomicPayload<T> {
        pub(crate) fn new(value: T) -> Self {
            let words = to_words(&value).into_iter().map(AtomicU64::new).collect();
            Self {
                words,
                _value: core::marker::PhantomData,
            }
        }

        pub(crate) fn load(&self) -> MaybeUninit<T> {
            let words: std::vec::Vec<u64> = self
                .words
                .iter()
                .map(|w| w.load(Ordering::Relaxed))
                .collect();
            let mut out = MaybeUninit::<T>::uninit();
            // SAFETY: the words hold at least `size_of::<T>()` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    words.as_ptr().cast::<u8>(),
                    out.as_mut_ptr().cast::<u8>(),
                    size_of::<T>(),
                )
            };
            out
        }

        pub(crate) fn store(&self, value: &T) {
            for (word, v) in self.words.iter().zip(to_words(value)) {
                word.store(v, Ordering::Relaxed);
            }
        }
    }

    fn to_words<T: Plain>(value: &T) -> std::vec::Vec<u64> {
        let mut words = std::vec![0u64; size_of::<T>().div_ceil(8)];
        // SAFETY: `Plain` values have no padding, so all `size_of::<T>()` bytes are
        // initialised; the destination is large enough.
        unsafe {
            core::ptr::copy_nonoverlapping(
                core::ptr::from_ref(value).cast::<u8>(),
                words.as_mut_ptr().cast::<u8>(),
                size_of::<T>(),
            )
        };
        words
    }
}
