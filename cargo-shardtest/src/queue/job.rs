//! One job's side of a queue run: a [`WorkSource`] that leases tests for the scheduler,
//! stores each final result, keeps its leases alive from a heartbeat thread, and gives
//! unfinished tests back when the job stops.

use super::WorkQueue;
use super::types::{Completion, JobId, LeaseGrant, LeaseId, QueueError, StoredResult};
use crate::attrs::TestAttributes;
use crate::event::{AttemptRecord, TestStatus};
use crate::id::TestId;
use crate::run::source::{Take, WorkSource};
use crate::schema::TestRecord;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often an idle job asks again while other jobs still hold leases.
const POLL: Duration = Duration::from_millis(200);

/// Results are stored in one round trip per this many (and whenever a lease is finished, the
/// job asks for work, gives work back or ends): one round trip per test cost about 0.25 ms.
const FLUSH_EVERY: usize = 64;

/// What the job saw, for its summary and exit status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobSummary {
    /// Tests this job ran to a final result.
    pub ran: usize,
    /// Of them, results the queue already had from another job (counted once).
    pub duplicates: usize,
    /// The run was stopped by `--fail-fast` (this job's failure or another's).
    pub stopped: bool,
}

/// A queue job as the scheduler's work source.
pub struct QueueJob {
    queue: Box<dyn WorkQueue>,
    job: JobId,
    workers: u32,
    fail_fast: bool,
    index: BTreeMap<TestId, (usize, TestAttributes)>,
    lease_of: BTreeMap<TestId, LeaseId>,
    held: Arc<Mutex<BTreeMap<LeaseId, BTreeSet<TestId>>>>,
    heartbeat: Option<(Sender<()>, JoinHandle<Option<QueueError>>)>,
    error: Option<QueueError>,
    summary: JobSummary,
    /// Final results not yet stored.
    unsent: Vec<(LeaseId, StoredResult)>,
}

impl QueueJob {
    /// A job over the run's `tests` (id and attributes, in the scheduler's index order), with
    /// `workers` workers, leasing from `queue`; `heartbeat` is a second connection to the same
    /// run that renews the leases every `every`.
    pub fn start(
        queue: Box<dyn WorkQueue>,
        mut heartbeat: Box<dyn WorkQueue>,
        every: Duration,
        tests: &[(TestId, TestAttributes)],
        workers: u32,
        fail_fast: bool,
    ) -> QueueJob {
        let job = JobId::generate();
        let held: Arc<Mutex<BTreeMap<LeaseId, BTreeSet<TestId>>>> = Arc::default();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let beat_job = job.clone();
        let beat_held = Arc::clone(&held);
        let handle = std::thread::spawn(move || {
            loop {
                match stop_rx.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return None,
                }
                let leases: Vec<LeaseId> = beat_held
                    .lock()
                    .map(|h| h.keys().cloned().collect())
                    .unwrap_or_default();
                if let Err(e) = heartbeat.heartbeat(&beat_job, &leases) {
                    return Some(e);
                }
            }
        });
        QueueJob {
            queue,
            job,
            workers,
            fail_fast,
            index: tests
                .iter()
                .enumerate()
                .map(|(i, (id, a))| (id.clone(), (i, a.clone())))
                .collect(),
            lease_of: BTreeMap::new(),
            held,
            heartbeat: Some((stop_tx, handle)),
            error: None,
            summary: JobSummary::default(),
            unsent: Vec::new(),
        }
    }

    /// Stores the buffered results in one round trip.
    fn flush(&mut self) {
        if self.unsent.is_empty() || self.error.is_some() {
            return;
        }
        let batch = std::mem::take(&mut self.unsent);
        match self.queue.complete_many(&batch) {
            Ok(outcomes) => {
                self.summary.ran += outcomes.len();
                self.summary.duplicates += outcomes
                    .iter()
                    .filter(|c| **c == Completion::Duplicate)
                    .count();
            }
            Err(e) => {
                self.fail(e);
            }
        }
    }

    /// This job's id.
    pub fn id(&self) -> &JobId {
        &self.job
    }

    /// Stops the heartbeat and returns what the job saw, or the queue error that ended it.
    pub fn finish(mut self) -> Result<JobSummary, QueueError> {
        self.flush();
        if let Some((stop, handle)) = self.heartbeat.take() {
            let _ = stop.send(());
            if let Ok(Some(e)) = handle.join()
                && self.error.is_none()
                && !matches!(e, QueueError::Unavailable { .. })
            {
                // A lost heartbeat connection is only fatal if the main one failed too.
                self.error = Some(e);
            }
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(self.summary.clone()),
        }
    }

    fn fail(&mut self, e: QueueError) -> Take {
        if self.error.is_none() {
            self.error = Some(e);
        }
        Take::Exhausted
    }
}

