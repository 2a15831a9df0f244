//! The path resolution cases of `resolve-cases.md` (openat2's `resolve_test.c`, generic
//! POSIX walk cases, libpathrs' resolver cases), built in the reference namespace.
//!
//! Every case runs four ways: `stat` through `finish_with` in RCU mode, `finish()`, and the
//! same two walking in ref mode from the start. All four must give the expected answer, so
//! RCU-walk and ref-walk are also checked against each other. A failure names the case.

use pathwalk::dcache::Cred;
use pathwalk::{End, Errno, LookupFlags};
use rcu_core::{hosted::Hosted, Counter};
use tests::tree::{Mode, Tree};

static RCU: Counter<Hosted, 64> = Counter::new();

/// Where a case starts (the selftest's `dirfd`).
#[derive(Clone, Copy, Debug)]
enum Dir {
    /// The test directory, `/tmp/resolve`.
    Base,
    /// The tmpfs mounted on `mnt` inside it.
    Mnt,
    /// `/`.
    Root,
    /// `/proc`.
    Proc,
}

// Upper case, like the open(2) flags they stand for, so that the table reads like the
// selftest's.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq)]
enum Follow {
    FOLLOW,
    NOFOLLOW,
}
use Follow::*;

#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    LOOKUP,
    CREATE,
}
use Op::*;

const BENEATH: LookupFlags = LookupFlags::BENEATH;
const IN_ROOT: LookupFlags = LookupFlags::IN_ROOT;
const NO_XDEV: LookupFlags = LookupFlags::NO_XDEV;
const NO_MAGICLINKS: LookupFlags = LookupFlags::NO_MAGICLINKS;
const NO_SYMLINKS: LookupFlags = LookupFlags::NO_SYMLINKS;

struct Case {
    id: u32,
    resolve: LookupFlags,
    dir: Dir,
    path: &'static str,
    follow: Follow,
    op: Op,
    /// `Ok(p)`: the object at `p`, relative to the test directory unless absolute.
    expect: Result<&'static str, Errno>,
}

#[allow(clippy::too_many_arguments)]
const fn case(
    id: u32,
    resolve: LookupFlags,
    dir: Dir,
    path: &'static str,
    follow: Follow,
    op: Op,
    expect: Result<&'static str, Errno>,
) -> Case {
    Case {
        id,
        resolve,
        dir,
        path,
        follow,
        op,
        expect,
    }
}

