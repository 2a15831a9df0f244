//! The path-walk chart: lookup cost against path depth, one polyline per walker, as a
//! hand-written SVG document (two panels: one thread, and the multi-threaded rows on the
//! same file).

use std::fmt::Write as _;

use super::walk::{DEPTHS, WALKERS};
use super::Figures;

/// Line colours, one per walker (a colour-blind-safe qualitative palette).
const COLOURS: [&str; 5] = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"];

const WIDTH: f64 = 980.0;
const HEIGHT: f64 = 500.0;
/// Plot area of a panel: left edge of the first panel, panel pitch, width, top, height.
const LEFT: f64 = 80.0;
const PITCH: f64 = 470.0;
const PLOT_W: f64 = 370.0;
const TOP: f64 = 70.0;
const PLOT_H: f64 = 320.0;

/// Text with XML's special characters escaped.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A round tick step giving about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let unit = raw / magnitude;
    let nice = if unit <= 1.0 {
        1.0
    } else if unit <= 2.0 {
        2.0
    } else if unit <= 2.5 {
        2.5
    } else if unit <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The chart of group 4's figures at 1 and `threads` threads (same file).
pub fn chart(figures: &[Figures], threads: usize, cores: usize) -> String {
    let mut panels = vec![(1, "1 thread".to_owned())];
    if threads > 1 {
        panels.push((threads, format!("{threads} threads, same file")));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">stat(path): \
         median ns per lookup against path depth ({cores} cores, not pinned)</text>",
        WIDTH / 2.0
    );
    for (index, (t, title)) in panels.iter().enumerate() {
        let x0 = LEFT + PITCH * index as f64;
        let series: Vec<Vec<(u32, f64)>> = WALKERS
            .iter()
            .map(|walker| {
                DEPTHS
                    .iter()
                    .filter_map(|&d| {
                        let set = format!("depth {d}, same file");
                        figures
                            .iter()
                            .find(|f| f.set == set && f.name == *walker && f.threads == *t)
                            .map(|f| (d, f.median))
                    })
                    .collect()
            })
            .collect();
        let max = series
            .iter()
            .flatten()
            .map(|p| p.1)
            .fold(0.0, f64::max)
            .max(1.0);
        let step = tick_step(max);
        let top = (max / step).ceil() * step;
        let x_max = f64::from(*DEPTHS.iter().max().expect("depths"));
        let px = |d: f64| x0 + d / x_max * PLOT_W;
        let py = |ns: f64| TOP + PLOT_H - ns / top * PLOT_H;

        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">{}</text>",
            x0 + PLOT_W / 2.0,
            TOP - 12.0,
            esc(title)
        );
        // Grid and y ticks.
        let mut tick = 0.0;
        while tick <= top + step / 2.0 {
            let y = py(tick);
            let _ = writeln!(
                out,
                "<line x1=\"{x0}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{tick}</text>",
                x0 + PLOT_W,
                x0 - 6.0,
                y + 4.0
            );
            tick += step;
        }
        // x ticks at the measured depths.
        for d in DEPTHS {
            let x = px(f64::from(d));
            let _ = writeln!(
                out,
                "<line x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{d}</text>",
                TOP + PLOT_H,
                TOP + PLOT_H + 5.0,
                TOP + PLOT_H + 19.0
            );
        }
        // Axes and their labels.
        let _ = writeln!(
            out,
            "<polyline points=\"{x0},{TOP} {x0},{} {},{}\" fill=\"none\" stroke=\"black\"/>",
            TOP + PLOT_H,
            x0 + PLOT_W,
            TOP + PLOT_H
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">path depth (components)</text>",
            x0 + PLOT_W / 2.0,
            TOP + PLOT_H + 38.0
        );
        let (lx, ly) = (x0 - 52.0, TOP + PLOT_H / 2.0);
        let _ = writeln!(
            out,
            "<text x=\"{lx}\" y=\"{ly}\" text-anchor=\"middle\" \
             transform=\"rotate(-90 {lx} {ly})\">ns per lookup (median)</text>"
        );
        // One polyline per walker, with a marker at each point.
        for (points, colour) in series.iter().zip(COLOURS) {
            let coords: Vec<String> = points
                .iter()
                .map(|&(d, ns)| format!("{:.1},{:.1}", px(f64::from(d)), py(ns)))
                .collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                coords.join(" ")
            );
            for &(d, ns) in points {
                let _ = writeln!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"/>",
                    px(f64::from(d)),
                    py(ns)
                );
            }
        }
    }
    // The legend, below the panels.
    let legend_y = HEIGHT - 40.0;
    let pitch = (WIDTH - 2.0 * LEFT) / WALKERS.len() as f64;
    for (i, (walker, colour)) in WALKERS.iter().zip(COLOURS).enumerate() {
        let x = LEFT + pitch * i as f64;
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{legend_y}\" x2=\"{:.1}\" y2=\"{legend_y}\" \
             stroke=\"{colour}\" stroke-width=\"3\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>",
            x + 22.0,
            x + 28.0,
            legend_y + 4.0,
            esc(walker)
        );
    }
    out.push_str("</svg>\n");
    out
}
