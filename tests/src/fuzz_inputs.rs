//! Inputs for the cargo-fuzz targets' models (`fuzz_harness`), run on stable: pseudo-random
//! byte strings, and the committed files of `fuzz/seeds/<target>/` and
//! `fuzz/regressions/<target>/`. A failing input is printed (seed and run, or file name)
//! before its panic is passed on, so that it can be replayed alone.

use std::fs;
use std::panic;
use std::path::{Path, PathBuf};

use crate::rng::Rng;

/// Runs `check` on `runs` pseudo-random byte strings of 1 to `max_len` bytes from `seed`.
pub fn random_inputs(seed: u64, runs: usize, max_len: u64, check: fn(&[u8])) {
    let mut rng = Rng::new(seed);
    for run in 0..runs {
        let len = 1 + rng.below(max_len) as usize;
        let input: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        if let Err(panic) = panic::catch_unwind(|| check(&input)) {
            eprintln!("seed {seed:#x}, run {run}: input {input:02x?}");
            panic::resume_unwind(panic);
        }
    }
}

/// The fuzz workspace's directory.
fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files in `fuzz/<kind>/<target>/` (`kind` is `seeds` or `regressions`), sorted by
/// name; none if the directory does not exist.
pub fn committed_inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.expect("reading a fuzz input directory").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `check` on every committed seed and regression of `target` and returns how many
/// files ran. Panics, naming the file, on the first that fails.
pub fn replay_committed(target: &str, check: fn(&[u8])) -> usize {
    let mut ran = 0;
    for kind in ["seeds", "regressions"] {
        for file in committed_inputs(kind, target) {
            let input = fs::read(&file).expect("reading a fuzz input");
            if let Err(panic) = panic::catch_unwind(|| check(&input)) {
                eprintln!("{target}: {} failed", file.display());
                panic::resume_unwind(panic);
            }
            ran += 1;
        }
    }
    ran
}
