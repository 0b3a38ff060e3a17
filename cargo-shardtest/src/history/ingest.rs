//! Turning a run's JSON report ([`JsonReport`]) into what the history records (a
//! [`RunRecord`]): one sample per measured test and, per package whose doctests ran, the
//! run's doctest batch start-up. The store never reads reports; callers take the record here
//! and hand it to [`TimingStore::record_run`](super::TimingStore::record_run).
//!
//! A passed or flaky test is measured by its last (passing) attempt, a failed one by its last
//! attempt; skipped, not-run and interrupted tests contribute nothing. Every sample carries
//! the report's run (id and start) and worker count and the test's attributes.

use crate::event::{AttemptOutcome, TestStatus};
use crate::id::{BinaryId, RunId};
use crate::schema::{JsonReport, TestRecord};
use std::collections::BTreeMap;
use std::time::Duration;

use super::doc_costs::DocCostSample;
use super::sample::{RunRecord, RunStamp, Sample, SampleStatus};

/// What `report` contributes to the history: its run, a sample per measured test (in report
/// order) and per doctest binary the median start-up of the run's batches (a batch that also
/// built the library, or started while another did, is an outlier).
///
/// ```
/// use shardtest::history::{TimingStore, measured_in, run_record};
/// # fn get_report() -> Option<shardtest::report::json::JsonReport> { None }
/// let mut store = TimingStore::default();
/// if let Some(report) = get_report() {
///     let recorded = store.record_run(run_record(&report));
///     assert_eq!(recorded, measured_in(&report));
/// }
/// ```
pub fn run_record(report: &JsonReport) -> RunRecord {
    let run = run_stamp(report);
    let tests = report
        .tests
        .iter()
        .filter_map(|t| {
            let (status, duration) = measured(t)?;
            let sample = Sample {
                run: run.clone(),
                duration,
                status,
                workers: report.run.workers,
                attributes: t.attributes.clone(),
            };
            Some((t.id.clone(), sample))
        })
        .collect();
    let doc_costs = doc_costs(report, run.at_unix_ms);
    RunRecord {
        run,
        tests,
        doc_costs,
    }
}

/// How many test samples [`run_record`] takes from `report` (without building them).
///
/// ```
/// use shardtest::history::{measured_in, run_record};
/// # fn get_report() -> Option<shardtest::report::json::JsonReport> { None }
/// if let Some(report) = get_report() {
///     assert_eq!(measured_in(&report), run_record(&report).tests.len());
/// }
/// ```
pub fn measured_in(report: &JsonReport) -> usize {
    report
        .tests
        .iter()
        .filter(|t| measured(t).is_some())
        .count()
}

/// The report's run: its id and its start in milliseconds since the epoch (0 before it).
fn run_stamp(report: &JsonReport) -> RunStamp {
    let at_unix_ms = report
        .run
        .started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis().min(u64::MAX as u128) as u64);
    RunStamp {
        id: RunId::from(report.run.run_id.as_str()),
        at_unix_ms,
    }
}

/// What a report's test contributes to the history: its status and the duration of its last
/// attempt, or nothing (skipped, not run, interrupted).
fn measured(t: &TestRecord) -> Option<(SampleStatus, Duration)> {
    let status = match t.status {
        TestStatus::Passed => SampleStatus::Passed,
        TestStatus::Flaky => SampleStatus::Flaky,
        TestStatus::Failed => SampleStatus::Failed,
        TestStatus::Skipped | TestStatus::NotRun => return None,
    };
    let last = t.attempts.last()?;
    (last.outcome != AttemptOutcome::Interrupted).then_some((status, last.duration))
}

/// Per doctest binary, the median of the run's batch start-ups and the most doctests a batch
/// reported, sorted by binary.
fn doc_costs(report: &JsonReport, at_unix_ms: u64) -> Vec<(BinaryId, DocCostSample)> {
    let mut setups: BTreeMap<&BinaryId, (Vec<Duration>, u32)> = BTreeMap::new();
    for d in &report.doc_setups {
        let e = setups.entry(&d.binary).or_default();
        e.0.push(d.setup);
        e.1 = e.1.max(d.doctests);
    }
    setups
        .into_iter()
        .map(|(binary, (mut durations, doctests))| {
            durations.sort();
            let median = durations[durations.len() / 2];
            let cost = DocCostSample {
                at: at_unix_ms,
                setup_us: median.as_micros().min(u128::from(u64::MAX)) as u64,
                doctests,
            };
            (binary.clone(), cost)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::TestAttributes;
    use crate::event::{AttemptRecord, RunInfo};
    use crate::history::TimingStore;
    use crate::history::test_support::id;
    use crate::schema::{DocSetup, REPORT_VERSION, StatusCounts};
    use crate::shard::ShardSpec;
    use std::time::SystemTime;

    /// Run `run-7` (started 5 s after the epoch, 3 workers): a passed test, a flaky one, a
    /// skipped one and an interrupted one.
    fn report_of_run_7() -> JsonReport {
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
        JsonReport {
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
        }
    }

    #[test]
    fn a_report_records_one_run() {
        let report = report_of_run_7();
        let mut s = TimingStore::default();
        assert_eq!(s.record_run(run_record(&report)), 2);
        let f = s.stats(&id("p flaky")).unwrap();
        assert_eq!(
            (f.mean, f.flaky, f.last_workers),
            (Duration::from_millis(50), 1, 3)
        );
        assert_eq!(s.tests[&id("p ok")].runs.get("run-7").unwrap().at, 5000);
        assert!(s.stats(&id("p ignored")).is_none());
        // Recording the same report again changes nothing.
        let before = s.clone();
        s.record_run(run_record(&report));
        assert_eq!(s, before);
    }

    #[test]
    fn measured_in_counts_what_run_record_takes() {
        let report = report_of_run_7();
        let record = run_record(&report);
        assert_eq!(measured_in(&report), 2);
        assert_eq!(record.tests.len(), 2);
        assert_eq!(
            record.run,
            RunStamp {
                id: "run-7".into(),
                at_unix_ms: 5000
            }
        );
        assert!(record.tests.iter().all(|(_, t)| t.run == record.run));
    }

    #[test]
    fn doctest_batches_record_their_median_start_up_per_package() {
        let mut report = report_of_run_7();
        let setup = |binary: &str, ms: u64, doctests: u32| DocSetup {
            binary: BinaryId::new(binary),
            setup: Duration::from_millis(ms),
            doctests,
        };
        report.doc_setups = vec![
            setup("b::doc", 300, 4),
            setup("a::doc", 900, 12),
            setup("a::doc", 100, 12),
            setup("a::doc", 400, 12),
        ];
        let record = run_record(&report);
        let cost = |at, ms: u64, doctests| DocCostSample {
            at,
            setup_us: ms * 1000,
            doctests,
        };
        assert_eq!(
            record.doc_costs,
            [
                (BinaryId::new("a::doc"), cost(5000, 400, 12)),
                (BinaryId::new("b::doc"), cost(5000, 300, 4)),
            ]
        );
        let mut s = TimingStore::default();
        s.record_run(record);
        let a = &s.doc_costs[&BinaryId::new("a::doc")];
        assert_eq!(
            a.iter().map(|(run, _)| run.as_str()).collect::<Vec<_>>(),
            ["run-7"]
        );
    }
}
