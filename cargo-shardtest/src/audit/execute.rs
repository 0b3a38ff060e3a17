//! Running one configuration of the audit: through the runner's scheduler
//! ([`crate::run::run_shard`], under the budget's watchdog) or, for the in-process kinds,
//! every binary directly in one process ([`super::inproc`]); then counting every attempt
//! into the tallies and keeping what the searches need later (the spans of parallel runs,
//! the start orders of `-j1` runs).

use super::auditor::Auditor;
use super::culprit::Span;
use super::error::AuditError;
use super::inproc::{self, InProcessRun, InProcessSpec};
use super::kind::ConfigKind;
use super::report::{ConfigRun, ConfigStatus};
use crate::event::AttemptOutcome;
use crate::id::TestId;
use crate::list::TestBinary;
use crate::report::json::{JsonReport, JsonReportBuilder};
use crate::run::{self, RunnerConfig, ShardTest};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

impl Auditor<'_> {
    /// Runs one configuration (or records why it was skipped).
    pub(super) fn run_config(
        &mut self,
        kind: ConfigKind,
        only: Option<TestId>,
        estimate: Duration,
        baseline: bool,
    ) -> Result<(), AuditError> {
        let record = self.config_record(kind, only, estimate, baseline);
        if let Some(reason) = self.skip_reason(estimate, baseline) {
            self.push_skipped(record, reason);
            return Ok(());
        }
        if kind.is_direct() {
            return self.run_direct(record);
        }
        self.run_scheduled(record, baseline)
    }

    /// The record of a configuration of `kind`: its workers, repeats and label.
    fn config_record(
        &self,
        kind: ConfigKind,
        only: Option<TestId>,
        estimate: Duration,
        baseline: bool,
    ) -> ConfigRun {
        let workers = match kind {
            ConfigKind::Parallel => self.opts.max_workers.max(2),
            ConfigKind::InProcess => 0,
            _ => 1,
        };
        let repeat = if kind == ConfigKind::Alone {
            self.opts.repeat.max(1)
        } else {
            1
        };
        let mut label = kind.describe(self.opts.max_workers.max(2), self.opts.seed);
        if let Some(id) = &only {
            label = format!("alone x{repeat}: {id}");
        } else if kind == ConfigKind::Parallel && baseline {
            label.push_str(" (baseline)");
        }
        let mut record = self.new_record(kind, label, workers, repeat);
        record.only = only;
        record.estimate = estimate;
        record
    }

    /// Runs a configuration through the runner's scheduler, in the order of its kind.
    fn run_scheduled(&mut self, mut record: ConfigRun, baseline: bool) -> Result<(), AuditError> {
        let (kind, number) = (record.kind, record.number);
        let order = self.start_order(kind, record.only.as_ref());
        let slug = format!("audit-{number:02}-{kind:?}").to_lowercase();
        let (tests, config) = self.configure(kind, &order, &slug, record.workers, record.repeat);
        let (report, elapsed, stopped) = self.execute(tests, &config, baseline)?;
        record.elapsed = elapsed;
        if let Some(why) = stopped {
            record.status = ConfigStatus::Stopped { reason: why };
        }
        if let Some(report) = report {
            self.count_report(&mut record, &report, baseline);
        }
        self.push_done(record);
        Ok(())
    }

    /// Counts every attempt of a scheduled run that ended (the baseline's durations too) and
    /// keeps the spans of a parallel run, or the start order of a full `-j1` run.
    fn count_report(&mut self, record: &mut ConfigRun, report: &JsonReport, baseline: bool) {
        let (kind, number) = (record.kind, record.number);
        let mut spans = Vec::new();
        for t in &report.tests {
            for a in &t.attempts {
                if a.outcome == AttemptOutcome::Interrupted {
                    continue;
                }
                record.attempts += 1;
                if baseline {
                    self.durations.insert(t.id.clone(), a.duration);
                }
                let tail = if a.outcome.is_pass() {
                    String::new()
                } else if a.output_tail.trim().is_empty() {
                    crate::event::describe(&a.outcome)
                } else {
                    a.output_tail.clone()
                };
                if !a.outcome.is_pass() {
                    record.failures += 1;
                }
                self.tally(&t.id, kind, number, a.outcome.is_pass(), &tail);
                spans.push(Span {
                    id: t.id.clone(),
                    start: a.started_at,
                    duration: a.duration,
                    passed: a.outcome.is_pass(),
                });
            }
        }
        if kind == ConfigKind::Parallel {
            self.spans.push((number, spans));
        } else if record.workers == 1
            && record.only.is_none()
            && ConfigKind::SERIAL_ORDERS.contains(&kind)
        {
            spans.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
            self.orders
                .insert(number, (kind, spans.into_iter().map(|s| s.id).collect()));
        }
    }

    /// Runs a configuration of [`ConfigKind::is_direct`] kind: every binary's tests in one
    /// process, one binary after the other.
    fn run_direct(&mut self, mut record: ConfigRun) -> Result<(), AuditError> {
        let kind = record.kind;
        let mut spec = InProcessSpec {
            threads: (kind != ConfigKind::InProcess).then_some(1),
            shuffle_seed: (kind == ConfigKind::InProcessShuffled).then_some(self.opts.seed),
            extra_args: self.base.extra_args.clone(),
            timeout: None,
        };
        let started = Instant::now();
        for (bin_id, binary) in self.binaries() {
            let ids: Vec<TestId> = self
                .tests
                .iter()
                .filter(|t| {
                    !t.skip
                        && t.binary.id == bin_id
                        && !crate::list::is_whole_binary(t.case.id.name.as_str())
                })
                .map(|t| t.case.id.clone())
                .collect();
            spec.timeout = self.process_timeout(&ids);
            let (run, stopped) = self.run_in_process(&binary, &ids, &spec)?;
            for id in &ids {
                let Some(r) = run.results.get(id.name.as_str()) else {
                    continue;
                };
                record.attempts += 1;
                if !r.passed {
                    record.failures += 1;
                }
                self.tally(id, kind, record.number, r.passed, &r.output);
            }
            if let Some(why) = stopped {
                record.status = ConfigStatus::Stopped { reason: why };
                break;
            }
        }
        record.elapsed = started.elapsed();
        self.push_done(record);
        Ok(())
    }

    /// One in-process run of `ids` (all of `binary`), watched for the budget and Ctrl-C.
    /// Returns the run and, when the audit must stop, why.
    pub(super) fn run_in_process(
        &mut self,
        binary: &TestBinary,
        ids: &[TestId],
        spec: &InProcessSpec,
    ) -> Result<(InProcessRun, Option<String>), AuditError> {
        let names: Vec<&str> = ids.iter().map(|id| id.name.as_str()).collect();
        let deadline = self.remaining().map(|left| Instant::now() + left);
        let interrupter = self.interrupter.clone();
        let stop = move || {
            if interrupter.is_interrupted() {
                Some("interrupted (Ctrl-C)".to_string())
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some("the budget ran out".to_string())
            } else {
                None
            }
        };
        let run = inproc::run_in_process(binary, &names, spec, &stop).map_err(|source| {
            AuditError::RunDir {
                path: binary.path.clone(),
                source,
            }
        })?;
        let halted = match &run.stopped {
            Some(why) if why.starts_with("interrupted") => {
                self.ctrl_c = true;
                Some(why.clone())
            }
            Some(why) if why.starts_with("the budget") => Some(why.clone()),
            _ => None,
        };
        if let Some(why) = &halted {
            self.stopped = Some(why.clone());
        }
        Ok((run, halted))
    }

    /// Runs `tests` with `config` under the budget's watchdog (unless `exempt`). Returns the
    /// run's report, its wall time, and why it was stopped, if it was.
    pub(super) fn execute(
        &mut self,
        tests: Vec<ShardTest>,
        config: &RunnerConfig,
        exempt: bool,
    ) -> Result<(Option<JsonReport>, Duration, Option<String>), AuditError> {
        let mut json = JsonReportBuilder::new(Vec::new(), config.shuffle_seed);
        let budget_hit = Arc::new(AtomicBool::new(false));
        // The baseline is exempt: without it nothing else can be estimated.
        let (cancel, watchdog) = if exempt {
            (std::sync::mpsc::channel().0, None)
        } else {
            self.watchdog(Arc::clone(&budget_hit))
        };
        let started = Instant::now();
        let result = run::run_shard(tests, config, &mut json, self.interrupter);
        drop(cancel);
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        let outcome = result.map_err(|source| AuditError::RunDir {
            path: config.logs_dir.clone(),
            source,
        })?;
        let elapsed = started.elapsed();
        let mut stopped = None;
        if outcome.interrupted {
            let why = if budget_hit.load(Ordering::SeqCst) {
                "the budget ran out".to_string()
            } else {
                self.ctrl_c = true;
                "interrupted (Ctrl-C)".to_string()
            };
            self.stopped = Some(why.clone());
            stopped = Some(why);
        }
        Ok((json.report(), elapsed, stopped))
    }
}
