//! Differential conformance of pathwalk against the Linux kernel: random trees built twice,
//! on the real file system and in the reference namespace, and random lookups answered by
//! `openat2(2)` (the oracle) and by [`pathwalk::Lookup`] (the subject).
//!
//! # Where things are
//!
//! The real tree lives at `$TMP/pw-conf-<seed>-<pid>/root` (`$TMP` canonicalised). The
//! namespace tree is built at the *same absolute path*: every ancestor of the real tree root
//! is created in the namespace too (with the real ancestor's permission bits, and a fresh
//! mount wherever the real ancestor is on another device than its parent). So a walk that
//! climbs out of the tree with `..` reaches corresponding directories on both sides, and
//! non-scoped absolute paths can be given with the real absolute prefix.
//!
//! Absolute link bodies come in two forms: `/d1/f2` (meant for scoped lookups, where `/` is
//! the tree root) and `<real prefix>/d1/f2`. In a non-scoped walk `/d1/f2` names the real
//! `/d1` and the namespace's `/d1`; neither exists as long as no generated name exists in
//! any real ancestor directory, which [`RealTree::create`] checks. Paths handed to the
//! lookups follow the same rule: non-scoped absolute paths mostly carry the real prefix.
//!
//! Lookups start at the tree root or at one of its directories (the `dirfd` of `openat2`,
//! which is also the root of scoped lookups). Answers are compared as the *name* of the
//! object reached (`.`, `./d1/f2`, `..`, `../..`: relative to the tree root) or the errno.
//!
//! Besides the random entries every tree holds a chain `c1 -> c2 -> ... -> cN` of 35 to 45
//! links (Linux follows at most 40 per lookup), and some link bodies are 4,095 bytes long
//! (the longest a link can hold) or hold a 256-byte component.
//!
//! # What cannot be compared
//!
//! - Paths with a NUL byte: the kernel would see a shorter C string. Never generated.
//! - Jump ("magic") links such as `/proc/self/root`: the namespace models them with
//!   `jump_link`, but a real one cannot be created in the tree. Never generated.
//! - A kernel `ELOOP` caused by a restarted walk: Linux counts the links of a lookup's RCU
//!   pass and of its ref-walk restart together, and a restart can come from any mount on
//!   the machine (`mount_lock` is global), so a long link chain may fail only sometimes.
//!   pathwalk gives each pass the whole budget (see [`pathwalk::Lookup`]). The runner asks
//!   the kernel again when it answers an `ELOOP` that pathwalk does not, compares the
//!   answer of the retry, and counts such cases in its summary.
//!
//! # Mounts
//!
//! A tree may also carry mounts ([`Spec::add_mounts`]): tmpfs instances on some of its
//! directories (mounted as soon as the directory exists, so that the entries below live in
//! the tmpfs) and bind mounts of directories or files onto others (made after every entry
//! exists; not recursive, so a bind of a directory that holds a tmpfs mount point shows the
//! covered directory, as in Linux). Making them needs `CAP_SYS_ADMIN` and, so that they
//! stay private, a mount namespace of the caller's own ([`private_mount_namespace`]); the
//! `conformance_mounts` binary runs them that way. The ancestors' mounts (if any) are
//! mirrored in every tree.

use std::collections::HashMap;
use std::ffi::CStr;
use std::ffi::CString;
use std::fmt::Write as _;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pathwalk::dcache::Cred;
use pathwalk::LookupFlags;
use rcu_core::Rcu;

use crate::rng::Rng;
use crate::tree::{Mode, Tree};

/// The unprivileged identity of permission cases (uid and gid; no supplementary groups).
pub const USER: u32 = 4242;

/// What a generated entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory with these permission bits.
    Dir(u32),
    /// A regular file.
    File,
    /// A symbolic link with this body (`{ROOT}` stands for the real tree root's absolute
    /// path, substituted when the tree is built).
    Symlink(String),
}

/// One entry of a generated tree: its path relative to the tree root (no leading slash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Relative path, `d1/d4/l9`.
    pub path: String,
    /// What it is.
    pub kind: Kind,
}

/// The placeholder for the real tree root's absolute path in link bodies and paths.
pub const ROOT_MARK: &str = "{ROOT}";

