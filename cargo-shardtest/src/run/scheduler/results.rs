//! What the workers report: tests beginning and ending, jobs handed back unrun or split, the
//! worker free again; from that, retries, final statuses, interrupting and failing fast.

use super::{MAX_UNRUN, Scheduler};
use crate::event::{AttemptOutcome, AttemptRecord, EventSink, RunEvent, TestStatus};
use crate::id::TestId;
use crate::run::messages::{Job, WorkerMsg};
use crate::run::test::TestResult;
use nix::sys::signal::Signal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

impl Scheduler<'_, '_> {
    /// Acts on one message from a worker.
    pub(super) fn handle(&mut self, msg: WorkerMsg, consumer: &mut EventSink<'_>) {
        match msg {
            WorkerMsg::Interrupt => self.interrupt(consumer),
            WorkerMsg::Spawned { slot, pgid } => self.spawned(slot, pgid),
            WorkerMsg::Began { slot, test, at } => self.began(slot, test, at, consumer),
            WorkerMsg::Ended {
                slot,
                test,
                attempt,
                result,
            } => self.ended(slot, test, attempt, result, consumer),
            WorkerMsg::Unrun {
                tests,
                attempt,
                output,
            } => self.unrun(tests, attempt, output.as_deref(), consumer),
            WorkerMsg::Split { tests, attempt } => self.split(tests, attempt, consumer),
            WorkerMsg::DocSetup { test, setup } => self.doc_setup(test, setup),
            WorkerMsg::JobDone { slot } => self.job_done(slot),
        }
    }

    /// A job's process started in `slot`; one meant to be killed already is killed now.
    fn spawned(&mut self, slot: u32, pgid: i32) {
        if let Some(r) = self.slots[slot as usize].as_mut() {
            r.pgid = Some(pgid);
            r.spawned_at = Some(Instant::now());
            if r.killed.is_some() {
                crate::run::os::signal_group(pgid, Signal::SIGKILL);
            }
        }
    }

    /// A test of the job in `slot` began at `at`.
    fn began(&mut self, slot: u32, test: usize, at: Instant, consumer: &mut EventSink<'_>) {
        if let Some(r) = self.slots[slot as usize].as_mut() {
            r.current = Some((test, at));
            r.spawned_at = None;
            r.slow_warnings = 0;
            consumer.emit(&RunEvent::TestStarted {
                id: self.tests[test].case.id.clone(),
                attempt: r.job.attempt,
                worker: slot,
            });
        }
    }

    /// Tests handed back unrun (batch mode): queued again in front, or reported as not run
    /// when nothing more starts.
    fn unrun(
        &mut self,
        tests: Vec<usize>,
        attempt: u32,
        output: Option<&str>,
        consumer: &mut EventSink<'_>,
    ) {
        if self.interrupted || self.stopping {
            for t in tests {
                self.outstanding[t] = 0;
                self.emit_finished(t, TestStatus::NotRun, consumer);
            }
            return;
        }
        // A test that keeps coming back unrun (its binary never reports it, whatever
        // the reason) is an error, not a loop.
        let mut again = Vec::new();
        for t in tests {
            let Some(output) = output else {
                again.push(t);
                continue;
            };
            self.unrun[t] += 1;
            if self.unrun[t] > MAX_UNRUN {
                self.give_up_unrun(t, attempt, output, consumer);
            } else {
                again.push(t);
            }
        }
        if !again.is_empty() {
            self.queue.push_front(Job {
                tests: again,
                attempt,
            });
        }
    }

    /// A batch's binary would not run several tests: these go first, one per process, and
    /// so do the queued batches of the same binary.
    fn split(&mut self, tests: Vec<usize>, attempt: u32, consumer: &mut EventSink<'_>) {
        if self.interrupted {
            for t in tests {
                self.outstanding[t] = 0;
                self.emit_finished(t, TestStatus::NotRun, consumer);
            }
            return;
        }
        let Some(&first) = tests.first() else {
            return;
        };
        let binary = self.tests[first].case.id.binary.clone();
        let tests_ref = Arc::clone(&self.tests);
        let of_binary = |j: &Job| {
            j.tests.len() > 1
                && j.tests
                    .iter()
                    .all(|&t| tests_ref[t].case.id.binary == binary)
        };
        let queued: Vec<Job> = self.queue.drain(..).collect();
        for job in queued {
            if of_binary(&job) {
                for t in job.tests {
                    self.queue.push_back(Job {
                        tests: vec![t],
                        attempt: job.attempt,
                    });
                }
            } else {
                self.queue.push_back(job);
            }
        }
        for t in tests.into_iter().rev() {
            self.queue.push_front(Job {
                tests: vec![t],
                attempt,
            });
        }
    }

