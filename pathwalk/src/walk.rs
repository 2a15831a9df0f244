//! The walk engine: [`Lookup`] and the RCU-walk / ref-walk machinery behind it.
//!
//! # How a lookup runs
//!
//! A lookup is tried in up to three passes, as Linux's `filename_lookup` does:
//!
//! 1. **RCU-walk.** One read-side critical section covers the whole walk. The engine steps
//!    from dentry to dentry without touching a reference count: where ref-walk would take a
//!    reference on the child it samples the child's `d_seq`, and where ref-walk would drop
//!    the parent's reference it checks that the parent's `d_seq` has not moved (hand over
//!    hand). `mount_lock` and `rename_lock` are sampled once at the start. Everything the
//!    walk concludes, an error included, is checked against these samples before it is
//!    reported.
//! 2. **Unlazy.** When an operation cannot be done under RCU (a slow lookup, a permission
//!    check or link body that needs to block, a revalidation), the walk *legitimizes* what
//!    it holds (the current location and every link on its stack): it takes references only
//!    if the sequence samples still hold, leaves the read-side section and continues in
//!    ref mode. [`Lookup::finish`] ends every successful RCU walk this way.
//! 3. **Ref-walk restart.** If legitimizing fails (something moved under the walk), the
//!    whole lookup is walked again in ref mode, taking a reference at every step. If a
//!    ref-mode lookup reports a stale cache entry (`ESTALE`), one more walk is made with
//!    [`LookupFlags::REVAL`]. The engine never goes back to RCU mode.
//!
//! A walk answers with a sequence of facts, each true when it was read; a rename or mount
//! change between them could combine them into an answer that was never true at any one
//! moment. Hand-over-hand validation does not rule that out in RCU mode either: a link body
//! or a `..` walks names again from a directory the walk already passed, and a rename may
//! have changed what those names mean in between (`/a` a link to `a/b` before an exchange,
//! a directory after it). Linux allows such answers in both modes. Here every result of a
//! pass, errors included, is checked against `rename_lock` and `mount_lock` at its end: an
//! RCU-walk that raced walks again in ref mode, a ref-walk walks again, and after a few lost
//! races the last try excludes renames and mount changes ([`Namespace::lock_topology`]), as
//! Linux's `d_path` falls back to taking `rename_lock`. A quiet namespace pays one load of
//! `rename_lock` per lookup for this.
//!
//! [`Lookup::finish_with`] adds the fast ending sketched by Linus Torvalds to Al Viro in
//! January 2023 (LKML, "Re: \[PATCH\] lib/genalloc: use try_cmpxchg in {set,clear}_bits_ll"): the
//! final operation runs under RCU on the final object, and if it succeeds and the walk still
//! validates, the lookup ends there, without ever taking a reference.
//!
//! # Symbolic links
//!
//! Link bodies are walked on a fixed-size stack ([`MAX_SYMLINKS`] entries, the same as the
//! limit on links followed per lookup), so the engine needs no allocator. Each entry keeps
//! the link (validated or referenced, so its body stays valid) and the rest of the path to
//! resume once the body is done. A component is *final* when it is the last of its body and
//! every body below it on the stack is done too; only a final link is subject to
//! [`LookupFlags::FOLLOW`], links in the middle of a path are always followed.
//!
//! The structure follows `fs/namei.c` (`link_path_walk`, `walk_component`, `step_into`,
//! `handle_dots`, `pick_link`, `try_to_unlazy`, `terminate_walk`); the code is our own.

use core::marker::PhantomData;
use core::ptr::NonNull;

use rcu_core::{Rcu, ReadGuard};
use seqlock::Seq;

use crate::namespace::{Kind, LinkBody, Location, Namespace, RcuError, RcuLookup};
use crate::{Errno, LookupFlags, PathName};

/// How many symbolic links one lookup may follow in total (Linux: `MAXSYMLINKS`). It is
/// also the depth of the engine's link stack.
pub const MAX_SYMLINKS: usize = 40;

/// How many times a ref-walk is walked again after a rename or mount change raced with it;
/// the last try excludes them ([`Namespace::lock_topology`]).
const REF_RETRIES: u32 = 4;

/// How a walk ended; tests and benchmarks use it to check that the fast path was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The walk never left RCU mode and took no reference: a [`Lookup::finish_with`]
    /// callback succeeded, or an error was found and validated under RCU.
    Rcu,
    /// The walk ran in RCU mode and then legitimized its location: at the end (the classic
    /// ending, or a declined `finish_with` callback) or in the middle, when an operation
    /// needed to block.
    Unlazy,
    /// Legitimizing failed, so the lookup was walked again in ref mode.
    RefRestart,
    /// A ref-mode walk met a stale entry, so the lookup was walked once more with
    /// [`LookupFlags::REVAL`].
    RevalRestart,
}

/// The outcome of a lookup, and how the walk got there.
#[derive(Debug)]
#[must_use]
pub struct Walked<T> {
    /// The result.
    pub result: Result<T, Errno>,
    /// How the walk ended.
    pub end: End,
}

impl<T> Walked<T> {
    /// The result, forgetting how the walk ended.
    pub fn into_result(self) -> Result<T, Errno> {
        self.result
    }
}

/// One path lookup: where it starts, what it resolves, with which flags.
///
/// End it with [`finish_with`](Self::finish_with) (an operation on the final object, under
/// RCU when possible), [`finish`](Self::finish) (a referenced path) or
/// [`parent`](Self::parent) (the parent directory and the last component, for create,
/// unlink and rename).
///
/// `root` is the caller's root directory (`/`), `start` the directory relative paths start
/// from (a working directory or a directory file descriptor). Both must be kept referenced
/// by the caller for the lifetime `'a`. Under [`LookupFlags::BENEATH`] and
/// [`LookupFlags::IN_ROOT`] the root is `start` itself.
///
/// A lookup follows at most 40 links ([`MAX_SYMLINKS`]) in each pass, and a pass walked
/// again in ref mode starts with the whole budget. NOTE(linux): Linux counts the links of
/// all passes of one lookup together (`total_link_count` is set once, in `set_nameidata`),
/// so a lookup through a long chain of links can fail with `ELOOP` there only because its
/// RCU pass had to be walked again, which depends on timing; here the answer does not.
pub struct Lookup<'n, 'a, N: Namespace> {
    ns: &'n N,
    cred: &'a N::Cred,
    root: Location<'a, N>,
    start: Location<'a, N>,
    path: &'a [u8],
    flags: LookupFlags,
    rcu_first: bool,
}

impl<'n, 'a, N: Namespace> Lookup<'n, 'a, N> {
    /// A lookup of `path` for `cred`.
    pub fn new(
        ns: &'n N,
        cred: &'a N::Cred,
        root: Location<'a, N>,
        start: Location<'a, N>,
        path: &'a [u8],
        flags: LookupFlags,
    ) -> Self {
        Self {
            ns,
            cred,
            root,
            start,
            path,
            flags,
            rcu_first: true,
        }
    }

    /// Walks in ref mode from the start, taking a reference at every step, as Linux does
    /// after an RCU walk failed. For comparisons in tests and benchmarks; the result is the
    /// same as with RCU-walk, only slower. The walk reports [`End::RefRestart`].
    pub fn without_rcu(mut self) -> Self {
        self.rcu_first = false;
        self
    }

