//! A two-second RCU demo: reader threads look up a configuration through an [`RcuPtr`]
//! under a counter-flavor domain while a writer keeps publishing new versions of it, and old
//! versions are freed only after a grace period. Prints what each thread did.
//!
//! ```text
//! cargo run --release -p tests --bin rcu_demo
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use rcu_core::hosted::Hosted;
use rcu_core::{Counter, Rcu, RcuPtr};

/// How long the writer keeps updating.
const DURATION: Duration = Duration::from_secs(2);

/// Reader threads.
const READERS: usize = 3;

/// The domain every thread of the demo uses.
static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

/// Configurations dropped so far (each after its grace period).
static FREED: AtomicU64 = AtomicU64::new(0);

/// The shared data: a configuration whose fields all derive from its version, so that a
/// reader can tell a torn or freed one from a good one.
struct Config {
    version: u64,
    name: String,
    limits: [u64; 4],
}

impl Config {
    fn new(version: u64) -> Self {
        Self {
            version,
            name: format!("config-v{version}"),
            limits: [1, 2, 3, 4].map(|k| k * version),
        }
    }

    fn is_consistent(&self) -> bool {
        self.name == format!("config-v{}", self.version)
            && self
                .limits
                .iter()
                .zip(1..)
                .all(|(&limit, k)| limit == k * self.version)
    }
}

impl Drop for Config {
    fn drop(&mut self) {
        // Relaxed: read after every thread was joined.
        FREED.fetch_add(1, Ordering::Relaxed);
    }
}

/// What one reader saw.
#[derive(Default)]
struct ReaderStats {
    reads: u64,
    /// Times the version differed from the one the reader saw before.
    versions: u64,
    inconsistent: u64,
}

/// What the writer did.
#[derive(Default)]
struct WriterStats {
    updates: u64,
    synchronized: u64,
    deferred: u64,
}

fn main() {
    let config = RcuPtr::new(&RCU, Some(Config::new(0)));
    let stop = AtomicBool::new(false);
    let gp_before = RCU.get_state().as_u64();
    let started = Instant::now();

    let (readers, writer, processed) = thread::scope(|s| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| s.spawn(|| read(&config, &stop)))
            .collect();
        // A stand-in for a kernel's softirq: runs callbacks whose grace period has ended.
        let callbacks = s.spawn(|| {
            let mut ran = 0;
            // Relaxed: the flag hands nothing over.
            while !stop.load(Ordering::Relaxed) {
                ran += RCU.process_callbacks() as u64;
                thread::yield_now();
            }
            ran
        });
        let writer = write(&config, &started);
        stop.store(true, Ordering::Relaxed);
        let readers: Vec<ReaderStats> = readers
            .into_iter()
            .map(|r| r.join().expect("a reader panicked"))
            .collect();
        (
            readers,
            writer,
            callbacks.join().expect("the callback thread panicked"),
        )
    });
    let elapsed = started.elapsed();

    // Run the callbacks still queued, then free the last version.
    RCU.barrier();
    drop(config);
    let grace_periods = RCU.get_state().as_u64().wrapping_sub(gp_before) / 4;

    println!(
        "rcu-core demo: {READERS} readers and a writer share a config through an RcuPtr \
         (counter flavor, hosted), {:.2} s\n",
        elapsed.as_secs_f64()
    );
    println!(
        "  {:<10} {:>12} {:>16} {:>14}",
        "thread", "reads", "versions seen", "inconsistent"
    );
    for (i, r) in readers.iter().enumerate() {
        println!(
            "  {:<10} {:>12} {:>16} {:>14}",
            format!("reader {i}"),
            r.reads,
            r.versions,
            r.inconsistent
        );
    }
    println!();
    let rows = [
        ("updates", writer.updates, "new versions published"),
        (
            "  synchronize",
            writer.synchronized,
            "freed after waiting for readers",
        ),
        ("  defer_drop", writer.deferred, "freed by a callback"),
        ("grace periods", grace_periods, "completed by the domain"),
        (
            "callbacks",
            writer.deferred,
            "all run (process_callbacks thread + final barrier)",
        ),
        ("  by the thread", processed, ""),
        (
            "configs freed",
            FREED.load(Ordering::Relaxed),
            "every version, once",
        ),
    ];
    for (label, value, note) in rows {
        println!(
            "{}",
            format!("  {label:<16} {value:>10}  {note}").trim_end()
        );
    }

    let inconsistent: u64 = readers.iter().map(|r| r.inconsistent).sum();
    let all_freed = FREED.load(Ordering::Relaxed) == writer.updates + 1;
    if inconsistent != 0 || !all_freed || RCU.pending_callbacks() != 0 {
        eprintln!("demo: FAILED: {inconsistent} inconsistent reads, or a version not freed once");
        std::process::exit(1);
    }
}

/// A reader: looks up the config under a read guard until told to stop.
fn read(
    config: &RcuPtr<'_, Config, Counter<Hosted, { Hosted::MAX_CPUS }>>,
    stop: &AtomicBool,
) -> ReaderStats {
    let mut stats = ReaderStats::default();
    let mut last_version = u64::MAX;
    // Relaxed: the flag hands nothing over.
    while !stop.load(Ordering::Relaxed) {
        let guard = RCU.read_lock();
        let current = config.load(&guard).expect("the config is always present");
        if !current.is_consistent() {
            stats.inconsistent += 1;
        }
        if current.version != last_version {
            stats.versions += 1;
            last_version = current.version;
        }
        drop(guard);
        stats.reads += 1;
        // Readers do other work too; here, they let the writer run now and then.
        if stats.reads % 1024 == 0 {
            thread::yield_now();
        }
    }
    stats
}

/// The writer: publishes a new version as fast as it can for [`DURATION`], freeing the old
/// one either by waiting for a grace period or by handing it to a callback.
fn write(
    config: &RcuPtr<'_, Config, Counter<Hosted, { Hosted::MAX_CPUS }>>,
    started: &Instant,
) -> WriterStats {
    let mut stats = WriterStats::default();
    while started.elapsed() < DURATION {
        stats.updates += 1;
        let old = config.replace(Some(Config::new(stats.updates)));
        if stats.updates % 2 == 0 {
            old.synchronize();
            stats.synchronized += 1;
        } else {
            old.defer_drop();
            stats.deferred += 1;
        }
    }
    stats
}
