//! An intrusive RCU hash-chain list, Linux's `hlist` with its `_rcu` operations
//! (include/linux/rculist.h).
//!
//! Each element embeds an [`HlistNode`]; a chain is an [`HlistHead`], one pointer wide, so a
//! hash table is an array of them. Readers walk `next` pointers under a read guard while
//! updaters, serialised by a lock of the caller's, add at the head and unlink anywhere. An
//! unlinked node keeps its `next` pointer, so a reader standing on it continues to the rest
//! of the chain; it must not be freed or reused before a grace period has elapsed.

use core::marker::PhantomData;
use core::ptr::{self, NonNull};

use crate::domain::ReadGuard;
use crate::sync::{AtomicPtr, Ordering};
use crate::Rcu;

/// The link embedded in an element of an RCU hash chain.
#[derive(Debug)]
pub struct HlistNode {
    /// The next node, or null. Readers load it with Acquire.
    next: AtomicPtr<HlistNode>,
    /// The word that points at this node (the head's `first` or the previous node's `next`),
    /// or null when unhashed. Only updaters touch it.
    pprev: AtomicPtr<AtomicPtr<HlistNode>>,
}

impl HlistNode {
    crate::sync::const_fn! {
        /// A node that is on no list.
        pub fn new() -> Self {
            Self { next: AtomicPtr::new(ptr::null_mut()), pprev: AtomicPtr::new(ptr::null_mut()) }
        }
    }

    /// Whether the node is on a list (Linux: `hlist_unhashed`, negated). Update side only.
    pub fn is_hashed(&self) -> bool {
        // Relaxed: updaters are serialised by the caller's lock.
        !self.pprev.load(Ordering::Relaxed).is_null()
    }
}

impl Default for HlistNode {
    fn default() -> Self {
        Self::new()
    }
}

/// Ties an element type to the [`HlistNode`] embedded in it.
///
/// Implement with [`impl_hlist_linked!`](crate::impl_hlist_linked).
///
/// # Safety
///
/// [`OFFSET`](Self::OFFSET) is the byte offset of an `HlistNode` field inside `Self`.
pub unsafe trait HlistLinked {
    /// Byte offset of the embedded node.
    const OFFSET: usize;
}

/// Implements [`HlistLinked`] for `$ty` with its node in field `$field`.
///
/// ```
/// use rcu_core::{impl_hlist_linked, HlistNode};
/// struct Dentry {
///     name_hash: u64,
///     hash: HlistNode,
/// }
/// impl_hlist_linked!(Dentry, hash);
/// ```
#[macro_export]
macro_rules! impl_hlist_linked {
    ($ty:ty, $field:ident) => {
        // SAFETY: `offset_of!` gives the offset of the named field, whose type is checked to
        // be `HlistNode` by the function below.
        unsafe impl $crate::HlistLinked for $ty {
            const OFFSET: usize = {
                const fn _field_is_an_hlist_node(e: &$ty) -> &$crate::HlistNode {
                    &e.$field
                }
                ::core::mem::offset_of!($ty, $field)
            };
        }
    };
}

/// The head of an RCU hash chain of `T`s.
#[derive(Debug)]
pub struct HlistHead<T: HlistLinked> {
    first: AtomicPtr<HlistNode>,
    _elements: PhantomData<*const T>,
}

// SAFETY: the head hands out `&T` to readers on any thread (`T: Sync`); elements are owned by
// the caller, not by the list.
unsafe impl<T: HlistLinked + Sync> Sync for HlistHead<T> {}
// SAFETY: as above.
unsafe impl<T: HlistLinked + Sync> Send for HlistHead<T> {}

impl<T: HlistLinked> HlistHead<T> {
    crate::sync::const_fn! {
        /// An empty chain.
        pub fn new() -> Self {
            Self { first: AtomicPtr::new(ptr::null_mut()), _elements: PhantomData }
        }
    }

    /// Whether the chain is empty (a snapshot).
    pub fn is_empty(&self) -> bool {
        self.first.load(Ordering::Relaxed).is_null()
    }

