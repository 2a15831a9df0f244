//! Operation strings against the single-threaded RCU model: each input byte is one operation
//! (enter/leave a read-side section on one of four simulated CPUs, retire an object with
//! `call_rcu`, take or poll a cookie, run callbacks, report a quiescent state, go
//! offline/online). Freeing an object or reporting a cookie done while a section that was
//! open before it is still open panics, and so does an object not freed exactly once by the
//! final `barrier`. See `fuzz_harness::rcu_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::rcu_ops::run(data);
});
