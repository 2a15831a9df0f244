//! The local APIC (xAPIC, memory-mapped): enabling it, end of interrupt, the periodic timer,
//! inter-processor interrupts; and the PIT, used only to time the start-up sequence and to
//! calibrate the APIC timer.
//!
//! Register offsets and the ICR encoding are from the Intel SDM, Vol. 3A, chapter "Advanced
//! Programmable Interrupt Controller (APIC)": its sections on the spurious-interrupt vector
//! register (software enabling), the APIC timer, and the interrupt command register.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::port::{inb, outb};

/// Physical (= virtual, identity map) base of the local APIC registers.
const APIC_BASE: usize = 0xFEE0_0000;

const REG_ID: usize = 0x20;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
const REG_ICR_LOW: usize = 0x300;
const REG_ICR_HIGH: usize = 0x310;
const REG_LVT_TIMER: usize = 0x320;
const REG_TIMER_INITIAL: usize = 0x380;
const REG_TIMER_CURRENT: usize = 0x390;
const REG_TIMER_DIVIDE: usize = 0x3E0;

/// The vector of the periodic timer (the tick).
pub const TIMER_VECTOR: u8 = 0x20;
/// The vector of the heavy-barrier IPI (see [`crate::barrier`]).
pub const BARRIER_VECTOR: u8 = 0x40;
/// The spurious-interrupt vector (its handler does nothing and sends no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xFF;

/// Ticks per second.
pub const HZ: u32 = 1000;

/// APIC timer counts per tick at divide-by-16, measured by [`calibrate_timer`].
static COUNTS_PER_TICK: AtomicU32 = AtomicU32::new(0);

fn read(reg: usize) -> u32 {
    // SAFETY: `reg` is a register offset within the local APIC's 4 KiB page, which the
    // identity map covers; the access is 32-bit and aligned, as the APIC requires.
    unsafe { core::ptr::read_volatile((APIC_BASE + reg) as *const u32) }
}

fn write(reg: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { core::ptr::write_volatile((APIC_BASE + reg) as *mut u32, value) }
}

/// This CPU's local APIC id.
pub fn id() -> u32 {
    read(REG_ID) >> 24
}

/// Software-enables this CPU's local APIC with the spurious vector (the SDM's "Spurious Interrupt" section).
pub fn enable() {
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
}

/// Signals the end of the interrupt being handled.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// The vector base the legacy 8259 PICs are moved to before they are masked.
pub const PIC_VECTOR_BASE: u8 = 0xE0;

/// Moves the legacy 8259 interrupt controllers off the exception vectors (the firmware
/// leaves IRQ 0, the PIT, on vector 8, the double fault's) to [`PIC_VECTOR_BASE`], and masks
/// every line: this kernel takes interrupts from the local APIC only. A masked PIC can still
/// raise its spurious IRQ 7 or 15, which lands on a vector whose handler does nothing.
pub fn disable_legacy_pic() {
    // SAFETY: the PICs' command and data ports; the ICW1-ICW4 initialisation sequence.
    unsafe {
        outb(0x20, 0x11); // ICW1: initialise, expect ICW4
        outb(0xA0, 0x11);
        outb(0x21, PIC_VECTOR_BASE); // ICW2: vector base
        outb(0xA1, PIC_VECTOR_BASE + 8);
        outb(0x21, 0x04); // ICW3: slave on IRQ 2
        outb(0xA1, 0x02);
        outb(0x21, 0x01); // ICW4: 8086 mode
        outb(0xA1, 0x01);
        outb(0x21, 0xFF); // mask everything
        outb(0xA1, 0xFF);
    }
}

