//! A hosted platform with a heavy barrier: Linux `membarrier(2)` with
//! `MEMBARRIER_CMD_PRIVATE_EXPEDITED`, which runs a full memory barrier on every CPU that is
//! running a thread of this process before it returns (an IPI to each). With it the counter
//! flavor's readers use only a compiler fence.
//!
//! Falls back to reporting `available() == false` on kernels without the command, in which
//! case tests that need it say so and use [`Hosted`] instead.

use rcu_core::hosted::Hosted;
use rcu_core::Platform;
use std::sync::OnceLock;

/// `MEMBARRIER_CMD_PRIVATE_EXPEDITED` (include/uapi/linux/membarrier.h).
const CMD_PRIVATE_EXPEDITED: libc::c_int = 1 << 3;
/// `MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED`.
const CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_int = 1 << 4;

/// Threads as CPUs, like [`Hosted`], plus `membarrier` as the heavy barrier.
#[derive(Clone, Copy, Debug, Default)]
pub struct Membarrier;

impl Membarrier {
    /// Whether the running kernel supports the private expedited command; registers the
    /// process for it on first use.
    pub fn available() -> bool {
        static REGISTERED: OnceLock<bool> = OnceLock::new();
        *REGISTERED.get_or_init(|| {
            // SAFETY: membarrier takes two integers and a CPU id and touches no memory of ours.
            let rc = unsafe {
                libc::syscall(libc::SYS_membarrier, CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0)
            };
            rc == 0
        })
    }
}

// SAFETY:
// 1.-2. CPU identity and preemption are `Hosted`'s, which satisfies them.
// 3. `heavy_barrier` returns after `membarrier(PRIVATE_EXPEDITED)` succeeded, which guarantees
//    a full barrier on every CPU running a thread of this process (membarrier(2)); it panics
//    rather than return without one.
unsafe impl Platform for Membarrier {
    const MAX_CPUS: usize = Hosted::MAX_CPUS;
    const HAS_HEAVY_BARRIER: bool = true;

    fn cpu_id() -> usize {
        Hosted::cpu_id()
    }

    fn preempt_disable() {}

    fn preempt_enable() {}

    fn relax(attempt: u32) {
        Hosted::relax(attempt)
    }

    fn heavy_barrier() {
        assert!(
            Self::available(),
            "membarrier(PRIVATE_EXPEDITED) is not available on this kernel"
        );
        // SAFETY: as in `available`.
        let rc = unsafe { libc::syscall(libc::SYS_membarrier, CMD_PRIVATE_EXPEDITED, 0, 0) };
        assert_eq!(
            rc,
            0,
            "membarrier(PRIVATE_EXPEDITED) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}
