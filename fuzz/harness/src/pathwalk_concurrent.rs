//! Lookups racing a scripted sequence of namespace changes on a second thread: every answer
//! must be one the namespace gave in one of the states it passed through while the lookup
//! ran.
//!
//! # Input
//!
//! Read in this order (with [`arbitrary::Unstructured`], one byte per decision; missing
//! bytes read as zero):
//!
//! 1. the header byte:
//!
//!    | bits | what |
//!    |------|------|
//!    | 0-1 | lookups, minus one (1-4) |
//!    | 2-4 | setup operations (0-7) |
//!    | 5-6 | dentry hash buckets: 1024, 1, 4, 16 |
//!    | 7 | *pause*: the racing walks yield the processor at their end (below) |
//!
//! 2. the setup operations, applied after the fixed skeleton (below);
//! 3. the lookups: per lookup a flags byte, a start byte, a shape byte, a prefix byte if
//!    the shape asks for one, and one byte per token;
//! 4. the script: every further operation, up to [`MAX_CHANGES`].
//!
//! A pause is a `yield_now` in the `finish_with` callbacks (before `getattr_rcu`, inside
//! the read-side section, and before `getattr`) and between `finish` and `getattr`: on a
//! shared processor the writer then makes its change right there, which the walk's
//! validation must catch.
//!
//! The skeleton every namespace starts from: directories `/a`, `/a/b`, `/b`, `/b/a`, `/d`;
//! files `/a/b/c`, `/b/d`; links `/a/c -> b/c`, `/c -> a/b`.
//!
//! Operations name what exists when they are decoded, in the namespace as the operations
//! before them left it. The *entries* are the paths of one to three names from `a`, `b`,
//! `c`, `d` that resolve from the root without following a final link (directories are
//! descended into, mounts crossed, links not followed), in byte order of their paths; the
//! *directories* are `/` and the entries of one or two names that are directories. An `E`
//! or `F` byte picks entry `byte % count`, among the entries that suit the operation where
//! it says so (among all if none does); an `N` byte picks a name `a`-`d` (bits 0-1) in
//! directory `(byte >> 2) % count`, which may or may not exist. An operation is an op byte
//! followed by its arguments, one byte each. The op byte's bits 0-3 give the operation
//! (modulo 12), bit 7 makes a change of the script a *burst*: the writer makes it right
//! after the previous one, without waiting for a walk, so that one walk may race several
//! changes. Bits 4-6 are ignored.
//!
//! | op | what | arguments |
//! |----|------|-----------|
//! | 0 | `mkdir` N (mode 0755) | N |
//! | 1 | `create` N (mode 0644) | N |
//! | 2 | `symlink` N with body [`BODIES`]`[b % 8]` | N, b |
//! | 3 | `unlink` E (among the entries that are not directories) | E |
//! | 4 | `rmdir` E (among the directories) | E |
//! | 5 | `rename` E to N | E, N |
//! | 6 | `rename` E and F with [`RenameFlags::EXCHANGE`] | E, F |
//! | 7 | `rename` E to N with [`RenameFlags::NOREPLACE`] | E, N |
//! | 8 | `mount_new` on E (among the directories) | E |
//! | 9 | `bind_mount` E on F | E, F |
//! | 10 | `unmount` the mount E is reached in (\*) | E |
//! | 11 | `set_attr` E: mode [`MODES`]`[m % 4]`, `size` and `mtime` the step's *tag* | E, m |
//!
//! (\*) The top mount if E is a mountpoint; E among the entries reached in a mount other
//! than the root mount.
//!
//! Every operation runs as uid 0 and resolves its paths from the root; the creating and
//! removing ones resolve the parent. An operation that fails is a step all the same (the
//! namespace stays as it was).
//!
//! A lookup's bytes:
//!
//! - flags: bit 0 [`FOLLOW`](LookupFlags::FOLLOW), bit 1
//!   [`DIRECTORY`](LookupFlags::DIRECTORY), bits 2-3 `1`:
//!   [`BENEATH`](LookupFlags::BENEATH), `2`: [`IN_ROOT`](LookupFlags::IN_ROOT), bit 4
//!   [`NO_XDEV`](LookupFlags::NO_XDEV), bit 5 [`NO_SYMLINKS`](LookupFlags::NO_SYMLINKS),
//!   bit 6 ends with `finish` then `getattr` (else `finish_with` with `getattr_rcu` and
//!   `getattr`), bit 7 runs as uid 1000 (else uid 0);
//! - start: `byte % 4` picks `/`, `/a`, `/b` or `/d`, resolved once after the setup (the
//!   root if that fails) and held referenced for the whole run, like a directory fd;
//! - shape: bits 0-2 the token count (0-7), bit 3 a leading slash, bit 4 a trailing slash,
//!   bit 5 a prefix: the path of entry `byte % count` (next byte, entries as after the
//!   setup), the tokens following it;
//! - token: `byte % 8`: 0-3 a name `a`-`d`, 4 `.`, 5 and 6 `..`, 7 an empty component.
//!
//! # What is checked
//!
//! A *reference* namespace is built (skeleton, setup) and the script applied to it step by
//! step on one thread; before the first change and after each one (state k is the state
//! after k changes) every lookup is resolved there and its answer recorded: the errno, or
//! the identity of the object reached (inode number, mount id). Identical builds give
//! identical inode numbers and mount ids, since one writer allocates them in order; that is
//! checked by comparing the results of every operation (new inode numbers and mount ids
//! included) between the two namespaces.
//!
//! A second namespace is built the same way; a writer thread applies the script to it,
//! bumping an epoch before and after each change (odd while a change runs), while this
//! thread walks the lookups in turn, each starting in RCU mode and, the next time, in ref
//! mode ([`Lookup::without_rcu`]), and all of them once more after the writer is done. The
//! two pace each other without sleeping: the writer makes a change once a walk has
//! completed since the previous one (a burst at once); the walker walks on while the epoch
//! moves, but makes at most one pass (every lookup both ways) per epoch value, so that it
//! cannot run ahead of a writer that shares its processor.
//!
//! A walk that read `e0` before and `e1` after must give the answer of some state k with
//! `e0 / 2 <= k <= (e1 + 1) / 2`. A scoped lookup may also give `EAGAIN` if a change that
//! moves `rename_lock` or `mount_lock` (a rename, mount change, unlink, rmdir or attribute
//! change) succeeded in the reference among the changes `e0 / 2 + 1 ..= (e1 + 1) / 2` (the
//! engine's answer to such a race under `..`). The
//! attributes read must be consistent: a tagged inode (`mtime` at or above [`TAG_BASE`])
//! has the `size` and mode of the `set_attr` the tag names, and its tag is the one it had
//! in some state of the window. No reference may be left behind in either namespace.
//!
//! Every state, both namespaces and two threads are per run; only the RCU domain [`RCU`] is
//! shared between runs. The hosted platform gives a thread's reader slot back when the
//! thread exits; the writer is joined explicitly, which waits for its thread-local
//! destructors, so runs never accumulate slots.
//!
//! Used by the `pathwalk_concurrent` fuzz target and, with pseudo-random inputs, by a stable
//! test.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::thread;

