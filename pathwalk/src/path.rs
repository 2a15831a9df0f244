//! [`PathName`]: checking a path and splitting it into components, as Linux's `getname` and
//! `link_path_walk` do before any lookup.

use crate::{Errno, LookupFlags};

/// Linux's `PATH_MAX`: a path of this many bytes or more, counting the terminating NUL that a
/// C caller would pass, fails with `ENAMETOOLONG`.
pub const PATH_MAX: usize = 4096;

/// A checked path: not too long, no NUL byte, and (unless [`LookupFlags::EMPTY`]) not empty.
///
/// ```
/// use pathwalk::{Component, LookupFlags, PathName};
///
/// let path = PathName::new(b"/usr//lib/./../bin/", LookupFlags::empty()).unwrap();
/// assert!(path.is_absolute());
/// assert!(path.has_trailing_slash());
/// let components: Vec<_> = path.components().collect();
/// assert_eq!(
///     components,
///     [
///         Component::Normal(b"usr"),
///         Component::Normal(b"lib"),
///         Component::CurDir,
///         Component::ParentDir,
///         Component::Normal(b"bin"),
///     ]
/// );
/// // A trailing slash makes the lookup follow a final link and demand a directory.
/// let implied = LookupFlags::FOLLOW | LookupFlags::DIRECTORY;
/// assert!(path.lookup_flags(LookupFlags::empty()).contains(implied));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathName<'a> {
    bytes: &'a [u8],
}

impl<'a> PathName<'a> {
    /// Checks `bytes` as a path for a lookup with `flags`.
    ///
    /// # Errors
    ///
    /// - `ENAMETOOLONG`: `bytes.len() + 1 > PATH_MAX` (the length check comes first).
    /// - `EINVAL`: a NUL byte inside the path.
    /// - `ENOENT`: an empty path without [`LookupFlags::EMPTY`].
    pub fn new(bytes: &'a [u8], flags: LookupFlags) -> Result<Self, Errno> {
        if bytes.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if bytes.contains(&0) {
            return Err(Errno::EINVAL);
        }
        if bytes.is_empty() && !flags.contains(LookupFlags::EMPTY) {
            return Err(Errno::ENOENT);
        }
        Ok(Self { bytes })
    }

    /// The path's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the path is empty (allowed only with [`LookupFlags::EMPTY`]): it names the
    /// starting directory.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Whether the walk starts at the root rather than at the starting directory.
    pub fn is_absolute(&self) -> bool {
        self.bytes.first() == Some(&b'/')
    }

    /// Whether the last component is followed by a slash (`a/b/`, `a/b//`, `a/..//`). A path
    /// of slashes only (`/`, `//`) has no last component and so no trailing slash.
    pub fn has_trailing_slash(&self) -> bool {
        self.bytes.last() == Some(&b'/') && self.bytes.iter().any(|&b| b != b'/')
    }

    /// `flags` with what the path itself implies: a trailing slash adds `FOLLOW` and
    /// `DIRECTORY`, as in Linux.
    pub fn lookup_flags(&self, flags: LookupFlags) -> LookupFlags {
        if self.has_trailing_slash() {
            flags | LookupFlags::FOLLOW | LookupFlags::DIRECTORY
        } else {
            flags
        }
    }

    /// The components, in order; repeated slashes separate nothing.
    pub fn components(&self) -> Components<'a> {
        Components { rest: self.bytes }
    }
}

/// One component of a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component<'a> {
    /// `.`
    CurDir,
    /// `..`
    ParentDir,
    /// Any other name. Its length is not checked here: over-long names are the namespace's
    /// to reject (`NAME_MAX` is a file system property).
    Normal(&'a [u8]),
}

/// The components of a [`PathName`], from [`PathName::components`].
#[derive(Clone, Debug)]
pub struct Components<'a> {
    rest: &'a [u8],
}

impl Components<'_> {
    /// Whether another component follows (the one [`next`](Iterator::next) returned last is
    /// then not the final one).
    pub fn has_more(&self) -> bool {
        self.rest.iter().any(|&b| b != b'/')
    }
}

impl<'a> Iterator for Components<'a> {
    type Item = Component<'a>;

