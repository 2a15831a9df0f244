//! The 88 cases of openat2's `resolve_test.c` (`resolve-cases.md` section 1) against the real
//! kernel of this machine, through the `resolve_kernel` binary: every case must give the
//! table's answer, except where the machine differs from the selftest's assumptions in a
//! documented, detected way (see [`documented_exception`]).
//!
//! The binary needs the privilege to enter a mount namespace and mount a tmpfs; without it
//! it prints `SKIPPED: <reason>` and this test passes, saying so.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

/// One `case` line of the binary's output.
struct Line {
    id: u32,
    actual: String,
    expected: String,
    matched: bool,
    /// `(st_dev, st_ino)` of the object opened, for successful opens.
    object: Option<(u64, u64)>,
    text: String,
}

/// Parses `case <n> <actual> <expected> <MATCH|MISMATCH> [dev=<d> ino=<i>]`.
fn parse(text: &str) -> Option<Line> {
    let f: Vec<&str> = text.split_whitespace().collect();
    if f.len() < 5 || f[0] != "case" {
        return None;
    }
    let matched = match f[4] {
        "MATCH" => true,
        "MISMATCH" => false,
        _ => return None,
    };
    let object = match f.get(5..7) {
        Some([dev, ino]) => Some((
            dev.strip_prefix("dev=")?.parse().ok()?,
            ino.strip_prefix("ino=")?.parse().ok()?,
        )),
        _ => None,
    };
    Some(Line {
        id: f[1].parse().ok()?,
        actual: f[2].to_string(),
        expected: f[3].to_string(),
        matched,
        object,
        text: text.to_string(),
    })
}

/// The mount id of the object at `path` (`statx` with `STATX_MNT_ID`).
fn mount_id(path: &str) -> u64 {
    let c = CString::new(path).expect("path without NUL");
    // SAFETY: `statx` is plain data, for which all zero bytes is a valid value.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `stx` a writable `struct statx`, both alive
    // for the call.
    let ret = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, libc::STATX_MNT_ID, &mut stx) };
    assert_eq!(ret, 0, "statx({path}): {}", std::io::Error::last_os_error());
    assert_ne!(
        stx.stx_mask & libc::STATX_MNT_ID,
        0,
        "statx({path}) gave no mount id"
    );
    stx.stx_mnt_id
}

/// Whether a mismatch is one the machine explains, checked for the exact condition:
///
/// - Case 62, `/tmp` under `RESOLVE_NO_XDEV`: the selftest assumes `/tmp` is a separate
///   mount (usually a tmpfs), so reaching it from `/` crosses a mount and gives `EXDEV`. On
///   a machine where `/tmp` is a plain directory of the root mount (same mount id as `/`),
///   nothing is crossed and the kernel rightly opens `/tmp` itself. Accepted only when the
///   mount ids are equal and the object opened is `/tmp`.
fn documented_exception(line: &Line) -> bool {
    match line.id {
        62 => {
            let tmp = std::fs::metadata("/tmp").expect("stat /tmp");
            line.actual == "ok"
                && line.object == Some((tmp.dev(), tmp.ino()))
                && mount_id("/tmp") == mount_id("/")
        }
        _ => false,
    }
}

#[test]
fn resolve_test_all_88_cases_on_the_real_kernel() {
    let out = Command::new(env!("CARGO_BIN_EXE_resolve_kernel"))
        .output()
        .expect("running resolve_kernel");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.is_empty() {
        println!("stderr:\n{stderr}");
    }
    if let Some(reason) = stdout.lines().find_map(|l| l.strip_prefix("SKIPPED:")) {
        println!("resolve_kernel SKIPPED (no kernel cases checked):{reason}");
        assert!(
            out.status.success(),
            "SKIPPED but exit status {}",
            out.status
        );
        return;
    }
    assert!(
        out.status.success(),
        "resolve_kernel failed ({}):\n{stdout}{stderr}",
        out.status
    );

    let lines: Vec<Line> = stdout.lines().filter_map(parse).collect();
    let ids: Vec<u32> = lines.iter().map(|l| l.id).collect();
    assert_eq!(
        ids,
        (1..=88).collect::<Vec<_>>(),
        "expected one line per case 1..=88"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("kernel: "))
        .expect("a summary line");
    let matched = lines.iter().filter(|l| l.matched).count();
    assert_eq!(summary, format!("kernel: {matched}/88 match the table"));

    let mut explained = Vec::new();
    let mut mismatches = Vec::new();
    for line in lines.iter().filter(|l| !l.matched) {
        if documented_exception(line) {
            explained.push(line.text.as_str());
        } else {
            mismatches.push(format!(
                "case {}: kernel {}, table {}",
                line.id, line.actual, line.expected
            ));
        }
    }
    for text in &explained {
        println!("accepted (documented machine difference): {text}");
    }
    assert!(
        mismatches.is_empty(),
        "{} of 88 cases differ from the table on this kernel:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
