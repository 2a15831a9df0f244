//! The guard cannot be dropped while a reference found under it is still used.
use rcu_core::{Counter, Platform};

struct OneCpu;

// SAFETY: one CPU, index 0; no preemption to control; no heavy barrier.
unsafe impl Platform for OneCpu {
    const MAX_CPUS: usize = 1;
    fn cpu_id() -> usize {
        0
    }
    fn preempt_disable() {}
    fn preempt_enable() {}
    fn relax(_attempt: u32) {}
}

static RCU: Counter<OneCpu, 1> = Counter::new();

static PTR: rcu_core::RawRcuPtr<u32> = rcu_core::RawRcuPtr::null();

fn main() {
    use rcu_core::Rcu;
    let guard = RCU.read_lock();
    // SAFETY: nothing is ever published, so the pointer stays null.
    let value = unsafe { PTR.load_ref(&guard) };
    drop(guard);
    println!("{value:?}");
}
