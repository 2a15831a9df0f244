//! The reference namespace: an in-memory dentry cache and mount table that implements
//! [`Namespace`] the way a kernel does (feature `alloc`).
//!
//! [`Dcache`] is what the walk engine is tested against, and a worked example for anyone
//! implementing [`Namespace`] for a real VFS. It models Linux's dentry cache (fs/dcache.c)
//! and mount table (fs/namespace.c), with the sequence-counter discipline that
//! Documentation/filesystems/path-lookup.rst describes, closely enough that every case the
//! engine must handle can be produced on demand: concurrent renames and unlinks, mounts and
//! unmounts, negative and not-yet-cached entries, stale entries, inodes whose getattr cannot
//! run under RCU.
//!
//! # Objects
//!
//! - A [`Dentry`] is a name in a directory: parent pointer, name, inode pointer (null for a
//!   negative dentry), a `d_seq` sequence counter, a reference count, knobs. Each dentry
//!   owns its inode (there are no hard links).
//! - An inode holds the file type, the attributes ([`Attr`], in a [`seqlock::SeqLock`]), a
//!   symlink body or a jump ("magic") link target, and for a directory the number of
//!   positive children.
//! - A [`Mount`] attaches the tree below its root dentry at a (parent mount, mountpoint)
//!   place. [`Dcache::mount_new`] starts a fresh empty tree (a tmpfs); [`Dcache::bind_mount`]
//!   shows an existing directory (or file) somewhere else. Every tree is a "superblock": it is
//!   torn down when the last mount that shows any part of it goes away.
//!
//! # Lookups under RCU
//!
//! Hashed dentries sit on the chains of one fixed, power-of-two hash table keyed by (parent
//! pointer, name), Linux's `dentry_hashtable`. [`Namespace::lookup_rcu`] is
//! `__d_lookup_rcu`: for each dentry on the chain it samples `d_seq` *first*, then compares
//! parent, hashed state and name with atomic loads, and returns the dentry with its sample.
//! A rename that changes any of them does so inside a `d_seq` write section, so the sample
//! fails the engine's validation if the comparison saw a mix of old and new.
//!
//! A miss is the delicate case. Linux never answers "negative" from an RCU miss; this
//! namespace holds whole directories in memory and may, but only if the miss was not caused
//! by a rename moving a dentry from one chain to another under the reader's feet (the reader
//! would follow the moved node's `next` pointer into the wrong chain and skip the rest of its
//! own). So the lookup samples the global `rename_lock` before the scan and answers
//! [`RcuLookup::NotCached`] instead of [`RcuLookup::Negative`] if it moved, as Linux's
//! `d_lookup` retries under `rename_lock`. Directories whose entries are not all cached
//! (the `set_uncached` knob) answer `NotCached` on a miss as well.
//!
//! Names are immutable allocations that a rename replaces as a whole (the old one is freed
//! after a grace period), so a reader comparing a name never sees it change mid-way; Linux
//! does the same for names too long to live inside the dentry.
//!
//! # Updates
//!
//! All updates are serialised by one lock, the update lock. Linux takes per-dentry locks,
//! per-chain bit locks, `rename_lock` and `mount_lock`; the reference namespace favours
//! obviously correct updates over update scalability, since what it exists to exercise is
//! the readers. Inside the lock, writers change what readers validate only inside write
//! sections of the sequence counters the engine checks:
//!
//! - a dentry's parent, name, inode or hashed state: its `d_seq` (`d_move`, `__d_drop`,
//!   `d_instantiate`, `dentry_unlink_inode` in Linux);
//! - every rename, as a whole: `rename_lock`;
//! - every mount attach and detach: `mount_lock` (`attach_mnt`, `umount_tree`);
//! - every unlink and rmdir, and every change of an inode's mode or owner: `rename_lock`
//!   as well, which Linux does not do.
//!
//! The last rule is what makes every answer of a walk one the namespace had at one moment:
//! the engine checks `rename_lock` and `mount_lock` at the end of every walk and walks again
//! if they moved. Without it, a walk could combine a link body (or a directory it left by
//! `..`) read before an unlink, or a search permission checked before a chmod, with a name
//! created after it. Adding names alone cannot do that: a walk stops at the first name it
//! does not find, and every name it did find is still there. The price is that a walk racing
//! an unlink or a chmod anywhere is walked again, as one racing a rename is; these writers
//! also take the topology lock, so the last ref-mode try excludes them too.
//!
//! # Reference counts, death and freeing
//!
//! A dentry's count is the number of references held *outside* the cache (by the engine,
//! by a mount on its root, by a jump link to it): hashed dentries live in the cache with a
//! count of zero, as in Linux. As with Linux's `lockref`, the count has a dead state:
//! [`Namespace::dget_not_dead`] is a compare-and-swap loop that fails on a dead dentry, which
//! is how a reader under RCU turns a dentry it found into a referenced one without a lock.
//!
//! A dentry is *killed* (count set to dead, under the update lock) when it is unhashed, has
//! no children and no references; it is then freed, with its name and inode, a grace period
//! later through `call_rcu` and the `RcuHead` it embeds. A child keeps its parent alive (a
//! per-dentry count of live children), so `..` from any live dentry is valid memory. Whoever
//! makes the last of the three conditions true starts the kill: `dput` dropping the last
//! reference of an unhashed dentry, unlink or rename unhashing an unreferenced one, the kill
//! of the last child. The unlocked `dput` and the locked unhash meet in a store-buffering
//! handshake (sequentially consistent decrement then load of "hashed", against store of
//! "hashed" then compare-and-swap of the count), so at least one of them sees the other and
//! the kill is never missed; the compare-and-swap to dead makes sure it happens once.
//!
//! Unlink and rmdir follow Linux's `d_delete`: an unreferenced dentry becomes negative in
//! place and stays hashed (its inode is freed after a grace period); a referenced one is
//! unhashed and keeps its inode, like an open file, until its last reference goes. While a
//! dentry is being turned negative its count holds a "locked" value that makes
//! `dget_not_dead` wait, so a referenced dentry never loses its inode, which is what lets
//! [`Namespace::get_link`] hand out a link body or jump target without a guard.
//!
//! Mounts work the same way with "attached" in place of "hashed". Nothing is lost: every
//! live dentry and mount is also in a registry, and dropping the [`Dcache`] waits for the
//! queued frees ([`Rcu::barrier`]) and frees whatever is still alive, negative and uncached
//! entries included. Debug builds check that every allocation was freed.
//!
//! # Knobs
//!
//! Switches for the cases the engine must handle:
//! [`set_uncached`](Dcache::set_uncached) (invisible to RCU lookups until a ref-mode lookup
//! "reads it in"), [`set_needs_revalidate`](Dcache::set_needs_revalidate) and
//! [`set_stale`](Dcache::set_stale) (revalidation in ref mode, `ESTALE`),
//! [`set_rcu_getattr`](Dcache::set_rcu_getattr) (getattr must leave RCU mode),
//! [`set_protected_symlinks`](Dcache::set_protected_symlinks) and
//! [`MountFlags::NOSYMFOLLOW`]. [`ref_ops`](Dcache::ref_ops) counts every reference-count
//! operation of the trait, so a test can prove that a walk took none.
//!
//! # Where it differs from Linux
//!
//! NOTE(linux): one update lock instead of Linux's fine-grained locks (see above); finding
//! the children of a directory (rmdir, the teardown of an unmounted tree) scans the registry
//! of live dentries, where Linux keeps a list per directory; no hard links, no LRU or
//! shrinker (negative entries stay until [`Dcache::shrink`] or the drop); times are a
//! logical clock stamped at creation and otherwise set only by [`Dcache::set_attr`];
//! credentials are a uid and a gid, and uid 0 passes every permission check (as with
//! `CAP_DAC_OVERRIDE` and `CAP_FOWNER`) except the protected-symlinks rule, as in Linux. A
//! jump link that pins the mount of its own tree keeps that tree alive after an unmount
//! until the link is removed or the namespace dropped (Linux's magic links are computed, not
//! stored, so they pin nothing).
//!
//! # Permissions
//!
//! Search permission ([`Namespace::may_exec_rcu`], [`Namespace::may_exec`]) follows Linux's
//! `acl_permission_check`: the owner, group or other class, chosen by identity. The write
//! side checks what Linux's `may_create` and `may_delete` check: write and search permission
//! on the directory (`EACCES`), the sticky bit (`EPERM`), and
//! for a rename that moves a directory to another parent, write permission on it.
//!
//! # Environment
//!
//! Needs an allocator (feature `alloc`): every dentry, name, inode and mount is a `Box`.
//! RCU-mode methods never allocate, block or take the update lock; they may spin briefly on
//! an attribute seqlock being written or on a dentry being turned negative. Write-side
//! operations and `dput`/`mntput` take the update lock (a spin lock) and allocate; the
//! write-side operations also run ready RCU callbacks on their way out, so call them outside
//! read-side critical sections (the QSBR flavor panics in debug builds otherwise). Dropping
//! a [`Dcache`] waits for a grace period ([`Rcu::barrier`]) and must happen outside
//! read-side sections of its domain. Nothing panics on bad input: every error is an
//! [`Errno`]. The RCU-mode methods panic if handed a read guard of another domain, since
//! that guard would protect nothing.
//!
//! # Examples
//!
//! ```
//! use pathwalk::dcache::{Cred, Dcache, RenameFlags};
//! use pathwalk::{Kind, Lookup, LookupFlags, Namespace, RcuLookup};
//! use rcu_core::{hosted::Hosted, Counter, Rcu};
//!
//! static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();
//!
//! let ns = Dcache::new(&RCU);
//! let root = ns.root();
//! ns.mkdir(root, b"etc", 0o755, &Cred::ROOT).unwrap();
//! let etc_path = Lookup::new(&ns, &Cred::ROOT, root, root, b"/etc", LookupFlags::empty())
//!     .finish()
//!     .into_result()
//!     .unwrap();
//! let etc = etc_path.location();
//! ns.create(etc, b"passwd", 0o644, &Cred::ROOT).unwrap();
//! ns.rename(etc, b"passwd", etc, b"passwd.old", RenameFlags::empty(), &Cred::ROOT).unwrap();
//!
//! // What the engine does in RCU mode: sample, look up, validate; no references taken.
//! let before = ns.ref_ops();
//! {
//!     let guard = RCU.read_lock();
//!     match ns.lookup_rcu(&guard, etc.dentry, b"passwd.old").unwrap() {
//!         RcuLookup::Found(file, seq) => {
//!             assert_eq!(ns.kind(file), Kind::Regular);
//!             assert!(!ns.d_seq(file).read_retry(seq));
//!         }
//!         _ => unreachable!(),
//!     }
//!     assert!(matches!(
//!         ns.lookup_rcu(&guard, etc.dentry, b"passwd").unwrap(),
//!         RcuLookup::Negative
//!     ));
//! }
//! assert_eq!(ns.ref_ops(), before);
//! drop(etc_path);
//! ```
//!
//! [`Namespace`]: crate::Namespace
//! [`Namespace::lookup_rcu`]: crate::Namespace::lookup_rcu
//! [`Namespace::dget_not_dead`]: crate::Namespace::dget_not_dead
//! [`Namespace::get_link`]: crate::Namespace::get_link
//! [`Namespace::may_exec_rcu`]: crate::Namespace::may_exec_rcu
//! [`Namespace::may_exec`]: crate::Namespace::may_exec
//! [`Errno::Namespace`]: crate::Errno::Namespace
//! [`RcuLookup::NotCached`]: crate::RcuLookup::NotCached
//! [`RcuLookup::Negative`]: crate::RcuLookup::Negative
//! [`Errno`]: crate::Errno

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};

