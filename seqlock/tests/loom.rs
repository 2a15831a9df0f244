//! loom models of the seqlock and the latch.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p seqlock-core --test loom --release`.
//! Payloads are several words linked by an invariant (all words equal), so a torn copy is
//! visible to the assertion; loom explores the interleavings and the values relaxed loads
//! may return.
//!
//! Models:
//! - `no_torn_read_one_writer` / `no_torn_read_two_writers`: `SeqLock::read` never returns a
//!   copy that mixes two writes.
//! - `try_read_and_read_or_lock`: the one-shot and the lockless-then-locking readers.
//! - `latch_reader_under_writer`: `SeqLatch::read` never returns a mixed copy.
//! - `negative_control_missing_acquire_fence`: the same check on a reader without its
//!   Acquire fence must fail, proving the models can see the bug the fence prevents.

#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use seqlock::{SeqLatch, SeqLock};

type Payload = [u64; 3];

fn check(copy: Payload) {
    assert!(
        copy.iter().all(|&w| w == copy[0]),
        "torn read accepted: {copy:?}"
    );
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

#[test]
fn no_torn_read_one_writer() {
    model(|| {
        let lock = Arc::new(SeqLock::new([0u64; 3]));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || {
                lock.set([1; 3]);
                lock.set([2; 3]);
            })
        };
        check(lock.read());
        writer.join().unwrap();
        assert_eq!(lock.read(), [2; 3]);
    });
}

#[test]
fn no_torn_read_two_writers() {
    model(|| {
        let lock = Arc::new(SeqLock::new([0u64; 3]));
        let writers: Vec<_> = (1..=2u64)
            .map(|i| {
                let lock = lock.clone();
                thread::spawn(move || lock.set([i; 3]))
            })
            .collect();
        check(lock.read());
        for w in writers {
            w.join().unwrap();
        }
        check(lock.read());
    });
}

#[test]
fn try_read_and_read_or_lock() {
    model(|| {
        let lock = Arc::new(SeqLock::new([0u64; 3]));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.update(|v| *v = [v[0] + 1; 3]))
        };
        if let Some(copy) = lock.try_read() {
            check(copy);
        }
        lock.read_or_lock(|copy| check(*copy));
        writer.join().unwrap();
        assert_eq!(lock.read_locked(), [1; 3]);
    });
}

#[test]
fn latch_reader_under_writer() {
    model(|| {
        let latch = Arc::new(SeqLatch::new([0u64; 3]));
        let writer = {
            let latch = latch.clone();
            thread::spawn(move || {
                latch.write([1; 3]);
                latch.write([2; 3]);
            })
        };
        check(latch.read());
        writer.join().unwrap();
        assert_eq!(latch.read(), [2; 3]);
    });
}

#[test]
#[should_panic(expected = "torn read accepted")]
fn negative_control_missing_acquire_fence() {
    model(|| {
        let lock = Arc::new(SeqLock::new([0u64; 3]));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || lock.set([1; 3]))
        };
        check(lock.read_without_acquire_fence());
        writer.join().unwrap();
    });
}
