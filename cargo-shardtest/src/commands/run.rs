//! `cargo shardtest run`: plan (or take work from a queue), run, report, record.
//!
//! One concept per file: `prepare` (everything before the first test starts, shared with
//! `audit`), `rerun` (`--rerun-failed`), `queue_job` (`--queue`: this job's part in a shared
//! run); this file runs the shard, writes the reports and chooses the exit status.

mod prepare;
mod queue_job;
mod rerun;

use crate::console::say;
pub use prepare::{PreparedRun, prepare_run};

use crate::cli::{self, RunArgs};
use crate::event::{EventConsumer, Fanout};
use crate::history::flakiness::SpikeHistory;
use crate::id::TestId;
use crate::pipeline::{announce_recording, record_timings};
use crate::report::health::owners::OwnerLookup;
use crate::report::json::{JsonReport, JsonReportBuilder};
use crate::report::junit::JunitReporter;
use crate::report::redact::Redactor;
use crate::report::terminal::{TerminalOptions, TerminalReporter};
use crate::run::{self, Interrupter, RunOutcome, RunnerConfig, ShardTest};
use anyhow::{Context, Result};
use queue_job::QueueEnd;
use rerun::RerunSet;
use std::io::{BufWriter, Stderr};
use std::path::Path;

/// `cargo shardtest run`.
pub fn run_command(mut args: RunArgs, interrupter: &Interrupter) -> Result<u8> {
    let rerun = if args.rerun_failed.is_empty() {
        None
    } else {
        match rerun::select_failed(&mut args)? {
            Some(set) => Some(set),
            None => return Ok(cli::EXIT_OK),
        }
    };
    let mut prepared = prepare_run(&mut args)?;
    // Doctests of an archive that cannot run here are reported as not run, never dropped.
    let (tests, docs_not_run) =
        crate::discover::doctests::split_unavailable(std::mem::take(&mut prepared.tests));
    let planned_tests = std::mem::take(&mut prepared.planned_tests);
    announce_run(&prepared);
    let config = &prepared.config;
    // A queue job: seed (or join) the shared queue now, before any test starts.
    let mut queue_job = match &args.queue {
        Some(url) => Some(queue_job::start(url, &args, &tests, config.workers)?),
        None => None,
    };
    if !args.no_record_timings && rerun.is_none() {
        announce_recording(&prepared.timings, &config.fingerprint, config.shard);
    }
    let (mut terminal, owners) = terminal_reporter(&args, &prepared);
    let mut outputs = Outputs::new(&args, &prepared, planned_tests, rerun.as_ref(), owners);
    // Held while the run runs: another run's pruning on this machine leaves the directory be.
    let _in_use = crate::runs_dir::hold(&config.artifact_root).with_context(|| {
        format!(
            "preparing the run directory {}",
            config.artifact_root.display()
        )
    })?;
    let shard_run = ShardRun {
        tests,
        docs_not_run,
        config,
        interrupter,
        queue_job: queue_job.as_mut(),
    };
    let outcome = outputs.run(&mut terminal, shard_run)?;
    // The queue's verdict comes before the tests': a lost queue means tests may be unrun.
    let queue_end = queue_job::finish(queue_job.take());
    let skipped = &prepared.skipped_non_critical;
    let (report, failed_outputs) = outputs.finish(&args, skipped, &outcome, &config.logs_dir)?;
    // A rerun measures only failures: its durations are not a round of the plan.
    if !args.no_record_timings && rerun.is_none() {
        let loaded = Some((prepared.history, prepared.history_stamp));
        record_timings(&prepared.timings, &report, config.shard, loaded);
    }
    prune_runs(&args, &config.artifact_root);
    for f in &failed_outputs {
        say!("error: could not write {f}");
    }
    exit_status(queue_end, &outcome, &failed_outputs)
}

/// Says loudly what the run leaves out (`--skip-non-critical`) and how to replay its order
/// (`--shuffle`).
fn announce_run(prepared: &PreparedRun) {
    if !prepared.skipped_non_critical.is_empty() {
        say!(
            "    SKIPPING {} non-critical tests (--skip-non-critical): they will NOT run",
            prepared.skipped_non_critical.len()
        );
    }
    if let Some(seed) = prepared.config.shuffle_seed {
        say!("    Shuffling with seed {seed} (replay: --shuffle {seed})");
    }
}

