//! A read-side critical section belongs to its CPU: the guard cannot move to another thread.
#[path = "common/one_cpu.rs"]
mod one_cpu;
use one_cpu::RCU;

fn main() {
    use rcu_core::Rcu;
    let guard = RCU.read_lock();
    std::thread::spawn(move || drop(guard)).join().unwrap();
}
