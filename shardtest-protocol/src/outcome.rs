//! How tests ended: the outcome of one attempt, a test's final status, and the run's
//! setup as the reports record it.

use crate::id::{Fingerprint, RunId};
use crate::shard::ShardSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// How one attempt of a test ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Exit status 0.
    Passed,
    /// Exited with a non-zero code (a failed assertion or panic).
    Failed {
        /// The exit code.
        code: i32,
    },
    /// Killed by a signal it did not ask for (abort, segfault, external kill).
    Crashed {
        /// Signal number.
        signal: i32,
        /// Signal name, e.g. `SIGSEGV`.
        name: String,
    },
    /// Ran past the hard timeout; its process group was stopped (SIGTERM, then SIGKILL after
    /// the grace period).
    TimedOut {
        /// The signal that ended it: `SIGTERM` when it exited within the grace period,
        /// `SIGKILL` when it had to be killed (empty in reports written before this field).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        signal: String,
    },
    /// Could not be started.
    SpawnFailed {
        /// The OS error.
        message: String,
    },
    /// Stopped because the run was interrupted (Ctrl-C / SIGTERM).
    Interrupted,
}

impl AttemptOutcome {
    /// True for a passing attempt.
    ///
    /// ```
    /// # use shardtest_protocol::outcome::AttemptOutcome;
    /// assert!(AttemptOutcome::Passed.is_pass());
    /// assert!(!AttemptOutcome::TimedOut { signal: "SIGKILL".into() }.is_pass());
    /// ```
    pub fn is_pass(&self) -> bool {
        matches!(self, AttemptOutcome::Passed)
    }

    /// A short upper-case label for human output (`PASS`, `FAIL`, `CRASH`, `TIMEOUT`, ...).
    ///
    /// ```
    /// # use shardtest_protocol::outcome::AttemptOutcome;
    /// assert_eq!(AttemptOutcome::Failed { code: 101 }.label(), "FAIL");
    /// ```
    pub fn label(&self) -> &'static str {
        match self {
            AttemptOutcome::Passed => "PASS",
            AttemptOutcome::Failed { .. } => "FAIL",
            AttemptOutcome::Crashed { .. } => "CRASH",
            AttemptOutcome::TimedOut { .. } => "TIMEOUT",
            AttemptOutcome::SpawnFailed { .. } => "ERROR",
            AttemptOutcome::Interrupted => "INTERRUPTED",
        }
    }
}

/// Final status of a test in a run, after retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestStatus {
    /// First attempt passed.
    Passed,
    /// Failed at first, then a retry passed.
    Flaky,
    /// Every attempt failed (including crashes and timeouts).
    Failed,
    /// Not run (ignored test).
    Skipped,
    /// Run was interrupted before or while it ran.
    NotRun,
}

/// One finished attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 1-based attempt number.
    pub attempt: u32,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// Wall time of the attempt.
    #[serde(with = "crate::duration")]
    pub duration: Duration,
    /// When it started.
    pub started_at: SystemTime,
    /// Worker slot (0-based) it ran on.
    pub worker: u32,
    /// Processes of the test were still alive after it exited (they were killed).
    #[serde(default)]
    pub leaked: bool,
    /// Captured output (stdout and stderr interleaved) when kept: failures and leaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// Last lines of the captured output, for failures.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
}

/// Everything the run knows about its own setup, sent first.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunInfo {
    /// Unique id of this run (`SHARDTEST_RUN_ID`).
    pub run_id: RunId,
    /// The shard this run executes.
    pub shard: ShardSpec,
    /// Plan fingerprint.
    pub fingerprint: Fingerprint,
    /// Worker count.
    pub workers: u32,
    /// Number of tests this shard will run (skipped ones excluded).
    pub to_run: usize,
    /// Predicted wall time of this shard.
    #[serde(with = "crate::duration")]
    pub predicted: Duration,
    /// When the run started.
    pub started_at: SystemTime,
    /// `--repeat`: how many times each test runs (attempts are then repetitions, not retries).
    #[serde(default = "one")]
    pub repeat: u32,
}

fn one() -> u32 {
    1
}
