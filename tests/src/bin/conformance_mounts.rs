//! The differential conformance test of pathwalk against the kernel (`tests::differential`)
//! on trees that hold tmpfs and bind mounts of their own.
//!
//! The binary enters a private mount namespace first, so that its mounts are seen by nobody
//! else and vanish with it; without the privilege for that it prints one line
//! `SKIPPED: <reason>` and exits 0. It then runs the seeds of `PATHWALK_CONFORMANCE_SEEDS`
//! (default 10) or `PATHWALK_CONFORMANCE_SEED`, prints a line per seed, one per
//! disagreement, and the summary `conformance (trees with mounts): ...`, and exits 1 if any
//! case disagreed.
//!
//! ```text
//! cargo run -p tests --bin conformance_mounts
//! ```

use std::process::ExitCode;

use pathwalk::LookupFlags;
use tests::conformance::{errno_name, kernel_lookup, private_mount_namespace};
use tests::differential;

fn main() -> ExitCode {
    // First: the namespace can only be entered while the process has one thread.
    if let Err(reason) = private_mount_namespace() {
        println!("SKIPPED: {reason}");
        return ExitCode::SUCCESS;
    }
    // Kernels before 5.6, or a seccomp filter, have no openat2.
    if let Err(errno) = kernel_lookup(libc::AT_FDCWD, b"/", LookupFlags::empty()) {
        println!("SKIPPED: openat2 unavailable ({})", errno_name(errno));
        return ExitCode::SUCCESS;
    }
    let totals = differential::run(&differential::seeds(10), true);
    if let Some(reason) = &totals.skipped {
        println!("SKIPPED: permission cases ({reason})");
    }
    println!("{}", totals.summary("trees with mounts"));
    match totals.verdict() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            println!("FAILED: {failure}");
            ExitCode::FAILURE
        }
    }
}
