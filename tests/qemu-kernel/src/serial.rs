//! The COM1 serial port (a 16550 UART at I/O port `0x3F8`), where every line of the run
//! goes, and the `kprintln!` macro.

use core::fmt::{self, Write};

use crate::port::{inb, outb};
use crate::sync::IrqSpinLock;

const COM1: u16 = 0x3F8;

/// The port, behind an interrupt-disabling lock so that lines from different CPUs do not mix.
static SERIAL: IrqSpinLock<Serial> = IrqSpinLock::new(Serial);

/// The transmitter side of COM1.
struct Serial;

/// Programs COM1 for 115200 baud, 8N1, FIFOs on, no interrupts.
pub fn init() {
    // SAFETY: the ports are COM1's registers; programming a UART touches no memory.
    unsafe {
        outb(COM1 + 1, 0x00); // no interrupts
        outb(COM1 + 3, 0x80); // divisor latch access
        outb(COM1, 0x01); // divisor 1: 115200 baud
        outb(COM1 + 1, 0x00);
        outb(COM1 + 3, 0x03); // 8 bits, no parity, one stop bit
        outb(COM1 + 2, 0xC7); // FIFOs on and cleared
        outb(COM1 + 4, 0x03); // DTR, RTS
    }
}

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            if byte == b'\n' {
                put(b'\r');
            }
            put(byte);
        }
        Ok(())
    }
}

/// Sends one byte, waiting for room in the transmitter.
fn put(byte: u8) {
    // SAFETY: COM1's line status and data registers.
    unsafe {
        while inb(COM1 + 5) & 0x20 == 0 {
            core::hint::spin_loop();
        }
        outb(COM1, byte);
    }
}

/// Prints formatted text (the body of `kprint!`/`kprintln!`).
pub fn print(args: fmt::Arguments<'_>) {
    let _ = SERIAL.lock().write_fmt(args);
}

/// Prints from the panic handler: takes the lock if it can, and writes anyway after a while,
/// since the panicking CPU may be the one holding it.
pub fn print_panic(args: fmt::Arguments<'_>) {
    let guard = SERIAL.try_lock_for(10_000_000);
    let _ = Serial.write_fmt(args);
    drop(guard);
}

/// Prints to the serial port.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::serial::print(format_args!($($arg)*)) };
}

/// Prints a line to the serial port.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::serial::print(format_args!("{}\n", format_args!($($arg)*))) };
}
