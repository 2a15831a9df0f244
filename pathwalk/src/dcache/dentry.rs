//! [`Dentry`]: a name in a directory, bound to an inode or negative, and the name allocation
//! that renames replace.
//!
//! Everything a reader may load under RCU while an updater changes it is an atomic: the
//! parent and name pointers, the inode pointer and its cached kind, the hash linkage, the
//! reference count and the knobs. Fields that never change after the dentry is published
//! (`sb`, `slot`, `shared`) are plain. Updaters change the atomics only with the namespace's
//! update lock held, and the ones the walk validates (parent, name, inode, hashed) only inside
//! a write section of the dentry's `d_seq`.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};

use alloc::boxed::Box;
use rcu_core::{HlistNode, RcuHead};
use seqlock::SeqCount;

use super::inode::Inode;
use super::Shared;
use crate::Kind;

/// The longest name a directory entry may have, in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A dentry: one name in one directory, bound to an inode (positive) or to nothing
/// (negative), as in Linux's `struct dentry`.
///
/// Dentries are created, renamed and removed by the write-side operations of
/// [`Dcache`](super::Dcache) and handed to the walk engine through the
/// [`Namespace`](crate::Namespace) trait; they are never built or owned by users.
///
/// # Invariants
///
/// - `parent` points to a live dentry (or to the dentry itself for the root of a tree): a
///   dentry counts in its parent's `children`, and a dentry with children is never killed.
/// - `name` points to a live name allocation that is replaced only by a rename, which frees
///   the old one after a grace period.
/// - While `count` is above zero (and not in its locked or dead state), `inode` does not
///   change from non-null to null or to another inode: a referenced dentry keeps its inode.
/// - `hashed` is true exactly while the dentry is on its hash chain, and goes from true to
///   false once, inside a `d_seq` write section.
/// - A dentry is killed (count dead) only when it is unhashed, has no children and no
///   references; it is freed a grace period later.
pub struct Dentry {
    /// The sequence counter the walk samples and validates (Linux `d_seq`).
    pub(super) d_seq: SeqCount,
    /// Linkage on the hash chain of (parent, name).
    pub(super) hash: HlistNode,
    /// The parent directory's dentry; the dentry itself at the root of a tree.
    pub(super) parent: AtomicPtr<Dentry>,
    /// The current name.
    pub(super) name: AtomicPtr<Name>,
    /// The inode, or null for a negative dentry.
    pub(super) inode: AtomicPtr<Inode>,
    /// The inode's kind ([`encode_kind`]), so that `kind` never dereferences the inode
    /// (Linux keeps the type in `d_flags` for the same reason).
    pub(super) kind: AtomicU8,
    /// References held outside the cache; see the table at [`DEAD`].
    pub(super) count: AtomicU32,
    /// Knobs: [`UNCACHED`], [`NEEDS_REVALIDATE`], [`STALE`].
    pub(super) flags: AtomicU32,
    /// Whether the dentry is on its hash chain (Linux: `!d_unhashed`).
    pub(super) hashed: AtomicBool,
    /// How many mounts are attached on this dentry (Linux `DCACHE_MOUNTED`, as a count).
    pub(super) mounted: AtomicU32,
    /// How many hashed children carry the [`UNCACHED`] knob: while non-zero, a miss in this
    /// directory is not proof that the name does not exist.
    pub(super) uncached_children: AtomicU32,
    /// How many live dentries (hashed or not) have this one as their parent.
    pub(super) children: AtomicU32,
    /// The tree ("superblock") the dentry belongs to; fixed at creation.
    pub(super) sb: u64,
    /// The dentry's index in the namespace's registry of live dentries; fixed at creation.
    pub(super) slot: usize,
    /// The namespace's live-object counters.
    pub(super) shared: NonNull<Shared>,
    /// The head its deferred free is queued with.
    pub(super) rcu: RcuHead,
}

rcu_core::impl_hlist_linked!(Dentry, hash);

// SAFETY: every field that is shared and mutable is an atomic (or the `SeqCount`,
// `HlistNode` and `RcuHead`, which are `Sync`); the plain fields never change after
// publication; `shared` points to atomics owned by the namespace, which outlives the dentry.
unsafe impl Sync for Dentry {}
// SAFETY: as above; a dentry holds nothing tied to a thread.
unsafe impl Send for Dentry {}

