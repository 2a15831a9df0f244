//! The write side: create, mkdir, symlink, jump links, unlink, rmdir, rename, attribute
//! changes and the knobs, with Linux's errno semantics; and, for the unit tests, a small
//! ref-mode resolver for setting trees up.
//!
//! Each operation takes the update lock, checks everything before changing anything (so an
//! error leaves the namespace as it was), and changes what RCU readers validate inside the
//! matching sequence-counter write sections (see [`update`](super::update)). None of them
//! counts a reference-count operation.

use core::ptr::{self, NonNull};
use core::sync::atomic::Ordering;

use rcu_core::{Rcu, ReadGuard};

use super::dentry::{Dentry, NAME_MAX, NEEDS_REVALIDATE, STALE, UNCACHED};
use super::inode::{
    searchable_by_all, sticky_forbids, Attr, Cred, Link, MAY_EXEC, MAY_WRITE, S_IFMT,
};
#[cfg(test)]
use super::mount::Mount;
use super::reclaim::{get_not_dead, put_ref, Victim};
use super::{Dcache, State};
#[cfg(test)]
use crate::Namespace;
use crate::{Errno, Kind, Location, PATH_MAX};

bitflags::bitflags! {
    /// Options of [`Dcache::rename`] (Linux `renameat2(2)`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct RenameFlags: u32 {
        /// Fail with `EEXIST` instead of replacing an existing target
        /// (`RENAME_NOREPLACE`).
        const NOREPLACE = 1 << 0;
        /// Swap the two names, which must both exist (`RENAME_EXCHANGE`).
        const EXCHANGE = 1 << 1;
    }
}

