//! pathwalk against a naive resolver, on a small namespace built from the input.
//!
//! The input (decoded with [`arbitrary::Unstructured`], in this order) is:
//!
//! 1. up to [`MAX_OPS`] build operations, each on one of the *starts* (directory locations
//!    the harness holds a reference on: the root, every directory made so far, every mount
//!    root reachable when it was made):
//!
//!    | op | what |
//!    |----|------|
//!    | 0 | `mkdir` a name in a start; the new directory becomes a start |
//!    | 1 | create a regular file |
//!    | 2 | create a symbolic link with a body made of path tokens (below) |
//!    | 3 | create a jump ("magic") link to a start |
//!    | 4 | mount a new, empty tree on a start (it covers what was there) |
//!    | 5 | bind-mount one start on another |
//!    | 6 | chmod and chown a start (modes with and without search bits, owners 0, 1000, 2000) |
//!    | 7 | a knob on an entry: not cached, needs revalidation, stale, getattr not under RCU |
//!    | 8 | create a FIFO (neither searchable nor followed) |
//!    | 9 | `unlink` a non-directory (leaving a negative dentry), or `rmdir` an empty directory (a start in it then stands in a removed directory) |
//!    | 10 | rename a non-directory to a name in another start, replacing a non-directory |
//!
//!    Names come from a five-name alphabet, so that operations collide (an existing name is
//!    refused with `EEXIST` by both sides) and lookups find what was built.
//! 2. up to [`MAX_LOOKUPS`] lookups: a start, a path made of tokens (names, `.`, `..`, a
//!    name that does not exist, a 256-byte component, empty components, a leading and a
//!    trailing slash, or a path of 4096 bytes), any set of [`LookupFlags`] (conflicting and
//!    undefined bits included), and root or uid 1000 as the credentials.
//!
//! Every decision takes one byte, read as `byte % choices`: for a build operation the
//! operation, the start, the name, then what the operation needs (a mode index; a link
//! body; a target or source start; mode, owner and group indices; a knob); for a lookup the
//! start, the path, two bytes of flags (little endian, see [`flags_from`]) and a byte whose
//! bit 0 picks uid 1000. A path is a shape byte (bit 0: leading slash, bit 1: trailing
//! slash, `0xFF`: a path of [`PATH_MAX`] bytes), a token count (0-8), and per token a byte
//! whose value 0 modulo 8 doubles the slash before it (not before the first) and the token
//! (`0-4`: a name, `5-6`: `.`, `7-8`: `..`, `9`: a name that never exists, `10`: 256 bytes).
//! The stream starts with the number of operations and continues, after them, with the
//! number of lookups. Missing bytes read as zero.
//!
//! Each lookup runs through pathwalk four ways (`finish_with` with `getattr_rcu`/`getattr`,
//! and `finish` followed by `getattr`, each starting in RCU mode and in ref mode) and
//! through [`Model::resolve`], a recursive resolver over plain data that knows nothing of
//! RCU, sequence counters or references. The answers (an errno, or the inode number and
//! mount id reached) must be equal; with [`LookupFlags::CACHED`], a walk that starts in RCU
//! mode may also answer `EAGAIN`. No lookup may leave a reference behind.
//!
//! [`path_parse`](crate::path_parse) uses the same model with a fixed namespace and
//! arbitrary path bytes.
//!
//! Used by the `pathwalk_model` fuzz target and, with pseudo-random inputs, by a stable test.

use std::collections::{BTreeMap, HashSet, VecDeque};

use arbitrary::Unstructured;
use pathwalk::dcache::{Cred, Dcache, RenameFlags};
use pathwalk::{Errno, Location, Lookup, LookupFlags, RefPath, MAX_SYMLINKS, NAME_MAX, PATH_MAX};
use rcu_core::{hosted::Hosted, Counter};

/// The RCU domain of every namespace the harness builds.
pub static RCU: Counter<Hosted, 64> = Counter::new();

/// The namespace type.
pub type Fs = Dcache<Counter<Hosted, 64>>;

/// Build operations per input, at most.
pub const MAX_OPS: usize = 32;

/// Lookups per input, at most.
pub const MAX_LOOKUPS: usize = 16;

/// The names entries are made with and paths are made of.
pub const NAMES: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"e"];

/// The unprivileged identity lookups may run as.
pub const USER: Cred = Cred::new(1000, 1000);

/// Runs the input (see the module documentation). Panics on a disagreement or a leak.
pub fn run(data: &[u8]) {
    answers(data);
}

