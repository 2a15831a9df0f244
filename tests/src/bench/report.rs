//! The runner's output: aligned tables, the JSON file, and the check of the targets.

use std::fmt::Write as _;

use super::walk::{DEPTHS, WALKERS};
use super::{Figures, Settings};

/// A figure for a table: more digits for small values.
fn num(value: f64) -> String {
    if !value.is_finite() {
        "-".to_owned()
    } else if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// The header printed before the tables.
pub fn header(settings: &Settings) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "compare: rcu-core, seqlock-core and pathwalk against their peers ({} run)",
        if settings.quick { "quick" } else { "full" }
    );
    let _ = writeln!(
        out,
        "cores: {} (std::thread::available_parallelism); threads are not pinned",
        settings.cores
    );
    let _ = writeln!(
        out,
        "rows at 1 and {} threads; {} batches per row, each about {} ms per thread, rows \
         interleaved round-robin",
        settings.threads,
        settings.reps,
        settings.batch.as_millis()
    );
    let _ = writeln!(
        out,
        "ns/op = total thread time / total operations (per-thread cost; flat when an \
         operation scales)"
    );
    let _ = writeln!(
        out,
        "ratio = row median / median of our first row in the same set and thread count: \
         above 1.00 means ours is faster"
    );
    out
}

/// One group's table, rows grouped by set.
pub fn table(title: &str, note: &str, figures: &[Figures]) -> String {
    let walk = figures.iter().any(|f| f.components.is_some());
    let mut out = String::new();
    let _ = writeln!(out, "\n== {title} ==");
    if !note.is_empty() {
        let _ = writeln!(out, "{note}");
    }
    let name_width = figures
        .iter()
        .map(|f| f.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut head = format!(
        "{:<name_width$}  {:>7}  {:>10}  {:>17}  {:>6}",
        "row", "threads", "median ns", "min-max ns", "ratio"
    );
    if walk {
        let _ = write!(head, "  {:>8}  {:>11}", "ns/comp", "refs/lookup");
    }
    let mut sets: Vec<&str> = Vec::new();
    for f in figures {
        if !sets.contains(&f.set.as_str()) {
            sets.push(&f.set);
        }
    }
    for set in sets {
        let _ = writeln!(out, "\n--- {set} ---");
        let _ = writeln!(out, "{head}");
        let mut rows: Vec<&Figures> = figures.iter().filter(|f| f.set == set).collect();
        rows.sort_by_key(|f| f.threads);
        for f in rows {
            let range = format!("{}-{}", num(f.min), num(f.max));
            let _ = write!(
                out,
                "{:<name_width$}  {:>7}  {:>10}  {:>17}  {:>6}",
                f.name,
                f.threads,
                num(f.median),
                range,
                num(f.ratio)
            );
            if walk {
                let per_component = f.components.map_or(f64::NAN, |c| f.median / f64::from(c));
                let refs = f.refs_per_op.map_or("-".to_owned(), |r| format!("{r:.2}"));
                let _ = write!(out, "  {:>8}  {:>11}", num(per_component), refs);
            }
            out.push('\n');
        }
    }
    out
}

/// A JSON string literal.
fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number, or `null` for a missing or non-finite value.
fn json_num(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".to_owned(),
    }
}