impl core::fmt::Debug for Dentry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dentry")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

// ---- the count word ----
//
// Linux's `lockref` packs a spinlock and a count into one word so that a reference can be
// taken with one compare-and-swap unless the dentry is locked or dead. Here the update lock
// is global, so only two states need to be visible to lock-free getters:
//
// | `count`          | meaning                                                          |
// |------------------|------------------------------------------------------------------|
// | `0..=MAX_REFS`   | live; that many references are held outside the cache            |
// | [`LOCKED`]       | being made negative by unlink/rmdir (update lock held): getters   |
// |                  | wait for the brief section to end                                 |
// | [`DEAD`]         | killed: unhashed and unreferenced, freed after a grace period;    |
// |                  | getters fail                                                      |

/// The count of a killed dentry or mount (Linux: `lockref_mark_dead`).
pub(super) const DEAD: u32 = u32::MAX;
/// The count while unlink or rmdir turns an unreferenced dentry negative.
pub(super) const LOCKED: u32 = u32::MAX - 1;
/// The most references a dentry or mount can hold; getters fail beyond it.
pub(super) const MAX_REFS: u32 = u32::MAX - 2;

// ---- knobs in `flags` ----
//
// | bit | name               | set by                  | effect                                  |
// |-----|--------------------|-------------------------|-----------------------------------------|
// | 0   | [`UNCACHED`]       | `set_uncached`          | invisible to `lookup_rcu`; the ref-mode |
// |     |                    |                         | lookup clears it (a "slow lookup")      |
// | 1   | [`NEEDS_REVALIDATE`] | `set_needs_revalidate` | `revalidate_rcu` answers `NeedRef`     |
// | 2   | [`STALE`]          | `set_stale`             | `revalidate_rcu` answers `NeedRef`; the |
// |     |                    |                         | ref-mode lookup fails with `ESTALE`     |
// |     |                    |                         | unless `REVAL`, which clears it         |

/// Not read in from the "backing store" yet: only a ref-mode lookup can find it.
pub(super) const UNCACHED: u32 = 1 << 0;
/// Must be revalidated in ref mode, like an NFS dentry.
pub(super) const NEEDS_REVALIDATE: u32 = 1 << 1;
/// Found stale by revalidation; a lookup without `REVAL` fails with `ESTALE`.
pub(super) const STALE: u32 = 1 << 2;

impl Dentry {
    /// A new dentry, unpublished: not hashed, no references, parent null (set by the caller
    /// before publication).
    pub(super) fn new(
        name: NonNull<Name>,
        inode: Option<NonNull<Inode>>,
        kind: Kind,
        sb: u64,
        slot: usize,
        shared: NonNull<Shared>,
    ) -> Self {
        Self {
            d_seq: SeqCount::new(),
            hash: HlistNode::new(),
            parent: AtomicPtr::new(core::ptr::null_mut()),
            name: AtomicPtr::new(name.as_ptr()),
            inode: AtomicPtr::new(inode.map_or(core::ptr::null_mut(), NonNull::as_ptr)),
            kind: AtomicU8::new(encode_kind(kind)),
            count: AtomicU32::new(0),
            flags: AtomicU32::new(0),
            hashed: AtomicBool::new(false),
            mounted: AtomicU32::new(0),
            uncached_children: AtomicU32::new(0),
            children: AtomicU32::new(0),
            sb,
            slot,
            shared,
            rcu: RcuHead::new(),
        }
    }

    /// What the dentry names (a snapshot; RCU readers validate it with `d_seq`).
    #[inline]
    pub(super) fn kind(&self) -> Kind {
        // Relaxed: `kind` changes only inside `d_seq` write sections, and callers that need
        // it consistent with other fields validate `d_seq` (RCU mode) or hold a reference,
        // which keeps a positive dentry's kind fixed.
        decode_kind(self.kind.load(Ordering::Relaxed))
    }

    /// Whether the dentry is bound to an inode (a snapshot).
    #[inline]
    pub(super) fn is_positive(&self) -> bool {
        self.kind() != Kind::Negative
    }

