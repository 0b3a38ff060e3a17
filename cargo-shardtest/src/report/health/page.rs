//! The health page: HTML with inline CSS and SVG, and a small script for the table of every
//! test.
//!
//! Everything but the big table is drawn here, in Rust, so the page reads without JavaScript.
//! The big table is data: one compact JSON array per test in a `<script type="application/json">`
//! element (binary ids and owners are stored once and referred to by index; a test name is
//! stored as the length of the prefix it shares with the previous name plus the rest), and
//! the script draws one page of [`PAGE_ROWS`] rows at a time, sorted and filtered on demand.
//! The page therefore grows by about 40-60 bytes per test and the browser lays out a hundred
//! rows, whatever the suite's size.
//!
//! The search box filters by every word typed (test id or owner, case-insensitive). A URL
//! fragment `#q=WORDS` fills the search box when the page opens, through the same code as
//! typing, so a filtered view can be linked to; `#sort=COLUMN` (`mean`, `fail`, ...) sorts
//! as a click on that column's heading does (numbers largest first; a second click reverses).
//!
//! Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
//! deficiencies), and every status also has a glyph (✓ passed, ! flaky, ✗ failed), so
//! nothing is told by colour alone. The page follows the reader's light or dark preference
//! (`prefers-color-scheme`) and reflows on narrow screens.

use super::data::{Balance, HealthData, RunPoint, utc_minute};
use crate::history::SampleStatus;
use crate::report::timeline::escape;
use std::fmt::Write as _;
use std::time::Duration;

/// Rows of the table of every test drawn at once.
pub const PAGE_ROWS: usize = 100;
/// Runs drawn in the overview charts (the newest).
pub const CHART_RUNS: usize = 60;

