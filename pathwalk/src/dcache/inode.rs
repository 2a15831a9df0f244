//! Inodes: what a positive dentry names. Their file type, their attributes (in a seqlock, so
//! that a reader under RCU copies a consistent snapshot), symlink bodies and jump targets, and
//! the permission rules the walk asks about.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use alloc::boxed::Box;
use rcu_core::RcuHead;
use seqlock::SeqLock;

use super::dentry::Dentry;
use super::mount::Mount;
use super::Shared;
use crate::Kind;

/// The file-type bits of [`Attr::mode`] (Linux `S_IFMT`).
pub const S_IFMT: u32 = 0o170_000;
/// File type: directory.
pub const S_IFDIR: u32 = 0o040_000;
/// File type: regular file.
pub const S_IFREG: u32 = 0o100_000;
/// File type: symbolic link (jump links included).
pub const S_IFLNK: u32 = 0o120_000;
/// File type: FIFO, the type of the namespace's [`Kind::Other`] files.
pub const S_IFIFO: u32 = 0o010_000;
/// The sticky bit (`S_ISVTX`).
pub const S_ISVTX: u32 = 0o1_000;
/// Write permission for others (`S_IWOTH`).
pub const S_IWOTH: u32 = 0o002;
/// Permission to execute, or to search a directory (`MAY_EXEC`).
pub const MAY_EXEC: u32 = 0o1;
/// Permission to write, or to add and remove a directory's entries (`MAY_WRITE`).
pub const MAY_WRITE: u32 = 0o2;
/// Permission to read, or to list a directory (`MAY_READ`).
pub const MAY_READ: u32 = 0o4;

/// An inode's attributes: what `stat` reports, and the owner and mode that permission
/// checks read.
///
/// Stored in a [`SeqLock`], so it is `#[repr(C)]` without padding and copied as atomic words
/// ([`seqlock::Plain`]). Times are plain counters: the namespace has no clock, and stamps a
/// logical time at creation; [`Dcache::set_attr`](super::Dcache::set_attr) sets any of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct Attr {
    /// Size in bytes (a symlink's is the length of its body).
    pub size: u64,
    /// Last access time.
    pub atime: u64,
    /// Last modification time.
    pub mtime: u64,
    /// Last status change time.
    pub ctime: u64,
    /// File type ([`S_IFMT`] bits, fixed for the inode's life) and permission bits, as in
    /// `st_mode`.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Number of names: 1 for a file with a name, 0 once unlinked; 2 plus the number of
    /// subdirectories for a directory.
    pub nlink: u32,
}

seqlock::impl_plain!(Attr {
    size: u64,
    atime: u64,
    mtime: u64,
    ctime: u64,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
});

impl Attr {
    /// Whether `cred` may access this inode for every permission in `mask` ([`MAY_READ`],
    /// [`MAY_WRITE`], [`MAY_EXEC`]): the owner, group or other bits, chosen as Linux's
    /// `acl_permission_check` does (one class, never a fallback to the next). uid 0 always
    /// may, as with `CAP_DAC_OVERRIDE` on a directory (the namespace asks only about
    /// directories).
    pub fn may_access(&self, cred: &Cred, mask: u32) -> bool {
        if cred.uid == 0 {
            return true;
        }
        let bits = if cred.uid == self.uid {
            self.mode >> 6
        } else if cred.gid == self.gid {
            self.mode >> 3
        } else {
            self.mode
        };
        bits & mask & 0o7 == mask & 0o7
    }

    /// Whether `cred` may search this directory: [`may_access`](Self::may_access) with
    /// [`MAY_EXEC`].
    pub fn may_exec(&self, cred: &Cred) -> bool {
        self.may_access(cred, MAY_EXEC)
    }
}

/// The credentials permission checks are made for: a filesystem uid and gid (no
/// supplementary groups, no capabilities other than uid 0's search override).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cred {
    /// The user.
    pub uid: u32,
    /// The group.
    pub gid: u32,
}

impl Cred {
    /// The superuser: passes every search permission check.
    pub const ROOT: Cred = Cred { uid: 0, gid: 0 };

    /// Credentials for `uid` and `gid`.
    pub const fn new(uid: u32, gid: u32) -> Self {
        Self { uid, gid }
    }
}

/// What [`Dcache::getattr`](super::Dcache::getattr) and
/// [`getattr_rcu`](super::Dcache::getattr_rcu) report: Linux's `struct kstat`, reduced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stat {
    /// The inode number, unique within the namespace.
    pub ino: u64,
    /// File type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Number of names.
    pub nlink: u32,
    /// Last access time.
    pub atime: u64,
    /// Last modification time.
    pub mtime: u64,
    /// Last status change time.
    pub ctime: u64,
    /// The id of the mount the file was reached through.
    pub mount_id: u64,
    /// The file type, as the walk sees it.
    pub kind: Kind,
}

