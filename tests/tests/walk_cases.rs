//! Generic POSIX/Linux walk cases (`resolve-cases.md` section 3) and libpathrs' resolver
//! cases (section 4) in the reference namespace, each run in RCU and in ref mode, plus the
//! errors of malformed input.

use pathwalk::dcache::{Cred, MountFlags, RenameFlags};
use pathwalk::{End, Errno, Kind, Last, Lookup, LookupFlags, PATH_MAX};
use rcu_core::{hosted::Hosted, Counter};
use tests::tree::{Mode, Tree};

static RCU: Counter<Hosted, 64> = Counter::new();

const USER: Cred = Cred {
    uid: 1000,
    gid: 1000,
};

/// The fixture of both sections.
fn fixture() -> Tree<Counter<Hosted, 64>> {
    let t = Tree::new(&RCU);
    t.mkdir("/tmp", 0o1777);
    t.touch("/tmp/file1", 0o644);
    t.mkdir("/tmp/dir", 0o755);

    // Section 3.
    t.mkdir("/s3", 0o755);
    t.symlink("/s3/dirlink", "/tmp/dir");
    t.symlink("/s3/dangling", "/nonexistent");
    t.symlink("/s3/slashlink", "/tmp/file1/");
    t.symlink("/s3/selfloop", "selfloop");
    t.touch("/s3/file", 0o644);
    t.mkdir("/s3/noexec", 0o700);
    t.touch("/s3/noexec/file", 0o644);

    // Section 4: libpathrs' tree, walked with IN_ROOT from /p.
    t.mkdir("/p", 0o755);
    t.mkdir("/p/a", 0o755);
    t.mkdir("/p/b", 0o755);
    t.mkdir("/p/b/c", 0o755);
    t.mkdir("/p/b/c/d", 0o755);
    t.mkdir("/p/b/c/d/e", 0o755);
    t.mkdir("/p/b/c/d/e/f", 0o755);
    t.touch("/p/b/c/file", 0o644);
    t.symlink("/p/b-file", "b/c/file");
    t.mknod("/p/b/fifo");
    t.mknod("/p/b/sock");
    t.symlink("/p/root-link2", "/..");
    t.mkdir("/p/link3", 0o755);
    t.symlink("/p/link3/target_abs", "/b/c");
    for chain in ["dangling", "dangling-file"] {
        let at = |p: &str| format!("/p/{chain}/{p}");
        t.mkdir(&format!("/p/{chain}"), 0o755);
        t.symlink(&at("a"), "b/c");
        t.mkdir(&at("b"), 0o755);
        t.symlink(&at("b/c"), "../c");
        t.symlink(&at("c"), "d/e");
        t.mkdir(&at("d"), 0o755);
        t.symlink(&at("d/e"), "../e");
        t.symlink(&at("e"), "f/../g");
        t.mkdir(&at("f"), 0o755);
        t.symlink(&at("g"), "h/i/j/nonexistent");
        t.mkdir(&at("h"), 0o755);
        if chain == "dangling" {
            t.mkdir(&at("h/i"), 0o755);
            t.mkdir(&at("h/i/j"), 0o755);
        } else {
            t.touch(&at("h/i"), 0o644);
        }
    }
    t.mkdir("/p/loop", 0o755);
    t.symlink("/p/loop/link", "a/link");
    t.mkdir("/p/loop/a", 0o755);
    t.symlink("/p/loop/a/link", "../b/link");
    t.mkdir("/p/loop/b", 0o755);
    t.symlink("/p/loop/b/link", "/loop/c/link");
    t.mkdir("/p/loop/c", 0o755);
    t.symlink("/p/loop/c/link", "/loop/d/link");
    t.symlink("/p/loop/d", "e");
    t.mkdir("/p/loop/e", 0o755);
    t.symlink("/p/loop/e/link", "../a/link");
    t
}

/// One lookup: start, path, flags, credentials, and the expected inode (by path from the
/// root, resolved without following a final link) or error.
struct Case {
    name: &'static str,
    start: &'static str,
    path: String,
    flags: LookupFlags,
    cred: Cred,
    expect: Result<&'static str, Errno>,
}

