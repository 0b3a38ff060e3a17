//! The timings store: recorded test durations that the planner turns into estimates.
//!
//! # File format
//! A versioned JSON file ([`TIMINGS_VERSION`]): first a table of the runs the file refers to
//! (`[run id, start in ms since the epoch]`, oldest first), then one test per line. A sample
//! is `[run index, microseconds, workers]`, followed by its status when it is not `passed`
//! and by the test's attributes when it had any. A base is `[watermark run index, id,
//! samples, mean_us, last_us, last_workers, passed, flaky, failed]` (plus attributes).
//!
//! ```text
//! {"version":2,"runs":[
//! ["r-17",1700000000000],
//! ["r-18",1700000100000]
//! ],"tests":{
//! "app::api orders::creates":{"base":[0,"9f..",12,1480000,1475000,2,11,1,0],"runs":[[1,1502113,2]]},
//! "app::api orders::flaky":{"runs":[[1,211000,2,"flaky"]]}
//! }}
//! ```
//!
//! Each run's id is stored once instead of once per test: with eight kept runs that makes
//! the file about a sixth of the size of version 1, which spelt out every sample's run id
//! and start time, and loading and recording are that much cheaper. Version 1 files are
//! still read, and the next recording writes them back as version 2.
//!
//! Version 3 is version 2 plus, after the tests, what starting a batch of each package's
//! doctests cost (`"doc_costs":{"<package>::doc":[[run index, microseconds, doctests],...]}`,
//! see [`DocCostRuns`]). A store is written as version 3 only when it holds such costs and
//! as version 2 otherwise, so a history without doctests stays readable by older builds,
//! while an older build meeting doctest costs refuses the file as too new (below) instead
//! of reading it and silently dropping them the next time it writes.
//!
//! A file written by a
//! newer shardtest ([`TimingsError::FutureVersion`]), or one that is corrupt or truncated
//! ([`TimingsError::Corrupt`]), is an error; [`TimingStore::load_or_fallback`] turns that into
//! an empty store plus one warning whose text depends only on the path and the problem, so
//! every shard of a CI run falls back the same way and still computes the same plan.
//!
//! # Design: history as a set of per-run contributions
//! Every CI job carries its own copy of the file and adds its samples; a last job merges the
//! copies. If each copy only held aggregates (a mean and a count), merging eight copies of
//! "yesterday + one new run" would count yesterday eight times. So the store keeps, per test:
//!
//! * `runs`: one [`RunSample`] per run that measured the test, keyed by the run's unique id
//!   (`SHARDTEST_RUN_ID`, or a content hash for imported JUnit files). A run contributes at
//!   most one sample per test.
//! * `base`: an optional [`BaseSummary`] into which the oldest runs are folded once a test has
//!   more than [`KEEP_RUNS`] explicit runs. The base records its *watermark* (the
//!   `(at, run id)` of the newest run it absorbed) and an id derived from the previous base id
//!   and the folded run ids.
//!
//! [`TimingStore::merge`] is then a union: explicit runs are united by run id (the same run
//! seen twice is the same sample, so it counts once; on a conflicting duplicate the greater
//! value wins, which keeps the merge commutative); of two bases the one with the later
//! watermark wins (ties by id, then content), and explicit runs at or before the winning
//! watermark are dropped because the base already contains them. Folding is deterministic
//! (always the oldest runs beyond [`KEEP_RUNS`]), so copies that grew from the same file fold
//! identically and keep the same base. Merge is therefore commutative, associative and
//! idempotent on the stored data, and eight copies of yesterday plus one run each merge into
//! yesterday once plus each run once.
//!
//! The statistics ([`TestStats`]) are derived, never stored: start from the base, then apply
//! the explicit runs oldest first (by `(at, run id)`) to an integer EWMA with
//! `alpha = 0.3` ([`EWMA_ALPHA_PERCENT`]). Once a test has two samples, a new sample enters
//! the EWMA clamped to `[mean / 3, mean * 3]` ([`OUTLIER_FACTOR`]): one 100x outlier moves the
//! mean by at most 1.6x instead of rewriting it, while a test that really became slower
//! converges within a few runs. `last` keeps the unclamped duration.
//!
//! # Concurrency
//! [`TimingStore::save_merged`] takes an exclusive OS lock (`File::lock`) on a sibling
//! `<path>.lock` file, re-reads the file, merges this store into it and writes the result
//! atomically (temporary file + rename, [`crate::fsutil::write_atomic`]). Two processes
//! updating one file therefore never lose each other's samples, and a crash mid-write leaves
//! the old file.

use crate::attrs::TestAttributes;
use crate::fsutil::write_atomic;
pub use crate::id::RunId;
use crate::id::{BinaryId, TestId, TestName};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a file looked like when it was read: its length and modification time. Recording
/// compares it under the lock to tell whether another process wrote the file meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of `path` now (`None` when it does not exist).
    ///
    /// ```
    /// # use shardtest::timings::FileStamp;
    /// assert!(FileStamp::of(std::path::Path::new("/no/such/file")).is_none());
    /// ```
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
}

/// Newest version of the timings file format, the one this build writes when the store
/// holds doctest costs ([`TimingStore::doc_costs`]); it reads every version up to it.
pub const TIMINGS_VERSION: u32 = 3;
/// The version written for a store without doctest costs (the same layout minus them), so
/// that such a file stays readable by builds that know only version 2.
const VERSION_WITHOUT_DOC_COSTS: u32 = 2;
/// EWMA weight of a new sample, in percent.
pub const EWMA_ALPHA_PERCENT: u64 = 30;
/// A new sample enters the mean clamped to `[mean / OUTLIER_FACTOR, mean * OUTLIER_FACTOR]`.
pub const OUTLIER_FACTOR: u64 = 3;
/// Explicit runs kept per test before the oldest are folded into the base.
pub const KEEP_RUNS: usize = 8;

/// How a test ended in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleStatus {
    /// Passed on the first attempt.
    Passed,
    /// Failed at first, a retry passed.
    Flaky,
    /// Every attempt failed.
    Failed,
}

impl SampleStatus {
    /// The name used in the timings file.
    ///
    /// ```
    /// # use shardtest::timings::SampleStatus;
    /// assert_eq!(SampleStatus::Flaky.as_str(), "flaky");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SampleStatus::Passed => "passed",
            SampleStatus::Flaky => "flaky",
            SampleStatus::Failed => "failed",
        }
    }
}

/// Identifies the run a sample comes from: a unique id and a time for ordering.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunStamp {
    /// Unique id of the run (`SHARDTEST_RUN_ID`; every shard has its own).
    pub id: RunId,
    /// When the run started, milliseconds since the Unix epoch (orders samples for the EWMA).
    pub at_unix_ms: u64,
}

/// One measurement to [`TimingStore::record`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    /// The run that measured it.
    pub run: RunStamp,
    /// Duration of the attempt that decided the status (the passing one for a flaky test).
    pub duration: Duration,
    /// Final status.
    pub status: SampleStatus,
    /// Worker count of the run (durations depend on what runs beside a test).
    pub workers: u32,
    /// Attributes the test carried.
    pub attributes: TestAttributes,
}

/// A run's contribution to one test's history.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RunSample {
    /// Run start, milliseconds since the Unix epoch.
    pub at: u64,
    /// Duration in microseconds.
    pub us: u64,
    /// Final status.
    pub status: SampleStatus,
    /// Worker count of the run.
    pub workers: u32,
    /// Attributes seen in that run; `None` when it had none, which is most tests (a test's
    /// history holds a sample per kept run, so this costs no allocation in the usual case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Box<TestAttributes>>,
}

impl RunSample {
    /// The attributes the test had in this run.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// let r = RunSample { at: 0, us: 1, status: SampleStatus::Passed, workers: 1,
    ///     attributes: attributes_of(Default::default()) };
    /// assert!(r.attributes.is_none() && r.attributes().is_plain());
    /// ```
    pub fn attributes(&self) -> TestAttributes {
        self.attributes.as_deref().cloned().unwrap_or_default()
    }
}

/// How a sample stores `attributes`: nothing when plain.
///
/// ```
/// # use shardtest::timings::attributes_of;
/// assert!(attributes_of(Default::default()).is_none());
/// ```
pub fn attributes_of(attributes: TestAttributes) -> Option<Box<TestAttributes>> {
    (!attributes.is_plain()).then(|| Box::new(attributes))
}

