//! `timeline`: where a run's wall time went, from its JSON reports.
//!
//! [`html`] draws a self-contained HTML page with one inline SVG: one lane per worker of each
//! shard, each attempt a bar placed at its start time and coloured by outcome, and for each
//! shard its actual end (solid) and predicted end (dashed). A table lists the tests that hold
//! the build back (the longest tests of the slowest shard). [`chrome_trace`] exports the same
//! data as Chrome trace-event JSON (Perfetto and `chrome://tracing` open it): one process per
//! shard, one thread per worker, one complete (`X`) event per attempt.

use crate::event::{AttemptOutcome, AttemptRecord, TestStatus};
use crate::id::TestId;
use crate::report::json::JsonReport;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

/// One attempt placed on the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    /// Index of the report (shard) it belongs to.
    pub report: usize,
    /// Worker slot.
    pub worker: u32,
    /// The test.
    pub id: TestId,
    /// Attempt number.
    pub attempt: u32,
    /// Start, seconds since the earliest report start.
    pub start: f64,
    /// Duration in seconds.
    pub duration: f64,
    /// Outcome class (see [`outcome_class`]).
    pub class: &'static str,
}

/// The outcome class of an attempt of a test with final status `status`: `pass`,
/// `flaky-pass`, `flaky-fail` (a failed attempt of a test that passed later), `fail`, `crash`,
/// `timeout`, `interrupted`, `error`.
///
/// ```
/// use shardtest::event::{AttemptOutcome, TestStatus};
/// use shardtest::report::timeline::outcome_class;
/// assert_eq!(outcome_class(&AttemptOutcome::Passed, TestStatus::Flaky), "flaky-pass");
/// assert_eq!(outcome_class(&AttemptOutcome::Failed { code: 1 }, TestStatus::Flaky), "flaky-fail");
/// assert_eq!(outcome_class(&AttemptOutcome::TimedOut { signal: String::new() }, TestStatus::Failed), "timeout");
/// ```
pub fn outcome_class(outcome: &AttemptOutcome, status: TestStatus) -> &'static str {
    match (outcome, status) {
        (AttemptOutcome::Passed, TestStatus::Flaky) => "flaky-pass",
        (AttemptOutcome::Passed, _) => "pass",
        (_, TestStatus::Flaky) => "flaky-fail",
        (AttemptOutcome::Failed { .. }, _) => "fail",
        (AttemptOutcome::Crashed { .. }, _) => "crash",
        (AttemptOutcome::TimedOut { .. }, _) => "timeout",
        (AttemptOutcome::Interrupted, _) => "interrupted",
        (AttemptOutcome::SpawnFailed { .. }, _) => "error",
    }
}

const CLASSES: &[(&str, &str, &str)] = &[
    // The Okabe-Ito palette: told apart with the common colour-vision deficiencies (and
    // every bar also names its outcome in its tooltip).
    ("pass", "#0072B2", "passed"),
    ("flaky-pass", "#56B4E9", "passed on retry (flaky)"),
    ("flaky-fail", "#E69F00", "failed attempt of a flaky test"),
    ("fail", "#D55E00", "failed"),
    ("crash", "#CC79A7", "crashed"),
    ("timeout", "#000000", "timed out"),
    ("interrupted", "#999999", "interrupted"),
    ("error", "#F0E442", "could not start"),
];

/// Seconds from `t0` to `t` (0 when `t` is earlier).
fn secs_since(t: SystemTime, t0: SystemTime) -> f64 {
    t.duration_since(t0).unwrap_or_default().as_secs_f64()
}

/// The earliest start among the reports and their attempts: time 0 of the timeline.
fn earliest(reports: &[JsonReport]) -> SystemTime {
    let mut t0 = reports
        .iter()
        .map(|r| r.run.started_at)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for r in reports {
        for t in &r.tests {
            for a in &t.attempts {
                t0 = t0.min(a.started_at);
            }
        }
    }
    t0
}

