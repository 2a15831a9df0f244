//! The side-by-side comparison runner behind `cargo run --release -p tests --bin compare`:
//! the measuring harness, the four groups of rows, and the table, JSON and SVG output.
//!
//! # How a figure is measured
//!
//! A *row* is one implementation at one setting and thread count (say, `crossbeam-epoch`,
//! two threads). Running a row once is a *batch*: each of its threads is started on a
//! [`Barrier`], reads [`Instant`] once, runs a fixed number of operations, and reads the
//! clock again; nothing is timed per operation and no thread sleeps to synchronise. A
//! batch reports the total thread time divided by the total number of operations: the cost
//! of one operation as one thread sees it, which stays flat as threads are added when an
//! operation scales perfectly. Results pass through
//! [`std::hint::black_box`] so that the work is not optimised away.
//!
//! Before the first round every row is calibrated: its batch size is grown until a batch
//! takes about [`Settings::batch`]. Then the rows of a group are run round-robin (row A, row
//! B, ..., and again, [`Settings::reps`] times), so that drift of the machine (frequency,
//! other load) affects every row alike rather than whichever ran last (T. Mytkowicz et al.,
//! "Producing Wrong Data Without Doing Anything Obviously Wrong!", ASPLOS 2009, on
//! measurement bias; T. Kalibera and R. Jones, "Rigorous Benchmarking in Reasonable Time",
//! ISMM 2013, on repetition). A row reports the median of its batches, their minimum and
//! maximum, and the ratio of its median to that of the row of ours it is compared with.
//!
//! Threads are not pinned; the operating system places them.
//!
//! # The groups
//!
//! - [`rcu`]: the RCU read side (group 1) and update side (group 2).
//! - [`seq`]: seqlock reads with and without a writer (group 3).
//! - [`walk`]: path walks on the reference namespace, a lock-based walker and the host
//!   kernel's `fstatat(2)` (group 4).
//!
//! [`report`] prints the tables, writes the JSON file and checks the targets; [`svg`]
//! draws the path-walk chart.

pub mod rcu;
pub mod report;
pub mod seq;
pub mod svg;
pub mod walk;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Barrier, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long and how often to measure.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `--quick` mode: shorter batches, fewer repetitions.
    pub quick: bool,
    /// Batches per row.
    pub reps: usize,
    /// The time one batch should take (per thread), which calibration aims at.
    pub batch: Duration,
    /// The thread count of the multi-threaded rows (the other rows run one thread).
    pub threads: usize,
    /// Cores the operating system offers this process.
    pub cores: usize,
}

impl Settings {
    /// The settings of a quick or a full run with `threads` threads in the multi-threaded
    /// rows.
    pub fn new(quick: bool, threads: usize) -> Self {
        let cores = thread::available_parallelism().map_or(1, |n| n.get());
        if quick {
            Self {
                quick,
                reps: 7,
                batch: Duration::from_millis(4),
                threads,
                cores,
            }
        } else {
            Self {
                quick,
                reps: 15,
                batch: Duration::from_millis(25),
                threads,
                cores,
            }
        }
    }

    /// The thread counts every row is run at: 1 and [`threads`](Self::threads).
    pub fn thread_counts(&self) -> Vec<usize> {
        if self.threads > 1 {
            vec![1, self.threads]
        } else {
            vec![1]
        }
    }
}

/// What one batch measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// Nanoseconds per operation: total thread time over total operations.
    pub ns_per_op: f64,
    /// Reference-count operations per operation, for the rows that count them.
    pub refs_per_op: Option<f64>,
}

impl Sample {
    /// A sample without extra counts.
    pub fn time(ns_per_op: f64) -> Self {
        Self {
            ns_per_op,
            refs_per_op: None,
        }
    }
}

/// One batch: runs the given number of operations per thread and reports the cost.
pub type Batch<'a> = Box<dyn FnMut(u64) -> Sample + 'a>;

/// A row to measure.
pub struct Row<'a> {
    /// The setting the row belongs to (`"64 B, no writer"`); rows of one set and thread
    /// count are compared with each other.
    pub set: String,
    /// The implementation (`"crossbeam-epoch"`).
    pub name: String,
    /// Threads running the operation.
    pub threads: usize,
    /// Whether this is one of ours; the first such row of a set and thread count is the
    /// baseline of the ratio column.
    pub ours: bool,
    /// Path components walked per operation, for the per-component column.
    pub components: Option<u32>,
    /// The depth of the path in the tree, for the chart.
    pub depth: Option<u32>,
    /// The most operations per thread one batch may run (memory-bound setups).
    pub max_ops: u64,
    /// The batch.
    pub run: Batch<'a>,
}

impl<'a> Row<'a> {
    /// A row with no component count and no batch-size cap.
    pub fn new(
        set: impl Into<String>,
        name: impl Into<String>,
        threads: usize,
        ours: bool,
        run: impl FnMut(u64) -> Sample + 'a,
    ) -> Self {
        Self {
            set: set.into(),
            name: name.into(),
            threads,
            ours,
            components: None,
            depth: None,
            max_ops: u64::MAX / 4,
            run: Box::new(run),
        }
    }
}

