//! Path-walk torture: walkers against a thread that renames, unlinks, creates, mounts,
//! unmounts and changes attributes, in a fixed cycle of states whose answers are known.
//!
//! The writer bumps an epoch counter before and after each change (odd while a change is in
//! progress). A walker reads the epoch before and after its walk; its answer must be the
//! answer of one of the states the namespace was in between the two reads. Attribute
//! snapshots must be consistent (tags write `size` and `mtime` together). The second test is the
//! openat2 rename attack: `BENEATH` and `IN_ROOT` walks of `c/../../c/../..` paths against
//! a thread exchanging directories; any answer other than `EAGAIN`, `EXDEV` or the starting
//! directory is an escape.
//!
//! Environment: `PATHWALK_TORTURE_WALKS` (walks per walker, default 100,000) and
//! `PATHWALK_TORTURE_SEED` are read; the figures are printed at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread;

use pathwalk::dcache::{Attr, Cred, RenameFlags, Stat};
use pathwalk::{Errno, Lookup, LookupFlags};
use rcu_core::{hosted::Hosted, Counter, Qsbr, Rcu};
use tests::rng::Rng;
use tests::tree::Tree;

static COUNTER: Counter<Hosted, 64> = Counter::new();

fn walks_per_walker() -> u64 {
    std::env::var("PATHWALK_TORTURE_WALKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn seed() -> u64 {
    std::env::var("PATHWALK_TORTURE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_2023)
}

/// A walk's answer: the tag of the file reached (its size), or the error.
type Answer = Result<u64, Errno>;

/// The paths walkers resolve, and the answer each state of the cycle gives for them.
const PATHS: [&str; 4] = [
    "/a/b/c/d/file",
    "/a/b/c/../c/./d//file",
    "/a/y/c/d/file",
    "/link/d/file",
];

/// The writer's cycle. State k (after k changes) is `STATES[k % STATES.len()]`.
#[derive(Clone, Copy, Debug)]
enum Change {
    /// Exchange `/a/b` and `/a/y`.
    Exchange,
    /// Bind-mount `/src` (holding `d/file` tagged 3) on `/a/b/c`.
    Mount,
    /// Unmount it.
    Unmount,
    /// Unlink `/a/b/c/d/file`.
    Unlink,
    /// Create it again (tag 0), then tag it 1.
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

/// The answers of the state after `k` changes, for each path of `PATHS`.
fn answers(k: u64) -> [Answer; 4] {
    // `/link -> a/b/c`, so it follows whatever `/a/b/c` is.
    let state = k % CYCLE.len() as u64;
    let (b, y) = match state {
        // After the first exchange `/a/b` is the old `/a/y` (tag 2) and vice versa.
        1 => (Ok(2), Ok(1)),
        // Bind mount of /src on /a/b/c.
        3 => (Ok(3), Ok(2)),
        // Unlinked, re-created untagged.
        5 => (Err(Errno::ENOENT), Ok(2)),
        6 => (Ok(0), Ok(2)),
        _ => (Ok(1), Ok(2)),
    };
    [b, b, y, b]
}

fn build<R: Rcu + 'static>(rcu: &'static R) -> Tree<R> {
    let t = Tree::new(rcu);
    for dir in [
        "/a", "/a/b", "/a/b/c", "/a/b/c/d", "/a/y", "/a/y/c", "/a/y/c/d", "/src", "/src/d",
    ] {
        t.mkdir(dir, 0o755);
    }
    for (file, tag) in [
        ("/a/b/c/d/file", 1),
        ("/a/y/c/d/file", 2),
        ("/src/d/file", 3),
    ] {
        t.touch(file, 0o644);
        tag_file(&t, file, tag);
    }
    t.symlink("/link", "a/b/c");
    t
}

/// Sets a file's size and mtime to `tag`, in one attribute update.
fn tag_file<R: Rcu + 'static>(t: &Tree<R>, path: &str, tag: u64) {
    let at = t.at(path);
    t.fs.set_attr(at.location(), |attr: &mut Attr| {
        attr.size = tag;
        attr.mtime = tag;
    })
    .unwrap();
}

fn change<R: Rcu + 'static>(t: &Tree<R>, change: Change) {
    let a = t.at("/a");
    match change {
        Change::Exchange => {
            t.fs.rename(
                a.location(),
                b"b",
                a.location(),
                b"y",
                RenameFlags::EXCHANGE,
                &Cred::ROOT,
            )
            .unwrap()
        }
        Change::Mount => t.bind("/src", "/a/b/c"),
        Change::Unmount => {
            let top = t.at("/a/b/c");
            t.fs.unmount(top.mount()).unwrap();
        }
        Change::Unlink => {
            let d = t.at("/a/b/c/d");
            t.fs.unlink(d.location(), b"file", &Cred::ROOT).unwrap();
        }
        Change::Create => t.touch("/a/b/c/d/file", 0o644),
        Change::Retag => tag_file(t, "/a/b/c/d/file", 1),
    }
}

