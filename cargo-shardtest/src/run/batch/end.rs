//! The end of a batch: once its process has exited, what that says about each of its tests.
//!
//! A batch in which no test began is reported as a whole (timed out at start-up, killed,
//! handed back to run one test per process, or failed at start-up). Otherwise the failures
//! are reported with their logs, the test that was running when the process died has crashed,
//! the passes held back learn whether they leaked, and the tests that never began go back to
//! the scheduler.

use super::super::process::{TAIL_BYTES, kept_log_path, outcome_of, reap_group};
use super::super::{Job, RunnerConfig, ShardTest, TestResult, WorkerMsg};
use super::BatchState;
use crate::event::AttemptOutcome;
use nix::sys::signal::Signal;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::{Instant, SystemTime};

/// One batch being run on a worker slot: what every report about its tests needs.
pub(super) struct Batch<'a> {
    /// The worker slot running it.
    pub(super) slot: u32,
    /// Its tests (narrowed to the ones cargo can select, for doctests) and attempt.
    pub(super) job: &'a Job,
    /// The shard's tests, which `job` indexes.
    pub(super) tests: &'a [ShardTest],
    /// The runner's settings.
    pub(super) config: &'a RunnerConfig,
    /// Where its tests' beginnings and ends go.
    pub(super) tx: &'a Sender<WorkerMsg>,
    /// A doctest batch, run through cargo.
    pub(super) doc: bool,
    /// When its process was started (wall clock).
    pub(super) start_at: SystemTime,
    /// When its process was started (monotonic).
    pub(super) start: Instant,
}

/// How the batch's process ended.
pub(super) struct Exit {
    /// Its exit status as an outcome.
    outcome: AttemptOutcome,
    /// Processes of the batch outlived it (and were killed).
    leaked: bool,
    /// Tests whose processes outlived the batch.
    blamed: BTreeSet<usize>,
    /// The last bytes the process printed.
    recent: String,
    /// The run was stopped (Ctrl-C / SIGTERM).
    interrupted: bool,
}