/// Every attempt of every report as a bar, in report, worker, start order.
///
/// ```
/// assert!(shardtest::report::timeline::bars(&[]).is_empty());
/// ```
pub fn bars(reports: &[JsonReport]) -> Vec<Bar> {
    let t0 = earliest(reports);
    let mut out = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        for t in &r.tests {
            for a in &t.attempts {
                out.push(bar(i, t.status, &t.id, a, t0));
            }
        }
    }
    out.sort_by(|a, b| {
        (a.report, a.worker)
            .cmp(&(b.report, b.worker))
            .then(a.start.total_cmp(&b.start))
    });
    out
}

fn bar(report: usize, status: TestStatus, id: &TestId, a: &AttemptRecord, t0: SystemTime) -> Bar {
    Bar {
        report,
        worker: a.worker,
        id: id.clone(),
        attempt: a.attempt,
        start: secs_since(a.started_at, t0),
        duration: a.duration.as_secs_f64(),
        class: outcome_class(&a.outcome, status),
    }
}

/// Escapes text for HTML and XML.
///
/// ```
/// assert_eq!(shardtest::report::timeline::escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
/// ```
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A tick step giving about 10 ticks over `total` seconds (1, 2, 5 times a power of ten).
fn tick_step(total: f64) -> f64 {
    let raw = (total / 10.0).max(1e-3);
    let pow = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if raw <= m * pow {
            return m * pow;
        }
    }
    10.0 * pow
}

/// Seconds as the page shows them: `1m05s`, `42s`, `3.14s`.
fn fmt_secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02.0}s", (s / 60.0).floor(), s % 60.0)
    } else if s >= 10.0 {
        format!("{s:.0}s")
    } else {
        format!("{s:.2}s")
    }
}

/// The lanes of a report: its worker slots in use (at least its worker count).
fn lanes_of(r: &JsonReport) -> u32 {
    let used = r
        .tests
        .iter()
        .flat_map(|t| t.attempts.iter().map(|a| a.worker + 1))
        .max()
        .unwrap_or(0);
    used.max(r.run.workers).max(1)
}

/// The self-contained HTML timeline of `reports` (`labels` name them, e.g. file names).
///
/// ```
/// let page = shardtest::report::timeline::html(&[], &[]);
/// assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
/// ```
pub fn html(reports: &[JsonReport], labels: &[String]) -> String {
    let all = bars(reports);
    let layout = Layout::new(reports, &all);
    let svg = svg(reports, labels, &all, &layout);
    let slowest = slowest_report(reports);
    let summary = summary(reports, layout.t0, slowest);
    let table = slowest.map_or_else(String::new, |(i, _)| holding_back(&all, i));
    page(&summary, &legend(), &svg, &table)
}

/// Width of the lane labels left of the plot.
const LABEL_W: f64 = 190.0;
/// Width of the plot.
const PLOT_W: f64 = 1000.0;
/// Height of a lane.
const LANE_H: f64 = 20.0;
/// Height above the first lane (the axis labels).
const TOP: f64 = 30.0;

/// Where the SVG puts things: the time scale and each report's first lane.
struct Layout {
    /// The earliest start: time 0.
    t0: SystemTime,
    /// Seconds the plot spans.
    total: f64,
    /// Pixels per second.
    scale: f64,
    /// Each report's first lane.
    lane_base: Vec<u32>,
    /// SVG height.
    height: f64,
    /// SVG width.
    width: f64,
}