/// The figures of one row.
#[derive(Clone, Debug)]
pub struct Figures {
    /// The group (`"1. RCU read side"`).
    pub group: String,
    /// See [`Row::set`].
    pub set: String,
    /// See [`Row::name`].
    pub name: String,
    /// See [`Row::threads`].
    pub threads: usize,
    /// See [`Row::ours`].
    pub ours: bool,
    /// See [`Row::components`].
    pub components: Option<u32>,
    /// See [`Row::depth`].
    pub depth: Option<u32>,
    /// Operations per thread in the last batch (see [`measure`]).
    pub ops: u64,
    /// Median nanoseconds per operation over the batches.
    pub median: f64,
    /// The fastest batch.
    pub min: f64,
    /// The slowest batch.
    pub max: f64,
    /// This row's median over the baseline's (ours) of the same set and thread count: above
    /// 1 means ours is faster.
    pub ratio: f64,
    /// Median reference-count operations per operation, where counted.
    pub refs_per_op: Option<f64>,
}

/// Calibrates every row, runs the rows round-robin `settings.reps` times and returns their
/// figures in the order given.
///
/// A batch that took more than twice the target shrinks the row's later batches back to it.
/// Calibration scales by the faster of two runs, and a row with a writer can be fast in both
/// (the writer not yet scheduled) and then hundreds of times slower per operation: without
/// this, such rows alone could take the full run past its time budget.
///
/// # Panics
///
/// If a row's batch panics (a failed check inside it).
pub fn measure(settings: &Settings, group: &str, mut rows: Vec<Row<'_>>) -> Vec<Figures> {
    let mut ops: Vec<u64> = rows
        .iter_mut()
        .map(|row| calibrate(&mut row.run, settings.batch, row.max_ops))
        .collect();
    let mut samples: Vec<Vec<Sample>> = rows.iter().map(|_| Vec::new()).collect();
    let target = settings.batch.as_nanos() as f64;
    for _ in 0..settings.reps {
        for (i, row) in rows.iter_mut().enumerate() {
            let sample = (row.run)(ops[i]);
            let spent = sample.ns_per_op * ops[i] as f64;
            if spent > 2.0 * target {
                ops[i] = scaled_ops(ops[i], target, spent, row.max_ops);
            }
            samples[i].push(sample);
        }
    }
    let mut figures: Vec<Figures> = rows
        .iter()
        .zip(&samples)
        .zip(&ops)
        .map(|((row, samples), &ops)| {
            let mut ns: Vec<f64> = samples.iter().map(|s| s.ns_per_op).collect();
            ns.sort_by(f64::total_cmp);
            let mut refs: Vec<f64> = samples.iter().filter_map(|s| s.refs_per_op).collect();
            refs.sort_by(f64::total_cmp);
            Figures {
                group: group.to_owned(),
                set: row.set.clone(),
                name: row.name.clone(),
                threads: row.threads,
                ours: row.ours,
                components: row.components,
                depth: row.depth,
                ops,
                median: median(&ns),
                min: ns[0],
                max: ns[ns.len() - 1],
                ratio: f64::NAN,
                refs_per_op: (!refs.is_empty()).then(|| median(&refs)),
            }
        })
        .collect();
    let baselines: Vec<Option<f64>> = figures
        .iter()
        .map(|f| {
            figures
                .iter()
                .find(|b| b.ours && b.set == f.set && b.threads == f.threads)
                .map(|b| b.median)
        })
        .collect();
    for (f, baseline) in figures.iter_mut().zip(baselines) {
        f.ratio = baseline.map_or(f64::NAN, |b| f.median / b);
    }
    figures
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The fewest operations per thread a calibrated batch runs, so that one slow calibration
/// run (a preempted thread) cannot shrink the batches to a handful of operations.
const MIN_OPS: u64 = 64;

/// Finds a batch size (operations per thread) for which a batch takes about `target`: grows
/// the batch until it takes a quarter of that, runs that size once more, and scales by the
/// faster of the two runs.
fn calibrate(run: &mut Batch<'_>, target: Duration, max_ops: u64) -> u64 {
    let target = target.as_nanos() as f64;
    let mut ops: u64 = 16;
    loop {
        let spent = run(ops).ns_per_op * ops as f64;
        if spent >= target / 4.0 || ops >= max_ops {
            let again = run(ops).ns_per_op * ops as f64;
            return scaled_ops(ops, target, spent.min(again), max_ops);
        }
        ops = if spent < target / 64.0 {
            ops * 16
        } else {
            ops * 4
        }
        .min(max_ops);
    }
}

/// The batch size that takes `target` nanoseconds, given that `ops` operations took `spent`:
/// at least [`MIN_OPS`] (or `max_ops` if smaller), at most `max_ops`.
fn scaled_ops(ops: u64, target: f64, spent: f64, max_ops: u64) -> u64 {
    let scaled = (ops as f64 * target / spent.max(1.0)).ceil() as u64;
    scaled.clamp(MIN_OPS.min(max_ops), max_ops)
}

/// The start line of a batch: every thread of it (and any background thread) waits here,
/// then starts its clock.
pub struct Start<'b> {
    barrier: &'b Barrier,
}

