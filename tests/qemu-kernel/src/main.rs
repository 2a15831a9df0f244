//! A bare-metal x86-64 SMP test kernel for rcu-core, seqlock-core and pathwalk.
//!
//! Booted by QEMU (`-kernel`, PVH entry) on several virtual CPUs, it runs the same torture
//! workloads as the host tests, on every CPU at once, with a real per-CPU area, a real
//! preemption count, a periodic local APIC tick that reports QSBR quiescent states and runs
//! RCU callbacks, and interrupt handlers that read a `SeqLatch` while its writer runs. Each
//! workload prints its figures and a `PASS` or `FAIL` line on COM1; the kernel then leaves
//! QEMU through the `isa-debug-exit` device with the verdict (see [`exit`]).
//!
//! Start-up, in order:
//!
//! 1. [`boot`]: PVH entry, identity map, long mode, the bootstrap processor's stack.
//! 2. [`kernel_bsp_entry`]: serial port, per-CPU area (GS base), IDT, heap, local APIC,
//!    timer calibration, the CPUs from the ACPI MADT ([`acpi`]), the application processors
//!    through INIT-SIPI-SIPI ([`smp`]), each entering at [`kernel_ap_entry`].
//! 3. Every CPU, in [`cpu_main`]: comes online for RCU, starts its tick, enables interrupts
//!    and runs the workloads ([`work`]) in the same order as the others.
//! 4. The bootstrap processor prints the summary and exits with the verdict.
//!
//! `run.sh` next to this crate builds it and boots it.

#![no_std]
#![no_main]
#![warn(missing_docs)]
#![deny(
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks,
    clippy::missing_safety_doc
)]

extern crate alloc;

mod acpi;
mod apic;
mod barrier;
mod boot;
mod exit;
mod heap;
mod idt;
mod percpu;
mod platform;
mod port;
/// The host tests' xorshift64* generator, shared as source (it needs nothing beyond `core`).
#[path = "../../src/rng.rs"]
mod rng;
mod serial;
mod smp;
mod sync;
mod work;

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use exit::Verdict;

/// How many CPUs run the workloads; written by the bootstrap processor before it releases
/// the others through [`GO`].
static CPUS: AtomicUsize = AtomicUsize::new(1);

/// Set by the bootstrap processor once every CPU is up.
static GO: AtomicBool = AtomicBool::new(false);

/// The bootstrap processor's first Rust code, called by the entry code with the PVH
/// start-info address.
extern "C" fn kernel_bsp_entry(start_info: u32) -> ! {
    serial::init();
    kprintln!("qemu-kernel: booted through the PVH entry");

    // SAFETY: first thing on this CPU, interrupts off, index 0 is the BSP's.
    unsafe { percpu::init_this_cpu(0, apic::id()) };
    // SAFETY: once, on the BSP, before any CPU loads the IDT.
    unsafe { idt::init() };
    idt::load();
    // SAFETY: once, before the first allocation.
    unsafe { heap::init() };
    apic::disable_legacy_pic();
    apic::enable();
    apic::calibrate_timer();

    // SAFETY: `start_info` is what the PVH entry received; QEMU's firmware tables are intact.
    let cpus = unsafe { acpi::cpus(u64::from(start_info)) };
    kprintln!(
        "qemu-kernel: ACPI MADT lists {} CPUs (APIC ids {:?}){}; BSP is APIC id {}; \
         APIC timer {} counts per tick at {} Hz",
        cpus.count,
        &cpus.apic_ids[..cpus.count],
        if cpus.ignored > 0 {
            " and more beyond MAX_CPUS"
        } else {
            ""
        },
        apic::id(),
        apic::counts_per_tick(),
        apic::HZ
    );
    let started = smp::start_aps(&cpus);
    kprintln!("qemu-kernel: {started} CPUs online (INIT-SIPI-SIPI, trampoline at 0x8000)");

    // Relaxed store, then the Release store of GO, which the APs acquire.
    CPUS.store(started, Ordering::Relaxed);
    GO.store(true, Ordering::Release);
    let verdict = cpu_main();
    exit::exit(verdict);
}

/// An application processor's first Rust code, on the stack the BSP gave it.
extern "C" fn kernel_ap_entry() -> ! {
    // Relaxed: the start-up IPIs ordered the BSP's store before this AP's first instruction.
    let index = smp::NEXT_INDEX.load(Ordering::Relaxed);
    // SAFETY: first thing on this CPU, interrupts off; the BSP hands out each index once.
    unsafe { percpu::init_this_cpu(index, apic::id()) };
    idt::load();
    apic::enable();
    smp::ap_checked_in();

    // Acquire pairs with the BSP's Release store: CPUS is set.
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    cpu_main();
    // The BSP exits QEMU once every CPU is done; until then, halt with interrupts off.
    loop {
        // SAFETY: this CPU has nothing left to do.
        unsafe { core::arch::asm!("cli", "hlt") };
    }
}

/// What every CPU runs: RCU start-up, the tick, the workloads. Returns the verdict (only
/// the bootstrap processor's is used).
fn cpu_main() -> Verdict {
    let cpus = CPUS.load(Ordering::Relaxed);
    platform::cpu_start();
    apic::start_tick();
    sync::irq_enable();
    let verdict = work::run_all(percpu::cpu_index(), cpus);
    apic::stop_tick();
    platform::cpu_stop();
    verdict
}

/// Prints the panic on the serial port and exits QEMU with the failure status.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    sync::irq_save();
    serial::print_panic(format_args!(
        "\nFAIL: kernel panic on CPU {}: {}\n",
        percpu::cpu_index(),
        info
    ));
    exit::exit(Verdict::Fail);
}