    /// Resolves the path and runs one operation on the final object, under RCU if it can.
    ///
    /// 1. After the last component, if the walk is still in RCU mode, `rcu` is called on a
    ///    view of the final object with the read-side section still held. It must not
    ///    block, must tolerate its result being thrown away, and may answer
    ///    [`RcuError::NeedRef`] ("cannot do this under RCU").
    /// 2. The final dentry's `d_seq`, `mount_lock` and `rename_lock` are then checked. If
    ///    they moved, the callback's result, an error included, is discarded (after a
    ///    rename the path is walked again in ref mode, since the object reached may not be
    ///    one the path named at any one moment).
    /// 3. If they held and the callback did not decline, the walk ends there: no reference
    ///    was taken or dropped on any dentry or mount ([`End::Rcu`]).
    /// 4. Otherwise the path is legitimized and `fallback` runs on the referenced path,
    ///    which is released afterwards. If legitimizing fails, the path is walked again in
    ///    ref mode first. A declining callback therefore costs one walk plus one legitimize.
    ///
    /// `fallback` also runs when the walk had to leave RCU mode before the end; `rcu` is
    /// then not called at all.
    ///
    /// # Examples
    ///
    /// `stat(2)` on the reference namespace (feature `alloc`):
    ///
    /// ```
    /// # #[cfg(feature = "alloc")] {
    /// # use rcu_core::{hosted::Hosted, Counter};
    /// use pathwalk::dcache::{Cred, Dcache, Stat};
    /// use pathwalk::{Errno, Lookup, LookupFlags, End};
    ///
    /// fn stat<R: rcu_core::Rcu>(fs: &Dcache<R>, path: &[u8]) -> (Result<Stat, Errno>, End) {
    ///     let root = fs.root();
    ///     let walked = Lookup::new(fs, &Cred::ROOT, root, root, path, LookupFlags::FOLLOW)
    ///         .finish_with(|view| fs.getattr_rcu(view.guard(), view.location()), |path| {
    ///             fs.getattr(path.location())
    ///         });
    ///     (walked.result, walked.end)
    /// }
    ///
    /// static RCU: Counter<Hosted, 64> = Counter::new();
    /// let fs = Dcache::new(&RCU);
    /// let root = fs.root();
    /// fs.mkdir(root, b"etc", 0o755, &Cred::ROOT).unwrap();
    /// let etc = Lookup::new(&fs, &Cred::ROOT, root, root, b"/etc", LookupFlags::empty())
    ///     .finish()
    ///     .into_result()
    ///     .unwrap();
    /// fs.create(etc.location(), b"passwd", 0o644, &Cred::ROOT).unwrap();
    /// drop(etc);
    ///
    /// let before = fs.ref_ops();
    /// let (passwd, end) = stat(&fs, b"/etc/passwd");
    /// assert_eq!(passwd.unwrap().mode & 0o777, 0o644);
    /// assert_eq!(end, End::Rcu);
    /// assert_eq!(fs.ref_ops(), before, "an RCU finish takes no reference");
    /// assert_eq!(stat(&fs, b"/etc/shadow").0.unwrap_err(), Errno::ENOENT);
    /// # }
    /// ```
    pub fn finish_with<R>(
        self,
        rcu: impl FnOnce(RcuView<'_, N>) -> Result<R, RcuError>,
        fallback: impl FnOnce(&RefPath<'n, N>) -> Result<R, Errno>,
    ) -> Walked<R> {
        let mut rcu = Some(rcu);
        let mut fallback = Some(fallback);
        // The operation's own result, an error included, is final: only the walk's failures
        // lead to another pass (which could not call the operation again).
        let walked = self.run(|nd| {
            nd.walk_path()?;
            nd.complete()?;
            if nd.rcu() {
                if let Some(callback) = rcu.take() {
                    if let Some(done) = nd.try_rcu_finish(callback)? {
                        return Ok(done);
                    }
                }
                nd.unlazy(true)?;
            }
            let path = nd.take_path();
            let fallback = fallback.take().expect("pathwalk: fallback already ran");
            Ok(fallback(&path))
        });
        Walked {
            result: walked.result.and_then(|result| result),
            end: walked.end,
        }
    }

    /// Resolves the path to a referenced location (Linux: `filename_lookup`).
    pub fn finish(self) -> Walked<RefPath<'n, N>> {
        self.run(|nd| {
            nd.walk_path()?;
            nd.complete()?;
            if nd.rcu() {
                nd.unlazy(true)?;
            }
            Ok(nd.take_path())
        })
    }

    /// Resolves every component but the last, for operations that create, remove or rename
    /// the last one (Linux: `filename_parentat`). The last component is not looked up and a
    /// final link is not followed.
    pub fn parent(self) -> Walked<Parent<'n, 'a, N>> {
        self.run(|nd| {
            let last = nd.walk_to_last()?;
            if last.is_some() {
                nd.require_directory()?;
            }
            nd.complete()?;
            if nd.rcu() {
                nd.unlazy(true)?;
            }
            let (last, trailing_slash) = match last {
                None => (Last::Root, false),
                Some(last) => (
                    match last.component {
                        Step::Dot => Last::Dot,
                        Step::DotDot => Last::DotDot,
                        // SAFETY: the last component of a parent lookup is never inside a
                        // link body (final links are not followed), so it lies in the
                        // caller's path, which lives for `'a`.
                        Step::Name(name) => Last::Normal(unsafe { &*name }),
                    },
                    last.slash,
                ),
            };
            Ok(Parent {
                dir: nd.take_path(),
                last,
                trailing_slash,
            })
        })
    }

    /// Resolves the path for `open(2)` with `O_CREAT` (Linux: `open_last_lookups`): an
    /// existing final object is returned referenced, a final link is followed when the
    /// flags say [`FOLLOW`](LookupFlags::FOLLOW) (so a dangling link names the file to
    /// create at its target), and a missing final name is returned with its referenced
    /// directory, for the caller to create. With `exclusive` (`O_EXCL`) an existing final
    /// name, a link included, fails with `EEXIST`.
    ///
    /// A path without a final name (`/`, `.`, `..`), with a trailing slash or naming an
    /// existing directory fails with `EISDIR`, as `open(2)` does; [`LookupFlags::CACHED`] fails with `EAGAIN`, as
    /// `openat2(2)` does with `O_CREAT`.
    pub fn finish_create(self, exclusive: bool) -> Walked<Open<'n, N>> {
        // NOTE(linux): openat2(2) refuses `RESOLVE_CACHED` with `O_CREAT` outright.
        if self.flags.contains(LookupFlags::CACHED) {
            return Walked {
                result: Err(Errno::EAGAIN),
                end: End::Rcu,
            };
        }
        self.run(|nd| loop {
            let Some(last) = nd.walk_to_last()? else {
                return Err(Errno::EISDIR.into());
            };
            if last.slash {
                return Err(Errno::EISDIR.into());
            }
            nd.require_directory()?;
            nd.may_exec()?;
            let Step::Name(name) = last.component else {
                return Err(Errno::EISDIR.into());
            };
            // SAFETY: as in `walk_to_last`: the name lies in the caller's path or in the body
            // of a link still on the stack.
            let name = unsafe { &*name };
            match nd.lookup_child_or_absent(name)? {
                None => {
                    let name = NewName::new(name)?;
                    nd.complete()?;
                    if nd.rcu() {
                        nd.unlazy(true)?;
                    }
                    return Ok(Open::Create {
                        dir: nd.take_path(),
                        name,
                    });
                }
                Some((child, seq)) if exclusive => {
                    let fail = nd.rcu_error_at(Errno::EEXIST, child.dentry, seq);
                    nd.put(child);
                    return Err(fail);
                }
                Some((child, seq)) => {
                    let follow = nd.flags.contains(LookupFlags::FOLLOW);
                    if !nd.step_into(child, seq, follow, true)? {
                        // `open(2)` refuses to create "over" a directory.
                        if nd.kind(nd.path.dentry) == Kind::Directory {
                            return Err(nd.rcu_error(Errno::EISDIR));
                        }
                        nd.complete()?;
                        if nd.rcu() {
                            nd.unlazy(true)?;
                        }
                        return Ok(Open::Found(nd.take_path()));
                    }
                    // A final link was pushed: walk its body and look at its last name.
                }
            }
        })
    }

    /// Runs `attempt` in RCU mode, then in ref mode if it must restart, then with
    /// revalidation if ref mode found a stale entry.
    fn run<T>(
        self,
        mut attempt: impl FnMut(&mut Nd<'n, 'a, '_, N>) -> Result<T, Fail>,
    ) -> Walked<T> {
        let fail = |errno| Walked {
            result: Err(errno),
            end: End::Rcu,
        };
        if let Err(errno) = self.flags.validate() {
            return fail(errno);
        }
        let name = match PathName::new(self.path, self.flags) {
            Ok(name) => name,
            Err(errno) => return fail(errno),
        };
        let flags = name.lookup_flags(self.flags);
        // Shared by the passes, one after the other.
        let mut links: LinkStack<N> = None;

        // Pass 1: RCU-walk, unless the caller forces revalidation from the start.
        let mut end = End::RefRestart;
        if self.rcu_first && !flags.contains(LookupFlags::REVAL) {
            let mut nd = Nd::new(&self, flags, true, &mut links);
            match attempt(&mut nd) {
                Ok(value) => return nd.finish(Ok(value)),
                Err(Fail::Errno(errno)) if nd.raced(errno) => {}
                Err(Fail::Errno(errno)) if !nd.is_stale(errno) => return nd.finish(Err(errno)),
                Err(Fail::Errno(_)) => end = End::RevalRestart,
                Err(Fail::Restart) => {}
            }
            drop(nd);
        }
        // NOTE(linux): `RESOLVE_CACHED` lookups never walk in ref mode.
        if self.rcu_first && flags.contains(LookupFlags::CACHED) {
            return fail(Errno::EAGAIN);
        }

        // Pass 2: ref-walk; pass 3: ref-walk revalidating every dentry. A ref-walk is
        // walked again (a bounded number of times) only when it found itself standing in
        // a mount that was detached under it.
        let mut flags = flags;
        if end == End::RevalRestart {
            flags |= LookupFlags::REVAL;
        }
        loop {
            let mut tries = 0;
            let (nd, result) = loop {
                let last_try = tries == REF_RETRIES;
                if last_try {
                    self.ns.lock_topology();
                }
                let mut nd = Nd::new(&self, flags, false, &mut links);
                nd.last_try = last_try;
                nd.topology_locked = last_try;
                match attempt(&mut nd) {
                    Err(Fail::Restart) if !last_try => tries += 1,
                    Err(Fail::Errno(errno)) if nd.raced(errno) => tries += 1,
                    result => break (nd, result),
                }
            };
            match result {
                Ok(value) => return nd.finish_as(Ok(value), end),
                Err(Fail::Errno(errno)) if end == End::RefRestart && nd.is_stale(errno) => {
                    flags |= LookupFlags::REVAL;
                    end = End::RevalRestart;
                }
                Err(Fail::Errno(errno)) => return nd.finish_as(Err(errno), end),
                Err(Fail::Restart) => unreachable!("pathwalk: last ref-walk restarted"),
            }
        }
    }
}

/// A view of the final object of a walk, handed to a [`Lookup::finish_with`] callback under
/// RCU. The references it gives out live no longer than the read-side section.
pub struct RcuView<'g, N: Namespace> {
    ns: &'g N,
    guard: &'g ReadGuard<'g, N::Rcu>,
    location: Location<'g, N>,
    cred: &'g N::Cred,
}

impl<'g, N: Namespace> RcuView<'g, N> {
    /// The namespace.
    pub fn namespace(&self) -> &'g N {
        self.ns
    }

    /// The read-side section the walk is in.
    pub fn guard(&self) -> &'g ReadGuard<'g, N::Rcu> {
        self.guard
    }

    /// The final mount and dentry. They are not referenced: the walk validates them after
    /// the callback returns.
    pub fn location(&self) -> Location<'g, N> {
        self.location
    }

    /// The final dentry.
    pub fn dentry(&self) -> &'g N::Dentry {
        self.location.dentry
    }

    /// The final mount.
    pub fn mount(&self) -> &'g N::Mount {
        self.location.mount
    }

    /// The credentials of the lookup.
    pub fn cred(&self) -> &'g N::Cred {
        self.cred
    }
}

