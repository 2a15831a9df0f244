//! The guard cannot be dropped while a reference found under it is still used.
#[path = "common/one_cpu.rs"]
mod one_cpu;
use one_cpu::RCU;

static PTR: rcu_core::RawRcuPtr<u32> = rcu_core::RawRcuPtr::null();

fn main() {
    use rcu_core::Rcu;
    let guard = RCU.read_lock();
    // SAFETY: nothing is ever published, so the pointer stays null.
    let value = unsafe { PTR.load_ref(&guard) };
    drop(guard);
    println!("{value:?}");
}
