//! Which job starts where: the queue and the delayed retries, serial keys and group limits,
//! worker slots, short batches handed over in advance, and more work from the source.

use super::{Running, Scheduler};
use crate::run::config::Isolation;
use crate::run::jobs::make_jobs;
use crate::run::messages::Job;
use crate::run::source;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Jobs predicted to take at most this long may be handed to a worker in advance
/// ([`Scheduler::prefetch`]).
const PREFETCH_MAX: Duration = Duration::from_millis(50);

impl Scheduler<'_, '_> {
    /// Asks the work source for tests when the scheduler's own queue is empty and a worker
    /// is idle (and the source did not ask to wait).
    pub(super) fn refill(&mut self) {
        if self.interrupted || self.stopping || !self.queue.is_empty() || !self.delayed.is_empty() {
            return;
        }
        if self.source_wait.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let idle = self.slots.iter().filter(|s| s.is_none()).count();
        let Some(source) = self.source.as_deref_mut() else {
            return;
        };
        if idle == 0 {
            return;
        }
        self.source_wait = None;
        match source.take(idle) {
            source::Take::Tests(tests) => {
                let tests: Vec<usize> = tests
                    .into_iter()
                    .filter(|&t| t < self.tests.len() && !self.tests[t].skip)
                    .collect();
                for &t in &tests {
                    self.outstanding[t] = 1;
                }
                let jobs = make_jobs(&self.tests, &tests, self.config, 1);
                self.queue.extend(jobs);
            }
            source::Take::Later(d) => self.source_wait = Some(Instant::now() + d),
            source::Take::Exhausted => self.source = None,
        }
    }

    pub(super) fn release_delayed(&mut self, now: Instant) {
        if self.delayed.is_empty() {
            return;
        }
        let mut ready: Vec<(Instant, Job)> = Vec::new();
        self.delayed.retain(|(t, j)| {
            if *t <= now {
                ready.push((*t, j.clone()));
                false
            } else {
                true
            }
        });
        ready.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.tests.cmp(&b.1.tests)));
        // Retries go to the front: they are already late.
        for (_, job) in ready.into_iter().rev() {
            self.queue.push_front(job);
        }
    }

    fn allowed(&self, job: &Job) -> bool {
        job.tests.iter().all(|&i| {
            let attrs = &self.tests[i].case.attributes;
            let serial_ok = attrs
                .serial
                .as_ref()
                .is_none_or(|k| self.serial_busy.get(k).copied().unwrap_or(0) == 0);
            let group_ok = attrs
                .group
                .as_ref()
                .is_none_or(|g| self.group_busy.get(&g.name).copied().unwrap_or(0) < g.max.max(1));
            serial_ok && group_ok
        })
    }

    /// Worker slots `job` takes: the most any of its tests needs (1 for plain tests).
    fn slots_of(&self, job: &Job) -> u32 {
        let w = self.config.workers;
        job.tests
            .iter()
            .map(|&i| self.tests[i].case.attributes.slots(w))
            .max()
            .unwrap_or(1)
    }

    /// Worker slots taken by the running jobs.
    fn slots_in_use(&self) -> u32 {
        self.slots
            .iter()
            .flatten()
            .map(|r| self.slots_of(&r.job))
            .sum()
    }

    pub(super) fn hold(&mut self, job: &Job, take: bool) {
        for &i in &job.tests {
            let attrs = &self.tests[i].case.attributes;
            if let Some(key) = &attrs.serial {
                let n = self.serial_busy.entry(key.clone()).or_default();
                *n = if take { *n + 1 } else { n.saturating_sub(1) };
            }
            if let Some(g) = &attrs.group {
                let n = self.group_busy.entry(g.name.clone()).or_default();
                *n = if take { *n + 1 } else { n.saturating_sub(1) };
            }
        }
    }

    pub(super) fn dispatch(&mut self, jobs: &[Sender<Job>]) {
        if self.interrupted || self.stopping {
            return;
        }
        for (slot, worker) in jobs.iter().enumerate().take(self.slots.len()) {
            if self.slots[slot].is_some() {
                continue;
            }
            let Some(pos) = self.queue.iter().position(|j| self.allowed(j)) else {
                return;
            };
            // Worker slots (`#[shard::threads(N)]`, nextest's threads-required): never more
            // than W in use; the first startable job waits for its slots and nothing behind it
            // starts meanwhile, so a heavy test is never starved.
            if self.slots_in_use() + self.slots_of(&self.queue[pos]) > self.config.workers.max(1) {
                break;
            }
            let Some(job) = self.queue.remove(pos) else {
                return;
            };
            self.hold(&job, true);
            self.slots[slot] = Some(self.running(job.clone()));
            if worker.send(job).is_err() {
                // The worker thread is gone; nothing more can run.
                self.interrupted = true;
                return;
            }
        }
        self.prefetch(jobs);
    }

    /// Hands a busy worker its next job in advance when both its running job and that job
    /// are short batches of plain tests, so it starts the next process without waiting for
    /// the scheduler to go through the burst of results the last one produced (in batch mode
    /// that wait was a millisecond or more per batch). Long jobs are never handed over early:
    /// a job waiting behind a long one could leave another worker idle at the end.
    fn prefetch(&mut self, jobs: &[Sender<Job>]) {
        if self.config.isolation != Isolation::Batch {
            return;
        }
        for (slot, worker) in jobs.iter().enumerate().take(self.slots.len()) {
            let ready =
                self.next[slot].is_none() && self.slots[slot].as_ref().is_some_and(|r| r.short);
            if !ready || !self.queue.front().is_some_and(|j| self.is_short(j)) {
                continue;
            }
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            self.hold(&job, true);
            self.next[slot] = Some(job.clone());
            if worker.send(job).is_err() {
                self.interrupted = true;
                return;
            }
        }
    }

    /// Whether `job` is a batch of plain tests predicted to take at most [`PREFETCH_MAX`]
    /// (the sum stops as soon as it is over: this runs whenever a worker could be handed a
    /// job early).
    fn is_short(&self, job: &Job) -> bool {
        let tests = &self.tests;
        job.tests.len() > 1
            && job
                .tests
                .iter()
                .try_fold(Duration::ZERO, |sum, &i| {
                    Some(sum + tests[i].estimate).filter(|s| *s <= PREFETCH_MAX)
                })
                .is_some()
            && job
                .tests
                .iter()
                .all(|&i| tests[i].case.attributes.is_plain())
    }

    /// The record of `job` starting in a slot.
    pub(super) fn running(&self, job: Job) -> Running {
        Running {
            short: self.is_short(&job),
            job,
            pgid: None,
            current: None,
            slow_warnings: 0,
            killed: None,
            term_at: None,
            spawned_at: None,
        }
    }
}
