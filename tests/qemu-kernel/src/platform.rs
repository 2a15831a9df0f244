//! rcu-core's [`Platform`] for this kernel, the kernel's RCU domains, and the tick.
//!
//! | hook | here | in a kernel with a scheduler |
//! |---|---|---|
//! | `Platform::cpu_id` | `gs:[8]`, the CPU index in the per-CPU area | `smp_processor_id()` / `this_cpu_read(cpu_number)` |
//! | `preempt_disable`/`enable` | the per-CPU `preempt_count` plus a compiler fence | the scheduler's preemption count |
//! | `relax` | `pause` | `pause` first, then `schedule()` or `cond_resched()` |
//! | quiescent state | [`tick`], when the interrupted code had preemption enabled; the workloads between their sections | every context switch, the tick from user mode or idle |
//! | `process_callbacks` | [`tick`], under the same condition | the RCU softirq or a kthread |
//! | `online` / `offline` | each CPU comes online for [`QSBR`] before its first workload and goes offline after its last | CPU hotplug, idle entry and exit |
//!
//! [`Kernel`] has no heavy barrier (`HAS_HEAVY_BARRIER` is false): the counter flavor's
//! readers pay their fence. [`KernelIpi`] is the same platform with the IPI barrier of
//! [`crate::barrier`], so that the readers of [`COUNTER_IPI`] run without a fence.

use core::sync::atomic::Ordering;

use rcu_core::{Counter, Platform, Qsbr, Rcu};

use crate::percpu::{self, MAX_CPUS};

/// This kernel, as rcu-core sees it.
pub struct Kernel;

// SAFETY:
// 1. `cpu_id` is the index the CPU claimed in `percpu::init_this_cpu`, below MAX_CPUS, unique
//    to that CPU and fixed for its life; code never migrates between CPUs here (there is no
//    scheduler), so it is stable with or without preemption disabled, and only handlers
//    nested on the same CPU share it.
// 2. `preempt_disable`/`preempt_enable` count (see `percpu`).
// 3. There is no heavy barrier.
unsafe impl Platform for Kernel {
    const MAX_CPUS: usize = MAX_CPUS;

    #[inline(always)]
    fn cpu_id() -> usize {
        percpu::cpu_index()
    }

    #[inline(always)]
    fn preempt_disable() {
        percpu::preempt_disable();
    }

    #[inline(always)]
    fn preempt_enable() {
        percpu::preempt_enable();
    }

    #[inline]
    fn relax(_attempt: u32) {
        core::hint::spin_loop();
    }
}

/// [`Kernel`] with a heavy barrier: an IPI to every other CPU, acknowledged after a full
/// fence ([`crate::barrier`]).
pub struct KernelIpi;

// SAFETY:
// 1. and 2. as for `Kernel`, whose functions these are.
// 3. `barrier::request` returns only after every CPU that may run a reader (every CPU between
//    `cpu_start`, which joins the barrier, and `cpu_stop`, which leaves it after its last
//    reader) has executed `fence(SeqCst)` after the request began, from the IPI handler or
//    from its own wait; the caller's CPU fences itself before and after.
unsafe impl Platform for KernelIpi {
    const MAX_CPUS: usize = MAX_CPUS;
    const HAS_HEAVY_BARRIER: bool = true;

    #[inline(always)]
    fn cpu_id() -> usize {
        Kernel::cpu_id()
    }

    #[inline(always)]
    fn preempt_disable() {
        Kernel::preempt_disable();
    }

    #[inline(always)]
    fn preempt_enable() {
        Kernel::preempt_enable();
    }

    #[inline]
    fn relax(attempt: u32) {
        Kernel::relax(attempt);
    }

    fn heavy_barrier() {
        crate::barrier::request();
    }
}

