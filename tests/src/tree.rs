//! Building trees in the reference namespace by path, the way a test fixture or a shell
//! script would (`mkdir`, `touch`, `ln -s`, `mount`), on top of pathwalk's parent lookup.

use pathwalk::dcache::{Cred, Dcache, Stat};
use pathwalk::{End, Errno, Last, Location, Lookup, LookupFlags, Open, RefPath};
use rcu_core::Rcu;

/// What a test needs to resolve a path: the namespace, the process root and a start.
pub struct Tree<R: Rcu + 'static> {
    /// The namespace.
    pub fs: Dcache<R>,
}

impl<R: Rcu + 'static> Tree<R> {
    /// An empty namespace: a root directory on the root mount.
    pub fn new(rcu: &'static R) -> Self {
        Self {
            fs: Dcache::new(rcu),
        }
    }

    /// The root location.
    pub fn root(&self) -> Location<'_, Dcache<R>> {
        self.fs.root()
    }

    /// A lookup of `path` from `start` for `cred`, with the namespace's root as `/`.
    pub fn lookup_of<'n, 'a>(
        &'n self,
        cred: &'a Cred,
        start: Location<'a, Dcache<R>>,
        path: &'a [u8],
        flags: LookupFlags,
    ) -> Lookup<'n, 'a, Dcache<R>>
    where
        'n: 'a,
    {
        Lookup::new(&self.fs, cred, self.root(), start, path, flags)
    }

    /// Resolves `path` from `start` the way `mode` says: the inode reached (the final
    /// object's `ino`), and how the walk ended.
    pub fn resolve(
        &self,
        cred: &Cred,
        start: Location<'_, Dcache<R>>,
        path: &[u8],
        flags: LookupFlags,
        mode: Mode,
    ) -> (Result<u64, Errno>, End) {
        let lookup = self.lookup_of(cred, start, path, flags);
        let lookup = if mode.rcu() {
            lookup
        } else {
            lookup.without_rcu()
        };
        if mode.stat() {
            let walked = lookup.finish_with(
                |view| self.fs.getattr_rcu(view.guard(), view.location()),
                |path| self.fs.getattr(path.location()),
            );
            (walked.result.map(|stat| stat.ino), walked.end)
        } else {
            let walked = lookup.finish();
            let ino = walked
                .result
                .and_then(|path| self.fs.getattr(path.location()).map(|stat| stat.ino));
            (ino, walked.end)
        }
    }

    /// Resolves `path` from the root to a referenced location (no final link followed).
    ///
    /// # Panics
    ///
    /// If the path does not resolve: fixtures are built from known paths.
    pub fn at(&self, path: &str) -> RefPath<'_, Dcache<R>> {
        self.lookup(self.root(), path, LookupFlags::empty())
            .unwrap_or_else(|errno| panic!("fixture path {path:?}: {errno}"))
    }

    /// Resolves `path` from `start` with `flags`.
    pub fn lookup(
        &self,
        start: Location<'_, Dcache<R>>,
        path: &str,
        flags: LookupFlags,
    ) -> Result<RefPath<'_, Dcache<R>>, Errno> {
        self.lookup_of(&Cred::ROOT, start, path.as_bytes(), flags)
            .finish()
            .into_result()
    }

    /// The parent directory of `path` and its last name.
    fn parent<'a>(&'a self, path: &'a str) -> (RefPath<'a, Dcache<R>>, &'a [u8]) {
        let parent = Lookup::new(
            &self.fs,
            &Cred::ROOT,
            self.root(),
            self.root(),
            path.as_bytes(),
            LookupFlags::empty(),
        )
        .parent()
        .into_result()
        .unwrap_or_else(|errno| panic!("fixture parent of {path:?}: {errno}"));
        match parent.last {
            Last::Normal(name) => (parent.dir, name),
            last => panic!("fixture path {path:?} ends in {last:?}"),
        }
    }

    /// `mkdir -m mode path`.
    pub fn mkdir(&self, path: &str, mode: u32) {
        let (dir, name) = self.parent(path);
        self.fs
            .mkdir(dir.location(), name, mode, &Cred::ROOT)
            .unwrap_or_else(|errno| panic!("mkdir {path:?}: {errno}"));
    }

    /// Creates a regular file.
    pub fn touch(&self, path: &str, mode: u32) {
        let (dir, name) = self.parent(path);
        self.fs
            .create(dir.location(), name, mode, &Cred::ROOT)
            .unwrap_or_else(|errno| panic!("touch {path:?}: {errno}"));
    }

    /// `ln -s body path`.
    pub fn symlink(&self, path: &str, body: &str) {
        let (dir, name) = self.parent(path);
        self.fs
            .symlink(dir.location(), name, body.as_bytes(), &Cred::ROOT)
            .unwrap_or_else(|errno| panic!("symlink {path:?}: {errno}"));
    }

    /// A jump ("magic") link at `path` to the location `target` resolves to (without
    /// following a final link).
    pub fn jump_link(&self, path: &str, target: &str) {
        let target = self.at(target);
        let (dir, name) = self.parent(path);
        self.fs
            .jump_link(dir.location(), name, target.location(), &Cred::ROOT)
            .unwrap_or_else(|errno| panic!("jump link {path:?}: {errno}"));
    }

    /// Creates a special file (a FIFO: not searchable, not followed).
    pub fn mknod(&self, path: &str) {
        let (dir, name) = self.parent(path);
        self.fs
            .mknod_other(dir.location(), name, 0o644, &Cred::ROOT)
            .unwrap_or_else(|errno| panic!("mknod {path:?}: {errno}"));
    }

    /// Mounts a fresh, empty file system on the directory `path`.
    pub fn mount_new(&self, path: &str) {
        let at = self.at(path);
        self.fs
            .mount_new(at.location())
            .unwrap_or_else(|errno| panic!("mount on {path:?}: {errno}"));
    }

    /// Bind-mounts directory `source` on directory `path`.
    pub fn bind(&self, source: &str, path: &str) {
        let from = self.at(source);
        let at = self.at(path);
        self.fs
            .bind_mount(from.location(), at.location())
            .unwrap_or_else(|errno| panic!("bind {source:?} on {path:?}: {errno}"));
    }

    /// `stat` (or `lstat` without `FOLLOW`) of `path` from `start`, through `finish_with`.
    pub fn stat(
        &self,
        start: Location<'_, Dcache<R>>,
        path: &str,
        flags: LookupFlags,
        cred: &Cred,
    ) -> pathwalk::Walked<Stat> {
        Lookup::new(&self.fs, cred, self.root(), start, path.as_bytes(), flags).finish_with(
            |view| self.fs.getattr_rcu(view.guard(), view.location()),
            |path| self.fs.getattr(path.location()),
        )
    }

    /// The inode number `path` resolves to from the root, without following a final link.
    pub fn ino(&self, path: &str) -> u64 {
        let at = self.at(path);
        self.fs
            .getattr(at.location())
            .unwrap_or_else(|errno| panic!("getattr {path:?}: {errno}"))
            .ino
    }

    /// `open(path, O_CREAT [| O_EXCL])` from `start`: the inode opened or created. With
    /// `rcu` false the walk runs in ref mode from the start.
    pub fn open_create(
        &self,
        start: Location<'_, Dcache<R>>,
        path: &str,
        flags: LookupFlags,
        exclusive: bool,
        rcu: bool,
    ) -> Result<u64, Errno> {
        let mut lookup = self.lookup_of(&Cred::ROOT, start, path.as_bytes(), flags);
        if !rcu {
            lookup = lookup.without_rcu();
        }
        let open = lookup.finish_create(exclusive).into_result()?;
        let at = match open {
            Open::Found(path) => path,
            Open::Create { dir, name } => {
                self.fs
                    .create(dir.location(), name.as_bytes(), 0o600, &Cred::ROOT)?;
                Lookup::new(
                    &self.fs,
                    &Cred::ROOT,
                    self.root(),
                    dir.location(),
                    name.as_bytes(),
                    LookupFlags::empty(),
                )
                .finish()
                .into_result()?
            }
        };
        Ok(self.fs.getattr(at.location())?.ino)
    }
}

/// The four ways the conformance tests resolve every case, so that RCU-walk and ref-walk,
/// `finish_with` and `finish` are checked against each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `stat` through `finish_with`, starting in RCU mode.
    RcuStat,
    /// `finish()`, starting in RCU mode.
    RcuFinish,
    /// `stat` through `finish_with`, walking in ref mode from the start.
    RefStat,
    /// `finish()` in ref mode from the start.
    RefFinish,
}

impl Mode {
    /// All four.
    pub const ALL: [Mode; 4] = [
        Mode::RcuStat,
        Mode::RcuFinish,
        Mode::RefStat,
        Mode::RefFinish,
    ];

    /// Whether the walk starts in RCU mode.
    pub fn rcu(self) -> bool {
        matches!(self, Mode::RcuStat | Mode::RcuFinish)
    }

    /// Whether the walk ends with `finish_with`.
    pub fn stat(self) -> bool {
        matches!(self, Mode::RcuStat | Mode::RefStat)
    }
}
