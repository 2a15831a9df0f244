//! What the cargo-fuzz targets of this workspace run: input decoding (with `arbitrary`),
//! the models results are checked against, and the checks. The targets in `fuzz_targets/`
//! are one call each; the `tests` crate replays the committed seeds and regressions through
//! the same functions on stable, so a fixed crash stays fixed without nightly.
//!
//! Every module has `run(data: &[u8])`, which decodes `data` the way the target does and
//! panics on a violation; inputs too short to decode are no-ops.
//!
//! - [`rcu_ops`]: rcu-core on simulated CPUs against a model of which objects may be freed.
//! - [`seqlock_ops`]: seqlock-core's counter, lock and latch against a plain value.
//! - [`pathwalk_model`]: pathwalk against a naive resolver on a small generated namespace.
//! - [`pathwalk_concurrent`]: a lookup racing scripted namespace changes.
//! - [`path_parse`]: arbitrary bytes as a path.

pub mod path_parse;
pub mod pathwalk_concurrent;
pub mod pathwalk_model;
pub mod rcu_ops;
pub mod seqlock_ops;
