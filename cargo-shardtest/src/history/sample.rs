//! What the history is made of: a run's stamp, one measured [`Sample`], the per-run
//! [`RunSample`] a test keeps, the [`BaseSummary`] its oldest runs fold into, a test's whole
//! [`TestHistory`], and the [`RunRecord`] of everything one run measured.

use crate::attrs::TestAttributes;
use crate::id::{BinaryId, RunId, TestId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use super::doc_costs::DocCostSample;

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
    /// # use shardtest::history::SampleStatus;
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

/// One measurement to [`TimingStore::record`](super::TimingStore::record).
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
    /// # use shardtest::history::*;
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
/// # use shardtest::history::attributes_of;
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
    pub(super) fn covers(&self, at: u64, run_id: &str) -> bool {
        (at, run_id) <= (self.until_at, self.until_run.as_str())
    }
}

/// Stored history of one test: a base plus explicit runs (see [the design](super)).
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
/// # use shardtest::history::*;
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
pub struct RunSamples(pub(super) Vec<(RunId, RunSample)>);

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

/// Everything one run measured, as [`TimingStore::record_run`](super::TimingStore::record_run)
/// takes it: a sample per measured test and, per package whose doctests ran, what starting a
/// batch of them cost. [`run_record`](super::run_record) takes one from a run's JSON report.
///
/// ```
/// # use shardtest::history::*;
/// # use std::time::Duration;
/// let run = RunStamp { id: "run-1".into(), at_unix_ms: 0 };
/// let sample = Sample { run: run.clone(), duration: Duration::from_millis(5),
///     status: SampleStatus::Passed, workers: 1, attributes: Default::default() };
/// let tests = vec![("p t".parse().unwrap(), sample)];
/// let record = RunRecord { run, tests, doc_costs: vec![] };
/// let mut store = TimingStore::default();
/// assert_eq!(store.record_run(record), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRecord {
    /// The run: its id keys the doctest costs (each test sample carries its own stamp,
    /// normally this one).
    pub run: RunStamp,
    /// One sample per measured test.
    pub tests: Vec<(TestId, Sample)>,
    /// Per doctest binary (`<package>::doc`), the run's batch start-up.
    pub doc_costs: Vec<(BinaryId, DocCostSample)>,
}
