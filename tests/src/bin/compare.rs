//! The side-by-side comparison runner: rcu-core, seqlock-core and pathwalk against their
//! peers, each row at one and at several threads.
//!
//! ```text
//! cargo run --release -p tests --bin compare -- [--quick] [--json PATH] [--svg PATH]
//!     [--threads N] [--only GROUPS]
//! ```
//!
//! 1. RCU read side (enter, load a pointer, dereference, leave): our QSBR and counter
//!    flavors against crossbeam-epoch, arc-swap, `std::sync::RwLock` and `spin::RwLock`.
//! 2. RCU update side: `synchronize` latency with idle readers, `call_rcu` throughput
//!    including running the callbacks (against crossbeam-epoch's `defer`), polled cookies.
//! 3. Seqlock reads of 8, 64 and 256 bytes, without and with a writer thread: ours against
//!    the `seqlock` crate, crossbeam's `AtomicCell` and the two reader-writer locks.
//! 4. `stat` by path at depths 1, 4, 8 and 16 on the reference namespace (`finish_with`,
//!    `finish` + `getattr` + release, ref-walk), a lock-based `Arc` walker, and the host
//!    kernel's `fstatat(2)`; also the SVG chart of cost against depth.
//!
//! Each row's batch is timed with `Instant` around many operations on every thread (started
//! together on a barrier); rows are calibrated, then interleaved round-robin and repeated,
//! and each reports the median, minimum and maximum ns per operation and the ratio to ours.
//! The method and every row are described in the `tests::bench` module and its submodules.
//! The figures depend on the machine and its load: threads are not pinned.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use tests::bench::{self, report, Figures, Settings};

/// The command line.
struct Options {
    quick: bool,
    json: Option<PathBuf>,
    svg: PathBuf,
    threads: usize,
    groups: Vec<u32>,
}

const USAGE: &str = "\
usage: compare [--quick] [--json PATH] [--svg PATH] [--threads N] [--only GROUPS]

Runs rcu-core, seqlock-core and pathwalk side by side with their peers and prints one
table per group: median ns per operation, min-max over the batches, and the ratio to ours
(above 1.00: ours is faster).

  --quick         short batches and 7 repetitions (under 30 s); the default runs 15
  --json PATH     also write every figure as JSON
  --svg PATH      where to write the path-walk chart (default target/compare-pathwalk.svg)
  --threads N     the thread count of the multi-threaded rows, 2 to 32 (default 2)
  --only GROUPS   run only these groups, comma-separated (1 RCU read, 2 RCU update,
                  3 seqlock, 4 path walk)
  --help          this text";

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Options {
            quick: false,
            json: None,
            svg: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/compare-pathwalk.svg"
            )),
            threads: 2,
            groups: vec![1, 2, 3, 4],
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--json" => options.json = Some(PathBuf::from(value("--json")?)),
                "--svg" => options.svg = PathBuf::from(value("--svg")?),
                "--threads" => {
                    let text = value("--threads")?;
                    options.threads = text
                        .parse()
                        .ok()
                        .filter(|n| (2..=32).contains(n))
                        .ok_or_else(|| format!("--threads: {text:?} is not in 2..=32"))?;
                }
                "--only" => {
                    let text = value("--only")?;
                    options.groups = text
                        .split(',')
                        .map(|g| g.trim().parse().ok().filter(|g| (1..=4).contains(g)))
                        .collect::<Option<Vec<u32>>>()
                        .ok_or_else(|| format!("--only: {text:?} is not a list of 1 to 4"))?;
                }
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("compare: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if message.is_empty() { 0 } else { 2 });
        }
    };
    let started = Instant::now();
    let settings = Settings::new(options.quick, options.threads);
    print!("{}", report::header(&settings));
    if cfg!(debug_assertions) {
        println!("warning: a debug build; figures mean little (use --release)");
    }

    let n = settings.threads;
    let oversubscribed = n + 1 > settings.cores;
    let mut all: Vec<Figures> = Vec::new();
    for group in [1, 2, 3, 4] {
        if !options.groups.contains(&group) {
            continue;
        }
        let (title, note, figures) = match group {
            1 => (
                "1. RCU read side: enter, load a pointer, dereference, leave",
                "every thread reads the same pointer; QSBR threads are online and report a \
                 quiescent state between batches (outside the clock)"
                    .to_owned(),
                bench::rcu::read_side(&settings),
            ),
            2 => (
                "2. RCU update side",
                format!(
                    "synchronize: ns per call, {n} idle readers hold slots (QSBR: in an \
                     extended quiescent state); call_rcu: ns per callback queued and run \
                     (process_callbacks every {} callbacks, barrier every {}); get_state + \
                     poll: ns per pair",
                    bench::rcu::TICK,
                    bench::rcu::CHUNK
                ),
                bench::rcu::update_side(&settings),
            ),
            3 => (
                "3. seqlock read: one consistent copy of the payload",
                format!(
                    "all readers read one object; with writer: one more thread stores in a \
                     loop and only readers are timed{}",
                    if oversubscribed {
                        format!(
                            "; the {n}-reader rows with a writer run {} threads on {} cores",
                            n + 1,
                            settings.cores
                        )
                    } else {
                        String::new()
                    }
                ),
                bench::seq::reads(&settings),
            ),
            _ => (
                "4. path walk: stat(path) on the reference namespace (counter flavor)",
                "ns per lookup; ns/comp = per component walked (fstatat also walks the \
                 temporary directory's own path); refs/lookup = reference-count operations \
                 counted by the namespace"
                    .to_owned(),
                bench::walk::lookups(&settings),
            ),
        };
        print!("{}", report::table(title, &note, &figures));
        all.extend(figures);
    }

    let seconds = started.elapsed().as_secs_f64();
    print!(
        "{}",
        report::targets_table(&report::targets(&settings, &all))
    );

    if options.groups.contains(&4) {
        let svg = bench::svg::chart(&all, settings.threads, settings.cores);
        if let Some(dir) = options.svg.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match std::fs::write(&options.svg, svg) {
            Ok(()) => println!("\nchart: {}", options.svg.display()),
            Err(e) => {
                eprintln!("compare: cannot write {}: {e}", options.svg.display());
                return ExitCode::FAILURE;
            }
        }
    }
    if let Some(path) = &options.json {
        match std::fs::write(path, report::json(&settings, &all, seconds)) {
            Ok(()) => println!("json: {}", path.display()),
            Err(e) => {
                eprintln!("compare: cannot write {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    println!("measured in {seconds:.1} s");
    ExitCode::SUCCESS
}
