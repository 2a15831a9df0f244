//! Finding the CPUs: the ACPI MADT's processor local APIC entries.
//!
//! The RSDP comes from the PVH start-info structure (`rsdp_paddr`, Xen's
//! `xen/include/public/arch-x86/hvm/start_info.h`) or, if that is zero, from the search of
//! the BIOS area `0xE0000..0x100000` on 16-byte boundaries that ACPI 6.5 §5.2.5.1 ("Finding
//! the RSDP on IA-PC Systems") describes. From the RSDT (or XSDT) the kernel takes the table
//! with signature `APIC`, the MADT (§5.2.12), and collects the APIC id of every processor
//! local APIC entry (type 0) whose flags say it is enabled or online-capable.

/// The CPUs the MADT lists, in table order (the bootstrap processor among them).
pub struct Cpus {
    /// Local APIC ids.
    pub apic_ids: [u32; crate::percpu::MAX_CPUS],
    /// How many of `apic_ids` are filled.
    pub count: usize,
    /// Processors the table listed beyond `MAX_CPUS` (not started).
    pub ignored: usize,
}

/// `hvm_start_info.magic`.
const START_INFO_MAGIC: u32 = 0x336E_C578;

/// Reads the MADT.
///
/// # Safety
///
/// `start_info` is the physical address the PVH entry received in `ebx` (or 0), and the
/// firmware's ACPI tables are intact and identity-mapped.
///
/// # Panics
///
/// If there is no RSDP or no MADT: this kernel cannot find its CPUs without them.
pub unsafe fn cpus(start_info: u64) -> Cpus {
    // SAFETY: forwarded from the caller.
    let rsdp = unsafe { find_rsdp(start_info) }.expect("ACPI: no RSDP found");
    // SAFETY: `find_rsdp` checked the RSDP's signature and checksum; the tables it points to
    // are firmware memory, identity-mapped.
    let madt = unsafe { find_table(rsdp, *b"APIC") }.expect("ACPI: no MADT");

    let mut cpus = Cpus {
        apic_ids: [0; crate::percpu::MAX_CPUS],
        count: 0,
        ignored: 0,
    };
    // SAFETY: the MADT's header was checksummed by `find_table`; its length bounds the walk.
    unsafe {
        let length = read_u32(madt + 4) as usize;
        let mut entry = madt + 44; // header (36) + local APIC address (4) + flags (4)
        while entry + 2 <= madt + length {
            let kind = read_u8(entry);
            let size = read_u8(entry + 1) as usize;
            if size < 2 {
                break;
            }
            if kind == 0 && size >= 8 {
                let apic_id = u32::from(read_u8(entry + 3));
                let flags = read_u32(entry + 4);
                if flags & 0b11 != 0 {
                    if cpus.count < cpus.apic_ids.len() {
                        cpus.apic_ids[cpus.count] = apic_id;
                        cpus.count += 1;
                    } else {
                        cpus.ignored += 1;
                    }
                }
            }
            entry += size;
        }
    }
    cpus
}

/// The RSDP's physical address.
///
/// # Safety
///
/// As [`cpus`].
unsafe fn find_rsdp(start_info: u64) -> Option<usize> {
    if start_info != 0 {
        // SAFETY: the start-info structure is where the PVH ABI says; `magic` is at offset 0
        // and `rsdp_paddr` at offset 32.
        let from_start_info = unsafe {
            (read_u32(start_info as usize) == START_INFO_MAGIC)
                .then(|| read_u64(start_info as usize + 32) as usize)
        };
        if let Some(rsdp) = from_start_info.filter(|&rsdp| rsdp != 0) {
            return Some(rsdp);
        }
    }
    (0xE0000..0x100000).step_by(16).find(|&address| {
        // SAFETY: the BIOS area is identity-mapped read-only memory; the checksum covers the
        // 20 bytes of the ACPI 1.0 RSDP.
        unsafe { bytes(address, 8) == b"RSD PTR " && checksum(address, 20) == 0 }
    })
}

/// The physical address of the table with `signature`, from the RSDT or the XSDT.
///
/// # Safety
///
/// `rsdp` is a valid RSDP.
unsafe fn find_table(rsdp: usize, signature: [u8; 4]) -> Option<usize> {
    // SAFETY: an RSDP of revision 2 or more has the XSDT address at offset 24; every revision
    // has the RSDT's at 16. The root tables hold 8- or 4-byte table addresses after their
    // 36-byte header, up to their length.
    unsafe {
        let (root, width) = if read_u8(rsdp + 15) >= 2 && read_u64(rsdp + 24) != 0 {
            (read_u64(rsdp + 24) as usize, 8)
        } else {
            (read_u32(rsdp + 16) as usize, 4)
        };
        let length = read_u32(root + 4) as usize;
        if checksum(root, length) != 0 {
            return None;
        }
        (root + 36..root + length)
            .step_by(width)
            .map(|slot| {
                if width == 8 {
                    read_u64(slot) as usize
                } else {
                    read_u32(slot) as usize
                }
            })
            .find(|&table| {
                bytes(table, 4) == signature && checksum(table, read_u32(table + 4) as usize) == 0
            })
    }
}

/// # Safety
///
/// `address..address + len` is mapped, readable memory that nothing writes.
unsafe fn bytes(address: usize, len: usize) -> &'static [u8] {
    // SAFETY: forwarded from the caller.
    unsafe { core::slice::from_raw_parts(address as *const u8, len) }
}

/// # Safety
///
/// As [`bytes`].
unsafe fn checksum(address: usize, len: usize) -> u8 {
    // SAFETY: forwarded from the caller.
    unsafe { bytes(address, len) }
        .iter()
        .fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// # Safety
///
/// As [`bytes`], for one byte.
unsafe fn read_u8(address: usize) -> u8 {
    // SAFETY: forwarded from the caller.
    unsafe { core::ptr::read(address as *const u8) }
}

/// # Safety
///
/// As [`bytes`], for four bytes (ACPI tables are not aligned).
unsafe fn read_u32(address: usize) -> u32 {
    // SAFETY: forwarded from the caller.
    unsafe { core::ptr::read_unaligned(address as *const u32) }
}

/// # Safety
///
/// As [`bytes`], for eight bytes.
unsafe fn read_u64(address: usize) -> u64 {
    // SAFETY: forwarded from the caller.
    unsafe { core::ptr::read_unaligned(address as *const u64) }
}
