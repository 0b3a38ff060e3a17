//! Flakiness derived from the recorded history: a per-test flakiness rate
//! ([`flakiness_table`], for `timings show --flaky`) and the *spike* check of the run summary
//! ([`SpikeHistory`]): a test that fails now although it almost never failed before points at
//! something systemic (the machine, a dependency, a shared service), not at the test.

use crate::history::{TestStats, TimingStore};
use crate::id::TestId;
use std::collections::BTreeMap;
use std::fmt;

/// Fewest recorded samples for a failure to count as a spike.
pub const SPIKE_MIN_SAMPLES: u64 = 10;
/// A failure is a spike when the recorded failure rate is below this (parts per million: 5%).
pub const SPIKE_MAX_RATE_PPM: u32 = 50_000;

/// One test's recorded flakiness.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FlakyRow {
    /// The test.
    pub id: TestId,
    /// Recorded runs.
    pub samples: u64,
    /// Runs that passed at once.
    pub passed: u64,
    /// Runs that passed after a retry.
    pub flaky: u64,
    /// Runs that failed.
    pub failed: u64,
    /// Share of runs that did not pass at once, in parts per million.
    pub rate_ppm: u32,
}

/// The tests of `store` that ever failed or needed a retry, highest rate first (ties: more
/// samples first, then by id).
///
/// ```
/// use shardtest::history::flakiness::flakiness_table;
/// use shardtest::history::*;
/// use std::time::Duration;
/// let mut store = TimingStore::default();
/// for (i, status) in [SampleStatus::Passed, SampleStatus::Flaky, SampleStatus::Passed, SampleStatus::Passed].into_iter().enumerate() {
///     store.record("p t".parse().unwrap(), Sample {
///         run: RunStamp { id: format!("r{i}").into(), at_unix_ms: i as u64 },
///         duration: Duration::from_millis(10), status, workers: 1, attributes: Default::default() });
/// }
/// let rows = flakiness_table(&store);
/// assert_eq!(rows.len(), 1);
/// assert_eq!(rows[0].rate_ppm, 250_000);
/// assert!(shardtest::history::flakiness::FlakyTable(rows).to_string().contains("25.0%"));
/// ```
pub fn flakiness_table(store: &TimingStore) -> Vec<FlakyRow> {
    let mut rows: Vec<FlakyRow> = store
        .tests
        .keys()
        .filter_map(|id| store.stats(id).map(|s| row(id, &s)))
        .filter(|r| r.rate_ppm > 0)
        .collect();
    rows.sort_by(|a, b| {
        b.rate_ppm
            .cmp(&a.rate_ppm)
            .then(b.samples.cmp(&a.samples))
            .then_with(|| a.id.cmp(&b.id))
    });
    rows
}

fn row(id: &TestId, s: &TestStats) -> FlakyRow {
    FlakyRow {
        id: id.clone(),
        samples: s.samples,
        passed: s.passed,
        flaky: s.flaky,
        failed: s.failed,
        rate_ppm: s.failure_rate_ppm(),
    }
}

/// A printable flakiness table (`Display`): rate, counts and test, one line per test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlakyTable(pub Vec<FlakyRow>);

impl fmt::Display for FlakyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return writeln!(
                f,
                "no test has failed or needed a retry in the recorded history"
            );
        }
        writeln!(
            f,
            "{:>7}  {:>7}  {:>6}  {:>6}  TEST",
            "RATE", "SAMPLES", "FLAKY", "FAILED"
        )?;
        for r in &self.0 {
            writeln!(
                f,
                "{:>6.1}%  {:>7}  {:>6}  {:>6}  {}",
                f64::from(r.rate_ppm) / 10_000.0,
                r.samples,
                r.flaky,
                r.failed,
                r.id
            )?;
        }
        Ok(())
    }
}

/// A failure that is out of character for the test: it passed `passed` of `samples` before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spike {
    /// Recorded runs that passed at once.
    pub passed: u64,
    /// Recorded runs.
    pub samples: u64,
}

impl fmt::Display for Spike {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SPIKE: fails now, passed {} of {} before: look for a systemic cause",
            self.passed, self.samples
        )
    }
}

/// Whether a failure of a test with these recorded statistics is a spike: at least
/// [`SPIKE_MIN_SAMPLES`] samples and a failure rate below [`SPIKE_MAX_RATE_PPM`].
///
/// ```
/// use shardtest::history::flakiness::spike;
/// use shardtest::history::TestStats;
/// let steady = TestStats { samples: 20, passed: 20, ..Default::default() };
/// assert_eq!(spike(&steady).unwrap().to_string(),
///     "SPIKE: fails now, passed 20 of 20 before: look for a systemic cause");
/// let flaky = TestStats { samples: 20, passed: 15, failed: 5, ..Default::default() };
/// assert!(spike(&flaky).is_none());
/// assert!(spike(&TestStats { samples: 3, passed: 3, ..Default::default() }).is_none());
/// ```
pub fn spike(stats: &TestStats) -> Option<Spike> {
    (stats.samples >= SPIKE_MIN_SAMPLES && stats.failure_rate_ppm() < SPIKE_MAX_RATE_PPM).then_some(
        Spike {
            passed: stats.passed,
            samples: stats.samples,
        },
    )
}

