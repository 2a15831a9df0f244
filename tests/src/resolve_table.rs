//! The 88 cases of the openat2 selftest `resolve_test.c`
//! (`tools/testing/selftests/openat2/resolve_test.c` in Linux), one table shared by the two
//! sides that check it: pathwalk on the reference namespace (`tests/resolve_cases.rs`) and
//! the kernel of the machine on the real file system (`src/bin/resolve_kernel.rs`).
//!
//! The fixture (the selftest's `setup_testdir`): the directory the cases start from (the
//! *base*) holds `procexe -> /proc/self/exe`, `procroot -> /proc/self/root`, `root/`,
//! `mnt/` (a tmpfs) with `mnt/self -> ../mnt/` and `mnt/absself -> /mnt/`, `etc/passwd`,
//! `creatlink -> /newfile3`, `reletc -> etc/`, `relsym -> etc/passwd`, `absetc -> /etc/`,
//! `abssym -> /etc/passwd`, `abscheeky -> /cheeky`, and `cheeky/` with the links listed in
//! [`CHEEKY`]. [`BASE_LINKS`], [`MNT_LINKS`] and [`CHEEKY`] list the links for builders.

use pathwalk::{Errno, LookupFlags};

/// Where a case starts (the selftest's `dirfd`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The base directory of the fixture.
    Base,
    /// The tmpfs mounted on `mnt` in it.
    Mnt,
    /// `/`.
    Root,
    /// `/proc`.
    Proc,
}

/// The `RESOLVE_*` flag of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// `RESOLVE_BENEATH`.
    Beneath,
    /// `RESOLVE_IN_ROOT`.
    InRoot,
    /// `RESOLVE_NO_XDEV`.
    NoXdev,
    /// `RESOLVE_NO_MAGICLINKS`.
    NoMagicLinks,
    /// `RESOLVE_NO_SYMLINKS`.
    NoSymlinks,
}

impl Resolve {
    /// The matching pathwalk flag.
    pub fn lookup_flags(self) -> LookupFlags {
        match self {
            Resolve::Beneath => LookupFlags::BENEATH,
            Resolve::InRoot => LookupFlags::IN_ROOT,
            Resolve::NoXdev => LookupFlags::NO_XDEV,
            Resolve::NoMagicLinks => LookupFlags::NO_MAGICLINKS,
            Resolve::NoSymlinks => LookupFlags::NO_SYMLINKS,
        }
    }

    /// The matching `RESOLVE_*` bit of `openat2(2)`.
    pub fn openat2_bits(self) -> u64 {
        match self {
            Resolve::Beneath => libc::RESOLVE_BENEATH,
            Resolve::InRoot => libc::RESOLVE_IN_ROOT,
            Resolve::NoXdev => libc::RESOLVE_NO_XDEV,
            Resolve::NoMagicLinks => libc::RESOLVE_NO_MAGICLINKS,
            Resolve::NoSymlinks => libc::RESOLVE_NO_SYMLINKS,
        }
    }
}

/// How a case opens its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// `O_PATH`: a final link is followed.
    Path,
    /// `O_PATH | O_NOFOLLOW`: a final link is not followed.
    NoFollow,
    /// `O_CREAT`, mode 0700: a final link is followed and a missing final name created.
    Create,
}

/// One case.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Its number in the table.
    pub id: u32,
    /// The resolve flag.
    pub resolve: Resolve,
    /// Where it starts.
    pub dir: Dir,
    /// The path; [`SELF_FD`] stands for `self/fd/<N>` with `N` the number of a descriptor
    /// open on `/proc`.
    pub path: &'static str,
    /// How it opens the path.
    pub open: Open,
    /// `Ok(p)`: success, on the object at `p` (relative to the base unless absolute; `.` is
    /// the base), the final component of `p` not followed. `Err`: this error.
    pub expect: Result<&'static str, Errno>,
}

/// The path of case 65, `self/fd/<N>`: each side substitutes its own descriptor number.
pub const SELF_FD: &str = "self/fd/<N>";

/// The links in `cheeky/`, with their bodies.
pub const CHEEKY: [(&str, &str); 7] = [
    ("absself", "/"),
    ("self", "../../root/"),
    ("garbageself", "/../../root/"),
    ("passwd", "../cheeky/../cheeky/../etc/../etc/passwd"),
    ("abspasswd", "/../cheeky/../cheeky/../etc/../etc/passwd"),
    (
        "dotdotlink",
        "../../../../../../../../../../../../../../etc/passwd",
    ),
    (
        "garbagelink",
        "/../../../../../../../../../../../../../../etc/passwd",
    ),
];

