//! Path walks on `pathwalk::dcache` against a CPU that renames and mounts (the host version
//! is `tests/tests/pathwalk_torture.rs`).
//!
//! **The stat storm** (QSBR domain). CPU 0 cycles the namespace through seven states whose
//! answers are known: exchange `/a/b` and `/a/y` (twice), bind-mount `/src` on `/a/b/c`,
//! unmount it, unlink `/a/b/c/d/file`, create it again, tag it. It bumps an epoch counter
//! before and after each change (odd while one is in progress). The other CPUs `stat` four
//! paths through `Lookup::finish_with` (`getattr_rcu` under RCU, `getattr` on the
//! legitimized path otherwise), reading the epoch before and after: each answer must be the
//! answer of one of the states the namespace went through in between, and the attributes
//! must not be torn (tags write `size` and `mtime` together). The figures say how the walks
//! ended: under RCU with no reference taken (`End::Rcu`), unlazy, ref-walk restart,
//! revalidate restart.
//!
//! **The rename attack** (counter domain; openat2's `rename_attack_test.c`). CPU 0
//! exchanges `/r/a/c` and `/r/b` as fast as it can while the other CPUs resolve
//! `c/../../c/../..…` from `/r/a` with `BENEATH` or `IN_ROOT`: the only valid answers are
//! `/r/a` itself, `EAGAIN` and `EXDEV`; anything else escaped the scope.

use alloc::format;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use pathwalk::dcache::{Attr, Cred, RenameFlags, Stat};
use pathwalk::{End, Errno, Lookup, LookupFlags};
use rcu_core::{Counter, Qsbr, Rcu};

use super::tree::Tree;
use super::Ctx;
use crate::percpu::MAX_CPUS;
use crate::platform::{Kernel, COUNTER, QSBR};
use crate::rng::Rng;

/// Stat calls per walking CPU in the storm.
const STORM_WALKS_PER_CPU: u64 = 20_000;
/// Scoped walks per walking CPU in the rename attack.
const ATTACK_WALKS_PER_CPU: u64 = 5_000;

/// A walk's answer: the tag of the file reached (its size), or the error.
type Answer = Result<u64, Errno>;

/// The paths the storm's walkers stat.
const PATHS: [&str; 4] = [
    "/a/b/c/d/file",
    "/a/b/c/../c/./d//file",
    "/a/y/c/d/file",
    "/link/d/file",
];

/// The writer's cycle; the state after `k` changes is the one after `CYCLE[..k % 7]`.
#[derive(Clone, Copy)]
enum Change {
    Exchange,
    Mount,
    Unmount,
    Unlink,
    Create,
    Retag,
}

const CYCLE: [Change; 7] = [
    Change::Exchange,
    Change::Exchange,
    Change::Mount,
    Change::Unmount,
    Change::Unlink,
    Change::Create,
    Change::Retag,
];

/// The answers of the state after `k` changes, for each of [`PATHS`].
fn answers(k: u64) -> [Answer; 4] {
    let (b, y) = match k % CYCLE.len() as u64 {
        // After the first exchange `/a/b` is the old `/a/y` (tag 2) and vice versa.
        1 => (Ok(2), Ok(1)),
        // `/src` (tag 3) bind-mounted on `/a/b/c`.
        3 => (Ok(3), Ok(2)),
        // Unlinked, then re-created untagged.
        5 => (Err(Errno::ENOENT), Ok(2)),
        6 => (Ok(0), Ok(2)),
        _ => (Ok(1), Ok(2)),
    };
    // `/link -> a/b/c` follows whatever `/a/b/c` is.
    [b, b, y, b]
}

/// Sets a file's size and mtime to `tag`, in one attribute update.
fn tag<R: Rcu + 'static>(t: &Tree<R>, path: &str, tag: u64) {
    t.fs.set_attr(t.at(path).location(), |attr: &mut Attr| {
        attr.size = tag;
        attr.mtime = tag;
    })
    .unwrap_or_else(|errno| panic!("set_attr {path:?}: {errno}"));
}