use alloc::boxed::Box;
use alloc::vec::Vec;
use rcu_core::{HlistHead, Rcu, ReadGuard};
use seqlock::SeqCount;

use crate::{Kind, Location};

mod dentry;
mod inode;
mod lookup;
mod mount;
mod ops;
mod reclaim;
mod update;

pub use dentry::{Dentry, NAME_MAX};
pub use inode::{
    Attr, Cred, Stat, MAY_EXEC, MAY_READ, MAY_WRITE, S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG,
    S_ISVTX, S_IWOTH,
};
pub use mount::{Mount, MountFlags};
pub use ops::RenameFlags;

use inode::{Inode, Link};
use reclaim::{Registry, Victim};

/// The number of dentry hash buckets [`Dcache::new`] uses.
pub const DEFAULT_BUCKETS: usize = 1024;
/// The most dentry hash buckets [`Dcache::with_buckets`] allocates.
pub const MAX_BUCKETS: usize = 1 << 20;
/// The number of mount hash buckets.
const MOUNT_BUCKETS: usize = 64;
/// The inode number of the root directory.
const ROOT_INO: u64 = 1;
/// The tree id of the root tree.
const ROOT_TREE: u64 = 0;

/// The reference namespace: a dentry cache and mount table in memory, implementing
/// [`Namespace`](crate::Namespace). See the [module documentation](self) for the design.
///
/// Shared by reference between threads; all operations take `&self`.
pub struct Dcache<R: Rcu + 'static> {
    /// The domain whose grace periods protect dentries, names, inodes and mounts.
    rcu: &'static R,
    /// The dentry hash table: chains of hashed dentries keyed by (parent, name).
    dentry_table: Box<[HlistHead<Dentry>]>,
    /// The mount hash table: chains of attached mounts keyed by (parent mount, mountpoint).
    mount_table: Box<[HlistHead<Mount>]>,
    /// Bumped around every mount attach and detach (Linux `mount_lock`).
    mount_lock: SeqCount,
    /// Bumped around every rename, unlink, rmdir and change of mode or owner (Linux's
    /// `rename_lock` is bumped by renames only; see the module docs).
    rename_lock: SeqCount,
    /// The update lock and the state only updaters touch.
    state: spin::Mutex<State>,
    /// Serialises renames, unlinks, rmdirs, attribute changes, mounts and unmounts against
    /// each other and against the walks that exclude them
    /// ([`Namespace::lock_topology`](crate::Namespace::lock_topology)). Taken before the
    /// update lock.
    topology: spin::Mutex<()>,
    /// The root mount, never detached.
    root_mount: NonNull<Mount>,
    /// The root dentry, referenced by the root mount.
    root_dentry: NonNull<Dentry>,
    /// Linux's `fs.protected_symlinks`.
    protected_symlinks: AtomicBool,
    /// Reference-count operations of the trait (dget, dput, mntget, mntput, ref-mode lookup).
    ref_ops: AtomicU64,
    /// References taken through the trait and not dropped yet.
    held: AtomicI64,
    /// Walks that excluded renames and mount changes (`lock_topology`).
    topology_locks: AtomicU64,
    /// Ref-mode lookups that had to "read in" an uncached entry.
    slow_lookups: AtomicU64,
    /// The next inode number.
    next_ino: AtomicU64,
    /// A logical clock for creation times.
    clock: AtomicU64,
    /// Counters shared with every object, which may outlive a move of the `Dcache` value.
    shared: NonNull<Shared>,
}

