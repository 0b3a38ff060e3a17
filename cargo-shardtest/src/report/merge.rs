//! `report merge`: one report for the whole CI matrix from the shards' JSON reports.
//!
//! The merged JSON is a [`JsonReport`] (shard `1/1`, the union of the shards' tests, counts
//! recomputed, `complete` only when every shard completed) plus a `merged_from` list that
//! keeps each shard's own run id, timing and counts. Anything that reads a shard report
//! (`verify`, `timings`, `timeline`) reads a merged one.

use crate::event::RunInfo;
use crate::id::RunId;
use crate::report::json::{JsonReport, REPORT_VERSION, StatusCounts, TestRecord, count};
use crate::shard::ShardSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// One shard of a merged report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSummary {
    /// The shard.
    pub shard: ShardSpec,
    /// Its run id.
    pub run_id: RunId,
    /// Workers it ran with.
    pub workers: u32,
    /// When it started.
    pub started_at: SystemTime,
    /// Its predicted wall time.
    #[serde(with = "crate::serde_duration")]
    pub predicted: Duration,
    /// Its actual wall time.
    #[serde(with = "crate::serde_duration")]
    pub elapsed: Duration,
    /// False when it was interrupted.
    pub complete: bool,
    /// Its counts.
    pub counts: StatusCounts,
}

/// A merged report: a [`JsonReport`] of the whole matrix plus the shards it came from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MergedReport {
    /// The union, readable as a plain report.
    #[serde(flatten)]
    pub report: JsonReport,
    /// The shards, sorted by shard index.
    pub merged_from: Vec<ShardSummary>,
}

/// Reading a report failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("could not read the report {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not a shardtest JSON report.
    #[error("{} is not a shardtest JSON report (from `run --json`): {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Parse error.
        source: serde_json::Error,
    },
    /// Written by a newer shardtest.
    #[error(
        "{} has report schema version {found}; this shardtest reads up to version {REPORT_VERSION}",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
}

/// Reads a shard (or merged) JSON report.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// let p = d.path().join("r.json");
/// std::fs::write(&p, "{}").unwrap();
/// assert!(shardtest::report::merge::load(&p).is_err());
/// ```
pub fn load(path: &Path) -> Result<JsonReport, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let report: JsonReport = serde_json::from_slice(&bytes).map_err(|source| LoadError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    if report.version > REPORT_VERSION {
        return Err(LoadError::Version {
            path: path.to_path_buf(),
            found: report.version,
        });
    }
    Ok(report)
}

/// Merges shard reports (which should share one fingerprint: check with
/// [`crate::verify::verify_reports`]). Returns `None` for no reports.
///
/// ```
/// assert!(shardtest::report::merge::merge(&[]).is_none());
/// ```
pub fn merge(reports: &[JsonReport]) -> Option<MergedReport> {
    // `--rerun-failed` reports come last, in the order they ran: their attempts extend the
    // originals' records of the same tests.
    let mut ordered: Vec<&JsonReport> = reports.iter().collect();
    ordered.sort_by_key(|r| {
        (
            r.rerun_of.is_some(),
            r.rerun_of.is_some().then_some(r.run.started_at),
        )
    });
    let first = *ordered
        .iter()
        .find(|r| r.rerun_of.is_none())
        .or(ordered.first())?;
    let mut tests: BTreeMap<_, TestRecord> = BTreeMap::new();
    let mut shards = Vec::new();
    let mut start = first.run.started_at;
    let mut end = first.run.started_at + first.elapsed;
    let mut predicted = Duration::ZERO;
    let mut workers = 0;
    let mut to_run = 0;
    for r in ordered {
        for t in &r.tests {
            match tests.get_mut(&t.id) {
                Some(before) if r.rerun_of.is_some() && r.rerun_of != first.rerun_of => {
                    apply_rerun(before, t)
                }
                // A test recorded twice keeps its first record; `verify` names the doubles.
                Some(_) => {}
                None => {
                    tests.insert(t.id.clone(), t.clone());
                }
            }
        }
        start = start.min(r.run.started_at);
        end = end.max(r.run.started_at + r.elapsed);
        predicted = predicted.max(r.run.predicted);
        workers = workers.max(r.run.workers);
        to_run += r.run.to_run;
        shards.push(ShardSummary {
            shard: r.run.shard,
            run_id: r.run.run_id.clone(),
            workers: r.run.workers,
            started_at: r.run.started_at,
            predicted: r.run.predicted,
            elapsed: r.elapsed,
            complete: r.complete,
            counts: r.counts.clone(),
        });
    }
    shards.sort_by(|a, b| (a.shard.index, &a.run_id).cmp(&(b.shard.index, &b.run_id)));
    let mut counts = StatusCounts::default();
    for t in tests.values() {
        count(&mut counts, t.status, &t.attributes, &t.attempts);
    }
    let ids: Vec<&str> = shards.iter().map(|s| s.run_id.as_str()).collect();
    Some(MergedReport {
        report: JsonReport {
            version: REPORT_VERSION,
            run: RunInfo {
                run_id: format!("merged:{}", ids.join(",")).into(),
                shard: ShardSpec::WHOLE,
                fingerprint: first.run.fingerprint.clone(),
                workers,
                to_run,
                predicted,
                started_at: start,
                repeat: first.run.repeat,
            },
            planned_tests: first.planned_tests.clone(),
            tests: tests.into_values().collect(),
            counts,
            elapsed: end.duration_since(start).unwrap_or_default(),
            complete: reports.iter().all(|r| r.complete),
            shuffle_seed: first.shuffle_seed,
            rerun_of: first.rerun_of.clone(),
            doc_setups: reports
                .iter()
                .flat_map(|r| r.doc_setups.iter().cloned())
                .collect(),
        },
        merged_from: shards,
    })
}

/// Folds a rerun's record of a test into its earlier record: the attempts continue the
/// numbering, and a failure that now passes is flaky.
fn apply_rerun(before: &mut TestRecord, rerun: &TestRecord) {
    use crate::event::TestStatus;
    if rerun.status == TestStatus::NotRun {
        return;
    }
    let offset = before.attempts.iter().map(|a| a.attempt).max().unwrap_or(0);
    before
        .attempts
        .extend(rerun.attempts.iter().cloned().map(|mut a| {
            a.attempt += offset;
            a
        }));
    before.status = match (before.status, rerun.status) {
        (TestStatus::Failed, TestStatus::Passed | TestStatus::Flaky) => TestStatus::Flaky,
        (_, s) => s,
    };
}
