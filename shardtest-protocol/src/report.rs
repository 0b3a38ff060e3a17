//! The JSON report of one shard run (schema version [`REPORT_VERSION`]): what ran, how each
//! attempt ended, the plan fingerprint and the full planned test list, so that `verify`,
//! `report merge` and the history can work from reports alone.

use crate::attrs::TestAttributes;
use crate::id::{Fingerprint, TestId};
use crate::outcome::{AttemptOutcome, AttemptRecord, RunInfo, TestStatus};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Version of the report schema written by this build.
pub const REPORT_VERSION: u32 = 1;

/// One test's entry in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRecord {
    /// The test.
    pub id: TestId,
    /// Final status.
    pub status: TestStatus,
    /// Attributes it carried.
    #[serde(default, skip_serializing_if = "TestAttributes::is_plain")]
    pub attributes: TestAttributes,
    /// Every attempt (empty when skipped / not run).
    #[serde(default)]
    pub attempts: Vec<AttemptRecord>,
}

/// Counts by final status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// Passed on the first attempt.
    pub passed: usize,
    /// Passed after a retry.
    pub flaky: usize,
    /// Failed (critical).
    pub failed: usize,
    /// Failed, but marked non-critical.
    pub failed_non_critical: usize,
    /// Ignored tests.
    pub skipped: usize,
    /// Not run because the run was interrupted.
    pub not_run: usize,
    /// Of the failures, how many timed out.
    pub timed_out: usize,
    /// Of the failures, how many crashed on a signal.
    pub crashed: usize,
    /// Tests that left processes behind.
    pub leaky: usize,
}

/// A shard's JSON report.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JsonReport {
    /// Schema version.
    pub version: u32,
    /// Setup of the run (run id, shard, fingerprint, workers, ...).
    pub run: RunInfo,
    /// Every test the plan contains, in all shards (so `verify` can name what is missing
    /// even when a whole shard's report is lost).
    pub planned_tests: Vec<TestId>,
    /// Tests of this shard, sorted by id.
    pub tests: Vec<TestRecord>,
    /// Counts by status.
    pub counts: StatusCounts,
    /// Wall time of the run.
    #[serde(with = "crate::duration")]
    pub elapsed: Duration,
    /// False when the run was interrupted: `tests` holds what finished.
    pub complete: bool,
    /// Seed of `--shuffle`, when used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shuffle_seed: Option<u64>,
    /// For a `--rerun-failed` run: the fingerprints of the plans whose failures it retried.
    /// `verify` and `report merge` then count its tests as further attempts of those runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<Vec<Fingerprint>>,
    /// What starting each doctest batch cost (see [`DocSetup`]): recorded into the timings
    /// history, from which the plan learns each package's doctest start-up.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doc_setups: Vec<DocSetup>,
}

/// One doctest batch's start-up: from starting `cargo test --doc` until its first doctest
/// began (cargo's freshness check, rustdoc collecting the doctests and, from edition 2024,
/// building the merged doctest binary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocSetup {
    /// The package's doctest binary (`<package>::doc`).
    pub binary: crate::id::BinaryId,
    /// The start-up.
    #[serde(with = "crate::duration")]
    pub setup: Duration,
    /// How many doctests the package has (all of them, not only the batch's: rustdoc
    /// collects, and in edition 2024 builds, all of them for every batch).
    pub doctests: u32,
}

/// Counts final statuses into `counts`.
pub fn count(
    counts: &mut StatusCounts,
    status: TestStatus,
    attributes: &TestAttributes,
    attempts: &[AttemptRecord],
) {
    match status {
        TestStatus::Passed => counts.passed += 1,
        TestStatus::Flaky => counts.flaky += 1,
        TestStatus::Failed if attributes.non_critical => counts.failed_non_critical += 1,
        TestStatus::Failed => counts.failed += 1,
        TestStatus::Skipped => counts.skipped += 1,
        TestStatus::NotRun => counts.not_run += 1,
    }
    if let Some(last) = attempts.last()
        && status == TestStatus::Failed
    {
        match last.outcome {
            AttemptOutcome::TimedOut { .. } => counts.timed_out += 1,
            AttemptOutcome::Crashed { .. } => counts.crashed += 1,
            _ => {}
        }
    }
    if attempts.iter().any(|a| a.leaked) {
        counts.leaky += 1;
    }
}
