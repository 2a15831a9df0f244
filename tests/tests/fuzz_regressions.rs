//! Every committed input of every cargo-fuzz target, replayed on stable through the same
//! decoding and checks the target uses (`fuzz_harness`): the hand-made seeds of
//! `fuzz/seeds/<target>/` and the minimised inputs that once failed, in
//! `fuzz/regressions/<target>/`. A fixed bug stays fixed without nightly or cargo-fuzz.

use tests::fuzz_inputs::replay_committed;

/// Replays `target`'s inputs and checks that its seed corpus is not empty (a seed
/// directory renamed or lost would otherwise pass silently).
fn replay(target: &str, check: fn(&[u8])) {
    let ran = replay_committed(target, check);
    println!("{target}: {ran} committed inputs replayed");
    assert!(
        ran > 0,
        "{target}: no committed seeds found in fuzz/seeds/{target}/"
    );
}

#[test]
fn rcu_ops_inputs() {
    replay("rcu_ops", fuzz_harness::rcu_ops::run);
}

#[test]
fn seqlock_ops_inputs() {
    replay("seqlock_ops", fuzz_harness::seqlock_ops::run);
}

#[test]
fn pathwalk_model_inputs() {
    replay("pathwalk_model", fuzz_harness::pathwalk_model::run);
}

#[test]
fn pathwalk_concurrent_inputs() {
    replay(
        "pathwalk_concurrent",
        fuzz_harness::pathwalk_concurrent::run,
    );
}

#[test]
fn path_parse_inputs() {
    replay("path_parse", fuzz_harness::path_parse::run);
}
