//! Per-CPU data, reached through the GS segment base.
//!
//! Each CPU's [`PerCpu`] area lives in [`AREAS`], but no code indexes that array by a guess
//! of who it is: at start-up every CPU writes the address of its own area into the
//! `IA32_GS_BASE` MSR (`0xC000_0101`, Intel SDM Vol. 3A, "Segment Loading Instructions
//! in IA-32e Mode"), and from then on `gs:[offset]` is a field of *this* CPU's area, as
//! Linux's `this_cpu_read` is. The area's first word points to itself, so that a reference to
//! the whole area costs one `mov` from `gs:0`.
//!
//! The fields other CPUs never touch are still atomics: an interrupt handler on the same CPU
//! reads them (the tick reads the preemption count of the code it interrupted), and the
//! atomics make those accesses defined without `unsafe`.

use core::cell::UnsafeCell;
use core::sync::atomic::{compiler_fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::boot::STACK_SIZE;

/// How many CPUs the kernel supports (and the size of the RCU domains' slot arrays).
pub const MAX_CPUS: usize = 8;

/// One CPU's private data.
#[repr(C)]
pub struct PerCpu {
    /// The address of this area (read through `gs:0`).
    self_ptr: *const PerCpu,
    /// Dense CPU index, 0 for the bootstrap processor (read through `gs:8`).
    index: usize,
    /// The local APIC id.
    pub apic_id: u32,
    /// Preemption depth (Linux: `preempt_count`): non-zero inside RCU read-side sections and
    /// anywhere preemption is off. The tick skips its quiescent-state report and callback
    /// processing when the code it interrupted had it non-zero.
    pub preempt_count: AtomicU32,
    /// Timer interrupts taken.
    pub ticks: AtomicU64,
    /// Ticks that found preemption enabled and reported a quiescent state.
    pub tick_quiescent: AtomicU64,
    /// Callbacks the tick ran.
    pub tick_callbacks: AtomicU64,
    /// Whether heavy-barrier requesters wait for this CPU (see [`crate::barrier`]).
    pub barrier_member: AtomicBool,
    /// The newest heavy-barrier request this CPU has served with a full fence.
    pub barrier_served: AtomicU64,
}

// SAFETY: `self_ptr` is the area's own address, which never changes; every other field is
// atomic or written only before the area is published.
unsafe impl Sync for PerCpu {}

/// Offset of [`PerCpu::index`] in the area.
const INDEX_OFFSET: usize = core::mem::offset_of!(PerCpu, index);

/// The storage of every CPU's area. Each CPU reaches its own through GS only.
static AREAS: [PerCpuSlot; MAX_CPUS] = [const { PerCpuSlot::new() }; MAX_CPUS];

/// An area before its CPU claims it.
struct PerCpuSlot(UnsafeCell<PerCpu>);

// SAFETY: a slot is written once, by the CPU that claims it in `init_this_cpu` before it
// loads GS with it; afterwards only through `&PerCpu`, whose mutable fields are atomic.
unsafe impl Sync for PerCpuSlot {}

impl PerCpuSlot {
    const fn new() -> Self {
        Self(UnsafeCell::new(PerCpu {
            self_ptr: core::ptr::null(),
            index: 0,
            apic_id: 0,
            preempt_count: AtomicU32::new(0),
            ticks: AtomicU64::new(0),
            tick_quiescent: AtomicU64::new(0),
            tick_callbacks: AtomicU64::new(0),
            barrier_member: AtomicBool::new(false),
            barrier_served: AtomicU64::new(0),
        }))
    }
}

/// A CPU stack, 16-byte aligned.
#[repr(C, align(16))]
pub struct Stack(UnsafeCell<[u8; STACK_SIZE]>);

// SAFETY: each stack is used by exactly one CPU, as its stack; Rust code never forms
// references to the bytes.
unsafe impl Sync for Stack {}

impl Stack {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; STACK_SIZE]))
    }

    /// The initial stack pointer (one past the top).
    pub fn top(&self) -> u64 {
        self.0.get() as u64 + STACK_SIZE as u64
    }
}

/// The bootstrap processor's stack (the entry code points RSP at its top).
pub static BSP_STACK: Stack = Stack::new();

/// The application processors' stacks, by CPU index (index 0 unused).
pub static AP_STACKS: [Stack; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];

/// Claims area `index` for the calling CPU and points its GS base at it.
///
/// # Safety
///
/// 1. Called once per CPU, before anything reads per-CPU data on it, with interrupts off.
/// 2. `index` is below [`MAX_CPUS`] and no other CPU claims the same index.
pub unsafe fn init_this_cpu(index: usize, apic_id: u32) {
    let slot = &AREAS[index];
    let area = slot.0.get();
    // SAFETY: by obligation 2 this CPU is the only one touching the slot, and by 1 nothing
    // holds a reference to it yet.
    unsafe {
        (*area).self_ptr = area;
        (*area).index = index;
        (*area).apic_id = apic_id;
    }
    let address = area as u64;
    // SAFETY: IA32_GS_BASE takes any canonical address; the area is static, so GS stays
    // valid forever. GS is not used by compiled code for anything else on this target.
    unsafe {
        core::arch::asm!(
            "wrmsr",
            in("ecx") 0xC000_0101u32,
            in("eax") address as u32,
            in("edx") (address >> 32) as u32,
            options(nostack)
        );
    }
}

/// CPU `index`'s area, for reports that sum every CPU's counters (Linux: `per_cpu(var,
/// cpu)`); code that works on its own CPU uses [`this_cpu`].
pub fn of(index: usize) -> &'static PerCpu {
    // SAFETY: the slot is written only by its CPU's `init_this_cpu`, before that CPU runs
    // anything that the caller could be reporting on; afterwards it is read-only apart from
    // its atomic fields. A slot never claimed stays as `PerCpuSlot::new` built it.
    unsafe { &*AREAS[index].0.get() }
}

/// This CPU's area.
#[inline(always)]
pub fn this_cpu() -> &'static PerCpu {
    let area: *const PerCpu;
    // SAFETY: `init_this_cpu` ran on this CPU before any Rust code that calls this (it is the
    // first thing each CPU does), so `gs:0` holds the area's address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) area, options(nostack, readonly, preserves_flags))
    };
    // SAFETY: the area is a static, initialised by `init_this_cpu`.
    unsafe { &*area }
}

/// This CPU's index: one load through GS.
#[inline(always)]
pub fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: as in `this_cpu`; `gs:INDEX_OFFSET` is this CPU's `index`, written once before
    // GS was loaded.
    unsafe {
        core::arch::asm!(
            "mov {}, gs:[{offset}]",
            out(reg) index,
            offset = const INDEX_OFFSET,
            options(nostack, readonly, preserves_flags)
        )
    };
    index
}

/// Disables preemption on this CPU (nests). The compiler fence keeps the section's accesses
/// after the increment, as seen by an interrupt handler on this CPU.
#[inline(always)]
pub fn preempt_disable() {
    this_cpu().preempt_count.fetch_add(1, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

/// Undoes one [`preempt_disable`]. The compiler fence keeps the section's accesses before the
/// decrement.
#[inline(always)]
pub fn preempt_enable() {
    compiler_fence(Ordering::SeqCst);
    let before = this_cpu().preempt_count.fetch_sub(1, Ordering::Relaxed);
    debug_assert!(before != 0, "preempt_enable without preempt_disable");
}
