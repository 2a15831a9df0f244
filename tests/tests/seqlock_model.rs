//! The single-threaded seqlock model (`fuzz_harness::seqlock_ops`) on pseudo-random operation
//! strings and on hand-written ones: reads interleaved by hand with writes, open write
//! sections, invalidations and barriers are accepted exactly when nothing overlapped them,
//! an accepted copy is never torn or stale, every `SeqLock` reader sees the current value,
//! and a latch read inside a write sees the old or the new value, never a mix. The same
//! model backs the `seqlock_ops` fuzz target; the byte encoding is tabled in its module
//! documentation (first byte: payload size; then op in bits 0-4, argument in bits 5-7).

use fuzz_harness::seqlock_ops::run as run_ops;
use tests::fuzz_inputs::random_inputs;

/// One operation byte.
const fn op(op: u8, arg: u8) -> u8 {
    arg << 5 | op
}

const READ_BEGIN: u8 = 0;
const RAW_BEGIN: u8 = 1;
const TRY_BEGIN: u8 = 2;
const COPY: u8 = 3;
const FINISH: u8 = 4;
const WRITE: u8 = 5;
const OPEN: u8 = 6;
const STORE: u8 = 7;
const CLOSE: u8 = 8;
const INVALIDATE: u8 = 9;
const BARRIER: u8 = 10;
const SET: u8 = 11;
const UPDATE: u8 = 12;
const LOCK_READ: u8 = 13;
const LOCK_BEGIN: u8 = 14;
const LOCK_COPY: u8 = 15;
const LOCK_FINISH: u8 = 16;
const LOCK_SECTION: u8 = 17;
const LATCH_WRITE: u8 = 19;
const LATCH_INTERRUPTED: u8 = 20;
const LATCH_READ: u8 = 21;

#[test]
fn random_operation_strings_keep_the_model() {
    random_inputs(0x5EED_0002, 4_000, 300, run_ops);
}

/// For every payload size: a counter read copied half before and half after a write (the
/// torn case), a read begun inside an open section, and reads around `invalidate` and
/// `write_barrier`; every one must be refused, and quiet ones accepted.
#[test]
fn counter_reads_overlapping_writes_are_refused() {
    for size in 0..4 {
        run_ops(&[
            size,
            op(READ_BEGIN, 0),
            op(COPY, 0), // one word of the old version
            op(TRY_BEGIN, 1),
            op(WRITE, 0),
            op(FINISH, 0), // the rest from the new one: torn, must be refused
            op(FINISH, 1), // overlapped too
            op(OPEN, 0),
            op(STORE, 0),
            op(RAW_BEGIN, 2), // inside the section: must be refused
            op(COPY, 2 | 4),
            op(TRY_BEGIN, 3),  // refused at once
            op(READ_BEGIN, 3), // skipped: would spin
            op(CLOSE, 0),
            op(FINISH, 2),
            op(READ_BEGIN, 0),
            op(INVALIDATE, 0),
            op(FINISH, 0),
            op(RAW_BEGIN, 0),
            op(BARRIER, 0),
            op(FINISH, 0),
            op(TRY_BEGIN, 0),
            op(COPY, 4),
            op(FINISH, 0), // quiet: accepted
        ]);
    }
}

/// The seqlock's readers validated on its counter across `set`, `update` and a hand-opened
/// write section; the four direct readers in and out of that section; the latch read at
/// every step of a write.
#[test]
fn lock_and_latch_reads_around_writes() {
    for size in 0..4 {
        let mut ops = vec![size];
        for how in 0..4 {
            ops.extend_from_slice(&[
                op(LOCK_BEGIN, how << 1),
                op(LOCK_COPY, how << 1),
                op(SET, 0),
                op(LOCK_FINISH, 0), // overlapped by the set: refused
                op(LOCK_BEGIN, 1 | how << 1),
                op(LOCK_COPY, 1 | how << 1),
                op(LOCK_FINISH, 1), // quiet: accepted, the copy is current
                op(UPDATE, how & 1),
                op(LOCK_READ, how),
                op(LOCK_SECTION, 0), // open
                op(LOCK_READ, how),
                op(LOCK_BEGIN, how << 1),
                op(LOCK_COPY, how << 1),
                op(LOCK_SECTION, 0), // close
                op(LOCK_FINISH, 0),
                op(LATCH_WRITE, 0),
                op(LATCH_INTERRUPTED, 0),
                op(LATCH_READ, 0),
            ]);
        }
        run_ops(&ops);
    }
}