    /// Whether a knob is set (a snapshot).
    #[inline]
    pub(super) fn has_flag(&self, flag: u32) -> bool {
        // Relaxed: knobs are hints that order nothing else.
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    /// Sets or clears a knob.
    #[inline]
    pub(super) fn set_flag(&self, flag: u32, on: bool) {
        // Relaxed: as in `has_flag`.
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }
}

/// A dentry's name: an immutable allocation that a rename replaces as a whole, so that a
/// reader that loaded the old pointer keeps reading a complete, unchanging name until its
/// read-side section ends (Linux keeps short names inline and frees external ones with
/// RCU; here every name is external).
pub(super) struct Name {
    /// The bytes; never changed.
    pub(super) bytes: Box<[u8]>,
    /// The namespace's live-object counters.
    pub(super) shared: NonNull<Shared>,
    /// The head its deferred free is queued with.
    pub(super) rcu: RcuHead,
}

impl Name {
    /// Allocates a name holding a copy of `bytes` and counts it as live.
    pub(super) fn alloc(bytes: &[u8], shared: NonNull<Shared>) -> NonNull<Name> {
        // SAFETY: `shared` outlives every object of the namespace.
        unsafe { shared.as_ref() }.object_allocated();
        let name = Box::new(Name {
            bytes: bytes.into(),
            shared,
            rcu: RcuHead::new(),
        });
        NonNull::from(Box::leak(name))
    }
}

/// The hash of (parent, name) that places a dentry on a chain: [`name_hash`] of the name,
/// combined with the parent's address (only the address: no pointer is rebuilt from it).
///
/// The name's half does not depend on the parent, so a walk can compute it while it is
/// still loading the parent; what depends on the parent is one multiplication and a fold,
/// which keeps the hash short on the chain of loads from one step of a walk to the next.
#[inline]
pub(super) fn d_hash(parent: *const Dentry, name: &[u8]) -> u64 {
    let h = (name_hash(name) ^ parent as usize as u64).wrapping_mul(GOLDEN);
    // The bucket index takes the low bits, which a product takes from the low bits of its
    // factors only: fold the high half (which depends on every input bit) into them.
    h ^ (h >> 32)
}

/// 2^64 divided by the golden ratio, rounded to odd: the multiplier of Fibonacci hashing
/// (Knuth, TAOCP vol. 3, 6.4).
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A hash of a name, eight bytes at a time (Linux's `hash_name` also reads names a word at a
/// time): each full word is mixed in with a multiplication and a rotation, the tail as one
/// word ([`load_tail`]), and the length seeds it, which also tells apart tails that load
/// alike.
#[inline]
pub(super) fn name_hash(name: &[u8]) -> u64 {
    let mut h = name.len() as u64;
    let mut words = name.chunks_exact(8);
    for word in &mut words {
        h = (h ^ load_word(word)).wrapping_mul(GOLDEN).rotate_left(29);
    }
    mix64(h ^ load_tail(words.remainder()))
}

/// Eight bytes as a little-endian word.
#[inline(always)]
fn load_word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("a word is eight bytes"))
}

/// Up to seven bytes as one word that, for a given length, differs whenever the bytes do:
/// two overlapping loads cover them (bytes 0..4 and n-4..n for 4 to 7 bytes, 0..2 and n-2..n
/// for 2 or 3), so that a short tail costs a few loads rather than a loop over its bytes.
#[inline(always)]
fn load_tail(bytes: &[u8]) -> u64 {
    debug_assert!(bytes.len() < 8);
    let n = bytes.len();
    if n >= 4 {
        let low = u32::from_le_bytes(bytes[..4].try_into().expect("four bytes"));
        let high = u32::from_le_bytes(bytes[n - 4..].try_into().expect("four bytes"));
        u64::from(low) | u64::from(high) << 32
    } else if n >= 2 {
        let low = u16::from_le_bytes(bytes[..2].try_into().expect("two bytes"));
        let high = u16::from_le_bytes(bytes[n - 2..].try_into().expect("two bytes"));
        u64::from(low) | u64::from(high) << 16
    } else {
        bytes.first().map_or(0, |&byte| u64::from(byte))
    }
}

