//! [`Namespace`]: what the engine needs from a kernel's dentry cache.
//!
//! The trait mirrors the split of Linux's `fs/namei.c` between RCU-walk and ref-walk:
//!
//! - **RCU-mode operations** (`*_rcu`, and the plain accessors) are called with a read guard
//!   of [`Namespace::rcu`] held. They never block, never take a reference, never write
//!   shared memory the engine would notice, and may answer [`RcuError::NeedRef`] ("cannot
//!   decide without blocking", Linux's `-ECHILD`). What they read may be stale: the engine
//!   validates it afterwards against the sequence counters.
//! - **The sequence counters**: every dentry's `d_seq` (bumped when the dentry's name, parent
//!   or inode changes), the global `mount_lock` (bumped by mount and unmount) and the global
//!   `rename_lock` (bumped by every rename, and by any other change the namespace wants
//!   walks to notice).
//! - **Legitimize and release**: reference counts that can be taken under RCU only if the
//!   object is not dead, and the puts that may block.
//! - **Ref-mode operations**, called without a guard on referenced dentries: they may block,
//!   fill the cache and perform I/O.

use core::fmt;

use rcu_core::{Rcu, ReadGuard};
use seqlock::SeqCount;

use crate::{Errno, LookupFlags};

/// How an RCU-mode operation can fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RcuError {
    /// A definite error. The engine validates the walk before reporting it.
    Errno(Errno),
    /// The operation cannot be done without blocking or taking a reference (Linux:
    /// `-ECHILD`). The engine leaves RCU mode and calls the ref-mode variant.
    NeedRef,
}

impl From<Errno> for RcuError {
    fn from(errno: Errno) -> Self {
        RcuError::Errno(errno)
    }
}

impl fmt::Display for RcuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RcuError::Errno(errno) => errno.fmt(f),
            RcuError::NeedRef => f.write_str("cannot be done in RCU mode"),
        }
    }
}

/// What a dentry currently names, as far as the walk cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A negative dentry: the name is known not to exist.
    Negative,
    /// A directory: the walk can continue through it.
    Directory,
    /// A symbolic link, or a jump ("magic") link.
    Symlink,
    /// A regular file.
    Regular,
    /// Anything else (device, FIFO, socket): not searchable, not followed.
    Other,
}

/// The answer of [`Namespace::lookup_rcu`].
pub enum RcuLookup<'g, N: Namespace + ?Sized> {
    /// The child, with its `d_seq` sampled (by [`SeqCount::raw_begin`] or
    /// [`SeqCount::read_begin`]) *before* its name and parent were compared, so that a
    /// concurrent rename makes the sample fail validation.
    Found(&'g N::Dentry, seqlock::Seq),
    /// The name is known not to exist in `parent` (a namespace that holds whole directories
    /// in memory can say so on a miss, provided the miss was not caused by a concurrent
    /// rename moving entries between hash chains). The engine validates `parent` and fails
    /// with `ENOENT`.
    Negative,
    /// The name is not in the cache: a ref-mode [`Namespace::lookup`] must decide.
    NotCached,
}

/// The body of a symbolic link.
pub enum LinkBody<'a, N: Namespace + ?Sized> {
    /// A path to walk, relative to the directory holding the link unless it starts with `/`.
    /// Never empty.
    Path(&'a [u8]),
    /// A jump ("magic") link such as `/proc/self/root`: the walk continues at this location,
    /// whatever its name. In ref mode the engine takes its own references on it.
    Jump(Location<'a, N>),
}

/// A (mount, dentry) pair: where a walk is.
pub struct Location<'a, N: Namespace + ?Sized> {
    /// The mount.
    pub mount: &'a N::Mount,
    /// The dentry, inside that mount's tree.
    pub dentry: &'a N::Dentry,
}

impl<N: Namespace + ?Sized> Clone for Location<'_, N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N: Namespace + ?Sized> Copy for Location<'_, N> {}