/// Folded summary of a test's oldest runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BaseSummary {
    /// Newest `(at, run id)` folded into this base.
    pub until_at: u64,
    /// Run id part of the watermark.
    pub until_run: RunId,
    /// Identity of the base (hash of the previous base id and the folded run ids).
    pub id: String,
    /// Number of samples folded in.
    pub samples: u64,
    /// EWMA mean in microseconds after the folded samples.
    pub mean_us: u64,
    /// Last folded duration in microseconds.
    pub last_us: u64,
    /// Worker count of the last folded sample.
    pub last_workers: u32,
    /// Counts by status.
    pub passed: u64,
    /// Counts by status.
    pub flaky: u64,
    /// Counts by status.
    pub failed: u64,
    /// Attributes of the last folded sample.
    #[serde(default, skip_serializing_if = "TestAttributes::is_plain")]
    pub attributes: TestAttributes,
}

impl BaseSummary {
    /// Whether the run `(at, run_id)` is at or before the watermark, so already folded in.
    fn covers(&self, at: u64, run_id: &str) -> bool {
        (at, run_id) <= (self.until_at, self.until_run.as_str())
    }
}

/// Stored history of one test: a base plus explicit runs (see the module doc).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct TestHistory {
    /// Folded oldest runs.
    #[serde(default)]
    pub base: Option<BaseSummary>,
    /// Explicit runs.
    #[serde(default)]
    pub runs: RunSamples,
}

/// A test's explicit runs: at most one sample per run id, kept oldest first (by start, then
/// run id), the order the statistics apply them in. A test keeps a handful of runs
/// ([`KEEP_RUNS`]), so a sorted list beats a map here.
///
/// ```
/// # use shardtest::timings::*;
/// let sample = |at, us| RunSample { at, us, status: SampleStatus::Passed, workers: 1, attributes: None };
/// let mut runs = RunSamples::default();
/// runs.insert("b".into(), sample(2, 10));
/// runs.insert("a".into(), sample(5, 20));
/// runs.insert("b".into(), sample(2, 30)); // the same run again replaces it
/// let order: Vec<&str> = runs.iter().map(|(id, _)| id.as_str()).collect();
/// assert_eq!(order, ["b", "a"]);
/// assert_eq!(runs.get("b").map(|r| r.us), Some(30));
/// assert_eq!(runs.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunSamples(Vec<(RunId, RunSample)>);

impl RunSamples {
    /// The sample of run `id`.
    pub fn get(&self, id: &str) -> Option<&RunSample> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == id)
            .map(|(_, r)| r)
    }

    /// Adds run `id`'s sample, replacing the one it had.
    pub fn insert(&mut self, id: RunId, sample: RunSample) {
        self.remove(id.as_str());
        let key = (sample.at, id.as_str());
        let at = self.0.partition_point(|(k, r)| (r.at, k.as_str()) < key);
        self.0.insert(at, (id, sample));
    }

    /// Removes run `id`'s sample.
    pub fn remove(&mut self, id: &str) -> Option<RunSample> {
        let at = self.0.iter().position(|(k, _)| k.as_str() == id)?;
        Some(self.0.remove(at).1)
    }

    /// How many runs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The runs, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = (&RunId, &RunSample)> {
        self.0.iter().map(|(k, r)| (k, r))
    }
}

impl<'de> Deserialize<'de> for RunSamples {
    /// The version 1 layout: an object keyed by run id.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<RunId, RunSample>::deserialize(d)?;
        let mut runs = RunSamples::default();
        for (id, mut r) in map {
            if r.attributes
                .as_deref()
                .is_some_and(TestAttributes::is_plain)
            {
                r.attributes = None;
            }
            runs.insert(id, r);
        }
        Ok(runs)
    }
}

/// Statistics derived from a [`TestHistory`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestStats {
    /// Exponentially weighted mean duration (outliers clamped).
    pub mean: Duration,
    /// Last recorded duration (unclamped).
    pub last: Duration,
    /// Number of samples.
    pub samples: u64,
    /// Runs where it passed at once.
    pub passed: u64,
    /// Runs where it passed after a retry.
    pub flaky: u64,
    /// Runs where it failed.
    pub failed: u64,
    /// Worker count of the last sample.
    pub last_workers: u32,
    /// Attributes of the last sample.
    pub attributes: TestAttributes,
    /// Mean of the explicit runs made with the worker count asked for in
    /// [`TimingStore::stats_for_workers`], when at least two exist (durations depend on what
    /// runs beside a test).
    pub mean_at_workers: Option<Duration>,
}

impl TestStats {
    /// The mean to plan with: the one at the asked worker count when known, else the overall.
    ///
    /// ```
    /// # use shardtest::timings::TestStats;
    /// # use std::time::Duration;
    /// let s = TestStats { mean: Duration::from_secs(2), ..Default::default() };
    /// assert_eq!(s.planning_mean(), Duration::from_secs(2));
    /// ```
    pub fn planning_mean(&self) -> Duration {
        self.mean_at_workers.unwrap_or(self.mean)
    }
}

impl TestStats {
    /// Share of runs that did not pass at once, in parts per million.
    ///
    /// ```
    /// # use shardtest::timings::TestStats;
    /// let s = TestStats { samples: 4, flaky: 1, ..Default::default() };
    /// assert_eq!(s.failure_rate_ppm(), 250_000);
    /// ```
    pub fn failure_rate_ppm(&self) -> u32 {
        if self.samples == 0 {
            return 0;
        }
        let bad = (self.flaky + self.failed).min(self.samples);
        (bad.saturating_mul(1_000_000) / self.samples) as u32
    }
}

fn ewma_step(mean: u64, count: u64, x: u64) -> u64 {
    if count == 0 {
        return x;
    }
    let x = if count >= 2 {
        x.clamp(mean / OUTLIER_FACTOR, mean.saturating_mul(OUTLIER_FACTOR))
    } else {
        x
    };
    // mean + alpha * (x - mean), in integers (rounded to nearest).
    let num = (mean as u128) * (100 - EWMA_ALPHA_PERCENT) as u128
        + (x as u128) * EWMA_ALPHA_PERCENT as u128;
    ((num + 50) / 100) as u64
}

fn count_status(st: SampleStatus, p: &mut u64, fl: &mut u64, f: &mut u64) {
    match st {
        SampleStatus::Passed => *p += 1,
        SampleStatus::Flaky => *fl += 1,
        SampleStatus::Failed => *f += 1,
    }
}

impl TestHistory {
    /// Derives the statistics (EWMA mean, last, counts, ...).
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let mut store = TimingStore::default();
    /// let id: shardtest::id::TestId = "p t".parse().unwrap();
    /// for (i, ms) in [100u64, 100, 10_000].iter().enumerate() {
    ///     store.record(id.clone(), Sample {
    ///         run: RunStamp { id: format!("r{i}").into(), at_unix_ms: i as u64 },
    ///         duration: Duration::from_millis(*ms), status: SampleStatus::Passed,
    ///         workers: 1, attributes: Default::default(),
    ///     });
    /// }
    /// let s = store.stats(&id).unwrap();
    /// assert_eq!(s.samples, 3);
    /// assert_eq!(s.last, Duration::from_secs(10));
    /// // The 100x outlier enters clamped to 3x: 0.7 * 100 + 0.3 * 300 = 160 ms.
    /// assert_eq!(s.mean, Duration::from_millis(160));
    /// ```
    pub fn stats(&self) -> TestStats {
        self.stats_at(None)
    }

    /// [`TestHistory::stats`], plus [`TestStats::mean_at_workers`] for `workers` (one pass).
    fn stats_at(&self, workers: Option<u32>) -> TestStats {
        let mut s = TestStats::default();
        let mut mean = 0u64;
        if let Some(b) = &self.base {
            mean = b.mean_us;
            s.samples = b.samples;
            s.last = Duration::from_micros(b.last_us);
            s.last_workers = b.last_workers;
            s.passed = b.passed;
            s.flaky = b.flaky;
            s.failed = b.failed;
            s.attributes = b.attributes.clone();
        }
        let (mut mean_at, mut n_at) = (0u64, 0u64);
        for (_, r) in self.runs.iter() {
            mean = ewma_step(mean, s.samples, r.us);
            s.samples += 1;
            s.last = Duration::from_micros(r.us);
            s.last_workers = r.workers;
            count_status(r.status, &mut s.passed, &mut s.flaky, &mut s.failed);
            if Some(r.workers) == workers {
                mean_at = ewma_step(mean_at, n_at, r.us);
                n_at += 1;
            }
        }
        if let Some((_, last)) = self.runs.0.last() {
            s.attributes = last.attributes();
        }
        s.mean = Duration::from_micros(mean);
        if n_at >= 2 {
            s.mean_at_workers = Some(Duration::from_micros(mean_at));
        }
        s
    }

