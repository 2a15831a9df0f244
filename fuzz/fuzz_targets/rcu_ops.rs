//! Operation strings against the single-threaded RCU model on four simulated CPUs, for both
//! flavors: read-side sections that snapshot and later dereference the objects behind an
//! `RcuPtr` and a `RawRcuPtr` while updaters publish, replace and retire them (`defer_drop`,
//! `call_rcu`, `Retired` values reclaimed by polling or waiting, cookies), with callback
//! processing, quiescent states, offline/online, `synchronize` and `barrier` in between.
//! Freeing an object, or reporting a cookie done, while a section that could see it is
//! still open panics (and AddressSanitizer reports the snapshot's read of freed memory), and
//! so does an object not freed exactly once by the end. See `fuzz_harness::rcu_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::rcu_ops::run(data);
});