/// A referenced location: a reference on a mount and on a dentry in it, dropped with the
/// value (Linux: `struct path` after `path_get`, released by `path_put`).
pub struct RefPath<'n, N: Namespace> {
    ns: &'n N,
    mount: NonNull<N::Mount>,
    dentry: NonNull<N::Dentry>,
}

impl<'n, N: Namespace> RefPath<'n, N> {
    /// The mount and the dentry.
    pub fn location(&self) -> Location<'_, N> {
        // SAFETY: both are referenced by this value (obligations 1 and 3 of `Namespace`).
        unsafe {
            Location {
                mount: self.mount.as_ref(),
                dentry: self.dentry.as_ref(),
            }
        }
    }

    /// The dentry.
    pub fn dentry(&self) -> &N::Dentry {
        self.location().dentry
    }

    /// The mount.
    pub fn mount(&self) -> &N::Mount {
        self.location().mount
    }

    /// Takes another reference on the same location (Linux: `path_get`). Fails with `ENOENT`
    /// only if the namespace refuses a reference on a referenced object, which a correct
    /// namespace never does.
    pub fn try_clone(&self) -> Result<Self, Errno> {
        let location = self.location();
        if !self.ns.mntget_not_dead(location.mount) {
            return Err(Errno::ENOENT);
        }
        if !self.ns.dget_not_dead(location.dentry) {
            // SAFETY: the mount reference was taken just above and nothing obtained through
            // it is kept.
            unsafe { self.ns.mntput(location.mount) };
            return Err(Errno::ENOENT);
        }
        Ok(Self { ..*self })
    }
}

impl<N: Namespace> Drop for RefPath<'_, N> {
    fn drop(&mut self) {
        let location = self.location();
        // SAFETY: this value owns one reference on each (its invariant) and is going away,
        // with every borrow it handed out.
        unsafe {
            self.ns.dput(location.dentry);
            self.ns.mntput(location.mount);
        }
    }
}

// SAFETY: a `RefPath` owns two references, which any thread may drop; it hands out shared
// references to the namespace's objects, so it is as thread-safe as those are.
unsafe impl<N: Namespace> Send for RefPath<'_, N>
where
    N::Dentry: Sync,
    N::Mount: Sync,
{
}

// SAFETY: as for `Send`: only shared access through `&self`.
unsafe impl<N: Namespace> Sync for RefPath<'_, N>
where
    N::Dentry: Sync,
    N::Mount: Sync,
{
}

/// The result of [`Lookup::finish_create`].
// One per open, on the stack of a caller that may have no allocator: boxing the name is not
// an option, and its size is bounded.
#[allow(clippy::large_enum_variant)]
pub enum Open<'n, N: Namespace> {
    /// The final object exists.
    Found(RefPath<'n, N>),
    /// The final name does not exist: create `name` in `dir`.
    Create {
        /// The directory to create in.
        dir: RefPath<'n, N>,
        /// The name to create (it may come from a link body, so it is copied).
        name: NewName,
    },
}

/// Linux's `NAME_MAX`: the longest name [`Lookup::finish_create`] hands back.
pub const NAME_MAX: usize = 255;

/// A name to create, copied out of the path or a link body.
#[derive(Clone, Copy)]
pub struct NewName {
    bytes: [u8; NAME_MAX],
    len: u8,
}

impl NewName {
    fn new(name: &[u8]) -> Result<Self, Errno> {
        let mut bytes = [0; NAME_MAX];
        bytes
            .get_mut(..name.len())
            .ok_or(Errno::ENAMETOOLONG)?
            .copy_from_slice(name);
        Ok(Self {
            bytes,
            len: name.len() as u8,
        })
    }

    /// The name.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl core::fmt::Debug for NewName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("NewName")
            .field(&self.as_bytes().escape_ascii())
            .finish()
    }
}

/// The result of [`Lookup::parent`]: the referenced parent directory and what to do in it.
pub struct Parent<'n, 'a, N: Namespace> {
    /// The directory holding the last component.
    pub dir: RefPath<'n, N>,
    /// The last component.
    pub last: Last<'a>,
    /// Whether the path ended with a slash (`mkdir("a/")` is allowed, `open("a/", O_CREAT)`
    /// is not: the caller decides).
    pub trailing_slash: bool,
}

/// The last component of a [`Lookup::parent`] lookup (Linux: `LAST_NORM`, `LAST_DOT`,
/// `LAST_DOTDOT`, `LAST_ROOT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last<'a> {
    /// A name to create, remove or rename.
    Normal(&'a [u8]),
    /// `.`: operations on it fail (`EEXIST` for mkdir, `EINVAL` for rmdir).
    Dot,
    /// `..`: operations on it fail (`EEXIST` for mkdir, `ENOTEMPTY` for rmdir).
    DotDot,
    /// The path had no last component (`/`, or empty with `EMPTY`).
    Root,
}

// ---------------------------------------------------------------------------------------
// The walk state.
// ---------------------------------------------------------------------------------------

/// Why a pass stopped early.
enum Fail {
    /// The lookup failed; final unless the error is `ESTALE` in ref mode.
    Errno(Errno),
    /// RCU-walk lost a race or could not legitimize: walk again in ref mode (Linux:
    /// `-ECHILD`).
    Restart,
}

impl From<Errno> for Fail {
    fn from(errno: Errno) -> Self {
        Fail::Errno(errno)
    }
}

/// A location held by the walk: under RCU nothing is held; in ref mode, each flag says
/// whether the walk owns a reference on that half.
struct Loc<N: Namespace> {
    mnt: NonNull<N::Mount>,
    dentry: NonNull<N::Dentry>,
    held_mnt: bool,
    held_dentry: bool,
}

impl<N: Namespace> Clone for Loc<N> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<N: Namespace> Copy for Loc<N> {}

impl<N: Namespace> Loc<N> {
    fn unheld(location: Location<'_, N>) -> Self {
        Self {
            mnt: NonNull::from(location.mount),
            dentry: NonNull::from(location.dentry),
            held_mnt: false,
            held_dentry: false,
        }
    }

    fn same_place(&self, other: &Self) -> bool {
        self.mnt == other.mnt && self.dentry == other.dentry
    }
}

/// A symbolic link being walked: the link itself, its `d_seq` sample, and where to resume
/// once its body is done.
struct SavedLink<N: Namespace> {
    link: Loc<N>,
    seq: Seq,
    resume: *const [u8],
    /// Whether the link's body is the tail of the path (a final link being followed).
    trailing: bool,
}

/// A component as the walk holds it: a name points into the caller's path or into the
/// body of a link on the stack, so it carries no lifetime.
#[derive(Clone, Copy)]
enum Step {
    Dot,
    DotDot,
    Name(*const [u8]),
}

/// The last component a walk reached, for the finishing step to handle.
#[derive(Clone, Copy)]
struct LastComponent {
    component: Step,
    /// Whether slashes followed it.
    slash: bool,
}

/// The walk itself (Linux: `struct nameidata`).
///
/// It stays small: the link stack, the one large part, lives in the frame of
/// [`Lookup::run`] and is only borrowed, so that starting a pass does not copy it.
struct Nd<'n, 'a, 's, N: Namespace> {
    ns: &'n N,
    cred: &'a N::Cred,
    flags: LookupFlags,
    /// Held in RCU mode, `None` in ref mode.
    guard: Option<ReadGuard<'n, N::Rcu>>,
    /// Where the walk is, and its `d_seq` sample (RCU mode).
    path: Loc<N>,
    seq: Seq,
    /// The root `/` and `..` stop at; borrowed from the caller for `'a`, never counted.
    root: Loc<N>,
    /// `mount_lock` and `rename_lock` at the start of the walk.
    m_seq: Seq,
    r_seq: Seq,
    /// The rest of the path at the current level (the caller's path or a link body).
    rest: *const [u8],
    /// Links being walked, innermost last: the entries below `depth` are `Some`. The array
    /// is put in place by the first push, so that a walk that follows no link does not pay
    /// for clearing it.
    stack: &'s mut LinkStack<N>,
    depth: usize,
    /// Whether the starting location has been set.
    started: bool,
    /// Links followed so far in this pass (each pass has the whole budget: see [`Lookup`]).
    total_links: usize,
    /// Whether this pass left RCU mode in the middle of the walk.
    unlazied: bool,
    /// Whether the walk has "set its root" in Linux's sense (an absolute path or link, a
    /// `..`, or a scoped lookup), which `NO_XDEV` looks at (see `jump_root`).
    root_set: bool,
    /// Whether this is the last ref-walk allowed: it is not validated against concurrent
    /// renames and mount changes (it excludes them, if the namespace can), and `..` stays in
    /// a detached mount instead of asking for another walk.
    last_try: bool,
    /// Whether the walk holds the namespace's topology lock, released by `complete`.
    topology_locked: bool,
    _not_send: PhantomData<*mut ()>,
}

/// The link stack of a walk (see [`Nd::stack`]).
type LinkStack<N> = Option<[Option<SavedLink<N>>; MAX_SYMLINKS]>;

impl<'n, 'a, 's, N: Namespace> Nd<'n, 'a, 's, N> {
    /// Starts a pass (Linux: `path_init`) in RCU or ref mode on the link stack `stack`
    /// (whatever entries it holds are dead). The starting location is set lazily by
    /// `start_walk`, so that errors are reported through `Fail`.
    fn new(
        lookup: &Lookup<'n, 'a, N>,
        flags: LookupFlags,
        rcu: bool,
        stack: &'s mut LinkStack<N>,
    ) -> Self {
        let ns = lookup.ns;
        let guard = rcu.then(|| ns.rcu().read_lock());
        let root = if flags.is_scoped() {
            lookup.start
        } else {
            lookup.root
        };
        // Both samples wait out a writer in progress; a walk that starts during a rename
        // or mount sees its result or nothing of it. (Acquire inside `read_begin` pairs
        // with the writers' Release ends.)
        let m_seq = ns.mount_lock().read_begin();
        let r_seq = ns.rename_lock().read_begin();
        let start = Loc::unheld(lookup.start);
        Self {
            ns,
            cred: lookup.cred,
            flags,
            guard,
            path: start,
            seq: ns.d_seq(lookup.start.dentry).read_begin(),
            root: Loc::unheld(root),
            m_seq,
            r_seq,
            rest: lookup.path,
            stack,
            depth: 0,
            started: false,
            total_links: 0,
            unlazied: false,
            root_set: flags.is_scoped(),
            last_try: false,
            topology_locked: false,
            _not_send: PhantomData,
        }
    }

