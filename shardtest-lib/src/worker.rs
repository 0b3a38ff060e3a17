//! Which worker this test runs on, and which run it belongs to.
//!
//! | runner | [`worker_id`] | [`run_id`] |
//! | --- | --- | --- |
//! | `cargo shardtest` | `SHARDTEST_WORKER_ID` (0..W-1, reused by the next test on that worker) | `SHARDTEST_RUN_ID` (+ `SHARDTEST_SHARD`) |
//! | `cargo nextest` | `NEXTEST_TEST_GLOBAL_SLOT` (0..j-1) | `NEXTEST_RUN_ID` |
//! | `cargo test` | lowest free slot of the `worker` lock pool, held until the process exits | generated once per process |
//!
//! Under plain `cargo test` the tests of one binary are threads of one process and **share
//! one worker id**; resources keyed by the worker id (such as [`crate::pg::database`] with the
//! `postgres` feature) are then shared by those threads, which is why the per-test fixtures
//! on top of them (a fresh schema, a port) are still per test. Two `cargo test` processes
//! running at once on the machine get distinct ids.
//!
//! Two nextest runs (or two shards of one `cargo shardtest` run) on the same host may see
//! the same worker id; everything machine-wide ([`crate::port()`], clusters) is protected by
//! locks rather than by the id, and everything named (databases) also carries the run id.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::lockdir::{self, HeldLock};

/// Worker id set by `cargo shardtest`.
pub const WORKER_ID_ENV: &str = shardtest_protocol::env::WORKER_ID;
/// Worker slot set by cargo-nextest (unique among the tests running at once in one run).
pub const NEXTEST_SLOT_ENV: &str = "NEXTEST_TEST_GLOBAL_SLOT";
/// Run id set by `cargo shardtest`.
pub const RUN_ID_ENV: &str = shardtest_protocol::env::RUN_ID;
/// Run id set by cargo-nextest.
pub const NEXTEST_RUN_ID_ENV: &str = "NEXTEST_RUN_ID";
/// Shard (`K/N`) set by `cargo shardtest`.
pub const SHARD_ENV: &str = shardtest_protocol::env::SHARD;

/// Why the worker id cannot be known.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A worker id variable holds something other than a non-negative integer.
    #[error(
        "{var}={value:?} is not a worker id (a non-negative integer); unset it or fix the runner"
    )]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
    },
    /// No slot could be taken from the lock pool.
    #[error("cannot take a worker slot in the lock directory {dir}: {source}")]
    LockDir {
        /// The lock directory.
        dir: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An earlier call in this process failed with this error (the id is decided once).
    #[error("{0}")]
    Earlier(String),
}

/// Which runner started this process, as far as its environment tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runner {
    /// `cargo shardtest` (`SHARDTEST_RUN_ID` or `SHARDTEST_WORKER_ID` is set).
    Shardtest,
    /// cargo-nextest (`NEXTEST_RUN_ID` or `NEXTEST_TEST_GLOBAL_SLOT` is set).
    Nextest,
    /// Anything else, e.g. plain `cargo test`.
    Other,
}

/// The runner that started this process.
///
/// ```
/// let r = shard::worker::runner();
/// if std::env::var_os("NEXTEST_RUN_ID").is_none() && std::env::var_os("SHARDTEST_RUN_ID").is_none() {
///     assert_eq!(r, shard::worker::Runner::Other);
/// }
/// ```
pub fn runner() -> Runner {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if set(RUN_ID_ENV) || set(WORKER_ID_ENV) {
        Runner::Shardtest
    } else if set(NEXTEST_RUN_ID_ENV) || set(NEXTEST_SLOT_ENV) {
        Runner::Nextest
    } else {
        Runner::Other
    }
}

static WORKER: OnceLock<Result<(u32, Option<HeldLock>), String>> = OnceLock::new();

/// This test's worker id (see the [module docs](self) for each runner); panics with the reason
/// when it cannot be known (see [`try_worker_id`]).
///
/// ```
/// let w = shard::worker_id();
/// assert_eq!(w, shard::worker_id()); // stable for the process
/// ```
pub fn worker_id() -> u32 {
    match try_worker_id() {
        Ok(w) => w,
        Err(e) => panic!("shard::worker_id(): {e}"),
    }
}

/// Like [`worker_id`], returning the error instead of panicking.
///
/// ```
/// let w = shard::worker::try_worker_id()?;
/// # let _ = w;
/// # Ok::<(), shard::worker::WorkerError>(())
/// ```
pub fn try_worker_id() -> Result<u32, WorkerError> {
    let r = WORKER.get_or_init(|| compute().map_err(|e| e.to_string()));
    match r {
        Ok((w, _)) => Ok(*w),
        Err(msg) => Err(WorkerError::Earlier(msg.clone())),
    }
}

fn compute() -> Result<(u32, Option<HeldLock>), WorkerError> {
    for var in [WORKER_ID_ENV, NEXTEST_SLOT_ENV] {
        if let Ok(value) = std::env::var(var) {
            if value.trim().is_empty() {
                continue;
            }
            return match value.trim().parse::<u32>() {
                Ok(w) => Ok((w, None)),
                Err(_) => Err(WorkerError::BadEnv { var, value }),
            };
        }
    }
    let (slot, held) =
        lockdir::first_free_slot("worker").map_err(|source| WorkerError::LockDir {
            dir: lockdir::lock_dir(),
            source,
        })?;
    Ok((slot, Some(held)))
}

static RUN_ID: OnceLock<String> = OnceLock::new();

/// The id of the run this test belongs to: `SHARDTEST_RUN_ID` (followed by `-s<K>` when
/// `SHARDTEST_SHARD=K/N` is set, since shards may share a database server), else
/// `NEXTEST_RUN_ID`, else an id generated once for this process (`p<pid>-<unix nanos>`).
/// Names of shared resources (databases) carry it, so concurrent runs never meet.
///
/// ```
/// let id = shard::worker::run_id();
/// assert_eq!(id, shard::worker::run_id());
/// assert!(!id.is_empty());
/// ```
pub fn run_id() -> &'static str {
    RUN_ID.get_or_init(|| {
        let get = |v: &str| std::env::var(v).ok().filter(|s| !s.trim().is_empty());
        if let Some(id) = get(RUN_ID_ENV) {
            match get(SHARD_ENV).and_then(|s| s.split('/').next().map(str::to_owned)) {
                Some(k) => format!("{id}-s{k}"),
                None => id,
            }
        } else if let Some(id) = get(NEXTEST_RUN_ID_ENV) {
            id
        } else {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            format!("p{}-{nanos}", std::process::id())
        }
    })
}

/// Whether [`run_id`] was generated by this process (no runner told us the run), in which
/// case the run ends when this process ends.
///
/// ```
/// let _ = shard::worker::run_id_is_generated();
/// ```
pub fn run_id_is_generated() -> bool {
    runner() == Runner::Other
        || (std::env::var_os(RUN_ID_ENV).is_none()
            && std::env::var_os(NEXTEST_RUN_ID_ENV).is_none())
}
