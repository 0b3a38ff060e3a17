//! The test-health page (`report html`) and the timeline page, opened in a real headless
//! browser (Debian's `chromium`; `scripts/browser.sh` installs it). The tests check the DOM
//! after the page's script ran (`--dump-dom`) and save screenshots under the target
//! directory (`target/tmp/browser/`). Without chromium they fail: they never skip.
//!
//! `page_of_100000_tests` is the benchmark (ignored in the normal run):
//! `cargo test -p cargo-shardtest --release --test health_page -- --ignored --nocapture`.

mod common;

use common::{run, shardtest, text};
use shardtest::event::{AttemptOutcome, AttemptRecord, RunInfo, TestStatus};
use shardtest::history::{RunStamp, Sample, SampleStatus, TimingStore};
use shardtest::id::TestId;
use shardtest::plan::ShardSpec;
use shardtest::report::json::{JsonReport, REPORT_VERSION, StatusCounts, TestRecord};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Where screenshots and pages are kept after the run.
fn artifacts() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The browser, or a loud failure.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        }) {
            return p;
        }
    }
    panic!(
        "chromium is not installed: the browser tests need it. Run `bash scripts/browser.sh` \
         (apt-get install -y chromium) or `scripts/test.sh`, which does"
    );
}

/// Runs headless chromium with `args` and returns its stdout; bounded at two minutes.
fn browser(args: &[String]) -> String {
    let mut all = vec!["--virtual-time-budget=10000".to_string()];
    all.extend_from_slice(args);
    browser_with(&all)
}

/// [`browser`] without a virtual time budget (real clocks: for the benchmark).
fn browser_with(args: &[String]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("chromium starts");
    let out_pipe = child.stdout.take().unwrap();
    let err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(out_pipe).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err_pipe).unwrap_or_default());
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 2 minutes: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = out.join().unwrap();
    let err = err.join().unwrap();
    assert!(status.success(), "chromium failed ({status}): {err}");
    out
}

fn url(page: &Path, fragment: &str) -> String {
    format!("file://{}{fragment}", page.display())
}

/// The DOM after the page's scripts ran.
fn dom_of(page: &Path, fragment: &str) -> String {
    browser(&["--dump-dom".into(), url(page, fragment)])
}

/// Saves a screenshot of `page` as `name` in the artifacts directory (a `-dark` name is taken
/// with the dark colour scheme).
fn screenshot(page: &Path, name: &str, width: u32, height: u32) -> PathBuf {
    let png = artifacts().join(name);
    let _ = std::fs::remove_file(&png);
    let mut args = vec![
        format!("--screenshot={}", png.display()),
        format!("--window-size={width},{height}"),
    ];
    if name.contains("-dark") {
        args.push("--force-dark-mode".into());
    }
    args.push(url(page, ""));
    browser(&args);
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "a real screenshot"
    );
    png
}

/// The text between `from` and the next `to` after it.
fn between<'a>(s: &'a str, from: &str, to: &str) -> &'a str {
    let start = s
        .find(from)
        .unwrap_or_else(|| panic!("`{from}` in the page"));
    let rest = &s[start..];
    &rest[..rest.find(to).unwrap_or(rest.len())]
}

const T0: u64 = 1_780_000_000_000;
const HOUR: u64 = 3_600_000;

fn id(s: &str) -> TestId {
    s.parse().unwrap()
}

