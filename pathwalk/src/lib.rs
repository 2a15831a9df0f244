//! A path walk engine with Linux `fs/namei.c` semantics: RCU-walk, unlazy, ref-walk and
//! revalidate restarts, scoped lookups, and [`Lookup::finish_with`], which ends a lookup
//! with one operation under RCU and no reference count taken.
//!
//! # The idea
//!
//! Linux resolves most paths without touching a shared cache line: RCU-walk steps from
//! dentry to dentry under `rcu_read_lock`, validating each step with the dentries' sequence
//! counters instead of taking references. But every successful lookup still ends by
//! *legitimizing* the result (`try_to_unlazy`): taking a reference on the final dentry and
//! mount, which the caller of `stat(2)` drops again a moment later. On a busy file these two
//! atomic operations on shared counters are what stops `stat` from scaling. In January 2023
//! Linus Torvalds suggested to Al Viro (LKML, "Re: \[PATCH\] lib/genalloc: use try_cmpxchg in
//! {set,clear}_bits_ll") to run "one last thing under RCU" on the final object instead, and
//! to terminate the walk without legitimizing it when that works, falling back to the
//! referenced path when it does not. Linux never merged it; this crate implements it, for
//! any dentry cache that implements [`Namespace`].
//!
//! # Using it
//!
//! 1. Implement [`Namespace`] for your dentry cache (or start from the `dcache` module,
//!    the reference in-memory namespace, with feature `alloc`).
//! 2. Describe a lookup with [`Lookup::new`]: credentials, root, starting directory, path
//!    bytes and [`LookupFlags`].
//! 3. End it with [`Lookup::finish_with`] (an operation such as `stat` on the final object,
//!    under RCU when possible), [`Lookup::finish`] (a referenced [`RefPath`]),
//!    [`Lookup::parent`] (the directory and last name, for unlink, mkdir, rename) or
//!    [`Lookup::finish_create`] (`open` with `O_CREAT`).
//!
//! Each ending returns a [`Walked`]: the result and the [`End`] the walk took, so tests and
//! benchmarks can check that the fast path was really taken.
//!
//! # What the engine guarantees
//!
//! - RCU-walk reaches only results ref-walk could reach: every result found under RCU, an
//!   error included, is validated against the sequence counters before it is reported, and
//!   a lookup that lost a race is walked again in ref mode. Every walk, RCU or ref, is
//!   also validated against `rename_lock` and `mount_lock` as a whole and walked again if
//!   a change they cover raced with it, so that every answer is one the namespace gave at
//!   some moment (Linux checks this only for scoped lookups).
//! - Bad input gets an [`Errno`], never a panic: over-long paths (`ENAMETOOLONG`), NUL
//!   bytes and conflicting flags (`EINVAL`), empty paths (`ENOENT`).
//! - Scoped lookups ([`LookupFlags::BENEATH`], [`LookupFlags::IN_ROOT`]) never leave their
//!   root: `..` fails with `EAGAIN` if a rename or mount raced with the walk.
//! - Symbolic links are walked on a fixed stack of [`MAX_SYMLINKS`] entries: the engine
//!   needs no allocator, and at most 40 links are followed per lookup.
//!
//! # Environment
//!
//! `#![no_std]`; the engine needs no allocator and never blocks by itself: it blocks only in
//! the ref-mode [`Namespace`] methods it calls. A lookup keeps its state on the caller's
//! stack: at most 2.5 KiB on 64-bit targets, most of it the link stack. Under RCU it spins only where a sequence
//! counter is odd (a writer inside its write section). It panics only on a broken
//! [`Namespace`] implementation or an engine bug (documented `expect`s). The `dcache`
//! module needs feature `alloc`.
//!
//! Sources: Linux `fs/namei.c` and `Documentation/filesystems/path-lookup.rst` (Neil
//! Brown), the openat2 selftests (`tools/testing/selftests/openat2/`).

#![no_std]
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[cfg(test)]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

mod error;
mod flags;
mod namespace;
mod path;
mod walk;

#[cfg(feature = "alloc")]
pub mod dcache;

pub use error::Errno;
pub use flags::LookupFlags;
pub use namespace::{Kind, LinkBody, Location, Namespace, RcuError, RcuLookup};
pub use path::{Component, Components, PathName, PATH_MAX};
pub use walk::{
    End, Last, Lookup, NewName, Open, Parent, RcuView, RefPath, Walked, MAX_SYMLINKS, NAME_MAX,
};
