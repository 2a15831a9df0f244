//! Arbitrary bytes as a path on a fixed namespace: pathwalk answers with a result or an
//! errno, never a panic or an out-of-bounds read, the same way four ways and as the naive
//! resolver does. See `fuzz_harness::path_parse`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::path_parse::run(data);
});