use arbitrary::Unstructured;
use pathwalk::dcache::{Cred, Dcache, RenameFlags, Stat, DEFAULT_BUCKETS};
use pathwalk::{End, Errno, Kind, Last, Location, Lookup, LookupFlags, RefPath};
use rcu_core::{hosted::Hosted, Counter};

/// The RCU domain of every namespace the harness builds.
pub static RCU: Counter<Hosted, 64> = Counter::new();

/// The namespace type.
pub type Fs = Dcache<Counter<Hosted, 64>>;

/// Changes in the script, at most.
pub const MAX_CHANGES: usize = 16;

/// The names entries and paths are made of.
pub const NAMES: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];

/// The bodies of the links operation 2 creates.
pub const BODIES: [&[u8]; 8] = [b"a", b"b/c", b"..", b"../b", b"/a", b"/b/a/..", b"d", b"."];

/// The permission bits operation 11 sets: searchable by uid 1000 or not.
pub const MODES: [u32; 4] = [0o755, 0o700, 0o711, 0o000];

/// The starting directories lookups pick from.
pub const STARTS: [&[u8]; 4] = [b"/", b"/a", b"/b", b"/d"];

/// Tags are `TAG_BASE + step`: far above any time the namespace stamps by itself.
pub const TAG_BASE: u64 = 1 << 40;

/// The unprivileged identity lookups may run as.
pub const USER: Cred = Cred::new(1000, 1000);

/// Dentry hash buckets, by header bits 5-6.
const BUCKETS: [usize; 4] = [DEFAULT_BUCKETS, 1, 4, 16];

/// Operation codes (`byte % OPS`).
const OPS: u8 = 12;

/// What a lookup reached: the inode number and the id of the mount it was reached in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Obj {
    /// The inode number.
    pub ino: u64,
    /// The mount id.
    pub mount: u64,
}

/// A lookup's answer.
pub type Answer = Result<Obj, Errno>;

/// What a run saw, for tests that check what their inputs reach.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Walks made by the racing thread.
    pub walks: u64,
    /// Walks whose epoch window spanned more than one state.
    pub raced: u64,
    /// Racing walks answered with a state other than the first of their window.
    pub moved: u64,
    /// Scoped walks answered `EAGAIN` (allowed only in a window with a topology change).
    pub eagain: u64,
    /// Changes in the script.
    pub changes: u64,
    /// Changes that failed with an errno.
    pub failed_changes: u64,
    /// Racing walks by answer kind ("Ok" or the errno) and by how they ended.
    pub answers: BTreeMap<String, u64>,
}

impl Figures {
    /// Adds `other` to these.
    pub fn add(&mut self, other: &Figures) {
        self.walks += other.walks;
        self.raced += other.raced;
        self.moved += other.moved;
        self.eagain += other.eagain;
        self.changes += other.changes;
        self.failed_changes += other.failed_changes;
        for (kind, n) in &other.answers {
            *self.answers.entry(kind.clone()).or_default() += n;
        }
    }
}

/// A path from the root, printed as text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Path(Vec<u8>);

impl std::fmt::Debug for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.escape_ascii())
    }
}

/// One namespace operation (see the table in the module documentation), with its paths.
#[derive(Clone, Debug)]
enum Op {
    Mkdir(Path),
    Create(Path),
    Symlink(Path, Path),
    Unlink(Path),
    Rmdir(Path),
    Rename(Path, Path, RenameFlags),
    Mount(Path),
    Bind(Path, Path),
    Unmount(Path),
    SetAttr(Path, Mode),
}

/// Permission bits, printed in octal.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Mode(u32);

impl std::fmt::Debug for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#o}", self.0)
    }
}

impl Op {
    /// An operation, and whether it is a burst.
    fn decode(u: &mut Unstructured<'_>, here: &Entries) -> (Op, bool) {
        let code = byte(u);
        let op = (code & 15) % OPS;
        let op = match op {
            0 => Op::Mkdir(here.new_name(byte(u))),
            1 => Op::Create(here.new_name(byte(u))),
            2 => {
                let at = here.new_name(byte(u));
                Op::Symlink(at, Path(BODIES[usize::from(byte(u) % 8)].to_vec()))
            }
            3 => Op::Unlink(here.pick(&here.files, byte(u))),
            4 => Op::Rmdir(here.pick(&here.subdirs, byte(u))),
            5 | 7 => {
                let from = here.entry(byte(u));
                let flags = if op == 5 {
                    RenameFlags::empty()
                } else {
                    RenameFlags::NOREPLACE
                };
                Op::Rename(from, here.new_name(byte(u)), flags)
            }
            6 => {
                let a = here.entry(byte(u));
                Op::Rename(a, here.entry(byte(u)), RenameFlags::EXCHANGE)
            }
            8 => Op::Mount(here.pick(&here.subdirs, byte(u))),
            9 => {
                let source = here.entry(byte(u));
                Op::Bind(source, here.entry(byte(u)))
            }
            10 => Op::Unmount(here.pick(&here.mounted, byte(u))),
            _ => {
                let at = here.entry(byte(u));
                Op::SetAttr(at, Mode(MODES[usize::from(byte(u) % 4)]))
            }
        };
        (op, code & 128 != 0)
    }

