//! The walk's view of the namespace: the [`Namespace`] implementation (RCU-mode lookups,
//! legitimize and release, ref-mode lookups) and `getattr` in both modes.

use core::ptr;
use core::sync::atomic::Ordering;

use rcu_core::{Rcu, ReadGuard};
use seqlock::SeqCount;

use super::dentry::{
    check_lookup_name, names_equal, Dentry, NAME_MAX, NEEDS_REVALIDATE, STALE, UNCACHED,
};
use super::inode::{protected_symlink_allows, Cred, Link, Stat};
use super::mount::Mount;
use super::reclaim::{get_not_dead, put_ref, Victim};
use super::Dcache;
use crate::{Errno, Kind, LinkBody, Location, LookupFlags, Namespace, RcuError, RcuLookup};

// SAFETY: the obligations of `Namespace`, one by one:
// 1. Dentries and mounts are freed only through `call_rcu` after their kill, and a kill
//    requires them to be unreachable: a dentry unhashed, childless (so no live dentry names it
//    as parent) and unreferenced; a mount detached (so no hash chain, parent mount or
//    mountpoint leads to it) and unreferenced. Mount roots and jump targets are referenced by
//    their mount or link. A dentry reached through a child's parent pointer is alive because
//    the child counts in its `children`.
// 2. Link bodies and jump targets belong to the inode, which is freed a grace period after it
//    stopped being reachable; a referenced dentry keeps its inode (see `Dentry`'s invariants,
//    kept by the LOCKED state in `delete`), and the inode keeps its jump target referenced.
// 3. `dget_not_dead`/`mntget_not_dead` succeed only on live objects, and a kill requires the
//    count to be zero.
// 4. Parent, name, inode and hashed state change only inside `d_seq` write sections
//    (`instantiate`, `delete`, `unhash`, `rehash`); attach and detach inside `mount_lock` write
//    sections; every rename inside a `rename_lock` write section.
// 5. A mount's `root` is fixed at allocation.
unsafe impl<R: Rcu + 'static> Namespace for Dcache<R> {
    type Rcu = R;
    type Dentry = Dentry;
    type Mount = Mount;
    type Cred = Cred;

    fn rcu(&self) -> &R {
        self.rcu
    }

    #[inline]
    fn d_seq<'a>(&'a self, dentry: &'a Dentry) -> &'a SeqCount {
        &dentry.d_seq
    }

    #[inline]
    fn mount_lock(&self) -> &SeqCount {
        &self.mount_lock
    }

    #[inline]
    fn rename_lock(&self) -> &SeqCount {
        &self.rename_lock
    }

    #[inline]
    fn kind(&self, dentry: &Dentry) -> Kind {
        dentry.kind()
    }

    #[inline]
    fn parent<'g>(&'g self, guard: &'g ReadGuard<'_, R>, dentry: &'g Dentry) -> &'g Dentry {
        self.check_guard(guard);
        // Acquire pairs with the Release store in `rehash`: the new parent is seen
        // initialised.
        let parent = dentry.parent.load(Ordering::Acquire);
        // SAFETY: a dentry's parent lives at least as long as the dentry (it counts the
        // child), and any dentry stops being freed before the guard's section ends once it
        // was reachable in it.
        unsafe { &*parent }
    }

    /// Linux's `__d_lookup_rcu`, with a negative answer on a miss that no rename can have
    /// caused; see the [module documentation](super#lookups-under-rcu).
    ///
    /// Always inlined: into the walk's common step, this saves the call and about 15
    /// instructions per component, and `stat` at depth 16 measured 3-7% faster in
    /// alternating runs.
    #[inline(always)]
    fn lookup_rcu<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        parent: &'g Dentry,
        name: &[u8],
    ) -> Result<RcuLookup<'g, Self>, RcuError> {
        self.check_guard(guard);
        // The engine never passes a name that is not a real one (see the trait), and no
        // entry holds such a name, so only the length decides the answer here; the full
        // check, a second pass over the name on every step, runs in debug builds.
        if name.len() > NAME_MAX {
            return Err(RcuError::Errno(Errno::ENAMETOOLONG));
        }
        debug_assert_eq!(
            check_lookup_name(name),
            Ok(()),
            "lookup_rcu: {name:?} is not a name a path walk passes"
        );
        match parent.kind() {
            Kind::Directory => {}
            Kind::Negative => return Err(RcuError::Errno(Errno::ENOENT)),
            _ => return Err(RcuError::Errno(Errno::ENOTDIR)),
        }

        // A rename may move a dentry from this chain to another while we stand on it; we
        // would then follow its `next` into the other chain and miss the rest of ours. The
        // sample tells a miss that a rename can have caused.
        let rename_seq = self.rename_lock.raw_begin();
        for dentry in self.d_bucket(parent, name).iter(guard) {
            // Sample before comparing: a rename, unhash or instantiate that changes what we
            // compare makes the engine's validation of this sample fail.
            let seq = dentry.d_seq.raw_begin();
            // Relaxed: validated with `seq`.
            if !ptr::eq(dentry.parent.load(Ordering::Relaxed), parent)
                || !dentry.hashed.load(Ordering::Relaxed)
                || !names_equal(self.name_rcu(guard, dentry), name)
            {
                continue;
            }
            if dentry.has_flag(UNCACHED) {
                return Ok(RcuLookup::NotCached);
            }
            return Ok(RcuLookup::Found(dentry, seq));
        }

        // The miss is proof of absence only if no rename ran during the scan and every
        // entry of the directory is cached.
        // Relaxed: a knob; see `set_uncached`.
        if self.rename_lock.read_retry(rename_seq)
            || parent.uncached_children.load(Ordering::Relaxed) != 0
        {
            return Ok(RcuLookup::NotCached);
        }
        Ok(RcuLookup::Negative)
    }

    fn revalidate_rcu(
        &self,
        guard: &ReadGuard<'_, R>,
        dentry: &Dentry,
        flags: LookupFlags,
    ) -> Result<(), RcuError> {
        self.check_guard(guard);
        if flags.contains(LookupFlags::REVAL)
            || dentry.has_flag(NEEDS_REVALIDATE)
            || dentry.has_flag(STALE)
        {
            return Err(RcuError::NeedRef);
        }
        Ok(())
    }

    fn may_exec_rcu(
        &self,
        guard: &ReadGuard<'_, R>,
        cred: &Cred,
        dir: &Dentry,
    ) -> Result<(), RcuError> {
        self.check_guard(guard);
        Ok(self.may_exec_in(guard, cred, dir)?)
    }

    fn get_link_rcu<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        link: &'g Dentry,
    ) -> Result<LinkBody<'g, Self>, RcuError> {
        self.check_guard(guard);
        let inode = self.inode_rcu(guard, link).ok_or(Errno::ENOENT)?;
        Ok(link_body(&inode.link)?)
    }

    fn may_follow_link(
        &self,
        cred: &Cred,
        mount: &Mount,
        dir: &Dentry,
        link: &Dentry,
    ) -> Result<(), Errno> {
        if mount.nosymfollow {
            return Err(Errno::ELOOP);
        }
        // Relaxed: a setting.
        if !self.protected_symlinks.load(Ordering::Relaxed) {
            return Ok(());
        }
        // Any context: our own guard keeps the inodes valid while we copy their attributes.
        let guard = self.rcu.read_lock();
        let (Some(dir_inode), Some(link_inode)) =
            (self.inode_rcu(&guard, dir), self.inode_rcu(&guard, link))
        else {
            // A negative dentry is not a link to follow; the walk reports that itself.
            return Ok(());
        };
        if protected_symlink_allows(cred, &dir_inode.attr.read(), &link_inode.attr.read()) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    #[inline]
    fn mnt_root<'a>(&'a self, mount: &'a Mount) -> &'a Dentry {
        // SAFETY: a mount holds a reference on its root until it is killed, so the root
        // lives at least as long as the mount.
        unsafe { mount.root.as_ref() }
    }

    /// Linux's `__lookup_mnt`, behind the per-dentry "mounted" test of
    /// `__follow_mount_rcu`.
    #[inline]
    fn lookup_mnt<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        mount: &'g Mount,
        dentry: &'g Dentry,
    ) -> Option<&'g Mount> {
        self.check_guard(guard);
        // Relaxed: changed inside `mount_lock` write sections, which the engine validates.
        if dentry.mounted.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.find_mount(guard, mount, dentry)
    }

    fn mnt_parent<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        mount: &'g Mount,
    ) -> Option<Location<'g, Self>> {
        self.check_guard(guard);
        // Acquire pairs with the Release stores in `attach`.
        let parent = mount.parent.load(Ordering::Acquire);
        let mountpoint = mount.mountpoint.load(Ordering::Acquire);
        // A detach racing with us may show one null and not the other; the engine's
        // `mount_lock` check rejects whatever we answer then.
        // SAFETY: an attached mount's parent and mountpoint outlive its attachment, and a
        // detach frees neither before a grace period that our guard's section delays.
        let (parent, mountpoint) = unsafe { (parent.as_ref()?, mountpoint.as_ref()?) };
        Some(Location {
            mount: parent,
            dentry: mountpoint,
        })
    }

    fn lock_topology(&self) {
        // The guard is given up here and the lock released by `unlock_topology`: the trait
        // splits the critical section across two calls.
        core::mem::forget(self.topology.lock());
        // Relaxed: a statistic.
        self.topology_locks.fetch_add(1, Ordering::Relaxed);
    }

    unsafe fn unlock_topology(&self) {
        // SAFETY: the caller holds the lock from its own `lock_topology` (this function's
        // contract), whose guard was forgotten, so nobody else will unlock it.
        unsafe { self.topology.force_unlock() };
    }

    #[inline]
    fn dget_not_dead(&self, dentry: &Dentry) -> bool {
        self.count_ref_op();
        let got = get_not_dead(&dentry.count);
        self.note_held(i64::from(got));
        got
    }

    unsafe fn dput(&self, dentry: &Dentry) {
        self.count_ref_op();
        self.note_held(-1);
        // Once the count reaches zero another thread may kill the dentry and queue its free;
        // the guard keeps it valid while we look at `hashed`.
        let guard = self.rcu.read_lock();
        // SeqCst: our side of the handshake with `unhash` (see `put_ref`).
        if put_ref(&dentry.count) && !dentry.hashed.load(Ordering::SeqCst) {
            // Last reference of an unhashed dentry: kill it now (Linux: `dput` reaching
            // `dentry_kill`).
            self.locked(|_, state| {
                state
                    .victims
                    .push(Victim::Dentry(core::ptr::NonNull::from(dentry)));
            });
        }
        drop(guard);
    }

    #[inline]
    fn mntget_not_dead(&self, mount: &Mount) -> bool {
        self.count_ref_op();
        let got = get_not_dead(&mount.count);
        self.note_held(i64::from(got));
        got
    }

    unsafe fn mntput(&self, mount: &Mount) {
        self.count_ref_op();
        self.note_held(-1);
        // As in `dput`, with "attached" for "hashed".
        let guard = self.rcu.read_lock();
        // SeqCst: our side of the handshake with `detach` (see `put_ref`).
        if put_ref(&mount.count) && !mount.attached.load(Ordering::SeqCst) {
            self.locked(|_, state| {
                state
                    .victims
                    .push(Victim::Mount(core::ptr::NonNull::from(mount)));
            });
        }
        drop(guard);
    }

    /// Linux's `lookup_fast` with `d_revalidate`, then `lookup_slow` for an entry that was
    /// not cached: finds the child, "reads it in" if it carries the uncached knob (counted
    /// in [`slow_lookups`](Dcache::slow_lookups)), revalidates it, and returns it referenced.
    ///
    /// Errors: `ENAMETOOLONG`, `EINVAL` for a name the engine never passes, `ENOENT` if
    /// `parent` is negative or removed or the name does not exist, `ENOTDIR` if `parent` is
    /// not a directory, `ESTALE` for a stale entry without [`LookupFlags::REVAL`] (with it,
    /// the entry is revalidated and the knob cleared).
    fn lookup(&self, parent: &Dentry, name: &[u8], flags: LookupFlags) -> Result<&Dentry, Errno> {
        check_lookup_name(name)?;
        let child = self.locked(|guard, _state| {
            self.live_dir(guard, parent)?;
            let child = self.find_child(guard, parent, name).ok_or(Errno::ENOENT)?;
            if child.has_flag(STALE) {
                if !flags.contains(LookupFlags::REVAL) {
                    return Err(Errno::ESTALE);
                }
                child.set_flag(STALE, false);
            }
            if child.has_flag(UNCACHED) {
                child.set_flag(UNCACHED, false);
                // Relaxed: a knob; see `set_uncached`.
                parent.uncached_children.fetch_sub(1, Ordering::Relaxed);
                // Relaxed: a statistic.
                self.slow_lookups.fetch_add(1, Ordering::Relaxed);
            }
            self.count_ref_op();
            if !get_not_dead(&child.count) {
                // A hashed dentry is never dead; only a saturated count refuses.
                return Err(Errno::EAGAIN);
            }
            self.note_held(1);
            Ok(ptr::from_ref(child))
        })?;
        // SAFETY: the child is referenced now, and a referenced dentry is not freed before the
        // matching `dput`, which the caller owes us.
        Ok(unsafe { &*child })
    }

    fn may_exec(&self, cred: &Cred, dir: &Dentry) -> Result<(), Errno> {
        let guard = self.rcu.read_lock();
        self.may_exec_in(&guard, cred, dir)
    }

    fn get_link<'a>(&'a self, link: &'a Dentry) -> Result<LinkBody<'a, Self>, Errno> {
        // Acquire pairs with the Release store in `instantiate`.
        let inode = link.inode.load(Ordering::Acquire);
        // SAFETY: `link` is referenced (ref mode), and a referenced dentry keeps its inode
        // (see `Dentry`'s invariants), so the inode and its body or jump target (which the
        // inode keeps referenced) stay valid for `'a`.
        let inode = unsafe { inode.as_ref() }.ok_or(Errno::ENOENT)?;
        link_body(&inode.link)
    }
}