    /// Folds the oldest explicit runs beyond [`KEEP_RUNS`] into the base (deterministic).
    fn compact(&mut self) {
        if self.runs.len() <= KEEP_RUNS {
            return;
        }
        let excess = self.runs.len() - KEEP_RUNS;
        // The oldest runs come first.
        let fold: Vec<(RunId, RunSample)> = self.runs.0.drain(..excess).collect();
        let mut base = self.base.take().unwrap_or(BaseSummary {
            until_at: 0,
            until_run: RunId::from(""),
            id: String::new(),
            samples: 0,
            mean_us: 0,
            last_us: 0,
            last_workers: 0,
            passed: 0,
            flaky: 0,
            failed: 0,
            attributes: TestAttributes::default(),
        });
        let mut h = Sha256::new();
        h.update(base.id.as_bytes());
        for (run_id, r) in &fold {
            base.mean_us = ewma_step(base.mean_us, base.samples, r.us);
            base.samples += 1;
            base.last_us = r.us;
            base.last_workers = r.workers;
            base.attributes = r.attributes();
            count_status(
                r.status,
                &mut base.passed,
                &mut base.flaky,
                &mut base.failed,
            );
            base.until_at = r.at;
            base.until_run = run_id.clone();
            h.update(b"\n");
            h.update(run_id.as_str().as_bytes());
        }
        base.id = hex(&h.finalize()[..8]);
        self.base = Some(base);
    }

    fn covered_by_base(&self, at: u64, run_id: &str) -> bool {
        self.base.as_ref().is_some_and(|b| b.covers(at, run_id))
    }

    fn merge_from(&mut self, other: &TestHistory) {
        let take_other = match (&self.base, &other.base) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => {
                (b.until_at, &b.until_run, &b.id, b) > (a.until_at, &a.until_run, &a.id, a)
            }
            _ => false,
        };
        if take_other {
            self.base = other.base.clone();
        }
        for (k, v) in other.runs.iter() {
            match self.runs.get(k.as_str()) {
                Some(mine) if mine >= v => {}
                _ => {
                    self.runs.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(b) = &self.base {
            self.runs.0.retain(|(k, v)| !b.covers(v.at, k.as_str()));
        }
        self.compact();
    }
}

/// What a report's test contributes to the history: its status and the duration of its last
/// attempt, or nothing (skipped, not run, interrupted).
fn measured(t: &crate::schema::TestRecord) -> Option<(SampleStatus, Duration)> {
    use crate::event::{AttemptOutcome, TestStatus};
    let status = match t.status {
        TestStatus::Passed => SampleStatus::Passed,
        TestStatus::Flaky => SampleStatus::Flaky,
        TestStatus::Failed => SampleStatus::Failed,
        TestStatus::Skipped | TestStatus::NotRun => return None,
    };
    let last = t.attempts.last()?;
    (last.outcome != AttemptOutcome::Interrupted).then_some((status, last.duration))
}

/// Writes one test's line of the timings file (after [`TimingStore::to_json`]'s run table;
/// `index` gives a run's position in it).
fn write_test(out: &mut String, id: &TestId, h: &TestHistory, index: &impl Fn(u64, &RunId) -> u64) {
    out.push('"');
    push_json_escaped(out, id.binary.as_str());
    out.push(' ');
    push_json_escaped(out, id.name.as_str());
    out.push_str("\":{");
    if let Some(b) = &h.base {
        out.push_str("\"base\":[");
        push_u64(out, index(b.until_at, &b.until_run));
        out.push(',');
        push_json_str(out, &b.id);
        for value in [
            b.samples,
            b.mean_us,
            b.last_us,
            u64::from(b.last_workers),
            b.passed,
            b.flaky,
            b.failed,
        ] {
            out.push(',');
            push_u64(out, value);
        }
        if !b.attributes.is_plain() {
            out.push(',');
            out.push_str(&serde_json::to_string(&b.attributes).unwrap_or_default());
        }
        out.push_str("],");
    }
    out.push_str("\"runs\":[");
    for (k, (run, r)) in h.runs.iter().enumerate() {
        out.push_str(if k == 0 { "[" } else { ",[" });
        push_u64(out, index(r.at, run));
        out.push(',');
        push_u64(out, r.us);
        out.push(',');
        push_u64(out, u64::from(r.workers));
        if r.status != SampleStatus::Passed || r.attributes.is_some() {
            out.push_str(",\"");
            out.push_str(r.status.as_str());
            out.push('"');
        }
        if let Some(a) = &r.attributes {
            out.push(',');
            out.push_str(&serde_json::to_string(a).unwrap_or_default());
        }
        out.push(']');
    }
    out.push_str("]}");
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped for the inside of a JSON string literal.
fn push_json_escaped(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        out.push_str(&quoted[1..quoted.len().saturating_sub(1).max(1)]);
    } else {
        out.push_str(s);
    }
}

/// Appends `n` in decimal (the file is mostly numbers; this skips the formatting machinery).
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// The timings store: per test, its history (see the module doc for the design).
///
/// ```
/// # use shardtest::timings::*;
/// # use std::time::Duration;
/// let mut store = TimingStore::default();
/// store.record("p t".parse().unwrap(), Sample {
///     run: RunStamp { id: "run-1".into(), at_unix_ms: 1 },
///     duration: Duration::from_millis(250), status: SampleStatus::Passed,
///     workers: 2, attributes: Default::default(),
/// });
/// let json = store.to_json();
/// assert_eq!(TimingStore::from_json(&json).unwrap(), store);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimingStore {
    /// History per test, sorted by id. (A store is always written in the current format,
    /// [`TIMINGS_VERSION`], whatever version it was read from.)
    pub tests: BTreeMap<TestId, TestHistory>,
    /// Per doctest binary (`<package>::doc`), what starting a batch of its doctests cost in
    /// the last runs that ran some (cargo, rustdoc and, from edition 2024, the merged build,
    /// until the first doctest began). The planner's per-package doctest cost is learned from
    /// these ([`crate::doctest::learned_cost`]).
    pub doc_costs: BTreeMap<BinaryId, DocCostRuns>,
}

/// One run's measured start-up of a package's doctest batches: the median over its batches
/// of the time from starting `cargo test --doc` until the first doctest began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocCostSample {
    /// When the run started (ms since the epoch).
    pub at: u64,
    /// The start-up, in microseconds.
    pub setup_us: u64,
    /// How many doctests the package had (in edition 2024 and later rustdoc builds them all
    /// into the merged binary for every batch, so the start-up grows with this).
    pub doctests: u32,
}

/// A package's [`DocCostSample`]s by run: at most [`KEEP_RUNS`], the newest (older ones are
/// dropped, not folded: the cost is re-learned from recent runs). Merging is a union by run
/// id (on a conflict the greater sample wins) followed by keeping the newest, so it is
/// commutative, associative and idempotent like the tests' history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocCostRuns(BTreeMap<RunId, DocCostSample>);

impl DocCostRuns {
    /// Adds (or, if greater, replaces) `run`'s sample and drops the oldest beyond
    /// [`KEEP_RUNS`].
    ///
    /// ```
    /// # use shardtest::timings::{DocCostRuns, DocCostSample, KEEP_RUNS};
    /// let mut r = DocCostRuns::default();
    /// for i in 0..KEEP_RUNS as u64 + 2 {
    ///     r.insert(format!("r{i}").as_str().into(), DocCostSample { at: i, setup_us: 1, doctests: 1 });
    /// }
    /// assert_eq!(r.len(), KEEP_RUNS);
    /// assert_eq!(r.iter().map(|(_, s)| s.at).min(), Some(2));
    /// ```
    pub fn insert(&mut self, run: RunId, sample: DocCostSample) {
        match self.0.get(&run) {
            Some(kept) if *kept >= sample => {}
            _ => {
                self.0.insert(run, sample);
            }
        }
        while self.0.len() > KEEP_RUNS {
            let oldest = self
                .0
                .iter()
                .min_by(|a, b| (a.1.at, a.0).cmp(&(b.1.at, b.0)))
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.0.remove(&id);
            }
        }
    }

    /// The samples by run id.
    pub fn iter(&self) -> impl Iterator<Item = (&RunId, &DocCostSample)> {
        self.0.iter()
    }

    /// How many runs are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no run is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Errors of reading, writing or importing timings.
#[derive(Debug, thiserror::Error)]
pub enum TimingsError {
    /// The file could not be read, locked or written.
    #[error("timings file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid timings JSON (corrupt or truncated).
    #[error(
        "timings file `{path}` is corrupt or truncated ({message}); delete it (or restore it from the CI cache) and the next run writes a fresh one"
    )]
    Corrupt {
        /// The file (`<memory>` for text).
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file was written by a newer shardtest.
    #[error(
        "timings file `{path}` has format version {found}, this cargo-shardtest reads version {supported}: update cargo-shardtest, or delete the file to start a new history"
    )]
    FutureVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A JUnit file could not be parsed.
    #[error("JUnit XML could not be read: {0}")]
    Junit(String),
}