/// Every figure as a JSON document.
pub fn json(settings: &Settings, figures: &[Figures], seconds: f64) -> String {
    let mut out = String::from("{\n");
    let _ = writeln!(
        out,
        "  \"mode\": {},",
        json_str(if settings.quick { "quick" } else { "full" })
    );
    let _ = writeln!(out, "  \"cores\": {},", settings.cores);
    let _ = writeln!(out, "  \"pinned\": false,");
    let _ = writeln!(out, "  \"threads\": {},", settings.threads);
    let _ = writeln!(out, "  \"repetitions\": {},", settings.reps);
    let _ = writeln!(out, "  \"batch_ms\": {},", settings.batch.as_millis());
    let _ = writeln!(
        out,
        "  \"per_op\": {},",
        json_str("total thread time / total operations, nanoseconds")
    );
    let _ = writeln!(
        out,
        "  \"ratio\": {},",
        json_str(
            "median / median of our baseline row of the same set and threads; > 1: ours faster"
        )
    );
    let _ = writeln!(out, "  \"seconds\": {seconds:.1},");
    out.push_str("  \"rows\": [\n");
    for (i, f) in figures.iter().enumerate() {
        let per_component = f.components.map(|c| f.median / f64::from(c));
        let _ = write!(
            out,
            "    {{\"group\": {}, \"set\": {}, \"row\": {}, \"threads\": {}, \"ours\": {}, \
             \"ops_per_batch\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"ratio\": {}, \
             \"depth\": {}, \"components\": {}, \"ns_per_component\": {}, \
             \"refs_per_lookup\": {}}}",
            json_str(&f.group),
            json_str(&f.set),
            json_str(&f.name),
            f.threads,
            f.ours,
            f.ops,
            json_num(Some(f.median)),
            json_num(Some(f.min)),
            json_num(Some(f.max)),
            json_num(Some(f.ratio)),
            f.depth.map_or("null".to_owned(), |d| d.to_string()),
            f.components.map_or("null".to_owned(), |c| c.to_string()),
            json_num(per_component),
            json_num(f.refs_per_op),
        );
        out.push_str(if i + 1 < figures.len() { ",\n" } else { "\n" });
    }
    out.push_str("  ]\n}\n");
    out
}

/// One checked target.
#[derive(Clone, Debug)]
pub struct Target {
    /// What was checked.
    pub what: String,
    /// The figure found.
    pub value: String,
    /// Whether it held.
    pub held: bool,
}

/// The figure of row `name` in `set` of the group starting with `group` at `threads`.
fn find<'f>(
    figures: &'f [Figures],
    group: &str,
    set: &str,
    name: &str,
    threads: usize,
) -> Option<&'f Figures> {
    figures.iter().find(|f| {
        f.group.starts_with(group) && f.set == set && f.name == name && f.threads == threads
    })
}

