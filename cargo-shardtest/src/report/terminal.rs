//! Human output: one line per finished test, failures with the tail of their output and the
//! path of the full log, and a final block (failed, flaky, leaky, the slowest tests, predicted
//! vs actual wall time) that ends with the plain line `N passed, N failed, N skipped`.
//!
//! Two modes: on a terminal (and not in CI) a progress bar ([`super::progress`]) with the
//! finished-test lines printed above it; otherwise (a pipe, a file, `CI` set) plain lines
//! only. Colours follow `--color auto|always|never`; `auto` means a terminal and no `NO_COLOR`.

use super::json::{StatusCounts, count};
use super::progress::Progress;
use crate::event::{AttemptRecord, ConsumerError, EventConsumer, RunEvent, RunInfo, TestStatus};
use crate::id::TestId;
use anstyle::{AnsiColor, Style};
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// How many of the slowest tests the summary lists.
pub const SLOWEST_SHOWN: usize = 10;

/// `--color`: when to colour human output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when stderr is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour (even into a pipe, and despite `NO_COLOR`).
    Always,
    /// Never colour.
    Never,
}

/// Output style of the [`TerminalReporter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminalOptions {
    /// ANSI colours on labels.
    pub color: bool,
    /// A live progress bar (a terminal, not CI).
    pub progress: bool,
}

impl TerminalOptions {
    /// Decides the style from the facts: `--color`, whether stderr is a terminal, whether the
    /// `CI` variable is set, whether `NO_COLOR` is set (non-empty), and whether `TERM=dumb`.
    ///
    /// ```
    /// use shardtest::report::terminal::{ColorChoice, TerminalOptions};
    /// let tty = TerminalOptions::decide(ColorChoice::Auto, true, false, false, false);
    /// assert!(tty.color && tty.progress);
    /// let ci = TerminalOptions::decide(ColorChoice::Auto, true, true, false, false);
    /// assert!(ci.color && !ci.progress);
    /// let pipe = TerminalOptions::decide(ColorChoice::Auto, false, false, false, false);
    /// assert!(!pipe.color && !pipe.progress);
    /// assert!(!TerminalOptions::decide(ColorChoice::Auto, true, false, true, false).color);
    /// assert!(TerminalOptions::decide(ColorChoice::Always, false, false, true, false).color);
    /// assert!(!TerminalOptions::decide(ColorChoice::Never, true, false, false, false).color);
    /// ```
    pub fn decide(
        choice: ColorChoice,
        is_terminal: bool,
        ci: bool,
        no_color: bool,
        dumb: bool,
    ) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color && !dumb,
        };
        TerminalOptions {
            color,
            progress: is_terminal && !ci && !dumb,
        }
    }

    /// The style for this process's stderr and environment.
    ///
    /// ```
    /// use shardtest::report::terminal::{ColorChoice, TerminalOptions};
    /// assert!(!TerminalOptions::detect(ColorChoice::Never).color);
    /// ```
    pub fn detect(choice: ColorChoice) -> Self {
        let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
        let ci = set("CI") && std::env::var("CI").map_or(true, |v| v != "false" && v != "0");
        Self::decide(
            choice,
            std::io::stderr().is_terminal(),
            ci,
            set("NO_COLOR"),
            std::env::var("TERM").is_ok_and(|t| t == "dumb"),
        )
    }
}

/// The style of a status label: green passes, bold red failures, yellow warnings.
///
/// ```
/// # use shardtest::report::terminal::label_style;
/// use anstyle::AnsiColor;
/// assert_eq!(label_style("PASS").get_fg_color(), Some(AnsiColor::Green.into()));
/// assert_eq!(label_style("RETRY 2").get_fg_color(), Some(AnsiColor::Yellow.into()));
/// assert!(label_style("FAIL (non-critical)").get_effects().contains(anstyle::Effects::BOLD));
/// ```
pub fn label_style(label: &str) -> Style {
    let word = label.split_whitespace().next().unwrap_or("");
    match word {
        "PASS" => AnsiColor::Green.on_default(),
        "FAIL" | "CRASH" | "TIMEOUT" | "ERROR" => AnsiColor::Red.on_default().bold(),
        "FLAKY" | "RETRY" | "SLOW" | "LEAK" => AnsiColor::Yellow.on_default(),
        "INTERRUPTED" => AnsiColor::Magenta.on_default(),
        _ => Style::new().bold(),
    }
}

