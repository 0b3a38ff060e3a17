//! One search trial: a [`ConfigKind::Pair`] or [`ConfigKind::Bisect`] run of a suspect with
//! some other tests ([`TrialRun`]), repeated, priced and skipped like any configuration, and
//! recorded in the configuration list. It counts the suspect's runs and failures, and keeps
//! every test's counts of the last trial (so a pair search sees whether the other test of
//! the pair failed too).

use super::auditor::Auditor;
use super::error::AuditError;
use super::inproc::InProcessSpec;
use super::kind::ConfigKind;
use super::report::{ConfigRun, ConfigStatus};
use crate::id::TestId;
use crate::list::TestBinary;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a search trial runs its tests.
pub(super) enum TrialRun {
    /// One process per test, the tests started in this order on `workers` slots.
    Process {
        /// The start order, the suspect among them.
        order: Vec<TestId>,
        /// Worker slots.
        workers: u32,
    },
    /// The tests of one binary in one process.
    InProcess {
        /// The binary.
        binary: Arc<TestBinary>,
        /// The tests it runs, the suspect among them.
        names: Vec<TestId>,
        /// Test threads (`None`: libtest's default).
        threads: Option<u32>,
    },
}

/// A trial to make: what to run, how often, and how it is shown and priced.
pub(super) struct TrialPlan<'h> {
    /// [`ConfigKind::Pair`] or [`ConfigKind::Bisect`].
    pub(super) kind: ConfigKind,
    /// The label of its configuration record.
    pub(super) label: String,
    /// What each repetition runs.
    pub(super) how: &'h TrialRun,
    /// Repetitions at most.
    pub(super) reps: u32,
    /// Stop as soon as a majority of failures can no longer be reached.
    pub(super) settle: bool,
    /// The estimated time of all repetitions.
    pub(super) estimate: Duration,
}

/// What one repetition of a trial showed.
enum Rep {
    /// The audit must stop (Ctrl-C, the budget): why.
    Stopped(String),
    /// The suspect did not report.
    Silent,
    /// The suspect passed (`true`) or failed.
    Passed(bool),
}

impl Auditor<'_> {
    /// Makes the trial `plan` for `suspect`: runs it up to `plan.reps` times and counts the
    /// suspect's runs and failures. `Err` is why the trial was not made (or was stopped).
    pub(super) fn trial(
        &mut self,
        suspect: &TestId,
        plan: TrialPlan<'_>,
    ) -> Result<Result<(u32, u32), String>, AuditError> {
        let workers = match plan.how {
            TrialRun::Process { workers, .. } => *workers,
            TrialRun::InProcess { threads, .. } => threads.unwrap_or(0),
        };
        let mut record = self.new_record(plan.kind, plan.label, workers, plan.reps);
        record.only = Some(suspect.clone());
        record.estimate = plan.estimate;
        if let Some(reason) = self.skip_reason(plan.estimate, false) {
            self.push_skipped(record, reason.clone());
            return Ok(Err(reason));
        }
        let majority = plan.reps / 2 + 1;
        let started = Instant::now();
        let (mut runs, mut failures) = (0u32, 0u32);
        let mut halted = None;
        self.last_trial.clear();
        for rep in 1..=plan.reps {
            let passed = match self.trial_rep(plan.how, suspect, &mut record, rep)? {
                Rep::Stopped(why) => {
                    halted = Some(why);
                    break;
                }
                Rep::Silent => continue,
                Rep::Passed(passed) => passed,
            };
            runs += 1;
            if !passed {
                failures += 1;
            }
            if plan.settle && runs - failures > plan.reps - majority {
                break;
            }
        }
        record.elapsed = started.elapsed();
        if let Some(why) = &halted {
            record.status = ConfigStatus::Stopped {
                reason: why.clone(),
            };
        }
        self.push_done(record);
        Ok(match halted {
            Some(why) => Err(why),
            None => Ok((runs, failures)),
        })
    }

    /// One repetition of a trial, counted into `record` and the last trial's counts.
    fn trial_rep(
        &mut self,
        how: &TrialRun,
        suspect: &TestId,
        record: &mut ConfigRun,
        rep: u32,
    ) -> Result<Rep, AuditError> {
        match how {
            TrialRun::Process { order, workers } => {
                self.process_rep(order, *workers, suspect, record, rep)
            }
            TrialRun::InProcess {
                binary,
                names,
                threads,
            } => self.in_process_rep(binary, names, *threads, suspect, record),
        }
    }

    /// One repetition with one process per test, through the runner's scheduler.
    fn process_rep(
        &mut self,
        order: &[TestId],
        workers: u32,
        suspect: &TestId,
        record: &mut ConfigRun,
        rep: u32,
    ) -> Result<Rep, AuditError> {
        let (kind, number) = (record.kind, record.number);
        let idx: Vec<usize> = order.iter().filter_map(|id| self.index_of(id)).collect();
        let slug = format!("audit-{number:02}-{kind:?}-{rep}").to_lowercase();
        let (tests, config) = self.configure(kind, &idx, &slug, workers, 1);
        let (report, _, stopped) = self.execute(tests, &config, false)?;
        if let Some(why) = stopped {
            return Ok(Rep::Stopped(why));
        }
        let attempt = report.as_ref().and_then(|r| {
            r.tests
                .iter()
                .find(|t| &t.id == suspect)
                .and_then(|t| t.attempts.first().cloned())
        });
        for t in report.iter().flat_map(|r| r.tests.iter()) {
            let c = self.last_trial.entry(t.id.clone()).or_default();
            for a in &t.attempts {
                c.0 += 1;
                c.1 += u32::from(!a.outcome.is_pass());
            }
            record.attempts += t.attempts.len();
            record.failures += t.attempts.iter().filter(|a| !a.outcome.is_pass()).count();
        }
        Ok(match attempt {
            Some(a) => Rep::Passed(a.outcome.is_pass()),
            None => Rep::Silent,
        })
    }

    /// One repetition with the tests in one process of their binary.
    fn in_process_rep(
        &mut self,
        binary: &TestBinary,
        names: &[TestId],
        threads: Option<u32>,
        suspect: &TestId,
        record: &mut ConfigRun,
    ) -> Result<Rep, AuditError> {
        let spec = InProcessSpec {
            threads,
            shuffle_seed: None,
            extra_args: self.base.extra_args.clone(),
            timeout: self.process_timeout(names),
        };
        let (run, stopped) = self.run_in_process(binary, names, &spec)?;
        if let Some(why) = stopped {
            return Ok(Rep::Stopped(why));
        }
        record.attempts += run.results.len();
        record.failures += run.results.values().filter(|r| !r.passed).count();
        for id in names {
            if let Some(r) = run.results.get(id.name.as_str()) {
                let c = self.last_trial.entry(id.clone()).or_default();
                c.0 += 1;
                c.1 += u32::from(!r.passed);
            }
        }
        Ok(match run.results.get(suspect.name.as_str()) {
            Some(r) => Rep::Passed(r.passed),
            None => Rep::Silent,
        })
    }
}
