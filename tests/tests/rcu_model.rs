//! The single-threaded RCU model (`fuzz_harness::rcu_ops`) on pseudo-random operation strings:
//! no object is freed and no cookie reported done while a section that was open before it is
//! still open, and `barrier` frees everything exactly once. The same model backs the
//! `rcu_ops` fuzz target.

use fuzz_harness::rcu_ops::run as run_ops;
use tests::rng::Rng;

#[test]
fn random_operation_strings_keep_the_model() {
    let seed = 0x5EED_0001;
    let mut rng = Rng::new(seed);
    for run in 0..2_000 {
        let len = 1 + rng.below(200) as usize;
        let ops: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let result = std::panic::catch_unwind(|| run_ops(&ops));
        if let Err(panic) = result {
            eprintln!("seed {seed:#x}, run {run}: ops {ops:?}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Hand-written strings for the cases the random ones may miss: a retire under an open
/// section followed by heavy polling and processing on every CPU.
#[test]
fn retire_under_open_section_is_not_freed_by_polling() {
    // CPU 1 enters (0x20 = cpu 1, op 0), retire (op 2), cookie (op 3), then many polls,
    // processes and quiescent states on CPUs 0, 2, 3 before CPU 1 leaves (0x21).
    let mut ops = vec![0x20, 0x02, 0x03];
    for _ in 0..50 {
        ops.extend_from_slice(&[0x04, 0x05, 0x06, 0x45, 0x46, 0x65, 0x66]);
    }
    ops.extend_from_slice(&[0x21, 0x05, 0x04]);
    run_ops(&ops);
}