/// The recorded history the run summary needs to mark spikes, taken from the timings store
/// *before* the run records its own results. Give it to
/// [`TerminalReporter::set_spike_history`](crate::report::terminal::TerminalReporter::set_spike_history).
///
/// ```
/// use shardtest::history::flakiness::SpikeHistory;
/// use shardtest::history::TimingStore;
/// let h = SpikeHistory::from_store(&TimingStore::default());
/// assert!(h.spike(&"p t".parse().unwrap()).is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpikeHistory {
    spikes: BTreeMap<TestId, Spike>,
}

impl SpikeHistory {
    /// The tests of `store` whose failure now would be a spike.
    pub fn from_store(store: &TimingStore) -> Self {
        let spikes = store
            .tests
            .keys()
            .filter_map(|id| {
                store
                    .stats(id)
                    .and_then(|s| spike(&s))
                    .map(|sp| (id.clone(), sp))
            })
            .collect();
        SpikeHistory { spikes }
    }

    /// The spike a failure of `id` would be, if any.
    pub fn spike(&self, id: &TestId) -> Option<Spike> {
        self.spikes.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AttemptOutcome, AttemptRecord, EventConsumer, RunEvent, TestStatus};
    use crate::history::{RunStamp, Sample, SampleStatus};
    use crate::report::terminal::TerminalReporter;
    use std::time::{Duration, SystemTime};

    fn store(id: &TestId, history: &[SampleStatus]) -> TimingStore {
        let mut s = TimingStore::default();
        for (i, status) in history.iter().enumerate() {
            s.record(
                id.clone(),
                Sample {
                    run: RunStamp {
                        id: format!("r{i}").into(),
                        at_unix_ms: i as u64,
                    },
                    duration: Duration::from_millis(10),
                    status: *status,
                    workers: 2,
                    attributes: Default::default(),
                },
            );
        }
        s
    }

    fn summary_of_a_failure(history: SpikeHistory, id: &TestId) -> String {
        let mut t = TerminalReporter::new(Vec::new());
        t.set_spike_history(history);
        t.on_event(&RunEvent::TestFinished {
            id: id.clone(),
            status: TestStatus::Failed,
            attempts: vec![AttemptRecord {
                attempt: 1,
                outcome: AttemptOutcome::Failed { code: 101 },
                duration: Duration::from_millis(5),
                started_at: SystemTime::UNIX_EPOCH,
                worker: 0,
                leaked: false,
                log: None,
                output_tail: String::new(),
            }],
            attributes: Default::default(),
        })
        .unwrap();
        t.on_event(&RunEvent::RunFinished {
            elapsed: Duration::from_millis(5),
            interrupted: false,
        })
        .unwrap();
        String::from_utf8(t.into_inner()).unwrap()
    }

    #[test]
    fn a_failure_of_a_steady_test_is_marked_as_a_spike() {
        let id: TestId = "p steady".parse().unwrap();
        let mut history = vec![SampleStatus::Passed; 29];
        history.push(SampleStatus::Flaky);
        let out = summary_of_a_failure(SpikeHistory::from_store(&store(&id, &history)), &id);
        assert!(
            out.contains("[SPIKE: fails now, passed 29 of 30 before: look for a systemic cause]"),
            "{out}"
        );
        assert!(out.ends_with("0 passed, 1 failed, 0 skipped\n"), "{out}");
    }

    #[test]
    fn a_failure_of_a_known_flaky_or_new_test_is_not_a_spike() {
        let id: TestId = "p shaky".parse().unwrap();
        let mut history = vec![SampleStatus::Passed; 8];
        history.extend([SampleStatus::Failed, SampleStatus::Flaky]);
        let out = summary_of_a_failure(SpikeHistory::from_store(&store(&id, &history)), &id);
        assert!(!out.contains("SPIKE"), "{out}");
        let young = store(&id, &[SampleStatus::Passed; 3]);
        assert!(!summary_of_a_failure(SpikeHistory::from_store(&young), &id).contains("SPIKE"));
        let rows = flakiness_table(&store(&id, &history));
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].samples, rows[0].flaky, rows[0].failed), (10, 1, 1));
        assert_eq!(rows[0].rate_ppm, 200_000);
    }
}
