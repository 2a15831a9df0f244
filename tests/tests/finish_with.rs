//! The contract of `finish_with` and the RCU-walk ladder, checked through the reference
//! namespace's counters: reference-count operations, slow lookups, and how each walk ended.

use std::sync::mpsc;
use std::thread;

use pathwalk::dcache::{Cred, RenameFlags, Stat};
use pathwalk::{End, Errno, Lookup, LookupFlags, RcuError, Walked};
use rcu_core::{hosted::Hosted, Counter};
use tests::tree::Tree;

static RCU: Counter<Hosted, 64> = Counter::new();

type T = Tree<Counter<Hosted, 64>>;

const F: LookupFlags = LookupFlags::FOLLOW;

fn fixture() -> T {
    let t = Tree::new(&RCU);
    t.mkdir("/usr", 0o755);
    t.mkdir("/usr/lib", 0o755);
    t.touch("/usr/lib/libc.so", 0o755);
    t.symlink("/lib", "usr/lib");
    t
}

/// `stat` with `finish_with`, counting how often each half ran.
fn counted_stat(t: &T, path: &str, flags: LookupFlags, calls: &mut (u32, u32)) -> Walked<Stat> {
    let root = t.root();
    Lookup::new(&t.fs, &Cred::ROOT, root, root, path.as_bytes(), flags).finish_with(
        |view| {
            calls.0 += 1;
            t.fs.getattr_rcu(view.guard(), view.location())
        },
        |path| {
            calls.1 += 1;
            t.fs.getattr(path.location())
        },
    )
}

#[test]
fn finish_with_on_a_cached_path_takes_no_reference() {
    let t = fixture();
    let ino = t.ino("/usr/lib/libc.so");
    let before = t.fs.ref_ops();
    let mut calls = (0, 0);
    let walked = counted_stat(&t, "/lib/libc.so", F, &mut calls);
    assert_eq!(walked.result.unwrap().ino, ino);
    assert_eq!(walked.end, End::Rcu);
    assert_eq!(calls, (1, 0), "the callback ran once, the fallback never");
    assert_eq!(t.fs.ref_ops(), before, "no reference taken or dropped");

    // Errors found under RCU are reported without references too.
    let walked = counted_stat(&t, "/usr/lib/missing", F, &mut calls);
    assert_eq!(
        (walked.result.unwrap_err(), walked.end),
        (Errno::ENOENT, End::Rcu)
    );
    assert_eq!(t.fs.ref_ops(), before);

    // `finish()` legitimizes at the end: a mount and a dentry reference, both dropped
    // with the path.
    let path = Lookup::new(&t.fs, &Cred::ROOT, t.root(), t.root(), b"/lib/libc.so", F).finish();
    assert_eq!(path.end, End::Unlazy);
    drop(path.result.unwrap());
    assert_eq!(t.fs.ref_ops(), before + 4);
}

#[test]
fn a_declining_callback_costs_one_walk_and_one_legitimize() {
    let t = fixture();
    t.fs.set_rcu_getattr(t.at("/usr/lib/libc.so").dentry(), false)
        .unwrap();
    let ino = t.ino("/usr/lib/libc.so");
    let before = t.fs.ref_ops();
    let mut calls = (0, 0);
    let walked = counted_stat(&t, "/lib/libc.so", F, &mut calls);
    assert_eq!(walked.result.unwrap().ino, ino);
    assert_eq!(
        walked.end,
        End::Unlazy,
        "legitimized after the walk, not walked again"
    );
    assert_eq!(calls, (1, 1));
    // One legitimize (mount + dentry) and its release: nothing else.
    assert_eq!(t.fs.ref_ops() - before, 4);
}

/// Runs a `finish_with` whose callback returns `answer` after another thread renamed the
/// final file away and back (so the name resolves again, to the same file, but its `d_seq`
/// moved). Returns the result, how the walk ended, and how often each half ran.
fn stat_racing_a_rename(t: &T, answer: Result<u64, RcuError>) -> (Walked<u64>, (u32, u32)) {
    let (go, renamer_go) = mpsc::channel::<()>();
    let (renamed, wait_renamed) = mpsc::channel::<()>();

    thread::scope(|s| {
        s.spawn(move || {
            renamer_go.recv().unwrap();
            let lib = t.at("/usr/lib");
            for (from, to) in [
                (&b"libc.so"[..], &b"libc.tmp"[..]),
                (b"libc.tmp", b"libc.so"),
            ] {
                let dir = lib.location();
                t.fs.rename(dir, from, dir, to, RenameFlags::empty(), &Cred::ROOT)
                    .unwrap();
            }
            renamed.send(()).unwrap();
        });
        let mut calls = (0, 0);
        let root = t.root();
        let walked = Lookup::new(&t.fs, &Cred::ROOT, root, root, b"/lib/libc.so", F).finish_with(
            |_view| {
                calls.0 += 1;
                // The file is renamed while the callback holds its answer in hand.
                go.send(()).unwrap();
                wait_renamed.recv().unwrap();
                answer
            },
            |path| {
                calls.1 += 1;
                Ok(t.fs.getattr(path.location())?.ino)
            },
        );
        (walked, calls)
    })
}

