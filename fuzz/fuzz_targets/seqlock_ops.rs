//! Operation strings against the single-threaded seqlock model: reads of a sequence
//! counter, a seqlock and a latch interleaved by hand with writes, open write sections,
//! invalidations and barriers. A read accepted although a write overlapped it, an accepted
//! copy that is torn or not the model's value, or a latch read mid-write that is neither the
//! old nor the new value panics. See `fuzz_harness::seqlock_ops`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::seqlock_ops::run(data);
});