/// Writes human-readable progress and a summary to a writer (stderr in the binary).
///
/// ```
/// use shardtest::report::terminal::TerminalReporter;
/// use shardtest::event::{EventConsumer, RunEvent};
/// let mut t = TerminalReporter::new(Vec::new());
/// t.on_event(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: false });
/// let text = String::from_utf8(t.into_inner()).unwrap();
/// assert!(text.ends_with("0 passed, 0 failed, 0 skipped\n"));
/// ```
pub struct TerminalReporter<W: Write> {
    out: W,
    options: TerminalOptions,
    progress: Option<Progress>,
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
    /// Recorded history: a failing test that almost never failed before is marked a spike.
    spikes: Option<crate::history::flakiness::SpikeHistory>,
    /// Owners (CODEOWNERS) shown beside failures.
    owners: Option<crate::report::health::owners::OwnerLookup>,
    repeat: u32,
    /// Of the tests to run, how many have recorded history (`None`: not told).
    history: Option<(usize, usize)>,
    /// Non-critical tests left out by `--skip-non-critical` (said loudly in the summary).
    skipped_non_critical: Vec<TestId>,
}

impl<W: Write> TerminalReporter<W> {
    /// A reporter writing plain, uncoloured lines to `out`.
    pub fn new(out: W) -> Self {
        Self::with_options(out, TerminalOptions::default())
    }

    /// A reporter writing to `out` in the given style (with `progress`, lines go above a bar
    /// drawn on stderr, so `out` should be stderr).
    pub fn with_options(out: W, options: TerminalOptions) -> Self {
        TerminalReporter {
            out,
            options,
            progress: None,
            counts: StatusCounts::default(),
            failures: Vec::new(),
            flaky: Vec::new(),
            leaky: Vec::new(),
            slowest: Vec::new(),
            predicted: Duration::ZERO,
            to_run: 0,
            done: 0,
            tail_lines: 40,
            spikes: None,
            owners: None,
            repeat: 1,
            history: None,
            skipped_non_critical: Vec::new(),
        }
    }

    /// Tells the reporter which non-critical tests `--skip-non-critical` left out: the summary
    /// then says so in a line of its own.
    ///
    /// ```
    /// use shardtest::event::{EventConsumer, RunEvent};
    /// let mut t = shardtest::report::terminal::TerminalReporter::new(Vec::new());
    /// t.set_skipped_non_critical(vec!["pkg sandbox::charges".parse().unwrap()]);
    /// t.on_event(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: false });
    /// ```
    pub fn set_skipped_non_critical(&mut self, tests: Vec<TestId>) {
        self.skipped_non_critical = tests;
    }

    /// Tells the reporter how many of the `to_run` tests have recorded history: with none,
    /// predictions are guesses, and the header and summary say so instead of percentages.
    ///
    /// ```
    /// use shardtest::report::terminal::TerminalReporter;
    /// use shardtest::event::{EventConsumer, RunEvent};
    /// let mut t = TerminalReporter::new(Vec::new());
    /// t.set_history_coverage(0, 5);
    /// t.on_event(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: false });
    /// let text = String::from_utf8(t.into_inner()).unwrap();
    /// assert!(text.contains("no history yet"), "{text}");
    /// assert!(!text.contains('%'));
    /// ```
    pub fn set_history_coverage(&mut self, known: usize, to_run: usize) {
        self.history = Some((known, to_run));
    }

    fn no_history(&self) -> bool {
        matches!(self.history, Some((0, n)) if n > 0)
    }

    /// Marks, in the summary, failures of tests that almost never failed in `history` (taken
    /// from the timings store before this run) as spikes: a systemic cause is likelier.
    ///
    /// ```
    /// use shardtest::report::terminal::TerminalReporter;
    /// use shardtest::history::flakiness::SpikeHistory;
    /// let mut t = TerminalReporter::new(Vec::new());
    /// t.set_spike_history(SpikeHistory::default());
    /// ```
    pub fn set_spike_history(&mut self, history: crate::history::flakiness::SpikeHistory) {
        self.spikes = Some(history);
    }