// SAFETY: the shared state is atomics, sequence counters, hash heads of `Sync` elements and
// the update lock's `spin::Mutex` (whose content is `Send`); the root pointers name objects
// that are `Sync` and live as long as the `Dcache`; `shared` points to atomics.
unsafe impl<R: Rcu + 'static> Sync for Dcache<R> {}
// SAFETY: a `Dcache` owns everything its pointers name, none of it tied to a thread; `R` is
// only borrowed (and `Rcu: Sync`).
unsafe impl<R: Rcu + 'static> Send for Dcache<R> {}

/// What only updaters touch, behind the update lock.
struct State {
    /// Every live dentry (not yet killed).
    dentries: Registry<Dentry>,
    /// Every live mount (not yet killed).
    mounts: Registry<Mount>,
    /// Each live tree with the number of live mounts that show part of it.
    trees: Vec<(u64, u32)>,
    /// The next tree id.
    next_tree: u64,
    /// The next mount id.
    next_mount_id: u64,
    /// Objects that may have become killable: checked by `reap` before the lock is released.
    victims: Vec<Victim>,
}

/// Counters that every object points to, so that a deferred free can account for itself.
struct Shared {
    /// Dentries, names, inodes and mounts allocated and not yet freed.
    live: AtomicUsize,
}

