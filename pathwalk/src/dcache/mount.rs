//! [`Mount`]s: attaching trees at (parent mount, mountpoint) places, Linux's fs/namespace.c.
//!
//! Attached mounts sit on the chains of a small hash table keyed by (parent mount,
//! mountpoint dentry), Linux's `mount_hashtable`; the mountpoint dentry counts the mounts on
//! it, so that [`Namespace::lookup_mnt`] skips the hash for the
//! common dentry that has none (Linux's `DCACHE_MOUNTED` test in `__follow_mount_rcu`). Every
//! attach and detach happens inside a write section of the namespace's `mount_lock`, which
//! the engine validates after crossing mounts. Mounting where something is mounted already
//! stacks the new mount on top, as Linux does.
//!
//! [`Namespace::lookup_mnt`]: crate::Namespace::lookup_mnt

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering};

use alloc::boxed::Box;
use rcu_core::{HlistNode, Rcu, RcuHead, ReadGuard};

use super::dentry::Dentry;
use super::inode::{Cred, Link};
use super::reclaim::{get_not_dead, Victim};
use super::{update, Dcache, Shared, State};
use crate::{Errno, Kind, Location, Namespace};

bitflags::bitflags! {
    /// Options of a new mount.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MountFlags: u32 {
        /// Symbolic links in this mount may not be followed: the walk fails with `ELOOP`
        /// (Linux `MS_NOSYMFOLLOW`).
        const NOSYMFOLLOW = 1 << 8;
    }
}

/// A mount: the tree below `root` shown at a place in its parent mount (Linux's
/// `struct mount`).
///
/// # Invariants
///
/// - `root` never changes, and the mount holds a reference on it until the mount is killed.
/// - While attached, `parent` and `mountpoint` name a live, attached mount and a live dentry
///   with a non-zero `mounted` count; detached (or the root mount), both are null.
/// - A mount is killed (count dead) only when it is detached and unreferenced; it is freed a
///   grace period later.
pub struct Mount {
    /// Linkage on the mount hash chain of (parent, mountpoint).
    hash: HlistNode,
    /// The root of the tree the mount shows.
    pub(super) root: NonNull<Dentry>,
    /// The mount this one is attached to; null when detached or for the root mount.
    pub(super) parent: AtomicPtr<Mount>,
    /// The dentry this mount is attached on; null when detached or for the root mount.
    pub(super) mountpoint: AtomicPtr<Dentry>,
    /// References from outside the mount tree; the count word of the dentries (see
    /// [`DEAD`](super::dentry::DEAD)), without the locked state.
    pub(super) count: AtomicU32,
    /// Whether the mount is part of the mount tree.
    pub(super) attached: AtomicBool,
    /// How many mounts are attached on dentries of this mount.
    pub(super) children: AtomicU32,
    /// `MS_NOSYMFOLLOW`.
    pub(super) nosymfollow: bool,
    /// The mount id.
    pub(super) id: u64,
    /// The tree the mount shows part of.
    pub(super) tree: u64,
    /// The mount's index in the registry of live mounts.
    pub(super) slot: usize,
    /// The namespace's live-object counters.
    pub(super) shared: NonNull<Shared>,
    /// The head its deferred free is queued with.
    pub(super) rcu: RcuHead,
}

rcu_core::impl_hlist_linked!(Mount, hash);

// SAFETY: the shared mutable fields are atomics, `HlistNode` and `RcuHead`; `root` is fixed
// and names a `Sync` dentry the mount keeps referenced; `shared` points to atomics that
// outlive the mount.
unsafe impl Sync for Mount {}
// SAFETY: as above; nothing is tied to a thread.
unsafe impl Send for Mount {}

impl Mount {
    /// The mount id, unique within the namespace (the root mount's is 1).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether symbolic links in this mount may not be followed.
    pub fn nosymfollow(&self) -> bool {
        self.nosymfollow
    }
}

impl core::fmt::Debug for Mount {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mount")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<R: Rcu + 'static> Dcache<R> {
    /// Mounts a new, empty tree (a tmpfs: a root directory with mode 0755 owned by uid 0) on
    /// directory `at`, on top of whatever is mounted there already, and returns the new
    /// mount's id.
    ///
    /// Errors: `ENOENT` if `at` is negative, unhashed or in a removed directory; `ENOTDIR`
    /// if it is not a directory; `EINVAL` if `at.mount` is not attached.
    pub fn mount_new(&self, at: Location<'_, Self>) -> Result<u64, Errno> {
        self.mount_new_with(at, MountFlags::empty())
    }

