//! The queue's vocabulary: run, job and lease ids, what a lease call returns, a stored
//! result, the status counts and the errors.

use crate::id::TestId;
use crate::schema::TestRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The id of one queue run (`--queue-run`): every job of a pipeline passes the same one.
/// Letters, digits and `-_.:` only, so it can be part of a key.
///
/// ```
/// use shardtest::queue::QueueRunId;
/// assert!(QueueRunId::new("pipeline-42").is_ok());
/// assert!(QueueRunId::new("a b").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QueueRunId(String);

impl QueueRunId {
    /// Checks and wraps a run id.
    pub fn new(id: &str) -> Result<Self, QueueError> {
        let ok = !id.is_empty()
            && id.len() <= 128
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if ok {
            Ok(QueueRunId(id.to_string()))
        } else {
            Err(QueueError::BadRunId(id.to_string()))
        }
    }

    /// `--queue-run auto`: the run id from the CI environment, and which variables gave it.
    ///
    /// ```
    /// use shardtest::queue::QueueRunId;
    /// let env = |k: &str| match k {
    ///     "GITHUB_RUN_ID" => Some("123".to_string()),
    ///     "GITHUB_RUN_ATTEMPT" => Some("2".to_string()),
    ///     _ => None,
    /// };
    /// let (id, from) = QueueRunId::from_ci(&env).unwrap();
    /// assert_eq!(id.as_str(), "gh-123-2");
    /// assert!(from.contains("GITHUB_RUN_ID"));
    /// ```
    pub fn from_ci(env: &dyn Fn(&str) -> Option<String>) -> Result<(Self, String), QueueError> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let sources: [(&str, &str, Option<&str>); 6] = [
            (
                "GitHub Actions",
                "GITHUB_RUN_ID",
                Some("GITHUB_RUN_ATTEMPT"),
            ),
            ("GitLab CI", "CI_PIPELINE_ID", None),
            ("Buildkite", "BUILDKITE_BUILD_ID", None),
            ("CircleCI", "CIRCLE_WORKFLOW_ID", None),
            ("Azure Pipelines", "BUILD_BUILDID", None),
            ("Jenkins", "BUILD_TAG", None),
        ];
        for (name, var, attempt) in sources {
            let Some(v) = get(var) else { continue };
            let prefix = match name {
                "GitHub Actions" => "gh",
                "GitLab CI" => "gl",
                "Buildkite" => "bk",
                "CircleCI" => "cci",
                "Azure Pipelines" => "az",
                _ => "ci",
            };
            let clean: String = v
                .trim()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            let (id, from) = match attempt.and_then(get) {
                Some(a) => (
                    format!("{prefix}-{clean}-{}", a.trim()),
                    format!(
                        "{name} ({var}={}, {}={})",
                        v.trim(),
                        attempt.unwrap_or(""),
                        a.trim()
                    ),
                ),
                None => (
                    format!("{prefix}-{clean}"),
                    format!("{name} ({var}={})", v.trim()),
                ),
            };
            return Ok((QueueRunId::new(&id)?, from));
        }
        Err(QueueError::NoCiRunId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for QueueRunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One job (one `cargo shardtest run --queue` process) of a queue run.
///
/// ```
/// let a = shardtest::queue::JobId::generate();
/// let b = shardtest::queue::JobId::generate();
/// assert_ne!(a, b);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobId(pub String);

impl JobId {
    /// A fresh id: host name, process id and a time-derived suffix.
    pub fn generate() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        let host: String = host
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect();
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        JobId(format!(
            "{host}-{}-{:x}{}",
            std::process::id(),
            t & 0xff_ffff,
            SEQ.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lease: `<job>:<n>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LeaseId(pub String);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What seeding did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seeded {
    /// This job seeded the queue.
    ByThisJob,
    /// Another job had seeded the same list.
    Joined,
}

/// What a lease call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseGrant {
    /// Tests to run now.
    Tests {
        /// The lease.
        lease: LeaseId,
        /// Its tests, in the order to start them.
        tests: Vec<TestId>,
    },
    /// Nothing queued, but other jobs hold leases that may still come back: ask again later.
    Wait,
    /// Nothing queued and no lease held by anyone: the run's work is done.
    Done,
    /// `--fail-fast` stopped the run: take no more work.
    Stopped,
}

/// Whether a stored result was the test's first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// The first final result of the test.
    First,
    /// The test had a result already (its lease expired and another job ran it too).
    Duplicate,
}

/// A test's final result as stored in the queue: the report record and the job that ran it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResult {
    /// The job that ran it.
    pub job: JobId,
    /// The test's record, as in a JSON report.
    pub record: TestRecord,
}

/// Counts of a queue run (`queue status`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    /// The run exists (was seeded and has not expired).
    pub exists: bool,
    /// Tests seeded.
    pub total: usize,
    /// Tests waiting in the queue.
    pub queued: usize,
    /// Tests in leases, per job.
    pub leased: BTreeMap<String, usize>,
    /// Tests with a final result.
    pub done: usize,
    /// Results that arrived for tests already done (counted once).
    pub duplicates: usize,
    /// Leases that expired and went back into the queue.
    pub expired_leases: usize,
    /// `--fail-fast` stopped the run.
    pub stopped: bool,
    /// The fingerprint of the seeded test list.
    pub fingerprint: Option<String>,
}

impl fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.exists {
            return write!(
                f,
                "no such run: it was never seeded, it expired, it was deleted, or Redis lost its data"
            );
        }
        let leased: usize = self.leased.values().sum();
        write!(
            f,
            "{} tests: {} queued, {} leased, {} done ({} duplicate results counted once, {} expired leases re-queued){}",
            self.total,
            self.queued,
            leased,
            self.done,
            self.duplicates,
            self.expired_leases,
            if self.stopped {
                "; stopped by --fail-fast"
            } else {
                ""
            }
        )?;
        for (job, n) in &self.leased {
            write!(f, "\n  {job}: {n} leased")?;
        }
        Ok(())
    }
}

/// The fingerprint of a test list: the same list (in any order) gives the same text.
///
/// ```
/// use shardtest::queue::list_fingerprint;
/// let a: Vec<shardtest::id::TestId> = vec!["p a".parse().unwrap(), "p b".parse().unwrap()];
/// let b: Vec<shardtest::id::TestId> = vec!["p b".parse().unwrap(), "p a".parse().unwrap()];
/// assert_eq!(list_fingerprint(&a), list_fingerprint(&b));
/// ```
pub fn list_fingerprint(tests: &[TestId]) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<String> = tests.iter().map(|t| t.to_string()).collect();
    ids.sort();
    ids.dedup();
    let mut h = Sha256::new();
    h.update(b"shardtest-queue-list-v1\n");
    for id in &ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What can go wrong with a queue.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// `--queue-run` is not usable as part of a key.
    #[error(
        "`--queue-run {0}`: a run id is 1 to 128 letters, digits, `-`, `_`, `.` or `:` (e.g. the CI pipeline id)"
    )]
    BadRunId(String),
    /// `--queue-run auto` outside a known CI.
    #[error(
        "--queue-run auto found no CI run id (looked for GITHUB_RUN_ID, CI_PIPELINE_ID, BUILDKITE_BUILD_ID, CIRCLE_WORKFLOW_ID, BUILD_BUILDID, BUILD_TAG): pass --queue-run ID, the same in every job of the run"
    )]
    NoCiRunId,
    /// The URL is not a Redis URL.
    #[error("{0}")]
    BadUrl(String),
    /// The server refused the credentials.
    #[error(
        "the queue at {url} refused the credentials ({message}): check the password (and user) in the URL or in SHARDTEST_QUEUE"
    )]
    Auth {
        /// The URL, password masked.
        url: String,
        /// The server's words.
        message: String,
    },
    /// The server could not be reached for longer than the retry window.
    #[error(
        "the queue at {url} is unreachable ({message}); retried for {retried:?}. No test is reported as passed that did not run: re-run the job once the queue is back"
    )]
    Unavailable {
        /// The URL, password masked.
        url: String,
        /// The last error.
        message: String,
        /// How long it retried.
        retried: std::time::Duration,
    },
    /// The run's keys vanished while jobs ran (Redis restarted without persistence, flushed,
    /// or the keys expired).
    #[error(
        "the queue run `{run}` vanished from {url} while this job used it (Redis restarted without persistence, was flushed, or the run expired): its results are lost; re-run the pipeline"
    )]
    RunLost {
        /// The URL, password masked.
        url: String,
        /// The run.
        run: String,
    },
    /// A job's test list differs from the seeded one.
    #[error(
        "this job's test list differs from the one queue run `{run}` was seeded with (list fingerprint {ours} here, {theirs} in the queue): every job must build the same tests with the same filters.{}{}",
        diff_lines("only in this job", only_here),
        diff_lines("only in the queue", only_there)
    )]
    ListMismatch {
        /// The run.
        run: String,
        /// Our list fingerprint.
        ours: String,
        /// The queue's.
        theirs: String,
        /// Tests only this job has.
        only_here: Vec<String>,
        /// Tests only the queue has.
        only_there: Vec<String>,
    },
    /// A lease held tests this job did not list (its build differs from the seeding job's in
    /// a way the list fingerprint did not catch, e.g. a test added after seeding).
    #[error(
        "the queue leased {} tests this job did not list (e.g. {}): every job must build the same tests with the same filters",
        .0.len(),
        .0.first().map(String::as_str).unwrap_or("")
    )]
    Unlisted(Vec<String>),
    /// Anything else the server said.
    #[error("the queue at {url}: {message}")]
    Server {
        /// The URL, password masked.
        url: String,
        /// The error.
        message: String,
    },
}