#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// The version of a file as this program writes it (`{"version":N,` first), without parsing
/// the rest; `None` for any other layout, which then takes a full parse to find it.
fn leading_version(text: &str) -> Option<u32> {
    let rest = text.trim_start().strip_prefix("{\"version\":")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if rest[digits..].starts_with(',') {
        rest[..digits].parse().ok()
    } else {
        None
    }
}

/// A JSON object read as its entries in file order: the files are written sorted, so a
/// `BTreeMap` is then built in one pass instead of by an insert per key.
struct Entries<K, V>(Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// The version 1 file: every sample keyed by its run id.
#[derive(Deserialize)]
struct FileV1 {
    tests: BTreeMap<TestId, TestHistory>,
}

/// The version 2 file as written (see the module doc): runs are a table, samples and bases
/// refer to it by index.
#[derive(Deserialize)]
struct FileV2 {
    runs: Vec<(RunId, u64)>,
    tests: Entries<TestId, HistoryV2>,
    /// Version 3: `{"<package>::doc": [[run index, microseconds, doctests], ...]}`.
    #[serde(default)]
    doc_costs: BTreeMap<String, Vec<(usize, u64, u32)>>,
}

#[derive(Deserialize)]
struct HistoryV2 {
    #[serde(default)]
    base: Option<BaseV2>,
    #[serde(default)]
    runs: Vec<SampleV2>,
}

/// `[watermark run index, id, samples, mean_us, last_us, last_workers, passed, flaky,
/// failed]`, then the attributes when there are any.
#[derive(Deserialize)]
struct BaseV2(
    usize,
    String,
    u64,
    u64,
    u64,
    u32,
    u64,
    u64,
    u64,
    #[serde(default)] TestAttributes,
);

/// `[run index, microseconds, workers]`, then the status when it is not `passed` (or when
/// attributes follow), then the attributes when there are any.
#[derive(Deserialize)]
struct SampleV2(
    usize,
    u64,
    u32,
    #[serde(default)] Option<SampleStatus>,
    #[serde(default)] Option<TestAttributes>,
);

impl FileV2 {
    fn into_store(self) -> Result<TimingStore, String> {
        let runs = &self.runs;
        let run = |i: usize| {
            runs.get(i).ok_or_else(|| {
                format!(
                    "a sample refers to run #{i}, but the file lists {} runs",
                    runs.len()
                )
            })
        };
        let mut tests = Vec::with_capacity(self.tests.0.len());
        for (id, raw) in self.tests.0 {
            let mut h = TestHistory::default();
            if let Some(BaseV2(
                until,
                id,
                samples,
                mean_us,
                last_us,
                last_workers,
                passed,
                flaky,
                failed,
                attributes,
            )) = raw.base
            {
                let (until_run, until_at) = run(until)?;
                h.base = Some(BaseSummary {
                    until_at: *until_at,
                    until_run: until_run.clone(),
                    id,
                    samples,
                    mean_us,
                    last_us,
                    last_workers,
                    passed,
                    flaky,
                    failed,
                    attributes,
                });
            }
            for SampleV2(i, us, workers, status, attributes) in raw.runs {
                let (run_id, at) = run(i)?;
                let sample = RunSample {
                    at: *at,
                    us,
                    status: status.unwrap_or(SampleStatus::Passed),
                    workers,
                    attributes: attributes.and_then(attributes_of),
                };
                match h.runs.get(run_id.as_str()) {
                    Some(kept) if *kept >= sample => {}
                    _ => {
                        h.runs.insert(run_id.clone(), sample);
                    }
                }
            }
            tests.push((id, h));
        }
        // A test listed twice (a hand-edited file) keeps its last entry, as a map would.
        tests.reverse();
        tests.sort_by(|a, b| a.0.cmp(&b.0));
        tests.dedup_by(|a, b| a.0 == b.0);
        let mut doc_costs: BTreeMap<BinaryId, DocCostRuns> = BTreeMap::new();
        for (binary, samples) in self.doc_costs {
            let runs = doc_costs.entry(BinaryId::new(binary)).or_default();
            for (i, setup_us, doctests) in samples {
                let (run_id, at) = run(i)?;
                let sample = DocCostSample {
                    at: *at,
                    setup_us,
                    doctests,
                };
                runs.insert(run_id.clone(), sample);
            }
        }
        Ok(TimingStore {
            tests: tests.into_iter().collect(),
            doc_costs,
        })
    }
}

impl TimingStore {
    /// Records one sample of `id` (a run contributes one sample per test; recording the
    /// same run again replaces it).
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let mut s = TimingStore::default();
    /// let id: shardtest::id::TestId = "p t".parse().unwrap();
    /// let sample = Sample { run: RunStamp { id: "r".into(), at_unix_ms: 0 },
    ///     duration: Duration::from_millis(5), status: SampleStatus::Flaky, workers: 1,
    ///     attributes: Default::default() };
    /// s.record(id.clone(), sample);
    /// assert_eq!(s.stats(&id).unwrap().flaky, 1);
    /// ```
    pub fn record(&mut self, id: TestId, sample: Sample) {
        let h = self.tests.entry(id).or_default();
        if h.covered_by_base(sample.run.at_unix_ms, sample.run.id.as_str()) {
            return;
        }
        h.runs.insert(
            sample.run.id,
            RunSample {
                at: sample.run.at_unix_ms,
                us: sample.duration.as_micros().min(u64::MAX as u128) as u64,
                status: sample.status,
                workers: sample.workers,
                attributes: attributes_of(sample.attributes),
            },
        );
        h.compact();
    }

    /// Records every test of a shard's JSON report as one run (run id and start time from
    /// the report, worker count of the run). Passed and flaky tests record the duration of
    /// their last (passing) attempt, failed ones of their last attempt; skipped, not-run and
    /// interrupted tests record nothing. Returns how many samples were recorded.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// # fn get_report() -> Option<shardtest::report::json::JsonReport> { None }
    /// let mut store = TimingStore::default();
    /// if let Some(report) = get_report() {
    ///     store.record_report(&report);
    /// }
    /// ```
    pub fn record_report(&mut self, report: &crate::schema::JsonReport) -> usize {
        let at_unix_ms = report
            .run
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
        let run = RunStamp {
            id: RunId::from(report.run.run_id.as_str()),
            at_unix_ms,
        };
        let mut recorded = 0;
        for t in &report.tests {
            let Some((status, duration)) = measured(t) else {
                continue;
            };
            self.record(
                t.id.clone(),
                Sample {
                    run: run.clone(),
                    duration,
                    status,
                    workers: report.run.workers,
                    attributes: t.attributes.clone(),
                },
            );
            recorded += 1;
        }
        // Doctest batch start-ups: per package, the median of this run's batches (a batch
        // that also built the library, or started while another did, is an outlier).
        let mut setups: BTreeMap<&BinaryId, (Vec<Duration>, u32)> = BTreeMap::new();
        for d in &report.doc_setups {
            let e = setups.entry(&d.binary).or_default();
            e.0.push(d.setup);
            e.1 = e.1.max(d.doctests);
        }
        for (binary, (mut durations, doctests)) in setups {
            durations.sort();
            let median = durations[durations.len() / 2];
            self.doc_costs.entry(binary.clone()).or_default().insert(
                run.id.clone(),
                DocCostSample {
                    at: run.at_unix_ms,
                    setup_us: median.as_micros().min(u128::from(u64::MAX)) as u64,
                    doctests,
                },
            );
        }
        recorded
    }

    /// How many samples [`TimingStore::record_report`] would take from `report`.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// # fn get_report() -> Option<shardtest::report::json::JsonReport> { None }
    /// if let Some(report) = get_report() {
    ///     let mut store = TimingStore::default();
    ///     let n = TimingStore::measured_in(&report);
    ///     assert_eq!(store.record_report(&report), n);
    /// }
    /// ```
    pub fn measured_in(report: &crate::schema::JsonReport) -> usize {
        report
            .tests
            .iter()
            .filter(|t| measured(t).is_some())
            .count()
    }

    /// Derived statistics of one test, if it has history.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// assert!(TimingStore::default().stats(&"p t".parse().unwrap()).is_none());
    /// ```
    pub fn stats(&self, id: &TestId) -> Option<TestStats> {
        self.tests
            .get(id)
            .filter(|h| h.base.is_some() || !h.runs.is_empty())
            .map(TestHistory::stats)
    }

    /// Like [`TimingStore::stats`], plus the mean of the runs made with `workers` workers
    /// ([`TestStats::mean_at_workers`]) when at least two such runs are kept.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let id: shardtest::id::TestId = "p t".parse().unwrap();
    /// let mut store = TimingStore::default();
    /// for (i, (w, ms)) in [(2, 24_000u64), (1, 100), (1, 100)].iter().enumerate() {
    ///     store.record(id.clone(), Sample { run: RunStamp { id: format!("r{i}").into(), at_unix_ms: i as u64 },
    ///         duration: Duration::from_millis(*ms), status: SampleStatus::Passed, workers: *w,
    ///         attributes: Default::default() });
    /// }
    /// let s = store.stats_for_workers(&id, 1).unwrap();
    /// assert_eq!(s.planning_mean(), Duration::from_millis(100));
    /// assert!(s.mean > Duration::from_secs(1));
    /// ```
    pub fn stats_for_workers(&self, id: &TestId, workers: u32) -> Option<TestStats> {
        self.tests
            .get(id)
            .filter(|h| h.base.is_some() || !h.runs.is_empty())
            .map(|h| h.stats_at(Some(workers)))
    }

    /// Folds `other` into `self` without counting shared history twice (see the module doc).
    /// `a.merge(&b)` and `b.merge(&a)` give equal stores.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let id: shardtest::id::TestId = "p t".parse().unwrap();
    /// let sample = |run: &str| Sample { run: RunStamp { id: run.into(), at_unix_ms: 1 },
    ///     duration: Duration::from_millis(5), status: SampleStatus::Passed, workers: 1,
    ///     attributes: Default::default() };
    /// let mut yesterday = TimingStore::default();
    /// yesterday.record(id.clone(), sample("old"));
    /// let (mut a, mut b) = (yesterday.clone(), yesterday.clone());
    /// a.record(id.clone(), sample("shard-1"));
    /// b.record(id.clone(), sample("shard-2"));
    /// a.merge(&b);
    /// assert_eq!(a.stats(&id).unwrap().samples, 3); // yesterday once + two runs
    /// ```
    pub fn merge(&mut self, other: &TimingStore) {
        for (id, h) in &other.tests {
            self.tests.entry(id.clone()).or_default().merge_from(h);
        }
        for (binary, runs) in &other.doc_costs {
            let mine = self.doc_costs.entry(binary.clone()).or_default();
            for (run, sample) in runs.iter() {
                mine.insert(run.clone(), *sample);
            }
        }
    }

    /// Merges any number of stores (order-independent).
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// let m = TimingStore::merge_all([TimingStore::default(), TimingStore::default()].iter());
    /// assert!(m.tests.is_empty());
    /// ```
    pub fn merge_all<'a>(stores: impl IntoIterator<Item = &'a TimingStore>) -> TimingStore {
        let mut out = TimingStore::default();
        for s in stores {
            out.merge(s);
        }
        out
    }

    /// Serialises the store ([`TIMINGS_VERSION`] format, see the module doc): one run or test
    /// per line (small, and diff-friendly when committed), sorted, so equal stores give
    /// identical bytes.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// let json = TimingStore::default().to_json();
    /// assert!(json.starts_with("{\"version\":2,"));
    /// assert_eq!(TimingStore::from_json(&json).unwrap(), TimingStore::default());
    /// ```
    pub fn to_json(&self) -> String {
        // The run table: every (run id, start) a sample or a base watermark refers to,
        // oldest first, so samples and bases name a run by its index.
        let mut runs: BTreeMap<(u64, &str), &RunId> = BTreeMap::new();
        for h in self.tests.values() {
            if let Some(b) = &h.base {
                runs.insert((b.until_at, b.until_run.as_str()), &b.until_run);
            }
            for (id, r) in h.runs.iter() {
                runs.insert((r.at, id.as_str()), id);
            }
        }
        for costs in self.doc_costs.values() {
            for (id, c) in costs.iter() {
                runs.insert((c.at, id.as_str()), id);
            }
        }
        let table: Vec<(u64, &RunId)> = runs.into_iter().map(|((at, _), id)| (at, id)).collect();
        // Index of a run in the table (it is there: the table was made from these runs).
        let index = |at: u64, id: &RunId| {
            table
                .binary_search_by(|(t_at, t_id)| (*t_at, t_id.as_str()).cmp(&(at, id.as_str())))
                .unwrap_or_default() as u64
        };
        let mut out = String::with_capacity(64 + self.tests.len() * 200);
        out.push_str("{\"version\":");
        let version = if self.doc_costs.values().all(DocCostRuns::is_empty) {
            VERSION_WITHOUT_DOC_COSTS
        } else {
            TIMINGS_VERSION
        };
        push_u64(&mut out, u64::from(version));
        out.push_str(",\"runs\":[");
        for (i, (at, id)) in table.iter().enumerate() {
            out.push_str(if i == 0 { "\n[" } else { ",\n[" });
            push_json_str(&mut out, id.as_str());
            out.push(',');
            push_u64(&mut out, *at);
            out.push(']');
        }
        out.push_str("\n],\"tests\":{");
        // Tests are written in chunks on the thread pool and joined in order, so the bytes
        // do not depend on the number of threads.
        let tests: Vec<(&TestId, &TestHistory)> = self.tests.iter().collect();
        let chunks: Vec<String> = tests
            .par_chunks(2048)
            .map(|chunk| {
                let mut out = String::with_capacity(chunk.len() * 256);
                for (id, h) in chunk {
                    out.push_str(",\n");
                    write_test(&mut out, id, h, &index);
                }
                out
            })
            .collect();
        for (i, chunk) in chunks.iter().enumerate() {
            // The first test has no comma before it.
            out.push_str(if i == 0 {
                chunk.strip_prefix(',').unwrap_or(chunk)
            } else {
                chunk
            });
        }
        out.push('\n');
        out.push('}');
        if version >= 3 {
            out.push_str(",\"doc_costs\":{");
            let costs = self.doc_costs.iter().filter(|(_, c)| !c.is_empty());
            for (k, (binary, costs)) in costs.enumerate() {
                out.push_str(if k == 0 { "\n" } else { ",\n" });
                push_json_str(&mut out, binary.as_str());
                out.push_str(":[");
                for (j, (run, c)) in costs.iter().enumerate() {
                    out.push_str(if j == 0 { "[" } else { ",[" });
                    push_u64(&mut out, index(c.at, run));
                    out.push(',');
                    push_u64(&mut out, c.setup_us);
                    out.push(',');
                    push_u64(&mut out, u64::from(c.doctests));
                    out.push(']');
                }
                out.push(']');
            }
            out.push_str("\n}");
        }
        out.push_str("}\n");
        out
    }

    /// Parses a store from JSON text, checking the version.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// assert!(matches!(TimingStore::from_json(r#"{"version": 99, "tests": {}}"#),
    ///     Err(TimingsError::FutureVersion { found: 99, .. })));
    /// assert!(matches!(TimingStore::from_json(r#"{"version": 1, "te"#),
    ///     Err(TimingsError::Corrupt { .. })));
    /// ```
    pub fn from_json(text: &str) -> Result<TimingStore, TimingsError> {
        Self::parse(text, Path::new("<memory>"))
    }

    fn parse(text: &str, path: &Path) -> Result<TimingStore, TimingsError> {
        let corrupt = |message: String| TimingsError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let version = match leading_version(text) {
            Some(v) => v,
            None => {
                let probe: VersionProbe =
                    serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                probe.version
            }
        };
        match version {
            v if v > TIMINGS_VERSION => Err(TimingsError::FutureVersion {
                path: path.to_path_buf(),
                found: v,
                supported: TIMINGS_VERSION,
            }),
            // Version 1 spelt every sample out (run id and start in each); it is read as
            // is and written back as version 2 by the next recording.
            0 | 1 => {
                let v1: FileV1 = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                Ok(TimingStore {
                    tests: v1.tests,
                    doc_costs: BTreeMap::new(),
                })
            }
            _ => {
                let v2: FileV2 = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                v2.into_store().map_err(corrupt)
            }
        }
    }

    /// Loads a store; a missing file is an empty store.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = TimingStore::load(&dir.path().join("none.json")).unwrap();
    /// assert!(s.tests.is_empty());
    /// ```
    pub fn load(path: &Path) -> Result<TimingStore, TimingsError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| TimingsError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("not UTF-8: {e}"),
                })?;
                Self::parse(&text, path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TimingStore::default()),
            Err(source) => Err(TimingsError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Loads a store, or falls back to an empty one with a warning (the same text in every
    /// shard: it depends only on the path and the problem).
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// std::fs::write(&p, "{\"version\": 1, \"tests\": {").unwrap();
    /// let (store, warning) = TimingStore::load_or_fallback(&p);
    /// assert!(store.tests.is_empty());
    /// assert!(warning.unwrap().contains("t.json"));
    /// ```
    pub fn load_or_fallback(path: &Path) -> (TimingStore, Option<String>) {
        match Self::load(path) {
            Ok(s) => (s, None),
            Err(e) => (
                TimingStore::default(),
                Some(format!(
                    "{e}. Planning from estimates instead (every shard does the same)."
                )),
            ),
        }
    }

    /// Writes the store to `path` atomically under the lock, replacing its content.
    ///
    /// ```
    /// # use shardtest::timings::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// TimingStore::default().save(&p).unwrap();
    /// assert_eq!(TimingStore::load(&p).unwrap(), TimingStore::default());
    /// ```
    pub fn save(&self, path: &Path) -> Result<(), TimingsError> {
        let _lock = FileLock::acquire(path)?;
        write_atomic(path, self.to_json().as_bytes()).map_err(|source| TimingsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Load-merge-save under the lock: re-reads `path`, merges `self` into it and writes the
    /// result atomically, so concurrent writers never lose samples. A corrupt or
    /// future-version file on disk is never replaced: its problem is returned as the error.
    /// Returns the merged store (and no warning: the slot is kept for callers).
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// let mk = |run: &str, test: &str| {
    ///     let mut s = TimingStore::default();
    ///     s.record(test.parse().unwrap(), Sample { run: RunStamp { id: run.into(), at_unix_ms: 0 },
    ///         duration: Duration::from_millis(1), status: SampleStatus::Passed, workers: 1,
    ///         attributes: Default::default() });
    ///     s
    /// };
    /// mk("r1", "p a").save_merged(&p).unwrap();
    /// mk("r2", "p b").save_merged(&p).unwrap();
    /// assert_eq!(TimingStore::load(&p).unwrap().tests.len(), 2);
    /// ```
    pub fn save_merged(&self, path: &Path) -> Result<(TimingStore, Option<String>), TimingsError> {
        let (merged, (), warning) = Self::update_file(path, None, |on_disk| on_disk.merge(self))?;
        Ok((merged, warning))
    }

    /// Read-update-write under the lock, as [`TimingStore::save_merged`] does, with any
    /// update (`merge`, `record_report`, ...). When the file is still as it was when `loaded`
    /// was read from it (same [`FileStamp`]), `update` is applied to `loaded` instead of to a
    /// fresh parse of the file: on a big history that parse is most of the cost of recording.
    /// A corrupt or future-version file is left as it is and its problem returned as the
    /// error. Returns the written store, what `update` returned and a warning slot.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// # use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("t.json");
    /// let stamp = FileStamp::of(&path);
    /// let loaded = TimingStore::load(&path).unwrap();
    /// let (written, tests, _) = TimingStore::update_file(&path, Some((loaded, stamp)), |store| {
    ///     store.record("p t".parse().unwrap(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 0 },
    ///         duration: Duration::from_millis(1), status: SampleStatus::Passed, workers: 1,
    ///         attributes: Default::default() });
    ///     store.tests.len()
    /// }).unwrap();
    /// assert_eq!(tests, 1);
    /// assert_eq!(TimingStore::load(&path).unwrap(), written);
    /// ```
    pub fn update_file<T>(
        path: &Path,
        loaded: Option<(TimingStore, Option<FileStamp>)>,
        update: impl FnOnce(&mut TimingStore) -> T,
    ) -> Result<(TimingStore, T, Option<String>), TimingsError> {
        let _lock = FileLock::acquire(path)?;
        let unchanged = loaded.filter(|(_, stamp)| *stamp == FileStamp::of(path));
        let read = match unchanged {
            Some((store, _)) => Ok(store),
            None => Self::load(path),
        };
        // A file that cannot be read is never replaced: the error goes to the caller.
        let (mut store, warning) = (read?, None);
        let result = update(&mut store);
        write_atomic(path, store.to_json().as_bytes()).map_err(|source| TimingsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok((store, result, warning))
    }

    /// Imports a JUnit XML report (nextest's or cargo2junit's shape) as one run.
    ///
    /// * nextest: `<testsuite name="<binary-id>">` with `<testcase classname="<binary-id>"
    ///   name="<test name>" time="1.23">`.
    /// * cargo2junit: `<testsuite name="cargo test #0">` with `classname` = the module path and
    ///   `name` = the last path segment; it has no binary id, so such cases are mapped through
    ///   `known` (a test name found in exactly one binary).
    ///
    /// When `known` is given, only ids in it are imported; everything else counts as unmapped.
    /// The run id is a hash of the XML text, so importing the same file twice counts once.
    /// `<skipped>` cases and cases without a `time` are left out (counted in `skipped`).
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// let xml = r#"<testsuites><testsuite name="app::api" tests="2">
    ///   <testcase classname="app::api" name="orders::creates" time="1.5"/>
    ///   <testcase classname="app::api" name="orders::flaky" time="0.2"><flakyFailure/></testcase>
    /// </testsuite></testsuites>"#;
    /// let mut store = TimingStore::default();
    /// let r = store.import_junit(xml, None, 0).unwrap();
    /// assert_eq!((r.imported, r.unmapped), (2, 0));
    /// let s = store.stats(&"app::api orders::creates".parse().unwrap()).unwrap();
    /// assert_eq!(s.mean.as_millis(), 1500);
    /// ```
    pub fn import_junit(
        &mut self,
        xml: &str,
        known: Option<&BTreeSet<TestId>>,
        at_unix_ms: u64,
    ) -> Result<ImportSummary, TimingsError> {
        let doc =
            roxmltree::Document::parse(xml).map_err(|e| TimingsError::Junit(e.to_string()))?;
        let run = RunStamp {
            id: format!("junit:{}", hex(&Sha256::digest(xml.as_bytes())[..8])).into(),
            at_unix_ms,
        };
        // Test name -> ids carrying it, for the cargo2junit shape.
        let mut by_name: BTreeMap<&str, Vec<&TestId>> = BTreeMap::new();
        if let Some(k) = known {
            for id in k {
                by_name.entry(id.name.as_str()).or_default().push(id);
            }
        }
        let mut summary = ImportSummary::default();
        for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            let suite = case
                .ancestors()
                .find(|n| n.has_tag_name("testsuite"))
                .and_then(|n| n.attribute("name"))
                .unwrap_or("");
            let name = case.attribute("name").unwrap_or("");
            let classname = case.attribute("classname").unwrap_or("");
            let label = if classname.is_empty() {
                name.to_string()
            } else {
                format!("{classname} {name}")
            };
            let child = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
            if child("skipped") {
                summary.skipped += 1;
                continue;
            }
            let Some(secs) = case
                .attribute("time")
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t >= 0.0)
            else {
                summary.skipped += 1;
                continue;
            };
            let Some(id) = map_junit_name(suite, classname, name, known, &by_name) else {
                summary.unmapped += 1;
                if summary.unmapped_examples.len() < 10 {
                    summary.unmapped_examples.push(label);
                }
                continue;
            };
            let status = if child("failure") || child("error") {
                SampleStatus::Failed
            } else if child("flakyFailure")
                || child("flakyError")
                || child("rerunFailure")
                || child("rerunError")
            {
                SampleStatus::Flaky
            } else {
                SampleStatus::Passed
            };
            self.record(
                id,
                Sample {
                    run: run.clone(),
                    duration: Duration::from_micros((secs * 1e6).round() as u64),
                    status,
                    workers: 0,
                    attributes: TestAttributes::default(),
                },
            );
            summary.imported += 1;
        }
        Ok(summary)
    }

    /// A human summary: coverage of `listed` (when given), the slowest and the flakiest tests.
    ///
    /// ```
    /// # use shardtest::timings::*;
    /// let summary = TimingStore::default().summary(None, 10);
    /// assert_eq!(summary.tests_with_history, 0);
    /// assert!(summary.to_string().contains("0 tests"));
    /// ```
    pub fn summary(&self, listed: Option<&BTreeSet<TestId>>, top: usize) -> TimingSummary {
        let mut all: Vec<(TestId, TestStats)> = self
            .tests
            .keys()
            .filter_map(|id| self.stats(id).map(|s| (id.clone(), s)))
            .collect();
        let total_mean = all
            .iter()
            .map(|(_, s)| s.mean)
            .fold(Duration::ZERO, |a, b| a.saturating_add(b));
        let coverage = listed.map(|l| {
            let covered = l.iter().filter(|id| self.stats(id).is_some()).count();
            (covered, l.len())
        });
        let tests_with_history = all.len();
        all.sort_by(|a, b| b.1.mean.cmp(&a.1.mean).then_with(|| a.0.cmp(&b.0)));
        let slowest = all
            .iter()
            .take(top)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        let mut flaky: Vec<&(TestId, TestStats)> = all
            .iter()
            .filter(|(_, s)| s.failure_rate_ppm() > 0)
            .collect();
        flaky.sort_by(|a, b| {
            b.1.failure_rate_ppm()
                .cmp(&a.1.failure_rate_ppm())
                .then_with(|| a.0.cmp(&b.0))
        });
        let flakiest = flaky
            .into_iter()
            .take(top)
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        TimingSummary {
            tests_with_history,
            coverage,
            total_mean,
            slowest,
            flakiest,
        }
    }
}

/// Maps a JUnit testcase to a [`TestId`] (see [`TimingStore::import_junit`]).
fn map_junit_name(
    suite: &str,
    classname: &str,
    name: &str,
    known: Option<&BTreeSet<TestId>>,
    by_name: &BTreeMap<&str, Vec<&TestId>>,
) -> Option<TestId> {
    if name.is_empty() {
        return None;
    }
    let cargo2junit = suite.starts_with("cargo test");
    let binary = if classname.is_empty() {
        suite
    } else {
        classname
    };
    let direct = (!cargo2junit && !binary.is_empty() && !binary.contains(' '))
        .then(|| TestId::new(BinaryId::new(binary), TestName::new(name)));
    let Some(known) = known else {
        return direct;
    };
    if let Some(id) = direct.filter(|id| known.contains(id)) {
        return Some(id);
    }
    let full = if classname.is_empty() {
        name.to_string()
    } else {
        format!("{classname}::{name}")
    };
    for candidate in [full.as_str(), name] {
        if let Some([only]) = by_name.get(candidate).map(Vec::as_slice) {
            return Some((*only).clone());
        }
    }
    None
}

/// Result of [`TimingStore::import_junit`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Test cases recorded.
    pub imported: usize,
    /// Test cases that could not be mapped to a test id.
    pub unmapped: usize,
    /// Up to ten of them (`classname name`), for the message.
    pub unmapped_examples: Vec<String>,
    /// Skipped cases and cases without a usable `time`.
    pub skipped: usize,
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} test durations, {} could not be mapped to a test id, {} skipped",
            self.imported, self.unmapped, self.skipped
        )?;
        if !self.unmapped_examples.is_empty() {
            write!(f, " (e.g. {})", self.unmapped_examples.join(", "))?;
        }
        Ok(())
    }
}

