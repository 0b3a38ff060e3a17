//! `cargo shardtest audit`: build and list once, then run the selected tests in several
//! configurations and report the tests whose outcome depends on order, isolation or luck
//! (see [`crate::audit`]).

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::audit::{self, AuditOptions};
pub use crate::cli::audit::{AuditArgs, AuditFormat};
use crate::cli::{self, RunArgs};
use crate::console::say;
use crate::exit::UsageError;
use crate::pipeline;
use crate::run::Interrupter;
use anyhow::Context;
use clap::Parser;
use std::io::Write;

/// `run`'s arguments with their defaults (and environment), to hand to [`crate::commands::run::prepare_run`].
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
    if args.jobs.get() == Some(0) {
        return Err(UsageError(
            "`-j 0` runs nothing: give at least one worker, e.g. `-j 4`".into(),
        )
        .into());
    }
    let max_workers = args
        .jobs
        .get()
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    if max_workers < 2 {
        say!(
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
    run_args.jobs = cli::JobsArg::new(Some(max_workers.max(2)));
    run_args.timeout = args.timeout;
    run_args.artifact_dir = args.artifact_dir.clone();
    run_args.test_args = args.test_args.clone();
    run_args.retries = 0;
    run_args.repeat = 1;
    run_args.shuffle = None;
    if args.timings.path().is_some() {
        run_args.sharding.timings = args.timings.clone();
    }
    let prepared = crate::commands::run::prepare_run(&mut run_args)?;
    let seed = match args.seed {
        Some(s) => s,
        None => pipeline::parse_shuffle(Some("random"))?.unwrap_or_default(),
    };
    let opts = AuditOptions {
        max_workers: max_workers.max(2),
        repeat: args.repeat,
        seed,
        budget: args.budget,
    };
    let to_run = prepared.tests.iter().filter(|t| !t.skip).count();
    say!(
        "    Auditing {to_run} tests (shuffle seed {seed}, repeat {}{})",
        args.repeat,
        args.budget
            .map(|b| format!(", budget {}", humantime::format_duration(b)))
            .unwrap_or_default()
    );
    if let Some(b) = args.budget
        && prepared.config.predicted > b
    {
        say!(
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