impl Shared {
    /// Counts an allocation.
    fn object_allocated(&self) {
        // Relaxed: a statistic; `Drop for Dcache` reads it after `barrier`, which orders
        // every free before it.
        self.live.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a free.
    fn object_freed(&self) {
        // Relaxed: as in `object_allocated`.
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<R: Rcu + 'static> Dcache<R> {
    /// A namespace holding only the root directory (mode 0755, owned by uid 0, gid 0) on the
    /// root mount, with [`DEFAULT_BUCKETS`] hash buckets.
    pub fn new(rcu: &'static R) -> Self {
        Self::with_buckets(rcu, DEFAULT_BUCKETS)
    }

    /// Like [`new`](Self::new), with `buckets` dentry hash buckets, rounded up to a power of
    /// two and clamped to `1..=MAX_BUCKETS`. Tests use few buckets to make chains long.
    pub fn with_buckets(rcu: &'static R, buckets: usize) -> Self {
        let buckets = buckets.clamp(1, MAX_BUCKETS).next_power_of_two();
        let dentry_table = (0..buckets).map(|_| HlistHead::new()).collect();
        let mount_table = (0..MOUNT_BUCKETS).map(|_| HlistHead::new()).collect();
        let shared = NonNull::from(Box::leak(Box::new(Shared {
            live: AtomicUsize::new(0),
        })));
        let mut state = State {
            dentries: Registry::new(),
            mounts: Registry::new(),
            trees: Vec::new(),
            next_tree: ROOT_TREE + 1,
            next_mount_id: 1,
            victims: Vec::new(),
        };

        // The root tree: a directory that is its own parent, referenced by the root mount.
        let root_attr = Attr {
            mode: S_IFDIR | 0o755,
            nlink: 2,
            ..Attr::default()
        };
        let inode = Inode::alloc(ROOT_INO, Kind::Directory, root_attr, Link::None, shared);
        let root_dentry = update::alloc_tree_root(&mut state, inode, ROOT_TREE, shared);
        let root_mount = mount::alloc_mount(
            &mut state,
            root_dentry,
            ROOT_TREE,
            MountFlags::empty(),
            shared,
        );
        state.trees.push((ROOT_TREE, 1));

        Self {
            rcu,
            dentry_table,
            mount_table,
            mount_lock: SeqCount::new(),
            rename_lock: SeqCount::new(),
            state: spin::Mutex::new(state),
            topology: spin::Mutex::new(()),
            root_mount,
            root_dentry,
            protected_symlinks: AtomicBool::new(false),
            ref_ops: AtomicU64::new(0),
            held: AtomicI64::new(0),
            topology_locks: AtomicU64::new(0),
            slow_lookups: AtomicU64::new(0),
            next_ino: AtomicU64::new(ROOT_INO + 1),
            clock: AtomicU64::new(1),
            shared,
        }
    }

    /// The root: the root mount and its root directory. Both live as long as the `Dcache`,
    /// need no reference and cannot be removed or unmounted.
    pub fn root(&self) -> Location<'_, Self> {
        // SAFETY: the root mount and dentry are freed only by `Drop for Dcache`: the root
        // mount is never detached (unmount refuses it), so it is never killed, and it holds
        // a reference on the root dentry.
        unsafe {
            Location {
                mount: self.root_mount.as_ref(),
                dentry: self.root_dentry.as_ref(),
            }
        }
    }

    /// The inode number `dentry` is bound to, or `None` for a negative dentry. `dentry` must
    /// be referenced (or be a root).
    pub fn ino(&self, dentry: &Dentry) -> Option<u64> {
        let guard = self.rcu.read_lock();
        self.inode_rcu(&guard, dentry).map(|inode| inode.ino)
    }

    /// The name of `dentry` as of now (the root's is `/`).
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another domain than the namespace's.
    pub fn name<'g>(&'g self, guard: &'g ReadGuard<'_, R>, dentry: &'g Dentry) -> &'g [u8] {
        self.check_guard(guard);
        self.name_rcu(guard, dentry)
    }

    /// The id of `mount`, unique within the namespace (the root mount's is 1).
    pub fn mount_id(&self, mount: &Mount) -> u64 {
        mount.id
    }

    /// How many reference-count operations the [`Namespace`](crate::Namespace) methods
    /// performed so far: every `dget_not_dead`, `dput`, `mntget_not_dead` and `mntput` call,
    /// and every reference a ref-mode `lookup` took. A walk that ended under RCU must not
    /// change it.
    pub fn ref_ops(&self) -> u64 {
        // Relaxed: a statistic.
        self.ref_ops.load(Ordering::Relaxed)
    }

    /// How many references taken through the [`Namespace`](crate::Namespace) methods
    /// (`dget_not_dead`, `mntget_not_dead`, ref-mode `lookup`) have not been dropped yet. A
    /// test that holds nothing can check that walks leaked no reference: it must be zero.
    pub fn references_held(&self) -> i64 {
        // Relaxed: a statistic.
        self.held.load(Ordering::Relaxed)
    }

    /// How many walks had to exclude renames and mount changes
    /// ([`Namespace::lock_topology`](crate::Namespace::lock_topology)) because their ref-mode
    /// tries kept racing with them.
    pub fn topology_locks(&self) -> u64 {
        // Relaxed: a statistic.
        self.topology_locks.load(Ordering::Relaxed)
    }

    /// How many ref-mode lookups found an entry with the "uncached" knob and "read it in".
    pub fn slow_lookups(&self) -> u64 {
        // Relaxed: a statistic.
        self.slow_lookups.load(Ordering::Relaxed)
    }

    /// How many dentries, names, inodes and mounts are allocated and not yet freed
    /// (including those waiting for a grace period). The empty namespace has four: the root
    /// dentry, its name, its inode and the root mount.
    pub fn live_objects(&self) -> usize {
        // SAFETY: `shared` lives until `Drop for Dcache` ends.
        let shared = unsafe { self.shared.as_ref() };
        // Relaxed: a statistic.
        shared.live.load(Ordering::Relaxed)
    }

    /// Turns Linux's `fs.protected_symlinks` on or off (default off): when on, a symlink in
    /// a sticky, world-writable directory may be followed only by its owner, or if the
    /// directory's owner owns it too; otherwise
    /// [`may_follow_link`](crate::Namespace::may_follow_link) fails with `EACCES`.
    pub fn set_protected_symlinks(&self, on: bool) {
        // Relaxed: a setting; walks that run concurrently may see either value.
        self.protected_symlinks.store(on, Ordering::Relaxed);
    }

    // ---- helpers for the other modules ----

    /// Panics unless `guard` is a read guard of this namespace's domain: a guard of another
    /// domain would not keep anything of ours alive.
    #[inline]
    fn check_guard(&self, guard: &ReadGuard<'_, R>) {
        assert!(
            ptr::eq(guard.domain(), self.rcu),
            "pathwalk::dcache: read guard of another RCU domain"
        );
    }

    /// The inode of `dentry`, or `None` if it is negative.
    #[inline]
    fn inode_rcu<'g>(&self, _guard: &'g ReadGuard<'_, R>, dentry: &'g Dentry) -> Option<&'g Inode> {
        // Acquire pairs with the Release stores in `instantiate` and the allocation paths: a
        // reader that sees the pointer sees the inode initialised.
        let inode = dentry.inode.load(Ordering::Acquire);
        // SAFETY: an inode is freed only a grace period after it stopped being reachable
        // from its dentry (cleared pointer or killed dentry), and `_guard` keeps the current
        // section open, so an inode read from a valid dentry stays valid for `'g`.
        unsafe { inode.as_ref() }
    }

    /// The name of `dentry`.
    #[inline]
    fn name_rcu<'g>(&self, _guard: &'g ReadGuard<'_, R>, dentry: &'g Dentry) -> &'g [u8] {
        // Acquire pairs with the Release store of a new name in `rehash`.
        let name = dentry.name.load(Ordering::Acquire);
        // SAFETY: a name is freed only a grace period after a rename replaced it (or with its
        // dentry), and `_guard` holds the current read-side section open.
        unsafe { &(*name).bytes }
    }

    /// The dentry hash chain of (`parent`, `name`).
    #[inline]
    fn d_bucket(&self, parent: *const Dentry, name: &[u8]) -> &HlistHead<Dentry> {
        let mask = self.dentry_table.len() - 1;
        // The cast keeps the low bits, which are all the mask uses.
        &self.dentry_table[dentry::d_hash(parent, name) as usize & mask]
    }

    /// The mount hash chain of (`parent`, `mountpoint`).
    #[inline]
    fn m_bucket(&self, parent: *const Mount, mountpoint: *const Dentry) -> &HlistHead<Mount> {
        // Only the addresses are hashed; no pointer is rebuilt from them.
        let (parent, mountpoint) = (parent as usize as u64, mountpoint as usize as u64);
        let key = parent.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mountpoint;
        &self.mount_table[dentry::mix64(key) as usize & (MOUNT_BUCKETS - 1)]
    }

    /// Counts one reference-count operation.
    #[inline]
    fn count_ref_op(&self) {
        // Relaxed: a statistic.
        self.ref_ops.fetch_add(1, Ordering::Relaxed);
    }

    /// Accounts a reference taken (`1`) or dropped (`-1`) through the trait.
    #[inline]
    fn note_held(&self, delta: i64) {
        // Relaxed: a statistic.
        self.held.fetch_add(delta, Ordering::Relaxed);
    }

    /// The next value of the logical clock.
    fn tick(&self) -> u64 {
        // Relaxed: only uniqueness matters.
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Runs `f` with a read guard and the update lock held, then kills whatever `f` left
    /// killable, releases both, and runs ready RCU callbacks (as a kernel's softirq would on
    /// the way out of the system call).
    fn update<T>(&self, f: impl FnOnce(&ReadGuard<'static, R>, &mut State) -> T) -> T {
        let result = self.locked(f);
        self.rcu.process_callbacks();
        result
    }

    /// Like [`update`](Self::update), for operations that remove names or change the shape
    /// of the tree (unlinks, rmdirs, renames, mounts, unmounts): they also take the topology
    /// lock, first.
    fn update_topology<T>(&self, f: impl FnOnce(&ReadGuard<'static, R>, &mut State) -> T) -> T {
        let _topology = self.topology.lock();
        self.update(f)
    }

    /// Like [`update`](Self::update), without running callbacks: for `dput` and friends,
    /// which may be called inside a read-side critical section.
    fn locked<T>(&self, f: impl FnOnce(&ReadGuard<'static, R>, &mut State) -> T) -> T {
        // The guard keeps whatever `f` and `reap` look at valid even once killed; the lock
        // is taken inside it. Nothing that holds the lock waits for a grace period, so
        // readers never wait for it.
        let guard = self.rcu.read_lock();
        let mut state = self.state.lock();
        let result = f(&guard, &mut state);
        self.reap(&guard, &mut state);
        drop(state);
        drop(guard);
        result
    }
}

impl<R: Rcu + 'static> Drop for Dcache<R> {
    fn drop(&mut self) {
        // Every free this namespace queued has run once the barrier returns; what remains in
        // the registries is alive and, with `&mut self`, unreachable by any reader.
        self.rcu.barrier();
        let state = self.state.get_mut();
        debug_assert!(state.victims.is_empty());
        for mount in state.mounts.drain() {
            // SAFETY: the mount is alive (not queued), owned by the registry, and no reader
            // or holder can use it any more: they would borrow `self`.
            unsafe { reclaim::free_mount(mount) };
        }
        for dentry in state.dentries.drain() {
            // SAFETY: as for the mounts; the dentry's name and inode go with it.
            unsafe { reclaim::free_dentry(dentry) };
        }
        // SAFETY: `shared` came from `Box::leak` in `with_buckets`, and every object that
        // points to it has been freed above or by the callbacks the barrier waited for.
        let shared = unsafe { Box::from_raw(self.shared.as_ptr()) };
        debug_assert_eq!(
            shared.live.load(Ordering::Relaxed),
            0,
            "pathwalk::dcache: objects leaked"
        );
    }
}

impl<R: Rcu + 'static> core::fmt::Debug for Dcache<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dcache")
            .field("buckets", &self.dentry_table.len())
            .field("live_objects", &self.live_objects())
            .field("ref_ops", &self.ref_ops())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod testutil;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::testutil::TestRcu;
    use super::*;

    /// The namespace is shared between threads by reference, and its objects are handed
    /// across them by the engine.
    #[test]
    fn types_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Dcache<TestRcu>>();
        send_sync::<Dentry>();
        send_sync::<Mount>();
        send_sync::<Stat>();
    }

    /// A new namespace holds the root directory on the root mount, and nothing else.
    #[test]
    fn new_namespace_has_the_root_only() {
        let ns = Dcache::new(&testutil::RCU);
        let root = ns.root();
        assert_eq!(ns.ino(root.dentry), Some(ROOT_INO));
        assert_eq!(ns.mount_id(root.mount), 1);
        assert_eq!(ns.live_objects(), 4);
        assert_eq!((ns.ref_ops(), ns.slow_lookups()), (0, 0));
        let stat = ns.getattr(root).unwrap();
        assert_eq!(
            (stat.mode, stat.uid, stat.gid, stat.nlink),
            (S_IFDIR | 0o755, 0, 0, 2)
        );
        assert_eq!(
            Dcache::with_buckets(&testutil::RCU, 0).dentry_table.len(),
            1
        );
        assert_eq!(
            Dcache::with_buckets(&testutil::RCU, 1000)
                .dentry_table
                .len(),
            1024
        );
    }
}
