//! A reference found under a guard must not outlive the guard's block.
#[path = "common/one_cpu.rs"]
mod one_cpu;
use one_cpu::RCU;

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