fn case(
    name: &'static str,
    start: &'static str,
    path: &str,
    flags: LookupFlags,
    expect: Result<&'static str, Errno>,
) -> Case {
    Case {
        name,
        start,
        path: path.into(),
        flags,
        cred: Cred::ROOT,
        expect,
    }
}

const F: LookupFlags = LookupFlags::FOLLOW;
const NONE: LookupFlags = LookupFlags::empty();
const IN_ROOT_F: LookupFlags = LookupFlags::IN_ROOT.union(LookupFlags::FOLLOW);

fn cases() -> Vec<Case> {
    use Errno::*;
    let mut cases = vec![
        // Section 3.
        case("open /", "/", "/", F, Ok("/")),
        case("open ////", "/", "////", F, Ok("/")),
        case("empty path", "/", "", F, Err(ENOENT)),
        case("dangling symlink", "/", "/s3/dangling", F, Err(ENOENT)),
        case(
            "dirlink O_DIRECTORY",
            "/",
            "/s3/dirlink",
            F | LookupFlags::DIRECTORY,
            Ok("/tmp/dir"),
        ),
        case("dirlink/", "/", "/s3/dirlink/", NONE, Ok("/tmp/dir")),
        case(
            "link body with trailing slash to a file",
            "/",
            "/s3/slashlink",
            F,
            Err(ENOTDIR),
        ),
        case("lstat dirlink", "/", "/s3/dirlink", NONE, Ok("/s3/dirlink")),
        case("lstat dirlink/", "/", "/s3/dirlink/", NONE, Ok("/tmp/dir")),
        case("stat dirlink", "/", "/s3/dirlink", F, Ok("/tmp/dir")),
        case("file/blah", "/", "/s3/file/blah", F, Err(ENOTDIR)),
        case("file/", "/", "/s3/file/", F, Err(ENOTDIR)),
        case(
            "file O_DIRECTORY",
            "/",
            "/s3/file",
            F | LookupFlags::DIRECTORY,
            Err(ENOTDIR),
        ),
        case("openat(filefd, x)", "/s3/file", "x", F, Err(ENOTDIR)),
        case("self-loop", "/", "/s3/selfloop", F, Err(ELOOP)),
        case(
            "self-loop not followed",
            "/",
            "/s3/selfloop",
            NONE,
            Ok("/s3/selfloop"),
        ),
        // Section 4, IN_ROOT from /p.
        case(
            "/../../../../../..",
            "/p",
            "/../../../../../..",
            IN_ROOT_F,
            Ok("/p"),
        ),
        case("root-link2 -> /..", "/p", "root-link2", IN_ROOT_F, Ok("/p")),
        case(
            "dots and slashes",
            "/p",
            "b///././c////.//d/./././///e////.//./f//././././",
            IN_ROOT_F,
            Ok("/p/b/c/d/e/f"),
        ),
        case(
            "no lexical ..",
            "/p",
            "a/foo/../bar/baz",
            IN_ROOT_F,
            Err(ENOENT),
        ),
        case("b/c/file/", "/p", "b/c/file/", IN_ROOT_F, Err(ENOTDIR)),
        case("b/c/file/.", "/p", "b/c/file/.", IN_ROOT_F, Err(ENOTDIR)),
        case("b/c/file/..", "/p", "b/c/file/..", IN_ROOT_F, Err(ENOTDIR)),
        case("b-file/..", "/p", "b-file/..", IN_ROOT_F, Err(ENOTDIR)),
        case("b/fifo/.", "/p", "b/fifo/.", IN_ROOT_F, Err(ENOTDIR)),
        case(
            "b/sock/../foo",
            "/p",
            "b/sock/../foo",
            IN_ROOT_F,
            Err(ENOTDIR),
        ),
        case(
            "link3/target_abs/. nofollow",
            "/p",
            "link3/target_abs/.",
            LookupFlags::IN_ROOT,
            Ok("/p/b/c"),
        ),
        case(
            "link3/target_abs nofollow",
            "/p",
            "link3/target_abs",
            LookupFlags::IN_ROOT,
            Ok("/p/link3/target_abs"),
        ),
        case(
            "link3/target_abs/ nofollow",
            "/p",
            "link3/target_abs/",
            LookupFlags::IN_ROOT,
            Ok("/p/b/c"),
        ),
        case("dangling chain", "/p", "dangling/a", IN_ROOT_F, Err(ENOENT)),
        case(
            "dangling chain through a file",
            "/p",
            "dangling-file/a",
            IN_ROOT_F,
            Err(ENOTDIR),
        ),
        case("symlink loop", "/p", "loop/link", IN_ROOT_F, Err(ELOOP)),
        case(
            "NO_SYMLINKS on a middle link",
            "/p",
            "link3/target_abs/d",
            IN_ROOT_F | LookupFlags::NO_SYMLINKS,
            Err(ELOOP),
        ),
        case(
            "NO_SYMLINKS on a final link",
            "/p",
            "b-file",
            IN_ROOT_F | LookupFlags::NO_SYMLINKS,
            Err(ELOOP),
        ),
        // Malformed input.
        case("NUL byte", "/", "/tmp\0/x", F, Err(EINVAL)),
        case(
            "BENEATH | IN_ROOT",
            "/",
            "/tmp",
            LookupFlags::BENEATH | LookupFlags::IN_ROOT,
            Err(EINVAL),
        ),
        case(
            "empty path with EMPTY",
            "/tmp",
            "",
            LookupFlags::EMPTY,
            Ok("/tmp"),
        ),
    ];
    // A path of PATH_MAX bytes has no room for the NUL; one byte less is fine (and fails
    // only because the names do not exist).
    let long: String = "a/".repeat(PATH_MAX / 2);
    cases.push(case("4096-byte path", "/", &long, F, Err(ENAMETOOLONG)));
    cases.push(case(
        "4095-byte path",
        "/",
        &long[..PATH_MAX - 1],
        F,
        Err(ENOENT),
    ));
    cases.push(case(
        "256-byte component",
        "/",
        &"x".repeat(256),
        F,
        Err(ENAMETOOLONG),
    ));
    cases.push(case(
        "255-byte component",
        "/",
        &"x".repeat(255),
        F,
        Err(ENOENT),
    ));
    // Search permission is checked before the child is looked up.
    for (name, path) in [
        ("EACCES over a file", "/s3/noexec/file"),
        ("EACCES over ENOENT", "/s3/noexec/missing"),
    ] {
        cases.push(Case {
            cred: USER,
            ..case(name, "/", path, F, Err(EACCES))
        });
    }
    cases.push(case(
        "root may search anything",
        "/",
        "/s3/noexec/file",
        F,
        Ok("/s3/noexec/file"),
    ));
    cases
}