/// The links directly in the base directory, with their bodies.
pub const BASE_LINKS: [(&str, &str); 8] = [
    ("procexe", "/proc/self/exe"),
    ("procroot", "/proc/self/root"),
    ("creatlink", "/newfile3"),
    ("reletc", "etc/"),
    ("relsym", "etc/passwd"),
    ("absetc", "/etc/"),
    ("abssym", "/etc/passwd"),
    ("abscheeky", "/cheeky"),
];

/// The links in the tmpfs on `mnt`, with their bodies.
pub const MNT_LINKS: [(&str, &str); 2] = [("self", "../mnt/"), ("absself", "/mnt/")];

const fn case(
    id: u32,
    resolve: Resolve,
    dir: Dir,
    path: &'static str,
    open: Open,
    expect: Result<&'static str, Errno>,
) -> Case {
    Case {
        id,
        resolve,
        dir,
        path,
        open,
        expect,
    }
}

use Dir::*;
use Open::*;
use Resolve::*;

/// All 88 cases, in the selftest's order.
pub const CASES: [Case; 88] = [
    case(1, Beneath, Base, "/", Path, Err(Errno::EXDEV)),
    case(2, Beneath, Base, "cheeky/absself", Path, Err(Errno::EXDEV)),
    case(
        3,
        Beneath,
        Base,
        "abscheeky/absself",
        Path,
        Err(Errno::EXDEV),
    ),
    case(4, Beneath, Base, "..", Path, Err(Errno::EXDEV)),
    case(5, Beneath, Base, "../root/", Path, Err(Errno::EXDEV)),
    case(6, Beneath, Base, "cheeky/self", Path, Err(Errno::EXDEV)),
    case(7, Beneath, Base, "abscheeky/self", Path, Err(Errno::EXDEV)),
    case(
        8,
        Beneath,
        Base,
        "cheeky/garbageself",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        9,
        Beneath,
        Base,
        "abscheeky/garbageself",
        Path,
        Err(Errno::EXDEV),
    ),
    case(10, Beneath, Base, "root", Path, Ok("root")),
    case(11, Beneath, Base, "etc", Path, Ok("etc")),
    case(12, Beneath, Base, "etc/passwd", Path, Ok("etc/passwd")),
    case(13, Beneath, Base, "relsym", Path, Ok("etc/passwd")),
    case(14, Beneath, Base, "cheeky/passwd", Path, Ok("etc/passwd")),
    case(
        15,
        Beneath,
        Base,
        "abscheeky/passwd",
        Path,
        Err(Errno::EXDEV),
    ),
    case(16, Beneath, Base, "abssym", Path, Err(Errno::EXDEV)),
    case(17, Beneath, Base, "/etc/passwd", Path, Err(Errno::EXDEV)),
    case(
        18,
        Beneath,
        Base,
        "cheeky/abspasswd",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        19,
        Beneath,
        Base,
        "abscheeky/abspasswd",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        20,
        Beneath,
        Base,
        "cheeky/dotdotlink",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        21,
        Beneath,
        Base,
        "abscheeky/dotdotlink",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        22,
        Beneath,
        Base,
        "cheeky/garbagelink",
        Path,
        Err(Errno::EXDEV),
    ),
    case(
        23,
        Beneath,
        Base,
        "abscheeky/garbagelink",
        Path,
        Err(Errno::EXDEV),
    ),
    case(24, InRoot, Base, "/", Path, Ok(".")),
    case(25, InRoot, Base, "cheeky/absself", Path, Ok(".")),
    case(26, InRoot, Base, "abscheeky/absself", Path, Ok(".")),
    case(27, InRoot, Base, "..", Path, Ok(".")),
    case(28, InRoot, Base, "../root/", Path, Ok("root")),
    case(29, InRoot, Base, "cheeky/self", Path, Ok("root")),
    case(30, InRoot, Base, "cheeky/garbageself", Path, Ok("root")),
    case(31, InRoot, Base, "abscheeky/garbageself", Path, Ok("root")),
    case(32, InRoot, Base, "root", Path, Ok("root")),
    case(33, InRoot, Base, "etc", Path, Ok("etc")),
    case(34, InRoot, Base, "etc/passwd", Path, Ok("etc/passwd")),
    case(35, InRoot, Base, "relsym", Path, Ok("etc/passwd")),
    case(36, InRoot, Base, "cheeky/passwd", Path, Ok("etc/passwd")),
    case(37, InRoot, Base, "abscheeky/passwd", Path, Ok("etc/passwd")),
    case(38, InRoot, Base, "abssym", Path, Ok("etc/passwd")),
    case(39, InRoot, Base, "/etc/passwd", Path, Ok("etc/passwd")),
    case(40, InRoot, Base, "cheeky/abspasswd", Path, Ok("etc/passwd")),
    case(
        41,
        InRoot,
        Base,
        "abscheeky/abspasswd",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        42,
        InRoot,
        Base,
        "cheeky/dotdotlink",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        43,
        InRoot,
        Base,
        "abscheeky/dotdotlink",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        44,
        InRoot,
        Base,
        "/../../../../abscheeky/dotdotlink",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        45,
        InRoot,
        Base,
        "cheeky/garbagelink",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        46,
        InRoot,
        Base,
        "abscheeky/garbagelink",
        Path,
        Ok("etc/passwd"),
    ),
    case(
        47,
        InRoot,
        Base,
        "/../../../../abscheeky/garbagelink",
        Path,
        Ok("etc/passwd"),
    ),
    case(48, InRoot, Base, "newfile1", Create, Ok("newfile1")),
    case(49, InRoot, Base, "/newfile2", Create, Ok("newfile2")),
    case(50, InRoot, Base, "/creatlink", Create, Ok("newfile3")),
    case(51, NoXdev, Base, "mnt", Path, Err(Errno::EXDEV)),
    case(52, NoXdev, Base, "mnt/", Path, Err(Errno::EXDEV)),
    case(53, NoXdev, Base, "mnt/.", Path, Err(Errno::EXDEV)),
    case(54, NoXdev, Mnt, ".", Path, Ok("mnt")),
    case(55, NoXdev, Mnt, "..", Path, Err(Errno::EXDEV)),
    case(56, NoXdev, Mnt, "../mnt", Path, Err(Errno::EXDEV)),
    case(57, NoXdev, Mnt, "self", Path, Err(Errno::EXDEV)),
    case(58, NoXdev, Mnt, "absself", Path, Err(Errno::EXDEV)),
    case(59, NoXdev, Mnt, "/", Path, Ok("/")),
    case(60, NoXdev, Root, "/", Path, Ok("/")),
    case(61, NoXdev, Base, "/proc/1", Path, Err(Errno::EXDEV)),
    case(62, NoXdev, Base, "/tmp", Path, Err(Errno::EXDEV)),
    case(63, NoXdev, Proc, "self/root", Path, Err(Errno::EXDEV)),
    case(64, NoXdev, Proc, "self/cwd", Path, Err(Errno::EXDEV)),
    case(65, NoXdev, Proc, SELF_FD, Path, Ok("/proc")),
    case(66, NoMagicLinks, Base, "relsym", Path, Ok("etc/passwd")),
    case(67, NoMagicLinks, Base, "procexe", Path, Err(Errno::ELOOP)),
    case(
        68,
        NoMagicLinks,
        Base,
        "/proc/self/exe",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        69,
        NoMagicLinks,
        Base,
        "/proc/self/exe",
        NoFollow,
        Ok("/proc/self/exe"),
    ),
    case(
        70,
        NoMagicLinks,
        Base,
        "procroot/etc",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        71,
        NoMagicLinks,
        Base,
        "/proc/self/root/etc",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        72,
        NoMagicLinks,
        Base,
        "/proc/self/root/etc",
        NoFollow,
        Err(Errno::ELOOP),
    ),
    case(73, NoSymlinks, Base, ".", Path, Ok(".")),
    case(74, NoSymlinks, Base, "root", Path, Ok("root")),
    case(75, NoSymlinks, Base, "etc", Path, Ok("etc")),
    case(76, NoSymlinks, Base, "etc/passwd", Path, Ok("etc/passwd")),
    case(77, NoSymlinks, Base, "relsym", Path, Err(Errno::ELOOP)),
    case(
        78,
        NoSymlinks,
        Base,
        "reletc/passwd",
        Path,
        Err(Errno::ELOOP),
    ),
    case(79, NoSymlinks, Base, "abssym", Path, Err(Errno::ELOOP)),
    case(
        80,
        NoSymlinks,
        Base,
        "absetc/passwd",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        81,
        NoSymlinks,
        Base,
        "cheeky/garbagelink",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        82,
        NoSymlinks,
        Base,
        "abscheeky/garbagelink",
        Path,
        Err(Errno::ELOOP),
    ),
    case(
        83,
        NoSymlinks,
        Base,
        "abscheeky/absself",
        Path,
        Err(Errno::ELOOP),
    ),
    case(84, NoSymlinks, Base, "relsym", NoFollow, Ok("relsym")),
    case(85, NoSymlinks, Base, "abssym", NoFollow, Ok("abssym")),
    case(
        86,
        NoSymlinks,
        Base,
        "cheeky/garbagelink",
        NoFollow,
        Ok("cheeky/garbagelink"),
    ),
    case(
        87,
        NoSymlinks,
        Base,
        "abscheeky/absself",
        NoFollow,
        Err(Errno::ELOOP),
    ),
    case(
        88,
        NoSymlinks,
        Base,
        "abscheeky/garbagelink",
        NoFollow,
        Err(Errno::ELOOP),
    ),
];