impl Layout {
    /// The layout of `reports` and their bars: time runs to the latest end, predicted end
    /// or bar end.
    fn new(reports: &[JsonReport], all: &[Bar]) -> Layout {
        let t0 = earliest(reports);
        let mut total: f64 = 0.0;
        for r in reports {
            let start = secs_since(r.run.started_at, t0);
            total = total
                .max(start + r.elapsed.as_secs_f64())
                .max(start + r.run.predicted.as_secs_f64());
        }
        for b in all {
            total = total.max(b.start + b.duration);
        }
        let total = total.max(0.001);
        let lane_base: Vec<u32> = reports
            .iter()
            .scan(0u32, |acc, r| {
                let base = *acc;
                *acc += lanes_of(r);
                Some(base)
            })
            .collect();
        let lanes: u32 = reports.iter().map(lanes_of).sum::<u32>().max(1);
        Layout {
            t0,
            total,
            scale: PLOT_W / total,
            lane_base,
            height: TOP + lanes as f64 * LANE_H + 20.0,
            width: LABEL_W + PLOT_W + 20.0,
        }
    }

    /// The x of `t` seconds after time 0.
    fn x(&self, t: f64) -> f64 {
        LABEL_W + t * self.scale
    }

    /// The top of lane `worker` of report `report`.
    fn lane_y(&self, report: usize, worker: u32) -> f64 {
        TOP + (self.lane_base[report] + worker) as f64 * LANE_H
    }
}

/// The inline SVG: axis, lanes, a bar per attempt, and the shard ends.
fn svg(reports: &[JsonReport], labels: &[String], all: &[Bar], l: &Layout) -> String {
    let mut svg = String::new();
    let (width, height) = (l.width, l.height);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    svg_axis(&mut svg, l);
    svg_lanes(&mut svg, reports, labels, l);
    for b in all {
        svg_bar(&mut svg, b, l);
    }
    svg_shard_ends(&mut svg, reports, l);
    svg.push_str("</svg>");
    svg
}

/// The time axis: a grid line and a label per tick.
fn svg_axis(svg: &mut String, l: &Layout) {
    let step = tick_step(l.total);
    let mut t = 0.0;
    while t <= l.total + 1e-9 {
        let x = l.x(t);
        let _ = write!(
            svg,
            r##"<line class="grid" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            TOP - 4.0,
            l.height - 20.0,
            TOP - 10.0,
            fmt_secs(t)
        );
        t += step;
    }
}

/// A lane per worker of each report, shaded by report, with its label.
fn svg_lanes(svg: &mut String, reports: &[JsonReport], labels: &[String], l: &Layout) {
    for (i, r) in reports.iter().enumerate() {
        let name = labels
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("shard {}", r.run.shard));
        for w in 0..lanes_of(r) {
            let y = l.lane_y(i, w);
            let fill = if i % 2 == 0 { "#fafafa" } else { "#f0f4f8" };
            let _ = write!(
                svg,
                r##"<rect class="lane{}" x="0" y="{y:.1}" width="{:.1}" height="{LANE_H}" fill="{fill}"/><text x="4" y="{:.1}" fill="#333">{} · worker {w}</text>"##,
                i % 2,
                LABEL_W + PLOT_W,
                y + 14.0,
                escape(&format!("shard {} ({})", r.run.shard, name))
            );
        }
    }
}

/// An attempt's bar with its tooltip, and its test's name on it when it is wide enough.
fn svg_bar(svg: &mut String, b: &Bar, l: &Layout) {
    let y = l.lane_y(b.report, b.worker) + 2.0;
    let x = l.x(b.start);
    let w = (b.duration * l.scale).max(1.0);
    let color = CLASSES
        .iter()
        .find(|(c, _, _)| *c == b.class)
        .map_or("#999", |(_, col, _)| col);
    let _ = write!(
        svg,
        r##"<rect class="{}" x="{x:.2}" y="{y:.1}" width="{w:.2}" height="{:.1}" fill="{color}" stroke="#fff" stroke-width="0.5"><title>{} (attempt {}): {} in {}, from {}</title></rect>"##,
        b.class,
        LANE_H - 4.0,
        escape(&b.id.to_string()),
        b.attempt,
        b.class,
        fmt_secs(b.duration),
        fmt_secs(b.start)
    );
    if w > 60.0 {
        let _ = write!(
            svg,
            r##"<text class="on-bar" x="{:.2}" y="{:.1}" fill="#fff" pointer-events="none">{}</text>"##,
            x + 3.0,
            y + 12.0,
            escape(&truncate(b.id.name.as_str(), (w / 6.5) as usize))
        );
    }
}

