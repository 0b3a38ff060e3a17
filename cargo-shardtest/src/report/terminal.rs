//! Human output: one line per finished test, failures with the tail of their output, and a
//! summary that ends with the plain line `N passed, N failed, N skipped`.

use super::json::{StatusCounts, count};
use crate::event::{AttemptOutcome, AttemptRecord, EventConsumer, RunEvent, TestStatus};
use crate::id::TestId;
use std::io::Write;
use std::time::Duration;

/// Writes human-readable progress and a summary to a writer (stderr in the binary).
pub struct TerminalReporter<W: Write> {
    out: W,
    counts: StatusCounts,
    failures: Vec<(TestId, String, bool)>,
    flaky: Vec<(TestId, usize)>,
    leaky: Vec<TestId>,
    slowest: Vec<(Duration, TestId)>,
    predicted: Duration,
    to_run: usize,
    done: usize,
    /// Lines of a failure's output shown on screen.
    pub tail_lines: usize,
}

impl<W: Write> TerminalReporter<W> {
    /// A reporter writing to `out`.
    pub fn new(out: W) -> Self {
        TerminalReporter {
            out,
            counts: StatusCounts::default(),
            failures: Vec::new(),
            flaky: Vec::new(),
            leaky: Vec::new(),
            slowest: Vec::new(),
            predicted: Duration::ZERO,
            to_run: 0,
            done: 0,
            tail_lines: 40,
        }
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn line(&mut self, label: &str, d: Duration, id: &TestId, extra: &str) {
        let _ = writeln!(
            self.out,
            "{label:>12} [{:>8.3}s] {id}{extra}",
            d.as_secs_f64()
        );
    }

    fn show_output(&mut self, id: &TestId, a: &AttemptRecord) {
        if a.output_tail.trim().is_empty() && a.log.is_none() {
            return;
        }
        let tail: Vec<&str> = a.output_tail.lines().collect();
        let from = tail.len().saturating_sub(self.tail_lines);
        let _ = writeln!(self.out, "--- output of {id} (attempt {}) ---", a.attempt);
        for l in &tail[from..] {
            let _ = writeln!(self.out, "{l}");
        }
        if let Some(log) = &a.log {
            let _ = writeln!(self.out, "--- full log: {} ---", log.display());
        } else {
            let _ = writeln!(self.out, "---");
        }
    }
}

/// A short explanation of a failed attempt (`exit code 101`, `SIGSEGV`, `timed out`).
pub fn describe(outcome: &AttemptOutcome) -> String {
    match outcome {
        AttemptOutcome::Passed => "passed".into(),
        AttemptOutcome::Failed { code } => format!("exit code {code}"),
        AttemptOutcome::Crashed { name, .. } => format!("killed by {name}"),
        AttemptOutcome::TimedOut => "timed out; its process group was killed".into(),
        AttemptOutcome::SpawnFailed { message } => format!("could not start: {message}"),
        AttemptOutcome::Interrupted => "interrupted".into(),
    }
}

impl<W: Write> EventConsumer for TerminalReporter<W> {
    fn on_event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunStarted(info) => {
                self.predicted = info.predicted;
                self.to_run = info.to_run;
                let _ = writeln!(
                    self.out,
                    "    Starting {} tests of shard {} on {} workers (run {}, plan {})",
                    info.to_run, info.shard, info.workers, info.run_id, info.fingerprint
                );
            }
            RunEvent::TestSkipped {
                status, attributes, ..
            } => count(&mut self.counts, *status, attributes, &[]),
            RunEvent::TestStarted { .. } => {}
            RunEvent::TestSlow { id, elapsed } => {
                let _ = writeln!(
                    self.out,
                    "{:>12} [{:>8.3}s] {id} is still running",
                    "SLOW",
                    elapsed.as_secs_f64()
                );
            }
            RunEvent::TestRetrying {
                id,
                failed,
                backoff,
            } => {
                let extra = format!(
                    " ({}; retrying in {})",
                    describe(&failed.outcome),
                    humantime::format_duration(*backoff)
                );
                let label = format!("{} {}", "RETRY", failed.attempt);
                self.line(&label, failed.duration, id, &extra);
                self.show_output(id, failed);
            }
            RunEvent::TestFinished {
                id,
                status,
                attempts,
                attributes,
            } => {
                count(&mut self.counts, *status, attributes, attempts);
                let Some(last) = attempts.last() else {
                    return;
                };
                self.done += 1;
                let progress = format!("{}/{}", self.done, self.to_run);
                let leaked = attempts.iter().any(|a| a.leaked);
                if leaked {
                    self.leaky.push(id.clone());
                }
                self.slowest.push((last.duration, id.clone()));
                let nc = if attributes.non_critical {
                    " [non-critical]"
                } else {
                    ""
                };
                let leak = if leaked {
                    " [LEAK: left processes behind, killed]"
                } else {
                    ""
                };
                match status {
                    TestStatus::Passed => {
                        let label = if leaked { "LEAK" } else { "PASS" };
                        self.line(label, last.duration, id, &format!("{leak}  ({progress})"));
                    }
                    TestStatus::Flaky => {
                        self.flaky.push((id.clone(), attempts.len()));
                        let extra =
                            format!(" (passed on attempt {}){leak}  ({progress})", last.attempt);
                        self.line("FLAKY", last.duration, id, &extra);
                    }
                    TestStatus::Failed => {
                        let extra =
                            format!(" ({}){nc}{leak}  ({progress})", describe(&last.outcome));
                        self.line(last.outcome.label(), last.duration, id, &extra);
                        self.show_output(id, last);
                        self.failures.push((
                            id.clone(),
                            describe(&last.outcome),
                            attributes.non_critical,
                        ));
                    }
                    TestStatus::NotRun => {
                        self.line("INTERRUPTED", last.duration, id, "");
                    }
                    TestStatus::Skipped => {}
                }
            }
            RunEvent::RunFinished {
                elapsed,
                interrupted,
            } => {
                let c = self.counts.clone();
                let _ = writeln!(self.out, "------------");
                if *interrupted {
                    let _ = writeln!(
                        self.out,
                        " INTERRUPTED: {} tests did not run or were stopped",
                        c.not_run
                    );
                }
                let _ = writeln!(
                    self.out,
                    "     Summary [{:>8.3}s] (predicted {:.3}s) {} passed ({} flaky), {} failed, {} non-critical failed, {} skipped",
                    elapsed.as_secs_f64(),
                    self.predicted.as_secs_f64(),
                    c.passed + c.flaky,
                    c.flaky,
                    c.failed,
                    c.failed_non_critical,
                    c.skipped
                );
                let failures = std::mem::take(&mut self.failures);
                for (id, why, nc) in &failures {
                    let label = if *nc { "FAIL (non-critical)" } else { "FAIL" };
                    let _ = writeln!(self.out, "{label:>20} {id} ({why})");
                }
                for (id, n) in &self.flaky {
                    let _ = writeln!(self.out, "{:>20} {id} ({n} attempts)", "FLAKY");
                }
                for id in &self.leaky {
                    let _ = writeln!(self.out, "{:>20} {id} (left processes behind)", "LEAK");
                }
                self.slowest
                    .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                if self.slowest.len() > 1 {
                    let _ = writeln!(self.out, "     Slowest:");
                    for (d, id) in self.slowest.iter().take(5) {
                        let _ = writeln!(self.out, "{:>12.3}s {id}", d.as_secs_f64());
                    }
                }
                let mut extras = Vec::new();
                if c.flaky > 0 {
                    extras.push(format!("{} flaky", c.flaky));
                }
                if c.timed_out > 0 {
                    extras.push(format!("{} timed out", c.timed_out));
                }
                if c.crashed > 0 {
                    extras.push(format!("{} crashed", c.crashed));
                }
                if c.leaky > 0 {
                    extras.push(format!("{} leaky", c.leaky));
                }
                if c.failed_non_critical > 0 {
                    extras.push(format!("{} non-critical failed", c.failed_non_critical));
                }
                if c.not_run > 0 {
                    extras.push(format!("{} not run", c.not_run));
                }
                if !extras.is_empty() {
                    let _ = writeln!(self.out, "({})", extras.join(", "));
                }
                let _ = writeln!(
                    self.out,
                    "{} passed, {} failed, {} skipped",
                    c.passed + c.flaky,
                    c.failed + c.failed_non_critical,
                    c.skipped
                );
                let _ = self.out.flush();
            }
        }
    }
}