    /// [`mount_new`](Self::mount_new) with options.
    pub fn mount_new_with(&self, at: Location<'_, Self>, flags: MountFlags) -> Result<u64, Errno> {
        self.update_topology(|guard, state| {
            if self.check_mountpoint(guard, at)? != Kind::Directory {
                return Err(Errno::ENOTDIR);
            }
            let tree = state.next_tree;
            state.next_tree += 1;
            let inode = self.new_inode(Kind::Directory, 0o755, &Cred::ROOT, Link::None);
            let root = update::alloc_tree_root(state, inode, tree, self.shared);
            let mount = alloc_mount(state, root, tree, flags, self.shared);
            state.trees.push((tree, 1));
            // SAFETY: just allocated, and registered until killed.
            let mount = unsafe { mount.as_ref() };
            self.attach(guard, mount, at);
            Ok(mount.id)
        })
    }

    /// Shows the tree below `source` at `at` as well (Linux: `mount --bind`), on top of
    /// whatever is mounted there already, and returns the new mount's id. A directory goes
    /// on a directory, a non-directory on a non-directory.
    ///
    /// Errors: as [`mount_new`](Self::mount_new) for `at`; `ENOENT` if `source` is negative
    /// or its tree has been torn down; `ENOTDIR` if exactly one of the two is a directory;
    /// `EINVAL` if either mount is not attached.
    pub fn bind_mount(
        &self,
        source: Location<'_, Self>,
        at: Location<'_, Self>,
    ) -> Result<u64, Errno> {
        self.bind_mount_with(source, at, MountFlags::empty())
    }

    /// [`bind_mount`](Self::bind_mount) with options.
    pub fn bind_mount_with(
        &self,
        source: Location<'_, Self>,
        at: Location<'_, Self>,
        flags: MountFlags,
    ) -> Result<u64, Errno> {
        self.update_topology(|guard, state| {
            // Relaxed: `attached` changes only under the update lock.
            if !source.mount.attached.load(Ordering::Relaxed) {
                return Err(Errno::EINVAL);
            }
            let source_inode = self.inode_rcu(guard, source.dentry).ok_or(Errno::ENOENT)?;
            if source_inode.is_dead() {
                return Err(Errno::ENOENT);
            }
            let at_kind = self.check_mountpoint(guard, at)?;
            if (source_inode.kind == Kind::Directory) != (at_kind == Kind::Directory) {
                return Err(Errno::ENOTDIR);
            }
            let tree = source.dentry.sb;
            let Some(entry) = state.trees.iter_mut().find(|(id, _)| *id == tree) else {
                return Err(Errno::ENOENT);
            };
            // The mount's reference on its root.
            if !get_not_dead(&source.dentry.count) {
                return Err(Errno::ENOENT);
            }
            entry.1 += 1;
            let mount = alloc_mount(
                state,
                NonNull::from(source.dentry),
                tree,
                flags,
                self.shared,
            );
            // SAFETY: just allocated, and registered until killed.
            let mount = unsafe { mount.as_ref() };
            self.attach(guard, mount, at);
            Ok(mount.id)
        })
    }

    /// Detaches `mount` (Linux: `umount`; a walk that ends on a mount's root reports the
    /// mount in its location). The mount stays usable by whoever holds a reference on it
    /// and is freed after the last [`mntput`](crate::Namespace::mntput); its tree is torn down when
    /// no mount shows any part of it any more.
    ///
    /// Errors: `EINVAL` if the mount is already detached; `EBUSY` for the root mount and
    /// for a mount that has mounts attached on it.
    pub fn unmount(&self, mount: &Mount) -> Result<(), Errno> {
        self.update_topology(|guard, state| {
            if ptr::eq(mount, self.root_mount.as_ptr()) {
                return Err(Errno::EBUSY);
            }
            // Relaxed: `attached` and `children` change only under the update lock.
            if !mount.attached.load(Ordering::Relaxed) {
                return Err(Errno::EINVAL);
            }
            if mount.children.load(Ordering::Relaxed) != 0 {
                return Err(Errno::EBUSY);
            }
            self.detach(guard, state, mount);
            Ok(())
        })
    }