/// What the walkers saw.
#[derive(Default)]
struct Figures {
    walks: u64,
    ends: BTreeMap<String, u64>,
    answers: BTreeMap<String, u64>,
}

/// A domain under test and what its threads must do for it.
trait Flavor: 'static {
    type Domain: Rcu + 'static;
    const NAME: &'static str;
    fn domain() -> &'static Self::Domain;
    /// The thread starts reading (QSBR: online).
    fn start() {}
    /// The thread is outside every read-side section and holds nothing read in one
    /// (QSBR: reports a quiescent state).
    fn quiescent() {}
    /// The thread stops reading for good (QSBR: offline).
    fn exit() {}
}

struct CounterFlavor;

impl Flavor for CounterFlavor {
    type Domain = Counter<Hosted, 64>;
    const NAME: &'static str = "counter";
    fn domain() -> &'static Self::Domain {
        &COUNTER
    }
}

static QSBR: Qsbr<Hosted, 64> = {
    // SAFETY: the threads of the QSBR torture reach this domain only through `QsbrFlavor`:
    // they come online before reading, report quiescent states only between walks (a walk's
    // guard and everything borrowed from it are gone by then), and go offline before they
    // exit, through `Participant`, on unwinding too.
    unsafe { Qsbr::new() }
};

struct QsbrFlavor;

impl Flavor for QsbrFlavor {
    type Domain = Qsbr<Hosted, 64>;
    const NAME: &'static str = "qsbr";
    fn domain() -> &'static Self::Domain {
        &QSBR
    }
    fn start() {
        QSBR.online();
    }
    fn quiescent() {
        // SAFETY: called between walks, outside every read-side section (see `QSBR`).
        unsafe { QSBR.quiescent_state() };
    }
    fn exit() {
        // SAFETY: as in `quiescent`, and the thread reads nothing afterwards.
        unsafe { QSBR.offline() };
    }
}

/// Brackets a thread's use of the domain; goes offline when dropped, on unwinding too.
struct Participant<F: Flavor>(std::marker::PhantomData<F>);

impl<F: Flavor> Participant<F> {
    fn new() -> Self {
        F::start();
        Self(std::marker::PhantomData)
    }
}

impl<F: Flavor> Drop for Participant<F> {
    fn drop(&mut self) {
        F::exit();
    }
}