/// Checks the performance targets against the figures (those whose rows were run).
pub fn targets(settings: &Settings, figures: &[Figures]) -> Vec<Target> {
    let n = settings.threads;
    let mut out = Vec::new();
    let mut ratio_target =
        |what: String, slow: Option<&Figures>, fast: Option<&Figures>, at_least: f64| {
            if let (Some(slow), Some(fast)) = (slow, fast) {
                let ratio = slow.median / fast.median;
                out.push(Target {
                    what,
                    value: format!("{ratio:.2}x"),
                    held: ratio >= at_least,
                });
            }
        };

    // Group 1.
    let read = "enter, load, deref, leave";
    for t in settings.thread_counts() {
        let g = |name| find(figures, "1.", read, name, t);
        ratio_target(
            format!("QSBR read >= 5x cheaper than crossbeam-epoch ({t} thr): crossbeam / qsbr"),
            g("crossbeam-epoch"),
            g("qsbr (ours)"),
            5.0,
        );
        ratio_target(
            format!("counter read no slower than crossbeam-epoch ({t} thr): crossbeam / counter"),
            g("crossbeam-epoch"),
            g("counter (ours)"),
            1.0,
        );
        ratio_target(
            format!(
                "counter+membarrier read no slower than crossbeam-epoch ({t} thr): \
                 crossbeam / counter+membarrier"
            ),
            g("crossbeam-epoch"),
            g("counter+membarrier (ours)"),
            1.0,
        );
    }
    // Scaling: N-thread per-op within 1.2x of 1 thread (1-thread / N-thread >= 1/1.2).
    if n > 1 {
        let mut scaling = |group: &str, set: &str, name: &str| {
            ratio_target(
                format!(
                    "{n}-thread per-op within 1.2x of 1 thread: {name}, {set}: 1 thr / {n} thr"
                ),
                find(figures, group, set, name, 1),
                find(figures, group, set, name, n),
                1.0 / 1.2,
            );
        };
        scaling("1.", read, "qsbr (ours)");
        scaling("1.", read, "counter (ours)");
        scaling("1.", read, "counter+membarrier (ours)");
        for bytes in [8, 64, 256] {
            scaling(
                "3.",
                &format!("{bytes} B, no writer"),
                "seqlock-core (ours)",
            );
        }
        for depth in DEPTHS {
            scaling("4.", &format!("depth {depth}, same file"), WALKERS[0]);
        }
    }

    // Group 3.
    for bytes in [8, 64, 256] {
        for writer in ["no writer", "with writer"] {
            let set = format!("{bytes} B, {writer}");
            for t in settings.thread_counts() {
                ratio_target(
                    format!(
                        "seqlock read <= 1.2x the seqlock crate ({set}, {t} thr): crate / ours"
                    ),
                    find(figures, "3.", &set, "seqlock crate", t),
                    find(figures, "3.", &set, "seqlock-core (ours)", t),
                    1.0 / 1.2,
                );
            }
            if n > 1 {
                ratio_target(
                    format!("seqlock read >= 4x faster than std RwLock ({set}, {n} readers)"),
                    find(figures, "3.", &set, "std RwLock", n),
                    find(figures, "3.", &set, "seqlock-core (ours)", n),
                    4.0,
                );
            }
        }
    }

    // Group 4.
    for depth in DEPTHS {
        let same = format!("depth {depth}, same file");
        ratio_target(
            format!("finish_with >= 1.3x faster than finish+getattr+release ({same}, 1 thr)"),
            find(figures, "4.", &same, WALKERS[1], 1),
            find(figures, "4.", &same, WALKERS[0], 1),
            1.3,
        );
        if n > 1 {
            ratio_target(
                format!("finish_with >= 2x faster than finish+getattr+release ({same}, {n} thr)"),
                find(figures, "4.", &same, WALKERS[1], n),
                find(figures, "4.", &same, WALKERS[0], n),
                2.0,
            );
        }
        ratio_target(
            format!("RCU walk >= 3x faster than the Arc+RwLock walker ({same}, 1 thr)"),
            find(figures, "4.", &same, WALKERS[3], 1),
            find(figures, "4.", &same, WALKERS[0], 1),
            3.0,
        );
        if n > 1 {
            for sharing in ["same file", "own file"] {
                let set = format!("depth {depth}, {sharing}");
                ratio_target(
                    format!("RCU walk >= 5x faster than the Arc+RwLock walker ({set}, {n} thr)"),
                    find(figures, "4.", &set, WALKERS[3], n),
                    find(figures, "4.", &set, WALKERS[0], n),
                    5.0,
                );
            }
        }
    }
    let refs: Vec<f64> = figures
        .iter()
        .filter(|f| f.group.starts_with("4.") && f.name == WALKERS[0])
        .filter_map(|f| f.refs_per_op)
        .collect();
    if !refs.is_empty() {
        let worst = refs.iter().copied().fold(0.0, f64::max);
        out.push(Target {
            what: "finish_with takes 0 reference-count operations per lookup (every row)"
                .to_owned(),
            value: format!("{worst}"),
            held: worst == 0.0,
        });
    }
    for t in settings.thread_counts() {
        for walker in WALKERS {
            let points: Vec<(f64, f64)> = DEPTHS
                .iter()
                .filter_map(|&d| {
                    find(figures, "4.", &format!("depth {d}, same file"), walker, t)
                        .map(|f| (f64::from(d), f.median))
                })
                .collect();
            if points.len() == DEPTHS.len() {
                let r2 = r_squared(&points);
                out.push(Target {
                    what: format!("cost linear in depth: {walker}, same file, {t} thr (R^2)"),
                    value: format!("{r2:.4}"),
                    held: r2 >= 0.98,
                });
            }
        }
    }
    out
}

/// The coefficient of determination of the least-squares line through `points`.
fn r_squared(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = points.iter().map(|p| (p.1 - my).powi(2)).sum();
    if sxx == 0.0 || syy == 0.0 {
        return 1.0;
    }
    sxy * sxy / (sxx * syy)
}

/// The targets as a table.
pub fn targets_table(targets: &[Target]) -> String {
    let mut out = String::from("\n== targets (provisional: figures from this machine) ==\n");
    let width = targets.iter().map(|t| t.what.len()).max().unwrap_or(0);
    for t in targets {
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {}",
            t.what,
            t.value,
            if t.held { "held" } else { "MISSED" }
        );
    }
    let held = targets.iter().filter(|t| t.held).count();
    let _ = writeln!(out, "{held} of {} held", targets.len());
    out
}
