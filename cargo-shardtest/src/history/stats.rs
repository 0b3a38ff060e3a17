//! Statistics derived from a test's history, never stored: an integer EWMA of the durations
//! with outliers clamped, the last duration, counts by status and the mean at one worker
//! count.

use crate::attrs::TestAttributes;
use std::time::Duration;

use super::sample::{SampleStatus, TestHistory};

/// EWMA weight of a new sample, in percent.
pub const EWMA_ALPHA_PERCENT: u64 = 30;
/// A new sample enters the mean clamped to `[mean / OUTLIER_FACTOR, mean * OUTLIER_FACTOR]`.
pub const OUTLIER_FACTOR: u64 = 3;

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
    /// [`TimingStore::stats_for_workers`](super::TimingStore::stats_for_workers), when at least
    /// two exist (durations depend on what runs beside a test).
    pub mean_at_workers: Option<Duration>,
}

impl TestStats {
    /// The mean to plan with: the one at the asked worker count when known, else the overall.
    ///
    /// ```
    /// # use shardtest::history::TestStats;
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
    /// # use shardtest::history::TestStats;
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

/// One step of the integer EWMA: `x` enters the mean of `count` samples (clamped to
/// [`OUTLIER_FACTOR`] once there are two).
pub(super) fn ewma_step(mean: u64, count: u64, x: u64) -> u64 {
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

/// Counts `st` into the matching counter.
pub(super) fn count_status(st: SampleStatus, p: &mut u64, fl: &mut u64, f: &mut u64) {
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
    /// # use shardtest::history::*;
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
    pub(super) fn stats_at(&self, workers: Option<u32>) -> TestStats {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::TimingStore;
    use crate::history::test_support::{id, sample};

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
}