#[test]
fn posix_and_libpathrs_cases_in_rcu_and_ref_mode() {
    let t = fixture();
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let start = t.at(case.start);
        let want = case.expect.map(|p| t.ino(p));
        for mode in Mode::ALL {
            let (got, end) = t.resolve(
                &case.cred,
                start.location(),
                case.path.as_bytes(),
                case.flags,
                mode,
            );
            if got != want {
                failures.push(format!(
                    "{:?} ({:?} from {:?}, {:?}, {mode:?}): expected {:?}, got {got:?}",
                    case.name,
                    case.path.get(..60).unwrap_or(&case.path),
                    case.start,
                    case.flags,
                    case.expect
                ));
            }
            if matches!(mode, Mode::RcuStat) && end != End::Rcu {
                failures.push(format!("{:?}: RCU stat ended {end:?}", case.name));
            }
        }
    }
    assert_eq!(t.fs.references_held(), 0, "a walk leaked a reference");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!(
        "POSIX, libpathrs and malformed-input cases: {} cases, {} checks passed",
        cases.len(),
        cases.len() * Mode::ALL.len()
    );
}

#[test]
fn stat_and_lstat_see_the_right_kind() {
    let t = fixture();
    let root = t.root();
    let kind = |path: &str, flags| t.stat(root, path, flags, &Cred::ROOT).result.unwrap().kind;
    assert_eq!(kind("/s3/dirlink", NONE), Kind::Symlink, "lstat(dirlink)");
    assert_eq!(
        kind("/s3/dirlink/", NONE),
        Kind::Directory,
        "lstat(dirlink/)"
    );
    assert_eq!(kind("/s3/dirlink", F), Kind::Directory, "stat(dirlink)");
}