/// The terminal reporter, told what the preparation learned, and the tests' owners from the
/// repository's CODEOWNERS, if it has one (shown in the failure list and in JUnit).
fn terminal_reporter(
    args: &RunArgs,
    prepared: &PreparedRun,
) -> (TerminalReporter<BufWriter<Stderr>>, Option<OwnerLookup>) {
    // Buffered: the runner flushes it whenever it is about to wait, so a burst of events (a
    // batch finishing hundreds of tests) costs one write instead of one per line.
    let mut terminal = TerminalReporter::with_options(
        BufWriter::new(std::io::stderr()),
        TerminalOptions::detect(args.color),
    );
    let (known, to_run) = prepared.history_coverage;
    terminal.set_history_coverage(known, to_run);
    terminal.set_skipped_non_critical(prepared.skipped_non_critical.clone());
    // A failure of a test that has almost always passed is flagged as a spike.
    terminal.set_spike_history(SpikeHistory::from_store(&prepared.history));
    let owners =
        crate::report::health::owners::TestOwners::discover(args.build.manifest_path.as_deref())
            .map(crate::report::health::owners::lookup);
    if let Some(o) = &owners {
        terminal.set_owners(o.clone());
    }
    (terminal, owners)
}

/// What one run of the shard executes, and where it takes its work from.
struct ShardRun<'a> {
    /// The shard's tests that can run here.
    tests: Vec<ShardTest>,
    /// Doctests of an archive that cannot run here (reported as not run).
    docs_not_run: Vec<crate::list::TestCase>,
    /// The runner's settings.
    config: &'a RunnerConfig,
    /// Ctrl-C / SIGTERM.
    interrupter: &'a Interrupter,
    /// With `--queue`, the shared queue the tests are taken from.
    queue_job: Option<&'a mut crate::queue::QueueJob>,
}

/// The run's outputs besides the terminal: the JSON report, JUnit when asked, and the
/// redactor that masks secrets in all of them and in the logs.
struct Outputs {
    /// Builds the JSON report (always: timings are recorded from it).
    json: JsonReportBuilder,
    /// `--junit`.
    junit: Option<JunitReporter>,
    /// Masks secrets (`--redact-env` and the usual suspects).
    redactor: Redactor,
}

impl Outputs {
    /// The outputs `args` asks for, for a plan of `planned_tests` (a rerun of `rerun`'s
    /// plans), naming `owners`.
    fn new(
        args: &RunArgs,
        prepared: &PreparedRun,
        planned_tests: Vec<TestId>,
        rerun: Option<&RerunSet>,
        owners: Option<OwnerLookup>,
    ) -> Self {
        let mut junit = args.junit.clone().map(|p| {
            let mut j = JunitReporter::new(p);
            owners.iter().for_each(|o| j.set_owners(o.clone()));
            j
        });
        if let Some(j) = junit.as_mut() {
            j.set_skipped_non_critical(prepared.skipped_non_critical.clone());
        }
        let mut json = JsonReportBuilder::new(planned_tests, prepared.config.shuffle_seed);
        if let Some(r) = rerun {
            json.set_rerun_of(r.fingerprints.clone());
        }
        Outputs {
            json,
            junit,
            redactor: Redactor::from_env(&args.redact_env),
        }
    }

    /// Runs the shard, every event going (secrets masked) to `terminal` and these outputs.
    fn run(
        &mut self,
        terminal: &mut TerminalReporter<BufWriter<Stderr>>,
        shard_run: ShardRun<'_>,
    ) -> Result<RunOutcome> {
        let mut fan = Fanout::default();
        fan.push(terminal);
        fan.push(&mut self.json as &mut dyn EventConsumer);
        if let Some(j) = self.junit.as_mut() {
            fan.push(j);
        }
        // Secrets are masked before any consumer (terminal, JSON, JUnit) sees the output.
        let mut redacting = crate::report::redact::Redacting::new(self.redactor.clone(), &mut fan);
        let mut redacting = crate::discover::doctests::NotRunDoctests {
            tests: shard_run.docs_not_run,
            inner: &mut redacting,
        };
        let source = shard_run
            .queue_job
            .map(|j| j as &mut dyn run::source::WorkSource);
        let config = shard_run.config;
        run::run_from(
            shard_run.tests,
            config,
            &mut redacting,
            shard_run.interrupter,
            source,
        )
        .with_context(|| format!("preparing the run directory {}", config.logs_dir.display()))
    }