    /// Entry `i` of the link stack (`None` at and above `depth`).
    fn saved(&self, i: usize) -> Option<&SavedLink<N>> {
        self.stack.as_ref()?[i].as_ref()
    }

    /// Entry `i` of the link stack, for pushing, popping and legitimizing; puts the stack in
    /// place first if no link was pushed yet.
    // The closure is the point: the array is cleared only when the first link is pushed.
    #[allow(clippy::unnecessary_lazy_evaluations)]
    fn stack_entry(&mut self, i: usize) -> &mut Option<SavedLink<N>> {
        &mut self
            .stack
            .get_or_insert_with(|| [const { None }; MAX_SYMLINKS])[i]
    }

    #[inline]
    fn rcu(&self) -> bool {
        self.guard.is_some()
    }

    /// Whether `errno` calls for the revalidating pass.
    fn is_stale(&self, errno: Errno) -> bool {
        errno == Errno::ESTALE && !self.flags.contains(LookupFlags::REVAL)
    }

    /// Ends the pass with `result`, reporting how it ended.
    fn finish<T>(self, result: Result<T, Errno>) -> Walked<T> {
        let end = if self.unlazied || !self.rcu() {
            End::Unlazy
        } else {
            End::Rcu
        };
        self.finish_as(result, end)
    }

    fn finish_as<T>(self, result: Result<T, Errno>, end: End) -> Walked<T> {
        drop(self);
        Walked { result, end }
    }

    // ---- access to what the walk holds ----

