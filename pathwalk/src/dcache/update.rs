//! The update side's primitives on the dentry tree: find, allocate, instantiate, unhash,
//! delete, move. Linux names in brackets.
//!
//! Every function here is called with the update lock held (the `&mut State` argument, or
//! the caller's word for the ones that only touch atomics) inside a read-side critical
//! section (the guard argument), which keeps every dentry the function looks at valid even
//! if a kill queues its free meanwhile. What RCU readers validate is changed only inside the
//! dentry's `d_seq` write sections.

use core::ptr::{self, NonNull};
use core::sync::atomic::Ordering;

use alloc::boxed::Box;
use alloc::vec::Vec;
use rcu_core::{Rcu, ReadGuard};

use super::dentry::{encode_kind, Dentry, Name, LOCKED, UNCACHED};
use super::inode::{type_bits, Attr, Cred, Inode, Link};
use super::reclaim::Victim;
use super::{Dcache, Shared, State};
use crate::{Errno, Kind};

impl<R: Rcu + 'static> Dcache<R> {
    /// The hashed child `name` of `parent`, whatever its knobs say (Linux: `__d_lookup`
    /// under the locks).
    pub(super) fn find_child<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        parent: &Dentry,
        name: &[u8],
    ) -> Option<&'g Dentry> {
        self.d_bucket(parent, name).iter(guard).find(|child| {
            // Relaxed: parent and hashed change only under the update lock, which we hold.
            ptr::eq(child.parent.load(Ordering::Relaxed), parent)
                && child.hashed.load(Ordering::Relaxed)
                && self.name_rcu(guard, child) == name
        })
    }

    /// The inode of `dir` if it is a directory in which entries may be looked up or
    /// created: `ENOENT` if it is negative or has been removed, `ENOTDIR` if it is not a
    /// directory.
    pub(super) fn live_dir<'g>(
        &self,
        guard: &'g ReadGuard<'_, R>,
        dir: &'g Dentry,
    ) -> Result<&'g Inode, Errno> {
        let inode = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?;
        if inode.kind != Kind::Directory {
            return Err(Errno::ENOTDIR);
        }
        if inode.is_dead() {
            return Err(Errno::ENOENT);
        }
        Ok(inode)
    }

    /// Allocates an inode of `kind` owned by `cred`, with permission bits `perm`, a fresh
    /// inode number and the current logical time (Linux: `new_inode` and
    /// `inode_init_owner`).
    pub(super) fn new_inode(
        &self,
        kind: Kind,
        perm: u32,
        cred: &Cred,
        link: Link,
    ) -> NonNull<Inode> {
        let now = self.tick();
        let size = match &link {
            Link::Body(body) => body.len() as u64,
            _ => 0,
        };
        let attr = Attr {
            size,
            atime: now,
            mtime: now,
            ctime: now,
            mode: type_bits(kind) | (perm & 0o7777),
            uid: cred.uid,
            gid: cred.gid,
            nlink: if kind == Kind::Directory { 2 } else { 1 },
        };
        // Relaxed: only uniqueness matters.
        let ino = self.next_ino.fetch_add(1, Ordering::Relaxed);
        Inode::alloc(ino, kind, attr, link, self.shared)
    }

    /// Allocates a child `name` of `parent`, bound to `inode` (or negative), and hashes it
    /// (Linux: `d_alloc` then `d_add`).
    pub(super) fn d_alloc(
        &self,
        state: &mut State,
        parent: &Dentry,
        name: &[u8],
        inode: Option<NonNull<Inode>>,
        kind: Kind,
    ) -> NonNull<Dentry> {
        let shared = self.shared;
        let name_ptr = Name::alloc(name, shared);
        let dentry = state
            .dentries
            .insert(|slot| alloc_dentry(name_ptr, inode, kind, parent.sb, slot, shared));
        // SAFETY: just allocated, and not visible to anyone else yet.
        let new = unsafe { dentry.as_ref() };
        // Relaxed: the dentry becomes visible only through the Release store in
        // `add_head_rcu`, which orders these initialising stores before it.
        new.parent
            .store(ptr::from_ref(parent).cast_mut(), Ordering::Relaxed);
        new.hashed.store(true, Ordering::Relaxed);
        // Relaxed: under the update lock.
        parent.children.fetch_add(1, Ordering::Relaxed);
        // SAFETY: 1. updaters are serialised by the update lock; 2. the dentry is valid, on no
        // list, and stays in place until it has been unhashed (`del_rcu`) and freed a grace
        // period after its kill.
        unsafe { self.d_bucket(parent, name).add_head_rcu(dentry) };
        dentry
    }

    /// Binds negative `dentry` to `inode` (Linux: `d_instantiate`).
    pub(super) fn instantiate(&self, dentry: &Dentry, inode: NonNull<Inode>, kind: Kind) {
        debug_assert!(!dentry.is_positive());
        // Readers that sampled the dentry negative fail validation.
        let _write = dentry.d_seq.write_begin();
        // Release pairs with the Acquire load in `inode_rcu`: a reader that sees the pointer
        // sees the inode initialised.
        dentry.inode.store(inode.as_ptr(), Ordering::Release);
        // Relaxed: covered by the write section.
        dentry.kind.store(encode_kind(kind), Ordering::Relaxed);
    }

    /// Takes `dentry` off its hash chain (Linux: `__d_drop`), so that lookups no longer find
    /// it, and queues it as a victim: it dies once it has no references and no children.
    pub(super) fn unhash(&self, guard: &ReadGuard<'_, R>, state: &mut State, dentry: &Dentry) {
        // Relaxed: under the update lock.
        debug_assert!(dentry.hashed.load(Ordering::Relaxed));
        let parent = dentry.parent.load(Ordering::Relaxed);
        let bucket = self.d_bucket(parent, self.name_rcu(guard, dentry));
        {
            // Readers that sampled `d_seq` before fail validation; readers that sample it
            // after see the dentry unhashed.
            let _write = dentry.d_seq.write_begin();
            // SAFETY: 1. updaters are serialised by the update lock; 2. a hashed dentry is on
            // the chain of its current parent and name.
            unsafe { bucket.del_rcu(NonNull::from(dentry)) };
            // SeqCst: the other side of the handshake in `put_ref` (the count is then read
            // by the compare-and-swap in `try_kill_dentry`).
            dentry.hashed.store(false, Ordering::SeqCst);
        }
        if dentry.has_flag(UNCACHED) {
            dentry.set_flag(UNCACHED, false);
            // SAFETY: a live dentry's parent is live.
            let parent = unsafe { &*parent };
            // Relaxed: a hint for `lookup_rcu`; see `set_uncached`.
            parent.uncached_children.fetch_sub(1, Ordering::Relaxed);
        }
        state.victims.push(Victim::Dentry(NonNull::from(dentry)));
    }

    /// Removes the name `dentry` holds (Linux: `d_delete`): an unreferenced, childless dentry
    /// becomes negative in place and stays hashed (its inode is freed after a grace period);
    /// any other is unhashed and keeps its inode until it dies.
    pub(super) fn delete(&self, guard: &ReadGuard<'_, R>, state: &mut State, dentry: &Dentry) {
        // Relaxed: under the update lock.
        let childless = dentry.children.load(Ordering::Relaxed) == 0;
        // Acquire pairs with the Release half of the last `put_ref`: the last holder's uses
        // of the inode happen before its free is queued. LOCKED keeps `dget_not_dead` from
        // referencing the dentry while it loses its inode.
        if childless
            && dentry
                .count
                .compare_exchange(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            let inode = {
                // Readers that sampled the dentry positive fail validation.
                let _write = dentry.d_seq.write_begin();
                // Relaxed: covered by the write section.
                dentry
                    .kind
                    .store(encode_kind(Kind::Negative), Ordering::Relaxed);
                dentry.inode.swap(ptr::null_mut(), Ordering::Relaxed)
            };
            // Release pairs with the Acquire compare-and-swap in `get_not_dead`.
            dentry.count.store(0, Ordering::Release);
            if let Some(inode) = NonNull::new(inode) {
                // SAFETY: the inode came from `Inode::alloc`, was just unbound from its only
                // dentry, and is queued only here.
                unsafe { self.queue_free_inode(state, inode) };
            }
        } else {
            self.unhash(guard, state, dentry);
        }
    }

    /// Counts a positive child of `kind` added to or removed from directory `parent`: its
    /// number of positive children (rmdir's `ENOTEMPTY`) and, for a subdirectory, its link
    /// count.
    pub(super) fn account_child(
        &self,
        guard: &ReadGuard<'_, R>,
        parent: &Dentry,
        kind: Kind,
        added: bool,
    ) {
        let Some(dir) = self.inode_rcu(guard, parent) else {
            debug_assert!(false, "pathwalk::dcache: child of a negative dentry");
            return;
        };
        // Relaxed: changed and read under the update lock.
        if added {
            dir.positive_children.fetch_add(1, Ordering::Relaxed);
        } else {
            dir.positive_children.fetch_sub(1, Ordering::Relaxed);
        }
        if kind == Kind::Directory {
            dir.attr.update(|attr| {
                attr.nlink = if added {
                    attr.nlink.saturating_add(1)
                } else {
                    attr.nlink.saturating_sub(1)
                };
            });
        }
    }

    /// Unhashes the negative children of directory `dir`, which is being removed, and kills
    /// the unreferenced ones (Linux: `shrink_dcache_parent`). Finds them by scanning the
    /// registry of live dentries.
    pub(super) fn prune_children(&self, guard: &ReadGuard<'_, R>, state: &mut State, dir: &Dentry) {
        let hashed_children: Vec<NonNull<Dentry>> = state
            .dentries
            .iter()
            .filter(|child| {
                // SAFETY: registered dentries are alive.
                let child = unsafe { child.as_ref() };
                // Relaxed: under the update lock.
                !ptr::eq(child, dir)
                    && ptr::eq(child.parent.load(Ordering::Relaxed), dir)
                    && child.hashed.load(Ordering::Relaxed)
            })
            .collect();
        for child in hashed_children {
            // SAFETY: registered, hence alive; nothing is killed before `reap` below.
            let child = unsafe { child.as_ref() };
            debug_assert!(!child.is_positive(), "pruning a non-empty directory");
            self.unhash(guard, state, child);
        }
        self.reap(guard, state);
    }

    /// Moves `dentry` to name `new_name` in `new_parent` and onto the matching hash chain
    /// (the heart of Linux's `d_move` and `__d_move`), and returns its previous name, which
    /// the caller frees unless it handed it to another dentry (an exchange swaps names).
    ///
    /// Called inside a write section of `rename_lock` (the move may divert readers of the
    /// old chain into the new one) and of the dentry's `d_seq`.
    pub(super) fn rehash(
        &self,
        guard: &ReadGuard<'_, R>,
        state: &mut State,
        dentry: &Dentry,
        new_parent: &Dentry,
        new_name: NonNull<Name>,
    ) -> Option<NonNull<Name>> {
        debug_assert!(self.rename_lock.is_write_locked() && dentry.d_seq.is_write_locked());
        // Relaxed: under the update lock.
        let old_parent = dentry.parent.load(Ordering::Relaxed);
        let old_bucket = self.d_bucket(old_parent, self.name_rcu(guard, dentry));
        // SAFETY: 1. updaters are serialised by the update lock; 2. a hashed dentry is on the
        // chain of its current parent and name.
        unsafe { old_bucket.del_rcu(NonNull::from(dentry)) };

        // Release pairs with the Acquire loads in `Namespace::parent` and `name_rcu`: a
        // reader that sees the new pointer sees the object it points to initialised.
        dentry
            .parent
            .store(ptr::from_ref(new_parent).cast_mut(), Ordering::Release);
        // Release: as above; the load half may be Relaxed, we own the old name.
        let old_name = dentry.name.swap(new_name.as_ptr(), Ordering::Release);
        // SAFETY: a name's bytes are immutable while it is any dentry's name.
        let name = unsafe { &(*new_name.as_ptr()).bytes };
        // SAFETY: 1. serialised by the update lock; 2. the dentry was removed from its chain
        // above and stays valid until a grace period after its kill.
        unsafe {
            self.d_bucket(new_parent, name)
                .add_head_rcu(NonNull::from(dentry))
        };

        if !ptr::eq(old_parent, new_parent) {
            // SAFETY: a live dentry's parent is live.
            let old_parent = unsafe { &*old_parent };
            // Relaxed: under the update lock.
            old_parent.children.fetch_sub(1, Ordering::Relaxed);
            new_parent.children.fetch_add(1, Ordering::Relaxed);
            if dentry.has_flag(UNCACHED) {
                old_parent.uncached_children.fetch_sub(1, Ordering::Relaxed);
                new_parent.uncached_children.fetch_add(1, Ordering::Relaxed);
            }
            state
                .victims
                .push(Victim::Dentry(NonNull::from(old_parent)));
        }
        NonNull::new(old_name)
    }

    /// Whether `ancestor` is `dentry` or one of its ancestors within its tree.
    pub(super) fn is_ancestor(&self, ancestor: &Dentry, dentry: &Dentry) -> bool {
        let mut current = dentry;
        loop {
            if ptr::eq(current, ancestor) {
                return true;
            }
            // Relaxed: under the update lock.
            let parent = current.parent.load(Ordering::Relaxed);
            if ptr::eq(parent, current) {
                return false;
            }
            // SAFETY: a live dentry's parent is live.
            current = unsafe { &*parent };
        }
    }
}

