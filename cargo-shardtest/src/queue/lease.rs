//! How much work one lease holds. A long test is leased alone; short ones are batched so the
//! queue's round trips stay a small share of the work (by predicted work, and by count: at
//! least an eighth of a worker's fair share of the queued tests, so guessed estimates still
//! give leases worth a process start); near the end of the queue leases shrink to single
//! tests so the jobs finish together.

use std::time::Duration;

/// The lease-size policy and the lease deadline.
///
/// ```
/// use shardtest::queue::LeasePolicy;
/// use std::time::Duration;
/// let p = LeasePolicy::default();
/// // Early on, with plenty of work left, a lease may hold up to `max_work` of tests.
/// assert_eq!(p.work_cap(Duration::from_secs(3600), 2, 4), p.max_work);
/// // Near the end it shrinks to (about) one test.
/// assert!(p.work_cap(Duration::from_millis(100), 2, 4) < Duration::from_millis(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeasePolicy {
    /// Most predicted work in one lease.
    pub max_work: Duration,
    /// Most tests in one lease.
    pub max_tests: u32,
    /// A lease expires this long after its last heartbeat.
    pub lease_timeout: Duration,
    /// How long a job retries an unreachable queue before failing.
    pub retry_for: Duration,
    /// Keys of the run expire after this long.
    pub ttl: Duration,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        LeasePolicy {
            max_work: Duration::from_secs(2),
            max_tests: 1024,
            lease_timeout: Duration::from_secs(15),
            retry_for: Duration::from_secs(30),
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

impl LeasePolicy {
    /// The most predicted work a lease may hold when `remaining` work is queued and `jobs`
    /// jobs of `workers` workers each take from it: at most a quarter of a worker's fair
    /// share of what is left, so the last leases are small, and never more than `max_work`.
    pub fn work_cap(&self, remaining: Duration, jobs: u32, workers: u32) -> Duration {
        let share = remaining / (4 * jobs.max(1) * workers.max(1));
        share.min(self.max_work)
    }

    /// How often a job renews its leases: a third of the lease timeout, so two heartbeats may
    /// be missed before a lease expires.
    pub fn heartbeat_every(&self) -> Duration {
        (self.lease_timeout / 3).max(Duration::from_millis(50))
    }
}
