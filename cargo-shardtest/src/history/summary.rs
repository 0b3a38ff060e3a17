//! What the history says, for people: [`TimingStore::summary`] ([`TimingSummary`], what
//! `timings show` prints: coverage, the slowest and the flakiest tests) and the
//! [`ImportSummary`] of a JUnit import.

use crate::id::TestId;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use super::stats::TestStats;
use super::store::TimingStore;

impl TimingStore {
    /// A human summary: coverage of `listed` (when given), the slowest and the flakiest tests.
    ///
    /// ```
    /// # use shardtest::history::*;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::SampleStatus;
    use crate::history::test_support::{id, sample};

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
