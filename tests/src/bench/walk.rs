//! Group 4: `stat` by path on the reference namespace, against a lock-based walker and the
//! host kernel.
//!
//! # The tree and the paths
//!
//! A chain of directories `/d0/d1/.../d14`; the root and every directory also hold files
//! `f0`, `f1`, ... (one per thread). A path of depth `k` has `k` components:
//! `/d0/.../d{k-2}/f{t}` (`/f{t}` for depth 1). With *same file* every thread stats `f0`;
//! with *own file* thread `t` stats `f{t}` (the directories on the way are shared either
//! way). A single thread always stats `f0`. Walks run as uid 1000 on directories of mode
//! 0755 owned by root, so every step checks search permission through the "other" bits.
//!
//! # The walkers
//!
//! - `finish_with (ours)`: `Lookup::finish_with` with `getattr_rcu` as the RCU operation
//!   and `getattr` as the fallback. Every walk must end under RCU ([`End::Rcu`]) and the
//!   namespace's reference-count operations must not move: the runner panics otherwise.
//! - `finish+getattr (ours)`: `Lookup::finish` (RCU-walk, then legitimize the final
//!   location: take references), `getattr` on the referenced path, release: what Linux's
//!   `vfs_statx` does today (`filename_lookup`, `vfs_getattr`, `path_put`).
//! - `ref-walk+getattr (ours)`: the same with `without_rcu`, which takes and drops a
//!   reference at every step (Linux's ref-walk; Documentation/filesystems/path-lookup.rst).
//! - `Arc+RwLock walker`: [`LockTree`], written for this comparison the way Rust kernels
//!   walk paths today: a tree of `Arc<LockNode>`, each directory keeping its children in a
//!   `RwLock<BTreeMap<name, Arc<LockNode>>>`; every step takes the directory's read lock,
//!   clones the child's `Arc` and drops the parent's; the final `stat` reads the attributes
//!   under the node's own `RwLock`.
//! - `fstatat(2)`: the host kernel, `fstatat(AT_FDCWD, path, 0)` with an absolute path on
//!   the same tree built in a temporary directory (which is removed afterwards): a reference
//!   row whose cost includes the system call. The kernel also walks the components of the
//!   temporary directory's own path; the per-component column counts them.
//!
//! The reference namespace counts every reference-count operation with a shared atomic
//! counter (and the references held with another), so its referenced rows pay for that
//! accounting too; the `finish_with` rows do not, having none.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::hint::black_box;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};

use pathwalk::dcache::Cred;
use pathwalk::{End, Errno, Lookup, LookupFlags};
use rcu_core::hosted::Hosted;
use rcu_core::Counter;

use super::{measure, timed_loop, Figures, Row, Sample, Settings};
use crate::tree::Tree;

/// The path depths measured.
pub const DEPTHS: [u32; 4] = [1, 4, 8, 16];

/// The domain of the reference namespace of group 4.
static WALK_RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

/// The walkers' credentials: not root, so that permission checks read the mode bits.
const USER: Cred = Cred::new(1000, 1000);

/// Row names, in the order the rows of a set are run and charted.
pub const WALKERS: [&str; 5] = [
    "finish_with (ours)",
    "finish+getattr (ours)",
    "ref-walk+getattr (ours)",
    "Arc+RwLock walker",
    "fstatat(2)",
];

/// The entries of the measured tree, in creation order, as (path, whether a directory): the
/// chain `/d0/.../d{deepest-2}` with files `f0` .. `f{files-1}` in the root and in every
/// directory of the chain.
pub fn chain_entries(deepest: u32, files: usize) -> Vec<(String, bool)> {
    let mut entries = Vec::new();
    let mut dir = String::new();
    for d in 0..deepest {
        entries.extend((0..files).map(|f| (format!("{dir}/f{f}"), false)));
        if d + 1 < deepest {
            dir.push_str(&format!("/d{d}"));
            entries.push((dir.clone(), true));
        }
    }
    entries
}

/// The path of depth `depth` (that many components) to file `f{file}` of the tree of
/// [`chain_entries`].
pub fn path_of(depth: u32, file: usize) -> String {
    let mut path = String::new();
    for d in 0..depth - 1 {
        path.push_str(&format!("/d{d}"));
    }
    path.push_str(&format!("/f{file}"));
    path
}