/// [`run`], returning the answers the lookups agreed on, for tests that check what the
/// inputs reach.
pub fn answers(data: &[u8]) -> Vec<Answer> {
    let mut answers = Vec::new();
    let mut u = Unstructured::new(data);
    let fs = Fs::new(&RCU);
    let mut fixture = Fixture::new(&fs);
    let ops = u.int_in_range(0..=MAX_OPS).unwrap_or(0);
    for _ in 0..ops {
        fixture.apply(&mut u);
    }
    fixture.resolve_unknown_roots();

    let lookups = u.int_in_range(0..=MAX_LOOKUPS).unwrap_or(0);
    for _ in 0..lookups {
        let start = fixture.pick_start(&mut u);
        let path = path_from(&mut u, true);
        let flags = flags_from(u16::from_le_bytes(u.arbitrary().unwrap_or([0; 2])));
        let cred = if u.arbitrary().unwrap_or(false) {
            USER
        } else {
            Cred::ROOT
        };
        answers.push(fixture.check(start, &path, flags, &cred));
    }
    fixture.finish();
    answers
}

/// A location in the model: (mount index, node index).
pub type Loc = (usize, usize);

/// What an entry of the model is.
#[derive(Clone, Debug)]
enum NodeKind {
    Dir,
    File,
    /// A FIFO: neither searchable nor followed.
    Other,
    Link(Vec<u8>),
    Jump(Loc),
}

/// One inode and its name in its tree. A tree's root is its own parent.
#[derive(Clone, Debug)]
struct Node {
    parent: usize,
    kind: NodeKind,
    children: BTreeMap<Vec<u8>, usize>,
    mode: u32,
    uid: u32,
    gid: u32,
    /// The namespace's inode number, once known.
    ino: Option<u64>,
    /// Removed (`rmdir`) while a start held it: nothing can be created in it any more.
    dead: bool,
}

/// A mount: a tree (from `root` down) shown at `parent`, or nowhere for the root mount.
#[derive(Clone, Debug)]
struct MountM {
    id: u64,
    root: usize,
    parent: Option<Loc>,
}

/// The naive namespace: nodes, mounts, and the answers they give.
#[derive(Clone, Debug, Default)]
pub struct Model {
    nodes: Vec<Node>,
    mounts: Vec<MountM>,
}

/// A lookup's answer: the inode number and mount id reached, or an errno.
pub type Answer = Result<(u64, u64), Errno>;

/// One lookup's state in the model: its flags, credentials, root and links followed.
struct Walk<'m> {
    model: &'m Model,
    flags: LookupFlags,
    cred: Cred,
    root: Loc,
    /// Whether Linux would have set its root yet: by an absolute path, a `..`, or a scoped
    /// lookup. `NO_XDEV` refuses an absolute link body met before that.
    root_set: bool,
    links: usize,
}

impl Model {
    /// A model with just the root directory (mode 0755, owned by root) on the root mount.
    fn new(root_ino: u64, root_mount: u64) -> Self {
        Self {
            nodes: vec![Node::dir(0, 0o755, Some(root_ino))],
            mounts: vec![MountM {
                id: root_mount,
                root: 0,
                parent: None,
            }],
        }
    }

    /// Resolves `path` from `start` the way Linux's `filename_lookup` would, with the
    /// process root at the root mount's root.
    pub fn resolve(&self, start: Loc, path: &[u8], flags: LookupFlags, cred: &Cred) -> Answer {
        let loc = self.resolve_loc(start, path, flags, cred)?;
        Ok(self.identity(loc))
    }

    /// What `loc` is to a lookup's caller.
    fn identity(&self, (mount, node): Loc) -> (u64, u64) {
        let ino = self.nodes[node]
            .ino
            .expect("harness: the model reached an entry whose inode number is unknown");
        (ino, self.mounts[mount].id)
    }