/// Exchanges `dir_a/name_a` and `dir_b/name_b` (`renameat2` with `RENAME_EXCHANGE`).
fn exchange<R: Rcu + 'static>(t: &Tree<R>, dir_a: &str, name_a: &str, dir_b: &str, name_b: &str) {
    let (a, b) = (t.at(dir_a), t.at(dir_b));
    t.fs.rename(
        a.location(),
        name_a.as_bytes(),
        b.location(),
        name_b.as_bytes(),
        RenameFlags::EXCHANGE,
        &Cred::ROOT,
    )
    .unwrap_or_else(|errno| panic!("exchange {name_a:?} and {name_b:?}: {errno}"));
}

// ---------------------------------------------------------------------------------------
// The stat storm
// ---------------------------------------------------------------------------------------

/// What the storm shares: the namespace, the epoch, the figures.
struct Storm {
    tree: Tree<Qsbr<Kernel, MAX_CPUS>>,
    /// Twice the changes made, plus one while a change is in progress.
    epoch: AtomicU64,
    walkers_left: AtomicUsize,
    walks: AtomicU64,
    /// Walks by how they ended: `End::Rcu`, `Unlazy`, `RefRestart`, `RevalRestart`.
    ends: [AtomicU64; 4],
    /// Answers: tags 0 to 3, `ENOENT`.
    answers: [AtomicU64; 5],
    failures: AtomicU64,
}

/// Runs the storm on every CPU; CPU 0 prints the figures and returns the verdict.
pub fn storm(ctx: &Ctx) -> bool {
    ctx.with_shared(
        || {
            let storm = Storm {
                tree: Tree::new(&QSBR),
                epoch: AtomicU64::new(0),
                walkers_left: AtomicUsize::new(ctx.cpus - 1),
                walks: AtomicU64::new(0),
                ends: Default::default(),
                answers: Default::default(),
                failures: AtomicU64::new(0),
            };
            build_storm_tree(&storm.tree);
            storm
        },
        |storm| {
            if ctx.is_reporter() {
                storm_writer(storm)
            } else {
                storm_walker(storm, ctx.cpu);
                0
            }
        },
        storm_report,
    )
}

fn build_storm_tree<R: Rcu + 'static>(t: &Tree<R>) {
    for dir in [
        "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/y", "/a/y/c", "/a/y/c/d", "/src", "/src/d",
    ] {
        t.mkdir(dir, 0o755);
    }
    for (file, file_tag) in [
        ("/a/b/c/d/file", 1),
        ("/a/y/c/d/file", 2),
        ("/src/d/file", 3),
    ] {
        t.touch(file, 0o644);
        tag(t, file, file_tag);
    }
    t.symlink("/link", "a/b/c");
}

/// CPU 0: cycles through the changes until every walker is done; returns how many it made.
fn storm_writer(storm: &Storm) -> u64 {
    let t = &storm.tree;
    let mut k = 0;
    // Relaxed: the writer only needs to stop eventually.
    while storm.walkers_left.load(Ordering::Relaxed) != 0 {
        // SeqCst: with the namespace's own orderings, every change lies between the two
        // bumps for a walker that reads the epoch (SeqCst) before and after its walk.
        storm.epoch.fetch_add(1, Ordering::SeqCst);
        match CYCLE[k as usize % CYCLE.len()] {
            Change::Exchange => exchange(t, "/a", "b", "/a", "y"),
            Change::Mount => t.bind("/src", "/a/b/c"),
            Change::Unmount => {
                let top = t.at("/a/b/c");
                t.fs.unmount(top.mount())
                    .unwrap_or_else(|errno| panic!("unmount: {errno}"));
            }
            Change::Unlink => {
                let d = t.at("/a/b/c/d");
                t.fs.unlink(d.location(), b"file", &Cred::ROOT)
                    .unwrap_or_else(|errno| panic!("unlink: {errno}"));
            }
            Change::Create => t.touch("/a/b/c/d/file", 0o644),
            Change::Retag => tag(t, "/a/b/c/d/file", 1),
        }
        storm.epoch.fetch_add(1, Ordering::SeqCst);
        k += 1;
        // SAFETY: the writer holds nothing from a read-side section between changes.
        unsafe { QSBR.quiescent_state() };
    }
    k
}

