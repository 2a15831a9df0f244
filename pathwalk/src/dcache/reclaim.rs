//! Reference counts, killing and freeing: how dentries, inodes, names and mounts die.
//!
//! - [`get_not_dead`] and [`put_ref`] are the lock-free halves of the count word described at
//!   [`DEAD`]: Linux's `lockref_get_not_dead` and the decrement of `dput`.
//! - [`Dcache::reap`] kills, under the update lock, every object that has become unreachable
//!   and unreferenced, and whatever that releases in turn (a killed dentry's parent, a jump
//!   link's target, a mount's root, a whole tree when its last mount dies): Linux's
//!   `dentry_kill` loop walking up to the parent, and `mntput_no_expire`.
//! - The free functions run a grace period after the kill, from `call_rcu` callbacks.
//! - [`Registry`] remembers every live object, so that dropping the namespace frees what is
//!   still alive.

use core::hint::spin_loop;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use alloc::boxed::Box;
use alloc::vec::Vec;
use rcu_core::{Rcu, RcuHead, ReadGuard};

use super::dentry::{Dentry, Name, DEAD, LOCKED, MAX_REFS};
use super::inode::{Inode, Link};
use super::mount::Mount;
use super::{Dcache, State};
use crate::Kind;

/// Takes a reference unless the object is dead (Linux: `lockref_get_not_dead`). Waits while a
/// dentry is being turned negative ([`LOCKED`]), a section of a few stores. Fails, rather than
/// overflow, at [`MAX_REFS`].
#[inline]
pub(super) fn get_not_dead(count: &AtomicU32) -> bool {
    // Relaxed: only a first guess for the compare-and-swap.
    let mut current = count.load(Ordering::Relaxed);
    loop {
        match current {
            DEAD | MAX_REFS => return false,
            LOCKED => {
                spin_loop();
                // Relaxed: as above.
                current = count.load(Ordering::Relaxed);
                continue;
            }
            _ => {}
        }
        // Acquire pairs with the Release store that ends a LOCKED section in `delete`: a
        // getter that succeeds after it sees the dentry's new state and its `d_seq` bump.
        match count.compare_exchange_weak(
            current,
            current + 1,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(actual) => current = actual,
        }
    }
}

/// Drops a reference; returns whether it was the last one. The caller must hold one.
#[inline]
pub(super) fn put_ref(count: &AtomicU32) -> bool {
    // Relaxed: only a first guess for the compare-and-swap.
    let mut current = count.load(Ordering::Relaxed);
    loop {
        if current == 0 || current >= LOCKED {
            debug_assert!(false, "pathwalk::dcache: put without a reference");
            return false;
        }
        // SeqCst: one side of the store-buffering handshake with `unhash` and `detach`
        // (which store "not hashed"/"not attached" and then compare-and-swap the count, both
        // SeqCst): either the putter's later load of the flag sees it cleared, or the
        // updater's compare-and-swap sees the count at zero. The Release half also orders
        // the holder's accesses before the kill that reads this value (Acquire there).
        match count.compare_exchange_weak(current, current - 1, Ordering::SeqCst, Ordering::Relaxed)
        {
            Ok(_) => return current == 1,
            Err(actual) => current = actual,
        }
    }
}

/// An object that may have become killable; see [`Dcache::reap`].
#[derive(Clone, Copy, Debug)]
pub(super) enum Victim {
    Dentry(NonNull<Dentry>),
    Mount(NonNull<Mount>),
}

// SAFETY: a victim is a pointer to a `Sync` object, queued and consumed under the update lock.
unsafe impl Send for Victim {}