impl WorkSource for QueueJob {
    fn take(&mut self, _idle: usize) -> Take {
        self.flush();
        if self.error.is_some() || self.summary.stopped {
            return Take::Exhausted;
        }
        let held: Vec<LeaseId> = self
            .held
            .lock()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        match self.queue.lease(&self.job, self.workers, &held) {
            Ok(LeaseGrant::Tests { lease, tests }) => {
                let mut out = Vec::with_capacity(tests.len());
                let mut unknown = Vec::new();
                for t in &tests {
                    match self.index.get(t) {
                        Some((i, _)) => {
                            out.push(*i);
                            self.lease_of.insert(t.clone(), lease.clone());
                        }
                        None => unknown.push(t.to_string()),
                    }
                }
                if !unknown.is_empty() {
                    let _ = self.queue.release(&lease, &tests);
                    return self.fail(QueueError::Unlisted(unknown));
                }
                if let Ok(mut h) = self.held.lock() {
                    h.insert(lease, tests.into_iter().collect());
                }
                Take::Tests(out)
            }
            Ok(LeaseGrant::Wait) => Take::Later(POLL),
            Ok(LeaseGrant::Done) => Take::Exhausted,
            Ok(LeaseGrant::Stopped) => {
                self.summary.stopped = true;
                Take::Exhausted
            }
            Err(e) => self.fail(e),
        }
    }

    fn finished(&mut self, test: &TestId, status: TestStatus, attempts: &[AttemptRecord]) {
        let Some(lease) = self.lease_of.remove(test) else {
            return;
        };
        let attributes = self
            .index
            .get(test)
            .map(|(_, a)| a.clone())
            .unwrap_or_default();
        let critical_failure = status == TestStatus::Failed && !attributes.non_critical;
        let result = StoredResult {
            job: self.job.clone(),
            record: TestRecord {
                id: test.clone(),
                status,
                attributes,
                attempts: attempts.to_vec(),
            },
        };
        self.unsent.push((lease.clone(), result));
        let mut lease_done = false;
        if let Ok(mut h) = self.held.lock()
            && let Some(set) = h.get_mut(&lease)
        {
            set.remove(test);
            if set.is_empty() {
                h.remove(&lease);
                lease_done = true;
            }
        }
        if lease_done || critical_failure || self.unsent.len() >= FLUSH_EVERY {
            self.flush();
        }
        if critical_failure && self.fail_fast && self.error.is_none() {
            self.summary.stopped = true;
            if let Err(e) = self.queue.stop() {
                self.fail(e);
            }
        }
    }

    fn give_back(&mut self, tests: &[TestId]) {
        // Finished tests are stored first, so releasing their leases does not re-queue them.
        self.flush();
        let mut by_lease: BTreeMap<LeaseId, Vec<TestId>> = BTreeMap::new();
        for t in tests {
            if let Some(l) = self.lease_of.remove(t) {
                by_lease.entry(l).or_default().push(t.clone());
            }
        }
        for (lease, tests) in by_lease {
            if self.error.is_none()
                && let Err(e) = self.queue.release(&lease, &tests)
            {
                self.fail(e);
            }
            if let Ok(mut h) = self.held.lock() {
                h.remove(&lease);
            }
        }
    }
}