    fn guard(&self) -> &ReadGuard<'n, N::Rcu> {
        self.guard
            .as_ref()
            .expect("pathwalk: RCU operation outside RCU mode")
    }

    /// The dentry at `ptr`.
    fn dentry(&self, ptr: NonNull<N::Dentry>) -> &N::Dentry {
        // SAFETY: the walk only keeps pointers to dentries it reached through the namespace,
        // and keeps each alive: under the guard it holds in RCU mode (obligation 1 of
        // `Namespace`), by a reference it owns in ref mode (obligation 3), or by the caller's
        // reference for `root` and `start`. The borrow ends before the guard or reference
        // can be released, since both are released through `&mut self`.
        unsafe { ptr.as_ref() }
    }

    /// The mount at `ptr`.
    fn mount(&self, ptr: NonNull<N::Mount>) -> &N::Mount {
        // SAFETY: as in `dentry`.
        unsafe { ptr.as_ref() }
    }

    fn location(&self, loc: Loc<N>) -> Location<'_, N> {
        Location {
            mount: self.mount(loc.mnt),
            dentry: self.dentry(loc.dentry),
        }
    }

    fn kind(&self, dentry: NonNull<N::Dentry>) -> Kind {
        self.ns.kind(self.dentry(dentry))
    }

    fn d_seq_begin(&self, dentry: NonNull<N::Dentry>) -> Seq {
        self.ns.d_seq(self.dentry(dentry)).read_begin()
    }

    /// Whether `dentry` changed since `seq` was sampled.
    fn d_seq_moved(&self, dentry: NonNull<N::Dentry>, seq: Seq) -> bool {
        self.ns.d_seq(self.dentry(dentry)).read_retry(seq)
    }

    fn mount_moved(&self) -> bool {
        self.ns.mount_lock().read_retry(self.m_seq)
    }

    /// Whether a rename happened since the pass started.
    fn renamed(&self) -> bool {
        self.ns.rename_lock().read_retry(self.r_seq)
    }

    /// Reports `errno` found in RCU mode about the current location: only if the location,
    /// the mount table and every name (no rename) are unchanged, so that the error is one
    /// the namespace gave at one moment. In ref mode the error stands as it is (the end of
    /// the pass checks it, see [`raced`](Self::raced)).
    fn rcu_error(&self, errno: Errno) -> Fail {
        self.rcu_error_at(errno, self.path.dentry, self.seq)
    }

    /// As `rcu_error`, validating `dentry` against `seq` instead.
    fn rcu_error_at(&self, errno: Errno, dentry: NonNull<N::Dentry>, seq: Seq) -> Fail {
        if self.rcu() && (self.d_seq_moved(dentry, seq) || self.mount_moved() || self.renamed()) {
            Fail::Restart
        } else {
            Fail::Errno(errno)
        }
    }

    // ---- the walk ----

    /// Walks the whole path, following a final link if the flags say so, and checks the
    /// final object (Linux: `path_lookupat` without `complete_walk`).
    fn walk_path(&mut self) -> Result<(), Fail> {
        while let Some(last) = self.walk_to_last()? {
            if last.slash {
                self.flags |= LookupFlags::FOLLOW | LookupFlags::DIRECTORY;
            }
            let follow = self.flags.contains(LookupFlags::FOLLOW);
            if !self.step(last.component, follow, true)? {
                break;
            }
            // A final link was pushed: walk its body.
        }

        // The final object: a trailing slash or DIRECTORY demands a directory.
        if self.flags.contains(LookupFlags::DIRECTORY)
            && self.kind(self.path.dentry) != Kind::Directory
        {
            return Err(self.rcu_error(Errno::ENOTDIR));
        }
        Ok(())
    }

    /// Walks every component but the final one (Linux: `link_path_walk`), and returns the
    /// final one, or `None` when the path ends at a directory without naming a last
    /// component (`/`, an empty path, a final link to `/`).
    fn walk_to_last(&mut self) -> Result<Option<LastComponent>, Fail> {
        if !self.started {
            self.started = true;
            self.start_walk()?;
        }
        loop {
            // SAFETY: `rest` points into the caller's path (alive for `'n`) or into the body of
            // a link on the stack, kept valid by the guard or the link's reference (obligation
            // 2 of `Namespace`) until the link is popped, which happens only once `rest` has
            // moved past its body.
            let rest: &[u8] = unsafe { &*self.rest };
            let Some(begin) = rest.iter().position(|&b| b != b'/') else {
                // This level is done: resume the level below, if any.
                if !self.pop_link() {
                    return Ok(None);
                }
                continue;
            };
            let rest = &rest[begin..];
            let len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
            let (name, after) = rest.split_at(len);
            self.rest = after;
            let component = match name {
                b"." => Step::Dot,
                b".." => Step::DotDot,
                _ => Step::Name(name),
            };

            // A component is final if nothing follows it at this level or below.
            let more_here = after.iter().any(|&b| b != b'/');
            if !more_here && self.below_is_done() {
                return Ok(Some(LastComponent {
                    component,
                    slash: !after.is_empty(),
                }));
            }

            self.step(component, true, false)?;
        }
    }

    /// Takes one step from the current directory: checks that it is a searchable directory
    /// and handles `component` in it (Linux: `may_lookup`, then `walk_component`). Returns
    /// whether a link was pushed, as [`walk_component`](Self::walk_component) does.
    #[inline(always)]
    fn step(&mut self, component: Step, follow: bool, last: bool) -> Result<bool, Fail> {
        if let Step::Name(name) = component {
            // SAFETY: the name lies in the caller's path or in the body of a link still on
            // the stack (see `walk_to_last`).
            if self.step_rcu_fast(unsafe { &*name }) {
                return Ok(false);
            }
        }
        self.require_directory()?;
        self.may_exec()?;
        self.walk_component(component, follow, last)
    }

    /// The common step of RCU-walk in one piece, inlined into the walk's loop: a cached,
    /// searchable directory, a child found and revalidated without blocking, nothing mounted
    /// on it and not a link (in Linux, `lookup_fast` followed by the case of `step_into` where
    /// the dentry is neither managed nor a symlink). Returns whether it made the step; when
    /// it did not, it changed nothing, and the general step (`require_directory`,
    /// `may_exec`, `walk_component`) starts over, reporting errors, crossing mounts and
    /// following links.
    ///
    /// Measured with callgrind, this took a step from 398 to 273 instructions: the general
    /// step passes each intermediate result through a `Result` and a held-reference record
    /// that RCU mode does not need.
    #[inline(always)]
    fn step_rcu_fast(&mut self, name: &[u8]) -> bool {
        let Some(guard) = &self.guard else {
            return false;
        };
        let ns = self.ns;
        let dir = self.dentry(self.path.dentry);
        if ns.kind(dir) != Kind::Directory || ns.may_exec_rcu(guard, self.cred, dir).is_err() {
            return false;
        }
        let Ok(RcuLookup::Found(child, seq)) = ns.lookup_rcu(guard, dir, name) else {
            return false;
        };
        // The parent had no changes while we looked the child up in it.
        if ns.d_seq(dir).read_retry(self.seq)
            || ns.revalidate_rcu(guard, child, self.flags).is_err()
            || ns
                .lookup_mnt(guard, self.mount(self.path.mnt), child)
                .is_some()
        {
            return false;
        }
        match ns.kind(child) {
            Kind::Directory | Kind::Regular | Kind::Other => {
                self.path.dentry = NonNull::from(child);
                self.seq = seq;
                true
            }
            Kind::Symlink | Kind::Negative => false,
        }
    }

    /// Sets the starting location: the root for an absolute path, `start` otherwise.
    fn start_walk(&mut self) -> Result<(), Fail> {
        // SAFETY: as in `walk_to_last`: the caller's path.
        let path: &[u8] = unsafe { &*self.rest };
        if self.rcu() {
            // `new` sampled `start`'s `d_seq`; nothing else to do for a relative walk.
        } else {
            self.get_path_refs()?;
        }
        if path.first() == Some(&b'/') && !self.flags.contains(LookupFlags::IN_ROOT) {
            self.jump_root(true)?;
        }
        Ok(())
    }

    /// In ref mode at the start: takes references on the starting location.
    fn get_path_refs(&mut self) -> Result<(), Fail> {
        let mut loc = self.path;
        self.get_refs(&mut loc)?;
        self.path = loc;
        Ok(())
    }

    /// Takes references on both halves of `loc` (ref mode, or when the caller keeps the
    /// objects alive). Fails with `ENOENT` when an object is dying.
    fn get_refs(&self, loc: &mut Loc<N>) -> Result<(), Fail> {
        let location = self.location(*loc);
        if !self.ns.mntget_not_dead(location.mount) {
            return Err(Errno::ENOENT.into());
        }
        loc.held_mnt = true;
        if !self.ns.dget_not_dead(location.dentry) {
            self.put(*loc);
            return Err(Errno::ENOENT.into());
        }
        loc.held_dentry = true;
        Ok(())
    }

    /// Whether every level below the current one has nothing left to walk.
    fn below_is_done(&self) -> bool {
        self.depth == 0 || self.saved(self.depth - 1).is_some_and(|l| l.trailing)
    }

    /// Checks that the current location can be searched.
    fn require_directory(&self) -> Result<(), Fail> {
        if self.kind(self.path.dentry) == Kind::Directory {
            Ok(())
        } else {
            Err(self.rcu_error(Errno::ENOTDIR))
        }
    }

    /// Checks search permission on the current directory (Linux: `may_lookup`).
    fn may_exec(&mut self) -> Result<(), Fail> {
        if self.rcu() {
            let dir = self.dentry(self.path.dentry);
            match self.ns.may_exec_rcu(self.guard(), self.cred, dir) {
                Ok(()) => return Ok(()),
                Err(RcuError::Errno(errno)) => return Err(self.rcu_error(errno)),
                Err(RcuError::NeedRef) => self.unlazy(false)?,
            }
        }
        let dir = self.dentry(self.path.dentry);
        Ok(self.ns.may_exec(self.cred, dir)?)
    }

    /// Handles one component in the current directory (Linux: `walk_component`). Returns
    /// whether a link was pushed (only possible for a final component, where the caller
    /// must walk its body).
    fn walk_component(&mut self, component: Step, follow: bool, last: bool) -> Result<bool, Fail> {
        match component {
            Step::Dot => Ok(false),
            Step::DotDot => {
                self.handle_dotdot()?;
                Ok(false)
            }
            Step::Name(name) => {
                // SAFETY: as in `walk_to_last`: the name lies in the caller's path or in the
                // body of a link still on the stack.
                let name = unsafe { &*name };
                let (child, seq) = self.lookup_child(name)?;
                self.step_into(child, seq, follow, last)
            }
        }
    }

    /// As `lookup_child`, but a name that does not exist is `None` rather than `ENOENT`
    /// (validated in RCU mode like any other result).
    fn lookup_child_or_absent(&mut self, name: &[u8]) -> Result<Option<(Loc<N>, Seq)>, Fail> {
        let (child, seq) = match self.lookup_child(name) {
            Ok(found) => found,
            // `lookup_child` validated an RCU miss against the parent already.
            Err(Fail::Errno(Errno::ENOENT)) => return Ok(None),
            Err(fail) => return Err(fail),
        };
        if self.kind(child.dentry) != Kind::Negative {
            return Ok(Some((child, seq)));
        }
        let moved = self.rcu() && self.d_seq_moved(child.dentry, seq);
        self.put(child);
        if moved {
            return Err(Fail::Restart);
        }
        Ok(None)
    }

    /// Looks `name` up in the current directory: in the cache under RCU (Linux:
    /// `lookup_fast`), or through the namespace in ref mode (`lookup_slow`). In RCU mode the
    /// child is returned with its `d_seq` sample; in ref mode it is returned referenced.
    fn lookup_child(&mut self, name: &[u8]) -> Result<(Loc<N>, Seq), Fail> {
        if self.rcu() {
            let parent = self.dentry(self.path.dentry);
            let found = self.ns.lookup_rcu(self.guard(), parent, name);
            // The parent had no changes while we looked the child up in it.
            if self.d_seq_moved(self.path.dentry, self.seq) {
                return Err(Fail::Restart);
            }
            match found {
                Ok(RcuLookup::Found(child, seq)) => {
                    let child = NonNull::from(child);
                    match self
                        .ns
                        .revalidate_rcu(self.guard(), self.dentry(child), self.flags)
                    {
                        Ok(()) => {
                            let loc = Loc {
                                dentry: child,
                                ..self.path
                            };
                            return Ok((loc, seq));
                        }
                        Err(RcuError::Errno(errno)) => {
                            return Err(self.rcu_error_at(errno, child, seq))
                        }
                        Err(RcuError::NeedRef) => self.unlazy(false)?,
                    }
                }
                Ok(RcuLookup::Negative) => return Err(self.rcu_error(Errno::ENOENT)),
                Err(RcuError::Errno(errno)) => return Err(self.rcu_error(errno)),
                Ok(RcuLookup::NotCached) | Err(RcuError::NeedRef) => self.unlazy(false)?,
            }
        }

        // Ref mode: the namespace returns the child referenced; it shares our mount.
        let parent = self.dentry(self.path.dentry);
        let child = self.ns.lookup(parent, name, self.flags)?;
        let loc = Loc {
            mnt: self.path.mnt,
            dentry: NonNull::from(child),
            held_mnt: false,
            held_dentry: true,
        };
        let seq = self.ns.d_seq(child).raw_begin();
        Ok((loc, seq))
    }

    /// Moves into `child` (Linux: `step_into`): crosses the mounts stacked on it, and either
    /// makes it the current location or, for a link to follow, pushes the link and starts
    /// on its body. Returns whether a link was pushed.
    fn step_into(
        &mut self,
        child: Loc<N>,
        seq: Seq,
        follow: bool,
        last: bool,
    ) -> Result<bool, Fail> {
        let (child, seq) = self.traverse_mounts(child, seq)?;
        let kind = self.kind(child.dentry);
        match kind {
            Kind::Negative => {
                let fail = self.rcu_error_at(Errno::ENOENT, child.dentry, seq);
                self.put(child);
                Err(fail)
            }
            Kind::Symlink if follow => {
                self.pick_link(child, seq, last)?;
                Ok(true)
            }
            _ => {
                self.set_path(child, seq);
                Ok(false)
            }
        }
    }

    /// Crosses every mount stacked on `loc` (Linux: `handle_mounts`). Under RCU the mount
    /// table must still be at `m_seq` afterwards; in ref mode each crossing takes its
    /// references under a short read-side section and retries if the table moved.
    fn traverse_mounts(&mut self, mut loc: Loc<N>, mut seq: Seq) -> Result<(Loc<N>, Seq), Fail> {
        if self.rcu() {
            let mut crossed = false;
            while let Some(mounted) = {
                let location = self.location(loc);
                self.ns
                    .lookup_mnt(self.guard(), location.mount, location.dentry)
                    .map(NonNull::from)
            } {
                if self.flags.contains(LookupFlags::NO_XDEV) {
                    return Err(self.rcu_error_at(Errno::EXDEV, loc.dentry, seq));
                }
                let root = NonNull::from(self.ns.mnt_root(self.mount(mounted)));
                loc.mnt = mounted;
                loc.dentry = root;
                seq = self.d_seq_begin(root);
                crossed = true;
            }
            // The mounts we crossed were attached as of the start of the walk.
            if crossed && self.mount_moved() {
                return Err(Fail::Restart);
            }
            return Ok((loc, seq));
        }

        loop {
            let next = {
                let guard = self.ns.rcu().read_lock();
                let m_seq = self.ns.mount_lock().read_begin();
                let location = self.location(loc);
                match self.ns.lookup_mnt(&guard, location.mount, location.dentry) {
                    None => None,
                    Some(mounted) => {
                        let root = self.ns.mnt_root(mounted);
                        let mut next = Loc::unheld(Location {
                            mount: mounted,
                            dentry: root,
                        });
                        let got = self.legitimize(&mut next, m_seq, None);
                        drop(guard);
                        Some((next, got))
                    }
                }
            };
            let Some((next, got)) = next else {
                return Ok((loc, seq));
            };
            if !got {
                // The mount moved while we crossed it: look again.
                self.put(next);
                continue;
            }
            if self.flags.contains(LookupFlags::NO_XDEV) {
                self.put(next);
                self.put(loc);
                return Err(Errno::EXDEV.into());
            }
            self.put(loc);
            loc = next;
            seq = self.ns.d_seq(self.dentry(loc.dentry)).raw_begin();
        }
    }

    /// Makes `loc` the current location, releasing the old one (in ref mode, a `loc` that
    /// holds no mount reference shares the current mount and takes over its reference).
    fn set_path(&mut self, mut loc: Loc<N>, seq: Seq) {
        let mut old = self.path;
        if !self.rcu() && !loc.held_mnt {
            debug_assert!(loc.mnt == old.mnt && old.held_mnt);
            loc.held_mnt = true;
            old.held_mnt = false;
        }
        self.path = loc;
        self.seq = seq;
        self.put(old);
    }

    /// Drops whatever references `loc` holds.
    fn put(&self, loc: Loc<N>) {
        // SAFETY: the held flags record references the walk took (or was handed) and has
        // not dropped: callers pass each `Loc` to `put` once, after clearing the flags of
        // any copy they keep, and use nothing of it afterwards.
        unsafe {
            if loc.held_dentry {
                self.ns.dput(self.dentry(loc.dentry));
            }
            if loc.held_mnt {
                self.ns.mntput(self.mount(loc.mnt));
            }
        }
    }

    /// Handles `..` (Linux: `handle_dots` and `follow_dotdot`): stays at the root, crosses up
    /// out of mounts, then steps to the parent and down into whatever is mounted on it.
    fn handle_dotdot(&mut self) -> Result<(), Fail> {
        // Linux sets the root here if nothing did before (see `jump_root`).
        self.root_set = true;
        let parent = if self.rcu() {
            self.dotdot_rcu()?
        } else {
            self.dotdot_ref()?
        };
        // Linux steps into the directory `..` stays in as well (`handle_dots` calls
        // `step_into` either way), so a mount stacked on the walk's root or start after it
        // was taken is crossed there, as any mount on a parent is.
        let stays = parent.is_none();
        let (target, seq) = match parent {
            Some(parent) => parent,
            None => {
                let here = Loc {
                    held_mnt: false,
                    held_dentry: false,
                    ..self.path
                };
                (here, self.seq)
            }
        };
        let (target, seq) = self.traverse_mounts(target, seq)?;
        // Staying with nothing mounted hands back the unheld copy of the current location.
        if !(stays && target.same_place(&self.path)) {
            self.set_path(target, seq);
        }

        // A scoped lookup cannot be sure `..` stayed below its root if a rename or mount
        // raced with the walk anywhere: it gives up rather than risk an escape.
        if self.flags.is_scoped() && (self.mount_moved() || self.renamed()) {
            return Err(Errno::EAGAIN.into());
        }
        Ok(())
    }

    /// `..` under RCU. Returns the parent and its `d_seq` sample, or `None` to stay put.
    fn dotdot_rcu(&mut self) -> Result<Option<(Loc<N>, Seq)>, Fail> {
        if self.path.same_place(&self.root) {
            return self.dotdot_in_root();
        }
        let mut at = self.path;
        let mut seq = self.seq;
        if at.dentry == NonNull::from(self.ns.mnt_root(self.mount(at.mnt))) {
            // At the root of a mount: climb to the mountpoint.
            at = match self.choose_mountpoint(self.guard(), at.mnt) {
                Ok(up) => up,
                Err(top) => return self.dotdot_stays(top),
            };
            seq = self.d_seq_begin(at.dentry);
            // The mount was attached there as of the start of the walk.
            if self.mount_moved() {
                return Err(Fail::Restart);
            }
            if self.flags.contains(LookupFlags::NO_XDEV) {
                return Err(Errno::EXDEV.into());
            }
        }

        // NOTE(linux): Linux also checks that the parent is still below the root of a bind
        // mount of a subdirectory (`path_connected`), for a directory renamed out of the
        // bound subtree while a walk stood in it. Namespaces with such binds should refuse
        // renames out of a bound subtree or revalidate; the engine does not check.
        let parent = NonNull::from(self.ns.parent(self.guard(), self.dentry(at.dentry)));
        let parent_seq = self.d_seq_begin(parent);
        // The dentry was still a child of `parent` after we sampled the parent.
        if self.d_seq_moved(at.dentry, seq) {
            return Err(Fail::Restart);
        }
        Ok(Some((
            Loc {
                dentry: parent,
                ..at
            },
            parent_seq,
        )))
    }

    /// `..` in ref mode, with references taken under short read-side sections (Linux:
    /// `follow_dotdot`, `choose_mountpoint`, `dget_parent`).
    fn dotdot_ref(&mut self) -> Result<Option<(Loc<N>, Seq)>, Fail> {
        if self.path.same_place(&self.root) {
            return self.dotdot_in_root();
        }
        let mut at = self.path;
        let mut climbed = false;
        if at.dentry == NonNull::from(self.ns.mnt_root(self.mount(at.mnt))) {
            loop {
                let guard = self.ns.rcu().read_lock();
                let m_seq = self.ns.mount_lock().read_begin();
                let mut up = match self.choose_mountpoint(&guard, at.mnt) {
                    Ok(up) => up,
                    Err(top) => {
                        drop(guard);
                        return self.dotdot_stays(top);
                    }
                };
                let got = self.legitimize(&mut up, m_seq, None);
                drop(guard);
                if !got {
                    self.put(up);
                    continue;
                }
                if self.flags.contains(LookupFlags::NO_XDEV) {
                    self.put(up);
                    return Err(Errno::EXDEV.into());
                }
                at = up;
                climbed = true;
                break;
            }
        }

        // The parent, referenced, re-checked after the reference was taken (it may have
        // been renamed away meanwhile).
        let parent = loop {
            let guard = self.ns.rcu().read_lock();
            let parent = self.ns.parent(&guard, self.dentry(at.dentry));
            if !self.ns.dget_not_dead(parent) {
                // The dentry was moved away from a parent that is now dying: look again.
                drop(guard);
                core::hint::spin_loop();
                continue;
            }
            let still = core::ptr::eq(self.ns.parent(&guard, self.dentry(at.dentry)), parent);
            let parent = NonNull::from(parent);
            drop(guard);
            if still {
                break parent;
            }
            // SAFETY: the reference taken above, on a parent we do not use.
            unsafe { self.ns.dput(self.dentry(parent)) };
        };
        let mut loc = Loc {
            mnt: at.mnt,
            dentry: parent,
            held_mnt: false,
            held_dentry: true,
        };
        if climbed {
            // The parent takes over the mountpoint's mount reference.
            loc.held_mnt = true;
            at.held_mnt = false;
            self.put(at);
            // The old location is released by `set_path`, which must not hand its mount
            // reference over: mark the new one as holding its own.
        }
        let seq = self.ns.d_seq(self.dentry(parent)).raw_begin();
        Ok(Some((loc, seq)))
    }

    /// Where `..` from the root of mount `mnt` leads (Linux: `choose_mountpoint`): the
    /// mountpoint, climbing over mounts attached on the root of their parent. `Err` when
    /// `..` must stay put: the climb reached the walk's root (`None`) or a mount without a
    /// parent (`Some` of it).
    fn choose_mountpoint(
        &self,
        guard: &ReadGuard<'_, N::Rcu>,
        mut mnt: NonNull<N::Mount>,
    ) -> Result<Loc<N>, Option<NonNull<N::Mount>>> {
        loop {
            let Some(up) = self.ns.mnt_parent(guard, self.mount(mnt)) else {
                return Err(Some(mnt));
            };
            let up = Loc::unheld(up);
            if up.same_place(&self.root) {
                return Err(None);
            }
            if up.dentry != NonNull::from(self.ns.mnt_root(self.mount(up.mnt))) {
                return Ok(up);
            }
            mnt = up.mnt;
        }
    }

    /// `..` stays put after `choose_mountpoint` failed with `top`. A mount without a parent
    /// other than the root's may have been detached during the walk: then the walk is made
    /// again.
    ///
    /// NOTE(linux): Linux stays at the root of a mount detached under the walk, which gives
    /// an answer from no single state of the namespace. We walk again instead, a bounded
    /// number of times (the last try stays, as Linux does).
    fn dotdot_stays(&self, top: Option<NonNull<N::Mount>>) -> Result<Option<(Loc<N>, Seq)>, Fail> {
        if top.is_some_and(|top| top != self.root.mnt) && self.mount_moved() && !self.last_try {
            return Err(Fail::Restart);
        }
        self.dotdot_in_root()
    }

    /// `..` at the root (or the top of the mount tree): stays, except that `BENEATH` fails.
    fn dotdot_in_root(&self) -> Result<Option<(Loc<N>, Seq)>, Fail> {
        if self.flags.contains(LookupFlags::BENEATH) {
            return Err(self.rcu_error(Errno::EXDEV));
        }
        Ok(None)
    }

    /// Moves to the root (Linux: `nd_jump_root`): for an absolute path (`initial`) or an
    /// absolute link body.
    fn jump_root(&mut self, initial: bool) -> Result<(), Fail> {
        if self.flags.contains(LookupFlags::BENEATH) {
            return Err(Errno::EXDEV.into());
        }
        // An absolute path argument may start on another mount under `NO_XDEV`; an
        // absolute link body may not.
        //
        // NOTE(linux): Linux compares with a root it sets lazily (on the first absolute
        // path, `..` or scoped lookup), and until then compares with no mount at all, so
        // that an absolute link met before any of these fails with `EXDEV` even on the
        // root's own mount. `openat2(2)` callers see that answer; we give the same one.
        if !initial
            && self.flags.contains(LookupFlags::NO_XDEV)
            && (!self.root_set || self.path.mnt != self.root.mnt)
        {
            return Err(Errno::EXDEV.into());
        }
        self.root_set = true;
        self.jump_to(self.root)
    }

    /// Moves to `target` (unheld, kept alive by the caller's reference or by the guard).
    fn jump_to(&mut self, target: Loc<N>) -> Result<(), Fail> {
        let mut target = target;
        if self.rcu() {
            let seq = self.d_seq_begin(target.dentry);
            self.set_path(target, seq);
        } else {
            self.get_refs(&mut target)?;
            let seq = self.ns.d_seq(self.dentry(target.dentry)).raw_begin();
            self.set_path(target, seq);
        }
        Ok(())
    }

    /// Follows link `link` (Linux: `pick_link`): checks the flags and the link budget, pushes
    /// the link and starts on its body. `last` says whether the link is the final component.
    fn pick_link(&mut self, link: Loc<N>, seq: Seq, last: bool) -> Result<(), Fail> {
        if self.flags.contains(LookupFlags::NO_SYMLINKS) {
            let fail = self.rcu_error_at(Errno::ELOOP, link.dentry, seq);
            self.put(link);
            return Err(fail);
        }
        if self.total_links >= MAX_SYMLINKS {
            let fail = self.rcu_error_at(Errno::ELOOP, link.dentry, seq);
            self.put(link);
            return Err(fail);
        }
        if let Err(errno) = self.ns.may_follow_link(
            self.cred,
            self.mount(self.path.mnt),
            self.dentry(self.path.dentry),
            self.dentry(link.dentry),
        ) {
            let fail = self.rcu_error_at(errno, link.dentry, seq);
            self.put(link);
            return Err(fail);
        }

        // In ref mode the link needs a mount reference of its own.
        let mut link = link;
        if !self.rcu() && !link.held_mnt {
            if !self.ns.mntget_not_dead(self.mount(link.mnt)) {
                self.put(link);
                return Err(Errno::ENOENT.into());
            }
            link.held_mnt = true;
        }

        // Push it: its body stays valid while it is on the stack.
        self.total_links += 1;
        let trailing = last;
        *self.stack_entry(self.depth) = Some(SavedLink {
            link,
            seq,
            resume: self.rest,
            trailing,
        });
        self.depth += 1;
        self.rest = &[];

        let body = self.get_link(link, seq)?;
        match body {
            Body::Path(body) => {
                self.rest = body;
                // SAFETY: as in `walk_to_last`: the body of the link just pushed.
                if unsafe { &*body }.first() == Some(&b'/') {
                    self.jump_root(false)?;
                }
                Ok(())
            }
            Body::Jump(target) => self.jump_link(target),
        }
    }

    /// Reads the body of the link on top of the stack, leaving RCU mode if the namespace
    /// cannot read it under RCU.
    fn get_link(&mut self, link: Loc<N>, seq: Seq) -> Result<Body<N>, Fail> {
        if self.rcu() {
            let body = match self.ns.get_link_rcu(self.guard(), self.dentry(link.dentry)) {
                Ok(body) => Some(Body::from(body)),
                Err(RcuError::Errno(errno)) => {
                    return Err(self.rcu_error_at(errno, link.dentry, seq))
                }
                Err(RcuError::NeedRef) => None,
            };
            if let Some(body) = body {
                // The body belongs to the link we looked up.
                if self.d_seq_moved(link.dentry, seq) {
                    return Err(Fail::Restart);
                }
                return Ok(body);
            }
            // The link is on the stack: unlazy legitimizes it along with the path.
            self.unlazy(false)?;
        }
        let link = self.saved(self.depth - 1).expect("pushed").link;
        Ok(Body::from(self.ns.get_link(self.dentry(link.dentry))?))
    }

    /// Follows a jump link (Linux: `nd_jump_link`).
    fn jump_link(&mut self, target: Loc<N>) -> Result<(), Fail> {
        let flags = self.flags;
        if flags.contains(LookupFlags::NO_MAGICLINKS) {
            return Err(Errno::ELOOP.into());
        }
        if flags.contains(LookupFlags::NO_XDEV) && target.mnt != self.path.mnt {
            return Err(Errno::EXDEV.into());
        }
        // NOTE(linux): a jump cannot be checked against the root, so scoped lookups refuse
        // it, as Linux does.
        if flags.is_scoped() {
            return Err(Errno::EXDEV.into());
        }
        self.jump_to(target)
    }

    /// Pops a link whose body is done and resumes the level below. Returns `false` when
    /// the caller's path itself is done.
    fn pop_link(&mut self) -> bool {
        if self.depth == 0 {
            return false;
        }
        self.depth -= 1;
        let saved = self.stack_entry(self.depth).take().expect("stack entry");
        self.rest = saved.resume;
        if !self.rcu() {
            self.put(saved.link);
        }
        true
    }

    /// Whether the error `errno` that ended this pass may come from a rename or mount
    /// change racing with the walk, so that the pass must be walked again (see
    /// [`complete`](Self::complete)). `EAGAIN` is final: it is how a scoped lookup reports
    /// such a race.
    fn raced(&self, errno: Errno) -> bool {
        errno != Errno::EAGAIN && (self.ref_walk_raced() || self.rcu_walk_raced())
    }

    /// Whether a rename or mount change happened since the start of a pass still in RCU
    /// mode: its answer may then combine names read before and after the change.
    fn rcu_walk_raced(&self) -> bool {
        self.rcu() && (self.renamed() || self.mount_moved())
    }

    /// Whether a rename or mount change happened since the start of a pass that took steps
    /// in ref mode (and is not its last try).
    fn ref_walk_raced(&self) -> bool {
        let stepped_in_ref_mode = !self.rcu() || self.unlazied;
        stepped_in_ref_mode && !self.last_try && (self.mount_moved() || self.renamed())
    }

    /// Ends the walking part of a pass (Linux: the checks of `complete_walk`). A walk is a
    /// sequence of answers each true when it was given; it is one answer of the namespace
    /// at one moment only if no rename or mount change raced with it, which `rename_lock`
    /// and `mount_lock` tell. If one did, the pass is walked again: in ref mode after an
    /// RCU-walk, and the last ref-mode try excludes them instead.
    ///
    /// NOTE(linux): Linux checks `rename_lock` only for `..` in scoped lookups and accepts
    /// combined answers otherwise; here RCU-walk may only give answers the namespace had.
    fn complete(&mut self) -> Result<(), Fail> {
        if self.ref_walk_raced() || self.rcu_walk_raced() {
            return Err(Fail::Restart);
        }
        self.unlock_topology();
        Ok(())
    }

    /// Releases the topology lock if this walk holds it.
    fn unlock_topology(&mut self) {
        if self.topology_locked {
            self.topology_locked = false;
            // SAFETY: `run` took the lock for this pass, and the flag records that it is
            // still held; it is cleared before the unlock, so it happens once.
            unsafe { self.ns.unlock_topology() };
        }
    }

    /// Runs a `finish_with` callback under RCU on the current location and validates it.
    /// `Some` is the final result; `None` means legitimize and fall back.
    fn try_rcu_finish<R>(
        &mut self,
        callback: impl FnOnce(RcuView<'_, N>) -> Result<R, RcuError>,
    ) -> Result<Option<Result<R, Errno>>, Fail> {
        let guard = self.guard();
        let view = RcuView {
            ns: self.ns,
            guard,
            location: self.location(self.path),
            cred: self.cred,
        };
        let result = callback(view);

        // The object the walk reached may be a combination of names read before and after a
        // rename: walk again in ref mode.
        if self.renamed() {
            return Err(Fail::Restart);
        }
        // The callback's answer is about the object the walk reached only if the final
        // dentry and the mount table did not move.
        let moved = self.d_seq_moved(self.path.dentry, self.seq) || self.mount_moved();
        match result {
            _ if moved => Ok(None),
            Ok(value) => Ok(Some(Ok(value))),
            Err(RcuError::Errno(errno)) => Ok(Some(Err(errno))),
            Err(RcuError::NeedRef) => Ok(None),
        }
    }

    /// Leaves RCU mode (Linux: `try_to_unlazy`): legitimizes every link on the stack and the
    /// current location, then drops the guard. `at_end` is set for the final legitimize,
    /// which `CACHED` lookups are allowed; in the middle of the walk they fail with `EAGAIN`.
    ///
    /// On failure everything legitimized so far is released and the pass must restart.
    fn unlazy(&mut self, at_end: bool) -> Result<(), Fail> {
        debug_assert!(self.rcu());
        if !at_end && self.flags.contains(LookupFlags::CACHED) {
            return Err(Errno::EAGAIN.into());
        }
        let m_seq = self.m_seq;
        let mut ok = true;
        for i in 0..self.depth {
            let mut saved = self.stack_entry(i).take().expect("stack entry");
            if ok {
                ok = self.legitimize(&mut saved.link, m_seq, Some(saved.seq));
            }
            *self.stack_entry(i) = Some(saved);
        }
        let mut path = self.path;
        if ok {
            ok = self.legitimize(&mut path, m_seq, Some(self.seq));
        }
        self.path = path;

        // Out of the read-side section: the references now keep everything alive, and the
        // puts below may block.
        self.guard = None;
        if !at_end {
            self.unlazied = true;
        }
        if ok {
            return Ok(());
        }
        self.release_all();
        Err(Fail::Restart)
    }

    /// Takes references on `loc` if it is still what the walk saw: the mount table at
    /// `m_seq` and, if given, the dentry at `seq` (Linux: `legitimize_path`). Whatever was
    /// taken is recorded in `loc`, success or not, for the caller to release.
    fn legitimize(&self, loc: &mut Loc<N>, m_seq: Seq, seq: Option<Seq>) -> bool {
        let location = self.location(*loc);
        if !self.ns.mntget_not_dead(location.mount) {
            return false;
        }
        loc.held_mnt = true;
        // The mount was attached where the walk found it while we took the reference.
        if self.ns.mount_lock().read_retry(m_seq) {
            return false;
        }
        if !self.ns.dget_not_dead(location.dentry) {
            return false;
        }
        loc.held_dentry = true;
        // The dentry is unchanged since the walk sampled it.
        match seq {
            Some(seq) => !self.ns.d_seq(location.dentry).read_retry(seq),
            None => true,
        }
    }

    /// Releases every reference the walk holds (Linux: `terminate_walk`). Called without
    /// the guard.
    fn release_all(&mut self) {
        debug_assert!(self.guard.is_none());
        for i in 0..self.depth {
            if let Some(saved) = self.stack_entry(i).take() {
                self.put(saved.link);
            }
        }
        self.depth = 0;
        let path = self.path;
        self.path.held_mnt = false;
        self.path.held_dentry = false;
        self.put(path);
    }

    /// Hands the (referenced) current location to the caller.
    fn take_path(&mut self) -> RefPath<'n, N> {
        debug_assert!(!self.rcu() && self.path.held_mnt && self.path.held_dentry);
        let path = self.path;
        self.path.held_mnt = false;
        self.path.held_dentry = false;
        RefPath {
            ns: self.ns,
            mount: path.mnt,
            dentry: path.dentry,
        }
    }
}