    /// Checks that `at` is a place a mount may be attached on, and returns its kind.
    fn check_mountpoint(
        &self,
        guard: &ReadGuard<'_, R>,
        at: Location<'_, Self>,
    ) -> Result<Kind, Errno> {
        // Relaxed: `attached` and `hashed` change only under the update lock, which we hold.
        if !at.mount.attached.load(Ordering::Relaxed) {
            return Err(Errno::EINVAL);
        }
        let dentry = at.dentry;
        let inode = self.inode_rcu(guard, dentry).ok_or(Errno::ENOENT)?;
        let is_tree_root = ptr::eq(dentry.parent.load(Ordering::Relaxed), dentry);
        if inode.is_dead() || !(is_tree_root || dentry.hashed.load(Ordering::Relaxed)) {
            return Err(Errno::ENOENT);
        }
        Ok(inode.kind)
    }

    /// Attaches `mount` at `at`, or on top of the mounts stacked there (Linux: `attach_mnt`
    /// after `lock_mount` found the top of the stack).
    fn attach(&self, guard: &ReadGuard<'_, R>, mount: &Mount, at: Location<'_, Self>) {
        let (mut parent, mut mountpoint) = (at.mount, at.dentry);
        while let Some(top) = self.lookup_mnt(guard, parent, mountpoint) {
            parent = top;
            mountpoint = self.mnt_root(top);
        }

        // Walks that crossed (or failed to cross) this place fail their mount_lock check.
        let _write = self.mount_lock.write_begin();
        // Release pairs with the Acquire loads in `mnt_parent`.
        mount
            .parent
            .store(ptr::from_ref(parent).cast_mut(), Ordering::Release);
        mount
            .mountpoint
            .store(ptr::from_ref(mountpoint).cast_mut(), Ordering::Release);
        // Relaxed: covered by the write section (the engine validates `mount_lock`).
        mountpoint.mounted.fetch_add(1, Ordering::Relaxed);
        parent.children.fetch_add(1, Ordering::Relaxed);
        // SAFETY: 1. updaters are serialised by the update lock; 2. the mount is valid, on no
        // list, and stays in place until detached (`del_rcu`) and freed a grace period after
        // its kill.
        unsafe {
            self.m_bucket(parent, mountpoint)
                .add_head_rcu(NonNull::from(mount))
        };
    }

    /// Detaches `mount` from the mount tree (Linux: `umount_tree` and `umount_mnt`), and
    /// queues it as a victim: it dies once unreferenced.
    fn detach(&self, _guard: &ReadGuard<'_, R>, state: &mut State, mount: &Mount) {
        // Relaxed: under the update lock.
        let parent = mount.parent.load(Ordering::Relaxed);
        let mountpoint = mount.mountpoint.load(Ordering::Relaxed);
        {
            // Walks that crossed this mount fail their mount_lock check.
            let _write = self.mount_lock.write_begin();
            // SAFETY: 1. serialised by the update lock; 2. an attached mount is on the chain
            // of its parent and mountpoint.
            unsafe {
                self.m_bucket(parent, mountpoint)
                    .del_rcu(NonNull::from(mount))
            };
            // SAFETY: an attached mount's parent and mountpoint are live.
            let (parent, mountpoint) = unsafe { (&*parent, &*mountpoint) };
            // Relaxed: covered by the write section.
            mountpoint.mounted.fetch_sub(1, Ordering::Relaxed);
            parent.children.fetch_sub(1, Ordering::Relaxed);
            mount.parent.store(ptr::null_mut(), Ordering::Relaxed);
            mount.mountpoint.store(ptr::null_mut(), Ordering::Relaxed);
            // SeqCst: the other side of the handshake in `put_ref`, against `mntput`.
            mount.attached.store(false, Ordering::SeqCst);
        }
        state.victims.push(Victim::Mount(NonNull::from(mount)));
    }
}

