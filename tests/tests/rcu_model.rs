//! The single-threaded RCU model (`fuzz_harness::rcu_ops`) on pseudo-random operation strings
//! and on hand-written ones: no object is freed and no cookie reported done while a section
//! that could see it (open when it was unpublished, or when the cookie was taken) is still
//! open, readers' snapshots stay readable until their section ends, and at the end every
//! object is freed exactly once. The same model backs the `rcu_ops` fuzz target; the byte
//! encoding is tabled in its module documentation (op in bits 0-3, CPU in bits 4-5,
//! argument in bits 6-7).

use fuzz_harness::rcu_ops::run as run_ops;
use tests::fuzz_inputs::random_inputs;

/// One operation byte.
const fn op(cpu: u8, op: u8, arg: u8) -> u8 {
    arg << 6 | cpu << 4 | op
}

const ENTER: u8 = 0;
const LEAVE: u8 = 1;
const RETIRE: u8 = 2;
const COOKIE: u8 = 3;
const POLL: u8 = 4;
const PROCESS: u8 = 5;
const QUIESCE: u8 = 6;
const OFFLINE_ONLINE: u8 = 7;
const REPLACE: u8 = 8;
const REPLACE_RAW: u8 = 9;
const SNAPSHOT: u8 = 10;
const CHECK: u8 = 11;
const RECLAIM: u8 = 12;
const BARRIER: u8 = 13;
const WAIT: u8 = 14;
const CMPXCHG: u8 = 15;

/// Every other CPU polls, processes callbacks and reports quiescent states, many times.
fn churn(ops: &mut Vec<u8>, busy_cpu: u8) {
    for _ in 0..30 {
        for cpu in (0..4).filter(|&c| c != busy_cpu) {
            ops.extend_from_slice(&[
                op(cpu, POLL, 0),
                op(cpu, PROCESS, 0),
                op(cpu, QUIESCE, 0),
                op(cpu, RECLAIM, 0),
                op(cpu, RECLAIM, 1),
                op(cpu, CHECK, 0),
            ]);
        }
    }
}

#[test]
fn random_operation_strings_keep_the_model() {
    random_inputs(0x5EED_0001, 3_000, 300, run_ops);
}

/// A retire under an open section, then heavy polling and processing on every other CPU:
/// nothing may be freed or reported done before the section ends.
#[test]
fn retire_under_open_section_is_not_freed_by_polling() {
    let mut ops = vec![
        op(1, ENTER, 0),
        op(0, RETIRE, 0),
        op(0, RETIRE, 1),
        op(0, COOKIE, 0),
    ];
    churn(&mut ops, 1);
    ops.extend_from_slice(&[op(1, LEAVE, 0), op(0, PROCESS, 0), op(0, POLL, 0)]);
    run_ops(&ops);
}

/// A reader holds snapshots of both pointers while they are replaced in every way; the
/// old objects stay readable until the reader leaves.
#[test]
fn replaced_objects_stay_readable_under_a_reader() {
    let mut ops = vec![
        op(0, REPLACE_RAW, 0), // publish the first raw object
        op(1, ENTER, 0),
        op(1, SNAPSHOT, 0), // the owning pointer
        op(1, SNAPSHOT, 1), // the raw pointer
        op(1, ENTER, 0),    // nested: the outer section still protects
        op(1, SNAPSHOT, 3),
        op(1, LEAVE, 0),
    ];
    for arg in 0..4 {
        ops.extend_from_slice(&[op(2, REPLACE, arg), op(2, REPLACE_RAW, arg)]);
    }
    ops.extend_from_slice(&[op(3, CMPXCHG, 0), op(3, CMPXCHG, 1), op(3, CMPXCHG, 2)]);
    churn(&mut ops, 1);
    ops.extend_from_slice(&[op(1, CHECK, 0), op(1, LEAVE, 0), op(0, PROCESS, 0)]);
    run_ops(&ops);
}

/// Waiting operations in the middle of a run, on the counter flavor with other CPUs online
/// and on QSBR once the others are offline (they are skipped while they could not end).
#[test]
fn mid_run_barrier_and_synchronize() {
    let mut ops = vec![
        op(1, ENTER, 0),
        op(1, SNAPSHOT, 0),
        op(0, REPLACE, 1),
        op(0, BARRIER, 0), // skipped: CPU 1 has a section open
        op(1, LEAVE, 0),
        op(0, COOKIE, 0),
        op(0, COOKIE, 3),
        op(0, REPLACE, 2),
        op(0, WAIT, 0), // synchronize: every earlier cookie is done
        op(0, BARRIER, 0),
    ];
    // The same again once CPUs 1 to 3 are offline, so that QSBR waits too.
    ops.extend_from_slice(&[
        op(1, OFFLINE_ONLINE, 0),
        op(2, OFFLINE_ONLINE, 0),
        op(3, OFFLINE_ONLINE, 0),
    ]);
    for arg in 0..4 {
        ops.extend_from_slice(&[
            op(0, COOKIE, 0),
            op(0, REPLACE, 1),
            op(0, REPLACE_RAW, 2),
            op(0, WAIT, arg),
            op(0, BARRIER, 0),
            op(0, RECLAIM, 1),
        ]);
    }
    run_ops(&ops);
}
