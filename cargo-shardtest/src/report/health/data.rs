//! What the health page shows, computed from the timings history and the JSON reports.
//!
//! Definitions (the page repeats them next to each section):
//!
//! * **Runs** are the recorded runs of the history (one per shard job, as `SHARDTEST_RUN_ID`
//!   names them), oldest first. A run's *work* is the sum of its tests' durations; its wall
//!   time is the report's when a given report has its run id, else an estimate:
//!   `max(work / workers, longest test)`. Its pass rate is the share of its tests that passed
//!   at once. Only the explicit runs a test keeps ([`crate::history::KEEP_RUNS`]) have run
//!   ids; older runs live folded in the test's base and count in its totals only.
//! * **Got slower**: the mean of a test's newest [`RECENT_RUNS`] samples against the mean of
//!   its older history (the folded base weighted by its samples, plus the older explicit
//!   runs); listed when recent / older is at least [`HealthOptions::slower_ratio_percent`]
//!   and the difference at least [`HealthOptions::min_slowdown`].
//! * **Flakiest**: [`crate::history::flakiness::flakiness_table`]'s order (rate, then
//!   samples). The trend compares the rate over the newest explicit runs with the rate before
//!   them. A *spike* is the run summary's rule ([`crate::history::flakiness::spike`]) applied
//!   to the test's latest sample: it failed, and the history before it passed almost always.
//! * **Ownership**: failing tests (latest sample failed) and flaky tests (any non-passing
//!   sample in the history) grouped by their owners.
//! * **Balance**: the latest matrix among the reports (the fingerprint of the newest report;
//!   `--rerun-failed` reports left out): predicted and actual time per shard, and the lower
//!   bound `max(longest test, total work / (shards x workers))` from the reports' durations.

use super::owners::TestOwners;
use crate::history::flakiness::{FlakyRow, Spike, flakiness_table, spike};
use crate::history::{RunSample, SampleStatus, TestStats, TimingStore};
use crate::id::{Fingerprint, RunId, TestId};
use crate::report::json::JsonReport;
use crate::report::merge::ShardSummary;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Samples that make a test's "recent" mean in "got slower".
pub const RECENT_RUNS: usize = 3;
/// Explicit runs whose failure rate is compared with the older history for the trend.
pub const TREND_RUNS: usize = 4;

/// Settings of the page.
///
/// ```
/// use shardtest::report::health::HealthOptions;
/// let o = HealthOptions { top: 5, ..Default::default() };
/// assert_eq!((o.top, o.slower_ratio_percent), (5, 150));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    /// Rows in the slowest, got-slower and flakiest lists.
    pub top: usize,
    /// "Got slower" threshold: recent mean / older mean, in percent (150 = 1.5x).
    pub slower_ratio_percent: u32,
    /// "Got slower" floor: recent mean minus older mean at least this.
    pub min_slowdown: Duration,
}

impl Default for HealthOptions {
    fn default() -> Self {
        HealthOptions {
            top: 20,
            slower_ratio_percent: 150,
            min_slowdown: Duration::from_millis(5),
        }
    }
}

/// A report given to the page: a shard's report, or a merged one with its shards.
#[derive(Clone, Debug)]
pub struct ReportInput {
    /// The report.
    pub report: JsonReport,
    /// For a merged report (`report merge --json`): the shards it came from.
    pub merged_from: Vec<ShardSummary>,
}

/// Reads a shard or merged JSON report.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// std::fs::write(d.path().join("r.json"), "{}").unwrap();
/// assert!(shardtest::report::health::data::load_report(&d.path().join("r.json")).is_err());
/// ```
pub fn load_report(path: &Path) -> Result<ReportInput, crate::report::merge::LoadError> {
    let report = crate::report::merge::load(path)?;
    let mut merged_from = Vec::new();
    if report.run.run_id.as_str().starts_with("merged:") {
        #[derive(serde::Deserialize)]
        struct Shards {
            #[serde(default)]
            merged_from: Vec<ShardSummary>,
        }
        if let Ok(bytes) = std::fs::read(path)
            && let Ok(s) = serde_json::from_slice::<Shards>(&bytes)
        {
            merged_from = s.merged_from;
        }
    }
    Ok(ReportInput {
        report,
        merged_from,
    })
}