fn torture<F: Flavor>() {
    let name = F::NAME;
    let rcu = F::domain();
    // The main thread reads only while it builds the tree.
    let building = Participant::<F>::new();
    let t = build(rcu);
    drop(building);
    let epoch = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let figures = Mutex::new(Figures::default());
    let failures = Mutex::new(Vec::<String>::new());
    let walks = walks_per_walker();

    thread::scope(|s| {
        // The writer cycles until the walkers are done.
        s.spawn(|| {
            let _participant = Participant::<F>::new();
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                // SeqCst: the epoch and the namespace's own orderings make every change
                // ordered between the two bumps for a walker that reads the epoch.
                epoch.fetch_add(1, Ordering::SeqCst);
                change(&t, CYCLE[k % CYCLE.len()]);
                epoch.fetch_add(1, Ordering::SeqCst);
                k += 1;
                F::quiescent();
                rcu.process_callbacks();
            }
        });

        let walkers: Vec<_> = (0..2)
            .map(|w| {
                let (t, epoch, figures, failures) = (&t, &epoch, &figures, &failures);
                s.spawn(move || {
                    let _participant = Participant::<F>::new();
                    let mut rng = Rng::new(seed() ^ w);
                    let mut mine = Figures::default();
                    let root = t.root();
                    for _ in 0..walks {
                        let p = rng.below(PATHS.len() as u64) as usize;
                        let path = PATHS[p];
                        let e0 = epoch.load(Ordering::SeqCst);
                        let walked = Lookup::new(
                            &t.fs,
                            &Cred::ROOT,
                            root,
                            root,
                            path.as_bytes(),
                            LookupFlags::FOLLOW,
                        )
                        .finish_with(
                            |view| t.fs.getattr_rcu(view.guard(), view.location()),
                            |path| t.fs.getattr(path.location()),
                        );
                        let e1 = epoch.load(Ordering::SeqCst);
                        let answer: Answer = match walked.result {
                            // A fresh file (tag 0) has its creation time; tagged ones have mtime == size.
                            Ok(Stat { size, mtime, .. }) if size != 0 && size != mtime => {
                                failures.lock().unwrap().push(format!(
                                    "{path}: torn attributes size {size} mtime {mtime}"
                                ));
                                continue;
                            }
                            Ok(stat) => Ok(stat.size),
                            Err(errno) => Err(errno),
                        };
                        let allowed: Vec<Answer> =
                            (e0 / 2..=e1.div_ceil(2)).map(|k| answers(k)[p]).collect();
                        if !allowed.contains(&answer) {
                            failures.lock().unwrap().push(format!(
                                "{path}: answer {answer:?} between epochs {e0} and {e1}, allowed \
                                 {allowed:?}, walk ended {:?}",
                                walked.end
                            ));
                        }
                        mine.walks += 1;
                        *mine.ends.entry(format!("{:?}", walked.end)).or_default() += 1;
                        *mine.answers.entry(format!("{answer:?}")).or_default() += 1;
                        F::quiescent();
                        if mine.walks % 64 == 0 {
                            rcu.process_callbacks();
                        }
                    }
                    let mut all = figures.lock().unwrap();
                    all.walks += mine.walks;
                    for (k, v) in mine.ends {
                        *all.ends.entry(k).or_default() += v;
                    }
                    for (k, v) in mine.answers {
                        *all.answers.entry(k).or_default() += v;
                    }
                })
            })
            .collect();
        for walker in walkers {
            walker.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });

    let figures = figures.into_inner().unwrap();
    let failures = failures.into_inner().unwrap();
    println!(
        "{name}: {} walks, {} changes; ends {:?}; answers {:?}; walks that excluded renames \
         and mounts {}; failures {}",
        figures.walks,
        epoch.load(Ordering::Relaxed) / 2,
        figures.ends,
        figures.answers,
        t.fs.topology_locks(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} walks gave impossible answers:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(figures.walks, 2 * walks);
    assert_eq!(t.fs.references_held(), 0, "a walk leaked a reference");
    rcu.barrier();
}

#[test]
fn walkers_against_renames_mounts_unlinks_and_attribute_changes_counter() {
    torture::<CounterFlavor>();
}

#[test]
fn walkers_against_renames_mounts_unlinks_and_attribute_changes_qsbr() {
    torture::<QsbrFlavor>();
}

/// The openat2 rename attack (tools/testing/selftests/openat2/rename_attack_test.c).
#[test]
fn scoped_walks_never_escape_a_directory_exchanged_under_them() {
    let t = Tree::new(&COUNTER);
    for dir in ["/r", "/r/a", "/r/a/c", "/r/b"] {
        t.mkdir(dir, 0o755);
    }
    let path = "c/../../".repeat(18);
    let path = path.trim_end_matches('/');
    let stop = AtomicBool::new(false);
    let exchanges = AtomicU64::new(0);
    let walks = walks_per_walker();
    let mut tally = BTreeMap::<String, u64>::new();
    let a_ino = t.ino("/r/a");
    thread::scope(|s| {
        s.spawn(|| {
            let r = t.at("/r");
            let a = t.at("/r/a");
            while !stop.load(Ordering::Relaxed) {
                t.fs.rename(
                    a.location(),
                    b"c",
                    r.location(),
                    b"b",
                    RenameFlags::EXCHANGE,
                    &Cred::ROOT,
                )
                .unwrap();
                exchanges.fetch_add(1, Ordering::Relaxed);
                COUNTER.process_callbacks();
            }
        });
        let a = t.at("/r/a");
        let mut escapes = Vec::new();
        for i in 0..walks {
            let flags = if i % 2 == 0 {
                LookupFlags::BENEATH
            } else {
                LookupFlags::IN_ROOT
            };
            let walked = Lookup::new(
                &t.fs,
                &Cred::ROOT,
                t.root(),
                a.location(),
                path.as_bytes(),
                flags,
            )
            .finish_with(
                |view| t.fs.getattr_rcu(view.guard(), view.location()),
                |path| t.fs.getattr(path.location()),
            );
            let key = match &walked.result {
                Ok(stat) if stat.ino == a_ino => "ok a".to_string(),
                Err(Errno::EAGAIN) => "EAGAIN".into(),
                Err(Errno::EXDEV) => "EXDEV".into(),
                other => {
                    escapes.push(format!("{flags:?}: {other:?}"));
                    "escape".into()
                }
            };
            *tally
                .entry(format!("{flags:?} {key} {:?}", walked.end))
                .or_default() += 1;
        }
        stop.store(true, Ordering::Relaxed);
        println!(
            "rename attack: {walks} walks, {} exchanges: {tally:?}",
            exchanges.load(Ordering::Relaxed)
        );
        assert!(
            escapes.is_empty(),
            "{} escapes: {:?}",
            escapes.len(),
            &escapes[..escapes.len().min(10)]
        );
    });
    COUNTER.barrier();
}
