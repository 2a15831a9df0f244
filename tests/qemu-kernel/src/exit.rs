//! Leaving QEMU with a verdict, through the `isa-debug-exit` device
//! (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
//!
//! Writing a value `v` to the device's port makes QEMU exit with status `(v << 1) | 1`, so
//! the status is always odd and never collides with QEMU's own 0 (clean shutdown, or a triple
//! fault under `-no-reboot`) or 1 (QEMU error):
//!
//! | verdict | value written | QEMU exit status |
//! |---|---|---|
//! | pass | `0x10` | 33 |
//! | fail (a check failed, a panic, an unexpected exception) | `0x11` | 35 |

use crate::port::outb;

/// The device's I/O port.
const DEBUG_EXIT_PORT: u16 = 0xF4;

/// What the run concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Verdict {
    /// Every workload passed.
    Pass = 0x10,
    /// Something failed.
    Fail = 0x11,
}

/// Exits QEMU with `verdict`; halts forever if the device is missing.
pub fn exit(verdict: Verdict) -> ! {
    // SAFETY: the debug-exit device's port; writing it ends the virtual machine.
    unsafe { outb(DEBUG_EXIT_PORT, verdict as u8) };
    loop {
        // SAFETY: interrupts off, then halt: this CPU stops for good.
        unsafe { core::arch::asm!("cli", "hlt") };
    }
}
