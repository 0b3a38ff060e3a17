//! The timings store: every test's history and every package's doctest costs, with what
//! changes them (recording samples, merging stores) and the statistics lookups the planner
//! uses. It knows samples only; turning a run's report into samples is [`super::ingest`]'s.

use crate::id::{BinaryId, TestId};
use std::collections::BTreeMap;

use super::doc_costs::DocCostRuns;
use super::sample::{RunRecord, RunSample, Sample, TestHistory, attributes_of};
use super::stats::TestStats;

/// The timings store: per test, its history (see [the design](super)).
///
/// ```
/// # use shardtest::history::*;
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
    /// [`TIMINGS_VERSION`](super::TIMINGS_VERSION), whatever version it was read from.)
    pub tests: BTreeMap<TestId, TestHistory>,
    /// Per doctest binary (`<package>::doc`), what starting a batch of its doctests cost in
    /// the last runs that ran some (cargo, rustdoc and, from edition 2024, the merged build,
    /// until the first doctest began). The planner's per-package doctest cost is learned from
    /// these ([`crate::doctest::learned_cost`]).
    pub doc_costs: BTreeMap<BinaryId, DocCostRuns>,
}

impl TimingStore {
    /// Records one sample of `id` (a run contributes one sample per test; recording the
    /// same run again replaces it).
    ///
    /// ```
    /// # use shardtest::history::*;
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

    /// Records what one run measured (a [`RunRecord`], as [`super::run_record`] takes it from
    /// a report): every test's sample as [`TimingStore::record`] does, and every package's
    /// doctest start-up under the run's id. Returns how many test samples were recorded.
    ///
    /// ```
    /// # use shardtest::history::*;
    /// # use shardtest::id::BinaryId;
    /// let run = RunStamp { id: "run-1".into(), at_unix_ms: 7 };
    /// let cost = DocCostSample { at: 7, setup_us: 900_000, doctests: 12 };
    /// let doc_costs = vec![(BinaryId::new("p::doc"), cost)];
    /// let record = RunRecord { run, tests: vec![], doc_costs };
    /// let mut store = TimingStore::default();
    /// assert_eq!(store.record_run(record), 0);
    /// assert_eq!(store.doc_costs[&BinaryId::new("p::doc")].len(), 1);
    /// ```
    pub fn record_run(&mut self, record: RunRecord) -> usize {
        let recorded = record.tests.len();
        for (id, sample) in record.tests {
            self.record(id, sample);
        }
        for (binary, cost) in record.doc_costs {
            self.doc_costs
                .entry(binary)
                .or_default()
                .insert(record.run.id.clone(), cost);
        }
        recorded
    }

    /// Derived statistics of one test, if it has history.
    ///
    /// ```
    /// # use shardtest::history::TimingStore;
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
    /// # use shardtest::history::*;
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

    /// Folds `other` into `self` without counting shared history twice (see
    /// [the design](super)). `a.merge(&b)` and `b.merge(&a)` give equal stores.
    ///
    /// ```
    /// # use shardtest::history::*;
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
    /// # use shardtest::history::TimingStore;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::KEEP_RUNS;
    use crate::history::test_support::{id, sample};

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
}
