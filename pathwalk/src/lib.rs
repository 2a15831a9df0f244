//! A path walk engine with Linux `fs/namei.c` semantics: RCU-walk, unlazy, ref-walk and
//! revalidate restarts, and `finish_with`, which ends a lookup under RCU without taking a
//! reference.
//!
//! The crate is being built up; it currently exports nothing.

#![no_std]
