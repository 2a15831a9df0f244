//! Group 3: seqlock reads of 8, 64 and 256-byte payloads (`[u64; 1]`, `[u64; 8]`,
//! `[u64; 32]`), without and with a concurrent writer.
//!
//! One operation is one consistent copy of the payload: [`seqlock::SeqLock::read`] (ours:
//! the payload is copied as relaxed atomic words) and [`seqlock::SeqLock::read_or_lock`]
//! (one optimistic attempt, then the writer lock: what a reader uses when writers are
//! frequent), the `seqlock` crate's `read` (a `read_volatile` of the whole payload between
//! the two count loads), crossbeam's `AtomicCell::load` (a lock-free atomic for 8 bytes;
//! above 16 bytes its fallback: a global table of striped sequence locks, read
//! optimistically), and a read lock plus copy of `std::sync::RwLock` and `spin::RwLock`. All
//! readers read the same object.
//!
//! With a writer, one extra thread stores new values into the same object in a loop, without
//! pausing, until the readers' batch is over; only the readers are timed. A multi-threaded
//! row then runs one more thread than it names, which oversubscribes a machine with as many
//! cores as reader threads.
//!
//! Note on the `seqlock` crate: its optimistic copy races with the writer's stores, which the
//! Rust memory model makes undefined behaviour (see the `seqlock` module documentation of
//! this workspace); it is measured as it is used in practice, on x86-64.

use std::hint::black_box;

use crossbeam_utils::atomic::AtomicCell;

use super::{measure, timed_loop, Background, Figures, Row, Sample, Settings, Start, Stop};

/// Group 3 for every payload size.
pub fn reads(settings: &Settings) -> Vec<Figures> {
    let mut figures = sized::<1>(settings);
    figures.extend(sized::<8>(settings));
    figures.extend(sized::<32>(settings));
    figures
}

/// The rows for a payload of `W` 64-bit words; one round-robin over them.
fn sized<const W: usize>(settings: &Settings) -> Vec<Figures> {
    let ours = seqlock::SeqLock::new([0u64; W]);
    let peer = seqlock_peer::SeqLock::new([0u64; W]);
    let cell = AtomicCell::new([0u64; W]);
    let std_rwlock = std::sync::RwLock::new([0u64; W]);
    let spin_rwlock = spin::RwLock::new([0u64; W]);
    let bytes = W * 8;

    // The writers: each stores `[n; W]` with a growing `n` until the batch is over.
    let write_ours = |start: &Start<'_>, stop: &Stop| {
        start.wait();
        let mut n = 0u64;
        while !stop.is_set() {
            n += 1;
            ours.set([n; W]);
        }
    };
    let write_peer = |start: &Start<'_>, stop: &Stop| {
        start.wait();
        let mut n = 0u64;
        while !stop.is_set() {
            n += 1;
            *peer.lock_write() = [n; W];
        }
    };
    let write_cell = |start: &Start<'_>, stop: &Stop| {
        start.wait();
        let mut n = 0u64;
        while !stop.is_set() {
            n += 1;
            cell.store([n; W]);
        }
    };
    let write_std = |start: &Start<'_>, stop: &Stop| {
        start.wait();
        let mut n = 0u64;
        while !stop.is_set() {
            n += 1;
            *std_rwlock.write().expect("never poisoned") = [n; W];
        }
    };
    let write_spin = |start: &Start<'_>, stop: &Stop| {
        start.wait();
        let mut n = 0u64;
        while !stop.is_set() {
            n += 1;
            *spin_rwlock.write() = [n; W];
        }
    };

    let mut rows = Vec::new();
    for writer in [false, true] {
        let set = format!(
            "{bytes} B, {}",
            if writer { "with writer" } else { "no writer" }
        );
        for threads in settings.thread_counts() {
            let (ours, peer, cell) = (&ours, &peer, &cell);
            let (std_rwlock, spin_rwlock) = (&std_rwlock, &spin_rwlock);
            let bg = only_if(writer, &write_ours);
            rows.push(Row::new(
                &set,
                "seqlock-core (ours)",
                threads,
                true,
                move |ops| {
                    Sample::time(timed_loop(threads, ops, &bg, |_| {
                        black_box(ours.read());
                    }))
                },
            ));
            let bg = only_if(writer, &write_ours);
            rows.push(Row::new(
                &set,
                "seqlock-core read_or_lock (ours)",
                threads,
                true,
                move |ops| {
                    Sample::time(timed_loop(threads, ops, &bg, |_| {
                        ours.read_or_lock(|value| black_box(*value));
                    }))
                },
            ));
            let bg = only_if(writer, &write_peer);
            rows.push(Row::new(
                &set,
                "seqlock crate",
                threads,
                false,
                move |ops| {
                    Sample::time(timed_loop(threads, ops, &bg, |_| {
                        black_box(peer.read());
                    }))
                },
            ));
            let bg = only_if(writer, &write_cell);
            let name = if AtomicCell::<[u64; W]>::is_lock_free() {
                "crossbeam AtomicCell"
            } else {
                "crossbeam AtomicCell (fallback)"
            };
            rows.push(Row::new(&set, name, threads, false, move |ops| {
                Sample::time(timed_loop(threads, ops, &bg, |_| {
                    black_box(cell.load());
                }))
            }));
            let bg = only_if(writer, &write_std);
            rows.push(Row::new(&set, "std RwLock", threads, false, move |ops| {
                Sample::time(timed_loop(threads, ops, &bg, |_| {
                    black_box(*std_rwlock.read().expect("never poisoned"));
                }))
            }));
            let bg = only_if(writer, &write_spin);
            rows.push(Row::new(&set, "spin RwLock", threads, false, move |ops| {
                Sample::time(timed_loop(threads, ops, &bg, |_| {
                    black_box(*spin_rwlock.read());
                }))
            }));
        }
    }
    measure(settings, "3. seqlock read", rows)
}

/// `[job]` if `writer`, else no background thread.
fn only_if(writer: bool, job: Background<'_>) -> Vec<Background<'_>> {
    if writer {
        vec![job]
    } else {
        Vec::new()
    }
}