/// The kernel's QSBR domain (Linux's `rcu_sched`).
///
/// Every CPU comes online for it before it runs a workload and stays online.
pub static QSBR: Qsbr<Kernel, MAX_CPUS> = {
    // SAFETY:
    // 1. Each CPU calls `QSBR.online()` in `cpu_start` before any workload, and goes offline
    //    in the torture's idle periods, outside its sections, coming back online before it
    //    reads again, and in `cpu_stop` after its last workload, reading nothing afterwards.
    // 2. Quiescent states are reported by `tick` only when the interrupted code had
    //    preemption enabled, which a QSBR read-side section never has (its guard keeps
    //    preemption disabled, and every reference read under it borrows from the guard);
    //    the workloads report them, and call `synchronize`, `barrier` and
    //    `process_callbacks`, only between their sections.
    // 3. Every online CPU takes the tick, with interrupts enabled, for the whole run.
    unsafe { Qsbr::new() }
};

/// The kernel's counter-flavor domain (self-contained; the tick only runs its callbacks).
pub static COUNTER: Counter<Kernel, MAX_CPUS> = Counter::new();

/// A counter-flavor domain whose readers use no fence: its grace periods pay with the IPI
/// barrier instead.
pub static COUNTER_IPI: Counter<KernelIpi, MAX_CPUS> = Counter::new();

/// What every CPU does for RCU before its first workload (Linux: `rcu_cpu_starting`).
pub fn cpu_start() {
    crate::barrier::join();
    QSBR.online();
}

/// What every CPU does for RCU after its last workload, before it halts with interrupts off
/// (Linux: `rcu_report_dead`): a halted CPU reports nothing, so it must not hold QSBR grace
/// periods up.
pub fn cpu_stop() {
    // SAFETY: called between workloads, outside every read-side section, and this CPU reads
    // nothing afterwards.
    unsafe { QSBR.offline() };
    crate::barrier::leave();
}

/// The periodic tick, run with interrupts off by the timer interrupt.
///
/// If the interrupted code had preemption enabled, it was outside every read-side section:
/// the tick reports a QSBR quiescent state for this CPU and runs the ready callbacks of every
/// domain, as Linux's scheduler tick does for `rcu_sched` and its RCU softirq does on the
/// way out of the interrupt. Otherwise it leaves both for a later tick. Then it hands the
/// tick to the running workload's own hook, and acknowledges the interrupt.
pub fn tick() {
    let cpu = percpu::this_cpu();
    // Relaxed: counters of this CPU, read by this CPU or after a rendezvous.
    cpu.ticks.fetch_add(1, Ordering::Relaxed);
    let preemptible = cpu.preempt_count.load(Ordering::Relaxed) == 0;

    if preemptible {
        // SAFETY: preemption was enabled in the interrupted code, so it was outside every
        // QSBR read-side section (see `QSBR`), and nothing it read in one is in use.
        unsafe { QSBR.quiescent_state() };
        cpu.tick_quiescent.fetch_add(1, Ordering::Relaxed);
        let ran = QSBR.process_callbacks()
            + COUNTER.process_callbacks()
            + COUNTER_IPI.process_callbacks();
        cpu.tick_callbacks.fetch_add(ran as u64, Ordering::Relaxed);
    }

    crate::work::tick_hook();
    crate::apic::eoi();
}

/// Prints every CPU's tick figures and the heavy barrier's (CPU 0, after the workloads).
pub fn report_ticks(cpus: usize) {
    let (sent, by_ipi, while_waiting) = crate::barrier::counts();
    crate::kprintln!(
        "qemu-kernel: heavy barrier: {sent} requests, {by_ipi} barrier IPIs handled, \
         {while_waiting} requests served by CPUs waiting for their own"
    );
    for index in 0..cpus {
        let cpu = percpu::of(index);
        // Relaxed: statistics; the workloads' closing rendezvous ordered them.
        crate::kprintln!(
            "qemu-kernel: CPU {index} (APIC id {}): {} ticks, {} with preemption enabled \
             (quiescent state reported, callbacks processed), {} callbacks run from the tick",
            cpu.apic_id,
            cpu.ticks.load(Ordering::Relaxed),
            cpu.tick_quiescent.load(Ordering::Relaxed),
            cpu.tick_callbacks.load(Ordering::Relaxed)
        );
    }
}
