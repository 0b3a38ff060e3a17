//! The progress bar shown on a terminal (never in CI or when stderr is not a terminal): tests
//! done out of the shard's total, failures so far, elapsed time and the predicted remaining
//! time, from the shard's predicted wall time (the timings) and the progress so far.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::{Duration, Instant};

/// Predicted time left: the plan's prediction minus the elapsed time while the run is within
/// it; past it (or with no prediction), extrapolated from the tests done so far.
///
/// ```
/// use shardtest::report::progress::remaining;
/// use std::time::Duration;
/// let s = Duration::from_secs;
/// assert_eq!(remaining(s(10), s(4), 2, 10), Some(s(6)));
/// assert_eq!(remaining(s(10), s(12), 6, 12), Some(s(12))); // late: by rate
/// assert_eq!(remaining(s(0), s(0), 0, 10), None);
/// assert_eq!(remaining(s(5), s(1), 10, 10), Some(s(0)));
/// ```
pub fn remaining(
    predicted: Duration,
    elapsed: Duration,
    done: usize,
    total: usize,
) -> Option<Duration> {
    if done >= total {
        return Some(Duration::ZERO);
    }
    if predicted > elapsed {
        return Some(predicted - elapsed);
    }
    if done == 0 {
        return None;
    }
    let per_test = elapsed.as_secs_f64() / done as f64;
    Some(Duration::from_secs_f64(per_test * (total - done) as f64))
}

/// Short human duration: `42s`, `3m05s`, `1h02m`.
///
/// ```
/// use shardtest::report::progress::short;
/// use std::time::Duration;
/// assert_eq!(short(Duration::from_secs(42)), "42s");
/// assert_eq!(short(Duration::from_secs(185)), "3m05s");
/// assert_eq!(short(Duration::from_secs(3720)), "1h02m");
/// ```
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// A live progress bar on stderr.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    predicted: Duration,
    total: usize,
    done: usize,
    failed: usize,
    running: usize,
}

impl Progress {
    /// A bar for `total` tests of a shard predicted to take `predicted`, drawn on stderr.
    pub fn stderr(total: usize, predicted: Duration) -> Self {
        Self::with_target(total, predicted, ProgressDrawTarget::stderr())
    }

    /// A bar that draws nowhere (for tests).
    ///
    /// ```
    /// let mut p = shardtest::report::progress::Progress::hidden(3, Default::default());
    /// p.started();
    /// p.finished(false);
    /// assert!(p.message().contains("1 running") || p.message().contains("0 running"));
    /// ```
    pub fn hidden(total: usize, predicted: Duration) -> Self {
        Self::with_target(total, predicted, ProgressDrawTarget::hidden())
    }

    fn with_target(total: usize, predicted: Duration, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total as u64), target);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        let p = Progress {
            bar,
            start: Instant::now(),
            predicted,
            total,
            done: 0,
            failed: 0,
            running: 0,
        };
        p.bar.set_message(p.message());
        p
    }

    /// The bar's text after the counts: running, failed, remaining vs predicted.
    pub fn message(&self) -> String {
        let elapsed = self.start.elapsed();
        let eta = match remaining(self.predicted, elapsed, self.done, self.total) {
            Some(r) => format!("~{} left", short(r)),
            None => "estimating".to_string(),
        };
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        format!(
            "{} running{failed}, {eta} (predicted {})",
            self.running,
            short(self.predicted)
        )
    }

    /// An attempt started.
    pub fn started(&mut self) {
        self.running += 1;
        self.bar.set_message(self.message());
    }

    /// An attempt ended without finishing its test (it will be retried).
    pub fn retrying(&mut self) {
        self.running = self.running.saturating_sub(1);
        self.bar.set_message(self.message());
    }

    /// A test finished (`failed`: it failed for good).
    pub fn finished(&mut self, failed: bool) {
        self.running = self.running.saturating_sub(1);
        self.done += 1;
        if failed {
            self.failed += 1;
        }
        self.bar.set_position(self.done as u64);
        self.bar.set_message(self.message());
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: &str) {
        self.bar.println(line);
    }

    /// Removes the bar (before the summary).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