/// Allocates an attached-to-be mount of `root`'s tree, registers it and counts it as live.
/// The caller has taken the reference on `root` the mount holds.
pub(super) fn alloc_mount(
    state: &mut State,
    root: NonNull<Dentry>,
    tree: u64,
    flags: MountFlags,
    shared: NonNull<Shared>,
) -> NonNull<Mount> {
    let id = state.next_mount_id;
    state.next_mount_id += 1;
    state.mounts.insert(|slot| {
        // SAFETY: the counters outlive every object.
        unsafe { shared.as_ref() }.object_allocated();
        let mount = Box::new(Mount {
            hash: HlistNode::new(),
            root,
            parent: AtomicPtr::new(ptr::null_mut()),
            mountpoint: AtomicPtr::new(ptr::null_mut()),
            count: AtomicU32::new(0),
            attached: AtomicBool::new(true),
            children: AtomicU32::new(0),
            nosymfollow: flags.contains(MountFlags::NOSYMFOLLOW),
            id,
            tree,
            slot,
            shared,
            rcu: RcuHead::new(),
        });
        NonNull::from(Box::leak(mount))
    })
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::testutil::ns;
    use super::*;
    use crate::dcache::RenameFlags;

    /// A new mount is found by `lookup_mnt` on its mountpoint, reports its parent with
    /// `mnt_parent`, shows an empty tree, and bumps `mount_lock`; the root mount has no
    /// parent.
    #[test]
    fn mount_new_attaches_an_empty_tree() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"file", 0o644, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        let before = ns.mount_lock().read_begin();
        let id = ns.mount_new(mnt).unwrap();
        assert!(
            ns.mount_lock().read_retry(before),
            "attach bumps mount_lock"
        );
        assert_ne!(id, ns.mount_id(root.mount));
        assert_eq!(ns.mount_id(root.mount), 1);
        {
            let guard = rcu.read_lock();
            assert!(ns.mnt_parent(&guard, root.mount).is_none());
            assert!(ns.lookup_mnt(&guard, root.mount, root.dentry).is_none());
            let child = ns.lookup_mnt(&guard, root.mount, mnt.dentry).unwrap();
            assert_eq!(ns.mount_id(child), id);
            let up = ns.mnt_parent(&guard, child).unwrap();
            assert!(ptr::eq(up.mount, root.mount) && ptr::eq(up.dentry, mnt.dentry));
            let inner = ns.mnt_root(child);
            assert_eq!(ns.kind(inner), Kind::Directory);
            assert!(
                ptr::eq(ns.parent(&guard, inner), inner),
                "a tree root is its own parent"
            );
            assert!(matches!(
                ns.lookup_rcu(&guard, inner, b"file").unwrap(),
                crate::RcuLookup::Negative
            ));
        }
        // Creating inside the mount goes to the new tree.
        let inside = ns.lookup_path(b"/mnt").unwrap();
        assert_eq!(ns.mount_id(inside.mount), id);
        ns.create(inside, b"x", 0o644, &Cred::ROOT).unwrap();
        assert!(ns.lookup_path(b"/mnt/x").map(|l| ns.put(l)).is_ok());
        ns.put(inside);
        ns.put(mnt);
    }

    /// Mounting where something is mounted stacks on top; unmounting the lower one is
    /// refused while the upper one is attached.
    #[test]
    fn mounts_stack() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        let first = ns.mount_new(mnt).unwrap();
        let second = ns.mount_new(mnt).unwrap();
        {
            let guard = rcu.read_lock();
            let lower = ns.lookup_mnt(&guard, root.mount, mnt.dentry).unwrap();
            assert_eq!(lower.id(), first);
            let upper = ns.lookup_mnt(&guard, lower, ns.mnt_root(lower)).unwrap();
            assert_eq!(upper.id(), second);
            let up = ns.mnt_parent(&guard, upper).unwrap();
            assert!(ptr::eq(up.mount, lower) && ptr::eq(up.dentry, ns.mnt_root(lower)));
        }
        let top = ns.lookup_path(b"/mnt").unwrap();
        assert_eq!(
            top.mount.id(),
            second,
            "a walk ends on the top of the stack"
        );
        let lower = {
            let guard = rcu.read_lock();
            let lower = ns.lookup_mnt(&guard, root.mount, mnt.dentry).unwrap();
            assert!(ns.mntget_not_dead(lower));
            // SAFETY: (test) referenced until the `mntput` below.
            unsafe { &*ptr::from_ref(lower) }
        };
        assert_eq!(ns.unmount(lower), Err(Errno::EBUSY));
        ns.unmount(top.mount).unwrap();
        ns.unmount(lower).unwrap();
        ns.test_mntput(lower);
        ns.put(top);
        {
            let guard = rcu.read_lock();
            assert!(ns.lookup_mnt(&guard, root.mount, mnt.dentry).is_none());
        }
        ns.put(mnt);
    }

    /// A bind mount shows the same dentries; unmount detaches it (and `mnt_parent` of the
    /// detached mount is gone), a second unmount is EINVAL, the root mount is EBUSY.
    #[test]
    fn bind_mount_and_unmount() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"src", 0o755, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"dst", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"file", 0o644, &Cred::ROOT).unwrap();
        let src = ns.lookup_path(b"/src").unwrap();
        let dst = ns.lookup_path(b"/dst").unwrap();
        let file = ns.lookup_path(b"/file").unwrap();
        ns.create(src, b"inside", 0o644, &Cred::ROOT).unwrap();
        assert_eq!(ns.bind_mount(src, file), Err(Errno::ENOTDIR));
        let id = ns.bind_mount(src, dst).unwrap();
        let through = ns.lookup_path(b"/dst/inside").unwrap();
        let direct = ns.lookup_path(b"/src/inside").unwrap();
        assert!(ptr::eq(through.dentry, direct.dentry), "the same dentry");
        assert_eq!(through.mount.id(), id);
        assert!(!ptr::eq(through.mount, direct.mount));
        ns.put(through);
        ns.put(direct);

        assert_eq!(ns.unmount(root.mount), Err(Errno::EBUSY));
        let bound = ns.lookup_path(b"/dst").unwrap();
        let before = ns.mount_lock().read_begin();
        ns.unmount(bound.mount).unwrap();
        assert!(ns.mount_lock().read_retry(before));
        assert_eq!(
            ns.unmount(bound.mount),
            Err(Errno::EINVAL),
            "already detached"
        );
        {
            let guard = rcu.read_lock();
            assert!(ns.mnt_parent(&guard, bound.mount).is_none());
            assert!(ns.lookup_mnt(&guard, root.mount, dst.dentry).is_none());
        }
        ns.put(bound);
        // `rmdir` of the former mountpoint works now; of a mountpoint it is EBUSY.
        let id2 = ns.bind_mount(src, dst).unwrap();
        assert!(id2 > id);
        assert_eq!(ns.rmdir(root, b"dst", &Cred::ROOT), Err(Errno::EBUSY));
        assert_eq!(
            ns.rename(
                root,
                b"dst",
                root,
                b"elsewhere",
                RenameFlags::empty(),
                &Cred::ROOT
            ),
            Err(Errno::EBUSY)
        );
        for loc in [src, dst, file] {
            ns.put(loc);
        }
    }

    /// Unmounting a tree with no other mount tears it down: once the last reference goes,
    /// every object of the tree is freed.
    #[test]
    fn unmount_tears_the_tree_down() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        rcu.barrier();
        let baseline = ns.live_objects();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        ns.mount_new(mnt).unwrap();
        let inside = ns.lookup_path(b"/mnt").unwrap();
        ns.mkdir(inside, b"a", 0o755, &Cred::ROOT).unwrap();
        let a = ns.lookup_path(b"/mnt/a").unwrap();
        ns.create(a, b"f", 0o644, &Cred::ROOT).unwrap();
        ns.create(a, b"gone", 0o644, &Cred::ROOT).unwrap();
        ns.unlink(a, b"gone", &Cred::ROOT).unwrap();
        // Keep a reference on a dentry of the tree, but none on the mount.
        assert!(ns.dget_not_dead(a.dentry));
        let a_dentry = a.dentry;
        ns.put(a);
        ns.unmount(inside.mount).unwrap();
        ns.put(inside);
        // The mount died with its last reference, and its tree with it: the holder sees
        // the directory empty and dead.
        assert_eq!(
            ns.lookup(a_dentry, b"f", crate::LookupFlags::empty()).err(),
            Some(Errno::ENOENT)
        );
        let held = Location {
            mount: root.mount,
            dentry: a_dentry,
        };
        assert_eq!(
            ns.create(held, b"new", 0o644, &Cred::ROOT),
            Err(Errno::ENOENT)
        );
        ns.test_dput(a_dentry);
        ns.put(mnt);
        rcu.barrier();
        assert_eq!(ns.live_objects(), baseline);
    }

    /// A nosymfollow mount refuses to follow links with ELOOP.
    #[test]
    fn nosymfollow_mount() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        ns.mount_new_with(mnt, MountFlags::NOSYMFOLLOW).unwrap();
        let inside = ns.lookup_path(b"/mnt").unwrap();
        assert!(inside.mount.nosymfollow());
        ns.symlink(inside, b"l", b"/", &Cred::ROOT).unwrap();
        let link = ns.lookup_path(b"/mnt/l").unwrap();
        assert_eq!(
            ns.may_follow_link(&Cred::ROOT, link.mount, inside.dentry, link.dentry),
            Err(Errno::ELOOP)
        );
        ns.symlink(root, b"l", b"/", &Cred::ROOT).unwrap();
        let outside = ns.lookup_path(b"/l").unwrap();
        assert_eq!(
            ns.may_follow_link(&Cred::ROOT, outside.mount, root.dentry, outside.dentry),
            Ok(())
        );
        for loc in [link, outside, inside, mnt] {
            ns.put(loc);
        }
    }
}
