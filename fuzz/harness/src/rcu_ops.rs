//! A deterministic, single-threaded model check of `rcu-core`, driven by a byte string.
//!
//! One OS thread plays four CPUs: a thread-local index, switched before each operation, is
//! the platform's CPU id. Each byte is one operation on one CPU: enter or leave a read-side
//! section, retire an object with `call_rcu`, take a polled cookie, poll a cookie, run the
//! callback hook, report a quiescent state or go offline/online (QSBR). The model records
//! which read-side sections were open when each object was retired or each cookie taken, and
//! fails (panics) if an object is freed, or a cookie reported done, while one of those
//! sections is still open. At the end every section is closed, every CPU goes quiet, and
//! `barrier` must free every object exactly once.
//!
//! Used by the `rcu_ops` fuzz target and, with pseudo-random inputs, by a stable test.

use std::cell::RefCell;
use std::ptr::NonNull;

use rcu_core::{Counter, Platform, Qsbr, Rcu, RcuHead};

/// Simulated CPUs.
pub const CPUS: usize = 4;

/// Maximum read-side nesting the model uses per CPU.
const MAX_DEPTH: usize = 3;

std::thread_local! {
    static CPU: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static MODEL: RefCell<Model> = RefCell::new(Model::default());
}

/// CPUs simulated on one thread; see the module documentation.
pub struct SimCpus;

// SAFETY: the index is set by the model to a value below CPUS and only changes between
// operations, never inside a platform call sequence; each simulated CPU's sections are
// entered and left with the same index. No preemption exists; no heavy barrier.
unsafe impl Platform for SimCpus {
    const MAX_CPUS: usize = CPUS;
    fn cpu_id() -> usize {
        CPU.with(|c| c.get())
    }
    fn preempt_disable() {}
    fn preempt_enable() {}
    fn relax(_attempt: u32) {}
}

/// What the model knows about open sections and freed objects.
#[derive(Default)]
struct Model {
    /// Serial number of the outermost open section per CPU, and its depth.
    open: [Option<u64>; CPUS],
    depth: [usize; CPUS],
    next_serial: u64,
    freed: Vec<u64>,
}

impl Model {
    /// The sections open right now, as (CPU, serial).
    fn open_sections(&self) -> Vec<(usize, u64)> {
        (0..CPUS)
            .filter_map(|cpu| self.open[cpu].map(|s| (cpu, s)))
            .collect()
    }

    /// Panics if any of `sections` is still open.
    fn assert_all_closed(&self, sections: &[(usize, u64)], what: &str) {
        for &(cpu, serial) in sections {
            assert_ne!(
                self.open[cpu],
                Some(serial),
                "{what} while read-side section {serial} on CPU {cpu}, open before it, is \
                 still open"
            );
        }
    }
}

/// An object retired through `call_rcu`.
struct Object {
    id: u64,
    protected_by: Vec<(usize, u64)>,
    head: RcuHead,
}

/// The callback that frees an `Object` and checks the model.
///
/// # Safety
///
/// `head` is the head of an `Object` leaked from a `Box`.
unsafe fn free_object(head: NonNull<RcuHead>) {
    let offset = std::mem::offset_of!(Object, head);
    // SAFETY: per the contract.
    let object = unsafe { Box::from_raw(head.as_ptr().byte_sub(offset).cast::<Object>()) };
    MODEL.with(|m| {
        let mut m = m.borrow_mut();
        m.assert_all_closed(&object.protected_by, "object freed");
        m.freed.push(object.id);
    });
}

/// The flavor-specific duties the model needs.
trait Flavor: Rcu {
    const QSBR: bool;
    fn online(&self) {}
    fn is_online(&self) -> bool {
        true
    }
    /// # Safety
    /// The current CPU has no open section.
    unsafe fn quiesce(&self) {}
    /// # Safety
    /// The current CPU has no open section.
    unsafe fn offline(&self) {}
}

impl Flavor for Counter<SimCpus, CPUS> {
    const QSBR: bool = false;
}

impl Flavor for Qsbr<SimCpus, CPUS> {
    const QSBR: bool = true;
    fn online(&self) {
        Qsbr::online(self)
    }
    fn is_online(&self) -> bool {
        Qsbr::is_online(self)
    }
    unsafe fn quiesce(&self) {
        // SAFETY: forwarded.
        unsafe { self.quiescent_state() }
    }
    unsafe fn offline(&self) {
        // SAFETY: forwarded.
        unsafe { Qsbr::offline(self) }
    }
}

fn on_cpu(cpu: usize) {
    CPU.with(|c| c.set(cpu));
}

