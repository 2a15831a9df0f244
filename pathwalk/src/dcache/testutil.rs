//! What the unit tests of the reference namespace share: one RCU domain on the hosted
//! platform, and a namespace with few hash buckets, so that chains are long and lookups
//! meet other entries on them.

use rcu_core::hosted::Hosted;
use rcu_core::{Counter, Rcu};

use super::{Dcache, Stat};
use crate::Location;

/// The domain of every test namespace.
pub(super) type TestRcu = Counter<Hosted, { Hosted::MAX_CPUS }>;

/// The shared domain; its grace periods are driven by the tests' own `barrier` calls and
/// the namespace's write-side operations.
pub(super) static RCU: TestRcu = Counter::new();

/// A fresh namespace on [`RCU`] with 16 hash buckets.
pub(super) fn ns() -> (&'static TestRcu, Dcache<TestRcu>) {
    (&RCU, Dcache::with_buckets(&RCU, 16))
}

/// `stat` of a referenced location, which must be positive.
pub(super) fn stat_of(ns: &Dcache<TestRcu>, at: Location<'_, Dcache<TestRcu>>) -> Stat {
    ns.getattr(at).expect("a positive location")
}

/// What an RCU-mode lookup saw, with a found dentry's `d_seq` sample validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Seen {
    /// Found, of this kind.
    Found(crate::Kind),
    /// Known not to exist.
    Negative,
    /// Not in the cache.
    NotCached,
}

/// Looks `name` up in `dir` under RCU, as the engine would, in a quiet namespace.
pub(super) fn seen(ns: &Dcache<TestRcu>, dir: &super::Dentry, name: &[u8]) -> Seen {
    use crate::{Namespace, RcuLookup};
    let guard = RCU.read_lock();
    match ns.lookup_rcu(&guard, dir, name).expect("a valid lookup") {
        RcuLookup::Found(dentry, seq) => {
            let kind = ns.kind(dentry);
            assert!(!ns.d_seq(dentry).read_retry(seq), "quiet namespace");
            Seen::Found(kind)
        }
        RcuLookup::Negative => Seen::Negative,
        RcuLookup::NotCached => Seen::NotCached,
    }
}

impl<R: Rcu + 'static> Dcache<R> {
    /// Drops a dentry reference a test took (through the trait's `dget_not_dead` or a
    /// ref-mode method).
    pub(super) fn test_dput(&self, dentry: &super::Dentry) {
        // SAFETY: tests drop only references they took, once each, and use nothing obtained
        // through them afterwards.
        unsafe { crate::Namespace::dput(self, dentry) }
    }

    /// Drops a mount reference a test took.
    pub(super) fn test_mntput(&self, mount: &super::Mount) {
        // SAFETY: as in `test_dput`.
        unsafe { crate::Namespace::mntput(self, mount) }
    }
}