    fn resolve_loc(
        &self,
        start: Loc,
        path: &[u8],
        flags: LookupFlags,
        cred: &Cred,
    ) -> Result<Loc, Errno> {
        // The checks made before any walking, in order.
        let scoped = flags.intersects(LookupFlags::BENEATH | LookupFlags::IN_ROOT);
        if flags.contains(LookupFlags::BENEATH | LookupFlags::IN_ROOT)
            || flags.bits() & !LookupFlags::all().bits() != 0
        {
            return Err(Errno::EINVAL);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if path.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if path.is_empty() && !flags.contains(LookupFlags::EMPTY) {
            return Err(Errno::ENOENT);
        }

        let mut walk = Walk {
            model: self,
            flags,
            cred: *cred,
            root: if scoped { start } else { (0, 0) },
            root_set: scoped,
            links: 0,
        };
        let mut at = start;
        if path.first() == Some(&b'/') && !flags.contains(LookupFlags::IN_ROOT) {
            at = walk.jump_root(at, true)?;
        }
        let end = walk.walk(at, path, true)?;
        if walk.flags.contains(LookupFlags::DIRECTORY) && !self.is_dir(end.1) {
            return Err(Errno::ENOTDIR);
        }
        Ok(end)
    }

    fn is_dir(&self, node: usize) -> bool {
        matches!(self.nodes[node].kind, NodeKind::Dir)
    }

    /// The mount shown at `loc`, if any (at most one: mounts go on top of a stack).
    fn mounted_on(&self, loc: Loc) -> Option<usize> {
        self.mounts.iter().position(|m| m.parent == Some(loc))
    }

    /// The top of the stack of mounts at `loc` (`loc` itself if nothing is mounted there).
    fn top(&self, mut loc: Loc) -> Loc {
        while let Some(m) = self.mounted_on(loc) {
            loc = (m, self.mounts[m].root);
        }
        loc
    }

    /// Whether `cred` may search directory `node`: uid 0 always; otherwise the owner, group
    /// or other bits, whichever class `cred` falls in first.
    fn may_search(&self, node: usize, cred: &Cred) -> bool {
        let n = &self.nodes[node];
        if cred.uid == 0 {
            return true;
        }
        let bits = if cred.uid == n.uid {
            n.mode >> 6
        } else if cred.gid == n.gid {
            n.mode >> 3
        } else {
            n.mode
        };
        bits & 1 == 1
    }

    /// Adds entry `name` of `kind` to directory `dir` and returns its node.
    fn add(&mut self, dir: usize, name: &[u8], kind: NodeKind, ino: u64) -> usize {
        let node = self.nodes.len();
        let mut new = Node::dir(dir, 0o755, Some(ino));
        new.kind = kind;
        self.nodes.push(new);
        self.nodes[dir].children.insert(name.to_vec(), node);
        node
    }

    /// A shortest path from one of `starts` to `target`, walking only through directories
    /// by plain names and `..` as root would (no links); the start's index and the path.
    fn find_path(&self, starts: &[Loc], target: Loc) -> Option<(usize, Vec<u8>)> {
        for (index, &start) in starts.iter().enumerate() {
            let mut seen = HashSet::from([start]);
            let mut queue = VecDeque::from([(start, Vec::new())]);
            while let Some((at, path)) = queue.pop_front() {
                if at == target {
                    return Some((index, if path.is_empty() { b".".to_vec() } else { path }));
                }
                if !self.is_dir(at.1) {
                    continue;
                }
                let steps = self.nodes[at.1]
                    .children
                    .keys()
                    .map(|n| n.as_slice())
                    .chain([b"..".as_slice()]);
                for step in steps {
                    let Ok(next) = self.resolve_loc(at, step, LookupFlags::empty(), &Cred::ROOT)
                    else {
                        continue;
                    };
                    if seen.insert(next) {
                        let mut longer = path.clone();
                        if !longer.is_empty() {
                            longer.push(b'/');
                        }
                        longer.extend_from_slice(step);
                        queue.push_back((next, longer));
                    }
                }
            }
        }
        None
    }
}

impl Node {
    fn dir(parent: usize, mode: u32, ino: Option<u64>) -> Self {
        Self {
            parent,
            kind: NodeKind::Dir,
            children: BTreeMap::new(),
            mode,
            uid: 0,
            gid: 0,
            ino,
            dead: false,
        }
    }
}

impl Walk<'_> {
    /// Walks the components of `path` from `at`. `trailing` says whether the end of `path`
    /// is the end of the lookup (the caller's path, or the body of a link that was its last
    /// component): its last component is then followed only with `FOLLOW`, and a slash
    /// after it demands a directory.
    fn walk(&mut self, mut at: Loc, path: &[u8], trailing: bool) -> Result<Loc, Errno> {
        let components: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .collect();
        let slash_after_last = path.last() == Some(&b'/');
        for (i, &component) in components.iter().enumerate() {
            let last = trailing && i + 1 == components.len();
            if last && slash_after_last {
                self.flags |= LookupFlags::FOLLOW | LookupFlags::DIRECTORY;
            }
            if !self.model.is_dir(at.1) {
                return Err(Errno::ENOTDIR);
            }
            if !self.model.may_search(at.1, &self.cred) {
                return Err(Errno::EACCES);
            }
            at = match component {
                b"." => at,
                b".." => self.dotdot(at)?,
                name => {
                    if name.len() > NAME_MAX {
                        return Err(Errno::ENAMETOOLONG);
                    }
                    let child = *self.model.nodes[at.1]
                        .children
                        .get(name)
                        .ok_or(Errno::ENOENT)?;
                    let child = self.cross_mounts((at.0, child))?;
                    let is_link = matches!(
                        self.model.nodes[child.1].kind,
                        NodeKind::Link(_) | NodeKind::Jump(_)
                    );
                    if is_link && (!last || self.flags.contains(LookupFlags::FOLLOW)) {
                        self.follow(at, child, last)?
                    } else {
                        child
                    }
                }
            };
        }
        Ok(at)
    }