impl<R: Rcu + 'static> Dcache<R> {
    /// Kills every queued victim that is unreachable and unreferenced, and whatever that
    /// makes killable in turn, until the queue is empty.
    ///
    /// Called with the update lock held (`state`) inside the read-side section `guard`,
    /// which must have been open since before each victim was queued: it keeps a victim
    /// that was queued twice and killed the first time valid for the second look.
    pub(super) fn reap(&self, guard: &ReadGuard<'_, R>, state: &mut State) {
        while let Some(victim) = state.victims.pop() {
            match victim {
                Victim::Dentry(dentry) => {
                    // SAFETY: the dentry was alive when queued, inside `guard`'s section; if
                    // it was killed since, its free waits for a grace period that cannot end
                    // before `guard` is dropped.
                    let dentry = unsafe { dentry.as_ref() };
                    self.try_kill_dentry(state, dentry);
                }
                Victim::Mount(mount) => {
                    // SAFETY: as for dentries.
                    let mount = unsafe { mount.as_ref() };
                    self.try_kill_mount(guard, state, mount);
                }
            }
        }
    }

    /// Kills `dentry` if it is unhashed, childless and unreferenced (Linux: `dentry_kill`),
    /// releases what it held, and queues its free.
    fn try_kill_dentry(&self, state: &mut State, dentry: &Dentry) {
        // Relaxed: `hashed` and `children` change only under the update lock, which we hold.
        if dentry.hashed.load(Ordering::Relaxed) || dentry.children.load(Ordering::Relaxed) != 0 {
            return;
        }
        // SeqCst: the other side of the handshake in `put_ref` (this reads the latest count
        // after our SeqCst store of `hashed`). Acquire: the last holder's accesses happen
        // before the free.
        if dentry
            .count
            .compare_exchange(0, DEAD, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Some(owned) = state.dentries.take(dentry.slot) else {
            debug_assert!(
                false,
                "pathwalk::dcache: live dentry missing from the registry"
            );
            return;
        };

        // A child kept its parent alive; the parent may now be killable in its turn.
        // Relaxed: written under the update lock only.
        let parent = dentry.parent.load(Ordering::Relaxed);
        if !ptr::eq(parent, dentry) {
            // SAFETY: a live dentry's parent is live (it counts the child in `children`).
            let parent_ref = unsafe { &*parent };
            // Relaxed: under the update lock.
            parent_ref.children.fetch_sub(1, Ordering::Relaxed);
            state
                .victims
                .push(Victim::Dentry(NonNull::from(parent_ref)));
        }

        // A jump link lets go of its target now; the inode's memory goes with the dentry.
        // Relaxed: the inode pointer changes only under the update lock.
        let inode = dentry.inode.load(Ordering::Relaxed);
        // SAFETY: the inode of a live dentry is live; it is freed with the dentry below.
        if let Some(inode) = unsafe { inode.as_ref() } {
            release_link(state, inode);
        }

        // SAFETY: 1. `owned` is the registry's pointer from `Box::leak`, with provenance over
        // the whole dentry, so the head pointer lets the callback recover and free it; the
        // head is not queued (a dentry is killed once) and stays in place until the free.
        // 2. The dentry is unreachable for new readers (unhashed, no children that could name
        // it as parent, no references, no mount on it), so freeing it after a grace period is
        // sound. 3. `free_dentry_rcu` does not call `barrier`.
        unsafe {
            let head = NonNull::new_unchecked(ptr::addr_of_mut!((*owned.as_ptr()).rcu));
            self.rcu.call_rcu(head, free_dentry_rcu);
        }
    }

    /// Kills `mount` if it is detached and unreferenced (Linux: `mntput_no_expire` reaching
    /// zero after `umount_tree`), drops its reference on its root, and tears down its tree if
    /// it was the tree's last mount.
    fn try_kill_mount(&self, guard: &ReadGuard<'_, R>, state: &mut State, mount: &Mount) {
        // Relaxed: `attached` changes only under the update lock.
        if mount.attached.load(Ordering::Relaxed) {
            return;
        }
        // SeqCst and Acquire: as in `try_kill_dentry`, against `mntput`.
        if mount
            .count
            .compare_exchange(0, DEAD, Ordering::SeqCst, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let Some(owned) = state.mounts.take(mount.slot) else {
            debug_assert!(
                false,
                "pathwalk::dcache: live mount missing from the registry"
            );
            return;
        };

        // SAFETY: a live mount holds a reference on its root, so the root is live.
        let root = unsafe { mount.root.as_ref() };
        if put_ref(&root.count) {
            state.victims.push(Victim::Dentry(mount.root));
        }
        self.tree_put(guard, state, mount.tree);

        // SAFETY: as in `try_kill_dentry`: the registry's pointer, a head queued once; the
        // mount is detached (off the hash, no child mounts, no mountpoint) and unreferenced.
        unsafe {
            let head = NonNull::new_unchecked(ptr::addr_of_mut!((*owned.as_ptr()).rcu));
            self.rcu.call_rcu(head, free_mount_rcu);
        }
    }

    /// Drops one of `tree`'s mounts; when it was the last, tears the tree down (Linux:
    /// `shrink_dcache_for_umount` when a superblock's last mount goes): every dentry of the
    /// tree is unhashed and its directories marked dead, so that the unreferenced ones die
    /// now and the referenced ones on their last `dput`.
    fn tree_put(&self, guard: &ReadGuard<'_, R>, state: &mut State, tree: u64) {
        let Some(index) = state.trees.iter().position(|&(id, _)| id == tree) else {
            debug_assert!(false, "pathwalk::dcache: mount of an unknown tree");
            return;
        };
        state.trees[index].1 -= 1;
        if state.trees[index].1 != 0 {
            return;
        }
        state.trees.swap_remove(index);

        let members: Vec<NonNull<Dentry>> = state
            .dentries
            .iter()
            .filter(|dentry| {
                // SAFETY: registered dentries are alive.
                unsafe { dentry.as_ref() }.sb == tree
            })
            .collect();
        for member in members {
            // SAFETY: registered, hence alive; nothing is killed before `reap` runs.
            let member = unsafe { member.as_ref() };
            if let Some(inode) = self.inode_rcu(guard, member) {
                if inode.kind == Kind::Directory {
                    // Relaxed: a hint read under the lock; see `Inode::is_dead`.
                    inode.dead.store(true, Ordering::Relaxed);
                }
            }
            // Relaxed: under the update lock.
            if member.hashed.load(Ordering::Relaxed) {
                self.unhash(guard, state, member);
            }
        }
    }

    /// Queues the free of an inode that was unbound from its dentry (unlink or rmdir of an
    /// unreferenced dentry), after releasing what a jump link held.
    ///
    /// # Safety
    ///
    /// `inode` came from `Inode::alloc`, is no longer reachable from any dentry, and is not
    /// queued already.
    pub(super) unsafe fn queue_free_inode(&self, state: &mut State, inode: NonNull<Inode>) {
        // SAFETY: still alive until the free queued below has run.
        release_link(state, unsafe { inode.as_ref() });
        // SAFETY: 1. `inode` is the pointer from `Box::leak` (stored in the dentry), so the
        // head pointer derived from it recovers the whole inode; queued once (contract).
        // 2. Unreachable for new readers (contract), so freeing after a grace period is sound.
        // 3. The callback does not call `barrier`.
        unsafe {
            let head = NonNull::new_unchecked(ptr::addr_of_mut!((*inode.as_ptr()).rcu));
            self.rcu.call_rcu(head, free_inode_rcu);
        }
    }

    /// Queues the free of a name that a rename replaced.
    ///
    /// # Safety
    ///
    /// `name` came from `Name::alloc`, is no longer any dentry's name, and is not queued
    /// already.
    pub(super) unsafe fn queue_free_name(&self, name: NonNull<Name>) {
        // SAFETY: as in `queue_free_inode`: the allocation's own pointer, queued once,
        // unreachable for new readers, and a callback that does not call `barrier`.
        unsafe {
            let head = NonNull::new_unchecked(ptr::addr_of_mut!((*name.as_ptr()).rcu));
            self.rcu.call_rcu(head, free_name_rcu);
        }
    }
}

/// Releases the references a jump link's inode holds on its target.
fn release_link(state: &mut State, inode: &Inode) {
    if let Link::Jump { mount, dentry } = inode.link {
        // SAFETY: the inode holds a reference on each, so both are alive.
        let (mount_ref, dentry_ref) = unsafe { (mount.as_ref(), dentry.as_ref()) };
        if put_ref(&dentry_ref.count) {
            state.victims.push(Victim::Dentry(dentry));
        }
        if put_ref(&mount_ref.count) {
            state.victims.push(Victim::Mount(mount));
        }
    }
}

/// Frees a dentry with its name and inode.
///
/// # Safety
///
/// `dentry` came from `Box::leak` in the allocation path, nothing uses it any more, and it is
/// not freed again.
pub(super) unsafe fn free_dentry(dentry: NonNull<Dentry>) {
    // SAFETY: per the contract, we own the allocation.
    let dentry = unsafe { Box::from_raw(dentry.as_ptr()) };
    let shared = dentry.shared;
    // Relaxed: the grace period (or `&mut` access in `Drop`) ordered every update before us.
    let name = dentry.name.load(Ordering::Relaxed);
    let inode = dentry.inode.load(Ordering::Relaxed);
    drop(dentry);
    // SAFETY: the dentry's current name and inode are owned by it and freed only here.
    unsafe {
        free_name(NonNull::new_unchecked(name));
        if let Some(inode) = NonNull::new(inode) {
            free_inode(inode);
        }
        shared.as_ref().object_freed();
    }
}

/// Frees a mount (its root dentry is freed on its own).
///
/// # Safety
///
/// As for [`free_dentry`].
pub(super) unsafe fn free_mount(mount: NonNull<Mount>) {
    // SAFETY: per the contract, we own the allocation.
    let mount = unsafe { Box::from_raw(mount.as_ptr()) };
    let shared = mount.shared;
    drop(mount);
    // SAFETY: the counters outlive every object.
    unsafe { shared.as_ref() }.object_freed();
}

/// Frees an inode.
///
/// # Safety
///
/// As for [`free_dentry`].
unsafe fn free_inode(inode: NonNull<Inode>) {
    // SAFETY: per the contract, we own the allocation.
    let inode = unsafe { Box::from_raw(inode.as_ptr()) };
    let shared = inode.shared;
    drop(inode);
    // SAFETY: the counters outlive every object.
    unsafe { shared.as_ref() }.object_freed();
}

/// Frees a name.
///
/// # Safety
///
/// As for [`free_dentry`].
unsafe fn free_name(name: NonNull<Name>) {
    // SAFETY: per the contract, we own the allocation.
    let name = unsafe { Box::from_raw(name.as_ptr()) };
    let shared = name.shared;
    drop(name);
    // SAFETY: the counters outlive every object.
    unsafe { shared.as_ref() }.object_freed();
}

/// The `call_rcu` callback of a killed dentry.
///
/// # Safety
///
/// `head` is the `rcu` field of a killed dentry, derived from its allocation's pointer.
unsafe fn free_dentry_rcu(head: NonNull<RcuHead>) {
    // SAFETY: per the contract, stepping back by the field offset gives the dentry, which a
    // grace period after its kill nobody uses.
    unsafe {
        let dentry = head
            .byte_sub(core::mem::offset_of!(Dentry, rcu))
            .cast::<Dentry>();
        free_dentry(dentry);
    }
}

/// The `call_rcu` callback of a killed mount.
///
/// # Safety
///
/// `head` is the `rcu` field of a killed mount, derived from its allocation's pointer.
unsafe fn free_mount_rcu(head: NonNull<RcuHead>) {
    // SAFETY: as in `free_dentry_rcu`.
    unsafe {
        let mount = head
            .byte_sub(core::mem::offset_of!(Mount, rcu))
            .cast::<Mount>();
        free_mount(mount);
    }
}

/// The `call_rcu` callback of an inode unbound from its dentry.
///
/// # Safety
///
/// `head` is the `rcu` field of such an inode, derived from its allocation's pointer.
unsafe fn free_inode_rcu(head: NonNull<RcuHead>) {
    // SAFETY: as in `free_dentry_rcu`.
    unsafe {
        let inode = head
            .byte_sub(core::mem::offset_of!(Inode, rcu))
            .cast::<Inode>();
        free_inode(inode);
    }
}

/// The `call_rcu` callback of a name replaced by a rename.
///
/// # Safety
///
/// `head` is the `rcu` field of such a name, derived from its allocation's pointer.
unsafe fn free_name_rcu(head: NonNull<RcuHead>) {
    // SAFETY: as in `free_dentry_rcu`.
    unsafe {
        let name = head
            .byte_sub(core::mem::offset_of!(Name, rcu))
            .cast::<Name>();
        free_name(name);
    }
}

/// Every live object of one type, by slot, so that the namespace can free what is still
/// alive when it is dropped. Touched only under the update lock (or with `&mut`).
pub(super) struct Registry<T> {
    slots: Vec<Option<Owned<T>>>,
    free: Vec<usize>,
}

/// A registry's pointer to an object it owns (from `Box::leak`).
struct Owned<T>(NonNull<T>);

// SAFETY: the registry hands the pointer around only under the update lock; the objects are
// `Send + Sync`.
unsafe impl<T: Send + Sync> Send for Owned<T> {}

impl<T> Registry<T> {
    /// An empty registry.
    pub(super) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    /// Registers the object that `make` allocates for the slot it is given.
    pub(super) fn insert(&mut self, make: impl FnOnce(usize) -> NonNull<T>) -> NonNull<T> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let object = make(slot);
        self.slots[slot] = Some(Owned(object));
        object
    }

    /// Unregisters the object in `slot` and returns the registry's pointer to it.
    pub(super) fn take(&mut self, slot: usize) -> Option<NonNull<T>> {
        let object = self.slots.get_mut(slot)?.take()?;
        self.free.push(slot);
        Some(object.0)
    }

    /// The registered objects.
    pub(super) fn iter(&self) -> impl Iterator<Item = NonNull<T>> + '_ {
        self.slots.iter().flatten().map(|owned| owned.0)
    }

    /// Unregisters everything.
    pub(super) fn drain(&mut self) -> Vec<NonNull<T>> {
        self.free.clear();
        self.slots
            .drain(..)
            .flatten()
            .map(|owned| owned.0)
            .collect()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::testutil::{ns, stat_of};
    use super::*;
    use crate::dcache::{Cred, RenameFlags};
    use crate::{Namespace, RcuLookup};

    /// The count word: gets fail on dead and saturated counts, puts report the last one.
    #[test]
    fn count_word_transitions() {
        let count = AtomicU32::new(0);
        assert!(get_not_dead(&count));
        assert!(get_not_dead(&count));
        assert!(!put_ref(&count));
        assert!(put_ref(&count), "dropping the last reference");
        count.store(DEAD, Ordering::Relaxed);
        assert!(!get_not_dead(&count), "a dead object cannot be revived");
        count.store(MAX_REFS, Ordering::Relaxed);
        assert!(!get_not_dead(&count), "a saturated count refuses");
    }

    /// The registry reuses slots and forgets what it gave back.
    #[test]
    fn registry_reuses_slots() {
        let mut values = [1u8, 2, 3];
        let mut registry = Registry::<u8>::new();
        let a = registry.insert(|slot| {
            assert_eq!(slot, 0);
            NonNull::from(&mut values[0])
        });
        registry.insert(|slot| {
            assert_eq!(slot, 1);
            NonNull::from(&mut values[1])
        });
        assert_eq!(registry.take(0), Some(a));
        assert_eq!(registry.take(0), None);
        registry.insert(|slot| {
            assert_eq!(slot, 0, "a freed slot is reused");
            NonNull::from(&mut values[2])
        });
        assert_eq!(registry.iter().count(), 2);
        assert_eq!(registry.drain().len(), 2);
        assert_eq!(registry.iter().count(), 0);
    }

    /// A rename over an unreferenced file kills the replaced dentry at once: a reader that
    /// found it before (and so may still look at it) sees its count dead, so
    /// `dget_not_dead` fails, and its `d_seq` moved.
    #[test]
    fn dget_not_dead_fails_on_a_killed_dentry() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.create(root, b"a", 0o644, &Cred::ROOT).unwrap();
        ns.create(root, b"b", 0o644, &Cred::ROOT).unwrap();
        let guard = rcu.read_lock();
        let RcuLookup::Found(victim, seq) = ns.lookup_rcu(&guard, root.dentry, b"b").unwrap()
        else {
            panic!("b is cached");
        };
        ns.rename(root, b"a", root, b"b", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        assert!(ns.d_seq(victim).read_retry(seq), "unhashing moves d_seq");
        let ops = ns.ref_ops();
        assert!(!ns.dget_not_dead(victim), "the replaced dentry is dead");
        assert_eq!(ns.ref_ops(), ops + 1, "a failed get still counts");
        drop(guard);
        rcu.barrier();
    }

    /// Unlinking a referenced file unhashes it but keeps its inode (like an open file); the
    /// last `dput` kills it, and a grace period later it is freed.
    #[test]
    fn referenced_unlinked_file_lives_until_its_last_put() {
        let (rcu, ns) = ns();
        let root = ns.root();
        rcu.barrier();
        let baseline = ns.live_objects();
        let ino = ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        assert_eq!(ns.live_objects(), baseline + 3, "dentry, name, inode");
        let file = ns.lookup_path(b"/f").unwrap();
        ns.unlink(root, b"f", &Cred::ROOT).unwrap();
        assert_eq!(ns.ino(file.dentry), Some(ino), "the holder keeps the inode");
        let stat = stat_of(&ns, file);
        assert_eq!(stat.nlink, 0);
        assert_eq!(
            ns.lookup(root.dentry, b"f", crate::LookupFlags::empty())
                .err(),
            Some(crate::Errno::ENOENT)
        );
        ns.put(file);
        rcu.barrier();
        assert_eq!(ns.live_objects(), baseline, "freed after the last put");
    }

    /// Unlinking an unreferenced file leaves a negative dentry in the cache (Linux's
    /// `d_delete`), whose inode is freed after a grace period; `shrink` prunes it.
    #[test]
    fn unreferenced_unlink_leaves_a_negative_dentry() {
        let (rcu, ns) = ns();
        let root = ns.root();
        rcu.barrier();
        let baseline = ns.live_objects();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        ns.unlink(root, b"f", &Cred::ROOT).unwrap();
        rcu.barrier();
        assert_eq!(ns.live_objects(), baseline + 2, "dentry and name remain");
        {
            let guard = rcu.read_lock();
            match ns.lookup_rcu(&guard, root.dentry, b"f").unwrap() {
                RcuLookup::Found(d, seq) => {
                    assert_eq!(ns.kind(d), crate::Kind::Negative);
                    assert!(!ns.d_seq(d).read_retry(seq));
                }
                _ => panic!("the negative dentry is cached"),
            }
        }
        assert_eq!(ns.shrink(), 1);
        rcu.barrier();
        assert_eq!(ns.live_objects(), baseline);
    }

    /// Dropping a namespace with references still held, negative and uncached entries,
    /// mounts, jump links and pending frees frees everything (debug builds assert it in
    /// `Drop`; Miri reports any leak).
    #[test]
    fn drop_frees_everything() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        ns.create(d, b"f", 0o644, &Cred::ROOT).unwrap();
        ns.create(d, b"g", 0o644, &Cred::ROOT).unwrap();
        ns.unlink(d, b"g", &Cred::ROOT).unwrap();
        ns.set_uncached(d, b"f", true).unwrap();
        ns.symlink(root, b"l", b"d/f", &Cred::ROOT).unwrap();
        ns.jump_link(root, b"j", d, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        ns.mount_new_with(mnt, crate::dcache::MountFlags::empty())
            .unwrap();
        ns.mkdir(
            ns.lookup_path(b"/mnt").unwrap(),
            b"inner",
            0o755,
            &Cred::ROOT,
        )
        .unwrap();
        let leaked_ref = ns.lookup_path(b"/d/f").unwrap();
        assert!(
            ns.dget_not_dead(leaked_ref.dentry),
            "an extra, never-dropped reference"
        );
        ns.rename(root, b"d", root, b"e", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        drop(ns);
    }

    /// Last puts racing with unlinks, renames over referenced entries and unmounts (the
    /// store-buffering handshake between `dput`/`mntput` and `unhash`/`detach`) never lose
    /// a kill: once everything is released, every object is freed.
    #[test]
    fn racing_puts_lose_no_kill() {
        use std::sync::atomic::AtomicBool;
        use std::thread;

        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        rcu.barrier();
        let baseline = ns.live_objects();
        let rounds = if cfg!(miri) { 6 } else { 3_000 };
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        // Ref mode.
                        if let Ok(f) = ns.lookup(root.dentry, b"f", crate::LookupFlags::empty()) {
                            ns.test_dput(f);
                        }
                        // RCU mode, legitimizing like a walk.
                        let guard = rcu.read_lock();
                        if let Ok(RcuLookup::Found(f, seq)) =
                            ns.lookup_rcu(&guard, root.dentry, b"f")
                        {
                            if ns.dget_not_dead(f) {
                                let _ = ns.d_seq(f).read_retry(seq);
                                ns.test_dput(f);
                            }
                        }
                        if let Some(m) = ns.lookup_mnt(&guard, root.mount, mnt.dentry) {
                            if ns.mntget_not_dead(m) {
                                ns.test_mntput(m);
                            }
                        }
                    }
                });
            }
            for i in 0..rounds {
                let _ = ns.create(root, b"f", 0o644, &Cred::ROOT);
                if i % 2 == 0 {
                    ns.unlink(root, b"f", &Cred::ROOT).unwrap();
                } else {
                    ns.create(root, b"g", 0o644, &Cred::ROOT).unwrap();
                    ns.rename(root, b"g", root, b"f", RenameFlags::empty(), &Cred::ROOT)
                        .unwrap();
                }
                ns.mount_new(mnt).unwrap();
                let top = ns.lookup_path(b"/mnt").unwrap();
                ns.unmount(top.mount).unwrap();
                ns.put(top);
            }
            done.store(true, Ordering::Relaxed);
        });
        let _ = ns.unlink(root, b"f", &Cred::ROOT);
        ns.shrink();
        rcu.barrier();
        assert_eq!(ns.live_objects(), baseline, "a kill was lost");
        ns.put(mnt);
    }
}