impl<R: Rcu + 'static> Dcache<R> {
    /// `stat` under RCU: a consistent snapshot of the attributes of `at.dentry`, as the
    /// callback of a walk's `finish_with` would take it. The caller validates `at.dentry`'s
    /// `d_seq` (and `mount_lock`) afterwards, as for any RCU-mode answer.
    ///
    /// Errors: `ENOENT` for a negative dentry; [`RcuError::NeedRef`] if the inode's getattr
    /// cannot run under RCU (see [`set_rcu_getattr`](Self::set_rcu_getattr)).
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another domain than the namespace's.
    pub fn getattr_rcu(
        &self,
        guard: &ReadGuard<'_, R>,
        at: Location<'_, Self>,
    ) -> Result<Stat, RcuError> {
        self.check_guard(guard);
        let inode = self.inode_rcu(guard, at.dentry).ok_or(Errno::ENOENT)?;
        // Relaxed: a knob.
        if !inode.rcu_getattr.load(Ordering::Relaxed) {
            return Err(RcuError::NeedRef);
        }
        Ok(inode.stat(at.mount.id))
    }

    /// `stat` in ref mode, on a referenced location (or the root).
    ///
    /// Errors: `ENOENT` for a negative dentry.
    pub fn getattr(&self, at: Location<'_, Self>) -> Result<Stat, Errno> {
        let guard = self.rcu.read_lock();
        let inode = self.inode_rcu(&guard, at.dentry).ok_or(Errno::ENOENT)?;
        Ok(inode.stat(at.mount.id))
    }

    /// The mount attached at (`mount`, `dentry`), found in the mount hash (the part of
    /// `lookup_mnt` that runs only for a dentry that something is mounted on).
    fn find_mount<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        mount: &'g Mount,
        dentry: &'g Dentry,
    ) -> Option<&'g Mount> {
        self.m_bucket(mount, dentry).iter(guard).find(|child| {
            // Relaxed: only compared; validated with `mount_lock`.
            ptr::eq(child.parent.load(Ordering::Relaxed), mount)
                && ptr::eq(child.mountpoint.load(Ordering::Relaxed), dentry)
        })
    }

    /// Search permission on `dir` for `cred`, read from a consistent attribute snapshot.
    fn may_exec_in(
        &self,
        guard: &ReadGuard<'_, R>,
        cred: &Cred,
        dir: &Dentry,
    ) -> Result<(), Errno> {
        let inode = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?;
        if inode.kind != Kind::Directory {
            return Err(Errno::ENOTDIR);
        }
        if inode.may_exec(cred) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
}