/// What `timings show` prints (see [`TimingStore::summary`]); `Display` renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingSummary {
    /// Tests with at least one sample.
    pub tests_with_history: usize,
    /// `(listed tests with history, listed tests)`, when a listing was given.
    pub coverage: Option<(usize, usize)>,
    /// Sum of the mean durations.
    pub total_mean: Duration,
    /// Slowest tests by mean, slowest first.
    pub slowest: Vec<(TestId, TestStats)>,
    /// Tests that failed or were flaky, highest rate first.
    pub flakiest: Vec<(TestId, TestStats)>,
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

impl fmt::Display for TimingSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} tests with history, {} of recorded mean work",
            self.tests_with_history,
            secs(self.total_mean)
        )?;
        if let Some((covered, listed)) = self.coverage {
            let pct = (covered * 100).checked_div(listed).unwrap_or(100);
            writeln!(
                f,
                "coverage: {covered} of {listed} listed tests have timings ({pct}%); the rest are estimated"
            )?;
        }
        if !self.slowest.is_empty() {
            writeln!(f, "slowest:")?;
            for (id, s) in &self.slowest {
                writeln!(
                    f,
                    "  {:>10}  (last {}, {} samples, -j{})  {id}",
                    secs(s.mean),
                    secs(s.last),
                    s.samples,
                    s.last_workers
                )?;
            }
        }
        if !self.flakiest.is_empty() {
            writeln!(f, "flakiest:")?;
            for (id, s) in &self.flakiest {
                writeln!(
                    f,
                    "  {:>5.1}%  ({} flaky, {} failed of {})  {id}",
                    s.failure_rate_ppm() as f64 / 10_000.0,
                    s.flaky,
                    s.failed,
                    s.samples
                )?;
            }
        }
        Ok(())
    }
}

