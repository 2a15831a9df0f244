//! A one-CPU platform and a counter domain for the compile-fail tests.

use rcu_core::{Counter, Platform};

pub struct OneCpu;

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

pub static RCU: Counter<OneCpu, 1> = Counter::new();
