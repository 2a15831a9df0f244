//! [`LookupFlags`]: what a lookup may and must do.

use crate::Errno;

bitflags::bitflags! {
    /// Flags of one lookup: Linux's `LOOKUP_*` and the `RESOLVE_*` flags of `openat2(2)`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct LookupFlags: u32 {
        /// Follow a symbolic link in the last component (`LOOKUP_FOLLOW`). Links in the
        /// middle of the path are always followed.
        const FOLLOW = 1 << 0;
        /// The result must be a directory (`LOOKUP_DIRECTORY`). Implied by a trailing slash.
        const DIRECTORY = 1 << 1;
        /// An empty path names the starting directory instead of failing with `ENOENT`
        /// (`LOOKUP_EMPTY`, `AT_EMPTY_PATH`).
        const EMPTY = 1 << 2;
        /// Never leave the starting directory: absolute paths, absolute links and `..` above
        /// it fail with `EXDEV` (`RESOLVE_BENEATH`).
        const BENEATH = 1 << 3;
        /// Treat the starting directory as the root: `/` and `..` at it stay there
        /// (`RESOLVE_IN_ROOT`).
        const IN_ROOT = 1 << 4;
        /// Fail with `ELOOP` on any symbolic link (`RESOLVE_NO_SYMLINKS`).
        const NO_SYMLINKS = 1 << 5;
        /// Fail with `ELOOP` on jump ("magic") links such as `/proc/self/root`
        /// (`RESOLVE_NO_MAGICLINKS`).
        const NO_MAGICLINKS = 1 << 6;
        /// Fail with `EXDEV` when the walk would cross a mount, in either direction
        /// (`RESOLVE_NO_XDEV`).
        const NO_XDEV = 1 << 7;
        /// Never leave RCU mode: fail with `EAGAIN` where the walk would need to block
        /// (`RESOLVE_CACHED`).
        const CACHED = 1 << 8;
        /// Revalidate every dentry, as after a stale result (`LOOKUP_REVAL`).
        const REVAL = 1 << 9;
    }
}

impl LookupFlags {
    /// Checks that the flags can be honoured together: `BENEATH` and `IN_ROOT` conflict, as
    /// `openat2(2)` says, and undefined bits are refused (both `EINVAL`).
    pub const fn validate(self) -> Result<(), Errno> {
        if self.contains(Self::BENEATH.union(Self::IN_ROOT)) {
            return Err(Errno::EINVAL);
        }
        // Bits no flag defines (kept by `from_bits_retain`, as a kernel converting a user's
        // flags word might) are refused, as `openat2(2)` refuses unknown `RESOLVE_*` bits.
        if self.bits() & !Self::all().bits() != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    /// Whether the lookup is scoped to its starting directory.
    pub const fn is_scoped(self) -> bool {
        self.intersects(Self::BENEATH.union(Self::IN_ROOT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicting_flags_are_invalid() {
        assert_eq!(
            (LookupFlags::BENEATH | LookupFlags::IN_ROOT).validate(),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            (LookupFlags::BENEATH | LookupFlags::NO_XDEV).validate(),
            Ok(())
        );
        assert_eq!(LookupFlags::empty().validate(), Ok(()));
        assert_eq!(
            LookupFlags::from_bits_retain(0x1337 << 12).validate(),
            Err(Errno::EINVAL),
            "undefined bits"
        );
        assert!(LookupFlags::IN_ROOT.is_scoped());
        assert!(!LookupFlags::FOLLOW.is_scoped());
    }
}