/// A history of 12 runs: a flaky test, a steady test whose latest run failed (a spike), a
/// test that got slower, a slow test, and thirty quiet ones.
fn fixture_history() -> TimingStore {
    use SampleStatus::*;
    let mut store = TimingStore::default();
    let mut rec = |t: &str, run: usize, ms: u64, status: SampleStatus| {
        store.record(
            id(t),
            Sample {
                run: RunStamp {
                    id: format!("run-{run:02}").into(),
                    at_unix_ms: T0 + run as u64 * HOUR,
                },
                duration: Duration::from_millis(ms),
                status,
                workers: 2,
                attributes: Default::default(),
            },
        );
    };
    for run in 0..12 {
        let shaky = if run % 3 == 1 {
            Flaky
        } else if run == 10 {
            Failed
        } else {
            Passed
        };
        rec("app net::tests::connect_retry", run, 40 + run as u64, shaky);
        rec(
            "app net::tests::dns_lookup",
            run,
            12,
            if run == 11 { Failed } else { Passed },
        );
        rec(
            "app parse::tests::slowing_down",
            run,
            if run >= 9 { 300 } else { 100 },
            Passed,
        );
        rec(
            "app::api orders::bulk_import",
            run,
            2_000 + 10 * run as u64,
            Passed,
        );
        rec(
            "app parse::tests::rare",
            run,
            5,
            if run == 4 { Flaky } else { Passed },
        );
        for k in 0..30 {
            rec(&format!("app::api orders::case_{k:02}"), run, 3 + k, Passed);
        }
    }
    store
}

/// A tiny cargo package to place the tests in files, with its CODEOWNERS.
fn fixture_package(dir: &Path) {
    let w = |p: &str, s: &str| {
        let f = dir.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, s).unwrap();
    };
    w(
        "Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[[test]]\nname = \"api\"\npath = \"tests/api.rs\"\n",
    );
    w("src/lib.rs", "pub mod net;\npub mod parse;\n");
    w("src/net.rs", "#[cfg(test)]\nmod tests {}\n");
    w("src/parse.rs", "");
    w("tests/api.rs", "");
    w(
        ".github/CODEOWNERS",
        "# fixture owners\n*            @org/core\n/src/net.rs  @org/net @alice\n/tests/      @org/qa\n",
    );
}

fn attempt(outcome: AttemptOutcome, ms: u64, start: SystemTime, worker: u32) -> AttemptRecord {
    AttemptRecord {
        attempt: 1,
        outcome,
        duration: Duration::from_millis(ms),
        started_at: start,
        worker,
        leaked: false,
        log: None,
        output_tail: String::new(),
    }
}

/// Two shard reports of the latest run (`run-11`).
fn fixture_reports(dir: &Path) -> Vec<PathBuf> {
    let store = fixture_history();
    let ids: Vec<TestId> = store.tests.keys().cloned().collect();
    let start = SystemTime::UNIX_EPOCH + Duration::from_millis(T0 + 11 * HOUR);
    let mut paths = Vec::new();
    for shard in 1..=2u32 {
        let mine: Vec<&TestId> = ids
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as u32 % 2) + 1 == shard)
            .map(|(_, t)| t)
            .collect();
        let mut clock = [0u64; 2];
        let mut tests = Vec::new();
        let mut counts = StatusCounts::default();
        for t in mine {
            let last = store.tests[t].runs.iter().last().unwrap().1;
            let w = if clock[0] <= clock[1] { 0 } else { 1 };
            let ms = last.us / 1000;
            let (status, outcome) = match last.status {
                SampleStatus::Failed => (TestStatus::Failed, AttemptOutcome::Failed { code: 101 }),
                _ => (TestStatus::Passed, AttemptOutcome::Passed),
            };
            let at = start + Duration::from_millis(clock[w as usize]);
            clock[w as usize] += ms;
            shardtest::report::json::count(&mut counts, status, &Default::default(), &[]);
            tests.push(TestRecord {
                id: t.clone(),
                status,
                attributes: Default::default(),
                attempts: vec![attempt(outcome, ms, at, w)],
            });
        }
        let report = JsonReport {
            version: REPORT_VERSION,
            run: RunInfo {
                // Shard 1 recorded the history's `run-11`: its wall time is measured.
                run_id: if shard == 1 {
                    "run-11".into()
                } else {
                    format!("run-11-{shard}").into()
                },
                shard: ShardSpec {
                    index: shard,
                    total: 2,
                },
                fingerprint: "f1n6e7pr1n7".into(),
                workers: 2,
                to_run: tests.len(),
                predicted: Duration::from_millis(1_150 + 200 * u64::from(shard)),
                started_at: start,
                repeat: 1,
            },
            planned_tests: ids.clone(),
            elapsed: Duration::from_millis(*clock.iter().max().unwrap() + 20),
            tests,
            counts,
            complete: true,
            shuffle_seed: None,
            rerun_of: None,
            doc_setups: Vec::new(),
        };
        let p = dir.join(format!("report-{shard}.json"));
        std::fs::write(&p, serde_json::to_vec_pretty(&report).unwrap()).unwrap();
        paths.push(p);
    }
    paths
}