    /// Whether a success may bump `rename_lock` or `mount_lock`, which makes a racing scoped
    /// `..` give up with `EAGAIN`: renames, mount changes, and in the reference namespace
    /// unlinks, rmdirs and changes of mode (a `SetAttr` whose mode equals the old one does
    /// not, which this check does not tell apart).
    fn moves_topology(&self) -> bool {
        matches!(
            self,
            Op::Rename(..)
                | Op::Mount(_)
                | Op::Bind(..)
                | Op::Unmount(_)
                | Op::Unlink(_)
                | Op::Rmdir(_)
                | Op::SetAttr(..)
        )
    }
}

/// The skeleton every namespace starts from.
fn skeleton() -> Vec<Op> {
    let p = |path: &[u8]| Path(path.to_vec());
    vec![
        Op::Mkdir(p(b"/a")),
        Op::Mkdir(p(b"/a/b")),
        Op::Create(p(b"/a/b/c")),
        Op::Symlink(p(b"/a/c"), p(b"b/c")),
        Op::Mkdir(p(b"/b")),
        Op::Mkdir(p(b"/b/a")),
        Op::Create(p(b"/b/d")),
        Op::Symlink(p(b"/c"), p(b"a/b")),
        Op::Mkdir(p(b"/d")),
    ]
}

/// What exists in a namespace, for decoding the operations that name it.
struct Entries {
    /// Paths of one to three names that resolve, in byte order.
    entries: Vec<Path>,
    /// `/` and the directories among the entries of one or two names, in byte order.
    dirs: Vec<Path>,
    /// The entries that are directories.
    subdirs: Vec<Path>,
    /// The entries that are not directories.
    files: Vec<Path>,
    /// The entries reached in a mount other than the root mount.
    mounted: Vec<Path>,
}

impl Entries {
    fn of(fs: &Fs) -> Entries {
        let mut here = Entries {
            entries: Vec::new(),
            dirs: vec![Path(b"/".to_vec())],
            subdirs: Vec::new(),
            files: Vec::new(),
            mounted: Vec::new(),
        };
        here.descend(fs, &[], 1);
        for list in [
            &mut here.entries,
            &mut here.dirs,
            &mut here.subdirs,
            &mut here.files,
            &mut here.mounted,
        ] {
            list.sort();
        }
        here
    }

    /// Adds the entries below directory `dir` (`""` for the root), at `depth` and below.
    fn descend(&mut self, fs: &Fs, dir: &[u8], depth: usize) {
        for name in NAMES {
            let mut path = dir.to_vec();
            path.push(b'/');
            path.extend_from_slice(name);
            let Ok(at) = resolve(fs, &path) else {
                continue;
            };
            let is_dir = fs
                .getattr(at.location())
                .is_ok_and(|stat| stat.kind == Kind::Directory);
            let mounted = !std::ptr::eq(at.mount(), fs.root().mount);
            drop(at);
            self.entries.push(Path(path.clone()));
            if mounted {
                self.mounted.push(Path(path.clone()));
            }
            if !is_dir {
                self.files.push(Path(path));
                continue;
            }
            self.subdirs.push(Path(path.clone()));
            if depth < 3 {
                self.dirs.push(Path(path.clone()));
                self.descend(fs, &path, depth + 1);
            }
        }
    }

    /// Entry `byte % count` (`/a` if there is none: operations on it then fail).
    fn entry(&self, byte: u8) -> Path {
        self.pick(&self.entries, byte)
    }

    /// Entry `byte % count` of `list`, or of all entries if `list` is empty.
    fn pick(&self, list: &[Path], byte: u8) -> Path {
        let list = if list.is_empty() { &self.entries } else { list };
        match list.len() {
            0 => Path(b"/a".to_vec()),
            len => list[usize::from(byte) % len].clone(),
        }
    }

    /// Name `byte & 3` in directory `(byte >> 2) % count`.
    fn new_name(&self, byte: u8) -> Path {
        let dir = &self.dirs[usize::from(byte >> 2) % self.dirs.len()].0;
        let mut path = if dir == b"/" { Vec::new() } else { dir.clone() };
        path.push(b'/');
        path.extend_from_slice(NAMES[usize::from(byte & 3)]);
        Path(path)
    }
}

/// One lookup.
#[derive(Clone, Debug)]
struct Probe {
    path: Vec<u8>,
    flags: LookupFlags,
    /// Index into [`STARTS`].
    start: usize,
    /// Ends with `finish` then `getattr`, rather than `finish_with`.
    finish: bool,
    user: bool,
}

impl Probe {
    fn decode(u: &mut Unstructured<'_>, here: &Entries) -> Probe {
        let bits = byte(u);
        let mut flags = LookupFlags::empty();
        for (bit, flag) in [
            (0, LookupFlags::FOLLOW),
            (1, LookupFlags::DIRECTORY),
            (4, LookupFlags::NO_XDEV),
            (5, LookupFlags::NO_SYMLINKS),
        ] {
            if bits >> bit & 1 != 0 {
                flags |= flag;
            }
        }
        match bits >> 2 & 3 {
            1 => flags |= LookupFlags::BENEATH,
            2 => flags |= LookupFlags::IN_ROOT,
            _ => {}
        }
        let start = usize::from(byte(u) % 4);
        let shape = byte(u);
        let mut path = Vec::new();
        if shape & 8 != 0 {
            path.push(b'/');
        }
        if shape & 32 != 0 {
            path = here.entry(byte(u)).0;
        }
        for i in 0..shape & 7 {
            if i > 0 || path.last().is_some_and(|&b| b != b'/') {
                path.push(b'/');
            }
            let token: &[u8] = match byte(u) % 8 {
                t @ 0..=3 => NAMES[usize::from(t)],
                4 => b".",
                5 | 6 => b"..",
                _ => b"",
            };
            path.extend_from_slice(token);
        }
        if shape & 16 != 0 {
            path.push(b'/');
        }
        Probe {
            path,
            flags,
            start,
            finish: bits & 64 != 0,
            user: bits & 128 != 0,
        }
    }