/// Group 4.
pub fn lookups(settings: &Settings) -> Vec<Figures> {
    let files = settings.threads;
    let deepest = *DEPTHS.iter().max().expect("depths");

    let tree = Tree::new(&WALK_RCU);
    let locked = LockTree::new();
    let disk = DiskTree::create().expect("cannot create the temporary directory tree");
    for (path, directory) in chain_entries(deepest, files) {
        if directory {
            tree.mkdir(&path, 0o755);
            locked.mkdir(&path, 0o755);
            disk.mkdir(&path);
        } else {
            tree.touch(&path, 0o644);
            locked.touch(&path, 0o644);
            disk.touch(&path);
        }
    }
    let prefix = disk.prefix_components();

    // Per depth, per sharing: the path of every thread.
    let mut rows = Vec::new();
    for depth in DEPTHS {
        for threads in settings.thread_counts() {
            for own in [false, true] {
                if own && threads == 1 {
                    continue;
                }
                let set = format!(
                    "depth {depth}, {}",
                    if own { "own file" } else { "same file" }
                );
                let paths: Vec<Vec<u8>> = (0..threads)
                    .map(|t| path_of(depth, if own { t } else { 0 }).into_bytes())
                    .collect();
                let disk_paths: Vec<CString> = paths.iter().map(|p| disk.c_path(p)).collect();
                rows.extend(walker_rows(
                    &tree, &locked, set, depth, prefix, threads, paths, disk_paths,
                ));
            }
        }
    }
    let figures = measure(settings, "4. path walk", rows);
    drop(disk);
    figures
}

type Fs = Tree<Counter<Hosted, { Hosted::MAX_CPUS }>>;

/// One lookup of one of our walkers, given the path.
type WalkOp<'a> = Box<dyn Fn(&[u8]) + Sync + 'a>;

/// The five rows of one set.
#[allow(clippy::too_many_arguments)]
fn walker_rows<'a>(
    tree: &'a Fs,
    locked: &'a LockTree,
    set: String,
    depth: u32,
    prefix: u32,
    threads: usize,
    paths: Vec<Vec<u8>>,
    disk_paths: Vec<CString>,
) -> Vec<Row<'a>> {
    let paths = Arc::new(paths);
    let fs = &tree.fs;
    let root = tree.root();

    let ours = |name: &'static str, check_zero: bool, op: WalkOp<'a>| {
        let paths = Arc::clone(&paths);
        let mut row = Row::new(set.clone(), name, threads, true, move |ops| {
            let before = fs.ref_ops();
            let ns = timed_loop(threads, ops, &[], |t| op(&paths[t]));
            let refs = (fs.ref_ops() - before) as f64 / (threads as u64 * ops) as f64;
            if check_zero {
                assert!(
                    refs == 0.0,
                    "finish_with took {refs} reference-count operations per lookup: \
                     the RCU finish must take none"
                );
            }
            Sample {
                ns_per_op: ns,
                refs_per_op: Some(refs),
            }
        });
        row.components = Some(depth);
        row.depth = Some(depth);
        row
    };

    let mut rows = vec![
        ours(
            WALKERS[0],
            true,
            Box::new(move |path| {
                let walked = Lookup::new(fs, &USER, root, root, path, LookupFlags::FOLLOW)
                    .finish_with(
                        |view| fs.getattr_rcu(view.guard(), view.location()),
                        |path| fs.getattr(path.location()),
                    );
                assert!(
                    walked.end == End::Rcu,
                    "finish_with left RCU mode ({:?}) on a quiet namespace",
                    walked.end
                );
                black_box(walked.result.expect("stat").ino);
            }),
        ),
        ours(
            WALKERS[1],
            false,
            Box::new(move |path| {
                let walked = Lookup::new(fs, &USER, root, root, path, LookupFlags::FOLLOW).finish();
                let path = walked.result.expect("lookup");
                black_box(fs.getattr(path.location()).expect("getattr").ino);
                drop(path);
            }),
        ),
        ours(
            WALKERS[2],
            false,
            Box::new(move |path| {
                let walked = Lookup::new(fs, &USER, root, root, path, LookupFlags::FOLLOW)
                    .without_rcu()
                    .finish();
                let path = walked.result.expect("lookup");
                black_box(fs.getattr(path.location()).expect("getattr").ino);
                drop(path);
            }),
        ),
    ];

    let lock_paths = Arc::clone(&paths);
    let mut row = Row::new(set.clone(), WALKERS[3], threads, false, move |ops| {
        Sample::time(timed_loop(threads, ops, &[], |t| {
            black_box(locked.stat(&lock_paths[t], &USER).expect("stat").ino);
        }))
    });
    row.components = Some(depth);
    row.depth = Some(depth);
    rows.push(row);

    let mut row = Row::new(set, WALKERS[4], threads, false, move |ops| {
        Sample::time(timed_loop(threads, ops, &[], |t| {
            black_box(fstatat(&disk_paths[t]).expect("fstatat"));
        }))
    });
    row.components = Some(depth + prefix);
    row.depth = Some(depth);
    rows.push(row);
    rows
}

