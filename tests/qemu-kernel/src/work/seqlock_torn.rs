//! The seqlock torn-read check (the host version is `tests/tests/seqlock_torn.rs`), on every
//! CPU, plus a `SeqLatch` read from the timer interrupt.
//!
//! The payload is four words derived from one counter; a copy that mixes two writes breaks
//! the relation. CPU 0 writes a [`SeqLock`] and a [`SeqLatch`] with successive payloads and
//! reads both between writes; the other CPUs read them with the optimistic reader (its
//! retries counted by hand), `read`, `read_or_lock` and the latch's `read`, a fixed number
//! of times each. Meanwhile every CPU's tick reads the latch: on CPU 0 that interrupt may
//! land in the middle of a latch write, which is the case the latch exists for (a seqlock
//! reader there would spin forever on the writer it interrupted). Every copy that breaks the
//! relation is a torn read accepted: there must be none.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

use seqlock::{SeqLatch, SeqLock};

use super::Ctx;
use crate::rng::Rng;

/// Reads per reading CPU (each of the four readers a quarter of them).
const READS_PER_CPU: u64 = 1_500_000;

/// Four words derived from one counter.
type Payload = [u64; 4];

fn payload(i: u64) -> Payload {
    [
        i,
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        !i,
        i.rotate_left(17) ^ 0xA5A5_A5A5_A5A5_A5A5,
    ]
}

/// Whether `copy` is one payload, not a mix of two.
fn is_whole(copy: &Payload) -> bool {
    *copy == payload(copy[0])
}

static LOCK: SeqLock<Payload> = SeqLock::new([0, 0, !0, 0xA5A5_A5A5_A5A5_A5A5]);
static LATCH: SeqLatch<Payload> = SeqLatch::new([0, 0, !0, 0xA5A5_A5A5_A5A5_A5A5]);

/// Figures, all CPUs together. Relaxed: statistics, read after the closing rendezvous.
struct Figures {
    reads: AtomicU64,
    retries: AtomicU64,
    torn: AtomicU64,
    writes: AtomicU64,
    irq_reads: AtomicU64,
    /// Tick reads on the writer's CPU that interrupted a latch write.
    irq_reads_in_write: AtomicU64,
    irq_torn: AtomicU64,
}

static FIGURES: Figures = Figures {
    reads: AtomicU64::new(0),
    retries: AtomicU64::new(0),
    torn: AtomicU64::new(0),
    writes: AtomicU64::new(0),
    irq_reads: AtomicU64::new(0),
    irq_reads_in_write: AtomicU64::new(0),
    irq_torn: AtomicU64::new(0),
};

/// Set by the writer around each latch write (read by the tick on the writer's CPU only).
static WRITING_LATCH: AtomicBool = AtomicBool::new(false);

/// Runs the check on every CPU; CPU 0 prints the figures and returns the verdict.
pub fn run(ctx: &Ctx) -> bool {
    ctx.with_shared(
        || {
            super::set_tick_hook(super::HOOK_SEQLATCH);
            // The readers still reading.
            AtomicUsize::new(ctx.cpus - 1)
        },
        |readers_left| {
            if ctx.is_reporter() {
                write_until_readers_done(readers_left);
            } else {
                read(ctx.cpu);
                // Relaxed: the writer only needs to stop eventually.
                readers_left.fetch_sub(1, Relaxed);
            }
        },
        |_, ()| {
            super::set_tick_hook(super::HOOK_NONE);
            report()
        },
    )
}

/// CPU 0: writes both until every reader is done, reading both now and then.
fn write_until_readers_done(readers_left: &AtomicUsize) {
    let mut i = 1u64;
    let mut own = 0;
    // Relaxed: see `run`.
    while readers_left.load(Relaxed) != 0 {
        LOCK.set(payload(i));
        WRITING_LATCH.store(true, Relaxed);
        LATCH.write(payload(i));
        WRITING_LATCH.store(false, Relaxed);
        if i.is_multiple_of(16) {
            check("SeqLock read (writer CPU)", &LOCK.read());
            check("SeqLatch read (writer CPU)", &LATCH.read());
            own += 2;
        }
        i += 1;
    }
    FIGURES.writes.store(i - 1, Relaxed);
    FIGURES.reads.fetch_add(own, Relaxed);
}

/// A reading CPU: [`READS_PER_CPU`] reads, spread over the four readers at random.
fn read(cpu: usize) {
    let mut rng = Rng::new(0x5E01_0C00 + cpu as u64);
    let mut retries = 0;
    for _ in 0..READS_PER_CPU {
        match rng.below(4) {
            0 => {
                // `SeqLock::read`'s loop written out, so that the retries can be counted.
                let copy = loop {
                    if let Some(copy) = LOCK.try_read() {
                        break copy;
                    }
                    retries += 1;
                    core::hint::spin_loop();
                };
                check("SeqLock try_read", &copy);
            }
            1 => check("SeqLock read", &LOCK.read()),
            2 => LOCK.read_or_lock(|copy| check("SeqLock read_or_lock", copy)),
            _ => check("SeqLatch read", &LATCH.read()),
        }
    }
    FIGURES.reads.fetch_add(READS_PER_CPU, Relaxed);
    FIGURES.retries.fetch_add(retries, Relaxed);
}

/// Counts (and reports the first) torn copy.
fn check(reader: &str, copy: &Payload) {
    if !is_whole(copy) && FIGURES.torn.fetch_add(1, Relaxed) == 0 {
        crate::kprintln!("seqlock torn reads: FAIL: {reader} accepted a torn copy {copy:x?}");
    }
}

/// The tick's part: a latch read from interrupt context, never waiting for the writer.
pub fn tick() {
    let in_write = WRITING_LATCH.load(Relaxed) && crate::percpu::cpu_index() == 0;
    let copy = LATCH.read();
    FIGURES.irq_reads.fetch_add(1, Relaxed);
    if in_write {
        FIGURES.irq_reads_in_write.fetch_add(1, Relaxed);
    }
    if !is_whole(&copy) {
        FIGURES.irq_torn.fetch_add(1, Relaxed);
    }
}

fn report() -> bool {
    let get = |counter: &AtomicU64| counter.load(Relaxed);
    let (reads, retries, torn, writes) = (
        get(&FIGURES.reads),
        get(&FIGURES.retries),
        get(&FIGURES.torn),
        get(&FIGURES.writes),
    );
    let (irq_reads, irq_in_write, irq_torn) = (
        get(&FIGURES.irq_reads),
        get(&FIGURES.irq_reads_in_write),
        get(&FIGURES.irq_torn),
    );
    crate::kprintln!(
        "seqlock torn reads: {reads} reads, {retries} retries, {writes} writes of each; \
         torn reads accepted {torn}"
    );
    crate::kprintln!(
        "seqlock torn reads: SeqLatch read from the tick: {irq_reads} reads, {irq_in_write} of \
         them interrupting the latch writer on its CPU; torn reads accepted {irq_torn}"
    );
    let passed = torn == 0 && irq_torn == 0 && writes > 0 && irq_reads > 0;
    super::verdict_line("seqlock torn reads", passed)
}