    fn cred(&self) -> &'static Cred {
        if self.user {
            &USER
        } else {
            &Cred::ROOT
        }
    }

    fn describe(&self, rcu: bool) -> String {
        format!(
            "lookup {:?} from {:?} with {:?} as uid {}, {} starting in {} mode",
            self.path.escape_ascii().to_string(),
            STARTS[self.start].escape_ascii().to_string(),
            self.flags,
            self.cred().uid,
            if self.finish {
                "finish + getattr"
            } else {
                "finish_with(getattr_rcu, getattr)"
            },
            if rcu { "RCU" } else { "ref" },
        )
    }
}

/// The next byte, zero when the input is exhausted.
fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary().unwrap_or(0)
}

/// The tag of step `step` (counted over skeleton, setup and script).
fn tag(step: usize) -> u64 {
    TAG_BASE + step as u64
}

/// Resolves a path from the root to a referenced location, without following a final link.
fn resolve<'n>(fs: &'n Fs, path: &[u8]) -> Result<RefPath<'n, Fs>, Errno> {
    let root = fs.root();
    Lookup::new(fs, &Cred::ROOT, root, root, path, LookupFlags::empty())
        .finish()
        .into_result()
}

/// Runs `f` on the parent directory of `path` and its last name.
fn in_parent(
    fs: &Fs,
    path: &Path,
    f: impl FnOnce(Location<'_, Fs>, &[u8]) -> Result<u64, Errno>,
) -> Result<u64, Errno> {
    let root = fs.root();
    let parent = Lookup::new(fs, &Cred::ROOT, root, root, &path.0, LookupFlags::empty())
        .parent()
        .into_result()?;
    match parent.last {
        Last::Normal(name) => f(parent.dir.location(), name),
        last => panic!("harness: path {path:?} ends in {last:?}"),
    }
}

/// Applies `op`, step `step`, as uid 0: the new inode number or mount id, the inode whose
/// attributes changed, the mount unmounted, `0` for the others; or the errno.
fn apply(fs: &Fs, op: &Op, step: usize) -> Result<u64, Errno> {
    let root = &Cred::ROOT;
    match op {
        Op::Mkdir(p) => in_parent(fs, p, |dir, name| fs.mkdir(dir, name, 0o755, root)),
        Op::Create(p) => in_parent(fs, p, |dir, name| fs.create(dir, name, 0o644, root)),
        Op::Symlink(p, body) => in_parent(fs, p, |dir, name| fs.symlink(dir, name, &body.0, root)),
        Op::Unlink(p) => in_parent(fs, p, |dir, name| fs.unlink(dir, name, root).map(|()| 0)),
        Op::Rmdir(p) => in_parent(fs, p, |dir, name| fs.rmdir(dir, name, root).map(|()| 0)),
        Op::Rename(from, to, flags) => in_parent(fs, from, |from_dir, from_name| {
            in_parent(fs, to, |to_dir, to_name| {
                fs.rename(from_dir, from_name, to_dir, to_name, *flags, root)
                    .map(|()| 0)
            })
        }),
        Op::Mount(p) => fs.mount_new(resolve(fs, &p.0)?.location()),
        Op::Bind(source, at) => {
            let source = resolve(fs, &source.0)?;
            let at = resolve(fs, &at.0)?;
            fs.bind_mount(source.location(), at.location())
        }
        Op::Unmount(p) => {
            let at = resolve(fs, &p.0)?;
            fs.unmount(at.mount()).map(|()| fs.mount_id(at.mount()))
        }
        Op::SetAttr(p, mode) => {
            let at = resolve(fs, &p.0)?;
            let ino = fs.getattr(at.location())?.ino;
            let tag = tag(step);
            fs.set_attr(at.location(), |attr| {
                attr.mode = mode.0;
                attr.size = tag;
                attr.mtime = tag;
            })?;
            Ok(ino)
        }
    }
}

/// Resolves [`STARTS`]; `None` where that fails (the lookups then start at the root).
fn starts(fs: &Fs) -> Vec<Option<RefPath<'_, Fs>>> {
    STARTS.iter().map(|path| resolve(fs, path).ok()).collect()
}