/// Writes the fixture workspace, history and reports, and renders the page.
fn render_fixture_page() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fixture_package(dir.path());
    let timings = dir.path().join(".shardtest/timings.json");
    fixture_history().save(&timings).unwrap();
    let reports = fixture_reports(dir.path());
    let page = dir.path().join("health.html");
    let o = run(shardtest()
        .current_dir(dir.path())
        .args(["report", "html", "--timings"])
        .arg(&timings)
        .args(&reports)
        .arg("-o")
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("Wrote the health page of 35 tests"),
        "{}",
        text(&o)
    );
    (dir, page)
}

#[test]
fn the_health_page_renders_in_a_browser() {
    let (_dir, page) = render_fixture_page();
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing is fetched.
    for needle in ["http://", "https://", "src=", "<link"] {
        assert!(!html.contains(needle), "the page refers to `{needle}`");
    }

    let dom = dom_of(&page, "");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the script ran to its end"
    );
    for section in [
        "overview", "balance", "slowest", "slower", "flaky", "owners", "tests",
    ] {
        assert!(
            dom.contains(&format!("<section id=\"{section}\">")),
            "section {section}"
        );
    }
    // Overview: 35 tests; of the 12 runs, the 8 a history keeps per test have run ids.
    let overview = between(&dom, "<section id=\"overview\">", "</section>");
    assert!(
        overview.contains("<b>35</b><span>tests</span>"),
        "{overview}"
    );
    assert!(
        overview.contains("<b>8</b><span>recorded runs</span>"),
        "{overview}"
    );
    assert!(overview.contains("Wall time per run") && overview.contains("Pass rate per run"));
    // The run a report covers has its measured wall time; the others are estimates.
    let latest = between(overview, "<title>run-11 ", "</title>");
    assert!(!latest.contains("estimated"), "{latest}");
    assert!(between(overview, "<title>run-10 ", "</title>").contains("(estimated)"));
    // Balance: two shards, predicted against actual, and the bound.
    let balance = between(&dom, "<section id=\"balance\">", "</section>");
    assert!(balance.contains("2 shards × 2 workers"), "{balance}");
    assert!(balance.contains("shard 1/2 predicted") && balance.contains("shard 2/2 actual"));
    assert!(balance.contains("class=\"bound\""), "{balance}");
    // Slowest first, with a sparkline.
    let slowest = between(&dom, "<section id=\"slowest\">", "</section>");
    let first = between(slowest, "<tbody>", "</tr>");
    assert!(
        first.contains("app::api orders::bulk_import") && first.contains("<svg class=\"spark\""),
        "{first}"
    );
    // Got slower.
    let slower = between(&dom, "<section id=\"slower\">", "</section>");
    assert!(
        slower.contains("app parse::tests::slowing_down"),
        "{slower}"
    );
    assert!(
        !slower.contains("bulk_import"),
        "a steady test did not get slower"
    );
    // Flakiest: the flaky test first, the spike flagged.
    let flaky = between(&dom, "<section id=\"flaky\">", "</section>");
    let rows: Vec<&str> = flaky.split("<tr class=\"flaky-row\">").skip(1).collect();
    assert!(rows[0].contains("app net::tests::connect_retry"), "{flaky}");
    let dns = rows
        .iter()
        .find(|r| r.contains("app net::tests::dns_lookup"))
        .expect("the failing steady test is listed");
    assert!(dns.contains("class=\"spike\""), "{dns}");
    assert!(
        !rows[0].contains("class=\"spike\""),
        "a known flaky test is no spike"
    );
    // Ownership: groups by CODEOWNERS.
    let owners = between(&dom, "<section id=\"owners\">", "</section>");
    let net = between(
        owners,
        "<b class=\"owner\">@org/net @alice</b>",
        "</details>",
    );
    assert!(
        net.contains("1 failing") && net.contains("1 flaky"),
        "{net}"
    );
    assert!(net.contains("app net::tests::dns_lookup") && net.contains("connect_retry"));
    assert!(
        owners.contains("<b class=\"owner\">@org/core</b>"),
        "{owners}"
    );
    // The table: every test (35 fit on the first page), owners resolved per file.
    let table = between(&dom, "<table id=\"all\">", "</table>");
    assert_eq!(table.matches("<tr>").count(), 36, "header and 35 rows");
    assert!(table.contains("@org/qa"), "integration tests belong to QA");
    assert!(dom.contains("35 tests</span>"));

    std::fs::copy(&page, artifacts().join("health.html")).unwrap();
    screenshot(&page, "health.png", 1280, 3000);
    screenshot(&page, "health-phone.png", 390, 2400);
    screenshot(&page, "health-dark.png", 1280, 1400);
}