/// Runs `ops` against both flavors. Panics on any violation.
pub fn run(ops: &[u8]) {
    run_flavor::<Counter<SimCpus, CPUS>>(&Counter::new(), ops);
    // SAFETY: the model reports quiescent states and goes offline only on CPUs with no open
    // section, and reads only on online CPUs.
    run_flavor::<Qsbr<SimCpus, CPUS>>(&unsafe { Qsbr::new() }, ops);
}

fn run_flavor<D: Flavor>(rcu: &D, ops: &[u8]) {
    MODEL.with(|m| *m.borrow_mut() = Model::default());
    for cpu in 0..CPUS {
        on_cpu(cpu);
        rcu.online();
    }
    let mut next_id = 0u64;
    let mut cookies: Vec<(rcu_core::Cookie, Vec<(usize, u64)>)> = Vec::new();
    let model = |f: &mut dyn FnMut(&mut Model)| MODEL.with(|m| f(&mut m.borrow_mut()));
    let depth = |cpu: usize| MODEL.with(|m| m.borrow().depth[cpu]);

    for &byte in ops {
        let cpu = usize::from(byte >> 5) % CPUS;
        on_cpu(cpu);
        match byte & 0x7 {
            0 if depth(cpu) < MAX_DEPTH && rcu.is_online() => {
                // SAFETY: left by a later `1` op on the same CPU or at the end of the run.
                unsafe { rcu.raw_read_lock() };
                model(&mut |m| {
                    if m.depth[cpu] == 0 {
                        m.next_serial += 1;
                        m.open[cpu] = Some(m.next_serial);
                    }
                    m.depth[cpu] += 1;
                });
            }
            1 if depth(cpu) > 0 => leave_section(rcu, cpu),
            2 => {
                next_id += 1;
                let protected_by = MODEL.with(|m| m.borrow().open_sections());
                let object = Box::into_raw(Box::new(Object {
                    id: next_id,
                    protected_by,
                    head: RcuHead::new(),
                }));
                // SAFETY: a fresh head in a leaked box, freed once by `free_object`, which
                // does not call `barrier`.
                unsafe {
                    let head = NonNull::new_unchecked(std::ptr::addr_of_mut!((*object).head));
                    rcu.call_rcu(head, free_object);
                }
            }
            3 => {
                let open = MODEL.with(|m| m.borrow().open_sections());
                cookies.push((rcu.start_poll(), open));
            }
            4 if !cookies.is_empty() => {
                let index = usize::from(byte >> 3) % cookies.len();
                if rcu.poll(cookies[index].0) {
                    let (_, sections) = cookies.swap_remove(index);
                    MODEL.with(|m| {
                        m.borrow()
                            .assert_all_closed(&sections, "cookie reported done")
                    });
                }
            }
            5 if depth(cpu) == 0 || !D::QSBR => {
                let ran = rcu.process_callbacks();
                if depth(cpu) > 0 {
                    assert_eq!(ran, 0, "callbacks ran inside a read-side section");
                }
            }
            6 if depth(cpu) == 0 => {
                // SAFETY: no open section on this CPU.
                unsafe { rcu.quiesce() };
            }
            7 if depth(cpu) == 0 && D::QSBR => {
                if rcu.is_online() {
                    // SAFETY: no open section on this CPU.
                    unsafe { rcu.offline() };
                } else {
                    rcu.online();
                }
            }
            _ => {}
        }
    }

    // Wind down: close every section, quiesce every CPU, then every object must be freed.
    for cpu in 0..CPUS {
        on_cpu(cpu);
        while depth(cpu) > 0 {
            leave_section(rcu, cpu);
        }
        // SAFETY: no open section on this CPU.
        unsafe { rcu.offline() };
    }
    on_cpu(0);
    rcu.barrier();
    for (cookie, _) in cookies {
        rcu.cond_synchronize(cookie);
    }
    MODEL.with(|m| {
        let m = m.borrow();
        let mut freed = m.freed.clone();
        freed.sort_unstable();
        assert_eq!(
            freed,
            (1..=next_id).collect::<Vec<_>>(),
            "every object freed exactly once"
        );
    });
}

fn leave_section<D: Flavor>(rcu: &D, cpu: usize) {
    // SAFETY: the model entered a section on this CPU that is still open.
    unsafe { rcu.raw_read_unlock() };
    MODEL.with(|m| {
        let mut m = m.borrow_mut();
        m.depth[cpu] -= 1;
        if m.depth[cpu] == 0 {
            m.open[cpu] = None;
        }
    });
}