/// Where a link leads.
pub(super) enum Link {
    /// Not a link.
    None,
    /// A symbolic link's body: immutable for the inode's life.
    Body(Box<[u8]>),
    /// A jump ("magic") link's target, which the inode keeps referenced (one count on each)
    /// until it is released.
    Jump {
        mount: NonNull<Mount>,
        dentry: NonNull<Dentry>,
    },
}

/// An inode. Owned by the one dentry bound to it (the namespace has no hard links).
///
/// # Invariants
///
/// - `ino`, `kind` and `link` never change; a jump link holds a reference on its target
///   mount and dentry from creation until the inode is released (its dentry is killed or
///   made negative), which happens under the update lock.
/// - The inode is freed a grace period after it became unreachable: after its dentry was
///   killed or its dentry's `inode` pointer was cleared.
pub(super) struct Inode {
    /// The inode number.
    pub(super) ino: u64,
    /// The file type.
    pub(super) kind: Kind,
    /// The attributes.
    pub(super) attr: SeqLock<Attr>,
    /// Whether the mode has all three execute bits, so that every credential may search the
    /// inode and [`may_exec`](Self::may_exec) need not read the attributes. Linux's path
    /// lookup checks the same first (`lookup_inode_permission_may_exec`, 2025). Changed with
    /// the mode, inside the same `rename_lock` write section
    /// ([`Dcache::set_attr`](super::Dcache::set_attr)).
    pub(super) search_all: AtomicBool,
    /// Whether `getattr` may run under RCU (false models a filesystem whose getattr has side
    /// effects or must block).
    pub(super) rcu_getattr: AtomicBool,
    /// Body or jump target of a link.
    pub(super) link: Link,
    /// For a directory: how many hashed positive children it has (rmdir's `ENOTEMPTY`).
    /// Changed under the update lock only.
    pub(super) positive_children: AtomicU32,
    /// For a directory: removed (Linux `S_DEAD`): nothing may be looked up or created in it.
    pub(super) dead: AtomicBool,
    /// The namespace's live-object counters.
    pub(super) shared: NonNull<Shared>,
    /// The head its deferred free is queued with.
    pub(super) rcu: RcuHead,
}

// SAFETY: the shared mutable state is atomics and the `SeqLock` (whose payload is accessed
// only with atomic words); `link` is immutable, and its jump pointers name objects that the
// inode keeps referenced and that are themselves `Sync`; `shared` points to atomics that
// outlive the inode.
unsafe impl Sync for Inode {}
// SAFETY: as above; nothing is tied to a thread.
unsafe impl Send for Inode {}

impl Inode {
    /// Allocates an inode and counts it as live.
    pub(super) fn alloc(
        ino: u64,
        kind: Kind,
        attr: Attr,
        link: Link,
        shared: NonNull<Shared>,
    ) -> NonNull<Inode> {
        debug_assert!(kind != Kind::Negative, "an inode always has a type");
        // SAFETY: `shared` outlives every object of the namespace.
        unsafe { shared.as_ref() }.object_allocated();
        let inode = Box::new(Inode {
            ino,
            kind,
            attr: SeqLock::new(attr),
            search_all: AtomicBool::new(searchable_by_all(attr.mode)),
            rcu_getattr: AtomicBool::new(true),
            link,
            positive_children: AtomicU32::new(0),
            dead: AtomicBool::new(false),
            shared,
            rcu: RcuHead::new(),
        });
        NonNull::from(Box::leak(inode))
    }

    /// Whether `cred` may search this inode ([`Attr::may_exec`]).
    #[inline]
    pub(super) fn may_exec(&self, cred: &Cred) -> bool {
        // Relaxed: read like the attribute words. The flag changes inside a `rename_lock`
        // write section: a walk that saw the new value also sees the section begun (the
        // Release fence of `write_begin` pairs with the Acquire fence of `read_retry`), and
        // its end check sends it round again.
        self.search_all.load(Ordering::Relaxed) || self.attr.read().may_exec(cred)
    }

    /// A consistent snapshot of the attributes, as `stat` reports them.
    pub(super) fn stat(&self, mount_id: u64) -> Stat {
        let attr = self.attr.read();
        Stat {
            ino: self.ino,
            mode: attr.mode,
            uid: attr.uid,
            gid: attr.gid,
            size: attr.size,
            nlink: attr.nlink,
            atime: attr.atime,
            mtime: attr.mtime,
            ctime: attr.ctime,
            mount_id,
            kind: self.kind,
        }
    }

    /// Whether this is a directory that has been removed.
    pub(super) fn is_dead(&self) -> bool {
        // Relaxed: set under the update lock, read as a hint by lookups (which report the
        // same ENOENT a lookup that came a moment later would) and under the lock by updates.
        self.dead.load(Ordering::Relaxed)
    }
}