#[test]
fn forty_links_are_followed_and_the_forty_first_fails() {
    let t = fixture();
    t.mkdir("/chain", 0o755);
    t.mkdir("/chain/target", 0o755);
    // l0 -> target, l1 -> l0, ...: following l(n) follows n + 1 links.
    t.symlink("/chain/l0", "target");
    for i in 1..41 {
        t.symlink(&format!("/chain/l{i}"), &format!("l{}", i - 1));
    }
    let root = t.root();
    let target = t.ino("/chain/target");
    for rcu in [true, false] {
        let resolve = |path: &str| {
            let lookup = Lookup::new(&t.fs, &Cred::ROOT, root, root, path.as_bytes(), F);
            let lookup = if rcu { lookup } else { lookup.without_rcu() };
            lookup
                .finish()
                .into_result()
                .map(|p| t.fs.getattr(p.location()).unwrap().ino)
        };
        assert_eq!(resolve("/chain/l39"), Ok(target), "40 links (rcu: {rcu})");
        assert_eq!(
            resolve("/chain/l40"),
            Err(Errno::ELOOP),
            "41 links (rcu: {rcu})"
        );
        // The limit is on links followed in total, not on nesting.
        assert_eq!(
            resolve("/chain/l20/../l18"),
            Ok(target),
            "21 + 19 links (rcu: {rcu})"
        );
        assert_eq!(
            resolve("/chain/l20/../l19"),
            Err(Errno::ELOOP),
            "21 + 20 (rcu: {rcu})"
        );
    }
}

#[test]
fn create_through_links_and_exclusive_create() {
    let t = fixture();
    let root = t.root();
    for rcu in [true, false] {
        // O_CREAT|O_EXCL on a dangling link fails: the link itself exists.
        assert_eq!(
            t.open_create(root, "/s3/dangling", F, true, rcu),
            Err(Errno::EEXIST)
        );
        // O_CREAT on a dangling link creates its target.
        let ino = t.open_create(root, "/s3/dangling", F, false, rcu).unwrap();
        assert_eq!(ino, t.ino("/nonexistent"), "rcu: {rcu}");
        // Without FOLLOW the link itself is opened.
        let ino = t
            .open_create(root, "/s3/dangling", NONE, false, rcu)
            .unwrap();
        assert_eq!(ino, t.ino("/s3/dangling"));
        // A trailing slash or no final name: EISDIR, as open(2) says.
        assert_eq!(
            t.open_create(root, "/tmp/new/", F, false, rcu),
            Err(Errno::EISDIR)
        );
        assert_eq!(
            t.open_create(root, "/tmp/..", F, false, rcu),
            Err(Errno::EISDIR)
        );
        for dir in ["/tmp/dir", "/s3/dirlink"] {
            assert_eq!(t.open_create(root, dir, F, false, rcu), Err(Errno::EISDIR));
        }
    }
}