/// One recorded run of the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunPoint {
    /// Run id.
    pub run_id: RunId,
    /// Start, milliseconds since the Unix epoch.
    pub at_unix_ms: u64,
    /// Tests it measured.
    pub tests: u64,
    /// Sum of their durations, microseconds.
    pub work_us: u64,
    /// Wall time, microseconds (measured or estimated, see `wall_measured`).
    pub wall_us: u64,
    /// Whether `wall_us` comes from a report (else it is an estimate).
    pub wall_measured: bool,
    /// Tests that passed at once.
    pub passed: u64,
    /// Tests that passed on a retry.
    pub flaky: u64,
    /// Tests that failed.
    pub failed: u64,
}

impl RunPoint {
    /// Share of its tests that passed at once, per mille.
    ///
    /// ```
    /// # use shardtest::report::health::data::RunPoint;
    /// let r = RunPoint { run_id: "r".into(), at_unix_ms: 0, tests: 4, work_us: 0, wall_us: 0,
    ///     wall_measured: false, passed: 3, flaky: 1, failed: 0 };
    /// assert_eq!(r.pass_permille(), 750);
    /// ```
    pub fn pass_permille(&self) -> u64 {
        (self.passed * 1000).checked_div(self.tests).unwrap_or(1000)
    }
}

/// One shard of the latest matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardBar {
    /// `K/N`.
    pub shard: String,
    /// Predicted wall time.
    pub predicted: Duration,
    /// Actual wall time.
    pub actual: Duration,
    /// Workers.
    pub workers: u32,
}

/// Predicted against actual time per shard of the latest matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    /// The plan's fingerprint.
    pub fingerprint: Fingerprint,
    /// Shards, by index.
    pub shards: Vec<ShardBar>,
    /// Shard count of the plan.
    pub shard_total: u32,
    /// Workers per shard.
    pub workers: u32,
    /// Sum of all test durations.
    pub total_work: Duration,
    /// The longest test and its duration.
    pub longest: Option<(TestId, Duration)>,
    /// `max(longest, total_work / (shards x workers))`.
    pub lower_bound: Duration,
}

/// A slow test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowRow {
    /// The test.
    pub id: TestId,
    /// Its owners.
    pub owner: Option<Arc<str>>,
    /// EWMA mean.
    pub mean: Duration,
    /// Last duration.
    pub last: Duration,
    /// Its explicit runs, oldest first: duration in microseconds and status.
    pub recent: Vec<(u64, SampleStatus)>,
}

/// A test that got slower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowerRow {
    /// The test.
    pub id: TestId,
    /// Its owners.
    pub owner: Option<Arc<str>>,
    /// Mean of the newest [`RECENT_RUNS`] samples.
    pub recent: Duration,
    /// Mean of the history before them.
    pub before: Duration,
    /// recent / before, percent.
    pub ratio_percent: u64,
    /// Its explicit runs for the sparkline.
    pub runs: Vec<(u64, SampleStatus)>,
}

/// Direction of a test's failure rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trend {
    /// Failing more often recently.
    Worse,
    /// Failing less often recently.
    Better,
    /// About the same.
    Steady,
    /// No older history to compare with.
    New,
}

impl Trend {
    /// Word and arrow for the page.
    ///
    /// ```
    /// assert_eq!(shardtest::report::health::data::Trend::Worse.label(), "↑ worse");
    /// ```
    pub fn label(self) -> &'static str {
        match self {
            Trend::Worse => "↑ worse",
            Trend::Better => "↓ better",
            Trend::Steady => "→ steady",
            Trend::New => "· new",
        }
    }
}