    /// Shows each failing test's owners (from CODEOWNERS) in the summary's failure list:
    /// `FAIL app net::tests::dns (exit code 101) (owner @org/net)`.
    ///
    /// ```
    /// use shardtest::report::terminal::TerminalReporter;
    /// let mut t = TerminalReporter::new(Vec::new());
    /// t.set_owners(shardtest::report::health::owners::OwnerLookup::new(|_| Some("@org/net".into())));
    /// ```
    pub fn set_owners(&mut self, owners: crate::report::health::owners::OwnerLookup) {
        self.owners = Some(owners);
    }

    /// Gives the writer back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Writes one line (above the bar when there is one).
    fn emit(&mut self, line: &str) -> std::io::Result<()> {
        match &self.progress {
            Some(p) => {
                p.println(line);
                Ok(())
            }
            None => writeln!(self.out, "{line}"),
        }
    }

    /// A right-aligned label of `width`, coloured when colours are on.
    fn label(&self, label: &str, width: usize) -> String {
        let padded = format!("{label:>width$}");
        if self.options.color {
            let style = label_style(label);
            format!("{style}{padded}{style:#}")
        } else {
            padded
        }
    }

    fn line(&mut self, label: &str, d: Duration, id: &TestId, extra: &str) -> std::io::Result<()> {
        let l = format!(
            "{} [{:>8.3}s] {id}{extra}",
            self.label(label, 12),
            d.as_secs_f64()
        );
        self.emit(&l)
    }

    fn show_output(&mut self, id: &TestId, a: &AttemptRecord) -> std::io::Result<()> {
        if a.output_tail.trim().is_empty() && a.log.is_none() {
            return Ok(());
        }
        let tail: Vec<&str> = a.output_tail.lines().collect();
        let from = tail.len().saturating_sub(self.tail_lines);
        let mut block = format!("--- output of {id} (attempt {}) ---", a.attempt);
        for l in &tail[from..] {
            block.push('\n');
            block.push_str(l);
        }
        match &a.log {
            Some(log) => block.push_str(&format!("\n--- full log: {} ---", log.display())),
            None => block.push_str("\n---"),
        }
        self.emit(&block)
    }
}

pub use crate::event::describe;

impl<W: Write> EventConsumer for TerminalReporter<W> {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError> {
        let written = match event {
            RunEvent::RunStarted(info) => self.started(info),
            RunEvent::TestSkipped {
                status, attributes, ..
            } => {
                count(&mut self.counts, *status, attributes, &[]);
                Ok(())
            }
            RunEvent::TestStarted { .. } => {
                if let Some(p) = &mut self.progress {
                    p.started();
                }
                Ok(())
            }
            RunEvent::TestSlow { id, elapsed } => {
                let l = format!(
                    "{} [{:>8.3}s] {id} is still running",
                    self.label("SLOW", 12),
                    elapsed.as_secs_f64()
                );
                self.emit(&l)
            }
            RunEvent::TestRetrying {
                id,
                failed,
                backoff,
            } => self.retrying(id, failed, *backoff),
            RunEvent::TestFinished {
                id,
                status,
                attempts,
                attributes,
            } => self.finished(id, *status, attempts, attributes),
            RunEvent::RunFinished {
                elapsed,
                interrupted,
            } => self.summary(*elapsed, *interrupted),
        };
        written.map_err(|e| ConsumerError::new("terminal output", e))
    }

    fn flush(&mut self) -> Result<(), ConsumerError> {
        self.out
            .flush()
            .map_err(|e| ConsumerError::new("terminal output", e))
    }
}