impl QueueError {
    /// The exit status this error ends a command with: bad input (2) for what the user can
    /// fix in the command or URL, a lost queue (105) for the rest.
    ///
    /// ```
    /// use shardtest::queue::QueueError;
    /// use shardtest::exit::ExitStatus;
    /// assert_eq!(QueueError::NoCiRunId.exit_status(), ExitStatus::Usage);
    /// ```
    pub fn exit_status(&self) -> shardtest_protocol::exit::ExitStatus {
        use shardtest_protocol::exit::ExitStatus;
        match self {
            QueueError::BadRunId(_)
            | QueueError::NoCiRunId
            | QueueError::BadUrl(_)
            | QueueError::Auth { .. }
            | QueueError::ListMismatch { .. }
            | QueueError::Unlisted(_) => ExitStatus::Usage,
            QueueError::Unavailable { .. }
            | QueueError::RunLost { .. }
            | QueueError::Server { .. } => ExitStatus::QueueLost,
        }
    }
}

fn diff_lines(what: &str, ids: &[String]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let mut s = format!("\n  {} {what}:", ids.len());
    for id in ids.iter().take(20) {
        s.push_str(&format!("\n    {id}"));
    }
    if ids.len() > 20 {
        s.push_str(&format!("\n    ... and {} more", ids.len() - 20));
    }
    s
}
