//! Starting the application processors: the INIT-SIPI-SIPI sequence of Intel SDM Vol. 3A,
//! "Multiple-Processor (MP) Initialization" (the MP initialization protocol and its "typical
//! BSP initialization sequence"): an INIT IPI, a 10 ms wait, a start-up IPI whose vector is
//! the page number of the real-mode entry point, a 200 us wait, and a second start-up IPI.
//! (Processors that took the first SIPI ignore the second.)
//!
//! The CPUs come from the ACPI MADT (see [`crate::acpi`]). The BSP starts them one at a time:
//! it leaves the stack top for the next AP in [`AP_BOOT_STACK`] and the index in
//! [`NEXT_INDEX`], sends the sequence, and waits until the AP has counted itself in
//! [`ONLINE`] (after which it no longer needs either), so each AP knows its index and stack
//! without a guess.

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::acpi::Cpus;
use crate::apic;
use crate::boot::{ap_trampoline_end, ap_trampoline_start, AP_BOOT_STACK, AP_TRAMPOLINE};
use crate::percpu::AP_STACKS;

/// CPUs running kernel code (the BSP included).
pub static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// The index the AP being started takes.
pub static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);

/// Copies the trampoline below 1 MiB and starts every CPU of `cpus` other than this one.
/// Returns how many CPUs run kernel code afterwards.
///
/// # Panics
///
/// If an AP does not check in: the start-up sequence is deterministic under QEMU, so a
/// missing CPU is a bug of this kernel.
pub fn start_aps(cpus: &Cpus) -> usize {
    // SAFETY: the trampoline's bytes are part of the kernel image; the destination page is
    // conventional memory below 1 MiB that nothing else uses, identity-mapped and writable.
    unsafe {
        let start = core::ptr::addr_of!(ap_trampoline_start);
        let end = core::ptr::addr_of!(ap_trampoline_end);
        let len = end as usize - start as usize;
        assert!(len <= 4096, "the AP trampoline must fit its page");
        core::ptr::copy_nonoverlapping(start, AP_TRAMPOLINE as *mut u8, len);
    }

    let bsp = apic::id();
    let mut index = 1;
    for &apic_id in &cpus.apic_ids[..cpus.count] {
        if apic_id == bsp {
            continue;
        }
        // Relaxed: the IPIs that follow order these stores before the AP runs.
        AP_BOOT_STACK.store(AP_STACKS[index].top(), Ordering::Relaxed);
        NEXT_INDEX.store(index, Ordering::Relaxed);
        // A full fence: the stores above are globally visible before the INIT IPI (an MMIO
        // write) wakes the AP.
        core::sync::atomic::fence(Ordering::SeqCst);

        apic::send_init(apic_id);
        apic::pit_delay_us(10_000);
        apic::send_startup(apic_id, (AP_TRAMPOLINE >> 12) as u8);
        apic::pit_delay_us(200);
        apic::send_startup(apic_id, (AP_TRAMPOLINE >> 12) as u8);

        // Acquire pairs with the AP's Release increment: it has left the boot variables.
        let mut waited = 0u32;
        while ONLINE.load(Ordering::Acquire) != index + 1 {
            waited += 1;
            assert!(waited < 200, "CPU with APIC id {apic_id} did not start");
            apic::pit_delay_us(10_000);
        }
        index += 1;
    }
    index
}

/// Called by each AP once it runs Rust code on its own stack with its per-CPU area set up.
pub fn ap_checked_in() {
    // Release pairs with the BSP's Acquire load: this AP is done with the boot variables.
    ONLINE.fetch_add(1, Ordering::Release);
}