/// What a link leads to, for `get_link` and `get_link_rcu`: `EINVAL` for a non-link (Linux's
/// `readlink` on a non-symlink).
fn link_body<'a, R: Rcu + 'static>(link: &'a Link) -> Result<LinkBody<'a, Dcache<R>>, Errno> {
    match link {
        Link::Body(body) => Ok(LinkBody::Path(body)),
        Link::Jump { mount, dentry } => {
            // SAFETY: the inode holds a reference on both until it is released, and it is
            // freed (with these pointers) only a grace period after, so for as long as the
            // caller may use the inode (`'a`) the targets are valid.
            let (mount, dentry) = unsafe { (mount.as_ref(), dentry.as_ref()) };
            Ok(LinkBody::Jump(Location { mount, dentry }))
        }
        Link::None => Err(Errno::EINVAL),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::thread;

    use super::super::testutil::{ns, seen, stat_of, Seen, TestRcu, RCU};
    use super::super::{RenameFlags, S_IFDIR, S_IFREG};
    use super::*;
    use crate::dcache::{Attr, NAME_MAX};

    /// `lookup_rcu`: a found entry with a valid sample, its parent and name; a miss is
    /// negative; an uncached entry and any miss in its directory are "not cached" until a
    /// ref-mode lookup reads it in; a miss during a rename is "not cached"; over-long names
    /// fail; a non-directory parent is ENOTDIR.
    #[test]
    fn lookup_rcu_answers() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.create(root, b"a", 0o644, &Cred::ROOT).unwrap();
        {
            let guard = rcu.read_lock();
            let RcuLookup::Found(a, seq) = ns.lookup_rcu(&guard, root.dentry, b"a").unwrap() else {
                panic!("a is cached");
            };
            assert_eq!(ns.kind(a), Kind::Regular);
            assert!(ptr::eq(ns.parent(&guard, a), root.dentry));
            assert_eq!(ns.name(&guard, a), b"a");
            assert!(!ns.d_seq(a).read_retry(seq));
        }
        assert_eq!(seen(&ns, root.dentry, b"missing"), Seen::Negative);

        ns.set_uncached(root, b"a", true).unwrap();
        assert_eq!(seen(&ns, root.dentry, b"a"), Seen::NotCached);
        assert_eq!(
            seen(&ns, root.dentry, b"missing"),
            Seen::NotCached,
            "a directory with uncached entries cannot prove absence"
        );
        let slow = ns.slow_lookups();
        let a = ns.lookup(root.dentry, b"a", LookupFlags::empty()).unwrap();
        assert_eq!(
            ns.slow_lookups(),
            slow + 1,
            "reading it in is a slow lookup"
        );
        ns.test_dput(a);
        assert_eq!(seen(&ns, root.dentry, b"a"), Seen::Found(Kind::Regular));
        assert_eq!(seen(&ns, root.dentry, b"missing"), Seen::Negative);

        {
            // A rename in progress (or completed) during the scan: a miss proves nothing.
            let _rename = ns.rename_lock.write_begin();
            assert_eq!(seen(&ns, root.dentry, b"missing"), Seen::NotCached);
            assert_eq!(seen(&ns, root.dentry, b"a"), Seen::Found(Kind::Regular));
        }

        let guard = rcu.read_lock();
        let long = [b'x'; NAME_MAX + 1];
        assert_eq!(
            ns.lookup_rcu(&guard, root.dentry, &long).err(),
            Some(RcuError::Errno(Errno::ENAMETOOLONG))
        );
        assert!(matches!(
            ns.lookup_rcu(&guard, root.dentry, &long[..NAME_MAX]),
            Ok(RcuLookup::Negative)
        ));
        let RcuLookup::Found(a, _) = ns.lookup_rcu(&guard, root.dentry, b"a").unwrap() else {
            panic!("a is cached");
        };
        assert_eq!(
            ns.lookup_rcu(&guard, a, b"x").err(),
            Some(RcuError::Errno(Errno::ENOTDIR))
        );
    }

    /// Ref-mode `lookup`: ESTALE for a stale entry without REVAL, success (and the knob
    /// cleared) with it; a reference taken and counted on success; ENOENT, ENOTDIR,
    /// ENAMETOOLONG; ENOENT in a removed directory even for a holder; a cached negative
    /// entry is returned referenced.
    #[test]
    fn ref_lookup_answers() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let f = ns.lookup_path(b"/f").unwrap();
        ns.set_stale(f.dentry, true);
        assert_eq!(
            ns.lookup(root.dentry, b"f", LookupFlags::empty()).err(),
            Some(Errno::ESTALE)
        );
        let ops = ns.ref_ops();
        let again = ns.lookup(root.dentry, b"f", LookupFlags::REVAL).unwrap();
        assert_eq!(ns.ref_ops(), ops + 1, "the reference taken is counted");
        assert!(ptr::eq(again, f.dentry));
        ns.test_dput(again);
        let revalidated = ns.lookup(root.dentry, b"f", LookupFlags::empty()).unwrap();
        ns.test_dput(revalidated);

        assert_eq!(
            ns.lookup(root.dentry, b"nope", LookupFlags::empty()).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            ns.lookup(f.dentry, b"x", LookupFlags::empty()).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            ns.lookup(root.dentry, &[b'y'; NAME_MAX + 1], LookupFlags::empty())
                .err(),
            Some(Errno::ENAMETOOLONG)
        );

        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        ns.create(d, b"gone", 0o644, &Cred::ROOT).unwrap();
        ns.unlink(d, b"gone", &Cred::ROOT).unwrap();
        let negative = ns.lookup(d.dentry, b"gone", LookupFlags::empty()).unwrap();
        assert_eq!(ns.kind(negative), Kind::Negative);
        ns.test_dput(negative);
        ns.rmdir(root, b"d", &Cred::ROOT).unwrap();
        assert_eq!(
            ns.lookup(d.dentry, b"gone", LookupFlags::empty()).err(),
            Some(Errno::ENOENT),
            "nothing is found in a removed directory"
        );
        ns.put(d);
        ns.put(f);
    }

    /// `revalidate_rcu` asks for ref mode for the needs-revalidate and stale knobs and
    /// under REVAL.
    #[test]
    fn revalidate_rcu_knobs() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let f = ns.lookup_path(b"/f").unwrap();
        let guard = rcu.read_lock();
        assert_eq!(
            ns.revalidate_rcu(&guard, f.dentry, LookupFlags::empty()),
            Ok(())
        );
        assert_eq!(
            ns.revalidate_rcu(&guard, f.dentry, LookupFlags::REVAL),
            Err(RcuError::NeedRef)
        );
        ns.set_needs_revalidate(f.dentry, true);
        assert_eq!(
            ns.revalidate_rcu(&guard, f.dentry, LookupFlags::empty()),
            Err(RcuError::NeedRef)
        );
        ns.set_needs_revalidate(f.dentry, false);
        ns.set_stale(f.dentry, true);
        assert_eq!(
            ns.revalidate_rcu(&guard, f.dentry, LookupFlags::empty()),
            Err(RcuError::NeedRef)
        );
        ns.set_stale(f.dentry, false);
        assert_eq!(
            ns.revalidate_rcu(&guard, f.dentry, LookupFlags::empty()),
            Ok(())
        );
        drop(guard);
        ns.put(f);
    }

    /// Only reference-count operations count: everything a walk does under RCU leaves
    /// `ref_ops` alone; each get and put counts one.
    #[test]
    fn ref_ops_counts_reference_operations_only() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.symlink(root, b"l", b"d", &Cred::ROOT).unwrap();
        let before = ns.ref_ops();
        {
            let guard = rcu.read_lock();
            let RcuLookup::Found(d, _) = ns.lookup_rcu(&guard, root.dentry, b"d").unwrap() else {
                panic!("d is cached");
            };
            let RcuLookup::Found(l, _) = ns.lookup_rcu(&guard, root.dentry, b"l").unwrap() else {
                panic!("l is cached");
            };
            ns.may_exec_rcu(&guard, &Cred::ROOT, d).unwrap();
            ns.revalidate_rcu(&guard, d, LookupFlags::empty()).unwrap();
            ns.get_link_rcu(&guard, l).unwrap();
            ns.may_follow_link(&Cred::ROOT, root.mount, root.dentry, l)
                .unwrap();
            let _ = ns.parent(&guard, d);
            let _ = ns.lookup_mnt(&guard, root.mount, d);
            let _ = ns.mnt_parent(&guard, root.mount);
            ns.getattr_rcu(
                &guard,
                Location {
                    mount: root.mount,
                    dentry: d,
                },
            )
            .unwrap();
            assert_eq!(ns.ref_ops(), before, "RCU mode takes no references");
            assert!(ns.dget_not_dead(d));
            assert!(ns.mntget_not_dead(root.mount));
            assert_eq!(ns.ref_ops(), before + 2);
            // (A walk would drop the guard first; our puts never wait, so they may run
            // inside it.)
            ns.test_dput(d);
            ns.test_mntput(root.mount);
        }
        assert_eq!(ns.ref_ops(), before + 4);
    }

    /// `getattr_rcu` reports the attributes and the mount, answers NeedRef when the inode
    /// forbids getattr under RCU (ref-mode `getattr` still works), and ENOENT for a negative
    /// dentry.
    #[test]
    fn getattr_rcu_and_its_knob() {
        let (rcu, ns) = ns();
        let root = ns.root();
        let ino = ns.create(root, b"f", 0o640, &Cred::ROOT).unwrap();
        let f = ns.lookup_path(b"/f").unwrap();
        ns.set_attr(f, |attr| {
            (attr.size, attr.uid, attr.gid) = (4096, 1000, 100)
        })
        .unwrap();
        {
            let guard = rcu.read_lock();
            let stat = ns.getattr_rcu(&guard, f).unwrap();
            assert_eq!(stat.ino, ino);
            assert_eq!(stat.mode, S_IFREG | 0o640);
            assert_eq!((stat.uid, stat.gid, stat.nlink), (1000, 100, 1));
            assert_eq!(stat.size, 4096);
            assert_eq!(stat.kind, Kind::Regular);
            assert_eq!(stat.mount_id, ns.mount_id(root.mount));
        }
        ns.set_rcu_getattr(f.dentry, false).unwrap();
        {
            let guard = rcu.read_lock();
            assert_eq!(ns.getattr_rcu(&guard, f), Err(RcuError::NeedRef));
        }
        assert_eq!(stat_of(&ns, f).ino, ino);
        let root_stat = stat_of(&ns, root);
        assert_eq!(
            (root_stat.ino, root_stat.mode, root_stat.nlink),
            (1, S_IFDIR | 0o755, 2)
        );
        ns.put(f);

        ns.create(root, b"g", 0o644, &Cred::ROOT).unwrap();
        ns.unlink(root, b"g", &Cred::ROOT).unwrap();
        let g = ns.lookup(root.dentry, b"g", LookupFlags::empty()).unwrap();
        let at = Location {
            mount: root.mount,
            dentry: g,
        };
        {
            let guard = rcu.read_lock();
            assert_eq!(
                ns.getattr_rcu(&guard, at),
                Err(RcuError::Errno(Errno::ENOENT))
            );
        }
        assert_eq!(ns.getattr(at), Err(Errno::ENOENT));
        assert_eq!(ns.set_rcu_getattr(g, true), Err(Errno::ENOENT));
        ns.test_dput(g);
    }

    /// Attribute snapshots under RCU are never torn: a writer sets every field to the same
    /// value while readers check that they agree.
    #[test]
    fn getattr_rcu_snapshots_are_consistent() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let f = ns.lookup_path(b"/f").unwrap();
        let rounds: u32 = if cfg!(miri) { 30 } else { 20_000 };
        let set = |v: u32| {
            ns.set_attr(f, |attr| {
                let w = u64::from(v);
                (attr.size, attr.atime, attr.mtime, attr.ctime) = (w, w, w, w);
                (attr.mode, attr.uid, attr.gid, attr.nlink) = (v & 0o777, v, v, v);
            })
            .unwrap();
        };
        set(0);
        let done = AtomicBool::new(false);
        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        let guard = rcu.read_lock();
                        let stat = ns.getattr_rcu(&guard, f).unwrap();
                        let v = stat.uid;
                        assert_eq!(stat.mode, S_IFREG | (v & 0o777), "torn mode");
                        assert_eq!((stat.gid, stat.nlink), (v, v), "torn ids");
                        let v = u64::from(v);
                        assert_eq!(
                            (stat.size, stat.atime, stat.mtime, stat.ctime),
                            (v, v, v, v),
                            "torn sizes or times"
                        );
                    }
                });
            }
            for v in 1..rounds {
                set(v);
            }
            done.store(true, Ordering::Relaxed);
        });
        ns.put(f);
    }

    /// Search permission for a non-root credential, in both modes: owner, group and other
    /// classes; a chmod changes the answer, also to and from a mode that lets everyone
    /// search; uid 0 passes; a non-directory is ENOTDIR.
    #[test]
    fn search_permission_for_users() {
        let (rcu, ns) = ns();
        let root = ns.root();
        let owner = Cred::new(1000, 100);
        let member = Cred::new(2000, 100);
        let other = Cred::new(3000, 300);
        ns.mkdir(root, b"d", 0o710, &Cred::ROOT).unwrap();
        ns.create(root, b"f", 0o777, &Cred::ROOT).unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        let f = ns.lookup_path(b"/f").unwrap();
        let chown = |attr: &mut Attr| (attr.uid, attr.gid) = (owner.uid, owner.gid);
        ns.set_attr(d, chown).unwrap();
        let both = |cred: &Cred, dir: &Dentry| {
            let guard = rcu.read_lock();
            let rcu_answer = ns.may_exec_rcu(&guard, cred, dir);
            drop(guard);
            let ref_answer = ns.may_exec(cred, dir);
            assert_eq!(rcu_answer, ref_answer.map_err(RcuError::Errno));
            ref_answer
        };
        assert_eq!(both(&owner, d.dentry), Ok(()));
        assert_eq!(both(&member, d.dentry), Ok(()));
        assert_eq!(both(&other, d.dentry), Err(Errno::EACCES));
        assert_eq!(both(&Cred::ROOT, d.dentry), Ok(()));
        ns.set_attr(d, |attr| attr.mode = 0o701).unwrap();
        assert_eq!(both(&member, d.dentry), Err(Errno::EACCES));
        assert_eq!(both(&other, d.dentry), Ok(()));
        assert_eq!(stat_of(&ns, d).mode, S_IFDIR | 0o701, "the type bits stay");
        // With every execute bit, everyone may search; once one is cleared, only the class
        // that has it (the owner is judged by the owner bits alone).
        ns.set_attr(d, |attr| attr.mode = 0o711).unwrap();
        for cred in [&owner, &member, &other] {
            assert_eq!(both(cred, d.dentry), Ok(()));
        }
        ns.set_attr(d, |attr| attr.mode = 0o611).unwrap();
        assert_eq!(both(&owner, d.dentry), Err(Errno::EACCES));
        assert_eq!(both(&member, d.dentry), Ok(()));
        ns.set_attr(d, |attr| attr.mode = 0o751).unwrap();
        assert_eq!(both(&owner, d.dentry), Ok(()));
        assert_eq!(both(&member, d.dentry), Ok(()));
        assert_eq!(both(&other, d.dentry), Ok(()));
        ns.set_attr(d, |attr| attr.mode = 0o750).unwrap();
        assert_eq!(both(&other, d.dentry), Err(Errno::EACCES));
        assert_eq!(both(&owner, f.dentry), Err(Errno::ENOTDIR));
        ns.put(d);
        ns.put(f);
    }

    /// `fs.protected_symlinks`: off by default; on, a link in a sticky world-writable
    /// directory is followed only by its owner or when the directory's owner owns it.
    #[test]
    fn protected_symlinks() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let alice = Cred::new(1000, 1000);
        let bob = Cred::new(1001, 1001);
        ns.mkdir(root, b"tmp", 0o1777, &Cred::ROOT).unwrap();
        let tmp = ns.lookup_path(b"/tmp").unwrap();
        ns.symlink(tmp, b"alice", b"/", &alice).unwrap();
        let link = ns.lookup_path(b"/tmp/alice").unwrap();
        let follow = |cred: &Cred| ns.may_follow_link(cred, tmp.mount, tmp.dentry, link.dentry);
        assert_eq!(follow(&bob), Ok(()), "off by default");
        ns.set_protected_symlinks(true);
        assert_eq!(follow(&bob), Err(Errno::EACCES));
        assert_eq!(follow(&Cred::ROOT), Err(Errno::EACCES));
        assert_eq!(follow(&alice), Ok(()));
        ns.set_attr(tmp, |attr| attr.uid = alice.uid).unwrap();
        assert_eq!(follow(&bob), Ok(()), "the directory's owner owns the link");
        ns.set_attr(tmp, |attr| (attr.uid, attr.mode) = (0, 0o777))
            .unwrap();
        assert_eq!(follow(&bob), Ok(()), "not sticky");
        ns.set_protected_symlinks(false);
        ns.put(link);
        ns.put(tmp);
    }

    /// Link bodies and jump targets in both modes; EINVAL for a non-link; a jump link keeps
    /// its target alive after the target is unlinked, until the link goes.
    #[test]
    fn links() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.symlink(root, b"l", b"../x/y", &Cred::ROOT).unwrap();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"t", 0o644, &Cred::ROOT).unwrap();
        let t = ns.lookup_path(b"/t").unwrap();
        ns.jump_link(root, b"j", t, &Cred::ROOT).unwrap();
        ns.put(t);
        let l = ns.lookup_path(b"/l").unwrap();
        let j = ns.lookup_path(b"/j").unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        assert_eq!(stat_of(&ns, l).size, 6);
        assert!(matches!(
            ns.get_link(l.dentry),
            Ok(LinkBody::Path(b"../x/y"))
        ));
        {
            let guard = rcu.read_lock();
            assert!(matches!(
                ns.get_link_rcu(&guard, l.dentry),
                Ok(LinkBody::Path(b"../x/y"))
            ));
            assert_eq!(
                ns.get_link_rcu(&guard, d.dentry).err(),
                Some(RcuError::Errno(Errno::EINVAL))
            );
        }
        assert_eq!(ns.get_link(d.dentry).err(), Some(Errno::EINVAL));

        rcu.barrier();
        let before_unlink = ns.live_objects();
        ns.unlink(root, b"t", &Cred::ROOT).unwrap();
        let Ok(LinkBody::Jump(target)) = ns.get_link(j.dentry) else {
            panic!("a jump link");
        };
        assert!(ptr::eq(target.mount, root.mount));
        assert_eq!(
            ns.kind(target.dentry),
            Kind::Regular,
            "the target keeps its inode"
        );
        assert_eq!(stat_of(&ns, target).nlink, 0);
        rcu.barrier();
        assert_eq!(
            ns.live_objects(),
            before_unlink,
            "still alive, held by the link"
        );
        ns.put(j);
        ns.unlink(root, b"j", &Cred::ROOT).unwrap();
        rcu.barrier();
        assert_eq!(
            ns.live_objects(),
            before_unlink - 4,
            "the link's inode and the target (dentry, name, inode) are freed"
        );

        assert_eq!(ns.symlink(root, b"e", b"", &Cred::ROOT), Err(Errno::ENOENT));
        assert_eq!(
            ns.symlink(root, b"e", &[b'a'; crate::PATH_MAX], &Cred::ROOT),
            Err(Errno::ENAMETOOLONG)
        );
        assert_eq!(
            ns.symlink(root, b"e", b"a\0b", &Cred::ROOT),
            Err(Errno::EINVAL)
        );
        ns.put(l);
        ns.put(d);
    }

    /// Readers under RCU racing with renames, exchanges, creates and unlinks (and taking
    /// references like a legitimizing walk) never crash, never accept a stale answer, and
    /// never call an entry that always exists negative. Few buckets make chains shared, so
    /// renames divert scans.
    #[test]
    fn lookup_rcu_against_renames() {
        let ns = Dcache::<TestRcu>::with_buckets(&RCU, 2);
        let root = ns.root();
        for dir in [&b"d1"[..], b"d2"] {
            ns.mkdir(root, dir, 0o755, &Cred::ROOT).unwrap();
        }
        let d1 = ns.lookup_path(b"/d1").unwrap();
        let d2 = ns.lookup_path(b"/d2").unwrap();
        ns.create(d1, b"stable", 0o644, &Cred::ROOT).unwrap();
        ns.create(d1, b"a", 0o644, &Cred::ROOT).unwrap();
        ns.mkdir(d1, b"b", 0o755, &Cred::ROOT).unwrap();
        ns.create(d1, b"m", 0o644, &Cred::ROOT).unwrap();
        for i in 0..8u8 {
            ns.create(d2, &[b'f', b'0' + i], 0o644, &Cred::ROOT)
                .unwrap();
        }
        let rounds = if cfg!(miri) { 8 } else { 3_000 };
        let done = AtomicBool::new(false);

        // One validated RCU lookup: checks what the namespace promises and returns whether
        // it found something.
        let check = |dir: &Dentry, name: &[u8], always_exists: bool| {
            let guard = RCU.read_lock();
            match ns.lookup_rcu(&guard, dir, name).unwrap() {
                RcuLookup::Found(dentry, seq) => {
                    let parent = ns.parent(&guard, dentry);
                    let found_name = ns.name(&guard, dentry);
                    let same = ptr::eq(parent, dir) && found_name == name;
                    let kind = ns.kind(dentry);
                    let referenced = ns.dget_not_dead(dentry);
                    let valid = !ns.d_seq(dentry).read_retry(seq);
                    if valid {
                        let name = std::string::String::from_utf8_lossy(name);
                        assert!(same, "validated lookup of {name} found another entry");
                        assert!(referenced, "a validated dentry is not dead");
                        assert!(!always_exists || kind != Kind::Negative);
                    }
                    if referenced {
                        ns.test_dput(dentry);
                    }
                }
                RcuLookup::Negative => {
                    assert!(!always_exists, "{name:?} always exists but was negative");
                }
                RcuLookup::NotCached => {}
            }
        };

        thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        check(d1.dentry, b"stable", true);
                        check(d1.dentry, b"a", true);
                        check(d1.dentry, b"b", true);
                        check(d1.dentry, b"m", false);
                        check(d2.dentry, b"m", false);
                        check(d2.dentry, b"tmp", false);
                    }
                });
            }
            for i in 0..rounds {
                ns.rename(d1, b"a", d1, b"b", RenameFlags::EXCHANGE, &Cred::ROOT)
                    .unwrap();
                ns.rename(d1, b"m", d2, b"m", RenameFlags::empty(), &Cred::ROOT)
                    .unwrap();
                ns.create(d2, b"tmp", 0o644, &Cred::ROOT).unwrap();
                ns.rename(d2, b"m", d1, b"m", RenameFlags::NOREPLACE, &Cred::ROOT)
                    .unwrap();
                if i % 2 == 0 {
                    ns.unlink(d2, b"tmp", &Cred::ROOT).unwrap();
                } else {
                    // Over a negative dentry or a referenced one: both unhash it.
                    ns.rename(d2, b"f0", d2, b"tmp", RenameFlags::empty(), &Cred::ROOT)
                        .unwrap();
                    ns.rename(d2, b"tmp", d2, b"f0", RenameFlags::empty(), &Cred::ROOT)
                        .unwrap();
                    ns.mount_new(d2).unwrap();
                    let top = ns.lookup_path(b"/d2").unwrap();
                    ns.unmount(top.mount).unwrap();
                    ns.put(top);
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        ns.put(d1);
        ns.put(d2);
    }

    /// A guard of another domain is refused: it would protect nothing.
    #[test]
    #[should_panic(expected = "read guard of another RCU domain")]
    fn foreign_guard_panics() {
        static OTHER: TestRcu = TestRcu::new();
        let (_rcu, ns) = ns();
        let guard = OTHER.read_lock();
        let _ = ns.lookup_rcu(&guard, ns.root().dentry, b"x");
    }
}