impl<N: Namespace> Drop for Nd<'_, '_, '_, N> {
    fn drop(&mut self) {
        // Leave the read-side section first: releasing references may block.
        self.guard = None;
        self.unlock_topology();
        self.release_all();
    }
}

/// A link body with its borrows erased, so that the walk can hold it across steps. It is
/// valid as long as the link it came from is on the stack.
enum Body<N: Namespace> {
    Path(*const [u8]),
    Jump(Loc<N>),
}

impl<N: Namespace> From<LinkBody<'_, N>> for Body<N> {
    fn from(body: LinkBody<'_, N>) -> Self {
        match body {
            LinkBody::Path(path) => Body::Path(path),
            LinkBody::Jump(location) => Body::Jump(Loc::unheld(location)),
        }
    }
}

#[cfg(all(test, feature = "alloc", not(loom)))]
mod tests {
    use std::format;
    use std::vec::Vec;

    use rcu_core::{hosted::Hosted, Counter};

    use super::*;
    use crate::dcache::{Cred, Dcache};

    static RCU: Counter<Hosted, 64> = Counter::new();

    type Fs = Dcache<Counter<Hosted, 64>>;

    /// Resolves `path` from the root with `finish`, in RCU or ref mode.
    fn walk<'f>(fs: &'f Fs, path: &[u8], flags: LookupFlags, rcu: bool) -> Walked<RefPath<'f, Fs>> {
        let root = fs.root();
        let lookup = Lookup::new(fs, &Cred::ROOT, root, root, path, flags);
        if rcu {
            lookup.finish()
        } else {
            lookup.without_rcu().finish()
        }
    }

    fn mkdir(fs: &Fs, dir: &[u8], name: &[u8]) {
        let at = walk(fs, dir, LookupFlags::empty(), true).result.unwrap();
        fs.mkdir(at.location(), name, 0o755, &Cred::ROOT).unwrap();
    }

    /// `/d/x/f`, `/l -> d/x`, a mount on `/m` with `/m/g`, and a few broken things.
    fn tree() -> Fs {
        let fs = Dcache::new(&RCU);
        mkdir(&fs, b"/", b"d");
        mkdir(&fs, b"/d", b"x");
        mkdir(&fs, b"/", b"m");
        let root = fs.root();
        fs.symlink(root, b"l", b"d/x", &Cred::ROOT).unwrap();
        fs.symlink(root, b"loop", b"loop", &Cred::ROOT).unwrap();
        fs.symlink(root, b"up", b"../../m/..", &Cred::ROOT).unwrap();
        let x = walk(&fs, b"/d/x", LookupFlags::empty(), true)
            .result
            .unwrap();
        fs.create(x.location(), b"f", 0o644, &Cred::ROOT).unwrap();
        drop(x);
        let m = walk(&fs, b"/m", LookupFlags::empty(), true).result.unwrap();
        fs.mount_new(m.location()).unwrap();
        drop(m);
        let m = walk(&fs, b"/m", LookupFlags::empty(), true).result.unwrap();
        fs.create(m.location(), b"g", 0o644, &Cred::ROOT).unwrap();
        drop(m);
        fs
    }

    #[test]
    fn a_link_on_the_stack_is_legitimized_when_its_body_needs_ref_mode() {
        let fs = tree();
        // `x` needs a slow lookup: the walk leaves RCU mode while walking the body of `l`.
        let d = walk(&fs, b"/d", LookupFlags::empty(), true).result.unwrap();
        fs.set_uncached(d.location(), b"x", true).unwrap();
        drop(d);
        let walked = walk(&fs, b"/l/f", LookupFlags::FOLLOW, true);
        assert_eq!(walked.end, End::Unlazy);
        let f = walked.result.unwrap();
        let direct = walk(&fs, b"/d/x/f", LookupFlags::empty(), true)
            .result
            .unwrap();
        assert_eq!(fs.ino(f.dentry()), fs.ino(direct.dentry()));
        drop((f, direct));
        assert_eq!(fs.references_held(), 0);
    }

    #[test]
    fn walks_leave_no_reference_behind_on_any_ending() {
        let fs = tree();
        let paths: [&[u8]; 10] = [
            b"/d/x/f",
            b"/l/f",
            b"/l/",
            b"/m/g",
            b"/m/../d",
            b"/up",
            b"/loop",
            b"/d/x/f/",
            b"/d/missing/f",
            b"/m/g/..",
        ];
        let mut answers = Vec::new();
        for path in paths {
            for flags in [
                LookupFlags::FOLLOW,
                LookupFlags::empty(),
                LookupFlags::NO_XDEV,
            ] {
                let rcu = walk(&fs, path, flags, true)
                    .result
                    .map(|p| fs.ino(p.dentry()));
                let reference = walk(&fs, path, flags, false)
                    .result
                    .map(|p| fs.ino(p.dentry()));
                assert_eq!(rcu, reference, "{} with {flags:?}", path.escape_ascii());
                answers.push(format!("{} {flags:?} {rcu:?}", path.escape_ascii()));
                // The parent lookup, whatever its answer, releases what it took too.
                drop(
                    Lookup::new(&fs, &Cred::ROOT, fs.root(), fs.root(), path, flags)
                        .parent()
                        .result,
                );
                assert_eq!(
                    fs.references_held(),
                    0,
                    "{} with {flags:?}",
                    path.escape_ascii()
                );
            }
        }
        // Spot checks that the walks went where they should.
        assert!(answers.contains(&"/loop LookupFlags(FOLLOW) Err(ELOOP)".into()));
        assert!(answers.contains(&"/m/g LookupFlags(NO_XDEV) Err(EXDEV)".into()));
        assert!(answers.contains(&"/d/x/f/ LookupFlags(0x0) Err(ENOTDIR)".into()));
        assert!(answers.contains(&"/d/missing/f LookupFlags(FOLLOW) Err(ENOENT)".into()));
    }

    #[test]
    fn dotdot_climbs_out_of_a_mount_and_a_link_body() {
        let fs = tree();
        let up = walk(&fs, b"/up", LookupFlags::FOLLOW, true);
        // `/up -> ../../m/..`: `..` at the root stays, `m/..` crosses out of the mount.
        assert_eq!(
            up.result.unwrap().dentry() as *const _,
            fs.root().dentry as *const _
        );
        let g = walk(&fs, b"/m/../m/./g", LookupFlags::empty(), false)
            .result
            .unwrap();
        assert!(fs.ino(g.dentry()).is_some());
    }

    /// `..` that stays at the walk's root still crosses a mount stacked on it since the
    /// root was taken, as Linux's does (`handle_dots` steps into the directory either way):
    /// `openat2(fd, "..", RESOLVE_IN_ROOT)` on a directory opened before a tmpfs was mounted
    /// on it reaches the tmpfs root on Linux 6.x, and `EXDEV` with `RESOLVE_NO_XDEV`.
    #[test]
    fn dotdot_that_stays_crosses_a_mount_on_the_root() {
        let fs = tree();
        let d = walk(&fs, b"/d", LookupFlags::empty(), true).result.unwrap();
        fs.mount_new(d.location()).unwrap();
        let top = walk(&fs, b"/d", LookupFlags::empty(), true).result.unwrap();
        let top_ino = fs.ino(top.dentry());
        assert_ne!(top_ino, fs.ino(d.dentry()), "the mount covers /d");
        for rcu in [true, false] {
            for (path, flags) in [
                (&b".."[..], LookupFlags::IN_ROOT),
                (b"../.", LookupFlags::IN_ROOT),
                (b"..", LookupFlags::empty()),
            ] {
                let root = if flags.is_scoped() {
                    d.location()
                } else {
                    fs.root()
                };
                let lookup = Lookup::new(&fs, &Cred::ROOT, root, d.location(), path, flags);
                let lookup = if rcu { lookup } else { lookup.without_rcu() };
                let got = lookup.finish().result.unwrap();
                let want = if flags.is_scoped() {
                    top_ino
                } else {
                    fs.ino(fs.root().dentry)
                };
                assert_eq!(fs.ino(got.dentry()), want, "{path:?} {flags:?} rcu={rcu}");
            }
            let flags = LookupFlags::IN_ROOT | LookupFlags::NO_XDEV;
            let lookup = Lookup::new(&fs, &Cred::ROOT, d.location(), d.location(), b"..", flags);
            let lookup = if rcu { lookup } else { lookup.without_rcu() };
            assert!(matches!(lookup.finish().result, Err(Errno::EXDEV)));
            // `.` does not step anywhere.
            let lookup = Lookup::new(&fs, &Cred::ROOT, d.location(), d.location(), b".", flags);
            let lookup = if rcu { lookup } else { lookup.without_rcu() };
            let got = lookup.finish().result.unwrap();
            assert_eq!(fs.ino(got.dentry()), fs.ino(d.dentry()));
        }
        drop((d, top));
        assert_eq!(fs.references_held(), 0);
    }

    /// The walk state lives on the caller's stack; the crate docs promise its size.
    #[test]
    fn the_walk_state_fits_the_documented_stack_budget() {
        let size = core::mem::size_of::<Nd<'static, 'static, 'static, Fs>>()
            + core::mem::size_of::<LinkStack<Fs>>();
        assert!(size <= 2560, "the walk state takes {size} bytes");
    }

    #[test]
    fn names_handed_back_for_creation_are_bounded() {
        assert_eq!(
            NewName::new(&[b'a'; NAME_MAX]).unwrap().as_bytes().len(),
            NAME_MAX
        );
        assert_eq!(
            NewName::new(&[b'a'; NAME_MAX + 1]).err(),
            Some(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn cached_create_is_refused() {
        let fs = tree();
        let root = fs.root();
        let walked = Lookup::new(&fs, &Cred::ROOT, root, root, b"/new", LookupFlags::CACHED)
            .finish_create(false);
        assert!(matches!(walked.result, Err(Errno::EAGAIN)));
    }
}
