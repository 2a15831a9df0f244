//! The stat storm: `stat(2)` of one path on every core at once, on the reference namespace,
//! first through `finish_with` (the walk ends under RCU, no reference taken), then the way
//! Linux does it today (legitimize the path, getattr, release), then through `finish_with`
//! again while a writer keeps exchanging two directories on the path.
//!
//! ```text
//! cargo run --release -p tests --bin demo -- [--threads N] [--depth D] [--seconds S]
//! ```
//!
//! Each phase prints a live progress line, then one row: lookups per second (all threads),
//! nanoseconds per lookup (per thread), reference-count operations per lookup (counted by
//! the namespace), and how the walks ended. In the third phase every answer must be one of
//! the two files the path can name (which one depends on the exchanges), and walks that
//! raced with a rename are counted as fallbacks; a wrong answer makes the demo fail.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use pathwalk::dcache::{Cred, Dcache, RenameFlags, Stat};
use pathwalk::{End, Errno, Lookup, LookupFlags};
use rcu_core::hosted::Hosted;
use rcu_core::Counter;
use tests::tree::Tree;

/// The domain every thread of the demo uses.
static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

type Fs = Dcache<Counter<Hosted, { Hosted::MAX_CPUS }>>;

/// Directories beside each one on the path, so that the hash chains hold more than the path.
const SIBLINGS: usize = 8;

/// How often a walker publishes its count for the progress line.
const PUBLISH_EVERY: u64 = 1024;

/// The command line.
struct Options {
    threads: usize,
    depth: usize,
    seconds: f64,
}

const USAGE: &str = "\
usage: demo [--threads N] [--depth D] [--seconds S]

A stat storm on the reference namespace: every thread stats the same file, through
finish_with (no reference taken), then through finish + getattr + release, then through
finish_with while a writer exchanges two directories on the path.

  --threads N   walker threads (default: the number of cores)
  --depth D     directories on the path, 2 to 64 (default 6)
  --seconds S   duration of each phase (default 2)
  --help        this text";

impl Options {
    fn parse() -> Result<Self, String> {
        let mut options = Options {
            threads: thread::available_parallelism().map_or(2, |n| n.get()),
            depth: 6,
            seconds: 2.0,
        };
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--threads" => options.threads = parse_number("--threads", value, 1, 63)?,
                "--depth" => options.depth = parse_number("--depth", value, 2, 64)?,
                "--seconds" => {
                    let text = value("--seconds")?;
                    options.seconds = text
                        .parse()
                        .ok()
                        .filter(|s: &f64| (0.1..=600.0).contains(s))
                        .ok_or_else(|| format!("--seconds {text}: 0.1 to 600"))?;
                }
                "--help" | "-h" => return Err(String::new()),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

/// The value of option `name`, a number from `min` to `max`.
fn parse_number(
    name: &str,
    mut value: impl FnMut(&str) -> Result<String, String>,
    min: usize,
    max: usize,
) -> Result<usize, String> {
    let text = value(name)?;
    text.parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{name} {text}: expected {min} to {max}"))
}

/// The paths the demo stats, and what they may answer.
struct Fixture {
    /// `/d0/.../dN/file`.
    plain: String,
    /// `/x/d1/.../dN/file`, where the writer exchanges `/x` and `/y`.
    raced: String,
    /// The inode numbers `raced` can name: the file below `/x` and the one below `/y`.
    raced_answers: [u64; 2],
}

/// Builds the tree: the plain path with siblings at every level, and two copies of a path
/// of the same depth below `/x` and `/y`.
fn build(tree: &Tree<Counter<Hosted, { Hosted::MAX_CPUS }>>, depth: usize) -> Fixture {
    let mut dir = String::new();
    for level in 0..depth {
        for sibling in 1..SIBLINGS {
            tree.mkdir(&format!("{dir}/s{level}_{sibling}"), 0o755);
        }
        dir = format!("{dir}/d{level}");
        tree.mkdir(&dir, 0o755);
    }
    let plain = format!("{dir}/file");
    tree.touch(&plain, 0o644);

    let mut answers = [0; 2];
    for (top, answer) in ["/x", "/y"].into_iter().zip(&mut answers) {
        let mut dir = top.to_string();
        tree.mkdir(&dir, 0o755);
        for level in 1..depth {
            dir = format!("{dir}/d{level}");
            tree.mkdir(&dir, 0o755);
        }
        tree.touch(&format!("{dir}/file"), 0o644);
        *answer = tree.ino(&format!("{dir}/file"));
    }
    let below: String = (1..depth).map(|level| format!("/d{level}")).collect();
    let raced = format!("/x{below}/file");
    Fixture {
        plain,
        raced,
        raced_answers: answers,
    }
}

/// One phase's way of stating a path.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Way {
    /// `finish_with(getattr_rcu, getattr)`.
    FinishWith,
    /// `finish()`, then `getattr` on the referenced path, then release.
    Legitimize,
}

/// What the walkers of one phase did.
#[derive(Default)]
struct Tally {
    lookups: u64,
    /// Walker-seconds: the sum of the walkers' own run times.
    busy: f64,
    ends: [u64; 4],
    wrong: u64,
    errors: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.lookups += other.lookups;
        self.busy += other.busy;
        for (a, b) in self.ends.iter_mut().zip(other.ends) {
            *a += b;
        }
        self.wrong += other.wrong;
        self.errors += other.errors;
    }
}