#[test]
fn a_callback_result_invalidated_by_a_concurrent_rename_is_discarded() {
    let t = fixture();
    let ino = t.ino("/usr/lib/libc.so");
    // A (wrong) success is discarded: the answer comes from the fallback, after a ref-mode
    // walk, since legitimizing the moved dentry failed as well.
    let (walked, calls) = stat_racing_a_rename(&t, Ok(u64::MAX));
    assert_eq!(walked.result, Ok(ino));
    assert_eq!(walked.end, End::RefRestart);
    assert_eq!(calls, (1, 1));

    // So is an error.
    let eio = Errno::from_code(5).unwrap();
    let (walked, calls) = stat_racing_a_rename(&t, Err(RcuError::Errno(eio)));
    assert_eq!(walked.result, Ok(ino));
    assert_eq!(walked.end, End::RefRestart);
    assert_eq!(calls, (1, 1));

    // Without the race, the callback's answer stands, errors included.
    let root = t.root();
    let walked: Walked<u64> = Lookup::new(&t.fs, &Cred::ROOT, root, root, b"/lib/libc.so", F)
        .finish_with(|_| Err(RcuError::Errno(eio)), |_| unreachable!());
    assert_eq!((walked.result, walked.end), (Err(eio), End::Rcu));
}

#[test]
fn cached_lookups_fail_with_eagain_instead_of_leaving_rcu() {
    let t = fixture();
    let root = t.root();
    let cached = |path: &str| {
        Lookup::new(
            &t.fs,
            &Cred::ROOT,
            root,
            root,
            path.as_bytes(),
            F | LookupFlags::CACHED,
        )
        .finish()
    };
    // Fully cached: the final legitimize is allowed.
    let walked = cached("/lib/libc.so");
    assert_eq!(walked.end, End::Unlazy);
    assert!(walked.result.is_ok());

    // A name that needs a slow lookup, or a dentry that needs ref-mode revalidation.
    let usr = t.at("/usr");
    t.fs.set_uncached(usr.location(), b"lib", true).unwrap();
    assert_eq!(cached("/lib/libc.so").result.err(), Some(Errno::EAGAIN));
    let slow = t.fs.slow_lookups();
    let walked = Lookup::new(&t.fs, &Cred::ROOT, root, root, b"/lib/libc.so", F).finish();
    assert_eq!(
        walked.end,
        End::Unlazy,
        "left RCU mode in the middle of the walk"
    );
    assert!(walked.result.is_ok());
    assert_eq!(t.fs.slow_lookups(), slow + 1);
    // Now cached: RCU all the way.
    assert!(cached("/lib/libc.so").result.is_ok());

    t.fs.set_needs_revalidate(t.at("/usr/lib").dentry(), true);
    assert_eq!(cached("/usr/lib/libc.so").result.err(), Some(Errno::EAGAIN));
    let walked = Lookup::new(&t.fs, &Cred::ROOT, root, root, b"/usr/lib/libc.so", F).finish();
    assert_eq!(walked.end, End::Unlazy);
    assert!(walked.result.is_ok());
}

#[test]
fn a_stale_entry_costs_one_revalidating_walk() {
    let t = fixture();
    t.fs.set_stale(t.at("/usr/lib").dentry(), true);
    let mut calls = (0, 0);
    let walked = counted_stat(&t, "/usr/lib/libc.so", F, &mut calls);
    assert_eq!(walked.result.unwrap().ino, t.ino("/usr/lib/libc.so"));
    assert_eq!(walked.end, End::RevalRestart);
    assert_eq!(calls, (0, 1));
    // Revalidated: the next walk is fast again.
    let walked = counted_stat(&t, "/usr/lib/libc.so", F, &mut calls);
    assert_eq!(walked.end, End::Rcu);
}

#[test]
fn ref_walk_takes_a_reference_at_every_step() {
    let t = fixture();
    let before = t.fs.ref_ops();
    let root = t.root();
    let walked = Lookup::new(&t.fs, &Cred::ROOT, root, root, b"/usr/lib/libc.so", F)
        .without_rcu()
        .finish();
    assert_eq!(walked.end, End::RefRestart);
    drop(walked.result.unwrap());
    // Start (mount + dentry), then a dentry reference per component, each dropped: the
    // exact count is the namespace's business, but it is well above zero.
    assert!(t.fs.ref_ops() - before >= 8, "{}", t.fs.ref_ops() - before);
}