impl Start<'_> {
    /// Waits for every other thread of the batch, then returns the start time.
    pub fn wait(&self) -> Instant {
        self.barrier.wait();
        Instant::now()
    }
}

/// Tells background threads (writers, idle readers) that the batch is over.
pub struct Stop {
    flag: AtomicBool,
    done: Mutex<bool>,
    changed: Condvar,
}

impl Stop {
    fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            done: Mutex::new(false),
            changed: Condvar::new(),
        }
    }

    /// Whether the batch is over, for threads that poll between operations.
    pub fn is_set(&self) -> bool {
        // Relaxed: the flag carries no data; the batch joins its threads afterwards.
        self.flag.load(Ordering::Relaxed)
    }

    /// Blocks until the batch is over, for threads that must stay idle.
    pub fn wait(&self) {
        let mut done = self.done.lock().expect("stop lock poisoned");
        while !*done {
            done = self.changed.wait(done).expect("stop lock poisoned");
        }
    }

    fn set(&self) {
        // Relaxed: see `is_set`.
        self.flag.store(true, Ordering::Relaxed);
        *self.done.lock().expect("stop lock poisoned") = true;
        self.changed.notify_all();
    }
}

/// A thread that runs beside a batch's timed threads: it passes the start line with them
/// and runs until [`Stop`] says the batch is over.
pub type Background<'a> = &'a (dyn Fn(&Start<'_>, &Stop) + Sync);

/// Runs `body(thread index, start)` on `threads` new threads, each of which must call
/// `start.wait()` exactly once and return the time its `ops` operations took, beside
/// `background` threads. Returns nanoseconds per operation: the sum of the threads' times
/// over `threads * ops`.
///
/// # Panics
///
/// If a thread panics.
pub fn threaded<F>(threads: usize, ops: u64, background: &[Background<'_>], body: F) -> f64
where
    F: Fn(usize, &Start<'_>) -> Duration + Sync,
{
    let barrier = Barrier::new(threads + background.len());
    let stop = Stop::new();
    let total: Duration = thread::scope(|s| {
        let helpers: Vec<_> = background
            .iter()
            .map(|job| {
                let (barrier, stop) = (&barrier, &stop);
                s.spawn(move || job(&Start { barrier }, stop))
            })
            .collect();
        let timed: Vec<_> = (0..threads)
            .map(|index| {
                let (barrier, body) = (&barrier, &body);
                s.spawn(move || body(index, &Start { barrier }))
            })
            .collect();
        let total = timed
            .into_iter()
            .map(|t| t.join().expect("a benchmark thread panicked"))
            .sum();
        stop.set();
        for helper in helpers {
            helper.join().expect("a background thread panicked");
        }
        total
    });
    total.as_nanos() as f64 / (threads as u64 * ops) as f64
}

/// [`threaded`] for the common case: every thread runs `op(thread index)` `ops` times
/// between the start line and its second clock reading.
pub fn timed_loop<F>(threads: usize, ops: u64, background: &[Background<'_>], op: F) -> f64
where
    F: Fn(usize) + Sync,
{
    threaded(threads, ops, background, |index, start| {
        let began = start.wait();
        for _ in 0..ops {
            op(index);
        }
        began.elapsed()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row that is cheap while it is calibrated and a thousand times dearer afterwards (a
    /// writer that was not yet scheduled) must not keep batches a thousand times the target:
    /// after the first slow batch, every batch is back near the target.
    #[test]
    fn a_row_that_slows_down_after_calibration_gets_smaller_batches() {
        let settings = Settings::new(true, 1);
        let target = settings.batch.as_nanos() as f64;
        let (mut last_ops, mut slow) = (0, false);
        let spent = std::cell::RefCell::new(Vec::new());
        let row = Row::new("set", "row", 1, true, |ops| {
            // Calibration ends by running one batch size twice; the batches after it are slow.
            let ns_per_op = if slow { 1000.0 } else { 1.0 };
            slow |= ops == last_ops;
            last_ops = ops;
            spent.borrow_mut().push(ns_per_op * ops as f64);
            Sample::time(ns_per_op)
        });
        let figures = measure(&settings, "test", vec![row]);
        let spent = spent.into_inner();
        let reps = &spent[spent.len() - settings.reps..];
        assert!(
            reps[0] > 100.0 * target,
            "the first batch after calibration should be the slow one: {reps:?}"
        );
        for batch in &reps[1..] {
            assert!(
                *batch <= 2.0 * target,
                "batch of {batch} ns against a target of {target} ns: {reps:?}"
            );
        }
        assert_eq!(figures[0].median, 1000.0);
    }
}