fn depth(dir: &str) -> usize {
    if dir.is_empty() {
        0
    } else {
        dir.split('/').count()
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// A mount of a generated tree (paths relative to the tree root).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSpec {
    /// A fresh tmpfs on directory `at`, made right after the directory, before anything
    /// below it, so that the entries below `at` live in the tmpfs.
    Tmpfs {
        /// The mount point.
        at: String,
    },
    /// `source` (a directory or a file) shown at `at` too, a non-recursive bind mount made
    /// after every entry exists, in the order of [`Spec::mounts`].
    Bind {
        /// What is shown.
        source: String,
        /// The mount point (a directory for a directory, a file for a file).
        at: String,
    },
}

/// Whether `path` is `dir` or below it.
fn at_or_below(path: &str, dir: &str) -> bool {
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A generated tree and the lookups' raw material.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Entries, parents before children.
    pub entries: Vec<Entry>,
    /// Mounts, empty unless [`add_mounts`](Self::add_mounts) made some.
    pub mounts: Vec<MountSpec>,
    /// Children names of every directory (by relative path, `""` for the root).
    children: HashMap<String, Vec<String>>,
    /// Whether directories got restrictive permission bits (permission cases).
    pub permissions: bool,
}

impl Spec {
    /// A random tree of about `size` entries: directories, files, and links of every kind
    /// (relative, absolute in both forms, to links, dangling, looping, through files, with
    /// `.` and `..`). With `permissions`, some directories are not searchable by others.
    pub fn generate(rng: &mut Rng, size: usize, permissions: bool) -> Spec {
        let mut spec = Spec {
            entries: Vec::new(),
            mounts: Vec::new(),
            children: HashMap::new(),
            permissions,
        };
        spec.children.insert(String::new(), Vec::new());
        let mut dirs = vec![String::new()];
        let ndirs = size * 3 / 10;
        let nfiles = size * 3 / 10;
        let nlinks = size - ndirs - nfiles;
        let mut next = 0usize;
        let mut name = |prefix: char| {
            next += 1;
            format!("{prefix}{next}")
        };
        for _ in 0..ndirs {
            let parent = loop {
                let d = &dirs[rng.below(dirs.len() as u64) as usize];
                if depth(d) < 6 {
                    break d.clone();
                }
            };
            let path = join(&parent, &name('d'));
            let mode = if permissions && rng.one_in(5) {
                [0o700, 0o711, 0o644, 0o750, 0o705, 0o701][rng.below(6) as usize]
            } else {
                0o755
            };
            spec.add(path.clone(), Kind::Dir(mode));
            spec.children.insert(path.clone(), Vec::new());
            dirs.push(path);
        }
        for _ in 0..nfiles {
            let dir = &dirs[rng.below(dirs.len() as u64) as usize];
            let path = join(dir, &name('f'));
            spec.add(path, Kind::File);
        }
        // Links' places first, so that bodies can name links made later (chains, loops).
        let mut links = Vec::new();
        for _ in 0..nlinks {
            let dir = dirs[rng.below(dirs.len() as u64) as usize].clone();
            let path = join(&dir, &name('l'));
            spec.children
                .get_mut(&dir)
                .unwrap()
                .push(path.rsplit('/').next().unwrap().to_string());
            links.push(path);
        }
        let mut targets: Vec<String> = spec.entries.iter().map(|e| e.path.clone()).collect();
        targets.extend(links.iter().cloned());
        for link in links {
            let body = spec.link_body(rng, &link, &targets, &dirs);
            spec.entries.push(Entry {
                path: link,
                kind: Kind::Symlink(body),
            });
        }
        // A chain of 35 to 45 links `c1 -> c2 -> ... -> cN -> <a directory>` in a random
        // directory, around Linux's limit of 40 links per lookup.
        let chain_dir = dirs[rng.below(dirs.len() as u64) as usize].clone();
        let len = 35 + rng.below(11) as usize;
        for k in 1..=len {
            let body = if k == len {
                let dir = Self::pick(rng, &dirs);
                spec.route(rng, &chain_dir, dir)
            } else {
                match rng.below(4) {
                    0 => format!("./c{}", k + 1),
                    1 => format!("/{}", join(&chain_dir, &format!("c{}", k + 1))),
                    _ => format!("c{}", k + 1),
                }
            };
            spec.add(join(&chain_dir, &format!("c{k}")), Kind::Symlink(body));
        }
        spec
    }

    /// Adds one to three tmpfs mounts and one to four bind mounts. A bind mount's source and
    /// mount point are never at or below an earlier bind's mount point (whose entries the
    /// bind hides); otherwise anything goes: a bind on the tmpfs mount point (stacked), a
    /// directory on itself or on one of its own descendants, a file on a file.
    pub fn add_mounts(&mut self, rng: &mut Rng) {
        let dirs: Vec<String> = self.dirs()[1..].iter().map(|d| d.to_string()).collect();
        let files: Vec<String> = self
            .entries
            .iter()
            .filter(|e| e.kind == Kind::File)
            .map(|e| e.path.clone())
            .collect();
        if dirs.is_empty() {
            return;
        }
        for _ in 0..1 + rng.below(3) {
            let at = Self::pick(rng, &dirs).to_string();
            if !self.is_tmpfs(&at) {
                self.mounts.push(MountSpec::Tmpfs { at });
            }
        }
        let mut hidden: Vec<String> = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let pool = if files.is_empty() || rng.below(4) != 0 {
                &dirs
            } else {
                &files
            };
            let source = Self::pick(rng, pool).to_string();
            let at = Self::pick(rng, pool).to_string();
            if hidden
                .iter()
                .any(|h| at_or_below(&source, h) || at_or_below(&at, h))
            {
                continue;
            }
            hidden.push(at.clone());
            self.mounts.push(MountSpec::Bind { source, at });
        }
    }

    /// Whether a tmpfs is mounted on directory `path`.
    pub fn is_tmpfs(&self, path: &str) -> bool {
        self.mounts
            .iter()
            .any(|m| matches!(m, MountSpec::Tmpfs { at } if at == path))
    }

    /// The bind mounts' mount points.
    fn bind_points(&self) -> impl Iterator<Item = &str> {
        self.mounts.iter().filter_map(|m| match m {
            MountSpec::Bind { at, .. } => Some(at.as_str()),
            MountSpec::Tmpfs { .. } => None,
        })
    }

    /// Whether `path` is hidden by a bind mount (strictly below its mount point), so that
    /// the tree may no longer hold it at that path.
    pub fn hidden(&self, path: &str) -> bool {
        self.bind_points()
            .any(|at| path != at && at_or_below(path, at))
    }

    /// Whether the entry at `path` still names the object made for it: neither a bind
    /// mount point nor below one.
    pub fn as_made(&self, path: &str) -> bool {
        !self.bind_points().any(|at| at_or_below(path, at))
    }

    /// The directories a lookup may start in: [`dirs`](Self::dirs) without those hidden by
    /// a bind mount.
    pub fn start_dirs(&self) -> Vec<&str> {
        self.dirs()
            .into_iter()
            .filter(|d| d.is_empty() || !self.hidden(d))
            .collect()
    }

    /// Removes the entries at or below any of `paths`, and the mounts that name them.
    pub fn without(&self, paths: &[String]) -> Spec {
        let gone = |p: &str| paths.iter().any(|r| at_or_below(p, r));
        let mut smaller = self.clone();
        smaller.entries.retain(|e| !gone(&e.path));
        smaller.mounts.retain(|m| match m {
            MountSpec::Tmpfs { at } => !gone(at),
            MountSpec::Bind { source, at } => !gone(source) && !gone(at),
        });
        smaller
    }

    fn add(&mut self, path: String, kind: Kind) {
        let dir = parent_of(&path).to_string();
        let name = path.rsplit('/').next().unwrap().to_string();
        self.children.get_mut(&dir).unwrap().push(name);
        self.entries.push(Entry { path, kind });
    }

    /// A route from directory `from` to `target` (relative), with noise: `.`, detours
    /// `child/..` through a random child of the current directory (which may be a file, a
    /// link or a link to somewhere else), doubled slashes.
    fn route(&self, rng: &mut Rng, from: &str, target: &str) -> String {
        let from_parts: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
        let to_parts: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
        let common = if rng.one_in(3) {
            0
        } else {
            from_parts
                .iter()
                .zip(&to_parts)
                .take_while(|(a, b)| a == b)
                .count()
        };
        let mut parts: Vec<String> = Vec::new();
        for _ in common..from_parts.len() {
            parts.push("..".into());
        }
        let mut here: Vec<&str> = from_parts[..common].to_vec();
        for part in &to_parts[common..] {
            if rng.one_in(8) {
                parts.push(".".into());
            }
            if rng.one_in(10) {
                let dir = here.join("/");
                if let Some(kids) = self.children.get(&dir) {
                    if !kids.is_empty() {
                        let kid = &kids[rng.below(kids.len() as u64) as usize];
                        parts.push(kid.clone());
                        parts.push("..".into());
                    }
                }
            }
            parts.push((*part).to_string());
            here.push(part);
        }
        let sep = if rng.one_in(12) { "//" } else { "/" };
        let route = parts.join(sep);
        if route.is_empty() {
            ".".into()
        } else {
            route
        }
    }

    fn pick<'t>(rng: &mut Rng, from: &'t [String]) -> &'t str {
        &from[rng.below(from.len() as u64) as usize]
    }

    fn link_body(&self, rng: &mut Rng, link: &str, targets: &[String], dirs: &[String]) -> String {
        let here = parent_of(link);
        let own = link.rsplit('/').next().unwrap();
        let mut body = match rng.below(20) {
            // Relative, to anything (links included).
            0..=6 => {
                let target = Self::pick(rng, targets);
                self.route(rng, here, target)
            }
            // Absolute from the tree root (scoped lookups' `/`).
            7..=9 => {
                let target = Self::pick(rng, targets);
                format!("/{}", self.route(rng, "", target))
            }
            // Absolute with the real prefix.
            10 => {
                let target = Self::pick(rng, targets);
                format!("{ROOT_MARK}/{}", self.route(rng, "", target))
            }
            // Dangling.
            11 | 12 => {
                let dir = Self::pick(rng, dirs);
                let route = self.route(rng, here, dir);
                format!("{route}/n{}", rng.below(1000))
            }
            // Loops: itself, or itself with a suffix.
            13 => match rng.below(3) {
                0 => own.to_string(),
                1 => format!("./{own}/x"),
                _ => self.route(rng, here, link),
            },
            // Dots, escaping the tree.
            14 | 15 => {
                let ups = rng.below(depth(here) as u64 + 3);
                let mut body = vec![".."; ups as usize].join("/");
                if body.is_empty() || rng.one_in(3) {
                    body = if body.is_empty() {
                        ".".into()
                    } else {
                        format!("./{body}")
                    };
                }
                body
            }
            16 => match rng.below(8) {
                // An over-long component, or a body of PATH_MAX - 1 bytes (the longest a
                // link can hold) that names a real target.
                0 => format!("{}/x", "b".repeat(256)),
                1 => {
                    let target = Self::pick(rng, targets);
                    let route = self.route(rng, here, target);
                    let padded = pad_to(route.as_bytes(), 4095);
                    return String::from_utf8(padded).expect("ASCII");
                }
                n => ["/", "/..", "/.", "//", "/../..", "."][n as usize - 2].to_string(),
            },
            // Through something that may not be a directory.
            17 | 18 => {
                let target = Self::pick(rng, targets);
                let suffix = ["/.", "/..", "/x", "/"][rng.below(4) as usize];
                format!("{}{suffix}", self.route(rng, here, target))
            }
            // Up and back down through the tree root's own name.
            _ => {
                let target = Self::pick(rng, targets);
                let ups = vec![".."; depth(here) + 1].join("/");
                format!("{ups}/root/{}", self.route(rng, "", target))
            }
        };
        if rng.one_in(10) && !body.ends_with('/') {
            body.push('/');
        }
        body
    }

    /// All names the tree uses (for the collision check against the real ancestors).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .map(|e| e.path.rsplit('/').next().unwrap())
    }

    /// Every directory's relative path, the tree root (`""`) first.
    pub fn dirs(&self) -> Vec<&str> {
        let mut dirs = vec![""];
        dirs.extend(
            self.entries
                .iter()
                .filter(|e| matches!(e.kind, Kind::Dir(_)))
                .map(|e| e.path.as_str()),
        );
        dirs
    }

    /// A random lookup from directory `start` (relative, `""` for the tree root): path
    /// (with [`ROOT_MARK`] for the real prefix) and flags.
    pub fn case(&self, rng: &mut Rng, start: &str) -> (Vec<u8>, LookupFlags) {
        let mut flags = LookupFlags::empty();
        for (flag, one_in) in [
            (LookupFlags::FOLLOW, 2),
            (LookupFlags::DIRECTORY, 5),
            (LookupFlags::BENEATH, 4),
            (LookupFlags::IN_ROOT, 4),
            (LookupFlags::NO_SYMLINKS, 7),
            (LookupFlags::NO_XDEV, 7),
            (LookupFlags::NO_MAGICLINKS, 12),
        ] {
            if rng.one_in(one_in) {
                flags |= flag;
            }
        }
        let targets: Vec<&String> = self.entries.iter().map(|e| &e.path).collect();
        let target = targets[rng.below(targets.len() as u64) as usize];
        let mut path = match rng.below(40) {
            0 => String::new(),
            1 => ".".into(),
            2 => "..".into(),
            3 => vec![".."; 1 + rng.below(6) as usize].join("/"),
            4 => format!("n{}", rng.below(100)),
            5 => format!("{}/n{}", self.route(rng, start, target), rng.below(100)),
            6..=9 => {
                // Absolute: `/` is the tree root only for scoped lookups.
                // (From another start, `/` plus a route from the start climbs above the
                // scope's root, which IN_ROOT clamps and BENEATH refuses.)
                let route = self.route(rng, if flags.is_scoped() { start } else { "" }, target);
                if flags.is_scoped() || rng.one_in(4) {
                    format!("/{route}")
                } else {
                    format!("{ROOT_MARK}/{route}")
                }
            }
            10 => format!(
                "{}/root/{}",
                vec![".."; depth(start) + 1].join("/"),
                self.route(rng, "", target)
            ),
            11 => {
                // Components picked at random, names from anywhere in the tree.
                let names: Vec<&str> = self.names().collect();
                let n = 1 + rng.below(5);
                (0..n)
                    .map(|_| match rng.below(5) {
                        0 => "..",
                        1 => ".",
                        _ => names[rng.below(names.len() as u64) as usize],
                    })
                    .collect::<Vec<_>>()
                    .join("/")
            }
            _ => self.route(rng, start, target),
        };
        if rng.one_in(6) {
            path.push('/');
        }
        if rng.one_in(20) {
            path.push_str("//");
        }
        if rng.one_in(30) {
            // An over-long component (256 bytes), or the longest allowed one (255).
            let len = if rng.one_in(2) { 256 } else { 255 };
            let long = "a".repeat(len);
            path = match rng.below(3) {
                0 => long,
                1 => format!("{}/{long}", path.trim_end_matches('/')),
                _ => format!("{long}/{path}"),
            };
        }
        (path.into_bytes(), flags)
    }
}