/// The identity of each start, for comparing two namespaces.
fn start_ids(fs: &Fs, starts: &[Option<RefPath<'_, Fs>>]) -> Vec<Option<(u64, u64)>> {
    starts
        .iter()
        .map(|start| {
            start.as_ref().map(|at| {
                let ino = fs.getattr(at.location()).map_or(0, |stat| stat.ino);
                (ino, fs.mount_id(at.mount()))
            })
        })
        .collect()
}

/// One walk's outcome: the answer, the attributes read (on success), how it ended.
struct Seen {
    answer: Answer,
    stat: Option<Stat>,
    end: End,
}

/// Walks `probe` from `start` (the root when `None`), starting in RCU mode or not; with
/// `pause`, yields the processor between the walk and the `getattr` that ends it (inside
/// the read-side section for `getattr_rcu`, like a preemption there).
fn walk(fs: &Fs, probe: &Probe, start: Option<&RefPath<'_, Fs>>, rcu: bool, pause: bool) -> Seen {
    let pause = || {
        if pause {
            thread::yield_now();
        }
    };
    let root = fs.root();
    let start = start.map_or(root, |at| at.location());
    let lookup = Lookup::new(fs, probe.cred(), root, start, &probe.path, probe.flags);
    let lookup = if rcu { lookup } else { lookup.without_rcu() };
    let (stat, end) = if probe.finish {
        let walked = lookup.finish();
        let stat = walked.result.and_then(|path| {
            pause();
            let stat = fs.getattr(path.location())?;
            assert_eq!(
                stat.mount_id,
                fs.mount_id(path.mount()),
                "getattr reports another mount than the walk's"
            );
            Ok(stat)
        });
        (stat, walked.end)
    } else {
        let walked = lookup.finish_with(
            |view| {
                pause();
                fs.getattr_rcu(view.guard(), view.location())
            },
            |path| {
                pause();
                fs.getattr(path.location())
            },
        );
        (walked.result, walked.end)
    };
    Seen {
        answer: stat.map(|stat| Obj {
            ino: stat.ino,
            mount: stat.mount_id,
        }),
        stat: stat.ok(),
        end,
    }
}

/// The tag an attribute snapshot carries, or why the snapshot is impossible.
fn tag_of(stat: &Stat, tag_modes: &BTreeMap<u64, u32>) -> Result<Option<u64>, String> {
    if stat.mtime < TAG_BASE {
        return Ok(None);
    }
    match tag_modes.get(&stat.mtime) {
        Some(&mode) if stat.size == stat.mtime && stat.mode & 0o7777 == mode => {
            Ok(Some(stat.mtime))
        }
        _ => Err(format!(
            "torn or unknown attributes: size {:#x}, mtime {:#x}, mode {:o} (tags set {:x?})",
            stat.size, stat.mtime, stat.mode, tag_modes
        )),
    }
}

/// The input, decoded against the reference namespace, and what that namespace answered
/// in each state.
struct Reference {
    buckets: usize,
    /// Header bit 7.
    pause: bool,
    /// Skeleton and setup operations, and their results.
    setup: Vec<(Op, Result<u64, Errno>)>,
    start_ids: Vec<Option<(u64, u64)>>,
    probes: Vec<Probe>,
    /// The script, and each change's result.
    script: Vec<(Op, Result<u64, Errno>)>,
    /// Which changes of the script are bursts.
    bursts: Vec<bool>,
    /// The permission bits each tag's `set_attr` sets.
    tag_modes: BTreeMap<u64, u32>,
    /// `answers[k][p]`: lookup `p` in state k.
    answers: Vec<Vec<Answer>>,
    /// `tags[k]`: the tag of every tagged inode in state k.
    tags: Vec<BTreeMap<u64, u64>>,
}

impl Reference {
    /// Decodes `data` while building the reference namespace and applying the script to
    /// it, resolving every lookup in every state.
    fn new(data: &[u8]) -> Reference {
        let mut u = Unstructured::new(data);
        let header = byte(&mut u);
        let lookups = usize::from(header & 3) + 1;
        let setups = usize::from(header >> 2 & 7);
        let buckets = BUCKETS[usize::from(header >> 5 & 3)];
        let fs = Fs::with_buckets(&RCU, buckets);

        let mut tag_modes = BTreeMap::new();
        let mut tags = BTreeMap::new();
        // Applies one operation, keeping the tags.
        let mut step = |op: Op, tag_modes: &mut BTreeMap<u64, u32>, steps: usize| {
            if let Op::SetAttr(_, mode) = op {
                tag_modes.insert(tag(steps), mode.0);
            }
            let result = apply(&fs, &op, steps);
            if let (Op::SetAttr(..), Ok(ino)) = (&op, result) {
                tags.insert(ino, tag(steps));
            }
            (op, result, tags.clone())
        };

        let mut setup = Vec::new();
        for op in skeleton() {
            let (op, result, _) = step(op, &mut tag_modes, setup.len());
            setup.push((op, result));
        }
        let mut state_tags = BTreeMap::new();
        for _ in 0..setups {
            let (op, _) = Op::decode(&mut u, &Entries::of(&fs));
            let (op, result, now) = step(op, &mut tag_modes, setup.len());
            setup.push((op, result));
            state_tags = now;
        }
        let starts = starts(&fs);
        let start_ids = start_ids(&fs, &starts);
        let here = Entries::of(&fs);
        let probes: Vec<Probe> = (0..lookups).map(|_| Probe::decode(&mut u, &here)).collect();

        let resolve_all = |tag_modes: &BTreeMap<u64, u32>, tags: &BTreeMap<u64, u64>| {
            probes
                .iter()
                .map(|probe| {
                    let seen = walk(&fs, probe, starts[probe.start].as_ref(), true, false);
                    if let Some(stat) = &seen.stat {
                        let tag = tag_of(stat, tag_modes).unwrap_or_else(|why| {
                            panic!("{} in a quiet namespace: {why}", probe.describe(true))
                        });
                        assert_eq!(
                            tag,
                            tags.get(&stat.ino).copied(),
                            "harness: tag of inode {} in the reference namespace",
                            stat.ino
                        );
                    }
                    seen.answer
                })
                .collect::<Vec<Answer>>()
        };
        let mut answers = vec![resolve_all(&tag_modes, &state_tags)];
        let mut all_tags = vec![state_tags];
        let mut script = Vec::new();
        let mut bursts = Vec::new();
        while !u.is_empty() && script.len() < MAX_CHANGES {
            let (op, burst) = Op::decode(&mut u, &Entries::of(&fs));
            let (op, result, now) = step(op, &mut tag_modes, setup.len() + script.len());
            script.push((op, result));
            bursts.push(burst);
            answers.push(resolve_all(&tag_modes, &now));
            all_tags.push(now);
        }
        drop(starts);
        assert_eq!(
            fs.references_held(),
            0,
            "the reference namespace holds references after the run"
        );
        Reference {
            buckets,
            pause: header & 128 != 0,
            setup,
            start_ids,
            probes,
            script,
            bursts,
            tag_modes,
            answers,
            tags: all_tags,
        }
    }
}

/// Runs the input (see the module documentation). Panics on any violation.
pub fn run(data: &[u8]) {
    run_figures(data);
}

/// [`run`], returning what the racing walks saw.
pub fn run_figures(data: &[u8]) -> Figures {
    let mut figures = Figures::default();
    if data.is_empty() {
        return figures;
    }
    let reference = Reference::new(data);
    let changes = reference.script.len();
    figures.changes = changes as u64;
    figures.failed_changes = reference.script.iter().filter(|(_, r)| r.is_err()).count() as u64;

    let fs = Fs::with_buckets(&RCU, reference.buckets);
    for (step, (op, result)) in reference.setup.iter().enumerate() {
        assert_eq!(
            apply(&fs, op, step),
            *result,
            "setup step {step} {op:?} gave another result in a second namespace"
        );
    }
    let starts = starts(&fs);
    assert_eq!(
        start_ids(&fs, &starts),
        reference.start_ids,
        "the starts differ between two identical builds"
    );

    let epoch = AtomicU64::new(0);
    // Pacing, so that every change is raced by walks and the two threads take turns when
    // they share a processor: the writer waits for a walk to complete before each change,
    // the walker for the epoch to move once it has walked every lookup both ways at the
    // current value; each stops waiting once the other is done.
    let walks = AtomicU64::new(0);
    let walker_done = AtomicBool::new(false);
    let writer_done = AtomicBool::new(false);
    let (results, violation) = thread::scope(|s| {
        let writer = s.spawn(|| {
            let _done = Done(&writer_done);
            let mut walked = 0;
            let mut results = Vec::new();
            let changes = reference.script.iter().zip(&reference.bursts);
            for (j, ((op, _), &burst)) in changes.enumerate() {
                // Relaxed: pacing only, as for `walks` and `walker_done` everywhere; what
                // a walk may see is ordered by the epoch.
                if !burst {
                    pace(|| {
                        walks.load(Ordering::Relaxed) != walked
                            || walker_done.load(Ordering::Relaxed)
                    });
                }
                walked = walks.load(Ordering::Relaxed);
                // Odd: a change is under way. The bump itself need not be ordered before
                // anything; the fence after it is, as a seqlock writer's `smp_wmb`: it
                // pairs with the Acquire fence a walker runs after its walk, so a walk that
                // read any store of this change reads this odd epoch (or a later one)
                // after it.
                epoch.fetch_add(1, Ordering::Relaxed);
                fence(Ordering::Release);
                results.push(apply(&fs, op, reference.setup.len() + j));
                // Release pairs with the Acquire load of the epoch before each walk: a walk
                // that reads this even epoch (or a later one) sees the whole change.
                epoch.fetch_add(1, Ordering::Release);
            }
            results
        });
        // Tells the writer to stop waiting for walks when the walker leaves, unwinding too.
        let done = Done(&walker_done);
        let mut violation = None;
        // At most one pass (every lookup both ways) per epoch value: the epoch and the
        // walks begun at it. So there are at most `(2 * changes + 2) * pairs` walks.
        let pairs = 2 * reference.probes.len();
        let mut quiet = (0, 0);
        // The walks left of the pass made once the writer is done.
        let mut last_pass = None;
        for i in 0.. {
            if last_pass.is_none() {
                // Relaxed: pacing only; each walk orders itself with its own epoch reads.
                let now = epoch.load(Ordering::Relaxed);
                if now != quiet.0 {
                    quiet = (now, 0);
                }
                if quiet.1 == pairs {
                    pace(|| {
                        epoch.load(Ordering::Relaxed) != quiet.0
                            || writer_done.load(Ordering::Relaxed)
                    });
                    quiet = (epoch.load(Ordering::Relaxed), 0);
                }
                quiet.1 += 1;
                // Acquire pairs with the Release store of the writer's `Done`: the last
                // pass walks in the final state.
                if writer_done.load(Ordering::Acquire) {
                    last_pass = Some(pairs);
                }
            }
            match &mut last_pass {
                Some(0) => break,
                Some(left) => *left -= 1,
                None => {}
            }
            let (p, rcu) = (i / 2 % reference.probes.len(), i % 2 == 0);
            let probe = &reference.probes[p];
            // Acquire pairs with the writer's Release bump after each change.
            let e0 = epoch.load(Ordering::Acquire);
            let start = starts[probe.start].as_ref();
            let seen = walk(&fs, probe, start, rcu, reference.pause);
            // Pairs with the writer's Release fence after its odd bump (see there).
            fence(Ordering::Acquire);
            let e1 = epoch.load(Ordering::Relaxed);
            // Relaxed: pacing only.
            walks.fetch_add(1, Ordering::Relaxed);
            if let Err(why) = reference.check(p, rcu, &seen, e0, e1, &mut figures) {
                violation = Some(why);
                break;
            }
        }
        drop(done);
        let results = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (results, violation)
    });
    if let Some(why) = violation {
        panic!("{why}");
    }
    for (j, ((op, expected), got)) in reference.script.iter().zip(&results).enumerate() {
        assert_eq!(
            got,
            expected,
            "change {} {op:?} gave another result (inode number, mount id or errno) in the \
             raced namespace than in the reference",
            j + 1
        );
    }
    drop(starts);
    assert_eq!(
        fs.references_held(),
        0,
        "walks racing the script left references behind"
    );
    figures
}

/// Sets the flag it holds when dropped: its thread is done, normally or unwinding.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        // Release pairs with the walker's Acquire load of `writer_done` (the writer's
        // changes are all visible to a walk that begins after it); the writer reads
        // `walker_done` for pacing only.
        self.0.store(true, Ordering::Release);
    }
}