/// A flaky or failing test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlakyEntry {
    /// The test.
    pub id: TestId,
    /// Its owners.
    pub owner: Option<Arc<str>>,
    /// Non-passing share of its samples, parts per million.
    pub rate_ppm: u32,
    /// Samples.
    pub samples: u64,
    /// Passed after a retry.
    pub flaky: u64,
    /// Failed.
    pub failed: u64,
    /// Starts (ms since the epoch) of the newest runs where it did not pass at once, newest
    /// first (at most 3; runs folded into the base have no date).
    pub last_failures: Vec<u64>,
    /// Statuses of its explicit runs, oldest first.
    pub recent: Vec<SampleStatus>,
    /// Rate trend.
    pub trend: Trend,
    /// Its latest sample failed although it passed almost always before.
    pub spike: Option<Spike>,
}

/// Failing and flaky tests of one owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnerGroup {
    /// The owners (`None`: tests nobody owns).
    pub owner: Option<Arc<str>>,
    /// Tests whose latest sample failed.
    pub failing: Vec<TestId>,
    /// Tests with non-passing samples in their history that do not fail now.
    pub flaky: Vec<TestId>,
}

/// One row of the table of every test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestRow {
    /// The test.
    pub id: TestId,
    /// Its owners.
    pub owner: Option<Arc<str>>,
    /// Statistics.
    pub stats: TestStats,
}

/// Everything the page shows.
#[derive(Clone, Debug)]
pub struct HealthData {
    /// Recorded runs, oldest first.
    pub runs: Vec<RunPoint>,
    /// Sum of every test's mean.
    pub total_work: Duration,
    /// The latest matrix, when reports were given.
    pub balance: Option<Balance>,
    /// Slowest tests by mean.
    pub slowest: Vec<SlowRow>,
    /// Tests that got slower, largest added time first.
    pub slower: Vec<SlowerRow>,
    /// Flakiest tests.
    pub flakiest: Vec<FlakyEntry>,
    /// Tests that failed or were flaky, by owner (owners by name, unowned last).
    pub owners: Vec<OwnerGroup>,
    /// Whether owners were known (a CODEOWNERS file was read).
    pub has_owners: bool,
    /// Every test, by id.
    pub rows: Vec<TestRow>,
    /// The options used.
    pub options: HealthOptions,
}

/// Computes the page's data.
///
/// ```
/// use shardtest::report::health::data::*;
/// use shardtest::history::*;
/// use std::time::Duration;
/// let mut store = TimingStore::default();
/// for i in 0..4u64 {
///     store.record("app t".parse().unwrap(), Sample {
///         run: RunStamp { id: format!("r{i}").into(), at_unix_ms: i },
///         duration: Duration::from_millis(10), status: SampleStatus::Passed, workers: 2,
///         attributes: Default::default() });
/// }
/// let d = collect(&store, &[], None, &HealthOptions::default());
/// assert_eq!((d.rows.len(), d.runs.len()), (1, 4));
/// assert!(d.flakiest.is_empty() && d.balance.is_none());
/// ```
pub fn collect(
    store: &TimingStore,
    reports: &[ReportInput],
    owners: Option<&TestOwners>,
    options: &HealthOptions,
) -> HealthData {
    let rows = test_rows(store, owners);
    let total_work = rows.iter().map(|r| r.stats.mean).sum();
    let row_of: BTreeMap<&TestId, &TestRow> = rows.iter().map(|r| (&r.id, r)).collect();
    let table = flakiness_table(store);
    let flakiest = flakiest(store, &row_of, &table, options.top);
    let owner_groups = owner_groups(store, &row_of, &table);
    HealthData {
        runs: run_points(store, reports),
        total_work,
        balance: balance(reports),
        slowest: slowest(store, &rows, options.top),
        slower: got_slower(store, &rows, options),
        flakiest,
        owners: owner_groups,
        has_owners: owners.is_some(),
        rows,
        options: options.clone(),
    }
}

/// One row per test of the history, with its owners and statistics.
fn test_rows(store: &TimingStore, owners: Option<&TestOwners>) -> Vec<TestRow> {
    store
        .tests
        .iter()
        .map(|(id, h)| TestRow {
            id: id.clone(),
            owner: owners.and_then(|o| o.owner_of(id)),
            stats: h.stats(),
        })
        .collect()
}

/// A test's explicit runs, oldest first: duration in microseconds and status.
fn explicit_runs(store: &TimingStore, id: &TestId) -> Vec<(u64, SampleStatus)> {
    store.tests[id]
        .runs
        .iter()
        .map(|(_, s)| (s.us, s.status))
        .collect()
}

