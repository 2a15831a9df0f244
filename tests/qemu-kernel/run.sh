#!/usr/bin/env bash
# Builds the bare-metal test kernel and boots it under QEMU on four virtual CPUs (software
# emulation). Passes only if QEMU exits with the kernel's PASS status (33, see src/exit.rs),
# the serial log has the final PASS line and no FAIL line, and all of it ends within
# 5 minutes. The serial log is kept in target/serial.log.
set -euo pipefail
cd "$(dirname "$0")"

# The kernel's code-generation flags come from .cargo/config.toml; a RUSTFLAGS from the
# environment would replace them.
unset RUSTFLAGS
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx x86_64-unknown-none; then
    rustup target add x86_64-unknown-none
fi
command -v qemu-system-x86_64 >/dev/null || {
    echo "qemu-kernel: FAIL: qemu-system-x86_64 not found (Debian: apt-get install qemu-system-x86)"
    exit 1
}
cargo build --release --locked
kernel=target/x86_64-unknown-none/release/qemu-kernel
log=target/serial.log

status=0
timeout 300 qemu-system-x86_64 \
    -smp 4 -m 512M \
    -nographic -no-reboot -display none -monitor none -net none \
    -serial stdio \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$kernel" </dev/null | tee "$log" || status=$?
# Under `set -o pipefail` the status is QEMU's (or timeout's 124), unless tee failed.

echo
if [ "$status" = 124 ]; then
    echo "qemu-kernel: FAIL: no verdict within 300 s (serial log: tests/qemu-kernel/$log)"
    exit 1
fi
if [ "$status" != 33 ]; then
    echo "qemu-kernel: FAIL: QEMU exit status $status, not 33 (PASS) (serial log: tests/qemu-kernel/$log)"
    exit 1
fi
if grep -q 'FAIL' "$log" || ! grep -q '^qemu-kernel: PASS' "$log"; then
    echo "qemu-kernel: FAIL: the serial log lacks the PASS line or has a FAIL line (tests/qemu-kernel/$log)"
    exit 1
fi
echo "qemu-kernel: QEMU exit status 33: PASS (serial log: tests/qemu-kernel/$log)"
