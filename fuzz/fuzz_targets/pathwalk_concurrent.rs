//! Lookups racing a scripted sequence of renames (exchanges included), unlinks, creations,
//! mounts, unmounts and attribute changes on a second thread, in RCU and ref mode. An answer
//! that is none of the states the namespace passed through while the walk ran, torn
//! attributes, or a leaked reference panics. See `fuzz_harness::pathwalk_concurrent`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::pathwalk_concurrent::run(data);
});