impl<N: Namespace + ?Sized> fmt::Debug for Location<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("mount", &(self.mount as *const N::Mount))
            .field("dentry", &(self.dentry as *const N::Dentry))
            .finish()
    }
}

/// A kernel's dentry cache and mount table, as the walk engine sees them.
///
/// Implement it for your VFS (the crate's reference namespace is a worked example) and every
/// lookup gets RCU-walk, the unlazy and restart ladder, scoped lookups and
/// [`finish_with`](crate::Lookup::finish_with).
///
/// Each method says in which context the engine calls it:
///
/// - *RCU*: a read guard of [`rcu`](Self::rcu) is held (the `guard` argument, which always
///   comes from this namespace's own domain); the arguments are only known to be
///   valid memory, not referenced and possibly already unhashed, renamed or dead. The method
///   must not block, sleep, take a reference or allocate, and must read the fields the
///   engine will validate (`d_seq`-covered state) with atomic loads.
/// - *Ref*: no guard is held; the arguments are referenced by the engine. The method may
///   block.
/// - *Any*: either context; must not block.
///
/// # Safety
///
/// The engine keeps raw pointers to dentries, mounts and link bodies and dereferences them
/// on the strength of these promises; breaking one is undefined behaviour.
///
/// 1. A dentry or mount reachable from a value returned by an RCU-mode method stays valid
///    memory until a grace period of [`rcu`](Self::rcu) has elapsed after it stopped being
///    reachable, and while a reference obtained from [`dget_not_dead`](Self::dget_not_dead),
///    [`mntget_not_dead`](Self::mntget_not_dead) or a ref-mode method is held.
/// 2. A link body returned by [`get_link_rcu`](Self::get_link_rcu) stays valid and unchanged
///    for as long as the guard it was read under is held; one returned by
///    [`get_link`](Self::get_link) or under a guard for a link that the engine later
///    references stays valid and unchanged while that reference is held.
/// 3. Once [`dget_not_dead`](Self::dget_not_dead) (or
///    [`mntget_not_dead`](Self::mntget_not_dead)) returned `true`, the object is not freed
///    before the matching [`dput`](Self::dput) (or [`mntput`](Self::mntput)).
/// 4. [`d_seq`](Self::d_seq) changes (by a write section or
///    [`SeqCount::invalidate`]) whenever the dentry's parent, name or inode changes or it is
///    unhashed; [`mount_lock`](Self::mount_lock) whenever a mount is attached or detached;
///    [`rename_lock`](Self::rename_lock) around every rename. Writers change the data inside
///    the counters' write sections, so that a validated read saw a state the namespace had.
///    A namespace may also bump `rename_lock` around other changes: the engine walks again
///    when it moved, so every answer is one the namespace had at one moment with respect to
///    the changes these two counters cover (the reference namespace adds unlinks, rmdirs
///    and changes of mode or owner, which leaves only additions of names uncovered, and
///    those cannot combine into an answer the namespace never had).
/// 5. [`mnt_root`](Self::mnt_root) of a mount never changes.
pub unsafe trait Namespace: Sync {
    /// The RCU domain that protects dentries, mounts and link bodies.
    type Rcu: Rcu;
    /// A dentry: a name in a directory, bound to an inode or negative.
    type Dentry;
    /// A mount: a tree of dentries attached at a mountpoint.
    type Mount;
    /// The credentials permission checks are made for.
    type Cred;

    /// The domain whose read-side sections protect the RCU walk.
    fn rcu(&self) -> &Self::Rcu;

    // ---- sequence counters ----

    /// The dentry's sequence counter (Linux: `d_seq`). *Any.*
    fn d_seq<'a>(&'a self, dentry: &'a Self::Dentry) -> &'a SeqCount;

    /// The mount table's sequence counter (Linux: `mount_lock`). *Any.*
    fn mount_lock(&self) -> &SeqCount;

    /// The rename sequence counter (Linux: `rename_lock`). *Any.*
    fn rename_lock(&self) -> &SeqCount;

    // ---- RCU mode ----