/// Whether two names are equal: a length check, then the bytes compared a word at a time
/// in line (names are short, and a call to `memcmp` costs more than comparing them).
#[inline]
pub(super) fn names_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut a_words, mut b_words) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut a_words).zip(&mut b_words) {
        if load_word(x) != load_word(y) {
            return false;
        }
    }
    load_tail(a_words.remainder()) == load_tail(b_words.remainder())
}

/// MurmurHash3's 64-bit finaliser.
#[inline]
pub(super) fn mix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The byte stored in [`Dentry::kind`] for `kind`.
pub(super) const fn encode_kind(kind: Kind) -> u8 {
    match kind {
        Kind::Negative => 0,
        Kind::Directory => 1,
        Kind::Symlink => 2,
        Kind::Regular => 3,
        Kind::Other => 4,
    }
}

/// The kind stored as `byte` by [`encode_kind`].
pub(super) const fn decode_kind(byte: u8) -> Kind {
    match byte {
        1 => Kind::Directory,
        2 => Kind::Symlink,
        3 => Kind::Regular,
        4 => Kind::Other,
        _ => Kind::Negative,
    }
}

/// Checks a name handed to a lookup: at most [`NAME_MAX`] bytes, and a real name (not
/// empty, `.` or `..`, no `/` or NUL), which the engine guarantees.
pub(super) fn check_lookup_name(name: &[u8]) -> Result<(), crate::Errno> {
    if name.len() > NAME_MAX {
        return Err(crate::Errno::ENAMETOOLONG);
    }
    // One pass over the name (names are short: a loop beats two `memchr` calls).
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0)
    {
        return Err(crate::Errno::EINVAL);
    }
    Ok(())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// The kind byte round-trips, and unknown bytes read as negative.
    #[test]
    fn kind_encoding_round_trips() {
        for kind in [
            Kind::Negative,
            Kind::Directory,
            Kind::Symlink,
            Kind::Regular,
            Kind::Other,
        ] {
            assert_eq!(decode_kind(encode_kind(kind)), kind);
        }
        assert_eq!(decode_kind(200), Kind::Negative);
    }

    /// The hash depends on both the parent and the name.
    #[test]
    fn hash_depends_on_parent_and_name() {
        let places = [0u64; 2];
        let a = core::ptr::from_ref(&places[0]).cast::<Dentry>();
        let b = core::ptr::from_ref(&places[1]).cast::<Dentry>();
        assert_ne!(d_hash(a, b"x"), d_hash(b, b"x"));
        assert_ne!(d_hash(a, b"x"), d_hash(a, b"y"));
        assert_eq!(d_hash(a, b"x"), d_hash(a, b"x"));
        // Names that differ only past a word, or by trailing zero bytes.
        assert_ne!(name_hash(b"abcdefgh1"), name_hash(b"abcdefgh2"));
        assert_ne!(name_hash(b"a"), name_hash(b"a\0"));
    }

    /// The word-at-a-time comparison agrees with slice equality on every length and on a
    /// difference at every position.
    #[test]
    fn names_equal_compares_every_byte() {
        let base: [u8; 20] = core::array::from_fn(|i| b'a' + i as u8);
        for len in 0..=base.len() {
            let name = &base[..len];
            assert!(names_equal(name, name));
            if len > 0 {
                assert!(
                    !names_equal(name, &base[..len - 1]),
                    "a prefix is not equal"
                );
            }
            for at in 0..len {
                let mut other = base;
                other[at] ^= 0x20;
                assert!(
                    !names_equal(name, &other[..len]),
                    "len {len}, differs at {at}"
                );
            }
        }
    }

    /// Lookup names: length limit first, then the names the engine never passes.
    #[test]
    fn lookup_names_are_checked() {
        use crate::Errno;
        assert_eq!(check_lookup_name(&[b'a'; NAME_MAX]), Ok(()));
        assert_eq!(
            check_lookup_name(&[b'a'; NAME_MAX + 1]),
            Err(Errno::ENAMETOOLONG)
        );
        for bad in [&b""[..], b".", b"..", b"a/b", b"a\0b"] {
            assert_eq!(check_lookup_name(bad), Err(Errno::EINVAL), "{bad:?}");
        }
    }
}