/// A walking CPU: [`STORM_WALKS_PER_CPU`] stats of random paths, each answer checked.
fn storm_walker(storm: &Storm, cpu: usize) {
    let mut rng = Rng::new(0x5EED_2023 ^ cpu as u64);
    let fs = &storm.tree.fs;
    let root = fs.root();
    let mut ends = [0u64; 4];
    let mut answers = [0u64; 5];
    for walk in 0..STORM_WALKS_PER_CPU {
        let p = rng.below(PATHS.len() as u64) as usize;
        let path = PATHS[p];
        let e0 = storm.epoch.load(Ordering::SeqCst);
        let walked = Lookup::new(
            fs,
            &Cred::ROOT,
            root,
            root,
            path.as_bytes(),
            LookupFlags::FOLLOW,
        )
        .finish_with(
            |view| fs.getattr_rcu(view.guard(), view.location()),
            |path| fs.getattr(path.location()),
        );
        let e1 = storm.epoch.load(Ordering::SeqCst);

        ends[end_index(walked.end)] += 1;
        let answer: Answer = match walked.result {
            // A fresh file (tag 0) has its creation time; tagged ones have mtime == size.
            Ok(Stat { size, mtime, .. }) if size != 0 && size != mtime => {
                fail(
                    storm,
                    &format!("{path}: torn attributes size {size} mtime {mtime}"),
                );
                continue;
            }
            Ok(stat) => Ok(stat.size),
            Err(errno) => Err(errno),
        };
        match answer {
            Ok(tag) if tag <= 3 => answers[tag as usize] += 1,
            Err(Errno::ENOENT) => answers[4] += 1,
            _ => {}
        }
        let allowed = (e0 / 2..=e1.div_ceil(2)).any(|k| answers_match(k, p, &answer));
        if !allowed {
            fail(
                storm,
                &format!(
                    "{path}: answer {answer:?} between epochs {e0} and {e1}, walk ended {:?}",
                    walked.end
                ),
            );
        }

        // SAFETY: the walk's guard and everything borrowed from it are gone.
        unsafe { QSBR.quiescent_state() };
        if walk % 64 == 0 {
            QSBR.process_callbacks();
        }
    }
    let add = |sum: &AtomicU64, n: u64| sum.fetch_add(n, Ordering::Relaxed);
    add(&storm.walks, STORM_WALKS_PER_CPU);
    for (sum, &n) in storm.ends.iter().zip(&ends) {
        add(sum, n);
    }
    for (sum, &n) in storm.answers.iter().zip(&answers) {
        add(sum, n);
    }
    // Relaxed: the writer only needs to stop eventually.
    storm.walkers_left.fetch_sub(1, Ordering::Relaxed);
}

fn answers_match(k: u64, p: usize, answer: &Answer) -> bool {
    answers(k)[p] == *answer
}

fn end_index(end: End) -> usize {
    match end {
        End::Rcu => 0,
        End::Unlazy => 1,
        End::RefRestart => 2,
        End::RevalRestart => 3,
    }
}

/// Counts a failure and prints the first few.
fn fail(storm: &Storm, what: &str) {
    if storm.failures.fetch_add(1, Ordering::Relaxed) < 5 {
        crate::kprintln!(
            "pathwalk stat storm: FAIL: CPU {}: {what}",
            crate::percpu::cpu_index()
        );
    }
}

fn storm_report(storm: Storm, changes: u64) -> bool {
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let walks = get(&storm.walks);
    let failures = get(&storm.failures);
    let references = storm.tree.fs.references_held();
    crate::kprintln!(
        "pathwalk stat storm: {walks} lookups, {changes} changes (exchange, mount, unmount, \
         unlink, create, retag); ended End::Rcu {}, unlazy {}, ref restart {}, revalidate \
         restart {}",
        get(&storm.ends[0]),
        get(&storm.ends[1]),
        get(&storm.ends[2]),
        get(&storm.ends[3])
    );
    crate::kprintln!(
        "pathwalk stat storm: answers tag 0 {}, tag 1 {}, tag 2 {}, tag 3 {}, ENOENT {}; \
         impossible answers {failures}; references still held {references}",
        get(&storm.answers[0]),
        get(&storm.answers[1]),
        get(&storm.answers[2]),
        get(&storm.answers[3]),
        get(&storm.answers[4])
    );
    drop(storm);
    QSBR.barrier();
    let passed = failures == 0 && references == 0 && changes > 0;
    super::verdict_line("pathwalk stat storm", passed)
}

// ---------------------------------------------------------------------------------------
// The rename attack
// ---------------------------------------------------------------------------------------

