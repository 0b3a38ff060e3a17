//! The scheduler: on the calling thread, it hands jobs to the worker slots and follows what
//! they report. [`Scheduler`] holds the run's state; its work is split by concern:
//! [`dispatch`] (which job starts where, serial keys, group limits, worker slots, early
//! hand-over, the work source), [`deadlines`] (slow-test warnings, timeouts) and [`results`]
//! (the workers' messages, retries, final statuses, interrupting and failing fast).

mod deadlines;
mod dispatch;
mod results;

use super::config::RunnerConfig;
use super::driver::RunOutcome;
use super::messages::{Job, WorkerMsg};
use super::source;
use super::test::ShardTest;
use crate::event::{AttemptOutcome, AttemptRecord, EventSink};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::Instant;

/// A job in a worker slot.
struct Running {
    job: Job,
    /// The job may have its successor handed over early ([`Scheduler::is_short`]).
    short: bool,
    pgid: Option<i32>,
    current: Option<(usize, Instant)>,
    slow_warnings: u32,
    killed: Option<AttemptOutcome>,
    /// When a timeout's SIGTERM was sent (SIGKILL follows after the grace period).
    term_at: Option<Instant>,
    /// When the job's process started, until its first test begins: a batch that never
    /// begins its first test times out from here.
    spawned_at: Option<Instant>,
}

impl Running {
    /// The test running and since when; before the job's first test began, `usize::MAX`
    /// since the process started.
    fn clock(&self) -> Option<(usize, Instant)> {
        self.current.or(self.spawned_at.map(|s| (usize::MAX, s)))
    }
}

/// How many times a test may be handed back unrun by a batch process before it is reported
/// as an error instead of queued again.
pub const MAX_UNRUN: u32 = 3;

/// The state of one shard run, driven by [`Scheduler::event_loop`].
pub(super) struct Scheduler<'a, 's> {
    tests: Arc<Vec<ShardTest>>,
    config: &'a RunnerConfig,
    queue: VecDeque<Job>,
    delayed: Vec<(Instant, Job)>,
    slots: Vec<Option<Running>>,
    /// Per slot, a short batch already handed to its worker to start as soon as the
    /// running job ends (see [`Scheduler::prefetch`]).
    next: Vec<Option<Job>>,
    /// Tells the workers not to start the jobs they hold (set on interrupt).
    stop: Arc<AtomicBool>,
    serial_busy: BTreeMap<crate::attrs::SerialKey, usize>,
    group_busy: BTreeMap<String, u32>,
    attempts: Vec<Vec<AttemptRecord>>,
    /// Attempts still outstanding per test (repeat mode runs several at once).
    outstanding: Vec<u32>,
    /// How often each test was handed back unrun (batch mode).
    unrun: Vec<u32>,
    interrupted: bool,
    /// `max_fail` was reached: nothing more starts.
    stopping: bool,
    outcome: RunOutcome,
    /// Where more work comes from, if anywhere (a shared queue); `None` once exhausted.
    source: Option<&'s mut dyn source::WorkSource>,
    /// When to ask the source again after it said "later".
    source_wait: Option<Instant>,
}

impl<'a, 's> Scheduler<'a, 's> {
    /// A scheduler for `tests` with `queue` to run (empty with a `source`) and `outstanding`
    /// attempts per test, over `config.workers` (at least one) slots.
    pub(super) fn new(
        tests: Arc<Vec<ShardTest>>,
        config: &'a RunnerConfig,
        queue: VecDeque<Job>,
        outstanding: Vec<u32>,
        stop: Arc<AtomicBool>,
        source: Option<&'s mut dyn source::WorkSource>,
    ) -> Self {
        let workers = config.workers.max(1);
        Scheduler {
            attempts: vec![Vec::new(); tests.len()],
            unrun: vec![0; tests.len()],
            outstanding,
            tests,
            config,
            queue,
            delayed: Vec::new(),
            slots: (0..workers).map(|_| None).collect(),
            next: (0..workers).map(|_| None).collect(),
            stop,
            serial_busy: BTreeMap::new(),
            group_busy: BTreeMap::new(),
            interrupted: false,
            stopping: false,
            outcome: RunOutcome::default(),
            source,
            source_wait: None,
        }
    }

    /// What the run amounted to, once [`Scheduler::event_loop`] returned.
    pub(super) fn into_outcome(mut self) -> RunOutcome {
        self.outcome.interrupted = self.interrupted;
        self.outcome
    }

    /// Schedules, waits for the workers' messages and deadlines, and returns once nothing is
    /// running or left to start.
    pub(super) fn event_loop(
        &mut self,
        rx: &Receiver<WorkerMsg>,
        jobs: &[Sender<Job>],
        consumer: &mut EventSink<'_>,
    ) {
        loop {
            self.release_delayed(Instant::now());
            self.refill();
            self.dispatch(jobs);
            let running = self.slots.iter().any(Option::is_some);
            let more_to_come = self.source.is_some() && !self.stopping && !self.interrupted;
            if !running && self.queue.is_empty() && self.delayed.is_empty() && !more_to_come {
                return;
            }
            consumer.flush();
            let wait = [self.next_deadline(), self.source_wait]
                .into_iter()
                .flatten()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let msg = match wait {
                Some(w) => match rx.recv_timeout(w) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            };
            if let Some(msg) = msg {
                self.handle(msg, consumer);
                // Drain what else is waiting before scheduling again (cheap under load).
                while let Ok(m) = rx.try_recv() {
                    self.handle(m, consumer);
                }
            }
            self.check_deadlines(consumer);
        }
    }
}