/// What one run's samples add up to, across the tests of the history.
#[derive(Default)]
struct RunTotals {
    at: u64,
    tests: u64,
    work: u64,
    longest: u64,
    workers: u32,
    passed: u64,
    flaky: u64,
    failed: u64,
}

impl RunTotals {
    /// Counts one test's sample of the run.
    fn add(&mut self, s: &RunSample) {
        self.at = s.at;
        self.tests += 1;
        self.work += s.us;
        self.longest = self.longest.max(s.us);
        self.workers = self.workers.max(s.workers);
        match s.status {
            SampleStatus::Passed => self.passed += 1,
            SampleStatus::Flaky => self.flaky += 1,
            SampleStatus::Failed => self.failed += 1,
        }
    }

    /// The run's point, with its measured wall time when a report gave one (else estimated).
    fn point(self, run_id: &RunId, measured: Option<&Duration>) -> RunPoint {
        RunPoint {
            run_id: run_id.clone(),
            at_unix_ms: self.at,
            tests: self.tests,
            work_us: self.work,
            wall_us: measured.map_or_else(
                || (self.work / u64::from(self.workers.max(1))).max(self.longest),
                |d| d.as_micros() as u64,
            ),
            wall_measured: measured.is_some(),
            passed: self.passed,
            flaky: self.flaky,
            failed: self.failed,
        }
    }
}

/// The recorded runs of the history, oldest first, with the wall times the reports measured.
fn run_points(store: &TimingStore, reports: &[ReportInput]) -> Vec<RunPoint> {
    let mut measured: HashMap<&str, Duration> = HashMap::new();
    for r in reports {
        measured.insert(r.report.run.run_id.as_str(), r.report.elapsed);
        for s in &r.merged_from {
            measured.insert(s.run_id.as_str(), s.elapsed);
        }
    }
    let mut totals: HashMap<&RunId, RunTotals> = HashMap::new();
    for h in store.tests.values() {
        for (run, s) in h.runs.iter() {
            totals.entry(run).or_default().add(s);
        }
    }
    let mut runs: Vec<RunPoint> = totals
        .into_iter()
        .map(|(id, t)| t.point(id, measured.get(id.as_str())))
        .collect();
    runs.sort_by(|a, b| (a.at_unix_ms, &a.run_id).cmp(&(b.at_unix_ms, &b.run_id)));
    runs
}

/// The `top` slowest tests by mean (ties by id).
fn slowest(store: &TimingStore, rows: &[TestRow], top: usize) -> Vec<SlowRow> {
    let mut by_mean: Vec<&TestRow> = rows.iter().collect();
    by_mean.sort_by(|a, b| {
        b.stats
            .mean
            .cmp(&a.stats.mean)
            .then_with(|| a.id.cmp(&b.id))
    });
    by_mean
        .iter()
        .take(top)
        .map(|r| SlowRow {
            id: r.id.clone(),
            owner: r.owner.clone(),
            mean: r.stats.mean,
            last: r.stats.last,
            recent: explicit_runs(store, &r.id),
        })
        .collect()
}

/// The tests that got slower, largest added time first (at most `options.top`).
fn got_slower(store: &TimingStore, rows: &[TestRow], options: &HealthOptions) -> Vec<SlowerRow> {
    let mut slower: Vec<SlowerRow> = rows
        .iter()
        .filter_map(|r| slowdown(store, r, options))
        .collect();
    slower.sort_by(|a, b| {
        (b.recent - b.before)
            .cmp(&(a.recent - a.before))
            .then_with(|| a.id.cmp(&b.id))
    });
    slower.truncate(options.top);
    slower
}