    /// A doctest batch's start-up, kept for the timings history.
    fn doc_setup(&mut self, test: usize, setup: Duration) {
        let t = &self.tests[test];
        if let Some(doc) = &t.binary.doctest {
            self.outcome.doc_setups.push(crate::schema::DocSetup {
                binary: t.case.id.binary.clone(),
                setup,
                doctests: u32::try_from(doc.names.len()).unwrap_or(u32::MAX),
            });
        }
    }

    /// The worker of `slot` is free: its job's serial keys and groups are released.
    fn job_done(&mut self, slot: u32) {
        if let Some(r) = self.slots[slot as usize].take() {
            self.hold(&r.job, false);
        }
        // The worker goes straight on with the job it was handed in advance.
        if let Some(job) = self.next[slot as usize].take() {
            self.slots[slot as usize] = Some(self.running(job));
        }
    }

    /// Reports a test that was handed back unrun too often as failed with an error.
    fn give_up_unrun(
        &mut self,
        test: usize,
        attempt: u32,
        output: &str,
        consumer: &mut EventSink<'_>,
    ) {
        if self.outstanding[test] == 0 {
            return;
        }
        let id = self.tests[test].case.id.clone();
        consumer.emit(&RunEvent::TestStarted {
            id,
            attempt,
            worker: 0,
        });
        self.attempts[test].push(AttemptRecord {
            attempt,
            outcome: AttemptOutcome::SpawnFailed {
                message: format!(
                    "its test process ended {} times without running it (the binary never reported it); giving up",
                    MAX_UNRUN + 1
                ),
            },
            duration: Duration::ZERO,
            started_at: SystemTime::now(),
            worker: 0,
            leaked: false,
            log: None,
            output_tail: output.to_string(),
        });
        self.outstanding[test] = 0;
        self.emit_finished(test, TestStatus::Failed, consumer);
    }

    fn interrupt(&mut self, consumer: &mut EventSink<'_>) {
        if self.interrupted {
            return;
        }
        self.interrupted = true;
        self.stop.store(true, Ordering::SeqCst);
        for r in self.slots.iter_mut().flatten() {
            r.killed = Some(AttemptOutcome::Interrupted);
            if let Some(pgid) = r.pgid {
                crate::run::os::signal_group(pgid, Signal::SIGKILL);
            }
        }
        self.cancel_pending(consumer);
    }

    /// Reports every queued or delayed test that is not running as not run.
    fn cancel_pending(&mut self, consumer: &mut EventSink<'_>) {
        let mut pending: Vec<usize> = self.queue.drain(..).flat_map(|j| j.tests).collect();
        pending.extend(self.delayed.drain(..).flat_map(|(_, j)| j.tests));
        pending.sort_by(|&a, &b| self.tests[a].case.id.cmp(&self.tests[b].case.id));
        pending.dedup();
        let running: Vec<usize> = self
            .slots
            .iter()
            .flatten()
            .flat_map(|r| r.job.tests.iter().copied())
            .collect();
        if let Some(source) = self.source.as_deref_mut() {
            // Interrupted: the running tests are being killed too. Stopping (`--max-fail`):
            // they finish, and their results still go to the source.
            let given: Vec<usize> = if self.interrupted {
                pending.iter().chain(&running).copied().collect()
            } else {
                pending
                    .iter()
                    .copied()
                    .filter(|t| !running.contains(t))
                    .collect()
            };
            let ids: Vec<TestId> = given
                .iter()
                .map(|&t| self.tests[t].case.id.clone())
                .collect();
            source.give_back(&ids);
        }
        if self.interrupted {
            self.source = None;
        }
        for t in pending {
            // A test with copies still running reports when they end.
            if !running.contains(&t) && self.outstanding[t] > 0 {
                self.outstanding[t] = 0;
                self.emit_finished(t, TestStatus::NotRun, consumer);
            }
        }
    }

    fn emit_finished(&mut self, test: usize, status: TestStatus, consumer: &mut EventSink<'_>) {
        let t = &self.tests[test];
        match status {
            TestStatus::Passed | TestStatus::Flaky => self.outcome.passed += 1,
            TestStatus::Failed if !t.case.attributes.non_critical => self.outcome.failed += 1,
            _ => {}
        }
        let stop_now = !self.stopping
            && self
                .config
                .max_fail
                .is_some_and(|m| self.outcome.failed >= m.max(1) as usize);
        let mut attempts = std::mem::take(&mut self.attempts[test]);
        attempts.sort_by_key(|a| a.attempt);
        if let Some(source) = self.source.as_deref_mut()
            && status != TestStatus::NotRun
        {
            source.finished(&t.case.id, status, &attempts);
        }
        consumer.emit(&RunEvent::TestFinished {
            id: t.case.id.clone(),
            status,
            attempts,
            attributes: t.case.attributes.clone(),
        });
        if stop_now {
            // Fail fast: the running tests finish; nothing else starts.
            self.stopping = true;
            self.stop.store(true, Ordering::SeqCst);
            self.cancel_pending(consumer);
        }
    }