/// Allocates the root dentry of a new tree: named `/`, its own parent, not hashed, with one
/// reference, which the mount that will show the tree holds.
pub(super) fn alloc_tree_root(
    state: &mut State,
    inode: NonNull<Inode>,
    tree: u64,
    shared: NonNull<Shared>,
) -> NonNull<Dentry> {
    let name = Name::alloc(b"/", shared);
    let root = state
        .dentries
        .insert(|slot| alloc_dentry(name, Some(inode), Kind::Directory, tree, slot, shared));
    // SAFETY: just allocated, not yet visible to anyone else.
    let dentry = unsafe { root.as_ref() };
    // Relaxed: published later by the mount's Release publication.
    dentry.parent.store(root.as_ptr(), Ordering::Relaxed);
    dentry.count.store(1, Ordering::Relaxed);
    root
}

/// Allocates a dentry and counts it as live.
fn alloc_dentry(
    name: NonNull<Name>,
    inode: Option<NonNull<Inode>>,
    kind: Kind,
    tree: u64,
    slot: usize,
    shared: NonNull<Shared>,
) -> NonNull<Dentry> {
    // SAFETY: the counters outlive every object.
    unsafe { shared.as_ref() }.object_allocated();
    let dentry = Box::new(Dentry::new(name, inode, kind, tree, slot, shared));
    NonNull::from(Box::leak(dentry))
}
