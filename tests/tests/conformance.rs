//! Differential conformance of pathwalk against this machine's Linux kernel
//! (`tests::differential` runs it; `tests::conformance` generates trees and lookups).
//!
//! For each seed: a random tree of a few hundred entries is built on the real file system
//! under `$TMP` and in the reference namespace at the same absolute path, and 2,500 random
//! lookups are answered by `openat2(2)` with `O_PATH` (the oracle) and by pathwalk in four
//! modes (`finish_with` stat and `finish()`, each from RCU-walk and from ref-walk). Any
//! disagreement fails the test and prints one line with the seed, identity, start, flags,
//! path and all answers, and for the first few a `REDUCED` line with a smaller tree on which
//! the case still disagrees. A quarter of the cases run as an unprivileged identity
//! (`SKIPPED` line if the machine does not allow it).
//!
//! There is no list of tolerated differences: every case must agree. (Linux quirks that
//! `openat2(2)` users can observe are modelled by pathwalk itself, such as the `EXDEV` of
//! `NO_XDEV` for an absolute link met before the walk's root was set.)
//!
//! Environment: `PATHWALK_CONFORMANCE_SEEDS=N` runs seeds `1..=N` in both tests (default
//! 20 plain and 10 with mounts), `PATHWALK_CONFORMANCE_SEED=S` runs seed `S` only.

use std::process::Command;

use tests::differential;

/// Seeds of the plain run, 2,500 cases each.
const DEFAULT_SEEDS: u64 = 20;
/// Seeds of the run with mounts (in the `conformance_mounts` binary).
const DEFAULT_MOUNT_SEEDS: u64 = 10;

#[test]
fn pathwalk_agrees_with_the_kernel_on_random_trees() {
    let totals = differential::run(&differential::seeds(DEFAULT_SEEDS), false);
    if let Some(reason) = &totals.skipped {
        println!("SKIPPED: permission cases ({reason})");
    }
    println!("{}", totals.summary("plain trees"));
    if let Err(failure) = totals.verdict() {
        panic!("{failure}");
    }
}

/// The same with tmpfs and bind mounts in every tree, in the `conformance_mounts` binary
/// (which enters a mount namespace of its own, something a multi-threaded test process
/// cannot do). Without the privilege for that it prints `SKIPPED: <reason>` and this test
/// passes, saying so.
#[test]
fn pathwalk_agrees_with_the_kernel_on_trees_with_mounts() {
    let out = Command::new(env!("CARGO_BIN_EXE_conformance_mounts"))
        .env(
            "PATHWALK_CONFORMANCE_SEEDS",
            std::env::var("PATHWALK_CONFORMANCE_SEEDS")
                .unwrap_or_else(|_| DEFAULT_MOUNT_SEEDS.to_string()),
        )
        .output()
        .expect("running conformance_mounts");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.is_empty() {
        println!("stderr:\n{stderr}");
    }
    assert!(
        out.status.success(),
        "conformance_mounts failed ({}):\n{stdout}{stderr}",
        out.status
    );
    let Some(summary) = stdout
        .lines()
        .find(|l| l.starts_with("conformance (trees with mounts): "))
    else {
        let reason = stdout
            .lines()
            .find_map(|l| l.strip_prefix("SKIPPED:"))
            .expect("a summary line or a SKIPPED line");
        println!("mount cases SKIPPED:{reason}");
        return;
    };
    assert!(
        summary.ends_with(" 0 disagreed") && !summary.contains(" 0 cases"),
        "{summary}"
    );
}