    /// Follows the link `link` found in directory `dir`.
    fn follow(&mut self, dir: Loc, link: Loc, last: bool) -> Result<Loc, Errno> {
        if self.flags.contains(LookupFlags::NO_SYMLINKS) || self.links >= MAX_SYMLINKS {
            return Err(Errno::ELOOP);
        }
        self.links += 1;
        match &self.model.nodes[link.1].kind {
            NodeKind::Link(body) => {
                let mut at = dir;
                if body.first() == Some(&b'/') {
                    at = self.jump_root(at, false)?;
                }
                self.walk(at, body, last)
            }
            &NodeKind::Jump(target) => {
                if self.flags.contains(LookupFlags::NO_MAGICLINKS) {
                    return Err(Errno::ELOOP);
                }
                if self.flags.contains(LookupFlags::NO_XDEV) && target.0 != dir.0 {
                    return Err(Errno::EXDEV);
                }
                if self
                    .flags
                    .intersects(LookupFlags::BENEATH | LookupFlags::IN_ROOT)
                {
                    return Err(Errno::EXDEV);
                }
                Ok(target)
            }
            _ => unreachable!("harness: follow of a non-link"),
        }
    }

    /// To the root, for an absolute path (`initial`) or an absolute link body.
    fn jump_root(&mut self, at: Loc, initial: bool) -> Result<Loc, Errno> {
        if self.flags.contains(LookupFlags::BENEATH) {
            return Err(Errno::EXDEV);
        }
        if !initial
            && self.flags.contains(LookupFlags::NO_XDEV)
            && (!self.root_set || at.0 != self.root.0)
        {
            return Err(Errno::EXDEV);
        }
        self.root_set = true;
        Ok(self.root)
    }

    /// `..` from `at`: the parent, climbing out of mounts whose root `at` is, staying at the
    /// root (or the top of the mount tree), then crossing what is mounted where it lands.
    fn dotdot(&mut self, at: Loc) -> Result<Loc, Errno> {
        self.root_set = true;
        let stay = if self.flags.contains(LookupFlags::BENEATH) {
            Err(Errno::EXDEV)
        } else {
            Ok(at)
        };
        let target = if at == self.root {
            stay?
        } else if at.1 == self.model.mounts[at.0].root {
            match self.choose_mountpoint(at.0) {
                None => stay?,
                Some(_) if self.flags.contains(LookupFlags::NO_XDEV) => return Err(Errno::EXDEV),
                Some(up) => (up.0, self.model.nodes[up.1].parent),
            }
        } else {
            (at.0, self.model.nodes[at.1].parent)
        };
        self.cross_mounts(target)
    }

    /// The mountpoint `..` climbs to from the root of `mount`: up the mount tree past
    /// mountpoints that are themselves mount roots; `None` at the top or at the root.
    fn choose_mountpoint(&self, mut mount: usize) -> Option<Loc> {
        loop {
            let up = self.model.mounts[mount].parent?;
            if up == self.root {
                return None;
            }
            if up.1 != self.model.mounts[up.0].root {
                return Some(up);
            }
            mount = up.0;
        }
    }

    /// Crosses the mounts stacked on `loc`.
    fn cross_mounts(&self, loc: Loc) -> Result<Loc, Errno> {
        let top = self.model.top(loc);
        if top != loc && self.flags.contains(LookupFlags::NO_XDEV) {
            return Err(Errno::EXDEV);
        }
        Ok(top)
    }
}

/// A namespace built in both pathwalk's reference dcache and the model, with the starts:
/// directory locations held referenced, paired with their place in the model.
pub struct Fixture<'n> {
    fs: &'n Fs,
    model: Model,
    starts: Vec<(Loc, RefPath<'n, Fs>)>,
    /// References the starts hold; every lookup must leave the count there.
    baseline: i64,
}

/// The namespace's switches for the cases the engine must handle ([`Fixture::knob`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Knob {
    /// Not in the cache yet: RCU-walk must leave for a slow lookup.
    Uncached,
    /// Must be revalidated in ref mode.
    NeedsRevalidate,
    /// Stale: ref-walk fails with `ESTALE` until the walk revalidates.
    Stale,
    /// getattr cannot run under RCU, so `finish_with` falls back.
    NoRcuGetattr,
}

/// Starts per fixture, at most.
const MAX_STARTS: usize = 24;

/// Directory modes the builder sets: search allowed to all, to the owner only, to the
/// group only, to nobody but root; read without search.
const MODES: [u32; 6] = [0o755, 0o700, 0o070, 0o000, 0o644, 0o711];

/// Owners and groups the builder sets.
const OWNERS: [u32; 3] = [0, 1000, 2000];

impl<'n> Fixture<'n> {
    /// The empty namespace `fs`, with the root as the only start.
    pub fn new(fs: &'n Fs) -> Self {
        let root = fs.root();
        let root_ino = fs.getattr(root).expect("root getattr").ino;
        let model = Model::new(root_ino, fs.mount_id(root.mount));
        let root_path = Self::lookup_ref(fs, root, b".");
        let mut fixture = Self {
            fs,
            model,
            starts: vec![((0, 0), root_path)],
            baseline: 0,
        };
        fixture.baseline = fs.references_held();
        fixture
    }

