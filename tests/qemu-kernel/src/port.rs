//! x86 I/O port access.

/// Writes a byte to an I/O port.
///
/// # Safety
///
/// Writing `value` to `port` must not break memory safety: the port belongs to a device
/// this kernel drives (serial, PIT, QEMU's exit device), not to something that can DMA or
/// remap memory.
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller; `out` touches no memory.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack))
    };
}

/// Reads a byte from an I/O port.
///
/// # Safety
///
/// As [`outb`]: reading `port` has no effect on memory safety.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: forwarded to the caller; `in` touches no memory.
    unsafe {
        core::arch::asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack))
    };
    value
}