/// Waits until `ready` holds: spins briefly, then yields the processor between tries (the
/// other thread may be waiting to run on it).
fn pace(ready: impl Fn() -> bool) {
    let mut spins = 0;
    while !ready() {
        if spins < 64 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            thread::yield_now();
        }
    }
}

impl Reference {
    /// Checks the outcome of a racing walk of lookup `p` that read epochs `e0` (before) and
    /// `e1` (after); `Err` describes the violation.
    fn check(
        &self,
        p: usize,
        rcu: bool,
        seen: &Seen,
        e0: u64,
        e1: u64,
        figures: &mut Figures,
    ) -> Result<(), String> {
        let probe = &self.probes[p];
        let changes = self.script.len();
        // State k lasts from the end of change k (epoch 2k) to the start of change k + 1
        // (epoch 2k + 1). At e0 every change up to e0 / 2 was complete; at e1 none after
        // (e1 + 1) / 2 had begun.
        let (lo, hi) = ((e0 / 2) as usize, e1.div_ceil(2) as usize);
        assert!(
            e0 <= e1 && hi <= changes,
            "harness: epochs {e0}..{e1} with {changes} changes"
        );
        let states = lo..=hi;
        let mut ok = self.answers[states.clone()]
            .iter()
            .any(|answers| answers[p] == seen.answer);
        let topology_race = (lo + 1..=hi).any(|j| {
            let (op, result) = &self.script[j - 1];
            op.moves_topology() && result.is_ok()
        });
        if !ok && seen.answer == Err(Errno::EAGAIN) && probe.flags.is_scoped() && topology_race {
            ok = true;
            figures.eagain += 1;
        }
        let mut why = String::new();
        if !ok {
            why = format!("answer {:?} is no state's", seen.answer);
        } else if let Some(stat) = &seen.stat {
            match tag_of(stat, &self.tag_modes) {
                Err(torn) => why = torn,
                Ok(tag) => {
                    let known = self.tags[states.clone()]
                        .iter()
                        .any(|tags| tags.get(&stat.ino).copied() == tag);
                    if !known {
                        why = format!("inode {} has tag {tag:x?} in no state", stat.ino);
                    }
                }
            }
        }

        figures.walks += 1;
        let kind = match seen.answer {
            Ok(_) => "Ok".to_string(),
            Err(errno) => format!("{errno:?}"),
        };
        *figures
            .answers
            .entry(format!("{kind} {:?}", seen.end))
            .or_default() += 1;
        if hi > lo {
            figures.raced += 1;
            if self.answers[lo][p] != seen.answer {
                figures.moved += 1;
            }
        }
        if why.is_empty() {
            return Ok(());
        }

        let mut message = format!(
            "{}: {why}\n  got {:?} (walk ended {:?}; attributes {:?})\n  epochs {e0} before \
             and {e1} after: states {lo}..={hi} of {changes}\n",
            probe.describe(rcu),
            seen.answer,
            seen.end,
            seen.stat,
        );
        for k in states {
            if k > 0 {
                let (op, result) = &self.script[k - 1];
                let burst = if self.bursts[k - 1] { " (burst)" } else { "" };
                let _ = writeln!(message, "  change {k}{burst}: {op:?} -> {result:?}");
            }
            let _ = writeln!(
                message,
                "  state {k}: {:?}; tags {:x?}",
                self.answers[k][p], self.tags[k]
            );
        }
        let setup: Vec<&Op> = self.setup.iter().map(|(op, _)| op).collect();
        let script: Vec<&Op> = self.script.iter().map(|(op, _)| op).collect();
        let _ = write!(message, "  setup {setup:?}\n  script {script:?}");
        Err(message)
    }
}

