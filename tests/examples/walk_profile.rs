//! One thread doing `stat` by path in a loop, for profilers that count instructions or sample
//! a single thread (`valgrind --tool=callgrind`, `perf record`), where the comparison runner's
//! timed, multi-threaded batches get in the way.
//!
//! The tree is the one of the runner's path-walk group for two threads
//! ([`chain_entries`](tests::bench::walk::chain_entries)): a chain `/d0/.../d14` of
//! directories of mode 0755 with files `f0` and `f1` in the root and in every directory,
//! walked as uid 1000 so that every step checks search permission. The path of depth `k`
//! has `k` components and ends at `f0`.
//!
//! ```sh
//! cargo build --release -p tests --example walk_profile
//! target/release/examples/walk_profile 16 finish_with 2000000      # prints ns per lookup
//! CARGO_PROFILE_RELEASE_DEBUG=true cargo build --release -p tests --example walk_profile
//! valgrind --tool=callgrind target/release/examples/walk_profile 16 finish_with 20000
//! callgrind_annotate --auto=yes callgrind.out.*
//! ```
//!
//! Walkers: `finish_with` (the RCU finish), `finish` (legitimize, getattr, release),
//! `ref-walk`, and `arc` (the runner's `Arc` + `RwLock` walker).

use std::hint::black_box;
use std::time::Instant;

use pathwalk::dcache::Cred;
use pathwalk::{End, Lookup, LookupFlags};
use rcu_core::hosted::Hosted;
use rcu_core::Counter;
use tests::bench::walk::{self, LockTree};
use tests::tree::Tree;

static RCU: Counter<Hosted, { Hosted::MAX_CPUS }> = Counter::new();

const USER: Cred = Cred::new(1000, 1000);

const USAGE: &str = "usage: walk_profile DEPTH (1-16) finish_with|finish|ref-walk|arc LOOKUPS";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [depth, walker, lookups] = &args[..] else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    let (Ok(depth @ 1..=16), Ok(lookups)) = (depth.parse::<u32>(), lookups.parse::<u64>()) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };

    let tree = Tree::new(&RCU);
    let locked = LockTree::new();
    for (path, directory) in walk::chain_entries(16, 2) {
        if directory {
            tree.mkdir(&path, 0o755);
            locked.mkdir(&path, 0o755);
        } else {
            tree.touch(&path, 0o644);
            locked.touch(&path, 0o644);
        }
    }
    let path = walk::path_of(depth, 0);
    let path = path.as_bytes();

    let fs = &tree.fs;
    let root = tree.root();
    let lookup = || Lookup::new(fs, &USER, root, root, black_box(path), LookupFlags::FOLLOW);
    let started = Instant::now();
    for _ in 0..lookups {
        let ino = match walker.as_str() {
            "finish_with" => {
                let walked = lookup().finish_with(
                    |view| fs.getattr_rcu(view.guard(), view.location()),
                    |path| fs.getattr(path.location()),
                );
                assert!(walked.end == End::Rcu, "a quiet namespace ends under RCU");
                walked.result.expect("stat").ino
            }
            "finish" => {
                let path = lookup().finish().result.expect("lookup");
                fs.getattr(path.location()).expect("getattr").ino
            }
            "ref-walk" => {
                let path = lookup().without_rcu().finish().result.expect("lookup");
                fs.getattr(path.location()).expect("getattr").ino
            }
            "arc" => locked.stat(path, &USER).expect("stat").ino,
            _ => {
                eprintln!("{USAGE}");
                std::process::exit(2);
            }
        };
        black_box(ino);
    }
    let ns = started.elapsed().as_nanos() as f64 / lookups.max(1) as f64;
    println!("{walker}, depth {depth}: {ns:.1} ns per lookup");
}
