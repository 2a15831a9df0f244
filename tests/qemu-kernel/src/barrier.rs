//! The heavy barrier: a full memory barrier on every CPU, forced by an IPI and acknowledged
//! (Linux: `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, `synchronize_rcu_expedited`'s
//! IPIs). [`KernelIpi`](crate::platform::KernelIpi) offers it to rcu-core, whose counter
//! flavor then runs its readers without a fence.
//!
//! # Protocol
//!
//! A request is a bump of the global [`REQUESTS`] counter. The requester bumps it, sends the
//! barrier IPI to every other CPU, and waits until every CPU that takes part (see
//! [`join`]) has *served* a request at least as new as its own. A CPU serves by loading
//! [`REQUESTS`], executing a full fence, and raising its per-CPU `barrier_served` to the
//! value it loaded: the fence comes after the load, so it comes after the request it
//! acknowledges. CPUs serve from the IPI handler, and a requester also serves while it waits,
//! so that two CPUs requesting with interrupts off (from the tick) do not wait for each other
//! forever.
//!
//! The argument that this orders a reader's plain program order against the updater is the
//! one in rcu-core's `Platform` contract: the fence runs on the reader's CPU between two of
//! its instructions, as a signal handler's fence would.

use core::sync::atomic::{fence, AtomicU64, Ordering};

use crate::apic::{self, BARRIER_VECTOR};
use crate::percpu;

/// Requests so far.
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Requests made, barrier IPIs handled, and requests served from requesters' waits.
static SENT: AtomicU64 = AtomicU64::new(0);
static SERVED_BY_IPI: AtomicU64 = AtomicU64::new(0);
static SERVED_WHILE_WAITING: AtomicU64 = AtomicU64::new(0);

/// This CPU starts taking part: requesters wait for it from now on. Called in
/// `platform::cpu_start`, before the workloads' first rendezvous, so before any CPU runs a
/// reader or makes a request.
pub fn join() {
    serve();
    // SeqCst: pairs with the SeqCst load of the flag in `request` (the rendezvous that
    // follows orders it before every request in any case).
    percpu::this_cpu()
        .barrier_member
        .store(true, Ordering::SeqCst);
}

/// This CPU stops taking part (it runs no more readers and is about to halt).
pub fn leave() {
    percpu::this_cpu()
        .barrier_member
        .store(false, Ordering::SeqCst);
}

/// Executes a full memory barrier on every CPU that takes part, this one included.
pub fn request() {
    // SeqCst: the bump is ordered after this CPU's earlier accesses and before the IPI.
    let request = REQUESTS.fetch_add(1, Ordering::SeqCst) + 1;
    SENT.fetch_add(1, Ordering::Relaxed);
    fence(Ordering::SeqCst);
    apic::send_to_others(BARRIER_VECTOR);

    let me = percpu::cpu_index();
    for index in (0..percpu::MAX_CPUS).filter(|&index| index != me) {
        let cpu = percpu::of(index);
        // Acquire pairs with the Release `fetch_max` in `serve`: that CPU's fence happens
        // before what we do next.
        while cpu.barrier_member.load(Ordering::SeqCst)
            && cpu.barrier_served.load(Ordering::Acquire) < request
        {
            // Serve any request another CPU is waiting on, in case it waits with
            // interrupts off for us as we wait for it.
            if serve() {
                SERVED_WHILE_WAITING.fetch_add(1, Ordering::Relaxed);
            }
            core::hint::spin_loop();
        }
    }
    fence(Ordering::SeqCst);
}

/// The IPI handler: serve, acknowledge the interrupt.
pub fn handle_ipi() {
    serve();
    SERVED_BY_IPI.fetch_add(1, Ordering::Relaxed);
    apic::eoi();
}

/// Serves every request made so far; returns whether there was a new one.
fn serve() -> bool {
    let cpu = percpu::this_cpu();
    // SeqCst: the load comes before the fence, so the fence follows the requests it covers.
    let latest = REQUESTS.load(Ordering::SeqCst);
    if cpu.barrier_served.load(Ordering::Relaxed) >= latest {
        return false;
    }
    fence(Ordering::SeqCst);
    // Release pairs with the Acquire load in `request`. `fetch_max`: an IPI handler nested
    // in a requester's serve may have raised it further already.
    cpu.barrier_served.fetch_max(latest, Ordering::Release);
    true
}

/// Requests made, barrier IPIs handled, requests served while waiting.
pub fn counts() -> (u64, u64, u64) {
    // Relaxed: statistics.
    (
        SENT.load(Ordering::Relaxed),
        SERVED_BY_IPI.load(Ordering::Relaxed),
        SERVED_WHILE_WAITING.load(Ordering::Relaxed),
    )
}
