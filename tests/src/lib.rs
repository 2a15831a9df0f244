//! Shared pieces of the workspace's cross-crate tests and demo.
//!
//! - [`bench`](mod@bench): the side-by-side comparison runner behind the `compare` binary: harness,
//!   groups, tables, JSON and the path-walk chart.
//! - [`conformance`]: random trees and lookups for the differential test of pathwalk
//!   against the Linux kernel's `openat2(2)`.
//! - [`differential`]: the runner of that differential test, shared by the test and the
//!   `conformance_mounts` binary.
//! - [`fuzz_inputs`]: random and committed inputs for the fuzz targets' models, on stable.
//! - [`membarrier`]: a hosted platform with a real heavy barrier (Linux `membarrier(2)`), so
//!   that the counter flavor's fence-free reader path is exercised too.
//! - [`resolve_table`]: the 88 cases of openat2's `resolve_test.c`, for pathwalk and the
//!   kernel alike.
//! - [`rng`]: a small deterministic random number generator for replayable runs.
//! - [`tree`]: building trees in the reference namespace by path.

pub mod bench;
pub mod conformance;
pub mod differential;
pub mod fuzz_inputs;
pub mod membarrier;
pub mod resolve_table;
pub mod rng;
pub mod tree;