    /// Links `element` at the head of the chain (Linux: `hlist_add_head_rcu`).
    ///
    /// # Safety
    ///
    /// 1. Updaters of this chain are serialised by the caller.
    /// 2. `element` is valid, its node is on no list, and it stays valid and in place until
    ///    it has been removed with [`del_rcu`](Self::del_rcu) and a grace period of every
    ///    domain whose readers walk this chain has elapsed.
    pub unsafe fn add_head_rcu(&self, element: NonNull<T>) {
        let node = Self::node_of(element);
        // SAFETY: the element is valid (obligation 2).
        let n = unsafe { node.as_ref() };
        let first = self.first.load(Ordering::Relaxed);
        // The node is not visible yet: plain (Relaxed) initialisation suffices.
        n.next.store(first, Ordering::Relaxed);
        n.pprev
            .store(ptr::from_ref(&self.first).cast_mut(), Ordering::Relaxed);
        // Release pairs with the Acquire loads in `Iter::next`: readers that find the node see
        // its `next` (and the element) initialised.
        self.first.store(node.as_ptr(), Ordering::Release);
        if !first.is_null() {
            // SAFETY: `first` is on this chain, hence valid (obligation 2 of its insertion).
            unsafe {
                (*first)
                    .pprev
                    .store(ptr::from_ref(&n.next).cast_mut(), Ordering::Relaxed)
            };
        }
    }

    /// Unlinks `element` from this chain (Linux: `hlist_del_init_rcu`). Readers already on it still
    /// reach the rest of the chain; new readers do not find it.
    ///
    /// # Safety
    ///
    /// 1. Updaters of this chain are serialised by the caller.
    /// 2. `element` is on this chain.
    pub unsafe fn del_rcu(&self, element: NonNull<T>) {
        let node = Self::node_of(element);
        // SAFETY: the element is on the chain, hence valid.
        let n = unsafe { node.as_ref() };
        let pprev = n.pprev.load(Ordering::Relaxed);
        assert!(
            !pprev.is_null(),
            "rcu-core: hlist del_rcu of a node that is not on a list"
        );
        let next = n.next.load(Ordering::Relaxed);
        // Release pairs with the Acquire loads in `Iter::next` and `iter`: a reader that gets
        // `next` from this word also sees it initialised (its insertion happened before us).
        // SAFETY: `pprev` is the head's `first` or a `next` word of a node on the chain.
        unsafe { (*pprev).store(next, Ordering::Release) };
        if !next.is_null() {
            // SAFETY: `next` is on the chain.
            unsafe { (*next).pprev.store(pprev, Ordering::Relaxed) };
        }
        // Keep `next` for readers standing on the node; mark it unhashed.
        n.pprev.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// Walks the chain under a read guard (Linux: `hlist_for_each_entry_rcu`).
    pub fn iter<'g, D: Rcu>(&'g self, _guard: &'g ReadGuard<'_, D>) -> Iter<'g, T> {
        // Acquire pairs with the Release stores in `add_head_rcu` and `del_rcu`.
        Iter {
            next: self.first.load(Ordering::Acquire),
            _guard: PhantomData,
        }
    }

    fn node_of(element: NonNull<T>) -> NonNull<HlistNode> {
        // SAFETY: `OFFSET` is the offset of an `HlistNode` inside `T` (trait contract), so the
        // result is inside the element and non-null.
        unsafe { element.byte_add(T::OFFSET).cast() }
    }
}

impl<T: HlistLinked> Default for HlistHead<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Iterator over a chain, from [`HlistHead::iter`].
pub struct Iter<'g, T> {
    next: *mut HlistNode,
    _guard: PhantomData<&'g T>,
}

