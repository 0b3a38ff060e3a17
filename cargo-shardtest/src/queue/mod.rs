//! Dynamic distribution: CI jobs pull tests from a shared queue instead of running a static
//! shard, so a run finishes in about the time of its longest test even when the timings are
//! wrong or a machine dies.
//!
//! The model is a work queue with leases:
//! - **Seeding**: the first job to arrive seeds the queue, atomically, with every selected
//!   test, longest predicted first. Later jobs check that their test list has the same
//!   fingerprint ([`list_fingerprint`]), and are refused with the difference named otherwise.
//! - **Leasing** ([`LeasePolicy`]): a job takes tests in leases; a long test alone, short
//!   ones in batches sized to keep the queue's round trips a small share of the work, single
//!   tests near the end. A lease has a deadline that the job's heartbeat extends; an expired
//!   lease's unfinished tests go back to the front of the queue.
//! - **Results**: each test's final record is stored as it finishes; the first result wins
//!   and later ones are counted as duplicates, so every test is counted exactly once.
//!
//! [`WorkQueue`] is the engine-neutral interface; [`redis_store::RedisQueue`] implements it on Redis.
//! The scheduler sees none of this: a queue job runs the leased tests through the same runner
//! and event stream as a static shard.

mod job;
mod lease;
pub mod redis_store;
mod report;
mod types;
mod url;

pub use job::{JobSummary, QueueJob};
pub use lease::LeasePolicy;
pub use report::build_report;
pub use types::{
    Completion, JobId, LeaseGrant, LeaseId, QueueError, QueueRunId, QueueStatus, Seeded,
    StoredResult, list_fingerprint,
};
pub use url::QueueUrl;

use crate::id::TestId;
use std::time::Duration;

/// A shared queue of one run's tests, as every job sees it.
///
/// ```no_run
/// use shardtest::queue::{WorkQueue, JobId, redis_store::RedisQueue, QueueUrl, QueueRunId, LeaseGrant};
/// let url: QueueUrl = "redis://127.0.0.1:6379/0".parse()?;
/// let mut q = RedisQueue::connect(&url, &QueueRunId::new("pipeline-42")?, Default::default())?;
/// let job = JobId::generate();
/// q.seed(&[("pkg t".parse()?, std::time::Duration::from_millis(10))])?;
/// while let LeaseGrant::Tests { lease, tests } = q.lease(&job, 4, &[])? {
///     // run `tests`, then complete each of them ...
///     # let _ = (lease, tests);
///     # break;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait WorkQueue: Send {
    /// Seeds the queue with `tests` (id and predicted duration, any order) if no job has yet;
    /// otherwise checks that the seeded list is the same. Returns what happened.
    fn seed(&mut self, tests: &[(TestId, Duration)]) -> Result<Seeded, QueueError>;

    /// Takes the next lease for `job` running `workers` tests at once. Expired leases go back
    /// into the queue first, and so do leases the queue says `job` owns but that are not in
    /// `held` (the leases the job knows it holds): a lease whose grant the job never saw is
    /// not left to expire.
    fn lease(
        &mut self,
        job: &JobId,
        workers: u32,
        held: &[LeaseId],
    ) -> Result<LeaseGrant, QueueError>;

    /// Extends the deadlines of `leases`; returns the ones that were lost (expired and given
    /// to another job meanwhile).
    fn heartbeat(&mut self, job: &JobId, leases: &[LeaseId]) -> Result<Vec<LeaseId>, QueueError>;

    /// Stores a test's final result; the first result of a test wins.
    fn complete(
        &mut self,
        lease: &LeaseId,
        result: &StoredResult,
    ) -> Result<Completion, QueueError>;

    /// Stores several results in one round trip (as [`WorkQueue::complete`] each).
    fn complete_many(
        &mut self,
        results: &[(LeaseId, StoredResult)],
    ) -> Result<Vec<Completion>, QueueError> {
        results
            .iter()
            .map(|(lease, r)| self.complete(lease, r))
            .collect()
    }

    /// Gives the unstarted tests of a lease back (interrupt, fail-fast) and drops the lease.
    fn release(&mut self, lease: &LeaseId, unstarted: &[TestId]) -> Result<(), QueueError>;

    /// `--fail-fast`: no job takes new work from now on.
    fn stop(&mut self) -> Result<(), QueueError>;

    /// Counts: queued, leased (per job), done, duplicates.
    fn status(&mut self) -> Result<QueueStatus, QueueError>;

    /// Every stored final result, sorted by test id.
    fn results(&mut self) -> Result<Vec<StoredResult>, QueueError>;

    /// Every test the run was seeded with.
    fn seeded_tests(&mut self) -> Result<Vec<TestId>, QueueError>;

    /// Removes every key of the run; returns how many were removed.
    fn delete(&mut self) -> Result<usize, QueueError>;
}