    /// A test's attempt ended in `slot`: recorded, then the test is retried, waits for its
    /// other copies (repeat mode) or gets its final status.
    fn ended(
        &mut self,
        slot: u32,
        test: usize,
        attempt: u32,
        out: TestResult,
        consumer: &mut EventSink<'_>,
    ) {
        let record = self.record_of(slot, test, attempt, out);
        if self.outstanding[test] == 0 {
            return; // already reported (interrupted)
        }
        self.attempts[test].push(record.clone());
        if self.config.repeat > 1 {
            self.repeat_ended(test, consumer);
        } else {
            self.attempt_ended(test, attempt, record, consumer);
        }
    }

    /// The record of an attempt as the worker reported it, with the reason the scheduler
    /// killed it (if it did) instead of the signal it died of.
    fn record_of(
        &mut self,
        slot: u32,
        test: usize,
        attempt: u32,
        out: TestResult,
    ) -> AttemptRecord {
        let mut killed = None;
        if let Some(r) = self.slots[slot as usize].as_mut()
            && r.current.map(|(t, _)| t) == Some(test)
        {
            killed = r.killed.take();
            r.current = None;
        }
        // A process we killed reports SIGKILL; say why we killed it. A timed-out test that
        // exited on SIGTERM in its own way (a handler, exit code) still timed out.
        let outcome = match (killed, out.outcome) {
            (Some(t @ AttemptOutcome::TimedOut { .. }), _) => t,
            (Some(reason), AttemptOutcome::Crashed { .. }) => reason,
            (_, o) => o,
        };
        AttemptRecord {
            attempt,
            outcome,
            duration: out.duration,
            started_at: out.started_at,
            worker: slot,
            leaked: out.leaked,
            log: out.log,
            output_tail: out.output_tail,
        }
    }

    /// Repeat mode: one copy of `test` ended; once the last one has, the test is passed (all
    /// passed), flaky (some did), not run (all interrupted) or failed.
    fn repeat_ended(&mut self, test: usize, consumer: &mut EventSink<'_>) {
        self.outstanding[test] -= 1;
        if self.outstanding[test] == 0 {
            let runs = &self.attempts[test];
            let passes = runs.iter().filter(|a| a.outcome.is_pass()).count();
            let status = if passes == runs.len() {
                TestStatus::Passed
            } else if passes > 0 {
                TestStatus::Flaky
            } else if self.interrupted
                && runs
                    .iter()
                    .all(|a| a.outcome == AttemptOutcome::Interrupted)
            {
                TestStatus::NotRun
            } else {
                TestStatus::Failed
            };
            self.emit_finished(test, status, consumer);
        }
    }

    /// Attempt `attempt` of `test` ended as `record` says: the test passed (flaky after a
    /// retry), was interrupted, is retried after its backoff, or failed.
    fn attempt_ended(
        &mut self,
        test: usize,
        attempt: u32,
        record: AttemptRecord,
        consumer: &mut EventSink<'_>,
    ) {
        let passed = record.outcome.is_pass();
        let interrupted = record.outcome == AttemptOutcome::Interrupted;
        let t = &self.tests[test];
        let max_attempts = 1 + self
            .config
            .retries
            .max(t.case.attributes.flaky.as_ref().map_or(0, |f| f.retries));
        if passed {
            let status = if attempt > 1 {
                TestStatus::Flaky
            } else {
                TestStatus::Passed
            };
            self.outstanding[test] = 0;
            self.emit_finished(test, status, consumer);
        } else if interrupted {
            self.outstanding[test] = 0;
            self.emit_finished(test, TestStatus::NotRun, consumer);
        } else if attempt < max_attempts && !self.interrupted && !self.stopping {
            let backoff = t
                .case
                .attributes
                .flaky
                .as_ref()
                .map_or(self.config.retry_backoff, |f| f.backoff_before(attempt));
            consumer.emit(&RunEvent::TestRetrying {
                id: t.case.id.clone(),
                failed: record,
                backoff,
            });
            self.delayed.push((
                Instant::now() + backoff,
                Job {
                    tests: vec![test],
                    attempt: attempt + 1,
                },
            ));
        } else {
            self.outstanding[test] = 0;
            self.emit_finished(test, TestStatus::Failed, consumer);
        }
    }
}
