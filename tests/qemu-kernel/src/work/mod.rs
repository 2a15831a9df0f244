//! The workloads, run on every CPU at once, in the same order on every CPU.
//!
//! Each workload is a function that every CPU calls with its [`Ctx`]. Shared state is built
//! by CPU 0 and lent to the others for the duration of the workload ([`Ctx::with_shared`]),
//! with rendezvous points before and after, so that every CPU is in the same workload at the
//! same time. CPU 0 plays the updater (the writer, the renamer) and checks the figures;
//! the other CPUs read. Sizes are iteration counts, not durations.

use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::exit::Verdict;
use crate::sync::Rendezvous;

mod pathwalk_storm;
mod rcutorture;
mod seqlock_torn;

/// The host tests' fixture builder (`mkdir`, `touch`, `ln -s`, `mount --bind` by path on the
/// reference namespace), shared as source: it needs nothing beyond `core`.
#[path = "../../../src/tree.rs"]
#[allow(dead_code)]
mod tree;

/// Where a CPU stands: its index and how many CPUs take part.
#[derive(Clone, Copy)]
pub struct Ctx {
    /// This CPU's index (0 is the bootstrap processor, which checks and reports).
    pub cpu: usize,
    /// CPUs running the workloads.
    pub cpus: usize,
}

/// The rendezvous between the steps of the workloads.
static RENDEZVOUS: Rendezvous = Rendezvous::new();

/// The value CPU 0 lends to the others during [`Ctx::with_shared`].
static SHARED: AtomicPtr<()> = AtomicPtr::new(core::ptr::null_mut());

/// Which workload's part of the tick runs ([`tick_hook`]).
static TICK_HOOK: AtomicU8 = AtomicU8::new(HOOK_NONE);
const HOOK_NONE: u8 = 0;
const HOOK_SEQLATCH: u8 = 1;

impl Ctx {
    /// Waits until every CPU has reached the same point.
    pub fn rendezvous(&self) {
        RENDEZVOUS.wait(self.cpus);
    }

    /// Whether this CPU checks and reports.
    pub fn is_reporter(&self) -> bool {
        self.cpu == 0
    }

    /// Runs `work` on every CPU with a value CPU 0 builds (`build`) and, once every CPU is
    /// done, hands back to `finish` together with what `work` returned on CPU 0. Returns
    /// `finish`'s verdict on CPU 0 and `true` elsewhere.
    pub fn with_shared<T: Sync, R>(
        &self,
        build: impl FnOnce() -> T,
        work: impl Fn(&T) -> R,
        finish: impl FnOnce(T, R) -> bool,
    ) -> bool {
        if self.is_reporter() {
            let value = build();
            // Release pairs with the Acquire load below (ordered by the rendezvous anyway).
            SHARED.store((&value as *const T).cast_mut().cast(), Ordering::Release);
            self.rendezvous();
            let result = work(&value);
            self.rendezvous();
            SHARED.store(core::ptr::null_mut(), Ordering::Relaxed);
            finish(value, result)
        } else {
            self.rendezvous();
            // Acquire pairs with CPU 0's Release store.
            let value = SHARED.load(Ordering::Acquire).cast::<T>().cast_const();
            // SAFETY: every CPU runs the workloads in the same order, so CPU 0 published a
            // `T` for this very call before the first rendezvous; it keeps the value alive,
            // unmoved and unmodified except through its `Sync` interface until the second
            // rendezvous, which this CPU reaches only after its last use of the reference.
            let value = unsafe { &*value };
            work(value);
            self.rendezvous();
            true
        }
    }
}

/// Runs every workload on this CPU; returns the run's verdict on CPU 0.
pub fn run_all(cpu: usize, cpus: usize) -> Verdict {
    let ctx = Ctx { cpu, cpus };
    assert!(
        cpus >= 2,
        "the workloads need at least two CPUs (one writer, one reader)"
    );
    ctx.rendezvous();
    if ctx.is_reporter() {
        crate::kprintln!("qemu-kernel: running the workloads on {cpus} CPUs");
    }

    let results = [
        (
            "rcutorture counter",
            rcutorture::run::<rcutorture::CounterFlavor>(&ctx),
        ),
        (
            "rcutorture counter+ipi",
            rcutorture::run::<rcutorture::CounterIpiFlavor>(&ctx),
        ),
        (
            "rcutorture qsbr",
            rcutorture::run::<rcutorture::QsbrFlavor>(&ctx),
        ),
        ("seqlock torn reads", seqlock_torn::run(&ctx)),
        ("pathwalk stat storm", pathwalk_storm::storm(&ctx)),
        (
            "pathwalk rename attack",
            pathwalk_storm::rename_attack(&ctx),
        ),
    ];
    ctx.rendezvous();
    if !ctx.is_reporter() {
        return Verdict::Pass;
    }

    crate::platform::report_ticks(cpus);
    let (allocations, frees) = crate::heap::counts();
    crate::kprintln!(
        "qemu-kernel: heap: {allocations} allocations, {frees} frees, {} bytes still in use",
        crate::heap::used()
    );
    let mut verdict = Verdict::Pass;
    crate::kprintln!("qemu-kernel: summary");
    for (name, passed) in results {
        crate::kprintln!("  {name:<24} {}", if passed { "PASS" } else { "FAIL" });
        if !passed {
            verdict = Verdict::Fail;
        }
    }
    match verdict {
        Verdict::Pass => crate::kprintln!("qemu-kernel: PASS"),
        Verdict::Fail => crate::kprintln!("qemu-kernel: FAIL"),
    }
    verdict
}

/// Spins for about `iterations` pause instructions: a reader lingering in its section.
pub fn spin(iterations: u64) {
    for _ in 0..iterations {
        core::hint::spin_loop();
    }
}

/// Prints a workload's verdict line and returns it.
pub fn verdict_line(name: &str, passed: bool) -> bool {
    crate::kprintln!("{name}: {}", if passed { "PASS" } else { "FAIL" });
    passed
}

/// Arms the seqlock workload's part of the tick ([`seqlock_torn::tick`]).
fn set_tick_hook(hook: u8) {
    // Relaxed: the hook reads only statics that are valid at any time.
    TICK_HOOK.store(hook, Ordering::Relaxed);
}

/// The running workload's part of the tick (interrupts off).
pub fn tick_hook() {
    // Relaxed: see `set_tick_hook`.
    if TICK_HOOK.load(Ordering::Relaxed) == HOOK_SEQLATCH {
        seqlock_torn::tick();
    }
}