/// What a new entry links to.
enum NewLink<'a, R: Rcu + 'static> {
    None,
    Body(&'a [u8]),
    Jump(Location<'a, Dcache<R>>),
}

impl<R: Rcu + 'static> Dcache<R> {
    /// Creates regular file `name` in directory `dir` with permission bits `mode`, owned by
    /// `cred`, and returns its inode number (Linux: `open(O_CREAT | O_EXCL)`).
    ///
    /// Errors, here and for the other creating operations: `ENOENT` for an empty name or a
    /// negative or removed `dir`; `ENOTDIR` if `dir` is not a directory; `ENAMETOOLONG` for a
    /// name over [`NAME_MAX`] bytes; `EEXIST` if the name exists (or is `.` or `..`);
    /// `EINVAL` for a name with `/` or NUL; `EACCES` if `cred` may not write to and search
    /// `dir` (uid 0 always may).
    pub fn create(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        mode: u32,
        cred: &Cred,
    ) -> Result<u64, Errno> {
        self.create_entry(dir, name, Kind::Regular, mode, cred, NewLink::None)
    }

    /// Creates a FIFO-like file ([`Kind::Other`]): not a directory, not a link, not
    /// regular (Linux: `mknod(S_IFIFO)`). Errors as [`create`](Self::create).
    pub fn mknod_other(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        mode: u32,
        cred: &Cred,
    ) -> Result<u64, Errno> {
        self.create_entry(dir, name, Kind::Other, mode, cred, NewLink::None)
    }

    /// Creates directory `name` in `dir` (Linux: `mkdir`). Errors as
    /// [`create`](Self::create).
    pub fn mkdir(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        mode: u32,
        cred: &Cred,
    ) -> Result<u64, Errno> {
        self.create_entry(dir, name, Kind::Directory, mode, cred, NewLink::None)
    }

    /// Creates symbolic link `name` in `dir` with body `body`, owned by `cred` (Linux:
    /// `symlink`).
    ///
    /// Errors: as [`create`](Self::create); `ENOENT` for an empty body, `ENAMETOOLONG` for a
    /// body of [`PATH_MAX`] bytes or more, `EINVAL` for a body with a NUL byte.
    pub fn symlink(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        body: &[u8],
        cred: &Cred,
    ) -> Result<u64, Errno> {
        if body.is_empty() {
            return Err(Errno::ENOENT);
        }
        if body.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if body.contains(&0) {
            return Err(Errno::EINVAL);
        }
        self.create_entry(dir, name, Kind::Symlink, 0o777, cred, NewLink::Body(body))
    }

    /// Creates jump ("magic") link `name` in `dir`, leading to `target` whatever its name,
    /// like `/proc/self/root`. The link keeps `target`'s mount and dentry referenced (alive,
    /// though perhaps unmounted or unlinked) until it is removed.
    ///
    /// Errors: as [`create`](Self::create); `ENOENT` if the target is dying.
    pub fn jump_link(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        target: Location<'_, Self>,
        cred: &Cred,
    ) -> Result<u64, Errno> {
        self.create_entry(dir, name, Kind::Symlink, 0o777, cred, NewLink::Jump(target))
    }

    /// Removes non-directory `name` from `dir` for `cred` (Linux: `unlink`). An
    /// unreferenced entry becomes a negative dentry; a referenced one is unhashed and keeps
    /// its inode (with `nlink` 0) until its last reference goes.
    ///
    /// Errors, in Linux's order: `EISDIR` for `.` and `..`; `ENAMETOOLONG`, `EINVAL`,
    /// `ENOENT` as for [`create`](Self::create); `ENOENT` if the name does not exist (or
    /// `dir` is negative or removed), `ENOTDIR` if `dir` is not a directory; `EACCES`
    /// without write and search permission on `dir`; `EPERM` if `dir` is sticky and `cred`
    /// owns neither it nor the entry; `EISDIR` for a directory; `EBUSY` if something is
    /// mounted on the entry.
    pub fn unlink(&self, dir: Location<'_, Self>, name: &[u8], cred: &Cred) -> Result<(), Errno> {
        check_name(name, Errno::EISDIR, Errno::EISDIR)?;
        self.update_topology(|guard, state| {
            self.live_dir(guard, dir.dentry)?;
            let child = self.find_positive(guard, dir.dentry, name)?;
            self.may_delete(guard, cred, dir.dentry, child, false)?;
            if is_mountpoint(child) {
                return Err(Errno::EBUSY);
            }
            // Walks that overlap fail their rename_lock check (see the module docs).
            let _rename = self.rename_lock.write_begin();
            self.remove_entry(guard, state, dir.dentry, child);
            Ok(())
        })
    }

    /// Removes empty directory `name` from `dir` for `cred` (Linux: `rmdir`). Lookups in the
    /// removed directory fail with `ENOENT` from then on, even for holders of a reference.
    ///
    /// Errors, in Linux's order: `EINVAL` for `.`, `ENOTEMPTY` for `..`; `ENAMETOOLONG`,
    /// `EINVAL`, `ENOENT` as for [`create`](Self::create); `ENOENT` if the name does not
    /// exist, `ENOTDIR` if `dir` is not a directory; `EACCES`, `EPERM` as for
    /// [`unlink`](Self::unlink); `ENOTDIR` if the entry is not a directory; `EBUSY` if
    /// something is mounted on it; `ENOTEMPTY` if it has entries.
    pub fn rmdir(&self, dir: Location<'_, Self>, name: &[u8], cred: &Cred) -> Result<(), Errno> {
        check_name(name, Errno::EINVAL, Errno::ENOTEMPTY)?;
        self.update_topology(|guard, state| {
            self.live_dir(guard, dir.dentry)?;
            let child = self.find_positive(guard, dir.dentry, name)?;
            self.may_delete(guard, cred, dir.dentry, child, true)?;
            if is_mountpoint(child) {
                return Err(Errno::EBUSY);
            }
            self.check_empty(guard, child)?;
            // Walks that overlap fail their rename_lock check (see the module docs).
            let _rename = self.rename_lock.write_begin();
            self.remove_entry(guard, state, dir.dentry, child);
            Ok(())
        })
    }

    /// Renames `old_name` in `old_dir` to `new_name` in `new_dir` for `cred` (Linux:
    /// `renameat2`), replacing an existing target unless [`RenameFlags::NOREPLACE`], or
    /// swapping the two with [`RenameFlags::EXCHANGE`]. Runs inside a `rename_lock` write
    /// section and the `d_seq` write sections of every dentry it moves or unhashes.
    ///
    /// Errors, in Linux's order: `EINVAL` for `NOREPLACE | EXCHANGE`; `EBUSY` for `.` or
    /// `..`; `ENAMETOOLONG`, `EINVAL` (bad characters), `ENOENT` (empty name); `EXDEV` if
    /// the two directories are on different mounts; `ENOENT`/`ENOTDIR` for a bad directory;
    /// `ENOENT` if the source does not exist (or, with `EXCHANGE`, the target); `EEXIST`
    /// with `NOREPLACE` if the target exists; `EINVAL` when moving a directory into its own
    /// subtree; `ENOTEMPTY` (or `EINVAL` with `EXCHANGE`) when the target is an ancestor of
    /// the source; then the checks of [`unlink`](Self::unlink) on the source and on the
    /// target (`EACCES`, `EPERM`, and `ENOTDIR` for a directory over a non-directory,
    /// `EISDIR` for the reverse) or write and search permission on `new_dir` (`EACCES`);
    /// `EACCES` when moving a directory `cred` may not write to another directory; `EBUSY`
    /// if either is a mountpoint; `ENOTEMPTY` to replace a non-empty directory. Renaming an
    /// entry onto itself succeeds and changes nothing.
    pub fn rename(
        &self,
        old_dir: Location<'_, Self>,
        old_name: &[u8],
        new_dir: Location<'_, Self>,
        new_name: &[u8],
        flags: RenameFlags,
        cred: &Cred,
    ) -> Result<(), Errno> {
        let exchange = flags.contains(RenameFlags::EXCHANGE);
        if flags.contains(RenameFlags::NOREPLACE | RenameFlags::EXCHANGE)
            || !RenameFlags::all().contains(flags)
        {
            return Err(Errno::EINVAL);
        }
        check_name(old_name, Errno::EBUSY, Errno::EBUSY)?;
        check_name(new_name, Errno::EBUSY, Errno::EBUSY)?;
        if !ptr::eq(old_dir.mount, new_dir.mount) {
            return Err(Errno::EXDEV);
        }
        self.update_topology(|guard, state| {
            let (old_parent, new_parent) = (old_dir.dentry, new_dir.dentry);
            self.live_dir(guard, old_parent)?;
            self.live_dir(guard, new_parent)?;
            let old = self.find_positive(guard, old_parent, old_name)?;
            let target = self.find_child(guard, new_parent, new_name);
            let replaced = target.filter(|t| t.is_positive());
            if flags.contains(RenameFlags::NOREPLACE) && replaced.is_some() {
                return Err(Errno::EEXIST);
            }
            if exchange && replaced.is_none() {
                return Err(Errno::ENOENT);
            }

            // The source must not be an ancestor of the target's directory, nor the target
            // of the source's (Linux: the `trap` of `lock_rename`).
            let old_is_dir = old.kind() == Kind::Directory;
            if old_is_dir && self.is_ancestor(old, new_parent) {
                return Err(Errno::EINVAL);
            }
            if let Some(replaced) = replaced {
                if replaced.kind() == Kind::Directory && self.is_ancestor(replaced, old_parent) {
                    return Err(if exchange {
                        Errno::EINVAL
                    } else {
                        Errno::ENOTEMPTY
                    });
                }
                if ptr::eq(replaced, old) {
                    return Ok(());
                }
            }

            // Permissions and types, as `vfs_rename` checks them.
            self.may_delete(guard, cred, old_parent, old, old_is_dir)?;
            match replaced {
                Some(replaced) => {
                    let want_dir = if exchange {
                        replaced.kind() == Kind::Directory
                    } else {
                        old_is_dir
                    };
                    self.may_delete(guard, cred, new_parent, replaced, want_dir)?;
                }
                None => self.may_create(guard, cred, new_parent)?,
            }
            if !ptr::eq(old_parent, new_parent) {
                // A directory that changes parents has its `..` rewritten.
                let moved_dirs = [Some(old), replaced.filter(|_| exchange)];
                for dir in moved_dirs.into_iter().flatten() {
                    if dir.kind() == Kind::Directory {
                        let inode = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?;
                        if !inode.attr.read().may_access(cred, MAY_WRITE) {
                            return Err(Errno::EACCES);
                        }
                    }
                }
            }
            if is_mountpoint(old) || replaced.is_some_and(is_mountpoint) {
                return Err(Errno::EBUSY);
            }
            if let Some(replaced) = replaced.filter(|_| !exchange) {
                self.check_empty(guard, replaced)?;
            }

            // Every check passed: move. Walks that overlap fail their rename_lock check.
            let _rename = self.rename_lock.write_begin();
            match (exchange, replaced) {
                (true, Some(other)) => {
                    self.exchange(guard, state, (old_parent, old), (new_parent, other));
                }
                _ => self.move_over(guard, state, old_parent, old, new_parent, new_name, target),
            }
            Ok(())
        })
    }

    /// Changes the attributes of `at.dentry` through `f` (chmod, chown, truncate, utimes),
    /// published as one seqlock write: readers see all of the change or none. The file-type
    /// bits of `mode` cannot be changed. `f` must not call back into the namespace.
    ///
    /// A change of mode or owner, which can change what a walk may search or follow, is
    /// made inside a `rename_lock` write section, like a rename (see the module docs).
    ///
    /// Errors: `ENOENT` for a negative dentry.
    pub fn set_attr(&self, at: Location<'_, Self>, f: impl FnOnce(&mut Attr)) -> Result<(), Errno> {
        // Serialises the rename_lock write section below with the other writers.
        let _topology = self.topology.lock();
        let guard = self.rcu.read_lock();
        let inode = self.inode_rcu(&guard, at.dentry).ok_or(Errno::ENOENT)?;
        let mut rename = None;
        let mode = inode.attr.update(|attr| {
            let file_type = attr.mode & S_IFMT;
            let before = (attr.mode, attr.uid, attr.gid);
            f(attr);
            attr.mode = file_type | (attr.mode & !S_IFMT);
            if (attr.mode, attr.uid, attr.gid) != before {
                // Opened before the new attributes are visible and closed after (when
                // `rename` is dropped), so that the section spans the change.
                rename = Some(self.rename_lock.write_begin());
            }
            attr.mode
        });
        // Relaxed: inside the `rename_lock` section when the mode changed (see
        // `Inode::may_exec`); an unchanged mode stores the value the flag already has.
        inode
            .search_all
            .store(searchable_by_all(mode), Ordering::Relaxed);
        drop(rename);
        Ok(())
    }

    /// Marks the existing entry `name` of `dir` as not cached yet (`on`), or as cached: while
    /// marked, [`lookup_rcu`](crate::Namespace::lookup_rcu) does not see it and answers
    /// [`RcuLookup::NotCached`](crate::RcuLookup::NotCached) for any name of `dir` it does
    /// not find, and the next ref-mode [`lookup`](crate::Namespace::lookup) "reads it in" (clears
    /// the mark and counts a slow lookup). Concurrent walks may see the change late.
    ///
    /// Errors: `ENOENT` if the name is not in the cache; `ENAMETOOLONG`, `EINVAL`.
    pub fn set_uncached(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        on: bool,
    ) -> Result<(), Errno> {
        check_name(name, Errno::EINVAL, Errno::EINVAL)?;
        self.update(|guard, _state| {
            let child = self
                .find_child(guard, dir.dentry, name)
                .ok_or(Errno::ENOENT)?;
            if child.has_flag(UNCACHED) != on {
                child.set_flag(UNCACHED, on);
                // Relaxed: a knob for `lookup_rcu`, which needs no ordering with the
                // dentry's flag: either answer is one a walk a moment earlier or later could
                // have got.
                if on {
                    dir.dentry.uncached_children.fetch_add(1, Ordering::Relaxed);
                } else {
                    dir.dentry.uncached_children.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Ok(())
        })
    }

    /// Makes [`revalidate_rcu`](crate::Namespace::revalidate_rcu) of `dentry` answer `NeedRef`
    /// (`on`) or not, like a filesystem whose dentries must always be revalidated.
    pub fn set_needs_revalidate(&self, dentry: &Dentry, on: bool) {
        dentry.set_flag(NEEDS_REVALIDATE, on);
    }

    /// Marks `dentry` stale (`on`): `revalidate_rcu` answers `NeedRef`, and the ref-mode
    /// lookup fails with `ESTALE` unless the walk passes [`LookupFlags::REVAL`], which
    /// revalidates it and clears the mark.
    ///
    /// [`LookupFlags::REVAL`]: crate::LookupFlags::REVAL
    pub fn set_stale(&self, dentry: &Dentry, on: bool) {
        dentry.set_flag(STALE, on);
    }

    /// Whether getattr may run under RCU for the inode of `dentry` (default `true`); with
    /// `false`, [`getattr_rcu`](Self::getattr_rcu) answers `NeedRef`, as for a filesystem
    /// whose getattr has side effects.
    ///
    /// Errors: `ENOENT` for a negative dentry.
    pub fn set_rcu_getattr(&self, dentry: &Dentry, on: bool) -> Result<(), Errno> {
        let guard = self.rcu.read_lock();
        let inode = self.inode_rcu(&guard, dentry).ok_or(Errno::ENOENT)?;
        // Relaxed: a knob.
        inode.rcu_getattr.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Frees the negative dentries nobody references (Linux: the dcache shrinker, for
    /// negative entries). Returns how many were pruned.
    pub fn shrink(&self) -> usize {
        self.update(|guard, state| {
            let unused: alloc::vec::Vec<NonNull<Dentry>> = state
                .dentries
                .iter()
                .filter(|dentry| {
                    // SAFETY: registered dentries are alive.
                    let dentry = unsafe { dentry.as_ref() };
                    // Relaxed: under the update lock; a reference taken concurrently makes
                    // the dentry survive its unhash, which is harmless.
                    dentry.hashed.load(Ordering::Relaxed)
                        && !dentry.is_positive()
                        && dentry.count.load(Ordering::Relaxed) == 0
                        && dentry.children.load(Ordering::Relaxed) == 0
                })
                .collect();
            for dentry in &unused {
                // SAFETY: registered, hence alive; nothing is killed before `reap`.
                self.unhash(guard, state, unsafe { dentry.as_ref() });
            }
            unused.len()
        })
    }

    /// Resolves absolute `path` in ref mode, for setting trees up and inspecting them: `.`
    /// and `..` (crossing mounts upwards; `..` at the root stays there), mounts crossed
    /// downwards, no symbolic links followed, no permission checks, no knobs honoured.
    /// Returns the final location referenced: give it back with [`put`](Self::put).
    ///
    /// Errors: `ENOENT` if a component does not exist; `ENOTDIR` if a non-directory is used
    /// as a directory; `ELOOP` if that non-directory is a symbolic link; `ENAMETOOLONG`,
    /// `EINVAL` for a bad component.
    #[cfg(test)]
    pub(crate) fn lookup_path(&self, path: &[u8]) -> Result<Location<'_, Self>, Errno> {
        let root = self.root();
        let mut at = root;
        let _ = self.dget_not_dead(at.dentry);
        let _ = self.mntget_not_dead(at.mount);
        for component in path.split(|&byte| byte == b'/') {
            let next = match component {
                b"" | b"." => continue,
                b".." => self.step_up(at),
                name => self.step_down(at, name),
            };
            match next {
                Ok(next) => {
                    self.put(at);
                    at = next;
                }
                Err(errno) => {
                    self.put(at);
                    return Err(errno);
                }
            }
        }
        Ok(at)
    }

    /// Gives back a location returned referenced by [`lookup_path`](Self::lookup_path).
    #[cfg(test)]
    pub(crate) fn put(&self, at: Location<'_, Self>) {
        // SAFETY: test code passes each location `lookup_path` referenced here once, and
        // uses nothing of it afterwards.
        unsafe {
            self.dput(at.dentry);
            self.mntput(at.mount);
        }
    }

    // ---- helpers ----

    /// The creating operations: checks, then a fresh inode bound to a new dentry or to the
    /// negative dentry already there.
    fn create_entry(
        &self,
        dir: Location<'_, Self>,
        name: &[u8],
        kind: Kind,
        perm: u32,
        cred: &Cred,
        link: NewLink<'_, R>,
    ) -> Result<u64, Errno> {
        check_name(name, Errno::EEXIST, Errno::EEXIST)?;
        self.update(|guard, state| {
            let parent = dir.dentry;
            self.live_dir(guard, parent)?;
            let existing = self.find_child(guard, parent, name);
            if existing.is_some_and(Dentry::is_positive) {
                return Err(Errno::EEXIST);
            }
            self.may_create(guard, cred, parent)?;
            let link = match link {
                NewLink::None => Link::None,
                NewLink::Body(body) => Link::Body(body.into()),
                NewLink::Jump(target) => {
                    // The references the inode holds on its target.
                    if !get_not_dead(&target.mount.count) {
                        return Err(Errno::ENOENT);
                    }
                    if !get_not_dead(&target.dentry.count) {
                        if put_ref(&target.mount.count) {
                            state
                                .victims
                                .push(Victim::Mount(NonNull::from(target.mount)));
                        }
                        return Err(Errno::ENOENT);
                    }
                    Link::Jump {
                        mount: NonNull::from(target.mount),
                        dentry: NonNull::from(target.dentry),
                    }
                }
            };
            let inode = self.new_inode(kind, perm, cred, link);
            // SAFETY: just allocated; freed only after it is published and released.
            let ino = unsafe { inode.as_ref() }.ino;
            match existing {
                Some(negative) => self.instantiate(negative, inode, kind),
                None => {
                    self.d_alloc(state, parent, name, Some(inode), kind);
                }
            }
            self.account_child(guard, parent, kind, true);
            Ok(ino)
        })
    }

    /// Linux's `may_create`, after the existence check: write and search permission on
    /// `dir`.
    fn may_create(&self, guard: &ReadGuard<'_, R>, cred: &Cred, dir: &Dentry) -> Result<(), Errno> {
        let dir = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?;
        if !dir.attr.read().may_access(cred, MAY_WRITE | MAY_EXEC) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }

    /// Linux's `may_delete` for the existing entry `victim` of `dir`: write and search
    /// permission on `dir` (`EACCES`), the sticky rule (`EPERM`), and the type the caller
    /// wants removed (`ENOTDIR` for a directory operation on a non-directory, `EISDIR` for
    /// the reverse).
    fn may_delete(
        &self,
        guard: &ReadGuard<'_, R>,
        cred: &Cred,
        dir: &Dentry,
        victim: &Dentry,
        want_dir: bool,
    ) -> Result<(), Errno> {
        let dir = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?.attr.read();
        let victim_inode = self.inode_rcu(guard, victim).ok_or(Errno::ENOENT)?;
        if !dir.may_access(cred, MAY_WRITE | MAY_EXEC) {
            return Err(Errno::EACCES);
        }
        if sticky_forbids(cred, &dir, &victim_inode.attr.read()) {
            return Err(EPERM);
        }
        match (want_dir, victim_inode.kind == Kind::Directory) {
            (true, false) => Err(Errno::ENOTDIR),
            (false, true) => Err(Errno::EISDIR),
            _ => Ok(()),
        }
    }

    /// `ENOTEMPTY` unless directory `dir` has no positive entries.
    fn check_empty(&self, guard: &ReadGuard<'_, R>, dir: &Dentry) -> Result<(), Errno> {
        let inode = self.inode_rcu(guard, dir).ok_or(Errno::ENOENT)?;
        // Relaxed: under the update lock.
        if inode.positive_children.load(Ordering::Relaxed) != 0 {
            return Err(Errno::ENOTEMPTY);
        }
        Ok(())
    }

    /// The positive child `name` of `parent`, or `ENOENT`.
    fn find_positive<'g>(
        &'g self,
        guard: &'g ReadGuard<'_, R>,
        parent: &Dentry,
        name: &[u8],
    ) -> Result<&'g Dentry, Errno> {
        self.find_child(guard, parent, name)
            .filter(|child| child.is_positive())
            .ok_or(Errno::ENOENT)
    }

    /// Unlink and rmdir after their checks: the name goes away, the inode loses its link,
    /// a directory is marked dead and its negative entries pruned.
    fn remove_entry(
        &self,
        guard: &ReadGuard<'_, R>,
        state: &mut State,
        parent: &Dentry,
        child: &Dentry,
    ) {
        let kind = child.kind();
        self.account_child(guard, parent, kind, false);
        self.drop_link(guard, state, child);
        self.delete(guard, state, child);
    }

    /// The inode of `dentry` loses its name: `nlink` to 0, `ctime` stamped; a directory is
    /// marked dead (Linux `S_DEAD`) and its negative entries pruned.
    fn drop_link(&self, guard: &ReadGuard<'_, R>, state: &mut State, dentry: &Dentry) {
        let Some(inode) = self.inode_rcu(guard, dentry) else {
            return;
        };
        let now = self.tick();
        inode.attr.update(|attr| {
            attr.nlink = 0;
            attr.ctime = now;
        });
        if inode.kind == Kind::Directory {
            // Relaxed: see `Inode::is_dead`.
            inode.dead.store(true, Ordering::Relaxed);
            self.prune_children(guard, state, dentry);
        }
    }

    /// A plain rename after its checks: the target (if any) is unhashed, the source moved
    /// onto its name (Linux: `d_move`).
    #[allow(clippy::too_many_arguments)]
    fn move_over(
        &self,
        guard: &ReadGuard<'_, R>,
        state: &mut State,
        old_parent: &Dentry,
        old: &Dentry,
        new_parent: &Dentry,
        new_name: &[u8],
        target: Option<&Dentry>,
    ) {
        if let Some(target) = target {
            if target.is_positive() {
                self.account_child(guard, new_parent, target.kind(), false);
                self.drop_link(guard, state, target);
            }
            self.unhash(guard, state, target);
        }
        let kind = old.kind();
        let name = super::dentry::Name::alloc(new_name, self.shared);
        let old_name = {
            let _write = old.d_seq.write_begin();
            self.rehash(guard, state, old, new_parent, name)
        };
        if let Some(old_name) = old_name {
            // SAFETY: the name was `old`'s until `rehash` replaced it, belongs to no other
            // dentry, and is queued only here.
            unsafe { self.queue_free_name(old_name) };
        }
        if !ptr::eq(old_parent, new_parent) {
            self.account_child(guard, old_parent, kind, false);
            self.account_child(guard, new_parent, kind, true);
        }
    }

    /// `RENAME_EXCHANGE` after its checks: the two dentries swap parents and names (Linux:
    /// `d_exchange`), each inside its own `d_seq` write section.
    fn exchange(
        &self,
        guard: &ReadGuard<'_, R>,
        state: &mut State,
        (a_parent, a): (&Dentry, &Dentry),
        (b_parent, b): (&Dentry, &Dentry),
    ) {
        let (a_kind, b_kind) = (a.kind(), b.kind());
        {
            let _write_a = a.d_seq.write_begin();
            let _write_b = b.d_seq.write_begin();
            // Relaxed: under the update lock.
            let a_name = NonNull::new(a.name.load(Ordering::Relaxed));
            let b_name = NonNull::new(b.name.load(Ordering::Relaxed));
            if let (Some(a_name), Some(b_name)) = (a_name, b_name) {
                // The names change hands; neither is freed.
                self.rehash(guard, state, a, b_parent, b_name);
                self.rehash(guard, state, b, a_parent, a_name);
            }
        }
        if !ptr::eq(a_parent, b_parent) {
            self.account_child(guard, a_parent, a_kind, false);
            self.account_child(guard, b_parent, a_kind, true);
            self.account_child(guard, b_parent, b_kind, false);
            self.account_child(guard, a_parent, b_kind, true);
        }
    }

    /// One `..` step of [`lookup_path`](Self::lookup_path): to the parent, out of mounts
    /// whose root we are at; stays at the top.
    #[cfg(test)]
    fn step_up(&self, at: Location<'_, Self>) -> Result<Location<'_, Self>, Errno> {
        check_searchable(at.dentry.kind())?;
        self.locked(|guard, state| {
            let (mut mount, mut dentry) = (at.mount, at.dentry);
            while ptr::eq(dentry, self.mnt_root(mount)) {
                match self.mnt_parent(guard, mount) {
                    Some(up) => (mount, dentry) = (up.mount, up.dentry),
                    None => break,
                }
            }
            let dentry = self.parent(guard, dentry);
            self.reference(state, mount, dentry)
        })
    }

    /// One downward step of [`lookup_path`](Self::lookup_path): to child `name`, then on
    /// top of whatever is mounted there.
    #[cfg(test)]
    fn step_down(&self, at: Location<'_, Self>, name: &[u8]) -> Result<Location<'_, Self>, Errno> {
        check_name(name, Errno::EINVAL, Errno::EINVAL)?;
        check_searchable(at.dentry.kind())?;
        self.locked(|guard, state| {
            self.live_dir(guard, at.dentry)?;
            let mut dentry = self.find_positive(guard, at.dentry, name)?;
            let mut mount = at.mount;
            while let Some(top) = self.lookup_mnt(guard, mount, dentry) {
                mount = top;
                dentry = self.mnt_root(top);
            }
            self.reference(state, mount, dentry)
        })
    }

    /// References `mount` and `dentry` (counted as reference operations) and returns them
    /// as a location that outlives the read-side section they were found in.
    #[cfg(test)]
    fn reference(
        &self,
        state: &mut State,
        mount: &Mount,
        dentry: &Dentry,
    ) -> Result<Location<'_, Self>, Errno> {
        // Under the update lock nothing live dies, so these fail only on a saturated count.
        if !self.mntget_not_dead(mount) {
            return Err(Errno::EAGAIN);
        }
        if !self.dget_not_dead(dentry) {
            if put_ref(&mount.count) {
                state.victims.push(Victim::Mount(NonNull::from(mount)));
            }
            return Err(Errno::EAGAIN);
        }
        // SAFETY: both are referenced now, and a referenced object is not freed before the
        // matching put, which `put` performs.
        unsafe {
            Ok(Location {
                mount: &*ptr::from_ref(mount),
                dentry: &*ptr::from_ref(dentry),
            })
        }
    }
}

/// The sticky rule refused.
const EPERM: Errno = Errno::EPERM;

/// Whether something is mounted on `dentry` (Linux: `is_local_mountpoint`).
fn is_mountpoint(dentry: &Dentry) -> bool {
    // Relaxed: changed under the update lock, which the callers hold.
    dentry.mounted.load(Ordering::Relaxed) != 0
}

/// `ENOTDIR` (or `ELOOP` for a symbolic link, `ENOENT` for a negative dentry) unless a
/// dentry of `kind` can be searched.
#[cfg(test)]
fn check_searchable(kind: Kind) -> Result<(), Errno> {
    match kind {
        Kind::Directory => Ok(()),
        Kind::Negative => Err(Errno::ENOENT),
        Kind::Symlink => Err(Errno::ELOOP),
        Kind::Regular | Kind::Other => Err(Errno::ENOTDIR),
    }
}

/// Checks a name for a write-side operation: `ENAMETOOLONG` over [`NAME_MAX`] bytes,
/// `ENOENT` if empty, `dot` or `dotdot` for `.` and `..` (each operation has its own Linux
/// errno for those), `EINVAL` for `/` or NUL.
fn check_name(name: &[u8], dot: Errno, dotdot: Errno) -> Result<(), Errno> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    match name {
        b"" => Err(Errno::ENOENT),
        b"." => Err(dot),
        b".." => Err(dotdot),
        _ if name.contains(&b'/') || name.contains(&0) => Err(Errno::EINVAL),
        _ => Ok(()),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::testutil::{ns, seen, stat_of, Seen, TestRcu};
    use super::super::{S_IFDIR, S_IFIFO, S_ISVTX};
    use super::*;
    use crate::LookupFlags;

    type Ns = Dcache<TestRcu>;

    /// `lookup_path` then `ino`, for checking where an entry went.
    fn ino_at(ns: &Ns, path: &[u8]) -> Result<u64, Errno> {
        let at = ns.lookup_path(path)?;
        let ino = ns.ino(at.dentry);
        ns.put(at);
        ino.ok_or(Errno::ENOENT)
    }

    /// Which updates move `rename_lock` (so that walks racing them walk again): renames,
    /// unlinks, rmdirs and changes of mode or owner; not creations, nor attribute changes
    /// that leave mode and owner alone.
    #[test]
    fn updates_that_remove_names_or_change_permissions_move_rename_lock() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let check = |what: &str, expected: bool, f: &dyn Fn()| {
            let seq = ns.rename_lock.read_begin();
            f();
            let moved = ns.rename_lock.read_retry(seq);
            assert_eq!(moved, expected, "{what}: rename_lock moved: {moved}");
        };
        check("create", false, &|| {
            ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
            ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        });
        let f = ns.lookup_path(b"/f").unwrap();
        check("size, and mode unchanged", false, &|| {
            ns.set_attr(f, |attr| attr.size = 42).unwrap();
            ns.set_attr(f, |attr| attr.mode = 0o644).unwrap();
        });
        check("chmod", true, &|| {
            ns.set_attr(f, |attr| attr.mode = 0o600).unwrap()
        });
        check("chown", true, &|| {
            ns.set_attr(f, |attr| attr.uid = 7).unwrap()
        });
        ns.put(f);
        check("rename", true, &|| {
            ns.rename(root, b"f", root, b"g", RenameFlags::empty(), &Cred::ROOT)
                .unwrap();
        });
        check("unlink", true, &|| {
            ns.unlink(root, b"g", &Cred::ROOT).unwrap()
        });
        check("rmdir", true, &|| {
            ns.rmdir(root, b"d", &Cred::ROOT).unwrap()
        });
        check("failed unlink", false, &|| {
            assert_eq!(ns.unlink(root, b"g", &Cred::ROOT), Err(Errno::ENOENT));
        });
    }

    /// The creating operations: fresh inode numbers, owner and mode; each Linux error;
    /// a negative dentry is reused; a directory counts its subdirectories in `nlink`.
    #[test]
    fn create_family() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let cred = Cred::new(7, 8);
        assert_eq!(ns.mkdir(root, b"d", 0o750, &cred), Err(Errno::EACCES));
        ns.set_attr(root, |attr| attr.mode = 0o777).unwrap();
        let d = ns.mkdir(root, b"d", 0o750, &cred).unwrap();
        let f = ns.create(root, b"f", 0o600, &cred).unwrap();
        let p = ns.mknod_other(root, b"p", 0o644, &cred).unwrap();
        assert!(d != f && f != p && d > 1);
        let at = ns.lookup_path(b"/d").unwrap();
        let stat = stat_of(&ns, at);
        assert_eq!(
            (stat.mode, stat.uid, stat.gid, stat.nlink),
            (S_IFDIR | 0o750, 7, 8, 2)
        );
        assert_eq!(
            ns.create(at, b"x", 0o600, &Cred::new(9, 8)),
            Err(Errno::EACCES),
            "the group may search but not write"
        );
        ns.put(at);
        assert_eq!(stat_of(&ns, root).nlink, 3, "root gained a subdirectory");
        let pipe = ns.lookup_path(b"/p").unwrap();
        assert_eq!(ns.kind(pipe.dentry), Kind::Other);
        assert_eq!(stat_of(&ns, pipe).mode, S_IFIFO | 0o644);

        assert_eq!(ns.create(root, b"f", 0o600, &cred), Err(Errno::EEXIST));
        assert_eq!(ns.mkdir(root, b"d", 0o600, &cred), Err(Errno::EEXIST));
        assert_eq!(ns.mkdir(root, b".", 0o600, &cred), Err(Errno::EEXIST));
        assert_eq!(ns.mkdir(root, b"..", 0o600, &cred), Err(Errno::EEXIST));
        assert_eq!(ns.create(root, b"", 0o600, &cred), Err(Errno::ENOENT));
        assert_eq!(ns.create(root, b"a/b", 0o600, &cred), Err(Errno::EINVAL));
        assert_eq!(ns.create(root, b"a\0", 0o600, &cred), Err(Errno::EINVAL));
        assert_eq!(
            ns.create(root, &[b'n'; NAME_MAX + 1], 0o600, &cred),
            Err(Errno::ENAMETOOLONG)
        );
        assert!(ns.create(root, &[b'n'; NAME_MAX], 0o600, &cred).is_ok());
        assert_eq!(ns.create(pipe, b"x", 0o600, &cred), Err(Errno::ENOTDIR));
        ns.put(pipe);

        // Unlink leaves a negative dentry; creating the name again instantiates it, which
        // moves its d_seq.
        ns.unlink(root, b"f", &Cred::ROOT).unwrap();
        let negative = ns.lookup(root.dentry, b"f", LookupFlags::empty()).unwrap();
        let seq = ns.d_seq(negative).read_begin();
        let again = ns.create(root, b"f", 0o600, &cred).unwrap();
        assert!(ns.d_seq(negative).read_retry(seq));
        assert_eq!(
            ns.ino(negative),
            Some(again),
            "the same dentry, now positive"
        );
        ns.test_dput(negative);
        let held_negative = Location {
            mount: root.mount,
            dentry: ns.lookup(root.dentry, b"f", LookupFlags::empty()).unwrap(),
        };
        ns.unlink(root, b"f", &Cred::ROOT).unwrap();
        assert_eq!(
            ns.kind(held_negative.dentry),
            Kind::Regular,
            "referenced: keeps its inode"
        );
        assert_eq!(
            ns.create(held_negative, b"x", 0o600, &cred),
            Err(Errno::ENOTDIR)
        );
        ns.test_dput(held_negative.dentry);
    }

    /// unlink: EISDIR, ENOENT, EBUSY for a mountpoint; success moves `d_seq` and leaves a
    /// cached negative entry.
    #[test]
    fn unlink_rules() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        ns.create(root, b"g", 0o644, &Cred::ROOT).unwrap();
        assert_eq!(ns.unlink(root, b"d", &Cred::ROOT), Err(Errno::EISDIR));
        assert_eq!(ns.unlink(root, b".", &Cred::ROOT), Err(Errno::EISDIR));
        assert_eq!(ns.unlink(root, b"..", &Cred::ROOT), Err(Errno::EISDIR));
        assert_eq!(ns.unlink(root, b"nope", &Cred::ROOT), Err(Errno::ENOENT));
        let f = ns.lookup_path(b"/f").unwrap();
        let g = ns.lookup_path(b"/g").unwrap();
        ns.bind_mount(g, f).unwrap();
        assert_eq!(ns.unlink(root, b"f", &Cred::ROOT), Err(Errno::EBUSY));
        ns.put(f);
        let seq = ns.d_seq(g.dentry).read_begin();
        let g_dentry = g.dentry;
        ns.put(g);
        ns.unlink(root, b"g", &Cred::ROOT).unwrap();
        // The bind mount on `f` still references `g`: it is unhashed rather than made
        // negative, keeps its inode, and its d_seq moved.
        assert!(ns.d_seq(g_dentry).read_retry(seq));
        assert_eq!(ns.kind(g_dentry), Kind::Regular);
        assert_eq!(seen(&ns, root.dentry, b"g"), Seen::Negative);
        assert_eq!(ino_at(&ns, b"/f"), ns.ino(g_dentry).ok_or(Errno::ENOENT));

        // An unreferenced file becomes a negative dentry; readers of the old state fail
        // validation.
        ns.create(root, b"h", 0o644, &Cred::ROOT).unwrap();
        let guard = crate::dcache::testutil::RCU.read_lock();
        let crate::RcuLookup::Found(h, seq) = ns.lookup_rcu(&guard, root.dentry, b"h").unwrap()
        else {
            panic!("h is cached");
        };
        ns.unlink(root, b"h", &Cred::ROOT).unwrap();
        assert!(ns.d_seq(h).read_retry(seq));
        assert_eq!(ns.kind(h), Kind::Negative);
        drop(guard);
        assert_eq!(seen(&ns, root.dentry, b"h"), Seen::Found(Kind::Negative));
    }