/// Whether `mode` lets every credential search: the execute bit of each class is set (the
/// one class [`Attr::may_access`] picks then always has it).
pub(super) const fn searchable_by_all(mode: u32) -> bool {
    mode & 0o111 == 0o111
}

/// The [`S_IFMT`] bits for an inode of `kind`.
pub(super) const fn type_bits(kind: Kind) -> u32 {
    match kind {
        Kind::Directory => S_IFDIR,
        Kind::Regular => S_IFREG,
        Kind::Symlink => S_IFLNK,
        Kind::Other | Kind::Negative => S_IFIFO,
    }
}

/// Linux's `check_sticky`: in a sticky directory, only the owner of an entry, the owner of
/// the directory or uid 0 (`CAP_FOWNER`) may remove or rename the entry.
pub(super) fn sticky_forbids(cred: &Cred, dir: &Attr, victim: &Attr) -> bool {
    dir.mode & S_ISVTX != 0 && cred.uid != 0 && cred.uid != victim.uid && cred.uid != dir.uid
}

/// Linux's `fs.protected_symlinks` rule (`may_follow_link` in fs/namei.c): in a sticky,
/// world-writable directory, a link may be followed only by its owner, or if the directory's
/// owner also owns the link. Applies to uid 0 as well, as in Linux.
pub(super) fn protected_symlink_allows(cred: &Cred, dir: &Attr, link: &Attr) -> bool {
    let sticky_world_writable = S_ISVTX | S_IWOTH;
    if dir.mode & sticky_world_writable != sticky_world_writable {
        return true;
    }
    cred.uid == link.uid || dir.uid == link.uid
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn attr(mode: u32, uid: u32, gid: u32) -> Attr {
        Attr {
            mode: S_IFDIR | mode,
            uid,
            gid,
            nlink: 2,
            ..Attr::default()
        }
    }

    /// Owner, group and other bits are chosen by identity, not tried in turn; uid 0 always
    /// passes.
    #[test]
    fn search_permission_picks_one_class() {
        let dir = attr(0o701, 1000, 100);
        assert!(dir.may_exec(&Cred::new(1000, 5)), "owner x");
        assert!(
            !dir.may_exec(&Cred::new(2000, 100)),
            "group has no x, and other's x does not apply to group members"
        );
        assert!(dir.may_exec(&Cred::new(2000, 5)), "other x");
        let owner_denied = attr(0o011, 1000, 100);
        assert!(
            !owner_denied.may_exec(&Cred::new(1000, 100)),
            "owner class without x is refused even if group and other have it"
        );
        assert!(attr(0o000, 1000, 100).may_exec(&Cred::ROOT));
        assert!(attr(0o300, 1000, 100).may_access(&Cred::new(1000, 1), MAY_WRITE | MAY_EXEC));
        assert!(!attr(0o100, 1000, 100).may_access(&Cred::new(1000, 1), MAY_WRITE | MAY_EXEC));
    }

    /// The sticky rule: the entry's owner, the directory's owner and uid 0 may remove.
    #[test]
    fn sticky_rule() {
        let tmp = attr(0o1777, 10, 0);
        let file = Attr {
            uid: 20,
            ..Attr::default()
        };
        assert!(sticky_forbids(&Cred::new(30, 0), &tmp, &file));
        assert!(!sticky_forbids(&Cred::new(20, 0), &tmp, &file));
        assert!(!sticky_forbids(&Cred::new(10, 0), &tmp, &file));
        assert!(!sticky_forbids(&Cred::ROOT, &tmp, &file));
        assert!(!sticky_forbids(
            &Cred::new(30, 0),
            &attr(0o777, 10, 0),
            &file
        ));
    }

    /// The protected_symlinks table of Linux's `may_follow_link`.
    #[test]
    fn protected_symlinks_rule() {
        let tmp = attr(0o1777, 0, 0);
        let link = Attr {
            mode: S_IFLNK | 0o777,
            uid: 1000,
            ..Attr::default()
        };
        assert!(protected_symlink_allows(&Cred::new(1000, 0), &tmp, &link));
        assert!(!protected_symlink_allows(&Cred::new(1001, 0), &tmp, &link));
        assert!(
            !protected_symlink_allows(&Cred::ROOT, &tmp, &link),
            "root is not exempt"
        );
        let owned_by_link_owner = attr(0o1777, 1000, 0);
        assert!(protected_symlink_allows(
            &Cred::new(1001, 0),
            &owned_by_link_owner,
            &link
        ));
        assert!(protected_symlink_allows(
            &Cred::new(1001, 0),
            &attr(0o777, 0, 0),
            &link
        ));
        assert!(protected_symlink_allows(
            &Cred::new(1001, 0),
            &attr(0o1775, 0, 0),
            &link
        ));
    }
}