/// What the attack shares.
struct Attack {
    tree: Tree<Counter<Kernel, MAX_CPUS>>,
    /// The inode of `/r/a`, the only file a scoped walk may reach.
    a_ino: u64,
    walkers_left: AtomicUsize,
    /// Answers: `/r/a`, `EAGAIN`, `EXDEV`, escapes.
    outcomes: [AtomicU64; 4],
    ends: [AtomicU64; 4],
}

/// Runs the attack on every CPU; CPU 0 prints the figures and returns the verdict.
pub fn rename_attack(ctx: &Ctx) -> bool {
    ctx.with_shared(
        || {
            let tree = Tree::new(&COUNTER);
            for dir in ["/r", "/r/a", "/r/a/c", "/r/b"] {
                tree.mkdir(dir, 0o755);
            }
            let a_ino = tree.ino("/r/a");
            Attack {
                tree,
                a_ino,
                walkers_left: AtomicUsize::new(ctx.cpus - 1),
                outcomes: Default::default(),
                ends: Default::default(),
            }
        },
        |attack| {
            if ctx.is_reporter() {
                let mut exchanges = 0;
                // Relaxed: the exchanger only needs to stop eventually.
                while attack.walkers_left.load(Ordering::Relaxed) != 0 {
                    exchange(&attack.tree, "/r/a", "c", "/r", "b");
                    exchanges += 1;
                }
                exchanges
            } else {
                attack_walker(attack);
                0
            }
        },
        attack_report,
    )
}

/// A walking CPU: scoped walks of `c/../../` eighteen times over, from `/r/a`.
fn attack_walker(attack: &Attack) {
    let fs = &attack.tree.fs;
    let start = attack.tree.at("/r/a");
    let path = "c/../../".repeat(18);
    let path = path.trim_end_matches('/');
    let mut outcomes = [0u64; 4];
    let mut ends = [0u64; 4];
    for i in 0..ATTACK_WALKS_PER_CPU {
        let flags = if i % 2 == 0 {
            LookupFlags::BENEATH
        } else {
            LookupFlags::IN_ROOT
        };
        let walked = Lookup::new(
            fs,
            &Cred::ROOT,
            fs.root(),
            start.location(),
            path.as_bytes(),
            flags,
        )
        .finish_with(
            |view| fs.getattr_rcu(view.guard(), view.location()),
            |path| fs.getattr(path.location()),
        );
        ends[end_index(walked.end)] += 1;
        let outcome = match &walked.result {
            Ok(stat) if stat.ino == attack.a_ino => 0,
            Err(Errno::EAGAIN) => 1,
            Err(Errno::EXDEV) => 2,
            other => {
                if outcomes[3] == 0 {
                    crate::kprintln!(
                        "pathwalk rename attack: FAIL: CPU {}: {flags:?} escaped: {other:?}",
                        crate::percpu::cpu_index()
                    );
                }
                3
            }
        };
        outcomes[outcome] += 1;
    }
    drop(start);
    for (sum, &n) in attack.outcomes.iter().zip(&outcomes) {
        sum.fetch_add(n, Ordering::Relaxed);
    }
    for (sum, &n) in attack.ends.iter().zip(&ends) {
        sum.fetch_add(n, Ordering::Relaxed);
    }
    // Relaxed: the exchanger only needs to stop eventually.
    attack.walkers_left.fetch_sub(1, Ordering::Relaxed);
}

fn attack_report(attack: Attack, exchanges: u64) -> bool {
    let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let escapes = get(&attack.outcomes[3]);
    let references = attack.tree.fs.references_held();
    crate::kprintln!(
        "pathwalk rename attack: {} scoped lookups (BENEATH and IN_ROOT alternating) against \
         {exchanges} exchanges: /r/a {}, EAGAIN {}, EXDEV {}, escapes {escapes}; ended End::Rcu \
         {}, unlazy {}, ref restart {}, revalidate restart {}; references still held \
         {references}",
        attack.outcomes.iter().map(get).sum::<u64>(),
        get(&attack.outcomes[0]),
        get(&attack.outcomes[1]),
        get(&attack.outcomes[2]),
        get(&attack.ends[0]),
        get(&attack.ends[1]),
        get(&attack.ends[2]),
        get(&attack.ends[3])
    );
    drop(attack);
    COUNTER.barrier();
    let passed = escapes == 0 && references == 0 && exchanges > 0;
    super::verdict_line("pathwalk rename attack", passed)
}
