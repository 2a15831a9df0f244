//! Torn-read stress test for `seqlock-core`: reader threads copy a payload whose words are
//! linked by an invariant while a writer stores new values continuously. A copy that breaks
//! the invariant was torn and accepted: the test fails. Run for the seqlock (optimistic
//! reader with its retry loop counted by hand), the one-shot `try_read`, and the latch.
//!
//! Reads per reader thread: `SEQLOCK_TORTURE_READS` (default 8,000,000; three readers, so
//! 24 million reads per primitive and over 70 million in all).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;

use seqlock::{SeqLatch, SeqLock};

/// Four words derived from one counter; any mix of two writes breaks the relation.
type Payload = [u64; 4];

fn payload(i: u64) -> Payload {
    [
        i,
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        !i,
        i.rotate_left(17) ^ 0xA5A5_A5A5_A5A5_A5A5,
    ]
}

fn assert_whole(copy: Payload, what: &str) {
    assert_eq!(copy, payload(copy[0]), "{what}: torn read accepted");
}

const READERS: usize = 3;

/// Dropped when a reader ends: stops the writer once every reader is done, or at once when
/// a reader fails, so that a failure is reported instead of hanging the scope.
struct ReaderExit<'a> {
    stop: &'a AtomicBool,
    running: &'a AtomicUsize,
}

impl Drop for ReaderExit<'_> {
    fn drop(&mut self) {
        if thread::panicking() || self.running.fetch_sub(1, Relaxed) == 1 {
            self.stop.store(true, Relaxed);
        }
    }
}

fn reads_per_reader() -> u64 {
    std::env::var("SEQLOCK_TORTURE_READS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000_000)
}

/// Runs `READERS` readers calling `read` (which returns the copy and the retries it took)
/// against a writer calling `write` until the readers finish; prints and returns the totals.
fn stress(
    name: &str,
    write: impl Fn(Payload) + Sync,
    read: impl Fn() -> (Payload, u64) + Sync,
) -> (u64, u64, u64) {
    let done = AtomicBool::new(false);
    let writes = AtomicU64::new(0);
    let retries = AtomicU64::new(0);
    let running = AtomicUsize::new(READERS);
    let per_reader = reads_per_reader();
    let start = std::time::Instant::now();
    thread::scope(|s| {
        s.spawn(|| {
            let mut i = 1u64;
            while !done.load(Relaxed) {
                write(payload(i));
                i += 1;
            }
            writes.store(i - 1, Relaxed);
        });
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                s.spawn(|| {
                    let _exit = ReaderExit {
                        stop: &done,
                        running: &running,
                    };
                    let mut mine = 0;
                    for _ in 0..per_reader {
                        let (copy, r) = read();
                        assert_whole(copy, name);
                        mine += r;
                    }
                    retries.fetch_add(mine, Relaxed);
                })
            })
            .collect();
        for r in readers {
            r.join().unwrap();
        }
    });
    let reads = per_reader * READERS as u64;
    let (writes, retries) = (writes.load(Relaxed), retries.load(Relaxed));
    println!(
        "{name:<28} {reads:>12} reads {retries:>10} retries {writes:>10} writes {:>8.2} s",
        start.elapsed().as_secs_f64()
    );
    assert!(
        writes > 0,
        "{name}: the writer never ran, so nothing was tested"
    );
    (reads, retries, writes)
}

/// `SeqLock::read`'s loop, written out so that the retries can be counted.
#[test]
fn seqlock_optimistic_readers_accept_no_torn_copy() {
    let lock = SeqLock::new(payload(0));
    stress(
        "SeqLock begin/retry",
        |p| lock.set(p),
        || {
            let mut retries = 0;
            loop {
                if let Some(copy) = lock.try_read() {
                    return (copy, retries);
                }
                retries += 1;
                std::hint::spin_loop();
            }
        },
    );
}

/// `SeqLock::read` itself and the lockless-then-locking reader.
#[test]
fn seqlock_read_and_read_or_lock_accept_no_torn_copy() {
    let lock = SeqLock::new(payload(0));
    let flip = AtomicBool::new(false);
    stress(
        "SeqLock read/read_or_lock",
        |p| lock.set(p),
        || {
            let copy = if flip.fetch_xor(true, Relaxed) {
                lock.read()
            } else {
                lock.read_or_lock(|p| *p)
            };
            (copy, 0)
        },
    );
}

/// The latch: readers never wait, and never accept a mixed copy.
#[test]
fn latch_readers_accept_no_torn_copy() {
    let latch = SeqLatch::new(payload(0));
    stress("SeqLatch read", |p| latch.write(p), || (latch.read(), 0));
}