    /// A referenced location: `path` from `start`, as root, no final link followed.
    fn lookup_ref(fs: &'n Fs, start: Location<'_, Fs>, path: &[u8]) -> RefPath<'n, Fs> {
        Lookup::new(
            fs,
            &Cred::ROOT,
            fs.root(),
            start,
            path,
            LookupFlags::empty(),
        )
        .finish()
        .into_result()
        .unwrap_or_else(|errno| panic!("harness: fixture lookup of {path:?}: {errno}"))
    }

    /// Picks one of the starts: one byte, modulo their number (read even when there is only
    /// one start, so that an input's layout does not depend on what it built).
    pub fn pick_start(&self, u: &mut Unstructured<'_>) -> usize {
        usize::from(u.arbitrary::<u8>().unwrap_or(0)) % self.starts.len()
    }

    /// Adds a start at `loc`, held by `path`.
    fn add_start(&mut self, loc: Loc, path: RefPath<'n, Fs>) {
        if self.starts.len() < MAX_STARTS {
            self.starts.push((loc, path));
            self.baseline = self.fs.references_held();
        }
    }

    /// Decodes and applies one build operation to both sides.
    pub fn apply(&mut self, u: &mut Unstructured<'_>) {
        let op = u.int_in_range(0..=10u8).unwrap_or(0);
        let at = self.pick_start(u);
        let name = NAMES[u.choose_index(NAMES.len()).unwrap_or(0)];
        match op {
            0 => {
                let mode = MODES[u.choose_index(MODES.len()).unwrap_or(0)];
                self.mkdir(at, name, mode);
            }
            1 => self.create(at, name),
            2 => {
                let body = path_from(u, false);
                self.symlink(at, name, &body);
            }
            3 => {
                let target = self.pick_start(u);
                self.jump_link(at, name, target);
            }
            4 => self.mount_new(at),
            5 => {
                let source = self.pick_start(u);
                self.bind(source, at);
            }
            6 => {
                let mode = MODES[u.choose_index(MODES.len()).unwrap_or(0)];
                let uid = OWNERS[u.choose_index(OWNERS.len()).unwrap_or(0)];
                let gid = OWNERS[u.choose_index(OWNERS.len()).unwrap_or(0)];
                self.chmod(at, mode, uid, gid);
            }
            8 => self.mknod(at, name),
            9 => {
                if u.arbitrary().unwrap_or(false) {
                    self.rmdir(at, name);
                } else {
                    self.unlink(at, name);
                }
            }
            10 => {
                let to = self.pick_start(u);
                let new_name = NAMES[u.choose_index(NAMES.len()).unwrap_or(0)];
                self.rename(at, name, to, new_name);
            }
            _ => {
                let knob = match u.int_in_range(0..=3u8).unwrap_or(0) {
                    0 => Knob::Uncached,
                    1 => Knob::NeedsRevalidate,
                    2 => Knob::Stale,
                    _ => Knob::NoRcuGetattr,
                };
                self.knob(at, name, knob);
            }
        }
    }

    /// Whether creating `name` in start `at` must fail (the name exists, or the directory
    /// was removed); if so, checks that the namespace refuses it with the right errno.
    fn refuse_existing(&self, at: usize, name: &[u8]) -> bool {
        let (loc, ref held) = self.starts[at];
        let dir = &self.model.nodes[loc.1];
        let expected = if dir.dead {
            Errno::ENOENT
        } else if dir.children.contains_key(name) {
            Errno::EEXIST
        } else {
            return false;
        };
        let made = self.fs.create(held.location(), name, 0o644, &Cred::ROOT);
        assert_eq!(made.err(), Some(expected), "creating {name:?} in {loc:?}");
        true
    }

    /// Creates FIFO `name` in start `at`.
    pub fn mknod(&mut self, at: usize, name: &[u8]) {
        if self.refuse_existing(at, name) {
            return;
        }
        let (loc, ref held) = self.starts[at];
        let ino = self
            .fs
            .mknod_other(held.location(), name, 0o644, &Cred::ROOT)
            .expect("mknod");
        self.model.add(loc.1, name, NodeKind::Other, ino);
    }

    /// Whether something is mounted on `node`, in any mount.
    fn is_mountpoint(&self, node: usize) -> bool {
        self.model
            .mounts
            .iter()
            .any(|m| m.parent.is_some_and(|p| p.1 == node))
    }

    /// Unlinks non-directory `name` from start `at`; the errors the namespace must give
    /// otherwise are checked.
    pub fn unlink(&mut self, at: usize, name: &[u8]) {
        let (loc, ref held) = self.starts[at];
        let child = self.model.nodes[loc.1].children.get(name).copied();
        let expected = match child {
            None => Err(Errno::ENOENT),
            Some(child) if self.model.is_dir(child) => Err(Errno::EISDIR),
            Some(_) => Ok(()),
        };
        let got = self.fs.unlink(held.location(), name, &Cred::ROOT);
        assert_eq!(got, expected, "unlink of {name:?} in {loc:?}");
        if got.is_ok() {
            self.model.nodes[loc.1].children.remove(name);
        }
    }

    /// Removes directory `name` from start `at` if it is empty and not a mountpoint; the
    /// errors the namespace must give otherwise are checked. A start that held it stays,
    /// standing in a removed directory.
    pub fn rmdir(&mut self, at: usize, name: &[u8]) {
        let (loc, ref held) = self.starts[at];
        let child = self.model.nodes[loc.1].children.get(name).copied();
        let expected = match child {
            None => Err(Errno::ENOENT),
            Some(child) if !self.model.is_dir(child) => Err(Errno::ENOTDIR),
            Some(child) if self.is_mountpoint(child) => Err(Errno::EBUSY),
            Some(child) if !self.model.nodes[child].children.is_empty() => Err(Errno::ENOTEMPTY),
            Some(_) => Ok(()),
        };
        let got = self.fs.rmdir(held.location(), name, &Cred::ROOT);
        assert_eq!(got, expected, "rmdir of {name:?} in {loc:?}");
        if let (Ok(()), Some(child)) = (got, child) {
            self.model.nodes[loc.1].children.remove(name);
            self.model.nodes[child].dead = true;
        }
    }

    /// Renames non-directory `name` of start `from` to `new_name` in start `to`, replacing
    /// a non-directory there. Renames of directories and onto directories are left out; the
    /// errors of a rename across mounts, from or to a removed directory and of a missing
    /// source are checked.
    pub fn rename(&mut self, from: usize, name: &[u8], to: usize, new_name: &[u8]) {
        let (from_loc, ref from_held) = self.starts[from];
        let (to_loc, ref to_held) = self.starts[to];
        let source = self.model.nodes[from_loc.1].children.get(name).copied();
        let target = self.model.nodes[to_loc.1].children.get(new_name).copied();
        let expected = if from_loc.0 != to_loc.0 {
            Err(Errno::EXDEV)
        } else if self.model.nodes[from_loc.1].dead || self.model.nodes[to_loc.1].dead {
            Err(Errno::ENOENT)
        } else {
            match source {
                None => Err(Errno::ENOENT),
                Some(source) if self.model.is_dir(source) => return,
                Some(_) if target.is_some_and(|t| self.model.is_dir(t)) => return,
                Some(_) => Ok(()),
            }
        };
        let got = self.fs.rename(
            from_held.location(),
            name,
            to_held.location(),
            new_name,
            RenameFlags::empty(),
            &Cred::ROOT,
        );
        assert_eq!(
            got, expected,
            "rename of {name:?} in {from_loc:?} to {new_name:?} in {to_loc:?}"
        );
        let (Ok(()), Some(source)) = (got, source) else {
            return;
        };
        if source != target.unwrap_or(usize::MAX) {
            self.model.nodes[from_loc.1].children.remove(name);
            self.model.nodes[to_loc.1]
                .children
                .insert(new_name.to_vec(), source);
            self.model.nodes[source].parent = to_loc.1;
        }
    }

    /// `mkdir` `name` in start `at` with `mode`; the directory becomes a start.
    pub fn mkdir(&mut self, at: usize, name: &[u8], mode: u32) {
        if self.refuse_existing(at, name) {
            return;
        }
        let fs = self.fs;
        let (loc, ref held) = self.starts[at];
        let location = held.location();
        let ino = fs.mkdir(location, name, mode, &Cred::ROOT).expect("mkdir");
        let node = self.model.add(loc.1, name, NodeKind::Dir, ino);
        self.model.nodes[node].mode = mode;
        let path = Self::lookup_ref(fs, location, name);
        self.add_start((loc.0, node), path);
    }

    /// Creates regular file `name` in start `at`.
    pub fn create(&mut self, at: usize, name: &[u8]) {
        if self.refuse_existing(at, name) {
            return;
        }
        let (loc, ref held) = self.starts[at];
        let ino = self
            .fs
            .create(held.location(), name, 0o644, &Cred::ROOT)
            .expect("create");
        self.model.add(loc.1, name, NodeKind::File, ino);
    }

    /// Creates symbolic link `name` in start `at` (an empty body becomes `.`).
    pub fn symlink(&mut self, at: usize, name: &[u8], body: &[u8]) {
        if self.refuse_existing(at, name) {
            return;
        }
        let body = if body.is_empty() { b"." } else { body };
        let (loc, ref held) = self.starts[at];
        let ino = self
            .fs
            .symlink(held.location(), name, body, &Cred::ROOT)
            .expect("symlink");
        self.model
            .add(loc.1, name, NodeKind::Link(body.to_vec()), ino);
    }

    /// Creates jump link `name` in start `at`, leading to start `target`.
    pub fn jump_link(&mut self, at: usize, name: &[u8], target: usize) {
        if self.refuse_existing(at, name) {
            return;
        }
        let (loc, ref held) = self.starts[at];
        let (target_loc, ref target_held) = self.starts[target];
        let ino = self
            .fs
            .jump_link(held.location(), name, target_held.location(), &Cred::ROOT)
            .expect("jump link");
        self.model.add(loc.1, name, NodeKind::Jump(target_loc), ino);
    }

    /// Mounts a new, empty tree on start `at` (refused with `ENOENT` if it was removed).
    pub fn mount_new(&mut self, at: usize) {
        let (loc, ref held) = self.starts[at];
        let made = self.fs.mount_new(held.location());
        if self.model.nodes[loc.1].dead {
            assert_eq!(made, Err(Errno::ENOENT), "mount on removed {loc:?}");
            return;
        }
        let id = made.expect("mount");
        let root = self.model.nodes.len();
        self.model.nodes.push(Node::dir(root, 0o755, None));
        self.mount(id, root, loc);
    }

    /// Bind-mounts start `source` on start `at` (refused with `ENOENT` if either was
    /// removed).
    pub fn bind(&mut self, source: usize, at: usize) {
        let (loc, ref held) = self.starts[at];
        let (source_loc, ref source_held) = self.starts[source];
        let made = self.fs.bind_mount(source_held.location(), held.location());
        if self.model.nodes[loc.1].dead || self.model.nodes[source_loc.1].dead {
            assert_eq!(
                made,
                Err(Errno::ENOENT),
                "bind of removed {source_loc:?} or {loc:?}"
            );
            return;
        }
        let id = made.expect("bind");
        self.mount(id, source_loc.1, loc);
    }

    /// Sets the permission bits, owner and group of start `at`.
    pub fn chmod(&mut self, at: usize, mode: u32, uid: u32, gid: u32) {
        let (loc, ref held) = self.starts[at];
        self.fs
            .set_attr(held.location(), |attr| {
                attr.mode = mode;
                attr.uid = uid;
                attr.gid = gid;
            })
            .expect("set_attr");
        let node = &mut self.model.nodes[loc.1];
        node.mode = mode;
        node.uid = uid;
        node.gid = gid;
    }

    /// Turns `knob` on for entry `name` of start `at` (or for the root of what is mounted
    /// on it), if the entry exists. Knobs change how a walk gets its answer, never the
    /// answer.
    pub fn knob(&mut self, at: usize, name: &[u8], knob: Knob) {
        let (loc, ref held) = self.starts[at];
        if !self.model.nodes[loc.1].children.contains_key(name) {
            return;
        }
        let fs = self.fs;
        if knob == Knob::Uncached {
            fs.set_uncached(held.location(), name, true)
                .expect("set_uncached");
            return;
        }
        let entry = Self::lookup_ref(fs, held.location(), name);
        match knob {
            Knob::NeedsRevalidate => fs.set_needs_revalidate(entry.dentry(), true),
            Knob::Stale => fs.set_stale(entry.dentry(), true),
            _ => fs
                .set_rcu_getattr(entry.dentry(), false)
                .expect("set_rcu_getattr"),
        }
    }

    /// Records mount `id` of the tree from `root` on top of the stack at `at`, and makes
    /// its root a start if a start can reach it.
    fn mount(&mut self, id: u64, root: usize, at: Loc) {
        let parent = self.model.top(at);
        let mount = self.model.mounts.len();
        self.model.mounts.push(MountM {
            id,
            root,
            parent: Some(parent),
        });
        self.reach((mount, root));
    }

    /// Looks for a path to `loc` from a start; if there is one, learns the inode number
    /// there and makes `loc` a start.
    fn reach(&mut self, loc: Loc) -> bool {
        let starts: Vec<Loc> = self.starts.iter().map(|(l, _)| *l).collect();
        let Some((start, path)) = self.model.find_path(&starts, loc) else {
            return false;
        };
        let fs = self.fs;
        let found = Self::lookup_ref(fs, self.starts[start].1.location(), &path);
        let stat = fs.getattr(found.location()).expect("getattr");
        assert_eq!(
            stat.mount_id, self.model.mounts[loc.0].id,
            "harness: path {path:?} to a new mount root reached another mount"
        );
        let known = self.model.nodes[loc.1].ino.get_or_insert(stat.ino);
        assert_eq!(
            *known, stat.ino,
            "harness: path {path:?} reached another inode"
        );
        self.add_start(loc, found);
        true
    }

    /// Learns the inode numbers of mount roots that were unreachable when mounted.
    pub fn resolve_unknown_roots(&mut self) {
        for mount in 0..self.model.mounts.len() {
            let root = self.model.mounts[mount].root;
            if self.model.nodes[root].ino.is_none() {
                self.reach((mount, root));
            }
        }
    }

    /// Resolves `path` from start `start` with pathwalk, four ways, and with the model;
    /// panics on any difference or leaked reference. Returns the model's answer.
    pub fn check(&self, start: usize, path: &[u8], flags: LookupFlags, cred: &Cred) -> Answer {
        let (loc, ref held) = self.starts[start];
        let expected = self.model.resolve(loc, path, flags, cred);
        let fs = self.fs;
        for rcu in [true, false] {
            for stat in [true, false] {
                let mut lookup = Lookup::new(fs, cred, fs.root(), held.location(), path, flags);
                if !rcu {
                    lookup = lookup.without_rcu();
                }
                let (got, end) = if stat {
                    let walked = lookup.finish_with(
                        |view| fs.getattr_rcu(view.guard(), view.location()),
                        |path| fs.getattr(path.location()),
                    );
                    (walked.result.map(|s| (s.ino, s.mount_id)), walked.end)
                } else {
                    let walked = lookup.finish();
                    let got = walked.result.and_then(|path| {
                        let stat = fs.getattr(path.location())?;
                        assert_eq!(stat.mount_id, fs.mount_id(path.mount()));
                        Ok((stat.ino, stat.mount_id))
                    });
                    (got, walked.end)
                };
                let cached_gave_up =
                    rcu && flags.contains(LookupFlags::CACHED) && got == Err(Errno::EAGAIN);
                assert!(
                    got == expected || cached_gave_up,
                    "lookup of {:?} from start {start} {loc:?} with {flags:?} as uid {}, \
                     {} starting in {} mode: pathwalk answered {got:?} (ending {end:?}), the \
                     model {expected:?}\nmodel: {:#?}",
                    String::from_utf8_lossy(path),
                    cred.uid,
                    if stat { "finish_with" } else { "finish" },
                    if rcu { "RCU" } else { "ref" },
                    self.model,
                );
                assert_eq!(
                    fs.references_held(),
                    self.baseline,
                    "lookup of {:?} with {flags:?} left a reference behind",
                    String::from_utf8_lossy(path)
                );
            }
        }
        expected
    }

    /// The number of starts.
    pub fn starts(&self) -> usize {
        self.starts.len()
    }

    /// Drops the starts and checks that nothing else is still referenced.
    pub fn finish(self) {
        let fs = self.fs;
        drop(self.starts);
        assert_eq!(
            fs.references_held(),
            0,
            "references left once the starts are dropped"
        );
    }
}

