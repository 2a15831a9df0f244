//! A path walk engine with Linux `fs/namei.c` semantics: RCU-walk, unlazy, ref-walk and
//! revalidate restarts, and `finish_with`, which ends a lookup under RCU without taking a
//! reference.
//!
//! The crate is being built up from the bottom. It currently provides what every lookup
//! starts with:
//!
//! - [`Errno`]: how a lookup fails, with Linux's errno values;
//! - [`LookupFlags`]: Linux's `LOOKUP_*` and `openat2(2)`'s `RESOLVE_*` flags, and their
//!   validation;
//! - [`PathName`] and [`Component`]: checking a path (length, NUL bytes, empty paths) and
//!   splitting it into components, with the trailing-slash rule.
//!
//! Nothing here allocates, blocks or panics on any input.

#![no_std]
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

#[cfg(test)]
extern crate std;

mod error;
mod flags;
mod path;

pub use error::Errno;
pub use flags::LookupFlags;
pub use path::{Component, Components, PathName, PATH_MAX};
