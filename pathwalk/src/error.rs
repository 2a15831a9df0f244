//! [`Errno`]: how a lookup fails, with Linux's errno values.

use core::fmt;
use core::num::NonZeroI32;

/// Why a lookup failed. The variants carry the errno values of Linux (x86-64, AArch64 and
/// RISC-V share them), so a kernel can return [`Errno::code`] to user space as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// A component does not exist (or the path is empty without [`EMPTY`]).
    ///
    /// [`EMPTY`]: crate::LookupFlags::EMPTY
    ENOENT,
    /// Search permission was refused on a directory along the path.
    EACCES,
    /// A scoped lookup would leave its root or cross a mount it may not cross.
    EXDEV,
    /// A component used as a directory is not one.
    ENOTDIR,
    /// The flags conflict, or the path contains a NUL byte.
    EINVAL,
    /// The path is `PATH_MAX` (4096) bytes or longer, counting its terminating NUL.
    ENAMETOOLONG,
    /// Too many symbolic links, or a symbolic link where none is allowed.
    ELOOP,
    /// The lookup could not finish without leaving RCU mode under `CACHED`, or a scoped
    /// lookup raced with a rename or mount.
    EAGAIN,
    /// A cached entry turned out to be stale (`ESTALE`). The engine walks once more with
    /// [`REVAL`](crate::LookupFlags::REVAL) before reporting it.
    ESTALE,
    /// The name exists (namespace operations: create, mkdir, rename without replace).
    EEXIST,
    /// A directory is not empty (rmdir, rename over a directory).
    ENOTEMPTY,
    /// A directory where a non-directory is needed.
    EISDIR,
    /// The operation is not permitted (removing or renaming another user's entry in a
    /// sticky directory).
    EPERM,
    /// The object is in use (unmounting a mount that has mounts below it, removing a
    /// mountpoint).
    EBUSY,
    /// An error the namespace returned (its errno value).
    Namespace(NonZeroI32),
}

impl Errno {
    /// The errno value, as Linux returns it (positive).
    pub const fn code(self) -> i32 {
        match self {
            Errno::ENOENT => 2,
            Errno::EAGAIN => 11,
            Errno::EACCES => 13,
            Errno::EXDEV => 18,
            Errno::ENOTDIR => 20,
            Errno::EINVAL => 22,
            Errno::ENAMETOOLONG => 36,
            Errno::ELOOP => 40,
            Errno::ESTALE => 116,
            Errno::EEXIST => 17,
            Errno::ENOTEMPTY => 39,
            Errno::EISDIR => 21,
            Errno::EBUSY => 16,
            Errno::EPERM => 1,
            Errno::Namespace(code) => code.get(),
        }
    }

    /// The error for errno value `code`: one of the named variants when it is one of theirs,
    /// [`Errno::Namespace`] otherwise. `None` for zero, which is not an error.
    pub const fn from_code(code: i32) -> Option<Errno> {
        Some(match code {
            2 => Errno::ENOENT,
            11 => Errno::EAGAIN,
            13 => Errno::EACCES,
            18 => Errno::EXDEV,
            20 => Errno::ENOTDIR,
            22 => Errno::EINVAL,
            36 => Errno::ENAMETOOLONG,
            40 => Errno::ELOOP,
            116 => Errno::ESTALE,
            17 => Errno::EEXIST,
            39 => Errno::ENOTEMPTY,
            21 => Errno::EISDIR,
            16 => Errno::EBUSY,
            1 => Errno::EPERM,
            _ => match NonZeroI32::new(code) {
                Some(code) => Errno::Namespace(code),
                None => return None,
            },
        })
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Errno::ENOENT => "ENOENT: no such file or directory",
            Errno::EACCES => "EACCES: permission denied",
            Errno::EXDEV => "EXDEV: the lookup would leave its scope",
            Errno::ENOTDIR => "ENOTDIR: not a directory",
            Errno::EINVAL => "EINVAL: invalid argument",
            Errno::ENAMETOOLONG => "ENAMETOOLONG: path too long",
            Errno::ELOOP => "ELOOP: too many or forbidden symbolic links",
            Errno::EAGAIN => "EAGAIN: try again",
            Errno::ESTALE => "ESTALE: stale cache entry",
            Errno::EEXIST => "EEXIST: file exists",
            Errno::ENOTEMPTY => "ENOTEMPTY: directory not empty",
            Errno::EISDIR => "EISDIR: is a directory",
            Errno::EBUSY => "EBUSY: busy",
            Errno::EPERM => "EPERM: operation not permitted",
            Errno::Namespace(code) => return write!(f, "errno {code} from the namespace"),
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [2, 11, 13, 18, 20, 22, 36, 40, 116, 17, 39, 21, 16, 1, 5, -1] {
            let errno = Errno::from_code(code).unwrap();
            assert_eq!(errno.code(), code);
        }
        assert_eq!(Errno::from_code(2), Some(Errno::ENOENT));
        assert_eq!(
            Errno::from_code(5),
            Some(Errno::Namespace(NonZeroI32::new(5).unwrap()))
        );
        assert_eq!(Errno::from_code(0), None);
    }
}