/// The bits of a lookup's flags byte, for [`Builder::lookup`].
pub mod flag {
    /// [`LookupFlags::FOLLOW`](pathwalk::LookupFlags::FOLLOW).
    pub const FOLLOW: u8 = 1;
    /// [`LookupFlags::DIRECTORY`](pathwalk::LookupFlags::DIRECTORY).
    pub const DIRECTORY: u8 = 1 << 1;
    /// [`LookupFlags::BENEATH`](pathwalk::LookupFlags::BENEATH).
    pub const BENEATH: u8 = 1 << 2;
    /// [`LookupFlags::IN_ROOT`](pathwalk::LookupFlags::IN_ROOT).
    pub const IN_ROOT: u8 = 2 << 2;
    /// [`LookupFlags::NO_XDEV`](pathwalk::LookupFlags::NO_XDEV).
    pub const NO_XDEV: u8 = 1 << 4;
    /// [`LookupFlags::NO_SYMLINKS`](pathwalk::LookupFlags::NO_SYMLINKS).
    pub const NO_SYMLINKS: u8 = 1 << 5;
    /// End with `finish` then `getattr` instead of `finish_with`.
    pub const FINISH: u8 = 1 << 6;
    /// Walk as uid 1000.
    pub const AS_USER: u8 = 1 << 7;
}

/// Writes inputs by name: operations on paths, lookups as path strings. It applies the
/// operations to a namespace of its own, so that it can encode paths as the entry and
/// directory indices the decoder will see. Operations added before the first lookup are
/// setup operations, those after it the script.
///
/// # Panics
///
/// Every method panics if what it is given cannot be encoded: a path that is not an entry
/// (or a name in a directory) at that point, a token other than a name, `.`, `..` or an
/// empty component, too many setup operations, lookups or tokens.
pub struct Builder {
    fs: Fs,
    buckets: u8,
    pause: bool,
    burst: bool,
    steps: usize,
    setup: Vec<u8>,
    setups: u8,
    lookups: Vec<u8>,
    probes: u8,
    script: Vec<u8>,
    changes: usize,
}

impl Builder {
    /// An input on a namespace with hash bucket choice `buckets` (0-3: 1024, 1, 4, 16),
    /// without pauses.
    pub fn new(buckets: u8) -> Builder {
        let fs = Fs::with_buckets(&RCU, BUCKETS[usize::from(buckets & 3)]);
        let skeleton = skeleton();
        for (step, op) in skeleton.iter().enumerate() {
            apply(&fs, op, step).expect("the skeleton builds");
        }
        Builder {
            fs,
            buckets: buckets & 3,
            pause: false,
            burst: false,
            steps: skeleton.len(),
            setup: Vec::new(),
            setups: 0,
            lookups: Vec::new(),
            probes: 0,
            script: Vec::new(),
            changes: 0,
        }
    }

    /// Makes the next change a burst (op byte bit 7).
    pub fn burst(&mut self) -> &mut Self {
        assert!(self.probes > 0, "bursts are changes of the script");
        self.burst = true;
        self
    }

    /// Makes the racing walks pause at their end (header bit 7).
    pub fn pause(&mut self) -> &mut Self {
        self.pause = true;
        self
    }

