//! Sequence counters, a seqlock and a latch for `no_std`, whose optimistic readers are sound
//! under the Rust memory model.
//!
//! - [`SeqCount`]: the bare counter (Linux `seqcount_t`): begin, raw and try begin, retry,
//!   write sections as guards, invalidate, write barrier.
//! - [`SeqLock`]: a counter, a pluggable writer lock ([`WriterLock`], default [`SpinLock`])
//!   and a [`Plain`] payload (Linux `seqlock_t`), with optimistic, one-shot, locking and
//!   lockless-then-locking readers.
//! - [`SeqLatch`]: two copies whose readers never wait for the writer (Linux
//!   `seqcount_latch_t`), safe to read from an interrupt or NMI that preempted the writer.
//!
//! # The recipe
//!
//! Following H.-J. Boehm, "Can Seqlocks Get Along With Programming Language Memory Models?"
//! (MSPC 2012), and the atomic-memcpy proposal of Rust RFC 3301:
//!
//! ```text
//! reader                                   writer (serialised)
//! s1 = seq.load(Acquire)      ---+         seq.store(s + 1, Relaxed)
//! if s1 is odd: retry            |         fence(Release)           ---+
//! copy = data.load(Relaxed)*     |         data.store(new, Relaxed)*    |
//! fence(Acquire)            <----|---------------------------------------+
//! s2 = seq.load(Relaxed)         +-------> seq.store(s + 2, Release)
//! accept copy iff s1 == s2
//! ```
//!
//! (* word by word, with atomic accesses.) The pairs:
//!
//! - The reader's first load (Acquire) pairs with the writer's final store (Release): a
//!   reader that starts after a write sees all of it.
//! - The reader's Acquire fence pairs with the writer's Release fence: if any word the reader
//!   copied came from a write section that started after `s1`, then the reader's second load
//!   sees that section's odd count (or later), so the copy is rejected.
//!
//! # Why `read_volatile` is not enough
//!
//! The popular Rust seqlocks copy the data with `ptr::read_volatile` while a writer may be
//! writing it. Volatile accesses are not atomic: a volatile read that races with a write is a
//! data race, and a data race is undefined behaviour in Rust even when the value read is
//! thrown away. In practice the compiler may split, merge or reorder such reads with respect
//! to the fences (it knows they are not atomic), and tools (Miri, ThreadSanitizer, loom) flag
//! them. Here the payload is stored and copied only through relaxed atomic words; see
//! [`Plain`] for the contract that makes that possible, and [`impl_plain!`] to vouch for a
//! struct with a compile-time check of its layout.
//!
//! # What a read costs
//!
//! On x86-64: two loads of the count, one plain `mov` per 8 bytes of payload (a relaxed atomic
//! load compiles to the same instruction), no fence instruction (Acquire is free on x86), and
//! no write to shared memory. On AArch64 and RISC-V the Acquire load and fence cost one
//! barrier each. The writer pays two stores to the count and a Release fence.
//!
//! # Embedding in a kernel
//!
//! Readers run in any context (they spin only while a writer is inside its section; use
//! [`SeqCount::try_begin`], [`SeqLock::try_read`] or a [`SeqLatch`] where the writer may be the
//! code you interrupted). If the data is also written from interrupt context, plug in a writer
//! lock that disables interrupts ([`WriterLock`] shows one), or a reader in an interrupt on the
//! writer's CPU spins forever.
//!
//! | operation | may spin | writes shared memory | context |
//! |---|---|---|---|
//! | `SeqLock::read`, `SeqCount::read_begin` | while a write is in progress | no | any, except interrupting this seqlock's writer |
//! | `SeqLock::try_read`, `SeqCount::raw_begin`/`try_begin`/`read_retry` | no | no | any |
//! | `SeqLatch::read` | no (retries only when a write step completed) | no | any, NMI included |
//! | `SeqLock::read_locked`, `read_or_lock` | on the writer lock | the lock word | where the lock may be taken |
//! | `set`, `update`, `SeqLatch::write` | on the writer lock | yes | where the lock may be taken |
//!
//! Nothing allocates; the `alloc` and `std` features exist only so that dependents can
//! forward theirs. The count is 64-bit where the target has 64-bit atomics and 32-bit
//! elsewhere (see [`SeqValue`]).

#![no_std]
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[cfg(any(test, loom))]
extern crate std;

mod count;
mod latch;
mod lock;
mod plain;
#[allow(clippy::module_inception)]
mod seqlock;
mod sync;

pub use count::{Seq, SeqCount, SeqValue, WriteGuard};
pub use latch::SeqLatch;
pub use lock::{SpinLock, WriterLock};
pub use plain::Plain;
pub use seqlock::SeqLock;

#[doc(hidden)]
pub use static_assertions as __static_assertions;