#[test]
fn the_search_box_filters_the_table() {
    let (_dir, page) = render_fixture_page();
    // `#q=` fills the search box on load through the same code as typing.
    let dom = dom_of(&page, "#q=dns");
    let table = between(&dom, "<table id=\"all\">", "</table>");
    let rows: Vec<&str> = table.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 1, "{table}");
    assert!(rows[0].contains("app net::tests::dns_lookup"));
    assert!(dom.contains("1 of 35 tests match"), "count shown");
    // Several words all have to match; owners are searched too.
    let dom = dom_of(&page, "#q=orders%20case_0");
    let table = between(&dom, "<table id=\"all\">", "</table>");
    assert_eq!(
        table.matches("<tr>").count(),
        11,
        "header and case_00..case_09"
    );
    let dom = dom_of(&page, "#q=%40org%2Fqa");
    assert!(dom.contains("31 of 35 tests match"), "by owner");
    let dom = dom_of(&page, "#q=nothing-like-this");
    assert!(dom.contains("no test matches"));
}

#[test]
fn the_table_sorts_by_a_column() {
    let (_dir, page) = render_fixture_page();
    let first_row = |fragment: &str| {
        let dom = dom_of(&page, fragment);
        let table = between(&dom, "<table id=\"all\">", "</table>").to_string();
        let row = table.split("<tr>").nth(2).unwrap_or_default().to_string();
        (table, row)
    };
    // `#sort=` sorts as a click on the heading: numbers largest first.
    let (table, row) = first_row("#sort=mean");
    assert!(row.contains("app::api orders::bulk_import"), "{table}");
    assert!(table.contains("aria-sort=\"descending\""), "{table}");
    let (table, row) = first_row("#sort=fail");
    assert!(row.contains("app net::tests::dns_lookup"), "{table}");
    // Filter and sort together.
    let (table, row) = first_row("#q=case_&sort=mean");
    assert!(row.contains("app::api orders::case_29"), "{table}");
    assert_eq!(table.matches("<tr>").count(), 31, "header and the 30 cases");
}

