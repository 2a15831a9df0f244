//! From QEMU's `-kernel` to Rust: the PVH entry, long mode, the identity map, and the
//! real-mode trampoline that brings application processors up the same way.
//!
//! # The boot path
//!
//! QEMU loads this ELF at its physical addresses and, finding the `XEN_ELFNOTE_PHYS32_ENTRY`
//! note, enters [`pvh_start32`](self) the way the PVH boot ABI says (Xen's
//! `docs/misc/pvh.pandoc`, "x86/HVM direct boot ABI"): 32-bit protected mode with paging off,
//! flat 4 GiB segments, interrupts off, `ebx` holding the physical address of the
//! `hvm_start_info` structure, and no stack. The entry code:
//!
//! 1. zeroes `.bss` (where the page tables and stacks live);
//! 2. builds an identity map of the first 4 GiB with 2 MiB pages (one PML4 entry, four
//!    page-directory-pointer entries, 2048 page-directory entries), which covers the kernel,
//!    the heap, the trampoline page and the local APIC at `0xFEE0_0000`;
//! 3. enables PAE, loads CR3, sets `EFER.LME`, enables paging (Intel SDM Vol. 3A,
//!    "Initializing IA-32e Mode"), loads a GDT with a 64-bit code segment and jumps to it;
//! 4. sets the data segments, the boot stack, and calls
//!    [`kernel_bsp_entry`](crate::kernel_bsp_entry) with the start-info address.
//!
//! # Application processors
//!
//! An AP woken by a start-up IPI begins in real mode at `vector * 4096` (Intel SDM Vol. 3A,
//! "Multiple-Processor (MP) Initialization"). The trampoline below is position
//! independent within its page: the bootstrap processor copies it to
//! [`AP_TRAMPOLINE`] and sends vector `AP_TRAMPOLINE >> 12`. It loads the kernel's GDT,
//! enters protected mode, then long mode on the same page tables, and jumps into the kernel,
//! where each AP takes the stack the BSP left in [`AP_BOOT_STACK`] and calls
//! [`kernel_ap_entry`](crate::kernel_ap_entry).

use core::sync::atomic::AtomicU64;

/// Physical address the AP trampoline is copied to: page-aligned, below 1 MiB, in
/// conventional memory that nothing else uses after boot.
pub const AP_TRAMPOLINE: usize = 0x8000;

/// The GDT selector of the 64-bit code segment.
pub const KERNEL_CS: u16 = 0x08;

/// Size of every CPU's stack.
pub const STACK_SIZE: usize = 256 * 1024;

/// The stack top the next AP to start runs on; written by the BSP before it sends the
/// start-up IPIs, read by the AP's first 64-bit instructions. Relaxed is enough: the IPI
/// itself orders the BSP's store before the AP's first instruction.
pub static AP_BOOT_STACK: AtomicU64 = AtomicU64::new(0);

extern "C" {
    /// First byte of the AP trampoline (in the kernel image; copied to [`AP_TRAMPOLINE`]).
    pub static ap_trampoline_start: u8;
    /// One past its last byte.
    pub static ap_trampoline_end: u8;
}

// The PVH note, the 32-bit entry, the GDT and the page tables.
core::arch::global_asm!(
    r#"
    .section .note.pvh, "a", @note
    .balign 4
    .long 4                     # name size ("Xen\0")
    .long 4                     # descriptor size
    .long 18                    # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long pvh_start32

    # From 32-bit protected mode to IA-32e mode on the boot page tables: PAE, CR3,
    # EFER.LME (MSR 0xC0000080, bit 8), then CR0.PG with CR0.PE. Clobbers eax, ecx, edx.
    .macro enable_long_mode
    mov %cr4, %eax
    or $0x20, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax
    mov %eax, %cr0
    .endm

    # Flat data segments; FS and GS null (GS gets its base from IA32_GS_BASE later).
    .macro load_flat_segments
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    .endm

    .section .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi              # hvm_start_info, kept in esi until the call

    # 1. Zero .bss.
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    xor %eax, %eax
    rep stosb

    # 2. Identity-map 4 GiB with 2 MiB pages.
    mov $boot_pdpt, %eax
    or $0x3, %eax               # present, writable
    mov %eax, boot_pml4
    mov $boot_pd, %eax
    or $0x3, %eax
    mov %eax, boot_pdpt
    add $0x1000, %eax
    mov %eax, boot_pdpt + 8
    add $0x1000, %eax
    mov %eax, boot_pdpt + 16
    add $0x1000, %eax
    mov %eax, boot_pdpt + 24
    mov $boot_pd, %edi
    mov $0x83, %eax             # present, writable, 2 MiB page
    mov $2048, %ecx
1:
    mov %eax, (%edi)
    add $0x200000, %eax
    add $8, %edi
    loop 1b

    # 3. PAE, CR3, EFER.LME, paging; then the 64-bit code segment.
    enable_long_mode
    lgdt boot_gdt_ptr
    ljmp $0x08, $bsp_long_entry

    .code64
bsp_long_entry:
    load_flat_segments
    lea {bsp_stack}(%rip), %rsp
    add ${stack_size}, %rsp
    mov %esi, %edi
    call {bsp_entry}
2:
    hlt
    jmp 2b

ap_long_entry:
    load_flat_segments
    mov {ap_stack}(%rip), %rsp
    call {ap_entry}
3:
    hlt
    jmp 3b

    # The AP trampoline, copied to {trampoline} and entered in real mode with
    # cs = {trampoline} >> 4, ip = 0.
    .code16
    .global ap_trampoline_start
    .global ap_trampoline_end
ap_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    lgdtl (ap_gdt_ptr - ap_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x18, $({trampoline} + ap_protected - ap_trampoline_start)
    .code32
ap_protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    enable_long_mode
    ljmp $0x08, $ap_long_entry
    .balign 8
ap_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt
ap_trampoline_end:
    .code64

    # Null, 64-bit code (0x08), flat data (0x10), flat 32-bit code (0x18); accessed bits set
    # so that the CPU never writes to the table.
    .section .rodata.boot_gdt, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9b000000ffff
    .quad 0x00cf93000000ffff
    .quad 0x00cf9b000000ffff
boot_gdt_end:
    .balign 8
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .bss.boot_page_tables, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096 * 4
    "#,
    bsp_stack = sym crate::percpu::BSP_STACK,
    stack_size = const STACK_SIZE,
    bsp_entry = sym crate::kernel_bsp_entry,
    ap_stack = sym AP_BOOT_STACK,
    ap_entry = sym crate::kernel_ap_entry,
    trampoline = const AP_TRAMPOLINE,
    options(att_syntax)
);
