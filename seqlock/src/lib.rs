//! Sequence counters, a seqlock and a latch whose optimistic readers are sound under the Rust
//! memory model.
//!
//! The crate is being built up; it currently exports nothing.

#![no_std]