    /// rmdir: ENOTDIR, ENOTEMPTY (also for `..`), EINVAL for `.`, EBUSY for a mountpoint;
    /// negative entries do not make a directory non-empty; the parent's `nlink` drops.
    #[test]
    fn rmdir_rules() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"m", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        ns.create(d, b"x", 0o644, &Cred::ROOT).unwrap();
        assert_eq!(ns.rmdir(root, b"f", &Cred::ROOT), Err(Errno::ENOTDIR));
        assert_eq!(ns.rmdir(root, b"d", &Cred::ROOT), Err(Errno::ENOTEMPTY));
        assert_eq!(ns.rmdir(root, b".", &Cred::ROOT), Err(Errno::EINVAL));
        assert_eq!(ns.rmdir(root, b"..", &Cred::ROOT), Err(Errno::ENOTEMPTY));
        assert_eq!(ns.rmdir(root, b"nope", &Cred::ROOT), Err(Errno::ENOENT));
        let m = ns.lookup_path(b"/m").unwrap();
        ns.mount_new(m).unwrap();
        assert_eq!(ns.rmdir(root, b"m", &Cred::ROOT), Err(Errno::EBUSY));
        ns.put(m);

        ns.unlink(d, b"x", &Cred::ROOT).unwrap();
        assert_eq!(seen(&ns, d.dentry, b"x"), Seen::Found(Kind::Negative));
        let nlink = stat_of(&ns, root).nlink;
        let seq = ns.d_seq(d.dentry).read_begin();
        ns.rmdir(root, b"d", &Cred::ROOT).unwrap();
        assert!(
            ns.d_seq(d.dentry).read_retry(seq),
            "the held directory was unhashed"
        );
        assert_eq!(stat_of(&ns, root).nlink, nlink - 1);
        assert_eq!(stat_of(&ns, d).nlink, 0, "the holder sees it removed");
        assert_eq!(
            seen(&ns, d.dentry, b"x"),
            Seen::Negative,
            "negative entries pruned"
        );
        assert_eq!(ns.create(d, b"y", 0o644, &Cred::ROOT), Err(Errno::ENOENT));
        assert_eq!(ns.lookup_path(b"/d").err(), Some(Errno::ENOENT));
        ns.put(d);
    }

    /// A plain rename within and across directories: the entry is found under its new name
    /// (same dentry, same inode), not under the old; `d_seq` and `rename_lock` move; the
    /// directories' link counts follow a moved subdirectory.
    #[test]
    fn rename_moves_entries() {
        let (rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"a", 0o755, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"b", 0o755, &Cred::ROOT).unwrap();
        let a = ns.lookup_path(b"/a").unwrap();
        let b = ns.lookup_path(b"/b").unwrap();
        let ino = ns.mkdir(a, b"sub", 0o755, &Cred::ROOT).unwrap();
        let sub = ns.lookup_path(b"/a/sub").unwrap();
        let seq = ns.d_seq(sub.dentry).read_begin();
        let rename_seq = ns.rename_lock().read_begin();
        ns.rename(a, b"sub", a, b"renamed", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        assert!(ns.d_seq(sub.dentry).read_retry(seq), "rename moves d_seq");
        assert!(ns.rename_lock().read_retry(rename_seq), "and rename_lock");
        assert_eq!(seen(&ns, a.dentry, b"sub"), Seen::Negative);
        assert_eq!(
            seen(&ns, a.dentry, b"renamed"),
            Seen::Found(Kind::Directory)
        );
        assert_eq!(ino_at(&ns, b"/a/renamed"), Ok(ino));
        {
            let guard = rcu.read_lock();
            assert_eq!(ns.name(&guard, sub.dentry), b"renamed");
        }

        ns.rename(
            a,
            b"renamed",
            b,
            b"moved",
            RenameFlags::empty(),
            &Cred::ROOT,
        )
        .unwrap();
        assert_eq!(ino_at(&ns, b"/b/moved"), Ok(ino));
        assert_eq!(ino_at(&ns, b"/a/renamed"), Err(Errno::ENOENT));
        assert_eq!(
            ino_at(&ns, b"/b/moved/.."),
            ns.ino(b.dentry).ok_or(Errno::ENOENT)
        );
        assert_eq!((stat_of(&ns, a).nlink, stat_of(&ns, b).nlink), (2, 3));
        assert_eq!(
            ns.rmdir(root, b"a", &Cred::ROOT),
            Ok(()),
            "a is empty again"
        );
        assert_eq!(ns.rmdir(root, b"b", &Cred::ROOT), Err(Errno::ENOTEMPTY));

        // Renaming an entry onto itself changes nothing.
        let seq = ns.d_seq(sub.dentry).read_begin();
        ns.rename(b, b"moved", b, b"moved", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        assert!(!ns.d_seq(sub.dentry).read_retry(seq));
        for at in [a, b, sub] {
            ns.put(at);
        }
    }

    /// Renaming over an existing entry: the target goes (a referenced target keeps its
    /// inode with `nlink` 0); an empty directory may be replaced by a directory.
    #[test]
    fn rename_replaces_targets() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let f = ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let g = ns.create(root, b"g", 0o644, &Cred::ROOT).unwrap();
        let held = ns.lookup_path(b"/g").unwrap();
        ns.rename(root, b"f", root, b"g", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        assert_eq!(ino_at(&ns, b"/g"), Ok(f));
        assert_eq!(ino_at(&ns, b"/f"), Err(Errno::ENOENT));
        assert_eq!(ns.ino(held.dentry), Some(g));
        assert_eq!(stat_of(&ns, held).nlink, 0);
        ns.put(held);

        ns.mkdir(root, b"d1", 0o755, &Cred::ROOT).unwrap();
        let d2 = ns.mkdir(root, b"d2", 0o755, &Cred::ROOT).unwrap();
        let nlink = stat_of(&ns, root).nlink;
        ns.rename(root, b"d2", root, b"d1", RenameFlags::empty(), &Cred::ROOT)
            .unwrap();
        assert_eq!(ino_at(&ns, b"/d1"), Ok(d2));
        assert_eq!(stat_of(&ns, root).nlink, nlink - 1);
    }

    /// RENAME_EXCHANGE swaps the names (and the inodes found under them), moves both
    /// `d_seq`s, and keeps the directories' link counts right when a directory and a file
    /// swap directories.
    #[test]
    fn rename_exchange() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"p", 0o755, &Cred::ROOT).unwrap();
        let p = ns.lookup_path(b"/p").unwrap();
        let dir = ns.mkdir(root, b"dir", 0o755, &Cred::ROOT).unwrap();
        let file = ns.create(p, b"file", 0o644, &Cred::ROOT).unwrap();
        let a = ns.lookup_path(b"/dir").unwrap();
        let b = ns.lookup_path(b"/p/file").unwrap();
        let (sa, sb) = (
            ns.d_seq(a.dentry).read_begin(),
            ns.d_seq(b.dentry).read_begin(),
        );
        let (root_nlink, p_nlink) = (stat_of(&ns, root).nlink, stat_of(&ns, p).nlink);
        ns.rename(root, b"dir", p, b"file", RenameFlags::EXCHANGE, &Cred::ROOT)
            .unwrap();
        assert!(ns.d_seq(a.dentry).read_retry(sa) && ns.d_seq(b.dentry).read_retry(sb));
        assert_eq!(ino_at(&ns, b"/dir"), Ok(file));
        assert_eq!(ino_at(&ns, b"/p/file"), Ok(dir));
        assert_eq!(stat_of(&ns, root).nlink, root_nlink - 1);
        assert_eq!(stat_of(&ns, p).nlink, p_nlink + 1);
        assert_eq!(
            ns.rename(
                root,
                b"dir",
                root,
                b"nope",
                RenameFlags::EXCHANGE,
                &Cred::ROOT
            ),
            Err(Errno::ENOENT)
        );
        for at in [a, b, p] {
            ns.put(at);
        }
    }

    /// The rename errors, each in a case where it is the first that applies.
    #[test]
    fn rename_errors() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"e", 0o755, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"mnt", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        let d = ns.lookup_path(b"/d").unwrap();
        let e = ns.lookup_path(b"/e").unwrap();
        ns.mkdir(d, b"sub", 0o755, &Cred::ROOT).unwrap();
        let sub = ns.lookup_path(b"/d/sub").unwrap();
        ns.create(e, b"x", 0o644, &Cred::ROOT).unwrap();
        let mnt = ns.lookup_path(b"/mnt").unwrap();
        ns.mount_new(mnt).unwrap();
        let inside = ns.lookup_path(b"/mnt").unwrap();
        let none = RenameFlags::empty();

        let both = RenameFlags::NOREPLACE | RenameFlags::EXCHANGE;
        assert_eq!(
            ns.rename(root, b"f", root, b"g", both, &Cred::ROOT),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ns.rename(root, b".", root, b"g", none, &Cred::ROOT),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            ns.rename(root, b"f", root, b"..", none, &Cred::ROOT),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            ns.rename(root, b"f", inside, b"f", none, &Cred::ROOT),
            Err(Errno::EXDEV)
        );
        assert_eq!(
            ns.rename(root, b"nope", root, b"g", none, &Cred::ROOT),
            Err(Errno::ENOENT)
        );
        assert_eq!(
            ns.rename(root, b"f", root, b"d", RenameFlags::NOREPLACE, &Cred::ROOT),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            ns.rename(root, b"d", sub, b"loop", none, &Cred::ROOT),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ns.rename(root, b"d", d, b"self", none, &Cred::ROOT),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ns.rename(d, b"sub", root, b"d", none, &Cred::ROOT),
            Err(Errno::ENOTEMPTY)
        );
        assert_eq!(
            ns.rename(d, b"sub", root, b"d", RenameFlags::EXCHANGE, &Cred::ROOT),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            ns.rename(root, b"d", root, b"f", none, &Cred::ROOT),
            Err(Errno::ENOTDIR)
        );
        assert_eq!(
            ns.rename(root, b"f", root, b"d", none, &Cred::ROOT),
            Err(Errno::EISDIR)
        );
        assert_eq!(
            ns.rename(root, b"mnt", root, b"z", none, &Cred::ROOT),
            Err(Errno::EBUSY)
        );
        assert_eq!(
            ns.rename(root, b"d", root, b"e", none, &Cred::ROOT),
            Err(Errno::ENOTEMPTY)
        );
        // NOREPLACE to a free name works.
        ns.rename(root, b"f", root, b"g", RenameFlags::NOREPLACE, &Cred::ROOT)
            .unwrap();
        for at in [d, e, sub, inside, mnt] {
            ns.put(at);
        }
    }

    /// Removing and renaming need write and search permission on the directories
    /// (`EACCES`), respect the sticky bit (`EPERM`), and moving a directory to another
    /// parent needs write permission on it; uid 0 passes all of it.
    #[test]
    fn write_side_permissions() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let alice = Cred::new(1000, 1000);
        let bob = Cred::new(1001, 1001);
        ns.mkdir(root, b"tmp", 0o777, &Cred::ROOT).unwrap();
        ns.mkdir(root, b"ro", 0o755, &Cred::ROOT).unwrap();
        let tmp = ns.lookup_path(b"/tmp").unwrap();
        let ro = ns.lookup_path(b"/ro").unwrap();
        ns.create(ro, b"f", 0o666, &Cred::ROOT).unwrap();
        assert_eq!(ns.unlink(ro, b"f", &alice), Err(Errno::EACCES));
        assert_eq!(
            ns.rename(ro, b"f", tmp, b"f", RenameFlags::empty(), &alice),
            Err(Errno::EACCES)
        );
        ns.create(tmp, b"a", 0o644, &alice).unwrap();
        assert_eq!(
            ns.rename(tmp, b"a", ro, b"a", RenameFlags::empty(), &alice),
            Err(Errno::EACCES),
            "no write permission on the new directory"
        );

        // Sticky: bob may not remove or rename alice's file; alice and root may.
        ns.set_attr(tmp, |attr| attr.mode |= S_ISVTX).unwrap();
        assert_eq!(ns.unlink(tmp, b"a", &bob), Err(EPERM));
        assert_eq!(
            ns.rename(tmp, b"a", tmp, b"b", RenameFlags::empty(), &bob),
            Err(EPERM)
        );
        ns.rename(tmp, b"a", tmp, b"b", RenameFlags::empty(), &alice)
            .unwrap();
        ns.unlink(tmp, b"b", &Cred::ROOT).unwrap();

        // A directory alice cannot write to cannot move to another parent, but may be
        // renamed in place.
        ns.mkdir(tmp, b"sealed", 0o555, &alice).unwrap();
        ns.mkdir(tmp, b"other", 0o777, &alice).unwrap();
        let other = ns.lookup_path(b"/tmp/other").unwrap();
        assert_eq!(
            ns.rename(
                tmp,
                b"sealed",
                other,
                b"sealed",
                RenameFlags::empty(),
                &alice
            ),
            Err(Errno::EACCES)
        );
        ns.rename(
            tmp,
            b"sealed",
            tmp,
            b"renamed",
            RenameFlags::empty(),
            &alice,
        )
        .unwrap();
        ns.rename(
            tmp,
            b"renamed",
            other,
            b"sealed",
            RenameFlags::empty(),
            &Cred::ROOT,
        )
        .unwrap();
        assert_eq!(
            ns.rmdir(other, b"sealed", &bob),
            Ok(()),
            "a world-writable, non-sticky directory lets anyone remove entries"
        );
        for at in [tmp, ro, other] {
            ns.put(at);
        }
    }

    /// `lookup_path`: `.` and `..` (up across a mount, staying at the root), mounts crossed
    /// downwards, ELOOP at a symlink, ENOTDIR at a file, ENOENT; references are given back.
    #[test]
    fn lookup_path_resolves() {
        let (_rcu, ns) = ns();
        let root = ns.root();
        let d = ns.mkdir(root, b"d", 0o755, &Cred::ROOT).unwrap();
        ns.create(root, b"f", 0o644, &Cred::ROOT).unwrap();
        ns.symlink(root, b"l", b"d", &Cred::ROOT).unwrap();
        let at = ns.lookup_path(b"/d").unwrap();
        ns.mount_new(at).unwrap();
        ns.put(at);
        assert_eq!(ino_at(&ns, b"/../.././d/.."), Ok(1));
        let inside = ns.lookup_path(b"/d").unwrap();
        assert_ne!(ns.ino(inside.dentry), Some(d), "crossed into the mount");
        assert_eq!(ino_at(&ns, b"/d/.."), Ok(1), "`..` leaves the mount");
        ns.put(inside);
        assert_eq!(ino_at(&ns, b"/l/x"), Err(Errno::ELOOP));
        assert_eq!(ino_at(&ns, b"/f/x"), Err(Errno::ENOTDIR));
        assert_eq!(ino_at(&ns, b"/f/.."), Err(Errno::ENOTDIR));
        assert_eq!(ino_at(&ns, b"/nope"), Err(Errno::ENOENT));
        let before = ns.ref_ops();
        let at = ns.lookup_path(b"/d").unwrap();
        ns.put(at);
        assert!(ns.ref_ops() > before, "lookup_path counts its references");
    }
}
