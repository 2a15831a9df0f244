//! A small namespace (directories, files, symbolic and jump links, mounts, bind mounts,
//! permissions, cache knobs) and lookups built from the input, each resolved by pathwalk
//! four ways (`finish_with` and `finish`, starting in RCU and in ref mode) and by a naive
//! recursive resolver; any difference, or a reference left behind, panics. See
//! `fuzz_harness::pathwalk_model`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz_harness::pathwalk_model::run(data);
});
