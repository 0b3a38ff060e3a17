//! The runner's configuration: the [`Isolation`] strategy, [`RunnerConfig`] (the settings of
//! one shard run) and the paths derived from it (per-test artifact directories, the default
//! artifact root), plus the run id that keeps concurrent runs apart.

use super::artifacts;
use crate::id::{Fingerprint, RunId, TestId};
use crate::shard::ShardSpec;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How tests are executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Every test attempt in its own process: full isolation, about 1-4 ms per test.
    #[default]
    Process,
    /// Many plain tests of one binary per process (`--exact a b c --test-threads 1`): close to
    /// `cargo test`'s speed. Tests with attributes (serial, group, flaky) still get their own
    /// process; a crash ends only the test that was running, the rest of its batch restarts.
    Batch,
}

/// Settings of a shard run.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Worker slots.
    pub workers: u32,
    /// The shard being run.
    pub shard: ShardSpec,
    /// Unique run id.
    pub run_id: RunId,
    /// Plan fingerprint (reported).
    pub fingerprint: Fingerprint,
    /// Predicted wall time of the shard (reported).
    pub predicted: Duration,
    /// Warn about a test running longer than this (and each multiple of it).
    pub slow_after: Duration,
    /// Stop a test's process group after this long (SIGTERM, then SIGKILL after
    /// `timeout_grace`).
    pub timeout: Option<Duration>,
    /// After a timeout's SIGTERM, how long a test may take to exit before SIGKILL.
    pub timeout_grace: Duration,
    /// Keep every test's output in its artifact directory, passing tests' too
    /// (`--keep-output`; process isolation). By default only failures' output is kept.
    pub keep_output: bool,
    /// Retries for every failing test (a `#[shard::flaky]` policy can ask for more).
    pub retries: u32,
    /// Wait before each retry of a test without a `#[shard::flaky]` backoff of its own.
    pub retry_backoff: Duration,
    /// Stop starting tests once this many (critical) tests have failed; the running ones
    /// finish, the rest are reported as not run (`--max-fail`, nextest's `fail-fast`).
    pub max_fail: Option<u32>,
    /// Root of this run's artifacts (per-test dirs, kept logs).
    pub artifact_root: PathBuf,
    /// Scratch directory for live output capture.
    pub logs_dir: PathBuf,
    /// Extra arguments for every test process (after `--`).
    pub extra_args: Vec<String>,
    /// How long a test's leftover processes may take to exit before they count as leaked.
    pub leak_grace: Duration,
    /// Execution strategy.
    pub isolation: Isolation,
    /// Run in a random order derived from this seed instead of longest-first.
    pub shuffle_seed: Option<u64>,
    /// Run every test this many times (copies of a non-serial test may run at once);
    /// retries are off when this is above 1.
    pub repeat: u32,
}

impl RunnerConfig {
    /// Per-test artifact directory: `<root>/shard-K-of-N/<binary>/<test>`.
    ///
    /// ```
    /// # use shardtest::run::RunnerConfig;
    /// # use shardtest::plan::ShardSpec;
    /// let c = RunnerConfig::for_tests("/a".into(), ShardSpec::new(2, 4).unwrap());
    /// let d = c.artifact_dir(&"pkg::it mod::case".parse().unwrap());
    /// assert_eq!(d, std::path::Path::new("/a/shard-2-of-4/pkg..it/mod..case"));
    /// ```
    pub fn artifact_dir(&self, id: &TestId) -> PathBuf {
        self.artifact_root
            .join(format!(
                "shard-{}-of-{}",
                self.shard.index, self.shard.total
            ))
            .join(path_component(id.binary.as_str()))
            .join(path_component(id.name.as_str()))
    }

    /// A configuration with defaults, rooted at `root` (for tests and examples).
    ///
    /// ```
    /// # use shardtest::run::RunnerConfig;
    /// # use shardtest::plan::ShardSpec;
    /// let c = RunnerConfig::for_tests("/tmp/x".into(), ShardSpec::WHOLE);
    /// assert_eq!(c.workers, 1);
    /// ```
    pub fn for_tests(root: PathBuf, shard: ShardSpec) -> Self {
        RunnerConfig {
            workers: 1,
            shard,
            run_id: "test-run".into(),
            fingerprint: Fingerprint::default(),
            predicted: Duration::ZERO,
            slow_after: Duration::from_secs(60),
            timeout: None,
            timeout_grace: Duration::from_secs(10),
            keep_output: false,
            retries: 0,
            retry_backoff: Duration::ZERO,
            max_fail: None,
            logs_dir: root.join("live"),
            artifact_root: root,
            extra_args: vec![],
            leak_grace: Duration::from_millis(100),
            isolation: Isolation::Process,
            shuffle_seed: None,
            repeat: 1,
        }
    }
}

/// A file-name-safe rendering of an id part: `::` becomes `..`, anything outside
/// `[A-Za-z0-9_.-]` becomes `_` (plus a short hash then, so different names never collide).
/// A name longer than [`artifacts::MAX_COMPONENT`] bytes is cut and ends in a hash of the
/// whole name, so it always fits the file system (the full id is written inside the
/// directory by [`artifacts::prepare`]).
fn path_component(s: &str) -> String {
    let replaced = s.replace("::", "..");
    let clean: String = replaced
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() > artifacts::MAX_COMPONENT {
        return artifacts::shortened(&clean, s);
    }
    if clean == replaced {
        clean
    } else {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(s.as_bytes());
        format!("{clean}-{:02x}{:02x}{:02x}", h[0], h[1], h[2])
    }
}

/// A run id unique enough to keep concurrent runs apart: time and process id.
///
/// ```
/// assert_ne!(shardtest::run::new_run_id(), "");
/// ```
pub fn new_run_id() -> RunId {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    RunId::from(format!("{:x}-{:x}", t.as_millis(), std::process::id()))
}

/// Directory under the target dir where a run keeps its artifacts.
///
/// ```
/// let d = shardtest::run::default_artifact_root(std::path::Path::new("/t"), "r1");
/// assert_eq!(d, std::path::Path::new("/t/shardtest/runs/r1"));
/// ```
pub fn default_artifact_root(target_dir: &Path, run_id: &str) -> PathBuf {
    target_dir.join("shardtest").join("runs").join(run_id)
}
