//! Runs the 88 cases of the openat2 selftest `resolve_test.c` (`tests::resolve_table`, the
//! table `tests/resolve_cases.rs` runs against pathwalk) against the kernel of this machine,
//! on the same fixture built on the real file system, and says for each case whether the
//! kernel agrees with the table.
//!
//! The binary enters a private mount namespace first (the fixture mounts a tmpfs); without
//! the privilege for that it prints one line `SKIPPED: <reason>` and exits 0.
//!
//! Output: one line per case, `case <n> <ok|ERRNO> <expected> <MATCH|MISMATCH>`, where a
//! successful open is followed by `dev=<st_dev> ino=<st_ino>` of the object opened, then
//! `kernel: <matches>/88 match the table`. Any other failure prints `ERROR: <reason>` and
//! exits 1.
//!
//! ```text
//! cargo run -p tests --bin resolve_kernel
//! ```

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use tests::conformance::{errno_name, mount, private_mount_namespace};
use tests::resolve_table::{Dir, Open, BASE_LINKS, CASES, CHEEKY, MNT_LINKS, SELF_FD};

/// `struct open_how` of `linux/openat2.h` (libc's is `#[non_exhaustive]`, so it cannot be
/// built outside libc).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// The errno of the last failed call.
fn last_errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A C string of `s`, or `EINVAL` if it holds a NUL.
fn c_string(s: &str) -> Result<CString, i32> {
    CString::new(s).map_err(|_| libc::EINVAL)
}

/// `openat2(dirfd, path, how)`, the fd or the errno.
fn openat2(dirfd: i32, path: &str, flags: i32, mode: u64, resolve: u64) -> Result<OwnedFd, i32> {
    let path = c_string(path)?;
    let how = OpenHow {
        flags: flags as u64,
        mode,
        resolve,
    };
    // SAFETY: `path` is a NUL-terminated string and `how` a valid `struct open_how` of the
    // size passed, both alive for the call; the kernel only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret < 0 {
        return Err(last_errno());
    }
    let fd = i32::try_from(ret).map_err(|_| libc::EBADF)?;
    // SAFETY: the kernel just returned `fd` as a new open descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The fixture directory `T`; removed (after unmounting its tmpfs) when dropped.
struct Fixture {
    top: PathBuf,
    mounted: bool,
}