    fn next(&mut self) -> Option<Component<'a>> {
        let start = self.rest.iter().position(|&b| b != b'/')?;
        let rest = &self.rest[start..];
        let len = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        let (name, rest) = rest.split_at(len);
        self.rest = rest;
        Some(match name {
            b"." => Component::CurDir,
            b".." => Component::ParentDir,
            _ => Component::Normal(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(path: &[u8]) -> [Option<Component<'_>>; 4] {
        let mut it = PathName::new(path, LookupFlags::EMPTY)
            .unwrap()
            .components();
        [it.next(), it.next(), it.next(), it.next()]
    }

    #[test]
    fn length_limit_counts_the_terminating_nul() {
        let ok = [b'a'; PATH_MAX - 1];
        assert!(PathName::new(&ok, LookupFlags::empty()).is_ok());
        let long = [b'a'; PATH_MAX];
        assert_eq!(
            PathName::new(&long, LookupFlags::empty()),
            Err(Errno::ENAMETOOLONG)
        );
    }

    #[test]
    fn nul_and_empty_paths() {
        assert_eq!(
            PathName::new(b"a\0b", LookupFlags::empty()),
            Err(Errno::EINVAL)
        );
        assert_eq!(PathName::new(b"", LookupFlags::empty()), Err(Errno::ENOENT));
        let empty = PathName::new(b"", LookupFlags::EMPTY).unwrap();
        assert!(empty.is_empty() && !empty.is_absolute());
        assert_eq!(empty.components().next(), None);
    }

    #[test]
    fn splitting() {
        use Component::*;
        assert_eq!(
            components(b"a//b/"),
            [Some(Normal(b"a")), Some(Normal(b"b")), None, None]
        );
        assert_eq!(components(b"/"), [None, None, None, None]);
        assert_eq!(
            components(b"./.././..."),
            [
                Some(CurDir),
                Some(ParentDir),
                Some(CurDir),
                Some(Normal(b"..."))
            ]
        );
        assert_eq!(
            components(b".a/..b"),
            [Some(Normal(b".a")), Some(Normal(b"..b")), None, None]
        );
    }

    #[test]
    fn trailing_slash_rules() {
        let flags = LookupFlags::empty();
        for (path, trailing) in [
            (&b"a/"[..], true),
            (b"a//", true),
            (b"a/..//", true),
            (b"/", false),
            (b"//", false),
            (b"a", false),
            (b"a/.", false),
        ] {
            let p = PathName::new(path, flags).unwrap();
            assert_eq!(
                p.has_trailing_slash(),
                trailing,
                "{:?}",
                core::str::from_utf8(path)
            );
            assert_eq!(
                p.lookup_flags(flags)
                    .contains(LookupFlags::FOLLOW | LookupFlags::DIRECTORY),
                trailing
            );
        }
    }

    /// On pseudo-random byte strings over a small alphabet: `new` either fails with the error
    /// the rules predict or succeeds, and then the components, joined with single slashes,
    /// give back the path with its runs of slashes collapsed and its outer slashes removed.
    #[test]
    fn components_rebuild_the_path() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 12) as usize;
            let bytes: std::vec::Vec<u8> = (0..len)
                .map(|_| b"/./a.\0"[(next() % 6) as usize])
                .collect();
            let result = PathName::new(&bytes, LookupFlags::empty());
            if bytes.contains(&0) {
                assert_eq!(result, Err(Errno::EINVAL));
                continue;
            }
            if bytes.is_empty() {
                assert_eq!(result, Err(Errno::ENOENT));
                continue;
            }
            let path = result.unwrap();
            let mut rebuilt = std::vec::Vec::new();
            for c in path.components() {
                if !rebuilt.is_empty() {
                    rebuilt.push(b'/');
                }
                rebuilt.extend_from_slice(match c {
                    Component::CurDir => b".",
                    Component::ParentDir => b"..",
                    Component::Normal(name) => {
                        assert!(!name.is_empty() && !name.contains(&b'/'));
                        assert!(name != b"." && name != b"..");
                        name
                    }
                });
            }
            let expected: std::vec::Vec<&[u8]> = bytes
                .split(|&b| b == b'/')
                .filter(|part| !part.is_empty())
                .collect();
            assert_eq!(rebuilt, expected.join(&b'/'), "path {bytes:?}");
        }
    }

    #[test]
    fn has_more_tells_the_last_component() {
        let p = PathName::new(b"a/b//", LookupFlags::empty()).unwrap();
        let mut it = p.components();
        assert_eq!(it.next(), Some(Component::Normal(b"a")));
        assert!(it.has_more());
        assert_eq!(it.next(), Some(Component::Normal(b"b")));
        assert!(!it.has_more(), "trailing slashes are not a component");
        assert_eq!(it.next(), None);
    }
}