/// A test's "got slower" row, when the mean of its newest samples passes both thresholds
/// against the mean of its older history (which needs at least 3 samples).
fn slowdown(store: &TimingStore, r: &TestRow, options: &HealthOptions) -> Option<SlowerRow> {
    let h = &store.tests[&r.id];
    let n = h.runs.len();
    if n < RECENT_RUNS {
        return None;
    }
    let samples: Vec<u64> = h.runs.iter().map(|(_, s)| s.us).collect();
    let (older, recent) = samples.split_at(n - RECENT_RUNS);
    let (base_n, base_sum) = h.base.as_ref().map_or((0u128, 0u128), |b| {
        (
            u128::from(b.samples),
            u128::from(b.mean_us) * u128::from(b.samples),
        )
    });
    let older_n = base_n + older.len() as u128;
    if older_n < 3 {
        return None;
    }
    let before = (base_sum + older.iter().map(|&u| u128::from(u)).sum::<u128>()) / older_n;
    let now = recent.iter().map(|&u| u128::from(u)).sum::<u128>() / RECENT_RUNS as u128;
    if before == 0 {
        return None;
    }
    let ratio = now * 100 / before;
    let slower = ratio >= u128::from(options.slower_ratio_percent)
        && now - before >= options.min_slowdown.as_micros();
    slower.then(|| SlowerRow {
        id: r.id.clone(),
        owner: r.owner.clone(),
        recent: Duration::from_micros(now as u64),
        before: Duration::from_micros(before as u64),
        ratio_percent: ratio as u64,
        runs: explicit_runs(store, &r.id),
    })
}

/// The first `top` tests of the flakiness table, with their recent runs, trend and spike.
fn flakiest(
    store: &TimingStore,
    row_of: &BTreeMap<&TestId, &TestRow>,
    table: &[FlakyRow],
    top: usize,
) -> Vec<FlakyEntry> {
    table
        .iter()
        .take(top)
        .map(|f| flaky_entry(store, row_of[&f.id], f))
        .collect()
}

/// The flakiest-list entry of the test of `row`, whose flakiness-table row is `f`.
fn flaky_entry(store: &TimingStore, row: &TestRow, f: &FlakyRow) -> FlakyEntry {
    let h = &store.tests[&f.id];
    let stats = &row.stats;
    let recent: Vec<SampleStatus> = h.runs.iter().map(|(_, s)| s.status).collect();
    let mut last_failures: Vec<u64> = h
        .runs
        .iter()
        .filter(|(_, s)| s.status != SampleStatus::Passed)
        .map(|(_, s)| s.at)
        .collect();
    last_failures.reverse();
    last_failures.truncate(3);
    FlakyEntry {
        id: f.id.clone(),
        owner: row.owner.clone(),
        rate_ppm: f.rate_ppm,
        samples: f.samples,
        flaky: f.flaky,
        failed: f.failed,
        last_failures,
        trend: trend(stats, &recent),
        spike: spike_now(stats, recent.last().copied()),
        recent,
    }
}

/// The tests of the flakiness table by owner, failing (latest sample failed) or flaky:
/// named owners first (by name), the unowned last.
fn owner_groups(
    store: &TimingStore,
    row_of: &BTreeMap<&TestId, &TestRow>,
    table: &[FlakyRow],
) -> Vec<OwnerGroup> {
    let mut groups: BTreeMap<Option<Arc<str>>, OwnerGroup> = BTreeMap::new();
    for f in table {
        let h = &store.tests[&f.id];
        let latest_failed = h
            .runs
            .iter()
            .last()
            .is_some_and(|(_, s)| s.status == SampleStatus::Failed);
        let owner = row_of.get(&f.id).and_then(|r| r.owner.clone());
        let g = groups.entry(owner.clone()).or_insert_with(|| OwnerGroup {
            owner,
            failing: Vec::new(),
            flaky: Vec::new(),
        });
        if latest_failed {
            g.failing.push(f.id.clone());
        } else {
            g.flaky.push(f.id.clone());
        }
    }
    let mut owner_groups: Vec<OwnerGroup> = groups.into_values().collect();
    owner_groups.sort_by(|a, b| (a.owner.is_none(), &a.owner).cmp(&(b.owner.is_none(), &b.owner)));
    owner_groups
}

/// The spike rule of the run summary, applied to the latest sample: it failed, and the
/// history before it makes that a spike.
fn spike_now(stats: &TestStats, latest: Option<SampleStatus>) -> Option<Spike> {
    if latest != Some(SampleStatus::Failed) {
        return None;
    }
    let before = TestStats {
        samples: stats.samples - 1,
        failed: stats.failed - 1,
        ..stats.clone()
    };
    spike(&before)
}