/// A duration for people: `0.42 ms`, `120 ms`, `12.3 s`, `4m 05s`, `31h 10m`.
///
/// ```
/// use shardtest::report::health::page::human;
/// use std::time::Duration;
/// assert_eq!(human(Duration::from_micros(420)), "0.42 ms");
/// assert_eq!(human(Duration::from_millis(120)), "120 ms");
/// assert_eq!(human(Duration::from_millis(12_340)), "12.3 s");
/// assert_eq!(human(Duration::from_secs(245)), "4m 05s");
/// assert_eq!(human(Duration::from_secs(31 * 3600 + 600)), "31h 10m");
/// ```
pub fn human(d: Duration) -> String {
    let us = d.as_micros();
    if us < 10_000 {
        format!("{:.2} ms", us as f64 / 1000.0)
    } else if us < 1_000_000 {
        format!("{} ms", (us + 500) / 1000)
    } else if us < 60_000_000 {
        format!("{:.1} s", us as f64 / 1e6)
    } else if us < 3_600_000_000 {
        let s = d.as_secs();
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = d.as_secs() / 60;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

fn us(d: u64) -> String {
    human(Duration::from_micros(d))
}

fn glyph(s: SampleStatus) -> (&'static str, &'static str) {
    match s {
        SampleStatus::Passed => ("pass", "✓"),
        SampleStatus::Flaky => ("flaky", "!"),
        SampleStatus::Failed => ("fail", "✗"),
    }
}

fn owner_cell(owner: Option<&str>) -> String {
    match owner {
        Some(o) => format!("<span class=\"owner\">{}</span>", escape(o)),
        None => "<span class=\"muted\">—</span>".to_string(),
    }
}

/// A sparkline of durations (oldest first), with failed and flaky samples marked.
///
/// ```
/// use shardtest::report::health::page::sparkline;
/// use shardtest::history::SampleStatus::*;
/// let svg = sparkline(&[(10, Passed), (30, Failed), (20, Passed)]);
/// assert!(svg.starts_with("<svg") && svg.contains("polyline") && svg.contains("class=\"mk fail\""));
/// ```
pub fn sparkline(points: &[(u64, SampleStatus)]) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let max = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let n = points.len();
    let x = |i: usize| {
        if n <= 1 {
            W / 2.0
        } else {
            3.0 + i as f64 * (W - 6.0) / (n - 1) as f64
        }
    };
    let y = |v: u64| H - 3.0 - (v as f64 / max) * (H - 6.0);
    let mut s = format!(
        r#"<svg class="spark" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" aria-label="recent durations">"#
    );
    let pts: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.0)))
        .collect();
    let _ = write!(s, r#"<polyline points="{}"/>"#, pts.join(" "));
    for (i, p) in points.iter().enumerate() {
        let (class, g) = glyph(p.1);
        let (cx, cy) = (x(i), y(p.0));
        match p.1 {
            SampleStatus::Passed => {
                let _ = write!(
                    s,
                    r#"<circle class="mk {class}" cx="{cx:.1}" cy="{cy:.1}" r="1.8"><title>{} {g}</title></circle>"#,
                    us(p.0)
                );
            }
            _ => {
                let _ = write!(
                    s,
                    r#"<rect class="mk {class}" x="{:.1}" y="{:.1}" width="5" height="5" transform="rotate(45 {cx:.1} {cy:.1})"><title>{} {g} {class}</title></rect>"#,
                    cx - 2.5,
                    cy - 2.5,
                    us(p.0)
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn status_strip(statuses: &[SampleStatus]) -> String {
    let mut s = String::from("<span class=\"strip\">");
    for st in statuses {
        let (class, g) = glyph(*st);
        let _ = write!(s, "<i class=\"{class}\" title=\"{class}\">{g}</i>");
    }
    s.push_str("</span>");
    s
}

/// Bars per run (oldest left) with a value axis; `value` gives the height and whether the
/// bar is measured (solid) or estimated (hatched).
fn run_chart(
    runs: &[RunPoint],
    title: &str,
    max: f64,
    axis: impl Fn(f64) -> String,
    value: impl Fn(&RunPoint) -> (f64, bool, String),
) -> String {
    const W: f64 = 640.0;
    const H: f64 = 180.0;
    const L: f64 = 56.0;
    const B: f64 = 22.0;
    let max = if max > 0.0 { max } else { 1.0 };
    let n = runs.len().max(1) as f64;
    let bw = (W - L - 8.0) / n;
    let mut s = format!(
        r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for k in 0..=4 {
        let v = max * k as f64 / 4.0;
        let y = H - B - (H - B - 8.0) * k as f64 / 4.0;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{L}" y1="{y:.1}" x2="{W}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            L - 4.0,
            y + 4.0,
            if k == 0 {
                "0".to_string()
            } else {
                escape(&axis(v))
            }
        );
    }
    for (i, r) in runs.iter().enumerate() {
        let (v, measured, tip) = value(r);
        let h = (H - B - 8.0) * (v / max).clamp(0.0, 1.0);
        let x = L + i as f64 * bw + bw * 0.1;
        let class = if measured { "bar" } else { "bar est" };
        let _ = write!(
            s,
            r#"<rect class="{class}" x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}"><title>{}</title></rect>"#,
            H - B - h,
            (bw * 0.8).max(0.5),
            escape(&tip)
        );
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(
            s,
            r#"<text class="axis" x="{L}" y="{:.1}">{}</text><text class="axis" x="{W}" y="{:.1}" text-anchor="end">{}</text>"#,
            H - 6.0,
            utc_minute(first.at_unix_ms),
            H - 6.0,
            utc_minute(last.at_unix_ms)
        );
    }
    s.push_str("</svg>");
    s
}

fn overview(d: &HealthData, out: &mut String) {
    let runs = &d.runs[d.runs.len().saturating_sub(CHART_RUNS)..];
    let latest_pass = d
        .runs
        .last()
        .map(|r| format!("{:.1}%", r.pass_permille() as f64 / 10.0))
        .unwrap_or_else(|| "—".into());
    let _ = write!(
        out,
        r#"<section id="overview"><h2>Overview</h2><div class="cards">
<div class="card"><b>{}</b><span>tests</span></div>
<div class="card"><b>{}</b><span>total work (sum of means)</span></div>
<div class="card"><b>{}</b><span>recorded runs</span></div>
<div class="card"><b>{latest_pass}</b><span>passed at once, latest run</span></div>
</div>"#,
        d.rows.len(),
        human(d.total_work),
        d.runs.len()
    );
    if runs.is_empty() {
        out.push_str("<p class=\"muted\">No runs recorded yet.</p></section>\n");
        return;
    }
    let max_wall = runs.iter().map(|r| r.wall_us).max().unwrap_or(0) as f64;
    out.push_str("<div class=\"charts\"><figure>");
    out.push_str(&run_chart(
        runs,
        "Wall time per run",
        max_wall,
        |v| us(v as u64),
        |r| {
            (
                r.wall_us as f64,
                r.wall_measured,
                format!(
                    "{} {}: {} wall{} · {} tests · {} work",
                    r.run_id,
                    utc_minute(r.at_unix_ms),
                    us(r.wall_us),
                    if r.wall_measured { "" } else { " (estimated)" },
                    r.tests,
                    us(r.work_us)
                ),
            )
        },
    ));
    out.push_str("<figcaption>Wall time per run, oldest left. Blue: measured (from a given report); grey: estimated as max(work ÷ workers, longest test).</figcaption></figure><figure>");
    out.push_str(&run_chart(
        runs,
        "Pass rate per run",
        100.0,
        |v| format!("{v:.0}%"),
        |r| {
            (
                r.pass_permille() as f64 / 10.0,
                true,
                format!(
                    "{} {}: {:.1}% passed at once · {} flaky · {} failed of {}",
                    r.run_id,
                    utc_minute(r.at_unix_ms),
                    r.pass_permille() as f64 / 10.0,
                    r.flaky,
                    r.failed,
                    r.tests
                ),
            )
        },
    ));
    let _ = writeln!(
        out,
        "<figcaption>Share of each run's tests that passed at once (the newest {} runs).</figcaption></figure></div></section>",
        runs.len()
    );
}

fn balance(b: Option<&Balance>, out: &mut String) {
    out.push_str("<section id=\"balance\"><h2>Balance</h2>");
    let Some(b) = b else {
        out.push_str("<p class=\"muted\">No reports given: pass the shards' <code>run --json</code> reports (or a merged one) to see predicted against actual time per shard.</p></section>\n");
        return;
    };
    let slowest = b.shards.iter().map(|s| s.actual).max().unwrap_or_default();
    let ratio = if b.lower_bound.is_zero() {
        "—".to_string()
    } else {
        format!(
            "{:.2}x",
            slowest.as_secs_f64() / b.lower_bound.as_secs_f64()
        )
    };
    let _ = write!(
        out,
        "<p>Latest matrix: {} shards × {} workers (plan <code>{}</code>). Lower bound <b class=\"bound-text\">{}</b> = max(longest test{}, total work {} ÷ {}). Slowest shard {} = <b>{ratio}</b> of the bound.</p>",
        b.shard_total,
        b.workers,
        escape(&b.fingerprint.as_str().chars().take(12).collect::<String>()),
        human(b.lower_bound),
        b.longest
            .as_ref()
            .map(|(id, d)| format!(" {} {}", escape(&id.to_string()), human(*d)))
            .unwrap_or_default(),
        human(b.total_work),
        b.shard_total * b.workers,
        human(slowest)
    );
    const W: f64 = 640.0;
    const L: f64 = 70.0;
    const ROW: f64 = 26.0;
    let h = 24.0 + ROW * b.shards.len() as f64;
    let max = b
        .shards
        .iter()
        .map(|s| s.actual.max(s.predicted))
        .max()
        .unwrap_or_default()
        .max(b.lower_bound)
        .as_secs_f64()
        .max(1e-6);
    let x = |d: Duration| L + (W - L - 10.0) * d.as_secs_f64() / max;
    let _ = write!(
        out,
        r#"<figure class="balance"><svg class="chart" viewBox="0 0 {W} {h}" role="img" aria-label="predicted and actual time per shard">"#
    );
    for (i, s) in b.shards.iter().enumerate() {
        let y = 8.0 + i as f64 * ROW;
        let _ = write!(
            out,
            r#"<text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect class="pred" x="{L}" y="{y:.1}" width="{:.1}" height="9"><title>shard {} predicted {}</title></rect><rect class="bar" x="{L}" y="{:.1}" width="{:.1}" height="9"><title>shard {} actual {}</title></rect>"#,
            L - 6.0,
            y + 13.0,
            escape(&s.shard),
            x(s.predicted) - L,
            escape(&s.shard),
            human(s.predicted),
            y + 10.0,
            x(s.actual) - L,
            escape(&s.shard),
            human(s.actual)
        );
    }
    let bx = x(b.lower_bound);
    let anchor = if bx > W - 80.0 { "end" } else { "middle" };
    let _ = write!(
        out,
        r#"<line class="bound" x1="{bx:.1}" y1="2" x2="{bx:.1}" y2="{:.1}"><title>lower bound {}</title></line><text class="axis" x="{bx:.1}" y="{:.1}" text-anchor="{anchor}">bound {}</text></svg>"#,
        h - 14.0,
        human(b.lower_bound),
        h - 2.0,
        human(b.lower_bound)
    );
    out.push_str("<figcaption><span class=\"key pred\"></span> predicted · <span class=\"key bar\"></span> actual · dashed line: lower bound</figcaption></figure></section>\n");
}

fn slowest(d: &HealthData, out: &mut String) {
    out.push_str("<section id=\"slowest\"><h2>Slowest tests</h2>");
    if d.slowest.is_empty() {
        out.push_str("<p class=\"muted\">No tests recorded.</p></section>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr><th>#</th><th>test</th><th>owner</th><th class=\"num\">mean</th><th class=\"num\">last</th><th>recent runs</th></tr></thead><tbody>");
    for (i, r) in d.slowest.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"id\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            i + 1,
            escape(&r.id.to_string()),
            owner_cell(r.owner.as_deref()),
            human(r.mean),
            human(r.last),
            sparkline(&r.recent)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn slower(d: &HealthData, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"slower\"><h2>Tests that got slower</h2><p class=\"muted\">Mean of the newest {} runs against the older history; listed at {:.2}x or more and at least {} slower.</p>",
        super::data::RECENT_RUNS,
        f64::from(d.options.slower_ratio_percent) / 100.0,
        human(d.options.min_slowdown)
    );
    if d.slower.is_empty() {
        out.push_str("<p>No test got slower.</p></section>\n");
        return;
    }
    out.push_str("<div class=\"scroll\"><table><thead><tr><th>test</th><th>owner</th><th class=\"num\">before</th><th class=\"num\">recent</th><th class=\"num\">change</th><th>recent runs</th></tr></thead><tbody>");
    for r in &d.slower {
        let _ = write!(
            out,
            "<tr><td class=\"id\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\"><b>{:.2}x</b></td><td>{}</td></tr>",
            escape(&r.id.to_string()),
            owner_cell(r.owner.as_deref()),
            human(r.before),
            human(r.recent),
            r.ratio_percent as f64 / 100.0,
            sparkline(&r.runs)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn flaky(d: &HealthData, out: &mut String) {
    out.push_str("<section id=\"flaky\"><h2>Flakiest tests</h2><p class=\"muted\">Share of recorded runs that did not pass at once. <span class=\"spike\">SPIKE</span> marks a test whose latest run failed although it passed almost always before (at least 10 runs, under 5% failing): look for a systemic cause.</p>");
    if d.flakiest.is_empty() {
        out.push_str(
            "<p>No test has failed or needed a retry in the recorded history.</p></section>\n",
        );
        return;
    }
    out.push_str("<div class=\"scroll\"><table id=\"flaky-table\"><thead><tr><th>test</th><th>owner</th><th class=\"num\">rate</th><th class=\"num\">flaky / failed / runs</th><th>last failures</th><th>trend</th><th>recent runs</th></tr></thead><tbody>");
    for f in &d.flakiest {
        let spike = f
            .spike
            .map(|s| {
                format!(
                    " <span class=\"spike\" title=\"{}\">SPIKE</span>",
                    escape(&s.to_string())
                )
            })
            .unwrap_or_default();
        let last: Vec<String> = f.last_failures.iter().map(|&t| utc_minute(t)).collect();
        let trend_class = match f.trend {
            super::data::Trend::Worse => "worse",
            super::data::Trend::Better => "better",
            _ => "steady",
        };
        let _ = write!(
            out,
            "<tr class=\"flaky-row\"><td class=\"id\">{}{spike}</td><td>{}</td><td class=\"num\"><b>{:.1}%</b></td><td class=\"num\">{} / {} / {}</td><td class=\"when\">{}</td><td class=\"{trend_class}\">{}</td><td>{}</td></tr>",
            escape(&f.id.to_string()),
            owner_cell(f.owner.as_deref()),
            f64::from(f.rate_ppm) / 10_000.0,
            f.flaky,
            f.failed,
            f.samples,
            if last.is_empty() {
                "<span class=\"muted\">before the kept runs</span>".to_string()
            } else {
                last.join("<br>")
            },
            f.trend.label(),
            status_strip(&f.recent)
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

fn owners(d: &HealthData, owners_note: &str, out: &mut String) {
    let _ = write!(
        out,
        "<section id=\"owners\"><h2>Ownership</h2><p class=\"muted\">{}</p>",
        escape(owners_note)
    );
    if d.owners.is_empty() {
        out.push_str("<p>No failing or flaky tests.</p></section>\n");
        return;
    }
    out.push_str("<div class=\"groups\">");
    for g in &d.owners {
        let name = g.owner.as_deref().unwrap_or("(no owner)");
        let _ = write!(
            out,
            "<details class=\"owner-group\" open><summary><b class=\"owner\">{}</b> · <span class=\"fail\">✗ {} failing</span> · <span class=\"flaky\">! {} flaky</span></summary><ul>",
            escape(name),
            g.failing.len(),
            g.flaky.len()
        );
        const SHOWN: usize = 15;
        for id in g.failing.iter().take(SHOWN) {
            let _ = write!(
                out,
                "<li><span class=\"fail\">✗</span> <span class=\"id\">{}</span></li>",
                escape(&id.to_string())
            );
        }
        for id in g.flaky.iter().take(SHOWN.saturating_sub(g.failing.len())) {
            let _ = write!(
                out,
                "<li><span class=\"flaky\">!</span> <span class=\"id\">{}</span></li>",
                escape(&id.to_string())
            );
        }
        let more = (g.failing.len() + g.flaky.len()).saturating_sub(SHOWN);
        if more > 0 {
            let _ = write!(
                out,
                "<li class=\"muted\">… and {more} more (search the table for the owner)</li>"
            );
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</div></section>\n");
}

/// The table's data: `{"b":[binary ids],"o":[owners],"r":[[binary, shared prefix, rest of
/// name, owner or -1, mean µs, last µs, samples, passed, flaky, failed], ...]}`, with `<`
/// escaped so the text cannot close its `<script>` element.
///
/// ```
/// use shardtest::report::health::{data::*, page::table_json};
/// use shardtest::history::*;
/// let mut store = TimingStore::default();
/// for name in ["p a::one", "p a::two"] {
///     store.record(name.parse().unwrap(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 1 },
///         duration: std::time::Duration::from_micros(7), status: SampleStatus::Passed, workers: 1,
///         attributes: Default::default() });
/// }
/// let d = collect(&store, &[], None, &HealthOptions::default());
/// assert_eq!(table_json(&d), r#"{"b":["p"],"o":[],"r":[[0,0,"a::one",-1,7,7,1,1,0,0],[0,3,"two",-1,7,7,1,1,0,0]]}"#);
/// ```
pub fn table_json(d: &HealthData) -> String {
    let mut binaries: Vec<&str> = Vec::new();
    let mut bin_index: std::collections::HashMap<&str, usize> = Default::default();
    let mut owners: Vec<&str> = Vec::new();
    let mut owner_index: std::collections::HashMap<&str, usize> = Default::default();
    let mut rows = String::with_capacity(d.rows.len() * 48);
    let mut prev = "";
    for (i, r) in d.rows.iter().enumerate() {
        let b = r.id.binary.as_str();
        let bi = *bin_index.entry(b).or_insert_with(|| {
            binaries.push(b);
            binaries.len() - 1
        });
        let oi: i64 = match r.owner.as_deref() {
            Some(o) => *owner_index.entry(o).or_insert_with(|| {
                owners.push(o);
                owners.len() - 1
            }) as i64,
            None => -1,
        };
        let name = r.id.name.as_str();
        let mut shared = prev
            .bytes()
            .zip(name.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !name.is_char_boundary(shared) {
            shared -= 1;
        }
        // The script slices by UTF-16 units; count the shared prefix in them.
        let shared_units = name[..shared].encode_utf16().count();
        if i > 0 {
            rows.push(',');
        }
        let s = &r.stats;
        let _ = write!(
            rows,
            "[{bi},{shared_units},{},{oi},{},{},{},{},{},{}]",
            json_str(&name[shared..]),
            s.mean.as_micros(),
            s.last.as_micros(),
            s.samples,
            s.passed,
            s.flaky,
            s.failed
        );
        prev = name;
    }
    let list = |v: &[&str]| v.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(",");
    format!(
        "{{\"b\":[{}],\"o\":[{}],\"r\":[{rows}]}}",
        list(&binaries),
        list(&owners)
    )
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".into())
        .replace('<', "\\u003c")
}

/// Page-wide style, shared with the timeline page: light and dark colours, Okabe-Ito
/// status colours, and layout that reflows on narrow screens.
pub const STYLE: &str = r#"
:root { --bg:#ffffff; --fg:#1b1f24; --muted:#5b6570; --line:#d0d7de; --card:#f4f6f8; --grid:#e3e7eb;
  --pass:#0072B2; --flaky:#E69F00; --fail:#D55E00; --pred:#56B4E9; --est:#8a939c; --accent:#CC79A7; --ok:#009E73; }
@media (prefers-color-scheme: dark) {
  :root { --bg:#0f1419; --fg:#e6e9ed; --muted:#9aa4ae; --line:#39424c; --card:#1b222a; --grid:#2b333c;
    --pass:#56B4E9; --flaky:#F0E442; --fail:#E69F00; --pred:#0072B2; --est:#6b747d; --accent:#CC79A7; --ok:#009E73; }
}
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
header, main { max-width: 1400px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 12px; }
h1 { font-size: 1.5em; margin: .3em 0; } h2 { font-size: 1.2em; margin: 1.4em 0 .5em; border-bottom: 1px solid var(--line); padding-bottom: .2em; }
nav { display: flex; flex-wrap: wrap; gap: 2px 14px; } nav a { color: var(--pass); white-space: nowrap; }
code, .id { font-family: ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size: .92em; overflow-wrap: anywhere; }
td.id { min-width: 16em; }
.muted { color: var(--muted); }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
.card { background: var(--card); border-radius: 8px; padding: 10px 12px; }
.card b { display:block; font-size: 1.5em; } .card span { color: var(--muted); font-size: .9em; }
.charts { display:grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 16px; }
figure { margin: 10px 0; } figure.balance { max-width: 900px; } figcaption { color: var(--muted); font-size: .88em; }
svg.chart { width: 100%; height: auto; display: block; font-size: 11px; }
svg text { fill: var(--muted); } .grid { stroke: var(--grid); }
.bar { fill: var(--pass); } .bar.est { fill: var(--est); opacity: .75; }
.pred { fill: none; stroke: var(--pred); stroke-width: 2; stroke-dasharray: 3 2; }
.bound { stroke: var(--fg); stroke-width: 1.5; stroke-dasharray: 5 3; }
.key { display:inline-block; width: 14px; height: 10px; vertical-align: middle; }
.key.bar { background: var(--pass); } .key.pred { border: 2px dashed var(--pred); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; white-space: nowrap; } .num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
svg.spark { vertical-align: middle; } .spark polyline { fill: none; stroke: var(--muted); stroke-width: 1.2; }
.mk.pass { fill: var(--pass); } .mk.flaky { fill: var(--flaky); } .mk.fail { fill: var(--fail); }
.pass { color: var(--pass); } .flaky { color: var(--flaky); } .fail { color: var(--fail); }
.strip i { font-style: normal; display: inline-block; width: 1.2em; text-align: center; font-weight: 700; }
.spike { background: var(--fail); color: #fff; border-radius: 4px; padding: 0 5px; font-size: .8em; font-weight: 700; letter-spacing: .04em; }
.worse { color: var(--fail); font-weight: 600; } .better { color: var(--ok); }
.groups { display:grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 10px; }
.owner-group { background: var(--card); border-radius: 8px; padding: 8px 12px; }
.owner-group ul { margin: .4em 0 0; padding-left: 1.1em; } .owner { font-weight: 600; }
.toolbar { display:flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; margin-bottom: 8px; }
input[type=search] { font: inherit; padding: 6px 10px; min-width: min(100%, 380px); border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button { font: inherit; padding: 4px 10px; border: 1px solid var(--line); border-radius: 6px; background: var(--card); color: var(--fg); cursor: pointer; }
button:disabled { opacity: .4; cursor: default; }
th[data-k] { cursor: pointer; } th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
@media (max-width: 640px) { body { font-size: 14px; } th, td { padding: 3px 4px; } svg.chart { font-size: 14px; } }
"#;

const SCRIPT: &str = r##"
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("health-data").textContent);
  var rows = new Array(D.r.length), prev = "";
  for (var i = 0; i < D.r.length; i++) {
    var r = D.r[i], name = prev.slice(0, r[1]) + r[2];
    prev = name;
    var id = D.b[r[0]] + " " + name, owner = r[3] < 0 ? "" : D.o[r[3]];
    rows[i] = { v: [id, owner, r[4], r[5], r[6], r[7], r[8], r[9]], key: (id + " " + owner).toLowerCase() };
  }
  var PAGE = __PAGE__, view = rows, page = 0, sortKey = -1, sortDir = 1;
  var q = document.getElementById("q"), body = document.querySelector("#all tbody");
  var count = document.getElementById("count"), pageInfo = document.getElementById("page-info");
  var prevBtn = document.getElementById("prev"), nextBtn = document.getElementById("next");
  function esc(s) { return s.replace(/[&<>"]/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]; }); }
  function dur(us) {
    if (us < 10000) return (us / 1000).toFixed(2) + " ms";
    if (us < 1e6) return Math.round(us / 1000) + " ms";
    if (us < 6e7) return (us / 1e6).toFixed(1) + " s";
    var s = Math.floor(us / 1e6);
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + "m";
  }
  function draw() {
    var pages = Math.max(1, Math.ceil(view.length / PAGE));
    if (page >= pages) page = pages - 1;
    var html = [], start = page * PAGE, end = Math.min(view.length, start + PAGE);
    for (var i = start; i < end; i++) {
      var v = view[i].v;
      html.push("<tr><td class=\"id\">" + esc(v[0]) + "</td><td>" + (v[1] ? "<span class=\"owner\">" + esc(v[1]) + "</span>" : "<span class=\"muted\">—</span>") +
        "</td><td class=\"num\">" + dur(v[2]) + "</td><td class=\"num\">" + dur(v[3]) + "</td><td class=\"num\">" + v[4] +
        "</td><td class=\"num pass\">" + v[5] + "</td><td class=\"num flaky\">" + v[6] + "</td><td class=\"num fail\">" + v[7] + "</td></tr>");
    }
    body.innerHTML = html.join("");
    count.textContent = view.length === rows.length ? rows.length + " tests" : view.length + " of " + rows.length + " tests match";
    pageInfo.textContent = view.length ? "rows " + (start + 1) + "–" + end + " · page " + (page + 1) + " of " + pages : "no test matches";
    prevBtn.disabled = page === 0; nextBtn.disabled = page >= pages - 1;
  }
  function sorted(list) {
    if (sortKey < 0) return list;
    var k = sortKey, d = sortDir;
    return list.slice().sort(function (a, b) {
      var x = a.v[k], y = b.v[k];
      return (x < y ? -1 : x > y ? 1 : 0) * d || (a.v[0] < b.v[0] ? -1 : 1);
    });
  }
  function apply() {
    var words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    var list = words.length ? rows.filter(function (r) { for (var w = 0; w < words.length; w++) if (r.key.indexOf(words[w]) < 0) return false; return true; }) : rows;
    view = sorted(list); page = 0; draw();
  }
  q.addEventListener("input", function () {
    apply();
    // Keep the filter in the address, so it can be linked to (some browsers refuse this for
    // files opened from disk: the filter still works).
    try { history.replaceState(null, "", q.value ? "#q=" + encodeURIComponent(q.value) : location.pathname + location.search); } catch (e) {}
  });
  prevBtn.addEventListener("click", function () { page--; draw(); });
  nextBtn.addEventListener("click", function () { page++; draw(); });
  document.querySelectorAll("#all th[data-k]").forEach(function (th) {
    th.addEventListener("click", function () {
      var k = +th.getAttribute("data-k");
      sortDir = k === sortKey ? -sortDir : (k >= 2 ? -1 : 1); sortKey = k;
      document.querySelectorAll("#all th[data-k]").forEach(function (o) { o.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      view = sorted(view); page = 0; draw();
    });
  });
  function fromHash() {
    var m = /(?:^#|&)q=([^&]*)/.exec(location.hash);
    if (m) q.value = decodeURIComponent(m[1].replace(/\+/g, " "));
    apply();
    // `#sort=mean` (or test, owner, last, runs, pass, flaky, fail): as a click on that heading.
    var s = /(?:^#|&)sort=([a-z]+)/.exec(location.hash);
    var th = s && document.querySelector('#all th[data-name="' + s[1] + '"]');
    if (th) th.click();
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  document.body.setAttribute("data-ready", "1");
  // Milliseconds from navigation start until the table was drawn (read by the benchmark).
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  // Milliseconds from navigation start until the table was drawn (read by the benchmark).
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
})();
"##;

fn all_tests(d: &HealthData, out: &mut String) {
    let _ = write!(
        out,
        r#"<section id="tests"><h2>All tests</h2>
<div class="toolbar"><input type="search" id="q" placeholder="Filter by test or owner…" aria-label="Filter tests" autocomplete="off"><span id="count" class="muted">{} tests</span></div>
<div class="scroll"><table id="all"><thead><tr><th data-k="0" data-name="test">test</th><th data-k="1" data-name="owner">owner</th><th data-k="2" data-name="mean" class="num">mean</th><th data-k="3" data-name="last" class="num">last</th><th data-k="4" data-name="runs" class="num">runs</th><th data-k="5" data-name="pass" class="num">pass</th><th data-k="6" data-name="flaky" class="num">flaky</th><th data-k="7" data-name="fail" class="num">fail</th></tr></thead><tbody></tbody></table></div>
<div class="toolbar"><button id="prev" type="button">← previous</button><span id="page-info" class="muted"></span><button id="next" type="button">next →</button></div>
<noscript><p>The table of every test needs JavaScript.</p></noscript>
</section>
"#,
        d.rows.len()
    );
}

/// The whole page. `source` describes where the data came from (shown in the header) and
/// `owners_note` where the owners came from (shown in the ownership section).
///
/// ```
/// use shardtest::report::health::{data::*, page::html};
/// let d = collect(&Default::default(), &[], None, &HealthOptions::default());
/// let page = html(&d, "timings.json", "no CODEOWNERS");
/// for id in ["overview", "balance", "slowest", "slower", "flaky", "owners", "tests"] {
///     assert!(page.contains(&format!("<section id=\"{id}\">")), "{id}");
/// }
/// assert!(!page.contains("http://") && !page.contains("https://"));
/// ```
pub fn html(d: &HealthData, source: &str, owners_note: &str) -> String {
    let mut body = String::with_capacity(d.rows.len() * 60 + 64 * 1024);
    overview(d, &mut body);
    balance(d.balance.as_ref(), &mut body);
    slowest(d, &mut body);
    slower(d, &mut body);
    flaky(d, &mut body);
    owners(d, owners_note, &mut body);
    all_tests(d, &mut body);
    let mut page = String::with_capacity(body.len() + d.rows.len() * 60 + 16 * 1024);
    let _ = write!(
        page,
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>Test health · shardtest</title>
<style>{STYLE}</style></head><body>
<header><h1>Test health</h1><p class="muted">{} tests · {} recorded runs · from {}</p>
<nav><a href="#overview">Overview</a><a href="#balance">Balance</a><a href="#slowest">Slowest</a><a href="#slower">Got slower</a><a href="#flaky">Flakiest</a><a href="#owners">Ownership</a><a href="#tests">All tests</a></nav></header>
<main>
{body}</main>
<script type="application/json" id="health-data">"##,
        d.rows.len(),
        d.runs.len(),
        escape(source)
    );
    page.push_str(&table_json(d));
    page.push_str("</script>\n<script>");
    page.push_str(&SCRIPT.replace("__PAGE__", &PAGE_ROWS.to_string()));
    page.push_str("</script>\n</body></html>\n");
    page
}