impl<'g, T: HlistLinked + 'g> Iterator for Iter<'g, T> {
    type Item = &'g T;

    #[inline]
    fn next(&mut self) -> Option<&'g T> {
        let node = NonNull::new(self.next)?;
        // SAFETY: a node reached from the head inside a read-side critical section stays valid
        // until the section ends (obligation 2 of `add_head_rcu`).
        let n = unsafe { node.as_ref() };
        // Acquire pairs with the Release stores in `add_head_rcu` and `del_rcu`.
        self.next = n.next.load(Ordering::Acquire);
        // SAFETY: the node sits at `OFFSET` inside a live `T`.
        Some(unsafe { node.byte_sub(T::OFFSET).cast::<T>().as_ref() })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::boxed::Box;
    use std::vec::Vec;

    use super::*;
    use crate::hosted::Hosted;
    use crate::Counter;

    struct Entry {
        key: u32,
        link: HlistNode,
    }
    crate::impl_hlist_linked!(Entry, link);

    type C = Counter<Hosted, { Hosted::MAX_CPUS }>;

    fn keys(rcu: &C, head: &HlistHead<Entry>) -> Vec<u32> {
        let guard = rcu.read_lock();
        head.iter(&guard).map(|e| e.key).collect()
    }

    /// Leaks `n` entries with keys `0..n` and links each at the head of `head`, in order.
    fn link_entries(head: &HlistHead<Entry>, n: u32) -> Vec<NonNull<Entry>> {
        let entries: Vec<NonNull<Entry>> = (0..n)
            .map(|key| {
                let entry = Box::new(Entry {
                    key,
                    link: HlistNode::new(),
                });
                NonNull::from(Box::leak(entry))
            })
            .collect();
        for e in &entries {
            // SAFETY: the tests update from one thread; entries stay leaked until
            // `free_entries`, after the tests' readers are gone.
            unsafe { head.add_head_rcu(*e) };
        }
        entries
    }

    /// Frees what `link_entries` leaked.
    ///
    /// # Safety
    ///
    /// No reader can reach the entries any more.
    unsafe fn free_entries(entries: Vec<NonNull<Entry>>) {
        for e in entries {
            // SAFETY: leaked boxes that no reader can reach (contract).
            drop(unsafe { Box::from_raw(e.as_ptr()) });
        }
    }

    /// Add at head, delete first, middle and last; iteration sees exactly the linked
    /// entries, newest first.
    #[test]
    fn add_delete_iterate() {
        let rcu = C::new();
        let head = HlistHead::<Entry>::new();
        assert!(head.is_empty());
        let entries = link_entries(&head, 5);
        assert_eq!(keys(&rcu, &head), [4, 3, 2, 1, 0]);
        // SAFETY: as above; each entry is on the chain when deleted.
        unsafe {
            head.del_rcu(entries[2]);
            assert_eq!(keys(&rcu, &head), [4, 3, 1, 0]);
            head.del_rcu(entries[4]);
            assert_eq!(keys(&rcu, &head), [3, 1, 0]);
            head.del_rcu(entries[0]);
            assert_eq!(keys(&rcu, &head), [3, 1]);
            assert!(!entries[0].as_ref().link.is_hashed());
            assert!(entries[1].as_ref().link.is_hashed());
        }
        rcu.synchronize();
        // SAFETY: a grace period has passed since the deletions, and no reader uses the list
        // any more.
        unsafe { free_entries(entries) };
    }

    /// A reader standing on a node that is then deleted still reaches the rest of the chain.
    #[test]
    fn reader_on_deleted_node_continues() {
        let rcu = C::new();
        let head = HlistHead::<Entry>::new();
        let entries = link_entries(&head, 3);
        let guard = rcu.read_lock();
        let mut it = head.iter(&guard);
        assert_eq!(it.next().map(|e| e.key), Some(2));
        let standing = it.next().unwrap();
        assert_eq!(standing.key, 1);
        // SAFETY: the entry is on the chain; it is freed only after the guard is gone.
        unsafe { head.del_rcu(entries[1]) };
        assert_eq!(it.next().map(|e| e.key), Some(0));
        assert!(it.next().is_none());
        drop(guard);
        rcu.synchronize();
        // SAFETY: no reader remains.
        unsafe { free_entries(entries) };
    }

    #[test]
    #[should_panic(expected = "del_rcu of a node that is not on a list")]
    fn deleting_an_unlinked_node_panics() {
        let head = HlistHead::<Entry>::new();
        let mut e = Entry {
            key: 0,
            link: HlistNode::new(),
        };
        // SAFETY: deliberately broken; the check fires before anything is written.
        unsafe { head.del_rcu(NonNull::from(&mut e)) };
    }
}