#[test]
fn namespace_operations_never_follow_the_last_link() {
    let t = fixture();
    let parent = Lookup::new(&t.fs, &Cred::ROOT, t.root(), t.root(), b"/s3/dirlink", F)
        .parent()
        .into_result()
        .unwrap();
    assert_eq!(parent.last, Last::Normal(b"dirlink"));
    let dir = parent.dir.location();
    assert_eq!(
        t.fs.mkdir(dir, b"dirlink", 0o755, &Cred::ROOT).err(),
        Some(Errno::EEXIST)
    );
    assert_eq!(
        t.fs.rmdir(dir, b"dirlink", &Cred::ROOT).err(),
        Some(Errno::ENOTDIR)
    );
    // The other kinds of last component.
    let last = |path: &'static [u8]| {
        Lookup::new(&t.fs, &Cred::ROOT, t.root(), t.root(), path, NONE)
            .parent()
            .into_result()
            .map(|p| (p.last, p.trailing_slash))
    };
    assert_eq!(last(b"/"), Ok((Last::Root, false)));
    assert_eq!(last(b"/tmp/."), Ok((Last::Dot, false)));
    assert_eq!(last(b"/tmp/.."), Ok((Last::DotDot, false)));
    assert_eq!(last(b"/tmp/new/"), Ok((Last::Normal(b"new"), true)));
    assert_eq!(last(b"/s3/file/x").err(), Some(Errno::ENOTDIR));
    assert_eq!(last(b"/missing/x").err(), Some(Errno::ENOENT));
}

#[test]
fn protected_symlinks_nosymfollow_and_write_permission() {
    let t = fixture();
    t.fs.set_protected_symlinks(true);
    let alice = Cred::new(1001, 1001);
    let bob = Cred::new(1002, 1002);
    let bob_other_group = Cred::new(1002, 5000);
    let tmp = t.at("/tmp");
    t.fs.symlink(tmp.location(), b"alice_link", b"/s3/file", &alice)
        .unwrap();
    t.fs.symlink(tmp.location(), b"bob_link", b"/s3/file", &bob_other_group)
        .unwrap();
    let file = Ok(t.ino("/s3/file"));
    let root = t.root();
    let stat = |path: &str, flags, cred: &Cred| {
        t.stat(root, path, flags, cred).result.map(|stat| stat.ino)
    };
    // In a sticky world-writable directory a link is followed only by its owner (or when
    // the directory's owner owns it); not even root may follow alice's link.
    assert_eq!(stat("/tmp/alice_link", F, &bob), Err(Errno::EACCES));
    assert_eq!(stat("/tmp/alice_link", F, &Cred::ROOT), Err(Errno::EACCES));
    assert_eq!(stat("/tmp/alice_link", F, &alice), file);
    // Only the uid matters: bob follows his own link whatever its group.
    assert_eq!(stat("/tmp/bob_link", F, &bob), file);
    // Not following is always allowed.
    assert!(stat("/tmp/alice_link", NONE, &bob).is_ok());
    t.fs.set_protected_symlinks(false);
    assert_eq!(stat("/tmp/alice_link", F, &bob), file);

    // A nosymfollow mount refuses to follow any link in it.
    t.mkdir("/nsf", 0o755);
    let nsf = t.at("/nsf");
    t.fs.mount_new_with(nsf.location(), MountFlags::NOSYMFOLLOW)
        .unwrap();
    drop(nsf);
    t.symlink("/nsf/link", "/s3/file");
    assert_eq!(stat("/nsf/link", F, &Cred::ROOT), Err(Errno::ELOOP));
    assert_eq!(stat("/nsf/link/", NONE, &Cred::ROOT), Err(Errno::ELOOP));
    assert!(stat("/nsf/link", NONE, &Cred::ROOT).is_ok());

    // Creating in a directory without write permission.
    t.mkdir("/ro", 0o555);
    let ro = t.at("/ro");
    assert_eq!(
        t.fs.create(ro.location(), b"new", 0o644, &alice).err(),
        Some(Errno::EACCES)
    );

    // rename never follows a final link: the link itself moves.
    let s3 = t.at("/s3");
    let link_ino = t.ino("/s3/dirlink");
    t.fs.rename(
        s3.location(),
        b"dirlink",
        s3.location(),
        b"moved",
        RenameFlags::empty(),
        &Cred::ROOT,
    )
    .unwrap();
    assert_eq!(t.ino("/s3/moved"), link_ino);
    assert_eq!(t.ino("/tmp/dir"), t.ino("/s3/moved/"));
    drop((tmp, ro, s3));
    assert_eq!(t.fs.references_held(), 0);
}
