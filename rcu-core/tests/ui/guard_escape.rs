//! A reference found under a guard must not outlive the guard's block.
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

struct Entry {
    key: u32,
    link: rcu_core::HlistNode,
}
rcu_core::impl_hlist_linked!(Entry, link);

static CHAIN: rcu_core::HlistHead<Entry> = rcu_core::HlistHead::new();

fn main() {
    use rcu_core::Rcu;
    let escaped: Option<&Entry> = {
        let guard = RCU.read_lock();
        CHAIN.iter(&guard).next()
    };
    println!("{:?}", escaped.map(|e| e.key));
}