/// Measures the APIC timer against the PIT and remembers counts per tick. Run once, on the
/// bootstrap processor; every CPU's timer runs at the same bus clock.
pub fn calibrate_timer() {
    const WINDOW_US: u32 = 10_000;
    write(REG_TIMER_DIVIDE, 0b0011); // divide by 16
    write(REG_LVT_TIMER, 1 << 16); // masked, one-shot
    write(REG_TIMER_INITIAL, u32::MAX);
    pit_delay_us(WINDOW_US);
    let elapsed = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INITIAL, 0);
    let per_tick = (u64::from(elapsed) * 1_000_000 / u64::from(WINDOW_US) / u64::from(HZ)).max(1);
    COUNTS_PER_TICK.store(per_tick as u32, Ordering::Relaxed);
}

/// The calibrated timer counts per tick.
pub fn counts_per_tick() -> u32 {
    COUNTS_PER_TICK.load(Ordering::Relaxed)
}

/// Starts this CPU's periodic tick at [`HZ`] (the SDM's "APIC Timer" section).
pub fn start_tick() {
    write(REG_TIMER_DIVIDE, 0b0011);
    write(REG_LVT_TIMER, (1 << 17) | u32::from(TIMER_VECTOR)); // periodic
    write(REG_TIMER_INITIAL, counts_per_tick());
}

/// Stops this CPU's tick.
pub fn stop_tick() {
    write(REG_LVT_TIMER, 1 << 16);
    write(REG_TIMER_INITIAL, 0);
}

/// Sends an INIT IPI (level assert) to `apic_id` (the SDM's "Interrupt Command Register (ICR)", delivery
/// mode 101b).
pub fn send_init(apic_id: u32) {
    send_ipi(Some(apic_id), 0x0000_4500);
}

/// Sends a start-up IPI with `vector` (the trampoline's page number) to `apic_id` (delivery
/// mode 110b).
pub fn send_startup(apic_id: u32, vector: u8) {
    send_ipi(Some(apic_id), 0x0000_4600 | u32::from(vector));
}

/// Sends a fixed IPI with `vector` to every CPU but this one (destination shorthand 11b).
pub fn send_to_others(vector: u8) {
    send_ipi(None, (0b11 << 18) | (1 << 14) | u32::from(vector));
}

/// Sends an IPI: waits until the ICR is idle, writes the destination (unless the low half
/// uses a shorthand) and the low half, which sends, and waits until the APIC has accepted
/// the IPI (the delivery-status bit 12 clears). Interrupts stay off throughout, so that an
/// interrupt handler on this CPU that sends an IPI of its own cannot interleave its ICR
/// writes with ours.
fn send_ipi(apic_id: Option<u32>, low: u32) {
    let irqs = crate::sync::irq_save();
    let wait_idle = || {
        while read(REG_ICR_LOW) & (1 << 12) != 0 {
            core::hint::spin_loop();
        }
    };
    wait_idle();
    if let Some(apic_id) = apic_id {
        write(REG_ICR_HIGH, apic_id << 24);
    }
    write(REG_ICR_LOW, low);
    wait_idle();
    crate::sync::irq_restore(irqs);
}

/// Waits `us` microseconds (at most about 54,000) on PIT channel 2, polled through its
/// output bit in port `0x61`. Only for hardware timing rules (the start-up sequence) and
/// calibration; CPUs never use it to wait for each other.
pub fn pit_delay_us(us: u32) {
    const PIT_HZ: u64 = 1_193_182;
    let count = (u64::from(us) * PIT_HZ / 1_000_000).clamp(1, 0xFFFF) as u16;
    // SAFETY: the PIT's channel 2 gate/speaker port, command port and channel 2 data port.
    unsafe {
        let gate = inb(0x61) & !0b11; // gate off, speaker off
        outb(0x61, gate);
        outb(0x43, 0b1011_0000); // channel 2, low then high byte, mode 0, binary
        outb(0x42, count as u8);
        outb(0x42, (count >> 8) as u8);
        outb(0x61, gate | 1); // gate on: counting starts
        while inb(0x61) & 0x20 == 0 {
            core::hint::spin_loop();
        }
        outb(0x61, gate);
    }
}
