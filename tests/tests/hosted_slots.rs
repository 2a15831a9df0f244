//! The hosted platform's reader slots: one per live thread, released at thread exit, and a
//! clear panic for the thread that finds them all taken.
//!
//! This file holds a single test so that no other test of the same process holds slots.

use std::sync::{Arc, Barrier};
use std::thread;

use rcu_core::hosted::Hosted;
use rcu_core::{Counter, Rcu};

static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

/// Fills every slot with a live thread, checks that one more thread panics with a message
/// naming the limit, then checks that the slots come back when the threads exit.
#[test]
fn slots_are_exclusive_released_at_exit_and_exhaustion_panics() {
    assert_eq!(
        Hosted::registered_threads(),
        0,
        "no thread of this test process uses RCU yet"
    );

    let all_registered = Arc::new(Barrier::new(Hosted::MAX_CPUS + 1));
    let release = Arc::new(Barrier::new(Hosted::MAX_CPUS + 1));
    let holders: Vec<_> = (0..Hosted::MAX_CPUS)
        .map(|_| {
            let (all_registered, release) = (all_registered.clone(), release.clone());
            thread::spawn(move || {
                let slot = Hosted::register_thread();
                // Reading works from every slot.
                drop(RCU.read_lock());
                all_registered.wait();
                release.wait();
                slot
            })
        })
        .collect();
    all_registered.wait();
    assert_eq!(Hosted::registered_threads(), Hosted::MAX_CPUS);

    let one_too_many = thread::spawn(|| {
        let _guard = RCU.read_lock();
    })
    .join()
    .expect_err("a thread beyond the slot count must panic");
    let message = one_too_many
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| one_too_many.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(
        message.contains("all 64 reader slots are held by live threads"),
        "unclear panic message: {message:?}"
    );

    release.wait();
    let mut slots: Vec<usize> = holders.into_iter().map(|h| h.join().unwrap()).collect();
    slots.sort_unstable();
    assert_eq!(
        slots,
        (0..Hosted::MAX_CPUS).collect::<Vec<_>>(),
        "each slot held exactly once"
    );

    // Thread exit released them all: a new thread gets a slot and can wait for a grace period.
    assert_eq!(
        Hosted::registered_threads(),
        0,
        "slots must be released at thread exit"
    );
    thread::spawn(|| {
        drop(RCU.read_lock());
        RCU.synchronize();
    })
    .join()
    .unwrap();
}