fn end_index(end: End) -> usize {
    match end {
        End::Rcu => 0,
        End::Unlazy => 1,
        End::RefRestart => 2,
        End::RevalRestart => 3,
    }
}

/// A phase's result row.
struct Row {
    name: &'static str,
    tally: Tally,
    wall: f64,
    ref_ops: u64,
    renames: u64,
}

fn main() -> ExitCode {
    let options = match Options::parse() {
        Ok(options) => options,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("demo: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let tree = Tree::new(&RCU);
    let fixture = build(&tree, options.depth);
    let fs = &tree.fs;
    let duration = Duration::from_secs_f64(options.seconds);
    println!(
        "stat storm on the reference namespace: {} walker threads on {} cores, a path of {} \
         components, {:.1} s per phase\n",
        options.threads,
        thread::available_parallelism().map_or(0, |n| n.get()),
        options.depth + 1,
        options.seconds
    );

    let phases = [
        ("finish_with", Way::FinishWith, false),
        ("legitimize", Way::Legitimize, false),
        ("finish_with + renames", Way::FinishWith, true),
    ];
    let mut rows = Vec::new();
    for (name, way, renames) in phases {
        let path = if renames {
            &fixture.raced
        } else {
            &fixture.plain
        };
        let answers = if renames {
            fixture.raced_answers.to_vec()
        } else {
            vec![tree.ino(&fixture.plain)]
        };
        rows.push(run_phase(
            fs, name, way, renames, path, &answers, &options, duration,
        ));
    }
    report(&rows)
}

/// Runs one phase: `options.threads` walkers stat `path` the `way` given for `duration`,
/// with a renaming writer if `renames`, while this thread prints a progress line.
#[allow(clippy::too_many_arguments)]
fn run_phase(
    fs: &Fs,
    name: &'static str,
    way: Way,
    renames: bool,
    path: &str,
    answers: &[u64],
    options: &Options,
    duration: Duration,
) -> Row {
    let stop = AtomicBool::new(false);
    let progress = AtomicU64::new(0);
    let start_line = Barrier::new(options.threads + 1 + usize::from(renames));
    let ref_ops_before = fs.ref_ops();
    let live = std::io::stdout().is_terminal();

    let (tally, wall, exchanges) = thread::scope(|s| {
        let walkers: Vec<_> = (0..options.threads)
            .map(|_| s.spawn(|| walk(fs, way, path, answers, &stop, &progress, &start_line)))
            .collect();
        let writer = renames.then(|| s.spawn(|| exchange(fs, &stop, &start_line)));

        start_line.wait();
        let started = Instant::now();
        while started.elapsed() < duration {
            // A pause for the progress line, not a synchronisation: the walkers stop at the
            // flag below whenever it is set.
            let step = Duration::from_millis(if live { 100 } else { 1000 });
            thread::sleep(step.min(duration.saturating_sub(started.elapsed())));
            // Relaxed: a statistic.
            let done = progress.load(Ordering::Relaxed);
            let elapsed = started.elapsed().as_secs_f64();
            let line = format!(
                "  {name:<24} {elapsed:5.1} s  {:>7.2} M lookups  {:>7.2} M/s",
                done as f64 / 1e6,
                done as f64 / elapsed / 1e6
            );
            // A terminal gets one line redrawn in place, a pipe a line per second.
            if live {
                print!("\r{line}   ");
                let _ = std::io::stdout().flush();
            } else {
                println!("{line}");
            }
        }
        // Relaxed: the flag hands nothing over; the walkers' results come back through
        // `join`.
        stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for walker in walkers {
            tally.add(&walker.join().expect("a walker panicked"));
        }
        let wall = started.elapsed().as_secs_f64();
        let exchanges = writer.map_or(0, |w| w.join().expect("the writer panicked"));
        (tally, wall, exchanges)
    });
    if live {
        print!("\r{:80}\r", "");
    }
    Row {
        name,
        tally,
        wall,
        ref_ops: fs.ref_ops() - ref_ops_before,
        renames: exchanges,
    }
}

/// A walker: stats `path` until `stop`, checking each answer against `answers`.
fn walk(
    fs: &Fs,
    way: Way,
    path: &str,
    answers: &[u64],
    stop: &AtomicBool,
    progress: &AtomicU64,
    start_line: &Barrier,
) -> Tally {
    let mut tally = Tally::default();
    let root = fs.root();
    start_line.wait();
    let started = Instant::now();
    // Relaxed: the flag hands nothing over.
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..PUBLISH_EVERY {
            let lookup = Lookup::new(
                fs,
                &Cred::ROOT,
                root,
                root,
                path.as_bytes(),
                LookupFlags::FOLLOW,
            );
            let (result, end): (Result<Stat, Errno>, End) = match way {
                Way::FinishWith => {
                    let walked = lookup.finish_with(
                        |view| fs.getattr_rcu(view.guard(), view.location()),
                        |path| fs.getattr(path.location()),
                    );
                    (walked.result, walked.end)
                }
                Way::Legitimize => {
                    let walked = lookup.finish();
                    let stat = walked.result.and_then(|path| fs.getattr(path.location()));
                    (stat, walked.end)
                }
            };
            tally.ends[end_index(end)] += 1;
            match result {
                Ok(stat) if answers.contains(&stat.ino) => {}
                Ok(_) => tally.wrong += 1,
                Err(errno) => {
                    if tally.errors == 0 {
                        eprintln!("demo: stat {path}: {errno}");
                    }
                    tally.errors += 1
                }
            }
        }
        tally.lookups += PUBLISH_EVERY;
        // Relaxed: a statistic for the progress line.
        progress.fetch_add(PUBLISH_EVERY, Ordering::Relaxed);
    }
    tally.busy = started.elapsed().as_secs_f64();
    tally
}

/// The writer: exchanges `/x` and `/y` until `stop`; returns how many times.
fn exchange(fs: &Fs, stop: &AtomicBool, start_line: &Barrier) -> u64 {
    let root = fs.root();
    let mut exchanges = 0;
    start_line.wait();
    // Relaxed: the flag hands nothing over.
    while !stop.load(Ordering::Relaxed) {
        fs.rename(root, b"x", root, b"y", RenameFlags::EXCHANGE, &Cred::ROOT)
            .expect("exchanging /x and /y");
        exchanges += 1;
    }
    exchanges
}

/// Prints the table and the verdict.
fn report(rows: &[Row]) -> ExitCode {
    println!();
    println!(
        "  {:<24} {:>12} {:>10} {:>10} {:>11} {:>9} {:>10} {:>9}",
        "phase",
        "lookups/s",
        "ns/lookup",
        "refs/look",
        "RCU finish",
        "unlazy",
        "ref rest.",
        "reval"
    );
    for row in rows {
        let t = &row.tally;
        let lookups = t.lookups.max(1) as f64;
        println!(
            "  {:<24} {:>12.0} {:>10.1} {:>10.3} {:>11} {:>9} {:>10} {:>9}",
            row.name,
            t.lookups as f64 / row.wall,
            t.busy * 1e9 / lookups,
            row.ref_ops as f64 / lookups,
            t.ends[0],
            t.ends[1],
            t.ends[2],
            t.ends[3],
        );
    }
    let rate = |row: &Row| row.tally.lookups as f64 / row.wall;
    println!(
        "\n  finish_with is {:.2}x the lookups per second of the legitimize path, and takes \
         {} reference-count operations.",
        rate(&rows[0]) / rate(&rows[1]),
        rows[0].ref_ops
    );

    let raced = &rows[2];
    let fallbacks = raced.tally.lookups - raced.tally.ends[0];
    println!(
        "  With {} exchanges of /x and /y: {} lookups, {} answered one of the two files, \
         {} fell back from the RCU finish, {} wrong answers, {} errors.",
        raced.renames,
        raced.tally.lookups,
        raced.tally.lookups - raced.tally.wrong - raced.tally.errors,
        fallbacks,
        raced.tally.wrong,
        raced.tally.errors
    );
    let wrong: u64 = rows.iter().map(|r| r.tally.wrong + r.tally.errors).sum();
    if wrong != 0 || rows[0].ref_ops != 0 {
        println!("FAIL: wrong answers, errors, or references taken by finish_with");
        return ExitCode::FAILURE;
    }
    println!("PASS");
    ExitCode::SUCCESS
}