/// Pads `path` (already with the real prefix) to exactly `len` bytes without changing what
/// it names: `./` (and one `.//`) before a relative path, slashes before an absolute one.
/// Returns it unchanged if it is already that long or longer, empty, or one byte short
/// without a slash to double.
pub fn pad_to(path: &[u8], len: usize) -> Vec<u8> {
    if path.is_empty() || path.len() >= len {
        return path.to_vec();
    }
    let extra = len - path.len();
    let mut out = Vec::with_capacity(len);
    if path[0] == b'/' {
        out.resize(extra, b'/');
    } else {
        if extra == 1 {
            // No `./` form is one byte long (a leading `/` would make the path absolute):
            // double the first slash instead.
            out.extend_from_slice(path);
            if let Some(at) = out.iter().position(|&b| b == b'/') {
                out.insert(at, b'/');
                return out;
            }
            return path.to_vec();
        }
        if extra % 2 == 1 {
            out.extend_from_slice(b".//");
        }
        while out.len() + 2 <= extra {
            out.extend_from_slice(b"./");
        }
    }
    out.extend_from_slice(path);
    out
}

/// Replaces [`ROOT_MARK`] in `bytes` by `root`.
pub fn substitute(bytes: &[u8], root: &str) -> Vec<u8> {
    let mark = ROOT_MARK.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(mark) {
            out.extend_from_slice(root.as_bytes());
            i += mark.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// An answer: the name of the object reached, relative to the tree root, or an errno.
pub type Answer = Result<String, i32>;

/// Formats an answer for a report.
pub fn show(answer: &Answer) -> String {
    match answer {
        Ok(name) => format!("Ok({name})"),
        Err(code) => format!("Err({})", errno_name(*code)),
    }
}

/// The symbolic name of an errno value this test meets.
pub fn errno_name(code: i32) -> String {
    match code {
        libc::ENOENT => "ENOENT".into(),
        libc::EACCES => "EACCES".into(),
        libc::EXDEV => "EXDEV".into(),
        libc::ENOTDIR => "ENOTDIR".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENAMETOOLONG => "ENAMETOOLONG".into(),
        libc::ELOOP => "ELOOP".into(),
        libc::EAGAIN => "EAGAIN".into(),
        libc::EPERM => "EPERM".into(),
        code => format!("errno {code}"),
    }
}

/// A path for a one-line report: printable ASCII as is, other bytes as `\xNN`, and runs of
/// a repeated unit (up to 8 bytes, at least 8 times) as `(unit)*N`.
pub fn escape(path: &[u8]) -> String {
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < path.len() {
        for unit in 1..=8 {
            if i + unit > path.len() {
                break;
            }
            let pat = &path[i..i + unit];
            let mut n = 1;
            while path[i + n * unit..].starts_with(pat) {
                n += 1;
            }
            if n >= 8 && n * unit >= 16 {
                out.push('(');
                out.push_str(&escape_plain(pat));
                let _ = write!(out, ")*{n}");
                i += n * unit;
                continue 'outer;
            }
        }
        out.push_str(&escape_plain(&path[i..i + 1]));
        i += 1;
    }
    out
}

fn escape_plain(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\\' | b'"' | b'(' | b')' | b'*' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

/// The flags as `openat2` arguments: `open_how.flags` and `open_how.resolve`.
pub fn open_how_of(flags: LookupFlags) -> libc::open_how {
    let mut oflags = libc::O_PATH | libc::O_CLOEXEC;
    if !flags.contains(LookupFlags::FOLLOW) {
        oflags |= libc::O_NOFOLLOW;
    }
    if flags.contains(LookupFlags::DIRECTORY) {
        oflags |= libc::O_DIRECTORY;
    }
    let mut resolve = 0;
    for (flag, bit) in [
        (LookupFlags::BENEATH, libc::RESOLVE_BENEATH),
        (LookupFlags::IN_ROOT, libc::RESOLVE_IN_ROOT),
        (LookupFlags::NO_SYMLINKS, libc::RESOLVE_NO_SYMLINKS),
        (LookupFlags::NO_XDEV, libc::RESOLVE_NO_XDEV),
        (LookupFlags::NO_MAGICLINKS, libc::RESOLVE_NO_MAGICLINKS),
    ] {
        if flags.contains(flag) {
            resolve |= bit;
        }
    }
    // SAFETY: `open_how` is plain integers, for which all-zero bytes are valid (and mean
    // "no flags"); libc marks it non-exhaustive, so it cannot be built field by field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = oflags as u64;
    how.resolve = resolve;
    how
}

/// How often [`kernel_lookup`] repeats a scoped lookup that failed with `EAGAIN`.
const EAGAIN_RETRIES: usize = 1000;

/// `openat2(dirfd, path, how)` then `fstat`: the object's `(st_dev, st_ino)` or the errno.
/// The path must not contain a NUL byte.
///
/// A scoped lookup (`BENEATH`, `IN_ROOT`) that fails with `EAGAIN` is repeated, as
/// `openat2(2)` tells its callers to: Linux refuses a scoped `..` when its global
/// `mount_lock` or `rename_lock` moved during the walk (fs/namei.c, `handle_dots`), which
/// any mount or rename anywhere on the machine does, such as another test's. The trees
/// here do not change while they are looked up, so the answer once nothing raced is the
/// one to compare.
pub fn kernel_lookup(dirfd: i32, path: &[u8], flags: LookupFlags) -> Result<(u64, u64), i32> {
    let mut answer = kernel_lookup_once(dirfd, path, flags);
    for _ in 0..EAGAIN_RETRIES {
        if answer != Err(libc::EAGAIN) || !flags.is_scoped() {
            break;
        }
        answer = kernel_lookup_once(dirfd, path, flags);
    }
    answer
}

/// One `openat2` and `fstat`, as [`kernel_lookup`] describes.
fn kernel_lookup_once(dirfd: i32, path: &[u8], flags: LookupFlags) -> Result<(u64, u64), i32> {
    let path = CString::new(path).expect("generated paths hold no NUL byte");
    let how = open_how_of(flags);
    // SAFETY: `path` is a NUL-terminated string and `how` a valid `open_how` whose size we
    // pass; both outlive the call. The kernel only reads them.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `openat2` succeeded, so `fd` is an open descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: all-zero bytes are a valid `stat` (integers only).
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `fd` is open and `st` is a writable `stat`.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    assert_eq!(
        rc,
        0,
        "fstat of an O_PATH fd: {}",
        io::Error::last_os_error()
    );
    Ok((st.st_dev, st.st_ino))
}

/// The real tree: its directories and the map from `(st_dev, st_ino)` to names. Removed
/// when dropped.
pub struct RealTree {
    /// `$TMP/pw-conf-<seed>-<pid>`, removed on drop.
    pub base: PathBuf,
    /// The tree root, `base/root`.
    pub root: PathBuf,
    /// The tree root's absolute path as a string (the link bodies' real prefix).
    pub root_str: String,
    /// An `O_PATH` descriptor of the tree root (the lookups' `dirfd`).
    pub dirfd: OwnedFd,
    /// `O_PATH` descriptors of every directory of the tree, by relative path (opened as
    /// root, so that an unprivileged lookup can start in any of them).
    pub dirfds: HashMap<String, OwnedFd>,
    /// Every object the tree and its ancestors hold, by `(st_dev, st_ino)`.
    pub names: HashMap<(u64, u64), String>,
    /// The ancestors of the tree root, outermost (`/`) first, with their names (`..`,
    /// `../..`, ...) and `lstat`s.
    pub ancestors: Vec<(PathBuf, String, std::fs::Metadata)>,
    /// The mount points of the tree's own mounts, oldest first.
    mounted: Vec<PathBuf>,
}

impl RealTree {
    /// Builds `spec` under a fresh directory in the temporary directory,
    /// `pw-conf-<seed>-<pid>-<tag>`. Trees that exist at the same time need different tags;
    /// tags of the same length keep the paths of both trees the same length.
    pub fn create(spec: &Spec, seed: u64, tag: char) -> io::Result<RealTree> {
        let tmp = std::env::temp_dir().canonicalize()?;
        let base = tmp.join(format!("pw-conf-{seed}-{}-{tag}", std::process::id()));
        if base.exists() {
            std::fs::remove_dir_all(&base)?;
        }
        std::fs::create_dir(&base)?;
        let root = base.join("root");
        std::fs::create_dir(&root)?;
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755))?;
        let root_c = CString::new(root.as_os_str().as_bytes()).expect("no NUL in $TMP");
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: `root_c` is a NUL-terminated path that outlives the call.
        let fd = unsafe { libc::open(root_c.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut tree = RealTree {
            root_str: root
                .to_str()
                .expect("temporary directory is UTF-8")
                .to_string(),
            base,
            // SAFETY: `open` succeeded; nothing else owns `fd`.
            dirfd: unsafe { OwnedFd::from_raw_fd(fd) },
            root,
            names: HashMap::new(),
            ancestors: Vec::new(),
            dirfds: HashMap::new(),
            mounted: Vec::new(),
        };
        let key = |m: &std::fs::Metadata| (m.dev(), m.ino());
        for entry in &spec.entries {
            let at = tree.root.join(&entry.path);
            match &entry.kind {
                Kind::Dir(_) if spec.is_tmpfs(&entry.path) => {
                    std::fs::create_dir(&at)?;
                    // The covered directory: reachable again through a bind of an ancestor.
                    std::fs::set_permissions(&at, std::fs::Permissions::from_mode(0o755))?;
                    let covered = std::fs::symlink_metadata(&at)?;
                    tree.names.insert(key(&covered), covered_name(&entry.path));
                    tree.mount(Some(Path::new("tmpfs")), &at, Some("tmpfs"), 0)?;
                }
                Kind::Dir(_) => std::fs::create_dir(&at)?,
                Kind::File => drop(std::fs::File::create(&at)?),
                Kind::Symlink(body) => {
                    let body = String::from_utf8(substitute(body.as_bytes(), &tree.root_str))
                        .expect("bodies are UTF-8");
                    std::os::unix::fs::symlink(body, &at)?
                }
            }
        }
        // Modes last: children are created first, whatever their directory allows.
        for entry in &spec.entries {
            if let Kind::Dir(mode) = entry.kind {
                let at = tree.root.join(&entry.path);
                std::fs::set_permissions(&at, std::fs::Permissions::from_mode(mode))?;
            }
        }
        tree.names
            .insert(key(&std::fs::symlink_metadata(&tree.root)?), ".".into());
        for entry in &spec.entries {
            let meta = std::fs::symlink_metadata(tree.root.join(&entry.path))?;
            let old = tree.names.insert(key(&meta), format!("./{}", entry.path));
            assert!(old.is_none(), "two entries share an inode: {}", entry.path);
        }
        let mut up = tree.root.parent();
        let mut name = String::from("..");
        while let Some(dir) = up {
            let meta = std::fs::symlink_metadata(dir)?;
            tree.names.insert(key(&meta), name.clone());
            tree.ancestors.push((dir.to_path_buf(), name.clone(), meta));
            // A generated name in an ancestor would make the real and the namespace walks
            // differ for reasons outside pathwalk.
            for n in spec.names() {
                if dir.join(n).symlink_metadata().is_ok() {
                    return Err(io::Error::other(format!(
                        "{} exists: the generated names collide with the host",
                        dir.join(n).display()
                    )));
                }
            }
            up = dir.parent();
            name.push_str("/..");
        }
        tree.ancestors.reverse();
        // Bind mounts last: every object has its name by now, and a bind shows one of them.
        for mount in &spec.mounts {
            if let MountSpec::Bind { source, at } = mount {
                let flags = libc::MS_BIND;
                tree.mount(
                    Some(&tree.root.join(source)),
                    &tree.root.join(at),
                    None,
                    flags,
                )?;
            }
        }
        for dir in spec.start_dirs().into_iter().skip(1) {
            let fd = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(tree.root.join(dir))?;
            tree.dirfds.insert(dir.to_string(), fd.into());
        }
        Ok(tree)
    }

    /// `mount(source, target, fstype, flags)`, remembered for unmounting when dropped.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: libc::c_ulong,
    ) -> io::Result<()> {
        let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL in $TMP");
        mount(source.map(c).as_deref(), &c(target), fstype, flags).map_err(|e| {
            io::Error::other(format!(
                "mounting {} on {}: {}",
                source.map_or(String::new(), |s| s.display().to_string()),
                target.display(),
                errno_name(e)
            ))
        })?;
        self.mounted.push(target.to_path_buf());
        Ok(())
    }

    /// The tree root's descriptor, as a raw fd for `openat2`.
    pub fn dirfd_raw(&self) -> i32 {
        self.dirfd.as_raw_fd()
    }

    /// The kernel's answer to `path` (with [`ROOT_MARK`] already substituted).
    pub fn answer(&self, path: &[u8], flags: LookupFlags) -> Answer {
        self.answer_from("", path, flags)
    }

    /// The kernel's answer to `path` from directory `start` (relative, `""` for the root).
    pub fn answer_from(&self, start: &str, path: &[u8], flags: LookupFlags) -> Answer {
        let dirfd = match start {
            "" => self.dirfd.as_raw_fd(),
            dir => self.dirfds[dir].as_raw_fd(),
        };
        kernel_lookup(dirfd, path, flags).map(|key| {
            self.names
                .get(&key)
                .cloned()
                .unwrap_or_else(|| format!("<outside: dev {} ino {}>", key.0, key.1))
        })
    }
}

impl Drop for RealTree {
    fn drop(&mut self) {
        // Newest first: each unmount takes the topmost mount at its path.
        for target in self.mounted.iter().rev() {
            if let Ok(c) = CString::new(target.as_os_str().as_bytes()) {
                // SAFETY: `c` is a NUL-terminated path alive for the call.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        // Best effort: a failure leaves a directory in $TMP, which the next run replaces.
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The namespace tree: the same entries at the same absolute path.
pub struct Mirror<R: Rcu + 'static> {
    /// The namespace.
    pub tree: Tree<R>,
    /// Names by namespace inode number.
    pub names: HashMap<u64, String>,
    /// The tree root's absolute path.
    pub root: String,
}

impl<R: Rcu + 'static> Mirror<R> {
    /// Builds `spec` in a fresh namespace, below the same ancestors as `real`.
    pub fn create(rcu: &'static R, spec: &Spec, real: &RealTree) -> Mirror<R> {
        let tree = Tree::new(rcu);
        let mut names = HashMap::new();
        names.insert(tree.ino("/"), real.ancestors[0].1.clone());
        let mut prev_dev = real.ancestors[0].2.dev();
        for (dir, name, meta) in &real.ancestors[1..] {
            let path = dir.to_str().expect("UTF-8");
            tree.mkdir(path, meta.mode() & 0o7777);
            if meta.dev() != prev_dev {
                tree.mount_new(path);
                let at = tree.at(path);
                tree.fs
                    .set_attr(at.location(), |attr| {
                        attr.mode = (attr.mode & !0o7777) | (meta.mode() & 0o7777)
                    })
                    .expect("set_attr on a mount root");
            }
            prev_dev = meta.dev();
            names.insert(tree.ino(path), name.clone());
        }
        let root = real.root_str.clone();
        tree.mkdir(&root, 0o755);
        names.insert(tree.ino(&root), ".".into());
        for entry in &spec.entries {
            let at = format!("{root}/{}", entry.path);
            match &entry.kind {
                Kind::Dir(mode) if spec.is_tmpfs(&entry.path) => {
                    tree.mkdir(&at, 0o755);
                    names.insert(tree.ino(&at), covered_name(&entry.path));
                    tree.mount_new(&at);
                    let mount_root = tree.at(&at);
                    tree.fs
                        .set_attr(mount_root.location(), |attr| {
                            attr.mode = (attr.mode & !0o7777) | mode
                        })
                        .expect("set_attr on a mount root");
                }
                Kind::Dir(mode) => tree.mkdir(&at, *mode),
                Kind::File => tree.touch(&at, 0o644),
                Kind::Symlink(body) => {
                    let body = String::from_utf8(substitute(body.as_bytes(), &root))
                        .expect("bodies are UTF-8");
                    tree.symlink(&at, &body)
                }
            }
            names.insert(tree.ino(&at), format!("./{}", entry.path));
        }
        for mount in &spec.mounts {
            if let MountSpec::Bind { source, at } = mount {
                tree.bind(&format!("{root}/{source}"), &format!("{root}/{at}"));
            }
        }
        Mirror { tree, names, root }
    }

    /// pathwalk's answers in the four modes ([`Mode::ALL`]), from the tree root.
    pub fn answers(&self, cred: &Cred, path: &[u8], flags: LookupFlags) -> [Answer; 4] {
        self.answers_from(cred, "", path, flags)
    }

    /// pathwalk's answers in the four modes from directory `start` (relative, `""` for the
    /// tree root).
    pub fn answers_from(
        &self,
        cred: &Cred,
        start: &str,
        path: &[u8],
        flags: LookupFlags,
    ) -> [Answer; 4] {
        let start = match start {
            "" => self.tree.at(&self.root),
            dir => self.tree.at(&format!("{}/{dir}", self.root)),
        };
        Mode::ALL.map(|mode| {
            let (got, _end) = self.tree.resolve(cred, start.location(), path, flags, mode);
            got.map(|ino| {
                self.names
                    .get(&ino)
                    .cloned()
                    .unwrap_or_else(|| format!("<unnamed ino {ino}>"))
            })
            .map_err(|errno| errno.code())
        })
    }
}

/// Whether the tree root's path and everything below match between `real` and `mirror`:
/// `lstat`-level sanity of the fixture (every entry a bind mount does not cover resolves on
/// both sides to its name).
pub fn check_fixture<R: Rcu + 'static>(spec: &Spec, real: &RealTree, mirror: &Mirror<R>) {
    for entry in spec.entries.iter().filter(|e| spec.as_made(&e.path)) {
        let path = entry.path.as_bytes();
        let want: Answer = Ok(format!("./{}", entry.path));
        assert_eq!(
            real.answer(path, LookupFlags::empty()),
            want,
            "fixture: kernel lstat of {}",
            entry.path
        );
        for got in mirror.answers(&Cred::ROOT, path, LookupFlags::empty()) {
            assert_eq!(got, want, "fixture: namespace lstat of {}", entry.path);
        }
    }
}

/// A compact listing of `spec`, one entry per `;`: `d1/` directory (with `:mode` when not
/// 0755), `f2` file, `l3->body` link.
pub fn listing(spec: &Spec) -> String {
    let mut out = String::new();
    for entry in &spec.entries {
        match &entry.kind {
            Kind::Dir(0o755) => {
                let _ = write!(out, "{}/;", entry.path);
            }
            Kind::Dir(mode) => {
                let _ = write!(out, "{}/:{mode:o};", entry.path);
            }
            Kind::File => {
                let _ = write!(out, "{};", entry.path);
            }
            Kind::Symlink(body) => {
                let _ = write!(out, "{}->{};", entry.path, escape(body.as_bytes()));
            }
        }
    }
    for mount in &spec.mounts {
        let _ = match mount {
            MountSpec::Tmpfs { at } => write!(out, "tmpfs on {at};"),
            MountSpec::Bind { source, at } => write!(out, "bind {source} on {at};"),
        };
    }
    out
}

/// The name of the directory a tmpfs mount covers (the mount's root takes the entry's name).
fn covered_name(path: &str) -> String {
    format!("./{path} (covered)")
}

/// `mount(source, target, fstype, flags, NULL)`: `Err(errno)` on failure.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&str>,
    flags: libc::c_ulong,
) -> Result<(), i32> {
    let fstype = fstype.map(|f| CString::new(f).expect("file system type without NUL"));
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is NULL or a NUL-terminated string alive for the call; no data.
    let ret = unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype.as_deref()),
            flags,
            std::ptr::null(),
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

/// Moves the calling process into a mount namespace of its own, with every mount private,
/// so that the mounts it makes are seen by nobody else and vanish with it. The process must
/// still be single-threaded (`unshare(CLONE_NEWNS)` refuses to split a shared `fs_struct`).
/// `Err` says why it could not (typically: no `CAP_SYS_ADMIN`).
pub fn private_mount_namespace() -> Result<(), String> {
    // SAFETY: unshare takes no pointers.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        return Err(format!(
            "unshare(CLONE_NEWNS) failed with {}",
            errno_name(errno)
        ));
    }
    mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE)
        .map_err(|e| format!("making / private failed with {}", errno_name(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_reaches_the_length_and_keeps_the_meaning() {
        for path in [&b"d1/f2"[..], b"/d1", b"..", b"d1/"] {
            for len in [4095, 4096, 4097, 5000] {
                let padded = pad_to(path, len);
                assert_eq!(padded.len(), len, "{path:?} to {len}");
                assert!(padded.ends_with(path), "{path:?} to {len}: a prefix only");
                assert_eq!(
                    padded[0] == b'/',
                    path[0] == b'/',
                    "absolute stays absolute"
                );
            }
        }
        assert_eq!(pad_to(b"d1/f2", 6), b"d1//f2");
        assert_eq!(pad_to(b"d1/f2", 8), b".//d1/f2");
        assert_eq!(pad_to(b"d1/f2", 9), b"././d1/f2");
        assert_eq!(pad_to(b"/d1", 5), b"///d1");
        assert_eq!(pad_to(b"d1", 3), b"d1", "cannot grow by one byte");
    }

    #[test]
    fn escaping_compresses_runs_and_shows_bytes() {
        assert_eq!(escape(b"./././././././././d1"), "(./)*9d1");
        assert_eq!(escape(&[b'a'; 256]), "(a)*256");
        assert_eq!(escape(b"a\xff\n"), "a\\xff\\x0a");
        assert_eq!(escape(b"x\"y"), "x\\\"y");
    }
}
