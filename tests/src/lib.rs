//! Shared pieces of the workspace's cross-crate tests and demo.
//!
//! [`Membarrier`](membarrier::Membarrier) is a hosted platform with a real heavy barrier (Linux `membarrier(2)`),
//! so the counter flavor's fence-free reader path is exercised too.

pub mod membarrier;
pub mod rcu_model;
pub mod rng;