    /// The bytes, header first.
    pub fn finish(&self) -> Vec<u8> {
        assert!(self.probes > 0, "an input has at least one lookup");
        let header = (self.probes - 1) | self.setups << 2 | self.buckets << 5;
        let mut bytes = vec![header | u8::from(self.pause) << 7];
        bytes.extend(&self.setup);
        bytes.extend(&self.lookups);
        bytes.extend(&self.script);
        bytes
    }

    /// A lookup: flags (see [`flag`]), start (index into [`STARTS`]) and a path of up to
    /// seven tokens, with or without a leading and a trailing slash.
    pub fn lookup(&mut self, flags: u8, start: u8, path: &str) -> &mut Self {
        assert!(self.probes < 4, "at most four lookups");
        let leading = path.starts_with('/');
        let body = path.trim_start_matches('/');
        let trailing = body.ends_with('/');
        let body = body.trim_end_matches('/');
        let tokens: Vec<u8> = match body {
            "" => Vec::new(),
            body => body
                .split('/')
                .map(|token| match token {
                    "." => 4,
                    ".." => 5,
                    "" => 7,
                    name => NAMES
                        .iter()
                        .position(|n| *n == name.as_bytes())
                        .unwrap_or_else(|| panic!("token {token:?}"))
                        as u8,
                })
                .collect(),
        };
        assert!(tokens.len() <= 7, "at most seven tokens: {path:?}");
        let shape = tokens.len() as u8 | u8::from(leading) << 3 | u8::from(trailing) << 4;
        self.lookups.extend([flags, start % 4, shape]);
        self.lookups.extend(tokens);
        self.probes += 1;
        self
    }

    /// Operation 0.
    pub fn mkdir(&mut self, path: &str) -> &mut Self {
        let n = self.name(path);
        self.op(0, &[n])
    }

    /// Operation 1.
    pub fn create(&mut self, path: &str) -> &mut Self {
        let n = self.name(path);
        self.op(1, &[n])
    }

    /// Operation 2, with body [`BODIES`]`[body]`.
    pub fn symlink(&mut self, path: &str, body: u8) -> &mut Self {
        let n = self.name(path);
        self.op(2, &[n, body])
    }

    /// Operation 3.
    pub fn unlink(&mut self, path: &str) -> &mut Self {
        let e = self.index(path, |here| &here.files);
        self.op(3, &[e])
    }

    /// Operation 4.
    pub fn rmdir(&mut self, path: &str) -> &mut Self {
        let e = self.index(path, |here| &here.subdirs);
        self.op(4, &[e])
    }

    /// Operation 5.
    pub fn rename(&mut self, from: &str, to: &str) -> &mut Self {
        let (e, n) = (self.entry(from), self.name(to));
        self.op(5, &[e, n])
    }

    /// Operation 6.
    pub fn exchange(&mut self, a: &str, b: &str) -> &mut Self {
        let (e, f) = (self.entry(a), self.entry(b));
        self.op(6, &[e, f])
    }

    /// Operation 7.
    pub fn rename_noreplace(&mut self, from: &str, to: &str) -> &mut Self {
        let (e, n) = (self.entry(from), self.name(to));
        self.op(7, &[e, n])
    }

    /// Operation 8.
    pub fn mount(&mut self, path: &str) -> &mut Self {
        let e = self.index(path, |here| &here.subdirs);
        self.op(8, &[e])
    }

    /// Operation 9.
    pub fn bind(&mut self, source: &str, at: &str) -> &mut Self {
        let (e, f) = (self.entry(source), self.entry(at));
        self.op(9, &[e, f])
    }

    /// Operation 10.
    pub fn unmount(&mut self, path: &str) -> &mut Self {
        let e = self.index(path, |here| &here.mounted);
        self.op(10, &[e])
    }

    /// Operation 11, with mode [`MODES`]`[mode]`.
    pub fn set_attr(&mut self, path: &str, mode: u8) -> &mut Self {
        let e = self.entry(path);
        self.op(11, &[e, mode])
    }

    /// The E byte of `path`, among all entries.
    fn entry(&self, path: &str) -> u8 {
        self.index(path, |here| &here.entries)
    }

    /// The E byte of `path` among the entries `list` picks (all entries if it is empty,
    /// as the decoder does).
    fn index(&self, path: &str, list: impl FnOnce(&Entries) -> &Vec<Path>) -> u8 {
        let here = Entries::of(&self.fs);
        let mut entries = list(&here);
        if entries.is_empty() {
            entries = &here.entries;
        }
        let index = entries
            .iter()
            .position(|e| e.0 == path.as_bytes())
            .unwrap_or_else(|| panic!("{path:?} is not among {entries:?}"));
        u8::try_from(index).expect("fewer than 256 entries")
    }

    /// The N byte of `path`.
    fn name(&self, path: &str) -> u8 {
        let (dir, name) = path.rsplit_once('/').expect("an absolute path");
        let dir = if dir.is_empty() { "/" } else { dir };
        let dirs = Entries::of(&self.fs).dirs;
        let index = dirs
            .iter()
            .position(|d| d.0 == dir.as_bytes())
            .unwrap_or_else(|| panic!("{dir:?} is not a directory; directories: {dirs:?}"));
        let name = NAMES
            .iter()
            .position(|n| *n == name.as_bytes())
            .unwrap_or_else(|| panic!("name {name:?}"));
        u8::try_from(index << 2 | name).expect("fewer than 64 directories")
    }

    /// Appends an operation and applies it to the builder's namespace.
    fn op(&mut self, code: u8, args: &[u8]) -> &mut Self {
        let mut bytes = vec![code | u8::from(std::mem::take(&mut self.burst)) << 7];
        bytes.extend(args);
        let (op, _) = Op::decode(&mut Unstructured::new(&bytes), &Entries::of(&self.fs));
        let _ = apply(&self.fs, &op, self.steps);
        self.steps += 1;
        if self.probes == 0 {
            assert!(self.setups < 7, "at most seven setup operations");
            self.setups += 1;
            self.setup.extend(bytes);
        } else {
            assert!(self.changes < MAX_CHANGES, "at most {MAX_CHANGES} changes");
            self.changes += 1;
            self.script.extend(bytes);
        }
        self
    }
}