/// `fstatat(AT_FDCWD, path, &st, 0)`: the inode number, or the error.
fn fstatat(path: &CString) -> std::io::Result<u64> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `st` points to writable memory of the
    // size of a `stat`, which `fstatat` fills completely when it returns 0.
    let rc = unsafe { libc::fstatat(libc::AT_FDCWD, path.as_ptr(), st.as_mut_ptr(), 0) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fstatat` returned 0, so it initialised `st`.
    Ok(unsafe { st.assume_init() }.st_ino)
}

/// The tree in a temporary directory of the real file system; removed when dropped.
struct DiskTree {
    root: PathBuf,
}

impl DiskTree {
    fn create() -> std::io::Result<Self> {
        let root = std::env::temp_dir().join(format!("compare-pathwalk-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root)?;
        }
        std::fs::create_dir(&root)?;
        Ok(Self { root })
    }

    /// Where `path` (absolute in the tree) lies on disk.
    fn on_disk(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    fn mkdir(&self, path: &str) {
        let at = self.on_disk(path);
        std::fs::create_dir(&at).unwrap_or_else(|e| panic!("mkdir {}: {e}", at.display()));
    }

    fn touch(&self, path: &str) {
        let at = self.on_disk(path);
        std::fs::write(&at, b"").unwrap_or_else(|e| panic!("create {}: {e}", at.display()));
    }

    /// The absolute path on disk of the tree path `path`, for `fstatat`.
    fn c_path(&self, path: &[u8]) -> CString {
        let path = std::str::from_utf8(path).expect("tree paths are ASCII");
        CString::new(self.on_disk(path).as_os_str().as_bytes()).expect("no NUL in paths")
    }

    /// The components of the temporary directory's own path, which the kernel walks too.
    fn prefix_components(&self) -> u32 {
        self.root
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .count() as u32
    }
}

impl Drop for DiskTree {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.root) {
            eprintln!("compare: cannot remove {}: {e}", self.root.display());
        }
    }
}

/// The attributes of a [`LockNode`] that `stat` reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct LockAttr {
    /// Size in bytes.
    pub size: u64,
    /// Number of names.
    pub nlink: u32,
    /// Last access, modification and status change times.
    pub times: [u64; 3],
}

/// What [`LockTree::stat`] returns.
#[derive(Clone, Copy, Debug)]
pub struct LockStat {
    /// The inode number.
    pub ino: u64,
    /// File type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// The attributes.
    pub attr: LockAttr,
}

/// The children of a directory.
type Children = RwLock<BTreeMap<Box<[u8]>, Arc<LockNode>>>;

/// A file or directory of a [`LockTree`].
pub struct LockNode {
    ino: u64,
    /// Permission bits (the type is given by `children`); an atomic, read without a lock,
    /// as a kernel reads `i_mode`.
    mode: AtomicU32,
    uid: u32,
    gid: u32,
    attr: RwLock<LockAttr>,
    /// `Some` for a directory.
    children: Option<Children>,
}

/// A lock-based namespace, walked the way Rust kernels walk paths today: `Arc` nodes,
/// directories whose children sit in a `RwLock<BTreeMap>`, an `Arc` cloned per step.
///
/// Only what the comparison needs: plain name components (no `.`, `..`, symbolic links or
/// mounts; `.` and `..` fail with `EINVAL`), directories and regular files owned by root,
/// and search permission checked on every directory as Linux's `acl_permission_check`
/// does.
pub struct LockTree {
    root: Arc<LockNode>,
    next_ino: AtomicU32,
}

impl Default for LockTree {
    fn default() -> Self {
        Self::new()
    }
}

impl LockTree {
    /// A tree holding only the root directory (mode 0755, owned by root).
    pub fn new() -> Self {
        Self {
            root: Arc::new(LockNode::new(1, 0o755, true)),
            next_ino: AtomicU32::new(2),
        }
    }

    /// `stat(path)` for `cred`: walks from the root, one read lock and one `Arc` clone per
    /// component.
    pub fn stat(&self, path: &[u8], cred: &Cred) -> Result<LockStat, Errno> {
        let node = self.walk(path, cred)?;
        let attr = *node.attr.read().expect("never poisoned");
        Ok(LockStat {
            ino: node.ino,
            // Relaxed: a single word, as a kernel's `i_mode` read.
            mode: node.mode.load(Ordering::Relaxed),
            uid: node.uid,
            gid: node.gid,
            attr,
        })
    }

    /// The node `path` names.
    fn walk(&self, path: &[u8], cred: &Cred) -> Result<Arc<LockNode>, Errno> {
        let mut node = Arc::clone(&self.root);
        for name in path.split(|&b| b == b'/').filter(|name| !name.is_empty()) {
            if name == b"." || name == b".." {
                return Err(Errno::EINVAL);
            }
            let children = node.children.as_ref().ok_or(Errno::ENOTDIR)?;
            if !node.may_search(cred) {
                return Err(Errno::EACCES);
            }
            let next = children
                .read()
                .expect("never poisoned")
                .get(name)
                .cloned()
                .ok_or(Errno::ENOENT)?;
            node = next;
        }
        Ok(node)
    }

    /// Adds a node named by the last component of `path` (as root).
    fn add(&self, path: &str, mode: u32, directory: bool) {
        let (parent, name) = path.rsplit_once('/').expect("absolute path");
        let parent = self
            .walk(parent.as_bytes(), &Cred::ROOT)
            .unwrap_or_else(|e| panic!("lock tree: parent of {path:?}: {e}"));
        // Relaxed: a unique number.
        let ino = u64::from(self.next_ino.fetch_add(1, Ordering::Relaxed));
        let children = parent.children.as_ref().expect("parent is a directory");
        let previous = children.write().expect("never poisoned").insert(
            name.as_bytes().into(),
            Arc::new(LockNode::new(ino, mode, directory)),
        );
        assert!(previous.is_none(), "lock tree: {path:?} exists");
    }

    /// `mkdir -m mode path`.
    pub fn mkdir(&self, path: &str, mode: u32) {
        self.add(path, mode, true);
    }

    /// Creates a regular file.
    pub fn touch(&self, path: &str, mode: u32) {
        self.add(path, mode, false);
    }
}

impl LockNode {
    fn new(ino: u64, mode: u32, directory: bool) -> Self {
        Self {
            ino,
            mode: AtomicU32::new(mode | if directory { 0o040000 } else { 0o100000 }),
            uid: 0,
            gid: 0,
            attr: RwLock::new(LockAttr {
                nlink: if directory { 2 } else { 1 },
                ..LockAttr::default()
            }),
            children: directory.then(|| RwLock::new(BTreeMap::new())),
        }
    }

    /// Search permission (`MAY_EXEC`) for `cred`: the owner, group or other bits, chosen by
    /// identity; uid 0 always may (`CAP_DAC_OVERRIDE` on a directory).
    fn may_search(&self, cred: &Cred) -> bool {
        if cred.uid == 0 {
            return true;
        }
        // Relaxed: see `mode`.
        let mode = self.mode.load(Ordering::Relaxed);
        let bits = if cred.uid == self.uid {
            mode >> 6
        } else if cred.gid == self.gid {
            mode >> 3
        } else {
            mode
        };
        bits & 1 != 0
    }
}