    /// What `dentry` names: directory, link, file, negative. *Any*; in RCU mode the engine
    /// validates the answer against the `d_seq` sample it holds for `dentry`.
    fn kind(&self, dentry: &Self::Dentry) -> Kind;

    /// The dentry's parent (itself for the root of a tree). *RCU*; the engine validates the
    /// child's `d_seq` after sampling the parent's. A dentry pins its parent, as in Linux:
    /// the parent of a live dentry is never dead, so that ref-walk can take a reference on
    /// it (retrying if a rename moved the dentry meanwhile).
    fn parent<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, Self::Rcu>,
        dentry: &'g Self::Dentry,
    ) -> &'g Self::Dentry;

    /// Looks `name` up in directory `parent` in the cache (Linux: `__d_lookup_rcu`). *RCU.*
    /// `name` is never empty, `.` or `..` and contains no `/`.
    ///
    /// Returns the child (positive or negative) with its `d_seq` sample,
    /// [`RcuLookup::Negative`] or [`RcuLookup::NotCached`]. An error (such as `ENAMETOOLONG` for an over-long name) is
    /// reported after the engine validated `parent`.
    fn lookup_rcu<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, Self::Rcu>,
        parent: &'g Self::Dentry,
        name: &[u8],
    ) -> Result<RcuLookup<'g, Self>, RcuError>;

    /// Revalidates a cached `dentry` found by [`lookup_rcu`](Self::lookup_rcu) (Linux:
    /// `d_revalidate` with `LOOKUP_RCU`). *RCU.* `flags` contains
    /// [`LookupFlags::REVAL`] when every dentry must be revalidated.
    /// [`RcuError::NeedRef`] sends the engine to ref mode, where [`lookup`](Self::lookup)
    /// revalidates.
    fn revalidate_rcu(
        &self,
        guard: &ReadGuard<'_, Self::Rcu>,
        dentry: &Self::Dentry,
        flags: LookupFlags,
    ) -> Result<(), RcuError>;

    /// Checks search permission on directory `dir` (Linux: `may_lookup`, `MAY_EXEC |
    /// MAY_NOT_BLOCK`). *RCU.* Called before every component looked up in `dir`, `.` and
    /// `..` included, so that `EACCES` wins over `ENOENT`.
    fn may_exec_rcu(
        &self,
        guard: &ReadGuard<'_, Self::Rcu>,
        cred: &Self::Cred,
        dir: &Self::Dentry,
    ) -> Result<(), RcuError>;

    /// Reads the body of link `link` (Linux: `->get_link` with a null dentry). *RCU.* The
    /// body is validated against the link's `d_seq` sample before it is used.
    fn get_link_rcu<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, Self::Rcu>,
        link: &'g Self::Dentry,
    ) -> Result<LinkBody<'g, Self>, RcuError>;

    /// Whether `cred` may follow link `link`, found in directory `dir` of mount `mount`
    /// (Linux: `may_follow_link`, `fs.protected_symlinks`, `MS_NOSYMFOLLOW`). *Any*: must
    /// not block; in RCU mode the answer is validated with the link.
    fn may_follow_link(
        &self,
        cred: &Self::Cred,
        mount: &Self::Mount,
        dir: &Self::Dentry,
        link: &Self::Dentry,
    ) -> Result<(), Errno>;

    /// The root dentry of `mount`. *Any*; never changes for a mount.
    fn mnt_root<'a>(&'a self, mount: &'a Self::Mount) -> &'a Self::Dentry;

    /// The mount attached on top of `dentry` in `mount`, if any (Linux: `__lookup_mnt`).
    /// *RCU*; the engine validates with [`mount_lock`](Self::mount_lock).
    fn lookup_mnt<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, Self::Rcu>,
        mount: &'g Self::Mount,
        dentry: &'g Self::Dentry,
    ) -> Option<&'g Self::Mount>;

    /// The mount `mount` is attached to and the dentry it is attached on, or `None` for the
    /// top of the mount tree. *RCU*; validated with [`mount_lock`](Self::mount_lock).
    fn mnt_parent<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, Self::Rcu>,
        mount: &'g Self::Mount,
    ) -> Option<Location<'g, Self>>;

    // ---- legitimize and release ----

    /// Takes a reference on `dentry` unless it is dead (Linux: `lockref_get_not_dead`).
    /// *Any*; never blocks. The engine checks `d_seq` afterwards and puts the reference if
    /// the dentry changed.
    fn dget_not_dead(&self, dentry: &Self::Dentry) -> bool;

    /// Drops a reference taken by [`dget_not_dead`](Self::dget_not_dead) or handed over by a
    /// ref-mode method (Linux: `dput`). *Ref*: may block; the engine never calls it with its
    /// own guard held.
    ///
    /// # Safety
    ///
    /// 1. The caller owns the reference it drops (each reference is dropped once).
    /// 2. Nothing the caller obtained through that reference (the dentry itself, its link
    ///    body) is used afterwards, unless another reference or a guard keeps it valid.
    unsafe fn dput(&self, dentry: &Self::Dentry);

    /// Takes a reference on `mount` unless it is being torn down (Linux: the counting half of
    /// `__legitimize_mnt`). *Any*; never blocks. The engine checks
    /// [`mount_lock`](Self::mount_lock) afterwards.
    fn mntget_not_dead(&self, mount: &Self::Mount) -> bool;

    /// Drops a mount reference (Linux: `mntput`). *Ref.*
    ///
    /// # Safety
    ///
    /// As for [`dput`](Self::dput), for the mount.
    unsafe fn mntput(&self, mount: &Self::Mount);

    // ---- ref mode ----

    /// Looks `name` up in directory `parent`, reading it from the backing store if it is not
    /// cached, and revalidates the result (Linux: `lookup_fast` then `lookup_slow`). *Ref.*
    ///
    /// Returns the child referenced (the engine will [`dput`](Self::dput) it), possibly
    /// negative. A dentry found stale fails with `ESTALE` unless `flags` contains
    /// [`LookupFlags::REVAL`]; the engine then walks once more with it.
    fn lookup(
        &self,
        parent: &Self::Dentry,
        name: &[u8],
        flags: LookupFlags,
    ) -> Result<&Self::Dentry, Errno>;

    /// Checks search permission on directory `dir` (Linux: `may_lookup`). *Ref.*
    fn may_exec(&self, cred: &Self::Cred, dir: &Self::Dentry) -> Result<(), Errno>;

    /// Excludes renames, mount changes and whatever else bumps `rename_lock` until
    /// [`unlock_topology`](Self::unlock_topology) (Linux: `read_seqlock_excl(&rename_lock)`,
    /// which `d_path` falls back to). *Ref*: may block; called without a guard, before any
    /// other ref-mode method of the walk.
    ///
    /// The engine validates every walk against `rename_lock` and `mount_lock`, and walks
    /// again when a change they cover raced with it, so that its answer is one the
    /// namespace had at one moment. After a few lost races in ref mode it walks once more
    /// inside this lock, which ends the retries. Namespaces whose writers can take such a
    /// lock implement it (writers take it around every change that bumps `rename_lock` or
    /// `mount_lock`, before any lock the ref-mode methods take); the default does nothing,
    /// and the last try's answer is then accepted as it is, as Linux's ref-walk does.
    fn lock_topology(&self) {}

    /// Ends what [`lock_topology`](Self::lock_topology) began. *Ref.*
    ///
    /// # Safety
    ///
    /// The caller holds the exclusion from its own earlier `lock_topology` call.
    unsafe fn unlock_topology(&self) {}

    /// Reads the body of link `link` (Linux: `->get_link`). *Ref.* A
    /// [`LinkBody::Jump`] location need not be referenced: the engine takes its own
    /// references, and fails with `ENOENT` if the target is dying.
    fn get_link<'a>(&'a self, link: &'a Self::Dentry) -> Result<LinkBody<'a, Self>, Errno>;
}
