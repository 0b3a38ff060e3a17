//! The merged report of a queue run: every seeded test with its stored result (or `not_run`
//! when the run is incomplete), as a [`JsonReport`] that `verify` and `report merge` read.

use super::types::StoredResult;
use crate::event::{RunInfo, TestStatus};
use crate::id::TestId;
use crate::schema::{JsonReport, REPORT_VERSION, StatusCounts, TestRecord, count};
use crate::shard::ShardSpec;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// The report of queue run `run`, seeded with `seeded` (list fingerprint `fingerprint`):
/// each seeded test once, with its stored result or as not run; and the tests missing.
///
/// ```
/// use shardtest::queue::build_report;
/// let seeded: Vec<shardtest::id::TestId> = vec!["p a".parse().unwrap()];
/// let (report, missing) = build_report("run-1", "abcd", &seeded, &[]);
/// assert_eq!(missing, seeded);
/// assert!(!report.complete);
/// ```
pub fn build_report(
    run: &str,
    fingerprint: &str,
    seeded: &[TestId],
    results: &[StoredResult],
) -> (JsonReport, Vec<TestId>) {
    let by_id: BTreeMap<&TestId, &StoredResult> =
        results.iter().map(|r| (&r.record.id, r)).collect();
    let mut tests = Vec::with_capacity(seeded.len());
    let mut missing = Vec::new();
    let mut start: Option<SystemTime> = None;
    let mut end: Option<SystemTime> = None;
    for id in seeded {
        match by_id.get(id) {
            Some(r) => {
                for a in &r.record.attempts {
                    start = Some(start.map_or(a.started_at, |s| s.min(a.started_at)));
                    let e = a.started_at + a.duration;
                    end = Some(end.map_or(e, |x| x.max(e)));
                }
                tests.push(r.record.clone());
            }
            None => {
                missing.push(id.clone());
                tests.push(TestRecord {
                    id: id.clone(),
                    status: TestStatus::NotRun,
                    attributes: Default::default(),
                    attempts: Vec::new(),
                });
            }
        }
    }
    let mut counts = StatusCounts::default();
    for t in &tests {
        count(&mut counts, t.status, &t.attributes, &t.attempts);
    }
    let started_at = start.unwrap_or_else(SystemTime::now);
    let elapsed = match (start, end) {
        (Some(s), Some(e)) => e.duration_since(s).unwrap_or_default(),
        _ => Duration::ZERO,
    };
    let report = JsonReport {
        version: REPORT_VERSION,
        run: RunInfo {
            run_id: format!("queue:{run}").into(),
            shard: ShardSpec::WHOLE,
            fingerprint: fingerprint.to_string().into(),
            workers: 0,
            to_run: seeded.len(),
            predicted: Duration::ZERO,
            started_at,
            repeat: 1,
        },
        planned_tests: seeded.to_vec(),
        tests,
        counts,
        elapsed,
        complete: missing.is_empty(),
        shuffle_seed: None,
        rerun_of: None,
        doc_setups: Vec::new(),
    };
    (report, missing)
}