/// Each shard's actual end (a solid line) and predicted end (dashed, when it has one).
fn svg_shard_ends(svg: &mut String, reports: &[JsonReport], l: &Layout) {
    for (i, r) in reports.iter().enumerate() {
        let y1 = l.lane_y(i, 0);
        let y2 = y1 + lanes_of(r) as f64 * LANE_H;
        let start = secs_since(r.run.started_at, l.t0);
        let actual = l.x(start + r.elapsed.as_secs_f64());
        let _ = write!(
            svg,
            r##"<line class="actual-end" x1="{actual:.1}" y1="{y1:.1}" x2="{actual:.1}" y2="{y2:.1}" stroke="#000" stroke-width="2"><title>shard {} ended at {}</title></line>"##,
            r.run.shard,
            fmt_secs(start + r.elapsed.as_secs_f64())
        );
        if !r.run.predicted.is_zero() {
            let pred = l.x(start + r.run.predicted.as_secs_f64());
            let _ = write!(
                svg,
                r##"<line class="predicted-end" x1="{pred:.1}" y1="{y1:.1}" x2="{pred:.1}" y2="{y2:.1}" stroke="#000" stroke-width="2" stroke-dasharray="4 3"><title>shard {} predicted end {}</title></line>"##,
                r.run.shard,
                fmt_secs(start + r.run.predicted.as_secs_f64())
            );
        }
    }
}

/// The report that took longest, with its index (ties: the first).
fn slowest_report(reports: &[JsonReport]) -> Option<(usize, &JsonReport)> {
    reports
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.elapsed.cmp(&b.1.elapsed).then(b.0.cmp(&a.0)))
}

/// The paragraph above the plot: report count, wall time and the slowest shard.
fn summary(
    reports: &[JsonReport],
    t0: SystemTime,
    slowest: Option<(usize, &JsonReport)>,
) -> String {
    let mut summary = String::new();
    let _ = write!(
        summary,
        "<p>{} report(s), wall time {} from the first start to the last end.",
        reports.len(),
        fmt_secs(total_actual(reports, t0))
    );
    if let Some((_, r)) = slowest {
        let _ = write!(
            summary,
            " Slowest shard: {} ({} actual, {} predicted).",
            r.run.shard,
            fmt_secs(r.elapsed.as_secs_f64()),
            if r.run.predicted.is_zero() {
                "no".to_string()
            } else {
                fmt_secs(r.run.predicted.as_secs_f64())
            }
        );
    }
    summary.push_str("</p>\n");
    summary
}

/// The colour key of the outcome classes and the shard-end lines.
fn legend() -> String {
    let mut legend = String::from("<p class=\"legend\">");
    for (class, color, text) in CLASSES {
        let _ = write!(
            legend,
            r#"<span><i style="background:{color}"></i>{text} <small>({class})</small></span> "#
        );
    }
    legend.push_str("<span>solid line: shard ended · dashed: predicted end</span></p>\n");
    legend
}

/// The table of the tests holding the build back: the 10 longest attempts of report `slowest`.
fn holding_back(all: &[Bar], slowest: usize) -> String {
    let mut table = String::new();
    let mut mine: Vec<&Bar> = all.iter().filter(|b| b.report == slowest).collect();
    mine.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
    table.push_str(
        "<h2>Tests holding the build back (longest in the slowest shard)</h2>\n<table><tr><th>test</th><th>attempt</th><th>outcome</th><th>duration</th><th>worker</th><th>started</th></tr>\n",
    );
    for b in mine.iter().take(10) {
        let _ = writeln!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&b.id.to_string()),
            b.attempt,
            b.class,
            fmt_secs(b.duration),
            b.worker,
            fmt_secs(b.start)
        );
    }
    table.push_str("</table>\n");
    table
}

