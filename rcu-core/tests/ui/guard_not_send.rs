//! A read-side critical section belongs to its CPU: the guard cannot move to another thread.
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

fn main() {
    use rcu_core::Rcu;
    let guard = RCU.read_lock();
    std::thread::spawn(move || drop(guard)).join().unwrap();
}