/// One method per event: the lines each writes.
impl<W: Write> TerminalReporter<W> {
    /// The header line, and what the plan knows of the tests' durations.
    fn started(&mut self, info: &RunInfo) -> std::io::Result<()> {
        self.repeat = info.repeat.max(1);
        self.predicted = info.predicted;
        self.to_run = info.to_run;
        let l = format!(
            "{} {} tests of shard {} on {} workers (run {}, plan {})",
            self.label("Starting", 12),
            info.to_run,
            info.shard,
            info.workers,
            info.run_id,
            info.fingerprint
        );
        self.emit(&l)?;
        match self.history {
            Some((0, n)) if n > 0 => {
                let l = format!(
                    "{} no history yet: shards are balanced by test count; the next runs plan from the durations this one records",
                    self.label("Timings", 12)
                );
                self.emit(&l)?;
            }
            Some((known, n)) if known < n => {
                let l = format!(
                    "{} {} of {n} tests have no history yet; their durations are estimated",
                    self.label("Timings", 12),
                    n - known
                );
                self.emit(&l)?;
            }
            _ => {}
        }
        if self.options.progress {
            self.progress = Some(Progress::stderr(info.to_run, info.predicted));
        }
        Ok(())
    }

    /// A failed attempt that will run again, with its output.
    fn retrying(
        &mut self,
        id: &TestId,
        failed: &AttemptRecord,
        backoff: Duration,
    ) -> std::io::Result<()> {
        let extra = format!(
            " ({}; retrying in {})",
            describe(&failed.outcome),
            humantime::format_duration(backoff)
        );
        let label = format!("{} {}", "RETRY", failed.attempt);
        if let Some(p) = &mut self.progress {
            p.retrying();
        }
        self.line(&label, failed.duration, id, &extra)?;
        self.show_output(id, failed)
    }