/// An exclusive OS lock on `<path>.lock`, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock on `<path>.lock` is held (creating the directory and lock file).
    ///
    /// ```
    /// # use shardtest::timings::FileLock;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// let lock = FileLock::acquire(&p).unwrap();
    /// drop(lock);
    /// ```
    pub fn acquire(path: &Path) -> Result<FileLock, TimingsError> {
        let mut name = path.as_os_str().to_os_string();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let io = |source| TimingsError::Io {
            path: lock_path.clone(),
            source,
        };
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(FileLock { file })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(run: &str, at: u64, ms: u64) -> Sample {
        Sample {
            run: RunStamp {
                id: run.into(),
                at_unix_ms: at,
            },
            duration: Duration::from_millis(ms),
            status: SampleStatus::Passed,
            workers: 2,
            attributes: TestAttributes::default(),
        }
    }

    fn id(s: &str) -> TestId {
        s.parse().unwrap()
    }

    #[test]
    fn recording_onto_a_loaded_store_notices_a_write_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let mut first = TimingStore::default();
        first.record(id("p a"), sample("r1", 1, 10));
        first.save(&path).unwrap();
        let stamp = FileStamp::of(&path);
        let loaded = TimingStore::load(&path).unwrap();
        // Another job writes the file after we read it (a different length, so a different stamp).
        let mut other = TimingStore::default();
        other.record(id("p other-job-test"), sample("r2", 2, 20));
        other.save_merged(&path).unwrap();
        let mut mine = TimingStore::default();
        mine.record(id("p b"), sample("r3", 3, 30));
        let (merged, (), _) =
            TimingStore::update_file(&path, Some((loaded, stamp)), |s| s.merge(&mine)).unwrap();
        for t in ["p a", "p other-job-test", "p b"] {
            assert!(merged.stats(&id(t)).is_some(), "{t} lost");
        }
        assert_eq!(TimingStore::load(&path).unwrap(), merged);
    }

    #[test]
    fn eight_copies_of_yesterday_count_history_once_even_after_compaction() {
        let t = id("p t");
        let mut yesterday = TimingStore::default();
        for i in 0..(KEEP_RUNS as u64 + 5) {
            yesterday.record(t.clone(), sample(&format!("old{i:02}"), i, 100));
        }
        assert!(yesterday.tests[&t].base.is_some());
        let copies: Vec<TimingStore> = (0..8)
            .map(|k| {
                let mut c = yesterday.clone();
                c.record(t.clone(), sample(&format!("new{k}"), 1000 + k, 200));
                c
            })
            .collect();
        let merged = TimingStore::merge_all(copies.iter());
        let mut rev = copies.clone();
        rev.reverse();
        assert_eq!(merged, TimingStore::merge_all(rev.iter()));
        assert_eq!(
            merged.stats(&t).unwrap().samples,
            KEEP_RUNS as u64 + 5 + 8,
            "yesterday once plus each run once"
        );
    }

    #[test]
    fn outlier_does_not_rewrite_history() {
        let t = id("p t");
        let mut s = TimingStore::default();
        for i in 0..5 {
            s.record(t.clone(), sample(&format!("r{i}"), i, 1000));
        }
        s.record(t.clone(), sample("outlier", 10, 100_000));
        let st = s.stats(&t).unwrap();
        assert!(st.mean <= Duration::from_millis(1600), "{:?}", st.mean);
        assert_eq!(st.last, Duration::from_secs(100));
    }

    #[test]
    fn truncated_and_future_files_are_typed_errors_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("timings.json");
        let mut s = TimingStore::default();
        s.record(id("p t"), sample("r", 0, 5));
        s.save(&p).unwrap();
        let full = std::fs::read(&p).unwrap();
        for cut in [1, full.len() / 2, full.len() - 3] {
            std::fs::write(&p, &full[..cut]).unwrap();
            let err = TimingStore::load(&p).unwrap_err();
            assert!(matches!(err, TimingsError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("delete it"));
        }
        std::fs::write(&p, r#"{"version": 7, "tests": {}, "new": true}"#).unwrap();
        let (store, warning) = TimingStore::load_or_fallback(&p);
        assert!(store.tests.is_empty());
        let w = warning.unwrap();
        assert!(w.contains("version 7") && w.contains("timings.json"), "{w}");
        assert_eq!(Some(w), TimingStore::load_or_fallback(&p).1);
    }

    #[test]
    fn doctest_costs_round_trip_merge_once_and_mark_the_file_version_3() {
        let binary = BinaryId::new("p::doc");
        let sample = |at, us| DocCostSample {
            at,
            setup_us: us,
            doctests: 12,
        };
        let mut a = TimingStore::default();
        a.doc_costs
            .entry(binary.clone())
            .or_default()
            .insert("r1".into(), sample(1, 700_000));
        let json = a.to_json();
        assert!(json.starts_with("{\"version\":3,"), "{json}");
        assert!(
            json.contains("\"doc_costs\":{\n\"p::doc\":[[0,700000,12]]"),
            "{json}"
        );
        assert_eq!(TimingStore::from_json(&json).unwrap(), a);
        // Without costs the file stays version 2 (older builds read it), and a version 2
        // file loads with no costs.
        let plain = TimingStore::default().to_json();
        assert!(plain.starts_with("{\"version\":2,"), "{plain}");
        assert!(TimingStore::from_json(&plain).unwrap().doc_costs.is_empty());
        // A build that reads only version 2 refuses the file instead of dropping the costs.
        let v3 = leading_version(&json).unwrap();
        assert!(v3 > VERSION_WITHOUT_DOC_COSTS);
        // Merging is a union by run: the shared run counts once, in either order.
        let mut b = a.clone();
        b.doc_costs
            .get_mut(&binary)
            .unwrap()
            .insert("r2".into(), sample(2, 900_000));
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.doc_costs[&binary].len(), 2);
        let again = ab.clone();
        ab.merge(&again);
        assert_eq!(ab, again);
    }

    #[test]
    fn a_version_1_file_reads_the_same_and_is_written_back_as_version_2() {
        let v1 = r#"{"version":1,"tests":{
"p a":{"base":{"until_at":5,"until_run":"r0","id":"ab","samples":3,"mean_us":900,"last_us":800,"last_workers":2,"passed":2,"flaky":1,"failed":0},"runs":{"r1":{"at":10,"us":1000,"status":"passed","workers":2},"r2":{"at":20,"us":1200,"status":"failed","workers":4,"attributes":{"serial":"db"}}}},
"p b":{"runs":{"r2":{"at":20,"us":7,"status":"flaky","workers":4}}}
}}
"#;
        let store = TimingStore::from_json(v1).unwrap();
        let a = store.stats(&id("p a")).unwrap();
        assert_eq!((a.samples, a.passed, a.flaky, a.failed), (5, 3, 1, 1));
        assert_eq!(a.last, Duration::from_micros(1200));
        assert_eq!(a.attributes.serial.as_deref(), Some("db"));
        let v2 = store.to_json();
        assert!(
            v2.starts_with("{\"version\":2,\"runs\":[\n[\"r0\",5],\n[\"r1\",10],\n[\"r2\",20]\n]"),
            "{v2}"
        );
        assert!(v2.len() < v1.len(), "{} >= {}", v2.len(), v1.len());
        assert_eq!(TimingStore::from_json(&v2).unwrap(), store);
        // Samples are kept in run order, so the same store always gives the same bytes.
        assert_eq!(TimingStore::from_json(&v2).unwrap().to_json(), v2);
    }

    #[test]
    fn names_and_run_ids_needing_escapes_round_trip() {
        let mut s = TimingStore::default();
        let odd = id("p case::\"quoted\"\\back\tslash");
        s.record(odd.clone(), sample("run \"7\"", 3, 5));
        // A base and samples carrying attributes (a serial test) round-trip too.
        for i in 0..(KEEP_RUNS as u64 + 2) {
            let mut x = sample(&format!("r{i}"), 10 + i, 7);
            x.attributes.serial = Some("db".into());
            x.status = SampleStatus::Flaky;
            s.record(id("p serial"), x);
        }
        let json = s.to_json();
        let back = TimingStore::from_json(&json).unwrap();
        assert_eq!(back, s, "{json}");
        assert!(back.stats(&odd).is_some());
        let serial = back.stats(&id("p serial")).unwrap();
        assert_eq!(serial.attributes.serial.as_deref(), Some("db"));
        assert!(
            back.tests[&id("p serial")]
                .base
                .as_ref()
                .unwrap()
                .attributes
                .serial
                .is_some()
        );
    }

    #[test]
    fn a_sample_naming_a_missing_run_is_corrupt() {
        let text = r#"{"version":2,"runs":[["r",1]],"tests":{"p a":{"runs":[[3,10,1]]}}}"#;
        let err = TimingStore::from_json(text).unwrap_err();
        assert!(matches!(err, TimingsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("run #3"), "{err}");
    }

    #[test]
    fn concurrent_save_merged_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::thread::scope(|scope| {
            for k in 0..4 {
                let p = &p;
                scope.spawn(move || {
                    for i in 0..5 {
                        let mut s = TimingStore::default();
                        s.record(id(&format!("p t{k}_{i}")), sample(&format!("r{k}"), 0, 1));
                        s.save_merged(p).unwrap();
                    }
                });
            }
        });
        assert_eq!(TimingStore::load(&p).unwrap().tests.len(), 20);
    }

    #[test]
    fn cargo2junit_shape_maps_through_known_tests() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite id="0" name="cargo test #0" tests="3">
    <testcase name="adds" classname="math::tests" time="0.5" />
    <testcase name="top_level" classname="" time="0.25" />
    <testcase name="shared" classname="tests" time="1"><failure message="x"/></testcase>
    <testcase name="ghost" classname="tests" time="1" />
  </testsuite>
