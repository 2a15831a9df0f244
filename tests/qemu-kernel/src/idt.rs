//! The interrupt descriptor table: every exception ends the run with a FAIL, the timer
//! vector runs the tick, the barrier vector serves heavy-barrier IPIs, the spurious vectors
//! do nothing.
//!
//! The entry stubs are assembly: stable Rust has no interrupt calling convention. The tick's
//! and the barrier's stubs save the caller-saved registers (the Rust function it calls saves the others) and
//! returns with `iretq`; the target has no SSE or x87 code (`x86_64-unknown-none` is
//! soft-float) and no red zone, so nothing else needs saving and the handler can run on the
//! interrupted stack. Gate layout: Intel SDM Vol. 3A, "Interrupt and Exception Handling",
//! "64-Bit Mode IDT".

use core::cell::UnsafeCell;

use crate::apic::{BARRIER_VECTOR, PIC_VECTOR_BASE, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::boot::KERNEL_CS;

/// One 16-byte interrupt gate.
#[derive(Clone, Copy)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

impl Gate {
    const MISSING: Self = Self {
        offset_low: 0,
        selector: 0,
        ist: 0,
        type_attr: 0,
        offset_mid: 0,
        offset_high: 0,
        reserved: 0,
    };

    /// A present, ring-0 interrupt gate (interrupts stay off in the handler) to `handler`.
    fn interrupt(handler: u64) -> Self {
        Self {
            offset_low: handler as u16,
            selector: KERNEL_CS,
            ist: 0,
            type_attr: 0x8E,
            offset_mid: (handler >> 16) as u16,
            offset_high: (handler >> 32) as u32,
            reserved: 0,
        }
    }
}

/// The table, shared by every CPU.
#[repr(C, align(16))]
struct Idt(UnsafeCell<[Gate; 256]>);

// SAFETY: written only by `init` on the bootstrap processor before any CPU loads it; read
// only by the CPUs' interrupt logic afterwards.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([Gate::MISSING; 256]));

extern "C" {
    /// The first of 32 exception stubs, each 16 bytes long (see the assembly below).
    static exception_stubs: u8;
    fn timer_stub();
    fn barrier_stub();
    fn spurious_stub();
}

/// Fills the table.
///
/// # Safety
///
/// Called once, on the bootstrap processor, before any CPU calls [`load`].
pub unsafe fn init() {
    // SAFETY: by the contract nobody reads the table yet.
    let gates = unsafe { &mut *IDT.0.get() };
    let stubs = core::ptr::addr_of!(exception_stubs) as u64;
    for (vector, gate) in gates.iter_mut().enumerate().take(32) {
        *gate = Gate::interrupt(stubs + 16 * vector as u64);
    }
    gates[usize::from(TIMER_VECTOR)] = Gate::interrupt(timer_stub as *const () as u64);
    gates[usize::from(BARRIER_VECTOR)] = Gate::interrupt(barrier_stub as *const () as u64);
    gates[usize::from(SPURIOUS_VECTOR)] = Gate::interrupt(spurious_stub as *const () as u64);
    // The masked legacy PICs' spurious IRQs 7 and 15.
    for irq in [7, 15] {
        gates[usize::from(PIC_VECTOR_BASE) + irq] =
            Gate::interrupt(spurious_stub as *const () as u64);
    }
}

/// Loads the table on this CPU.
pub fn load() {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<[Gate; 256]>() - 1) as u16,
        base: IDT.0.get() as u64,
    };
    // SAFETY: the table is static and was filled by `init` (the bootstrap processor calls
    // `init` before it starts the other CPUs, which call this).
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack)) };
}

/// What the exception stubs push, from the last pushed register up to the CPU's frame.
#[repr(C)]
struct ExceptionFrame {
    registers: [u64; 15],
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    ss: u64,
}

/// The barrier IPI's Rust half.
extern "C" fn barrier_handler() {
    crate::barrier::handle_ipi();
}

/// Every exception is a failure of the run: print what and where, and exit with FAIL.
extern "C" fn exception_handler(frame: &ExceptionFrame) -> ! {
    let cr2: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    crate::serial::print_panic(format_args!(
        "\nFAIL: CPU {} exception {} (error code {:#x}) at rip {:#x}, rsp {:#x}, cr2 {:#x}\n",
        crate::percpu::cpu_index(),
        frame.vector,
        frame.error_code,
        frame.rip,
        frame.rsp,
        cr2
    ));
    crate::exit::exit(crate::exit::Verdict::Fail);
}

/// The tick's Rust half.
extern "C" fn timer_handler() {
    crate::platform::tick();
}

// Exceptions 8, 10-14, 17, 21, 29 and 30 push an error code; the others get a 0 pushed in
// its place, so that every frame looks the same.
core::arch::global_asm!(
    r#"
    .section .text.interrupts, "ax"
    .code64
    .balign 16
    .global exception_stubs
exception_stubs:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .balign 16
    .if (\n == 8) || (\n == 10) || (\n == 11) || (\n == 12) || (\n == 13) || (\n == 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    .else
    push $0
    .endif
    push $\n
    jmp exception_common
    .endr

exception_common:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rdi
    call {exception}
    ud2

    # An interrupt stub that saves the caller-saved registers around a call to a Rust
    # handler (which saves the others) and returns with iretq.
    .macro interrupt_stub name, handler
    .global \name
\name:
    push %rax
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %r8
    push %r9
    push %r10
    push %r11
    cld
    call \handler
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rax
    iretq
    .endm

    interrupt_stub timer_stub, {timer}
    interrupt_stub barrier_stub, {barrier}

    .global spurious_stub
spurious_stub:
    iretq
    "#,
    exception = sym exception_handler,
    timer = sym timer_handler,
    barrier = sym barrier_handler,
    options(att_syntax)
);