impl Batch<'_> {
    /// Sends the final result of `test`.
    fn send_ended(&self, test: usize, result: TestResult) {
        let _ = self.tx.send(WorkerMsg::Ended {
            slot: self.slot,
            test,
            attempt: self.job.attempt,
            result,
        });
    }

    /// Reports each of `tests` as having begun and ended at once with `outcome` and `tail`;
    /// with `ran_leaked` (the process ran: whether it leaked) they take the batch's duration.
    pub(super) fn report_unstarted(
        &self,
        tests: &[usize],
        outcome: &AttemptOutcome,
        tail: &str,
        ran_leaked: Option<bool>,
    ) {
        for &test in tests {
            let mut result =
                TestResult::unstarted(outcome.clone(), self.start_at, tail.to_string());
            if let Some(leaked) = ran_leaked {
                (result.duration, result.leaked) = (self.start.elapsed(), leaked);
            }
            super::super::report_at_once(
                self.tx,
                self.slot,
                test,
                self.job.attempt,
                self.start,
                result,
            );
        }
    }

    /// Writes `output` as the kept log of `test`'s attempt; its path, when written.
    fn keep_log(&self, test: usize, output: &str) -> Option<PathBuf> {
        let id = &self.tests[test].case.id;
        let dir = self.config.artifact_dir(id);
        super::super::artifacts::prepare(&dir, id).and_then(|_| {
            let p = kept_log_path(&dir, self.job.attempt);
            std::fs::write(&p, output).ok().map(|_| p)
        })
    }

    /// Settles the exited process `pgid` (whose wait gave `status`): blames the tests whose
    /// processes outlived it, then kills what is left of its group.
    pub(super) fn exit(
        &self,
        st: &mut BatchState<'_>,
        status: std::io::Result<ExitStatus>,
        pgid: i32,
        stop: &AtomicBool,
    ) -> Exit {
        if let Some(cur) = st.current.as_ref().map(|c| c.test) {
            st.note_children(cur);
        }
        // Tests whose processes outlived the batch (checked before the leftovers are killed).
        let blamed: BTreeSet<usize> = st
            .blame
            .iter()
            .filter(|(_, pids)| pids.iter().any(|&p| super::super::leak::is_alive(p)))
            .map(|(&t, _)| t)
            .collect();
        let leaked = reap_group(pgid, self.slot, self.config);
        let outcome = match status {
            Ok(s) => outcome_of(s),
            Err(e) => AttemptOutcome::SpawnFailed {
                message: format!("waiting for the test binary failed: {e}"),
            },
        };
        let recent = std::mem::take(&mut st.recent);
        Exit {
            outcome,
            leaked,
            blamed,
            recent,
            interrupted: stop.load(Ordering::SeqCst),
        }
    }

    /// Reports every test of the batch once its process has exited: `Ended` or, for tests
    /// that never began, `Unrun`.
    pub(super) fn report(&self, mut st: BatchState<'_>, exit: &Exit) {
        if st.done.is_empty() && st.current.is_none() && self.report_nothing_began(exit) {
            return;
        }
        self.report_failed(&mut st, exit);
        // Leftover processes are blamed on the test that was running when the process died,
        // else on the last test that passed.
        let crashed = self.report_crashed(&mut st, exit);
        self.report_passes(&mut st, exit, crashed);
        self.report_unrun(&st, exit, crashed);
    }

    /// For a batch in which no test began, reports it as a whole when its end says why;
    /// returns whether it did.
    fn report_nothing_began(&self, exit: &Exit) -> bool {
        let job = self.job;
        if !exit.interrupted
            && self.config.timeout.is_some()
            && let AttemptOutcome::Crashed { signal, name } = &exit.outcome
            && (*signal == Signal::SIGKILL as i32 || *signal == Signal::SIGTERM as i32)
        {
            // Stopped by the timeout before its first test began (a hang at start-up): the
            // batch's tests time out rather than being handed back to hang again.
            let tail = format!(
                "the test process did not begin its first test within --timeout; it was ended by {name}:\n{}",
                exit.recent
            );
            let outcome = AttemptOutcome::TimedOut {
                signal: name.clone(),
            };
            self.report_unstarted(&job.tests, &outcome, &tail, Some(exit.leaked));
            return true;
        }
        let killed_by_us = matches!(
            exit.outcome,
            AttemptOutcome::Crashed { signal, .. } if signal == Signal::SIGKILL as i32
        );
        if killed_by_us {
            // Killed (Ctrl-C) before its first test began: nothing of it ran.
            let _ = self.tx.send(WorkerMsg::Unrun {
                tests: job.tests.clone(),
                attempt: job.attempt,
                output: None,
            });
            return true;
        }
        if job.tests.len() > 1 && matches!(exit.outcome, AttemptOutcome::Failed { .. }) {
            // Nothing began and the binary exited with an error: it may not take several
            // names (libtest-mimic takes one filter). Run its tests one per process instead.
            let _ = self.tx.send(WorkerMsg::Split {
                tests: job.tests.clone(),
                attempt: job.attempt,
            });
            return true;
        }
        if !exit.outcome.is_pass() {
            // Nothing began: the binary itself failed (bad arguments, a crash at start-up).
            // Report every test of the batch as failed with what it printed, rather than
            // retry forever.
            let tail = format!(
                "the test binary failed before running any test:\n{}",
                exit.recent
            );
            self.report_unstarted(&job.tests, &exit.outcome, &tail, Some(exit.leaked));
            return true;
        }
        false
    }

    /// Reports the tests libtest saw fail, with what they printed and their `failures:`
    /// section.
    fn report_failed(&self, st: &mut BatchState<'_>, exit: &Exit) {
        for (test, duration, started_at, raw) in std::mem::take(&mut st.failed) {
            let mut output = String::from_utf8_lossy(&raw).into_owned();
            if let Some(section) = st.failure_output.remove(&test) {
                output.push_str(&section);
            }
            let result = TestResult {
                outcome: AttemptOutcome::Failed { code: 101 },
                duration,
                started_at,
                leaked: exit.leaked && exit.blamed.contains(&test),
                log: self.keep_log(test, &output),
                output_tail: tail_of(&output),
            };
            self.send_ended(test, result);
        }
    }

    /// Reports the test that was running when the process ended (it crashed, or was killed);
    /// returns whether there was one.
    fn report_crashed(&self, st: &mut BatchState<'_>, exit: &Exit) -> bool {
        let Some(cur) = st.current.take() else {
            return false;
        };
        st.done.insert(cur.test);
        let outcome = match &exit.outcome {
            AttemptOutcome::Passed => AttemptOutcome::Failed { code: 0 },
            other => other.clone(),
        };
        let output = String::from_utf8_lossy(&st.raw).into_owned();
        let result = TestResult {
            outcome,
            duration: cur.began.elapsed(),
            started_at: cur.began_at,
            leaked: exit.leaked && (exit.blamed.is_empty() || exit.blamed.contains(&cur.test)),
            log: self.keep_log(cur.test, &output),
            output_tail: tail_of(&output),
        };
        self.send_ended(cur.test, result);
        true
    }

    /// Reports the passes held back: those that left processes running, then the latest
    /// pass (blamed for leftovers when no test crashed and none is blamed by name).
    fn report_passes(&self, st: &mut BatchState<'_>, exit: &Exit, crashed: bool) {
        for (test, mut result) in std::mem::take(&mut st.suspects) {
            result.leaked = exit.leaked && exit.blamed.contains(&test);
            self.send_ended(test, result);
        }
        if let Some((test, mut result)) = st.held_pass.take() {
            result.leaked =
                exit.leaked && !crashed && (exit.blamed.is_empty() || exit.blamed.contains(&test));
            self.send_ended(test, result);
        }
    }

    /// Hands the tests that never began back to the scheduler, or, when cargo ran a doctest
    /// batch to its end without them, reports them as failed.
    fn report_unrun(&self, st: &BatchState<'_>, exit: &Exit, crashed: bool) {
        let unrun: Vec<usize> = self
            .job
            .tests
            .iter()
            .copied()
            .filter(|t| !st.done.contains(t))
            .collect();
        if unrun.is_empty() {
            return;
        }
        let recent = &exit.recent;
        if self.doc && exit.outcome.is_pass() {
            // cargo finished without running them: running them again would loop forever.
            let tail = format!(
                "`cargo test --doc` ended without running this doctest; the end of its output:\n{recent}"
            );
            let outcome = AttemptOutcome::Failed { code: 0 };
            self.report_unstarted(&unrun, &outcome, &tail, None);
            return;
        }
        let status_text = super::super::process::describe_status(&exit.outcome);
        let _ = self.tx.send(WorkerMsg::Unrun {
            tests: unrun,
            attempt: self.job.attempt,
            // After a crash or a kill of the running test the rest simply did not get their
            // turn; a process that ended on its own without reporting them is suspect.
            output: (!crashed).then(|| {
                format!(
                    "the test process ({status_text}) exited without reporting these tests; the end of its output:\n{recent}"
                )
            }),
        });
    }
}