impl Fixture {
    fn root(&self) -> PathBuf {
        self.top.join("root")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if self.mounted {
            if let Ok(mnt) = c_string(&self.root().join("mnt").to_string_lossy()) {
                // SAFETY: `mnt` is a NUL-terminated path alive for the call.
                unsafe { libc::umount2(mnt.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = fs::remove_dir_all(&self.top);
    }
}

/// Builds the fixture of `resolve-cases.md` section 1 under a new directory `T`.
fn build_fixture() -> Result<Fixture, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let top = std::env::temp_dir().join(format!("resolve-kernel-{}-{nanos}", std::process::id()));
    fs::create_dir(&top).map_err(|e| format!("mkdir {}: {e}", top.display()))?;
    let mut fx = Fixture {
        top,
        mounted: false,
    };
    let root = fx.root();
    let at = |p: &str| root.join(p);
    let err = |what: &str, p: &Path, e: io::Error| format!("{what} {}: {e}", p.display());
    let mkdir = |p: PathBuf| fs::create_dir(&p).map_err(|e| err("mkdir", &p, e));
    let link = |p: &str, body: &str| symlink(body, at(p)).map_err(|e| err("symlink", &at(p), e));

    mkdir(root.clone())?;
    for dir in ["root", "mnt", "etc", "cheeky"] {
        mkdir(at(dir))?;
    }
    let mnt = at("mnt").to_string_lossy().into_owned();
    let mnt_c = c_string(&mnt).map_err(|_| format!("{mnt} holds a NUL byte"))?;
    mount(Some(c"tmpfs"), &mnt_c, Some("tmpfs"), 0)
        .map_err(|e| format!("mounting tmpfs on {mnt}: {}", errno_name(e)))?;
    fx.mounted = true;
    fs::write(at("etc/passwd"), b"").map_err(|e| err("create", &at("etc/passwd"), e))?;
    for (name, body) in BASE_LINKS {
        link(name, body)?;
    }
    for (name, body) in MNT_LINKS {
        link(&format!("mnt/{name}"), body)?;
    }
    for (name, body) in CHEEKY {
        link(&format!("cheeky/{name}"), body)?;
    }
    Ok(fx)
}

/// Opens a case's starting directory.
fn open_dir(p: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(p)
        .map_err(|e| format!("opening {}: {e}", p.display()))
}

/// `(st_dev, st_ino)` of the object at `p`, the final component not followed.
fn lstat_id(p: &Path) -> Result<(u64, u64), i32> {
    fs::symlink_metadata(p)
        .map(|m| (m.dev(), m.ino()))
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Runs every case and prints its line; returns the number of matches.
fn run_cases(fx: &Fixture) -> Result<usize, String> {
    let root = fx.root();
    let base = open_dir(&root)?;
    let mnt = open_dir(&root.join("mnt"))?;
    let slash = open_dir(Path::new("/"))?;
    let proc = open_dir(Path::new("/proc"))?;
    let self_fd = format!("self/fd/{}", proc.as_raw_fd());

    let mut matches = 0;
    for case in &CASES {
        let (id, dir, path, open) = (case.id, case.dir, case.path, case.open);
        let resolve = case.resolve.openat2_bits();
        let dirfd = match dir {
            Dir::Base => base.as_raw_fd(),
            Dir::Mnt => mnt.as_raw_fd(),
            Dir::Root => slash.as_raw_fd(),
            Dir::Proc => proc.as_raw_fd(),
        };
        let path = if path == SELF_FD { &self_fd } else { path };
        let (flags, mode) = match open {
            Open::Path => (libc::O_PATH, 0),
            Open::NoFollow => (libc::O_PATH | libc::O_NOFOLLOW, 0),
            Open::Create => (libc::O_CREAT | libc::O_RDONLY, 0o700),
        };
        let mut got = openat2(dirfd, path, flags | libc::O_CLOEXEC, mode, resolve);
        // A scoped `..` fails with EAGAIN whenever any mount or rename on the machine raced
        // with it (Linux checks its global mount_lock and rename_lock); callers retry.
        let scoped = resolve & (libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT) != 0;
        for _ in 0..1000 {
            if !scoped || !matches!(got, Err(libc::EAGAIN)) {
                break;
            }
            got = openat2(dirfd, path, flags | libc::O_CLOEXEC, mode, resolve);
        }
        // The opened object's identity; the fd stays open until the expected object has
        // been looked up, so that /proc inodes cannot be recycled in between.
        let got_id = match &got {
            Ok(fd) => File::from(fd.try_clone().map_err(|e| e.to_string())?)
                .metadata()
                .map(|m| Ok((m.dev(), m.ino())))
                .unwrap_or_else(|e| Err(e.raw_os_error().unwrap_or(libc::EIO))),
            Err(e) => Err(*e),
        };
        let (expected, ok) = match case.expect {
            Err(e) => (errno_name(e.code()), got_id == Err(e.code())),
            Ok(p) => {
                let target = match p {
                    "." => root.clone(),
                    p if p.starts_with('/') => PathBuf::from(p),
                    p => root.join(p),
                };
                let want = lstat_id(&target);
                (
                    format!("ok:{p}"),
                    want.is_ok() && got_id.is_ok() && got_id == want,
                )
            }
        };
        drop(got);
        let actual = match got_id {
            Ok(_) => "ok".to_string(),
            Err(e) => errno_name(e),
        };
        let verdict = if ok { "MATCH" } else { "MISMATCH" };
        match got_id {
            Ok((dev, ino)) => {
                println!("case {id} {actual} {expected} {verdict} dev={dev} ino={ino}")
            }
            Err(_) => println!("case {id} {actual} {expected} {verdict}"),
        }
        matches += usize::from(ok);
    }
    Ok(matches)
}

fn main() -> ExitCode {
    if let Err(reason) = private_mount_namespace() {
        println!("SKIPPED: {reason}");
        return ExitCode::SUCCESS;
    }
    // Kernels before 5.6, or a seccomp filter, have no openat2.
    if let Err(e) = openat2(libc::AT_FDCWD, "/", libc::O_PATH | libc::O_CLOEXEC, 0, 0) {
        println!("SKIPPED: openat2 unavailable ({})", errno_name(e));
        return ExitCode::SUCCESS;
    }
    let fx = match build_fixture() {
        Ok(fx) => fx,
        Err(reason) => {
            println!("ERROR: building the fixture: {reason}");
            return ExitCode::FAILURE;
        }
    };
    match run_cases(&fx) {
        Ok(matches) => {
            println!("kernel: {matches}/{} match the table", CASES.len());
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("ERROR: {reason}");
            ExitCode::FAILURE
        }
    }
}
