//! [`WriterLock`]: how a [`SeqLock`](crate::SeqLock) or [`SeqLatch`](crate::SeqLatch)
//! serialises its writers.

/// A mutual-exclusion lock for writers.
///
/// The default is [`SpinLock`] (`spin::Mutex<()>`). A kernel whose data is also written from
/// interrupt context plugs in a lock that disables interrupts while held, so that an
/// interrupt handler never spins on a lock its own CPU holds:
///
/// ```
/// use core::sync::atomic::{AtomicBool, Ordering};
/// use seqlock::{SeqLock, WriterLock};
///
/// // Stand-ins for the kernel's interrupt control.
/// fn local_irq_save() -> bool { false }
/// fn local_irq_restore(_was_enabled: bool) {}
///
/// struct IrqSpinLock(AtomicBool);
///
/// struct IrqGuard<'a> {
///     lock: &'a IrqSpinLock,
///     irqs: bool,
/// }
///
/// impl Drop for IrqGuard<'_> {
///     fn drop(&mut self) {
///         self.lock.0.store(false, Ordering::Release);
///         local_irq_restore(self.irqs);
///     }
/// }
///
/// // SAFETY: `lock` returns only once the flag went from false to true, and the flag is
/// // cleared only when that guard drops: one holder at a time.
/// unsafe impl WriterLock for IrqSpinLock {
///     const INIT: Self = IrqSpinLock(AtomicBool::new(false));
///     type Guard<'a> = IrqGuard<'a>;
///     fn lock(&self) -> IrqGuard<'_> {
///         let irqs = local_irq_save();
///         let (unlocked, locked) = (false, true);
///         while self
///             .0
///             .compare_exchange_weak(unlocked, locked, Ordering::Acquire, Ordering::Relaxed)
///             .is_err()
///         {
///             core::hint::spin_loop();
///         }
///         IrqGuard { lock: self, irqs }
///     }
/// }
///
/// static TIME: SeqLock<u64, IrqSpinLock> = SeqLock::with_lock(0);
/// TIME.set(42);
/// assert_eq!(TIME.read(), 42);
/// ```
///
/// # Safety
///
/// While a guard returned by [`lock`](Self::lock) is alive, no other call to `lock` on the same
/// lock returns, and everything done before a guard is dropped happens before everything
/// done after the next `lock` returns. The sequence protocol relies on it: two writers inside
/// at once would let a reader accept a torn copy.
pub unsafe trait WriterLock: Sync {
    /// An unlocked lock (usable in `static`s).
    #[cfg(not(loom))]
    const INIT: Self;

    /// Proof of holding the lock; unlocks when dropped.
    type Guard<'a>
    where
        Self: 'a;

    /// An unlocked lock (loom's locks cannot be built in a constant).
    #[cfg(loom)]
    fn new() -> Self;

    /// Takes the lock, waiting as long as it takes.
    fn lock(&self) -> Self::Guard<'_>;
}

/// The default writer lock: a spinning mutex that does not touch interrupts.
#[cfg(not(loom))]
pub type SpinLock = spin::Mutex<()>;

/// Under loom, the default writer lock is loom's mutex, so that the model checker schedules
/// around it.
#[cfg(loom)]
pub type SpinLock = loom::sync::Mutex<()>;

#[cfg(not(loom))]
// SAFETY: `spin::Mutex` is a mutual-exclusion lock with Acquire on lock and Release on unlock.
unsafe impl WriterLock for spin::Mutex<()> {
    const INIT: Self = spin::Mutex::new(());
    type Guard<'a> = spin::MutexGuard<'a, ()>;

    #[inline]
    fn lock(&self) -> Self::Guard<'_> {
        spin::Mutex::lock(self)
    }
}

#[cfg(loom)]
// SAFETY: loom's mutex is a mutual-exclusion lock.
unsafe impl WriterLock for loom::sync::Mutex<()> {
    type Guard<'a> = loom::sync::MutexGuard<'a, ()>;

    fn new() -> Self {
        loom::sync::Mutex::new(())
    }

    fn lock(&self) -> Self::Guard<'_> {
        loom::sync::Mutex::lock(self).unwrap()
    }
}
