//! The environment variables through which the runner talks to test processes, and test
//! processes (through the `shard` library) answer. Every name is spelled here once.
//!
//! ```
//! use shardtest_protocol::env;
//! assert_eq!(env::RUN_ID, "SHARDTEST_RUN_ID");
//! ```

/// The run's id ([`crate::id::RunId`]), set for every test process; every descendant that
/// keeps its environment inherits it, which is how leftovers of a run are found.
pub const RUN_ID: &str = "SHARDTEST_RUN_ID";
/// The worker slot (1-based) the test process runs on.
pub const WORKER_ID: &str = "SHARDTEST_WORKER_ID";
/// How many worker slots the run has.
pub const WORKERS: &str = "SHARDTEST_WORKERS";
/// The shard the job runs, `K/N` ([`crate::shard::ShardSpec`]).
pub const SHARD: &str = "SHARDTEST_SHARD";
/// The id of the test the process runs ([`crate::id::TestId`]), in process-per-test mode.
pub const TEST_ID: &str = "SHARDTEST_TEST_ID";
/// The attempt number (1 for the first run, 2 for the first retry, ...).
pub const ATTEMPT: &str = "SHARDTEST_ATTEMPT";
/// A directory the test may write files to; kept with the test's report.
pub const ARTIFACT_DIR: &str = "SHARDTEST_ARTIFACT_DIR";
/// The directory of the run's lock files (`#[shard::serial]`, groups, ports).
pub const LOCK_DIR: &str = "SHARDTEST_LOCK_DIR";
/// Set by the runner when it calls a test binary at the end of a run so the library drops
/// the run's PostgreSQL databases.
pub const PG_END_RUN: &str = "SHARDTEST_PG_END_RUN";
/// Asks a test binary to print its attribute lines when listed (see [`crate::attrs`]).
pub const LIST_ATTRIBUTES: &str = crate::attrs::LIST_ATTRIBUTES_ENV;