    /// Closes the outputs once the run is over: the report (written with `--json`), JUnit,
    /// and the masking of the logs in `logs_dir`. Each is attempted on its own: the report,
    /// and the outputs that could not be written.
    fn finish(
        self,
        args: &RunArgs,
        skipped_non_critical: &[TestId],
        outcome: &RunOutcome,
        logs_dir: &Path,
    ) -> Result<(JsonReport, Vec<String>)> {
        let mut report = self
            .json
            .into_report()
            .context("the run produced no report")?;
        report.doc_setups = outcome.doc_setups.clone();
        // Each output is attempted on its own: one that fails is named, the others are still
        // written, and the exit status says so after saying how the tests did.
        let mut failed_outputs: Vec<String> = Vec::new();
        if let Some(path) = &args.json
            && let Err(e) = write_json(path, &report, skipped_non_critical)
        {
            failed_outputs.push(format!("the JSON report {}: {e:#}", path.display()));
        }
        if let (Some(j), Some(path)) = (self.junit, &args.junit)
            && let Err(e) = j.finish()
        {
            failed_outputs.push(format!("the JUnit report {}: {e:#}", path.display()));
        }
        failed_outputs.extend(outcome.output_errors.iter().cloned());
        if let Err(e) = self.redactor.redact_dir(logs_dir) {
            failed_outputs.push(format!(
                "masking secrets in the logs under {}: {e:#}",
                logs_dir.display()
            ));
        }
        Ok((report, failed_outputs))
    }
}

/// Writes `report` to `path` (`--json`); `--skip-non-critical` adds a field naming the tests
/// it left out.
fn write_json(path: &Path, report: &JsonReport, skipped_non_critical: &[TestId]) -> Result<()> {
    serde_json::to_value(report)
        .map(|mut v| {
            if !skipped_non_critical.is_empty() {
                v["skipped_non_critical"] = serde_json::json!(skipped_non_critical);
            }
            v
        })
        .and_then(|v| serde_json::to_vec_pretty(&v))
        .map_err(anyhow::Error::from)
        .and_then(|bytes| Ok(crate::fsutil::write_atomic(path, &bytes)?))
}

/// Without `--artifact-dir`, prunes the old runs beside `artifact_root` (never it), as
/// `--keep-runs` and `--runs-size-limit` say; a failure is a warning.
fn prune_runs(args: &RunArgs, artifact_root: &Path) {
    if args.artifact_dir.is_none()
        && let Some(runs) = artifact_root.parent()
        && let Err(e) =
            crate::runs_dir::prune(runs, args.keep_runs, args.runs_size_limit, artifact_root)
    {
        say!(
            "warning: could not prune old runs in {}: {e}",
            runs.display()
        );
    }
}

/// The exit status: a lost queue first, then a run stopped by another job's failure, then
/// the tests, then the outputs.
fn exit_status(queue: QueueEnd, outcome: &RunOutcome, failed_outputs: &[String]) -> Result<u8> {
    if let Some(e) = queue.failure {
        return Err(crate::commands::queue::queue_failure(e).into());
    }
    if queue.stopped_by_fail_fast && outcome.failed == 0 && !outcome.interrupted {
        say!(
            "error: the queue run was stopped by --fail-fast after a test failed in another job; this job's tests passed, but the run did not"
        );
        return Ok(cli::EXIT_TEST_FAILED);
    }
    Ok(if outcome.interrupted {
        cli::EXIT_INTERRUPTED
    } else if outcome.failed > 0 {
        cli::EXIT_TEST_FAILED
    } else if !failed_outputs.is_empty() {
        cli::EXIT_OUTPUT_FAILED
    } else {
        cli::EXIT_OK
    })
}