    /// A test's final line (and a failure's output), remembered for the summary.
    fn finished(
        &mut self,
        id: &TestId,
        status: TestStatus,
        attempts: &[AttemptRecord],
        attributes: &crate::attrs::TestAttributes,
    ) -> std::io::Result<()> {
        count(&mut self.counts, status, attributes, attempts);
        let Some(last) = attempts.last() else {
            return Ok(());
        };
        self.done += 1;
        if let Some(p) = &mut self.progress {
            p.finished(status == TestStatus::Failed);
        }
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
                let runs = if self.repeat > 1 {
                    format!(" (passed {0} of {0} runs)", attempts.len())
                } else {
                    String::new()
                };
                let extra = format!("{runs}{leak}  ({progress})");
                self.line(label, last.duration, id, &extra)
            }
            TestStatus::Flaky => {
                self.flaky.push((id.clone(), attempts.len()));
                let extra = if self.repeat > 1 {
                    let passes = attempts.iter().filter(|a| a.outcome.is_pass()).count();
                    format!(
                        " (passed {passes} of {} runs){leak}  ({progress})",
                        attempts.len()
                    )
                } else {
                    format!(" (passed on attempt {}){leak}  ({progress})", last.attempt)
                };
                self.line("FLAKY", last.duration, id, &extra)
            }
            TestStatus::Failed => {
                let extra = format!(" ({}){nc}{leak}  ({progress})", describe(&last.outcome));
                self.line(last.outcome.label(), last.duration, id, &extra)?;
                self.show_output(id, last)?;
                self.failures
                    .push((id.clone(), describe(&last.outcome), attributes.non_critical));
                Ok(())
            }
            TestStatus::NotRun => self.line("INTERRUPTED", last.duration, id, ""),
            TestStatus::Skipped => Ok(()),
        }
    }

    /// The final block: what did not run, the summary, failures, flaky and leaky tests, the
    /// slowest tests, wall time against the prediction, and the plain last line.
    fn summary(&mut self, elapsed: Duration, interrupted: bool) -> std::io::Result<()> {
        if let Some(p) = self.progress.take() {
            p.clear();
        }
        let c = self.counts.clone();
        writeln!(self.out, "------------")?;
        if interrupted {
            writeln!(
                self.out,
                "{}: {} tests did not run or were stopped",
                self.label("INTERRUPTED", 12),
                c.not_run
            )?;
        }
        if !self.skipped_non_critical.is_empty() {
            let names: Vec<String> = self
                .skipped_non_critical
                .iter()
                .map(ToString::to_string)
                .collect();
            writeln!(
                self.out,
                "{}: {} non-critical tests were NOT RUN (--skip-non-critical): {}",
                self.label("SKIPPED NC", 12),
                names.len(),
                names.join(", ")
            )?;
        }
        let predicted = if self.no_history() {
            "no history yet".to_string()
        } else {
            format!("predicted {:.3}s", self.predicted.as_secs_f64())
        };
        writeln!(
            self.out,
            "     Summary [{:>8.3}s] ({predicted}) {} passed ({} flaky), {} failed, {} non-critical failed, {} skipped",
            elapsed.as_secs_f64(),
            c.passed + c.flaky,
            c.flaky,
            c.failed,
            c.failed_non_critical,
            c.skipped
        )?;
        self.problem_lists()?;
        self.slowest_list()?;
        let predicted = if self.no_history() {
            Duration::ZERO
        } else {
            self.predicted
        };
        writeln!(self.out, "{}", wall_time_line(predicted, elapsed))?;
        let extras: Vec<String> = [
            (c.flaky, "flaky"),
            (c.timed_out, "timed out"),
            (c.crashed, "crashed"),
            (c.leaky, "leaky"),
            (c.failed_non_critical, "non-critical failed"),
            (c.not_run, "not run"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !extras.is_empty() {
            writeln!(self.out, "({})", extras.join(", "))?;
        }
        writeln!(
            self.out,
            "{} passed, {} failed, {} skipped",
            c.passed + c.flaky,
            c.failed + c.failed_non_critical,
            c.skipped
        )?;
        self.out.flush()
    }

    /// The failed (with owners and spikes), flaky and leaky tests of the summary.
    fn problem_lists(&mut self) -> std::io::Result<()> {
        let failures = std::mem::take(&mut self.failures);
        for (id, why, nc) in &failures {
            let label = if *nc { "FAIL (non-critical)" } else { "FAIL" };
            let spike = self
                .spikes
                .as_ref()
                .and_then(|h| h.spike(id))
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let owner = self
                .owners
                .as_ref()
                .and_then(|o| o.get(id))
                .map(|o| format!(" (owner {o})"))
                .unwrap_or_default();
            writeln!(
                self.out,
                "{} {id} ({why}){owner}{spike}",
                self.label(label, 20)
            )?;
        }
        for (id, n) in &self.flaky {
            writeln!(self.out, "{} {id} ({n} attempts)", self.label("FLAKY", 20))?;
        }
        for id in &self.leaky {
            writeln!(
                self.out,
                "{} {id} (left processes behind)",
                self.label("LEAK", 20)
            )?;
        }
        Ok(())
    }

    /// The slowest tests of the run, when there is more than one.
    fn slowest_list(&mut self) -> std::io::Result<()> {
        self.slowest
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        if self.slowest.len() > 1 {
            writeln!(self.out, "     Slowest:")?;
            for (d, id) in self.slowest.iter().take(SLOWEST_SHOWN) {
                writeln!(self.out, "{:>12.3}s {id}", d.as_secs_f64())?;
            }
        }
        Ok(())
    }
}

/// `   Wall time 12.300s, predicted 10.000s (+23%)`: how the shard's actual wall time compares
/// with the plan's prediction.
///
/// ```
/// use shardtest::report::terminal::wall_time_line;
/// use std::time::Duration;
/// let l = wall_time_line(Duration::from_secs(10), Duration::from_millis(12_300));
/// assert_eq!(l, "   Wall time 12.300s, predicted 10.000s (+23%)");
/// let l = wall_time_line(Duration::ZERO, Duration::from_secs(1));
/// assert_eq!(l, "   Wall time 1.000s, no prediction (no timings history yet)");
/// ```
pub fn wall_time_line(predicted: Duration, actual: Duration) -> String {
    if predicted.is_zero() {
        return format!(
            "   Wall time {:.3}s, no prediction (no timings history yet)",
            actual.as_secs_f64()
        );
    }
    let pct = (actual.as_secs_f64() / predicted.as_secs_f64() - 1.0) * 100.0;
    format!(
        "   Wall time {:.3}s, predicted {:.3}s ({:+.0}%)",
        actual.as_secs_f64(),
        predicted.as_secs_f64(),
        pct
    )
}
