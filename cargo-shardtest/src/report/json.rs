//! The JSON report of one shard run (schema version [`REPORT_VERSION`]): what ran, how each
//! attempt ended, the plan fingerprint and the full planned test list, so that `verify` and
//! `timings` can work from reports alone.

use crate::event::{ConsumerError, EventConsumer, RunEvent, RunInfo};
use crate::id::{Fingerprint, TestId};
use std::collections::BTreeMap;
use std::time::Duration;

pub use shardtest_protocol::report::{
    DocSetup, JsonReport, REPORT_VERSION, StatusCounts, TestRecord, count,
};

/// Builds a [`JsonReport`] from the event stream.
#[derive(Clone, Debug)]
pub struct JsonReportBuilder {
    planned_tests: Vec<TestId>,
    shuffle_seed: Option<u64>,
    run: Option<RunInfo>,
    tests: BTreeMap<TestId, TestRecord>,
    elapsed: Duration,
    complete: bool,
    rerun_of: Option<Vec<Fingerprint>>,
}

impl JsonReportBuilder {
    /// A builder for a run whose plan covers `planned_tests` (all shards).
    pub fn new(planned_tests: Vec<TestId>, shuffle_seed: Option<u64>) -> Self {
        JsonReportBuilder {
            planned_tests,
            shuffle_seed,
            run: None,
            tests: BTreeMap::new(),
            elapsed: Duration::ZERO,
            complete: false,
            rerun_of: None,
        }
    }

    /// Marks the report as a `--rerun-failed` run of the plans with these fingerprints.
    pub fn set_rerun_of(&mut self, fingerprints: Vec<Fingerprint>) {
        self.rerun_of = Some(fingerprints);
    }

    /// The final report, without copying the records (for 100,000 tests that copy is the
    /// largest allocation of a run).
    pub fn into_report(self) -> Option<JsonReport> {
        let run = self.run?;
        let mut counts = StatusCounts::default();
        for t in self.tests.values() {
            count(&mut counts, t.status, &t.attributes, &t.attempts);
        }
        Some(JsonReport {
            version: REPORT_VERSION,
            run,
            planned_tests: self.planned_tests,
            tests: self.tests.into_values().collect(),
            counts,
            elapsed: self.elapsed,
            complete: self.complete,
            shuffle_seed: self.shuffle_seed,
            rerun_of: self.rerun_of,
            doc_setups: Vec::new(),
        })
    }

    /// The report so far (call after `RunFinished` for the final one); a copy, so the
    /// builder can go on.
    pub fn report(&self) -> Option<JsonReport> {
        self.clone().into_report()
    }
}

impl EventConsumer for JsonReportBuilder {
    /// Collects in memory: never fails (the file is written by the command, which reports
    /// its own errors).
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError> {
        match event {
            RunEvent::RunStarted(info) => self.run = Some(info.clone()),
            RunEvent::TestSkipped {
                id,
                status,
                attributes,
            } => {
                self.tests.insert(
                    id.clone(),
                    TestRecord {
                        id: id.clone(),
                        status: *status,
                        attributes: attributes.clone(),
                        attempts: vec![],
                    },
                );
            }
            RunEvent::TestFinished {
                id,
                status,
                attempts,
                attributes,
            } => {
                self.tests.insert(
                    id.clone(),
                    TestRecord {
                        id: id.clone(),
                        status: *status,
                        attributes: attributes.clone(),
                        attempts: attempts.clone(),
                    },
                );
            }
            RunEvent::RunFinished {
                elapsed,
                interrupted,
            } => {
                self.elapsed = *elapsed;
                self.complete = !interrupted;
            }
            RunEvent::TestStarted { .. }
            | RunEvent::TestSlow { .. }
            | RunEvent::TestRetrying { .. } => {}
        }
        Ok(())
    }
}