/// The last [`TAIL_BYTES`] of `text`, saying so when the start was cut.
fn tail_of(text: &str) -> String {
    if text.len() <= TAIL_BYTES as usize {
        return text.to_string();
    }
    let mut cut = text.len() - TAIL_BYTES as usize;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "[... earlier output cut; see the full log ...]\n{}",
        &text[cut..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ShardSpec;
    use std::collections::BTreeMap;
    use std::sync::mpsc::Receiver;

    fn exit(outcome: AttemptOutcome) -> Exit {
        Exit {
            outcome,
            leaked: false,
            blamed: BTreeSet::new(),
            recent: "last words\n".into(),
            interrupted: false,
        }
    }

    /// Runs `f` on a batch of `tests` (indexes only: nothing here reads the shard's tests)
    /// and collects what it sent.
    fn with_batch(tests: Vec<usize>, f: impl FnOnce(&Batch<'_>)) -> Vec<WorkerMsg> {
        let config = RunnerConfig::for_tests("/nonexistent".into(), ShardSpec::WHOLE);
        let job = Job { tests, attempt: 1 };
        let (tx, rx): (Sender<WorkerMsg>, Receiver<WorkerMsg>) = std::sync::mpsc::channel();
        let batch = Batch {
            slot: 0,
            job: &job,
            tests: &[],
            config: &config,
            tx: &tx,
            doc: false,
            start_at: SystemTime::now(),
            start: Instant::now(),
        };
        f(&batch);
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn a_tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail_of("short"), "short");
        let long = format!("é{}", "x".repeat(TAIL_BYTES as usize - 1));
        let tail = tail_of(&long);
        assert!(tail.starts_with("[... earlier output cut; see the full log ...]\n"));
        assert!(tail.ends_with(&"x".repeat(TAIL_BYTES as usize - 1)));
        assert!(!tail.contains('é'));
    }

    #[test]
    fn a_batch_killed_before_its_first_test_is_handed_back_unrun() {
        let killed = AttemptOutcome::Crashed {
            signal: Signal::SIGKILL as i32,
            name: "SIGKILL".into(),
        };
        let msgs = with_batch(vec![3, 4], |b| {
            assert!(b.report_nothing_began(&exit(killed)))
        });
        assert!(matches!(
            msgs.as_slice(),
            [WorkerMsg::Unrun { tests, attempt: 1, output: None }] if *tests == [3, 4]
        ));
    }

    #[test]
    fn a_binary_failing_before_any_test_is_split_or_fails_its_test() {
        let failed = || exit(AttemptOutcome::Failed { code: 2 });
        let msgs = with_batch(vec![3, 4], |b| assert!(b.report_nothing_began(&failed())));
        assert!(matches!(msgs.as_slice(), [WorkerMsg::Split { tests, .. }] if *tests == [3, 4]));
        let msgs = with_batch(vec![3], |b| assert!(b.report_nothing_began(&failed())));
        let [
            WorkerMsg::Began { test: 3, .. },
            WorkerMsg::Ended {
                test: 3, result, ..
            },
        ] = msgs.as_slice()
        else {
            panic!("one test begins and ends");
        };
        assert_eq!(
            result.output_tail,
            "the test binary failed before running any test:\nlast words\n"
        );
        let msgs = with_batch(vec![3], |b| {
            assert!(!b.report_nothing_began(&exit(AttemptOutcome::Passed)));
        });
        assert!(msgs.is_empty(), "a clean exit says nothing by itself");
    }

    #[test]
    fn the_latest_pass_takes_the_leak_unless_a_test_crashed() {
        for crashed in [false, true] {
            let mut st = BatchState::new(0, 1, BTreeMap::new());
            let pass = TestResult::unstarted(AttemptOutcome::Passed, SystemTime::now(), "".into());
            st.held_pass = Some((3, pass));
            let mut end = exit(AttemptOutcome::Passed);
            end.leaked = true;
            let msgs = with_batch(vec![3], |b| b.report_passes(&mut st, &end, crashed));
            assert!(matches!(
                msgs.as_slice(),
                [WorkerMsg::Ended { test: 3, result, .. }] if result.leaked != crashed
            ));
        }
    }
}