/// A merged report (`report merge --json`) gives the balance section its shards too.
#[test]
fn a_merged_report_shows_every_shard() {
    let dir = tempfile::tempdir().unwrap();
    fixture_package(dir.path());
    let timings = dir.path().join(".shardtest/timings.json");
    fixture_history().save(&timings).unwrap();
    let reports = fixture_reports(dir.path());
    let merged = dir.path().join("all.json");
    let o = common::merge_reports(&reports, &dir.path().join("all.xml"), &merged);
    assert!(o.status.success(), "{}", text(&o));
    let page = dir.path().join("health.html");
    // The default history is the workspace's `.shardtest/timings.json`.
    let o = run(shardtest()
        .env_remove("SHARDTEST_TIMINGS")
        .current_dir(dir.path())
        .args(["report", "html"])
        .arg(&merged)
        .arg("-o")
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    let balance = between(&html, "<section id=\"balance\">", "</section>");
    assert!(balance.contains("2 shards × 2 workers"), "{balance}");
    assert!(balance.contains("shard 1/2 actual") && balance.contains("shard 2/2 predicted"));
    // The merged JUnit names the owners too (CODEOWNERS around the current directory).
    let o = run(shardtest()
        .current_dir(dir.path())
        .args(["report", "merge", "--junit", "owned.xml"])
        .args(&reports));
    assert!(o.status.success(), "{}", text(&o));
    let xml = std::fs::read_to_string(dir.path().join("owned.xml")).unwrap();
    assert!(
        xml.contains("<property name=\"owner\" value=\"@org/qa\"/>"),
        "{xml}"
    );
}

#[test]
fn report_html_explains_a_missing_history() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(shardtest()
        .current_dir(dir.path())
        .args(["report", "html", "--timings"])
        .arg(dir.path().join("none.json"))
        .arg("-o")
        .arg(dir.path().join("h.html")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no timings history at"), "{}", text(&o));
    let o = run(shardtest().args(["report", "html", "--help"]));
    for flag in ["--timings", "--owners", "--output", "--slower-ratio"] {
        assert!(text(&o).contains(flag), "{flag}: {}", text(&o));
    }
}

#[test]
fn the_timeline_renders_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let reports = fixture_reports(dir.path());
    let page = dir.path().join("timeline.html");
    let o = run(shardtest()
        .arg("timeline")
        .args(&reports)
        .arg("-o")
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in ["http://", "https://", "src=", "<link"] {
        assert!(
            !without_ns.contains(needle),
            "the page refers to `{needle}`"
        );
    }
    let dom = dom_of(&page, "");
    assert!(dom.contains("<h1>shardtest timeline</h1>"));
    // One lane per worker of each shard, one bar per attempt, both shard ends drawn.
    for lane in [
        "shard 1/2 (report-1.json) · worker 0",
        "shard 2/2 (report-2.json) · worker 1",
    ] {
        assert!(dom.contains(lane), "{lane}");
    }
    assert_eq!(
        dom.matches("<rect class=\"pass\"").count(),
        34,
        "passing attempts"
    );
    assert_eq!(
        dom.matches("<rect class=\"fail\"").count(),
        1,
        "the failed attempt"
    );
    assert_eq!(dom.matches("class=\"actual-end\"").count(), 2);
    assert_eq!(dom.matches("class=\"predicted-end\"").count(), 2);
    assert!(dom.contains("Tests holding the build back"));
    assert!(between(&dom, "holding the build back", "</table>").contains("bulk_import"));
    assert!(html.contains("prefers-color-scheme: dark") && html.contains("name=\"viewport\""));
    std::fs::copy(&page, artifacts().join("timeline.html")).unwrap();
    screenshot(&page, "timeline.png", 1280, 900);
    screenshot(&page, "timeline-phone.png", 390, 900);
    screenshot(&page, "timeline-dark.png", 1280, 700);
}

/// Benchmark: the page of 100,000 tests with 8 runs each. Prints its size and how long
/// headless chromium takes to load it and run its script, and to filter it.
#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn page_of_100000_tests() {
    const TESTS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    fixture_package(dir.path());
    let mut store = TimingStore::default();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..TESTS {
        let (bin, module) = match i % 3 {
            0 => ("app", format!("net::m{:03}::tests", i % 500)),
            1 => ("app", format!("parse::m{:03}::tests", i % 300)),
            _ => ("app::api", format!("orders::group_{:03}", i % 200)),
        };
        let t = id(&format!("{bin} {module}::test_case_number_{i}"));
        let base = 1 + next() % 2_000;
        for run in 0..8u64 {
            let r = next() % 1000;
            let status = if r < 3 {
                SampleStatus::Failed
            } else if r < 10 {
                SampleStatus::Flaky
            } else {
                SampleStatus::Passed
            };
            store.record(
                t.clone(),
                Sample {
                    run: RunStamp {
                        id: format!("run-{run}").into(),
                        at_unix_ms: T0 + run * HOUR,
                    },
                    duration: Duration::from_millis(base + next() % (base / 4 + 1)),
                    status,
                    workers: 8,
                    attributes: Default::default(),
                },
            );
        }
    }
    let timings = dir.path().join("timings.json");
    store.save(&timings).unwrap();
    let page = dir.path().join("health-100k.html");
    let started = Instant::now();
    let o = run(shardtest()
        .current_dir(dir.path())
        .args(["report", "html", "--timings"])
        .arg(&timings)
        .arg("-o")
        .arg(&page));
    let generate = started.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    let size = std::fs::metadata(&page).unwrap().len();

    // Real clocks (no virtual time budget): the script is inline and synchronous, so the
    // DOM is dumped after it ran. Each figure is the median of 3 runs.
    let empty = dir.path().join("empty.html");
    std::fs::write(
        &empty,
        "<!DOCTYPE html><title>x</title><body data-ready=\"1\"></body>",
    )
    .unwrap();
    let median = |p: &Path, fragment: &str| {
        let mut runs: Vec<(Duration, u64, String)> = (0..3)
            .map(|_| {
                let t = Instant::now();
                let d = browser_with(&["--dump-dom".into(), url(p, fragment)]);
                let ready_ms = d
                    .split("data-ready-ms=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                (t.elapsed(), ready_ms, d)
            })
            .collect();
        runs.sort_by_key(|r| r.0);
        runs.swap_remove(1)
    };
    let (base, _, _) = median(&empty, "");
    let (load, ready, d) = median(&page, "");
    assert!(d.contains("data-ready=\"1\"") && d.contains("100000 tests</span>"));
    let (filter, filter_ready, d) = median(&page, "#q=test_case_number_4242");
    assert!(d.contains("of 100000 tests match"));
    screenshot(&page, "health-100k.png", 1280, 2000);
    println!("health page, {TESTS} tests x 8 runs:");
    println!(
        "  report html (generate + write): {:.2} s",
        generate.as_secs_f64()
    );
    println!(
        "  HTML size: {:.1} MiB ({size} bytes, {:.0} bytes per test)",
        size as f64 / 1048576.0,
        size as f64 / TESTS as f64
    );
    println!(
        "  chromium, empty page (start-up): {:.2} s",
        base.as_secs_f64()
    );
    println!(
        "  chromium, open + script + first table page: {:.2} s wall ({:.2} s over start-up); in-page, navigation start to table drawn: {ready} ms",
        load.as_secs_f64(),
        load.saturating_sub(base).as_secs_f64()
    );
    println!(
        "  chromium, open with the #q= filter applied: {:.2} s wall ({:.2} s over start-up); in-page: {filter_ready} ms",
        filter.as_secs_f64(),
        filter.saturating_sub(base).as_secs_f64()
    );
}

/// A real run of a package with CODEOWNERS: the summary's failure list and the JUnit report
/// name the failing test's owners.
#[test]
fn a_run_names_the_owners_of_failures() {
    let dir = tempfile::tempdir().unwrap();
    fixture_package(dir.path());
    std::fs::write(
        dir.path().join("src/net.rs"),
        "#[cfg(test)]\nmod tests {\n    #[test]\n    fn dns_lookup() { panic!(\"no resolver\") }\n    #[test]\n    fn connects() {}\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("tests/api.rs"), "#[test]\nfn smoke() {}\n").unwrap();
    let junit = dir.path().join("junit.xml");
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(dir.path().join("Cargo.toml"))
        .arg("--junit")
        .arg(&junit));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let summary = String::from_utf8_lossy(&o.stderr);
    let summary = summary.split("Summary").nth(1).unwrap_or_default();
    assert!(
        summary.contains("app net::tests::dns_lookup (exit code 101) (owner @org/net @alice)"),
        "{}",
        text(&o)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let case = |name: &str| {
        xml.split("<testcase")
            .find(|c| c.contains(&format!("name=\"{name}\"")))
            .unwrap_or_else(|| panic!("{name} in {xml}"))
            .to_string()
    };
    assert!(
        case("net::tests::dns_lookup")
            .contains("<property name=\"owner\" value=\"@org/net @alice\"/>"),
        "{xml}"
    );
    assert!(
        case("smoke").contains("<property name=\"owner\" value=\"@org/qa\"/>"),
        "{xml}"
    );
}
