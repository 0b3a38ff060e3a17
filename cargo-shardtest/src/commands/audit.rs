//! `cargo shardtest audit`: build and list once, then run the selected tests in several
//! configurations and report the tests whose outcome depends on order, isolation or luck
//! (see [`crate::audit`]).

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::app::{self, UsageError};
use crate::audit::{self, AuditOptions};
use crate::cli::{self, BuildArgs, FilterArgs, RunArgs};
use crate::run::Interrupter;
use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Output format of `audit`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuditFormat {
    /// The configurations and a table of suspect tests with the evidence.
    #[default]
    Human,
    /// The same as a JSON document.
    Json,
}

/// Find the tests that only pass by luck: runs the selected tests at `-j max` and `-j 1`, in
/// declared, reversed and shuffled order, one process per test, batched and in one process the
/// way `cargo test` does, each suspect alone, and repeated; compares outcomes test by test and
/// classifies each suspect as order-dependent, isolation/shared state, in-process shared state
/// or timing/flaky. Then it names the other test of each finding (the one running beside it,
/// or the earlier one that breaks it or that it needs) by replaying pairs and bisecting, within
/// `--budget`. Exits 100 when it finds any suspect.
#[derive(Debug, Clone, clap::Args)]
pub struct AuditArgs {
    #[command(flatten)]
    /// Build options.
    pub build: BuildArgs,
    #[command(flatten)]
    /// Selection.
    pub filter: FilterArgs,
    /// Workers of the parallel configuration ("-j max") [default: available parallelism; at least 2].
    #[arg(
        help_heading = "Audit options",
        short = 'j',
        long,
        env = "SHARDTEST_JOBS",
        value_name = "N"
    )]
    pub jobs: Option<u32>,
    /// Bound the audit's total time (after the build), e.g. `10m`: configurations that would
    /// not fit are skipped and reported; the first full run is always made (it measures the
    /// cost of the others).
    #[arg(help_heading = "Audit options", long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub budget: Option<Duration>,
    /// How many times the parallel run is made, each suspect test is run alone, and each
    /// pairing the searches try is replayed.
    #[arg(
        help_heading = "Audit options",
        long,
        value_name = "K",
        default_value_t = 3
    )]
    pub repeat: u32,
    /// Seed of the shuffled configuration [default: a fresh one, printed].
    #[arg(help_heading = "Audit options", long, value_name = "SEED")]
    pub seed: Option<u64>,
    /// Output format (on stdout; progress goes to stderr).
    #[arg(help_heading = "Audit options", long, value_enum, default_value_t)]
    pub format: AuditFormat,
    /// Kill a test (its whole process group) after this long, e.g. `90s` [default: no limit in
    /// the first run; after it, ten times its slowest test, at least 60s].
    #[arg(help_heading = "Audit options", long, env = "SHARDTEST_TIMEOUT", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<Duration>,
    /// Timings history, read only: its prediction of one full run is checked against
    /// `--budget` before starting [default: <workspace>/.shardtest/timings.json]. The audit's
    /// own runs are never recorded into it.
    #[arg(
        help_heading = "Audit options",
        long,
        value_name = "PATH",
        env = "SHARDTEST_TIMINGS"
    )]
    pub timings: Option<PathBuf>,
    /// Where to keep per-configuration artifacts and failure logs [default: <target-dir>/shardtest/runs/<run-id>].
    #[arg(help_heading = "Audit options", long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Arguments after `--`: libtest-style filters are folded into the selection; anything
    /// else is passed to every test process.
    #[arg(last = true, value_name = "TEST ARGS")]
    pub test_args: Vec<String>,
}

/// `run`'s arguments with their defaults (and environment), to hand to [`app::prepare_run`].
#[derive(Parser)]
struct RunDefaults {
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `audit`: 0 when no test is suspect, 100 when some are, 130 when interrupted.
///
/// ```no_run
/// use shardtest::commands::audit::{run, AuditArgs};
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli { #[command(flatten)] audit: AuditArgs }
/// let args = Cli::parse_from(["audit", "--budget", "5m"]).audit;
/// let code = run(args, &shardtest::run::Interrupter::default())?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: AuditArgs, interrupter: &Interrupter) -> anyhow::Result<u8> {
    if args.repeat == 0 {
        return Err(UsageError("`--repeat 0` runs nothing: give at least 1".into()).into());
    }
    if args.jobs == Some(0) {
        return Err(UsageError(
            "`-j 0` runs nothing: give at least one worker, e.g. `-j 4`".into(),
        )
        .into());
    }
    let max_workers = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    if max_workers < 2 {
        eprintln!(
            "note: the parallel configuration uses -j 2 (-j {max_workers} would not run anything at once)"
        );
    }
    let mut run_args = RunDefaults::try_parse_from(["audit"])
        .context("reading the run defaults from the environment")?
        .run;
    run_args.build = args.build.clone();
    run_args.filter = args.filter.clone();
    // An audit runs everything, whatever fail-fast setting the environment carries.
    run_args.max_fail = None;
    run_args.jobs = Some(max_workers.max(2));
    run_args.timeout = args.timeout;
    run_args.artifact_dir = args.artifact_dir.clone();
    run_args.test_args = args.test_args.clone();
    run_args.retries = 0;
    run_args.repeat = 1;
    run_args.shuffle = None;
    run_args.sharding.timings = args.timings.clone().or(run_args.sharding.timings);
    let prepared = app::prepare_run(&mut run_args)?;
    let seed = match args.seed {
        Some(s) => s,
        None => app::parse_shuffle(Some("random"))?.unwrap_or_default(),
    };
    let opts = AuditOptions {
        max_workers: max_workers.max(2),
        repeat: args.repeat,
        seed,
        budget: args.budget,
    };
    let to_run = prepared.tests.iter().filter(|t| !t.skip).count();
    eprintln!(
        "    Auditing {to_run} tests (shuffle seed {seed}, repeat {}{})",
        args.repeat,
        args.budget
            .map(|b| format!(", budget {}", humantime::format_duration(b)))
            .unwrap_or_default()
    );
    if let Some(b) = args.budget
        && prepared.config.predicted > b
    {
        eprintln!(
            "note: the timings history predicts {:.1}s for one full run, more than the budget of {:.1}s: only that run will fit",
            prepared.config.predicted.as_secs_f64(),
            b.as_secs_f64()
        );
    }
    let report = audit::audit(
        prepared.tests,
        &prepared.config,
        &opts,
        interrupter,
        &mut std::io::stderr(),
    )
    .context("running the audit")?;
    let mut stdout = std::io::stdout().lock();
    match args.format {
        AuditFormat::Human => write!(stdout, "{report}").context("writing the audit to stdout")?,
        AuditFormat::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report).context("writing JSON to stdout")?;
            writeln!(stdout).context("writing to stdout")?;
        }
    }
    stdout.flush().context("writing to stdout")?;
    Ok(if report.interrupted {
        cli::EXIT_INTERRUPTED
    } else if !report.suspects.is_empty() {
        cli::EXIT_TEST_FAILED
    } else {
        cli::EXIT_OK
    })
}