/// `resolve_test.c`, all 88 cases, as listed in `resolve-cases.md` section 1. `self/fd/3`
/// stands for the selftest's `self/fd/<N>`: fd 3 of the modelled process is `/proc`.
const RESOLVE_TEST: &[Case] = &[
    case(
        1,
        BENEATH,
        Dir::Base,
        "/",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        2,
        BENEATH,
        Dir::Base,
        "cheeky/absself",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        3,
        BENEATH,
        Dir::Base,
        "abscheeky/absself",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        4,
        BENEATH,
        Dir::Base,
        "..",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        5,
        BENEATH,
        Dir::Base,
        "../root/",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        6,
        BENEATH,
        Dir::Base,
        "cheeky/self",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        7,
        BENEATH,
        Dir::Base,
        "abscheeky/self",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        8,
        BENEATH,
        Dir::Base,
        "cheeky/garbageself",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        9,
        BENEATH,
        Dir::Base,
        "abscheeky/garbageself",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(10, BENEATH, Dir::Base, "root", FOLLOW, LOOKUP, Ok("root")),
    case(11, BENEATH, Dir::Base, "etc", FOLLOW, LOOKUP, Ok("etc")),
    case(
        12,
        BENEATH,
        Dir::Base,
        "etc/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        13,
        BENEATH,
        Dir::Base,
        "relsym",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        14,
        BENEATH,
        Dir::Base,
        "cheeky/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        15,
        BENEATH,
        Dir::Base,
        "abscheeky/passwd",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        16,
        BENEATH,
        Dir::Base,
        "abssym",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        17,
        BENEATH,
        Dir::Base,
        "/etc/passwd",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        18,
        BENEATH,
        Dir::Base,
        "cheeky/abspasswd",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        19,
        BENEATH,
        Dir::Base,
        "abscheeky/abspasswd",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        20,
        BENEATH,
        Dir::Base,
        "cheeky/dotdotlink",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        21,
        BENEATH,
        Dir::Base,
        "abscheeky/dotdotlink",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        22,
        BENEATH,
        Dir::Base,
        "cheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        23,
        BENEATH,
        Dir::Base,
        "abscheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(24, IN_ROOT, Dir::Base, "/", FOLLOW, LOOKUP, Ok(".")),
    case(
        25,
        IN_ROOT,
        Dir::Base,
        "cheeky/absself",
        FOLLOW,
        LOOKUP,
        Ok("."),
    ),
    case(
        26,
        IN_ROOT,
        Dir::Base,
        "abscheeky/absself",
        FOLLOW,
        LOOKUP,
        Ok("."),
    ),
    case(27, IN_ROOT, Dir::Base, "..", FOLLOW, LOOKUP, Ok(".")),
    case(
        28,
        IN_ROOT,
        Dir::Base,
        "../root/",
        FOLLOW,
        LOOKUP,
        Ok("root"),
    ),
    case(
        29,
        IN_ROOT,
        Dir::Base,
        "cheeky/self",
        FOLLOW,
        LOOKUP,
        Ok("root"),
    ),
    case(
        30,
        IN_ROOT,
        Dir::Base,
        "cheeky/garbageself",
        FOLLOW,
        LOOKUP,
        Ok("root"),
    ),
    case(
        31,
        IN_ROOT,
        Dir::Base,
        "abscheeky/garbageself",
        FOLLOW,
        LOOKUP,
        Ok("root"),
    ),
    case(32, IN_ROOT, Dir::Base, "root", FOLLOW, LOOKUP, Ok("root")),
    case(33, IN_ROOT, Dir::Base, "etc", FOLLOW, LOOKUP, Ok("etc")),
    case(
        34,
        IN_ROOT,
        Dir::Base,
        "etc/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        35,
        IN_ROOT,
        Dir::Base,
        "relsym",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        36,
        IN_ROOT,
        Dir::Base,
        "cheeky/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        37,
        IN_ROOT,
        Dir::Base,
        "abscheeky/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        38,
        IN_ROOT,
        Dir::Base,
        "abssym",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        39,
        IN_ROOT,
        Dir::Base,
        "/etc/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        40,
        IN_ROOT,
        Dir::Base,
        "cheeky/abspasswd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        41,
        IN_ROOT,
        Dir::Base,
        "abscheeky/abspasswd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        42,
        IN_ROOT,
        Dir::Base,
        "cheeky/dotdotlink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        43,
        IN_ROOT,
        Dir::Base,
        "abscheeky/dotdotlink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        44,
        IN_ROOT,
        Dir::Base,
        "/../../../../abscheeky/dotdotlink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        45,
        IN_ROOT,
        Dir::Base,
        "cheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        46,
        IN_ROOT,
        Dir::Base,
        "abscheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        47,
        IN_ROOT,
        Dir::Base,
        "/../../../../abscheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        48,
        IN_ROOT,
        Dir::Base,
        "newfile1",
        FOLLOW,
        CREATE,
        Ok("newfile1"),
    ),
    case(
        49,
        IN_ROOT,
        Dir::Base,
        "/newfile2",
        FOLLOW,
        CREATE,
        Ok("newfile2"),
    ),
    case(
        50,
        IN_ROOT,
        Dir::Base,
        "/creatlink",
        FOLLOW,
        CREATE,
        Ok("newfile3"),
    ),
    case(
        51,
        NO_XDEV,
        Dir::Base,
        "mnt",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        52,
        NO_XDEV,
        Dir::Base,
        "mnt/",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        53,
        NO_XDEV,
        Dir::Base,
        "mnt/.",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(54, NO_XDEV, Dir::Mnt, ".", FOLLOW, LOOKUP, Ok("mnt")),
    case(
        55,
        NO_XDEV,
        Dir::Mnt,
        "..",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        56,
        NO_XDEV,
        Dir::Mnt,
        "../mnt",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        57,
        NO_XDEV,
        Dir::Mnt,
        "self",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        58,
        NO_XDEV,
        Dir::Mnt,
        "absself",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(59, NO_XDEV, Dir::Mnt, "/", FOLLOW, LOOKUP, Ok("/")),
    case(60, NO_XDEV, Dir::Root, "/", FOLLOW, LOOKUP, Ok("/")),
    case(
        61,
        NO_XDEV,
        Dir::Base,
        "/proc/1",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        62,
        NO_XDEV,
        Dir::Base,
        "/tmp",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        63,
        NO_XDEV,
        Dir::Proc,
        "self/root",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        64,
        NO_XDEV,
        Dir::Proc,
        "self/cwd",
        FOLLOW,
        LOOKUP,
        Err(Errno::EXDEV),
    ),
    case(
        65,
        NO_XDEV,
        Dir::Proc,
        "self/fd/3",
        FOLLOW,
        LOOKUP,
        Ok("/proc"),
    ),
    case(
        66,
        NO_MAGICLINKS,
        Dir::Base,
        "relsym",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        67,
        NO_MAGICLINKS,
        Dir::Base,
        "procexe",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        68,
        NO_MAGICLINKS,
        Dir::Base,
        "/proc/self/exe",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        69,
        NO_MAGICLINKS,
        Dir::Base,
        "/proc/self/exe",
        NOFOLLOW,
        LOOKUP,
        Ok("/proc/1000/exe"),
    ),
    case(
        70,
        NO_MAGICLINKS,
        Dir::Base,
        "procroot/etc",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        71,
        NO_MAGICLINKS,
        Dir::Base,
        "/proc/self/root/etc",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        72,
        NO_MAGICLINKS,
        Dir::Base,
        "/proc/self/root/etc",
        NOFOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(73, NO_SYMLINKS, Dir::Base, ".", FOLLOW, LOOKUP, Ok(".")),
    case(
        74,
        NO_SYMLINKS,
        Dir::Base,
        "root",
        FOLLOW,
        LOOKUP,
        Ok("root"),
    ),
    case(75, NO_SYMLINKS, Dir::Base, "etc", FOLLOW, LOOKUP, Ok("etc")),
    case(
        76,
        NO_SYMLINKS,
        Dir::Base,
        "etc/passwd",
        FOLLOW,
        LOOKUP,
        Ok("etc/passwd"),
    ),
    case(
        77,
        NO_SYMLINKS,
        Dir::Base,
        "relsym",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        78,
        NO_SYMLINKS,
        Dir::Base,
        "reletc/passwd",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        79,
        NO_SYMLINKS,
        Dir::Base,
        "abssym",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        80,
        NO_SYMLINKS,
        Dir::Base,
        "absetc/passwd",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        81,
        NO_SYMLINKS,
        Dir::Base,
        "cheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        82,
        NO_SYMLINKS,
        Dir::Base,
        "abscheeky/garbagelink",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        83,
        NO_SYMLINKS,
        Dir::Base,
        "abscheeky/absself",
        FOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        84,
        NO_SYMLINKS,
        Dir::Base,
        "relsym",
        NOFOLLOW,
        LOOKUP,
        Ok("relsym"),
    ),
    case(
        85,
        NO_SYMLINKS,
        Dir::Base,
        "abssym",
        NOFOLLOW,
        LOOKUP,
        Ok("abssym"),
    ),
    case(
        86,
        NO_SYMLINKS,
        Dir::Base,
        "cheeky/garbagelink",
        NOFOLLOW,
        LOOKUP,
        Ok("cheeky/garbagelink"),
    ),
    case(
        87,
        NO_SYMLINKS,
        Dir::Base,
        "abscheeky/absself",
        NOFOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
    case(
        88,
        NO_SYMLINKS,
        Dir::Base,
        "abscheeky/garbagelink",
        NOFOLLOW,
        LOOKUP,
        Err(Errno::ELOOP),
    ),
];

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
    t.symlink(&at("procexe"), "/proc/self/exe");
    t.symlink(&at("procroot"), "/proc/self/root");
    t.mkdir(&at("root"), 0o755);
    t.mkdir(&at("mnt"), 0o755);
    t.mount_new(&at("mnt"));
    t.symlink(&at("mnt/self"), "../mnt/");
    t.symlink(&at("mnt/absself"), "/mnt/");
    t.mkdir(&at("etc"), 0o755);
    t.touch(&at("etc/passwd"), 0o644);
    t.symlink(&at("creatlink"), "/newfile3");
    t.symlink(&at("reletc"), "etc/");
    t.symlink(&at("relsym"), "etc/passwd");
    t.symlink(&at("absetc"), "/etc/");
    t.symlink(&at("abssym"), "/etc/passwd");
    t.symlink(&at("abscheeky"), "/cheeky");
    t.mkdir(&at("cheeky"), 0o755);
    t.symlink(&at("cheeky/absself"), "/");
    t.symlink(&at("cheeky/self"), "../../root/");
    t.symlink(&at("cheeky/garbageself"), "/../../root/");
    t.symlink(
        &at("cheeky/passwd"),
        "../cheeky/../cheeky/../etc/../etc/passwd",
    );
    t.symlink(
        &at("cheeky/abspasswd"),
        "/../cheeky/../cheeky/../etc/../etc/passwd",
    );
    t.symlink(
        &at("cheeky/dotdotlink"),
        "../../../../../../../../../../../../../../etc/passwd",
    );
    t.symlink(
        &at("cheeky/garbagelink"),
        "/../../../../../../../../../../../../../../etc/passwd",
    );
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
    for case in RESOLVE_TEST {
        let mut flags = case.resolve;
        if case.follow == FOLLOW {
            flags |= LookupFlags::FOLLOW;
        }
        let start = t.at(start_of(case.dir));
        for mode in Mode::ALL {
            let (got, end) = match case.op {
                LOOKUP => t.resolve(
                    &Cred::ROOT,
                    start.location(),
                    case.path.as_bytes(),
                    flags,
                    mode,
                ),
                CREATE => {
                    let got = t.open_create(start.location(), case.path, flags, false, mode.rcu());
                    (got, End::Rcu)
                }
            };
            let want = expected_ino(&t, case.expect);
            checked += 1;
            if got != want {
                failures.push(format!(
                    "case {} ({:?} {:?} from {:?}, {:?}): expected {:?} ({:?}), got {:?}",
                    case.id, case.resolve, case.path, case.dir, mode, case.expect, want, got
                ));
            }
            // Everything in this fixture is cached, so the RCU stat never leaves RCU mode.
            if matches!(mode, Mode::RcuStat) && case.op == LOOKUP && end != End::Rcu {
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
        RESOLVE_TEST.len()
    );
}
