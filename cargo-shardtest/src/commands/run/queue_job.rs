//! `--queue`: this job's part in a run shared through a queue. The queue is seeded (or
//! joined) before the first test starts, and its verdict at the end comes before the tests'.

use crate::cli::RunArgs;
use crate::console::say;
use crate::queue::{QueueError, QueueJob};
use crate::run::ShardTest;
use anyhow::Result;
use std::time::Duration;

/// Connects to the queue of `--queue`, seeds it (or joins it) with this job's runnable tests
/// and starts the job's heartbeat.
pub(super) fn start(
    url: &str,
    args: &RunArgs,
    tests: &[ShardTest],
    workers: u32,
) -> Result<QueueJob> {
    use crate::queue::redis_store::{RedisOptions, RedisQueue};
    use crate::queue::{LeasePolicy, Seeded, WorkQueue};
    let target = crate::commands::queue::QueueTarget {
        queue: url.to_string(),
        queue_run: args.queue_run.clone().unwrap_or_default(),
    };
    let (url, run) = target.resolve()?;
    let options = RedisOptions {
        policy: LeasePolicy {
            lease_timeout: args.lease_timeout.max(Duration::from_millis(100)),
            ttl: args.queue_ttl.max(Duration::from_secs(1)),
            retry_for: args.queue_retry,
            ..LeasePolicy::default()
        },
    };
    let every = options.policy.heartbeat_every();
    let failure = |e| anyhow::Error::new(crate::commands::queue::queue_failure(e));
    let mut queue = RedisQueue::connect(&url, &run, options.clone()).map_err(failure)?;
    let runnable: Vec<(crate::id::TestId, Duration)> = tests
        .iter()
        .filter(|t| !t.skip)
        .map(|t| (t.case.id.clone(), t.estimate))
        .collect();
    let seeded = queue.seed(&runnable).map_err(failure)?;
    say!(
        "       Queue run {run} at {url}: {} ({} tests)",
        match seeded {
            Seeded::ByThisJob => "seeded by this job",
            Seeded::Joined => "joined",
        },
        runnable.len()
    );
    let heartbeat = RedisQueue::connect(&url, &run, options).map_err(failure)?;
    let cases: Vec<(crate::id::TestId, crate::attrs::TestAttributes)> = tests
        .iter()
        .map(|t| (t.case.id.clone(), t.case.attributes.clone()))
        .collect();
    Ok(QueueJob::start(
        Box::new(queue),
        Box::new(heartbeat),
        every,
        &cases,
        workers,
        args.fail_fast,
    ))
}

/// What the end of a queue job says about the run, beyond this job's tests.
#[derive(Default)]
pub(super) struct QueueEnd {
    /// The queue was lost: tests may be unrun.
    pub(super) failure: Option<QueueError>,
    /// Another job's failure stopped the run (`--fail-fast`).
    pub(super) stopped_by_fail_fast: bool,
}

/// Ends the queue job, if there is one, and says what this job ran.
pub(super) fn finish(job: Option<QueueJob>) -> QueueEnd {
    let mut end = QueueEnd::default();
    let Some(job) = job else {
        return end;
    };
    match job.finish() {
        Ok(summary) => {
            end.stopped_by_fail_fast = summary.stopped;
            say!(
                "    Queue: this job ran {} tests{}{}",
                summary.ran,
                if summary.duplicates > 0 {
                    format!(
                        " ({} of them also finished by another job after a lease expired; counted once)",
                        summary.duplicates
                    )
                } else {
                    String::new()
                },
                if summary.stopped {
                    "; the run was stopped by --fail-fast"
                } else {
                    ""
                }
            );
        }
        Err(e) => end.failure = Some(e),
    }
    end
}