/// The whole page around its parts, with the health page's style.
fn page(summary: &str, legend: &str, svg: &str, table: &str) -> String {
    let style = crate::report::health::page::STYLE;
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>shardtest timeline</title>
<style>{style}
body {{ padding: 0 16px; }}
.legend span {{ margin-right: 1em; white-space: nowrap; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; border: 1px solid var(--line); }}
svg.timeline {{ width: 100%; min-width: 720px; height: auto; display: block; }}
svg.timeline .lane0 {{ fill: var(--bg); }} svg.timeline .lane1 {{ fill: var(--card); }}
svg.timeline text {{ fill: var(--muted); }} svg.timeline text.on-bar {{ fill: #fff; }}
svg.timeline .grid {{ stroke: var(--grid); }}
svg.timeline .actual-end, svg.timeline .predicted-end {{ stroke: var(--fg); }}
svg.timeline rect.timeout {{ fill: var(--fg); }}
svg rect:hover {{ opacity: 0.8; }}
</style></head><body>
<h1>shardtest timeline</h1>
{summary}{legend}<div style="overflow-x:auto">{svg}</div>
{table}</body></html>
"#
    )
}

/// Seconds from `t0` to the last report's end.
fn total_actual(reports: &[JsonReport], t0: SystemTime) -> f64 {
    reports
        .iter()
        .map(|r| secs_since(r.run.started_at, t0) + r.elapsed.as_secs_f64())
        .fold(0.0, f64::max)
}

/// `s` cut to `max` characters, ending in `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// Seconds as whole microseconds, the unit of trace events.
fn micros(d: f64) -> u64 {
    (d * 1e6).round() as u64
}

/// Chrome trace-event JSON of `reports`: one process per report (shard), one thread per
/// worker, an `X` event per attempt and an instant event at each shard's predicted end.
///
/// ```
/// let v = shardtest::report::timeline::chrome_trace(&[], &[]);
/// assert!(v["traceEvents"].as_array().unwrap().is_empty());
/// ```
pub fn chrome_trace(reports: &[JsonReport], labels: &[String]) -> serde_json::Value {
    use serde_json::json;
    let t0 = earliest(reports);
    let mut events = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        let pid = i + 1;
        let name = labels
            .get(i)
            .map(|l| format!("shard {} ({l})", r.run.shard))
            .unwrap_or_else(|| format!("shard {}", r.run.shard));
        events.push(json!({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}}));
        events.push(json!({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": pid}}));
        for w in 0..lanes_of(r) {
            events.push(json!({"name": "thread_name", "ph": "M", "pid": pid, "tid": w, "args": {"name": format!("worker {w}")}}));
        }
        let start = secs_since(r.run.started_at, t0);
        if !r.run.predicted.is_zero() {
            events.push(
                json!({"name": "predicted end", "ph": "i", "s": "p", "pid": pid, "tid": 0,
                "ts": micros(start + r.run.predicted.as_secs_f64())}),
            );
        }
        events.push(
            json!({"name": "shard end", "ph": "i", "s": "p", "pid": pid, "tid": 0,
            "ts": micros(start + r.elapsed.as_secs_f64())}),
        );
    }
    for b in bars(reports) {
        events.push(json!({
            "name": b.id.to_string(), "cat": b.class, "ph": "X",
            "pid": b.report + 1, "tid": b.worker,
            "ts": micros(b.start), "dur": micros(b.duration),
            "args": {"attempt": b.attempt, "outcome": b.class},
        }));
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// Shard wall times of `reports`: `(shard, predicted, actual)`.
pub fn shard_times(reports: &[JsonReport]) -> Vec<(String, Duration, Duration)> {
    reports
        .iter()
        .map(|r| (r.run.shard.to_string(), r.run.predicted, r.elapsed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(10.0), 1.0);
        assert_eq!(tick_step(95.0), 10.0);
        assert_eq!(tick_step(0.3), 0.05);
    }
}