/// `bad` of `n` in parts per million (`None` for no samples).
fn rate(bad: u64, n: u64) -> Option<u64> {
    (bad * 1_000_000).checked_div(n)
}

/// Whether the test fails more or less often in its newest [`TREND_RUNS`] runs than before.
fn trend(stats: &TestStats, recent: &[SampleStatus]) -> Trend {
    let k = recent.len().min(TREND_RUNS);
    let newest = &recent[recent.len() - k..];
    let bad_new = newest
        .iter()
        .filter(|s| **s != SampleStatus::Passed)
        .count() as u64;
    let bad_all = stats.flaky + stats.failed;
    let old_n = stats.samples - k as u64;
    let (Some(new_rate), Some(old_rate)) =
        (rate(bad_new, k as u64), rate(bad_all - bad_new, old_n))
    else {
        return Trend::New;
    };
    if new_rate > old_rate + 100_000 {
        Trend::Worse
    } else if new_rate + 100_000 < old_rate {
        Trend::Better
    } else {
        Trend::Steady
    }
}

/// Predicted against actual time per shard of the latest matrix among `reports`.
fn balance(reports: &[ReportInput]) -> Option<Balance> {
    let latest = reports
        .iter()
        .filter(|r| r.report.rerun_of.is_none())
        .max_by_key(|r| r.report.run.started_at)?;
    let fp = &latest.report.run.fingerprint;
    let matrix: Vec<&ReportInput> = reports
        .iter()
        .filter(|r| r.report.rerun_of.is_none() && &r.report.run.fingerprint == fp)
        .collect();
    let mut shards: Vec<(u32, ShardBar)> = Vec::new();
    let mut shard_total = 1;
    let mut workers = 1;
    let mut tests: BTreeMap<&TestId, Duration> = BTreeMap::new();
    for r in &matrix {
        if r.merged_from.is_empty() {
            let run = &r.report.run;
            shard_total = shard_total.max(run.shard.total);
            workers = workers.max(run.workers);
            shards.push((
                run.shard.index,
                ShardBar {
                    shard: run.shard.to_string(),
                    predicted: run.predicted,
                    actual: r.report.elapsed,
                    workers: run.workers,
                },
            ));
        } else {
            for s in &r.merged_from {
                shard_total = shard_total.max(s.shard.total);
                workers = workers.max(s.workers);
                shards.push((
                    s.shard.index,
                    ShardBar {
                        shard: s.shard.to_string(),
                        predicted: s.predicted,
                        actual: s.elapsed,
                        workers: s.workers,
                    },
                ));
            }
        }
        for t in &r.report.tests {
            let d: Duration = t.attempts.iter().map(|a| a.duration).sum();
            tests.entry(&t.id).or_insert(d);
        }
    }
    shards.sort_by(|a, b| (a.0, &a.1.shard).cmp(&(b.0, &b.1.shard)));
    shards.dedup_by(|a, b| a.1.shard == b.1.shard);
    let total_work: Duration = tests.values().sum();
    let longest = tests
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
        .map(|(id, d)| ((*id).clone(), *d));
    let per_slot = total_work / (shard_total * workers).max(1);
    let lower_bound = longest.as_ref().map_or(per_slot, |l| l.1.max(per_slot));
    Some(Balance {
        fingerprint: fp.clone(),
        shards: shards.into_iter().map(|(_, s)| s).collect(),
        shard_total,
        workers,
        total_work,
        longest,
        lower_bound,
    })
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM` UTC.
///
/// ```
/// assert_eq!(shardtest::report::health::data::utc_minute(1_700_000_000_000), "2023-11-14 22:13");
/// ```
pub fn utc_minute(unix_ms: u64) -> String {
    let t: chrono::DateTime<chrono::Utc> =
        (SystemTime::UNIX_EPOCH + Duration::from_millis(unix_ms)).into();
    t.format("%Y-%m-%d %H:%M").to_string()
}
