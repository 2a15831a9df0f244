//! Interrupt control, an interrupt-disabling spin lock, and a spinning rendezvous for CPUs.

use core::cell::UnsafeCell;
use core::hint::spin_loop;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Disables interrupts on this CPU and says whether they were enabled (Linux:
/// `local_irq_save`).
#[inline]
pub fn irq_save() -> bool {
    let flags: u64;
    // SAFETY: reads RFLAGS and clears IF; touches no memory the compiler knows about. The
    // compiler may not move memory accesses across it (no `nomem`), which is what a critical
    // section needs.
    unsafe { core::arch::asm!("pushfq", "pop {}", "cli", out(reg) flags) };
    flags & (1 << 9) != 0
}

/// Re-enables interrupts if `enabled` (the value [`irq_save`] returned).
#[inline]
pub fn irq_restore(enabled: bool) {
    if enabled {
        // SAFETY: the caller's critical section is over; interrupts were on before it.
        unsafe { core::arch::asm!("sti") };
    }
}

/// Enables interrupts on this CPU.
pub fn irq_enable() {
    // SAFETY: the IDT is loaded and the handlers are ready before any CPU calls this.
    unsafe { core::arch::asm!("sti") };
}

/// A spin lock that keeps interrupts off on its CPU while held (Linux:
/// `spin_lock_irqsave`), so that an interrupt handler never spins on a lock the code it
/// interrupted holds. The heap and the serial port use it.
pub struct IrqSpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one holder at a time (see `lock`), so
// sharing the lock between CPUs shares `T` only by moving access, as a mutex does.
unsafe impl<T: Send> Sync for IrqSpinLock<T> {}

impl<T> IrqSpinLock<T> {
    /// An unlocked lock around `value`.
    pub const fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Disables interrupts and takes the lock.
    pub fn lock(&self) -> IrqSpinGuard<'_, T> {
        let irqs = irq_save();
        // Acquire pairs with the Release store in the guard's drop: the previous holder's
        // accesses happen before ours.
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        IrqSpinGuard { lock: self, irqs }
    }

    /// Takes the lock if it is free within `attempts` tries (the panic path, which must not
    /// wait forever on a lock its own CPU may hold).
    pub fn try_lock_for(&self, attempts: usize) -> Option<IrqSpinGuard<'_, T>> {
        let irqs = irq_save();
        for _ in 0..attempts {
            // Acquire: as in `lock`.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(IrqSpinGuard { lock: self, irqs });
            }
            spin_loop();
        }
        irq_restore(irqs);
        None
    }
}

/// Access to the value of an [`IrqSpinLock`]; unlocks and restores interrupts when dropped.
pub struct IrqSpinGuard<'a, T> {
    lock: &'a IrqSpinLock<T>,
    irqs: bool,
}

impl<T> Deref for IrqSpinGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard proves the lock is held, so no other reference to the value exists.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for IrqSpinGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow through the guard.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for IrqSpinGuard<'_, T> {
    fn drop(&mut self) {
        // Release pairs with the Acquire in `lock`.
        self.lock.locked.store(false, Ordering::Release);
        irq_restore(self.irqs);
    }
}

/// A reusable barrier for a fixed number of CPUs that spin (no sleeping: there is no
/// scheduler). Sense-reversing: the last CPU to arrive resets the count and bumps the
/// generation that the others wait on.
pub struct Rendezvous {
    arrived: AtomicUsize,
    generation: AtomicUsize,
}

impl Rendezvous {
    /// A barrier with nobody waiting.
    pub const fn new() -> Self {
        Self {
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
        }
    }

    /// Waits until `cpus` CPUs (this one included) have called `wait` for this round.
    /// Everything each CPU did before its call happens before everything any CPU does after
    /// its call returns.
    pub fn wait(&self, cpus: usize) {
        // Acquire pairs with the Release bump below from the previous round: our increment
        // comes after that round's reset of `arrived`.
        let generation = self.generation.load(Ordering::Acquire);
        // AcqRel: the arrivals form a release sequence that the last arriver acquires.
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == cpus {
            self.arrived.store(0, Ordering::Relaxed);
            // Release pairs with the Acquire loads of the waiters below (and of the next
            // round's first load): they see every arrival's prior accesses and the reset.
            self.generation.fetch_add(1, Ordering::Release);
        } else {
            // Acquire pairs with the Release bump of the last arriver.
            while self.generation.load(Ordering::Acquire) == generation {
                spin_loop();
            }
        }
    }
}