</testsuites>"#;
        let known: BTreeSet<TestId> = [
            "calc math::tests::adds",
            "calc top_level",
            "calc tests::shared",
            "calc::it tests::shared",
        ]
        .iter()
        .map(|s| id(s))
        .collect();
        let mut store = TimingStore::default();
        let r = store.import_junit(xml, Some(&known), 0).unwrap();
        assert_eq!(r.imported, 2, "{r}");
        assert_eq!(r.unmapped, 2, "ambiguous and unknown: {r}");
        assert!(store.stats(&id("calc math::tests::adds")).is_some());
        assert!(store.stats(&id("calc top_level")).is_some());
        // Without a listing, cargo2junit cases cannot be placed in a binary.
        let mut s2 = TimingStore::default();
        assert_eq!(s2.import_junit(xml, None, 0).unwrap().unmapped, 4);
        // Importing twice counts once.
        store.import_junit(xml, Some(&known), 0).unwrap();
        assert_eq!(store.stats(&id("calc top_level")).unwrap().samples, 1);
        assert!(store.import_junit("<testsuites>", None, 0).is_err());
    }

    #[test]
    fn a_report_records_one_run() {
        use crate::event::{AttemptOutcome, AttemptRecord, RunInfo, TestStatus};
        use crate::schema::{JsonReport, REPORT_VERSION, StatusCounts, TestRecord};
        use crate::shard::ShardSpec;
        use std::time::SystemTime;
        let attempt = |ms: u64, outcome: AttemptOutcome| AttemptRecord {
            attempt: 1,
            outcome,
            duration: Duration::from_millis(ms),
            started_at: SystemTime::UNIX_EPOCH,
            worker: 0,
            leaked: false,
            log: None,
            output_tail: String::new(),
        };
        let rec = |t: &str, status, attempts| TestRecord {
            id: id(t),
            status,
            attributes: TestAttributes::default(),
            attempts,
        };
        let report = JsonReport {
            version: REPORT_VERSION,
            run: RunInfo {
                run_id: "run-7".into(),
                shard: ShardSpec::new(1, 2).unwrap(),
                fingerprint: "f".into(),
                workers: 3,
                to_run: 3,
                predicted: Duration::ZERO,
                started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(5),
                repeat: 1,
            },
            planned_tests: vec![],
            tests: vec![
                rec(
                    "p ok",
                    TestStatus::Passed,
                    vec![attempt(40, AttemptOutcome::Passed)],
                ),
                rec(
                    "p flaky",
                    TestStatus::Flaky,
                    vec![
                        attempt(900, AttemptOutcome::Failed { code: 101 }),
                        attempt(50, AttemptOutcome::Passed),
                    ],
                ),
                rec("p ignored", TestStatus::Skipped, vec![]),
                rec(
                    "p cut",
                    TestStatus::NotRun,
                    vec![attempt(5, AttemptOutcome::Interrupted)],
                ),
            ],
            counts: StatusCounts::default(),
            elapsed: Duration::ZERO,
            complete: true,
            shuffle_seed: None,
            rerun_of: None,
            doc_setups: Vec::new(),
        };
        let mut s = TimingStore::default();
        assert_eq!(s.record_report(&report), 2);
        let f = s.stats(&id("p flaky")).unwrap();
        assert_eq!(
            (f.mean, f.flaky, f.last_workers),
            (Duration::from_millis(50), 1, 3)
        );
        assert_eq!(s.tests[&id("p ok")].runs.get("run-7").unwrap().at, 5000);
        assert!(s.stats(&id("p ignored")).is_none());
        // Recording the same report again changes nothing.
        let before = s.clone();
        s.record_report(&report);
        assert_eq!(s, before);
    }

    #[test]
    fn summary_lists_slowest_and_flakiest() {
        let mut s = TimingStore::default();
        s.record(id("p slow"), sample("r", 0, 9000));
        let mut f = sample("r", 0, 10);
        f.status = SampleStatus::Flaky;
        s.record(id("p flaky"), f);
        let listed: BTreeSet<TestId> = [id("p slow"), id("p flaky"), id("p new")].into();
        let text = s.summary(Some(&listed), 5).to_string();
        assert!(text.contains("2 of 3 listed"), "{text}");
        assert!(text.contains("9.000s") && text.contains("p slow"), "{text}");
        assert!(
            text.contains("flakiest") && text.contains("p flaky"),
            "{text}"
        );
    }
}
