//! The path resolution cases of openat2's `resolve_test.c` (`tests::resolve_table`, all 88)
//! built in the reference namespace.
//!
//! Every case runs four ways: `stat` through `finish_with` in RCU mode, `finish()`, and the
//! same two walking in ref mode from the start. All four must give the expected answer, so
//! RCU-walk and ref-walk are also checked against each other. A failure names the case.

use pathwalk::dcache::Cred;
use pathwalk::{End, Errno, LookupFlags};
use rcu_core::{hosted::Hosted, Counter};
use tests::resolve_table::{Dir, Open, BASE_LINKS, CASES, CHEEKY, MNT_LINKS, SELF_FD};
use tests::tree::{Mode, Tree};

static RCU: Counter<Hosted, 64> = Counter::new();

const BASE: &str = "/tmp/resolve";

/// The selftest's fixture, plus the parts of `/proc` and `/tmp` its cases touch: `/tmp` and
/// `/proc` are mounts, `/proc/self -> 1000` is a plain link, and `/proc/1000/{exe, root,
/// cwd, fd/3}` are jump links (to `/bin/true`, `/`, the test directory and `/proc`).
fn resolve_fixture() -> Tree<Counter<Hosted, 64>> {
    let t = Tree::new(&RCU);
    t.mkdir("/bin", 0o755);
    t.touch("/bin/true", 0o755);
    t.mkdir("/tmp", 0o1777);
    t.mount_new("/tmp");
    t.mkdir(BASE, 0o755);
    t.mkdir("/proc", 0o555);
    t.mount_new("/proc");
    t.mkdir("/proc/1", 0o555);
    t.mkdir("/proc/1000", 0o555);
    t.mkdir("/proc/1000/fd", 0o500);
    t.symlink("/proc/self", "1000");
    t.jump_link("/proc/1000/exe", "/bin/true");
    t.jump_link("/proc/1000/root", "/");
    t.jump_link("/proc/1000/cwd", BASE);
    t.jump_link("/proc/1000/fd/3", "/proc");

    let at = |p: &str| format!("{BASE}/{p}");
    for dir in ["root", "mnt", "etc", "cheeky"] {
        t.mkdir(&at(dir), 0o755);
    }
    t.mount_new(&at("mnt"));
    t.touch(&at("etc/passwd"), 0o644);
    for (name, body) in BASE_LINKS {
        t.symlink(&at(name), body);
    }
    for (name, body) in MNT_LINKS {
        t.symlink(&at(&format!("mnt/{name}")), body);
    }
    for (name, body) in CHEEKY {
        t.symlink(&at(&format!("cheeky/{name}")), body);
    }
    t
}

/// The directory a case starts from.
fn start_of(dir: Dir) -> &'static str {
    match dir {
        Dir::Base => BASE,
        Dir::Mnt => "/tmp/resolve/mnt",
        Dir::Root => "/",
        Dir::Proc => "/proc",
    }
}

fn expected_ino(t: &Tree<Counter<Hosted, 64>>, expect: Result<&str, Errno>) -> Result<u64, Errno> {
    expect.map(|p| match p {
        "." => t.ino(BASE),
        p if p.starts_with('/') => t.ino(p),
        p => t.ino(&format!("{BASE}/{p}")),
    })
}

#[test]
fn resolve_test_all_88_cases_in_rcu_and_ref_mode() {
    let t = resolve_fixture();
    let mut failures = Vec::new();
    let mut checked = 0;
    for case in &CASES {
        let mut flags = case.resolve.lookup_flags();
        if case.open != Open::NoFollow {
            flags |= LookupFlags::FOLLOW;
        }
        // `/proc/1000/fd/3` is the modelled process's descriptor on `/proc`.
        let path = if case.path == SELF_FD {
            "self/fd/3"
        } else {
            case.path
        };
        let start = t.at(start_of(case.dir));
        for mode in Mode::ALL {
            let (got, end) = match case.open {
                Open::Path | Open::NoFollow => {
                    t.resolve(&Cred::ROOT, start.location(), path.as_bytes(), flags, mode)
                }
                Open::Create => {
                    let got = t.open_create(start.location(), path, flags, false, mode.rcu());
                    (got, End::Rcu)
                }
            };
            let want = expected_ino(&t, case.expect);
            checked += 1;
            if got != want {
                failures.push(format!(
                    "case {} ({:?} {path:?} from {:?}, {mode:?}): expected {:?} ({want:?}), \
                     got {got:?}",
                    case.id, case.resolve, case.dir, case.expect
                ));
            }
            // Everything in this fixture is cached, so the RCU stat never leaves RCU mode.
            if mode == Mode::RcuStat && case.open != Open::Create && end != End::Rcu {
                failures.push(format!("case {}: RCU stat ended {end:?}", case.id));
            }
        }
    }
    assert_eq!(t.fs.references_held(), 0, "a walk leaked a reference");
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 88 * 4);
    println!(
        "resolve_test.c: {} cases, {checked} checks passed",
        CASES.len()
    );
}