/// Lookup flags from 16 input bits: bits 0-9 are the flags, except that `BENEATH` and
/// `IN_ROOT` together (`EINVAL`) are kept only with bit 10; bits 11-15 all set add an
/// undefined flag bit (`EINVAL` as well). Both refusals stay reachable without drowning
/// the rest.
pub fn flags_from(bits: u16) -> LookupFlags {
    let mut flags = LookupFlags::from_bits_truncate(u32::from(bits & 0x3FF));
    if flags.contains(LookupFlags::BENEATH | LookupFlags::IN_ROOT) && bits & 1 << 10 == 0 {
        flags.remove(LookupFlags::IN_ROOT);
    }
    if bits >> 11 == 0x1F {
        flags = LookupFlags::from_bits_retain(flags.bits() | 1 << 12);
    }
    flags
}

/// A path (or link body) decoded from `u`: an optional leading slash, up to eight tokens
/// joined by one or two slashes, an optional trailing slash. With `long`, the decoder may
/// also ask for a path of exactly [`PATH_MAX`] bytes.
pub fn path_from(u: &mut Unstructured<'_>, long: bool) -> Vec<u8> {
    let shape = u.arbitrary::<u8>().unwrap_or(0);
    let mut path = Vec::new();
    if long && shape == 0xFF {
        // `./` repeated, then a name: PATH_MAX bytes, one too many.
        while path.len() < PATH_MAX - 1 {
            path.extend_from_slice(b"./");
        }
        path.truncate(PATH_MAX - 1);
        path.push(b'a');
        return path;
    }
    if shape & 1 != 0 {
        path.push(b'/');
    }
    let tokens = u.int_in_range(0..=8u8).unwrap_or(0);
    for i in 0..tokens {
        if i > 0 {
            path.push(b'/');
            if u.ratio(1, 8).unwrap_or(false) {
                path.push(b'/');
            }
        }
        match u.int_in_range(0..=10u8).unwrap_or(0) {
            t @ 0..=4 => path.extend_from_slice(NAMES[usize::from(t)]),
            5 | 6 => path.push(b'.'),
            7 | 8 => path.extend_from_slice(b".."),
            9 => path.extend_from_slice(b"zz"),
            _ => path.extend_from_slice(&[b'x'; NAME_MAX + 1]),
        }
    }
    if shape & 2 != 0 {
        path.push(b'/');
    }
    path
}
