//! `cargo shardtest queue report|status`: the view of a queue run from any machine, during
//! or after the jobs: its counts per job, and (`report`) the merged JSON and JUnit reports
//! with the exactly-once proof once every test is done.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`[[USER]:PASSWORD@]`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::cli;
pub use crate::cli::queue::{QueueArgs, QueueCommand, QueueTarget};
use crate::console::say;
use crate::exit::{ExitStatus, Failure};
use crate::id::TestId;
use crate::queue::redis_store::{RedisOptions, RedisQueue};
use crate::queue::{QueueRunId, QueueStatus, QueueUrl, WorkQueue, build_report};
use crate::schema::JsonReport;
use anyhow::Context;
use std::path::Path;
use std::time::{Duration, Instant};

impl QueueTarget {
    /// The parsed URL and run id (saying where `auto` found the id).
    pub fn resolve(&self) -> anyhow::Result<(QueueUrl, QueueRunId)> {
        let url: QueueUrl = self
            .queue
            .parse()
            .map_err(|e: crate::queue::QueueError| crate::exit::UsageError(e.to_string()))?;
        let run = if self.queue_run == "auto" {
            let env = |k: &str| std::env::var(k).ok();
            let (id, from) =
                QueueRunId::from_ci(&env).map_err(|e| crate::exit::UsageError(e.to_string()))?;
            say!("    Queue run {id} from {from} (--queue-run auto)");
            id
        } else {
            QueueRunId::new(&self.queue_run).map_err(|e| crate::exit::UsageError(e.to_string()))?
        };
        Ok((url, run))
    }
}

/// Runs `queue`.
///
/// ```no_run
/// use shardtest::commands::queue::*;
/// let target = QueueTarget { queue: "redis://127.0.0.1/0".into(), queue_run: "42".into() };
/// run(QueueArgs { command: QueueCommand::Status { target } })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: QueueArgs) -> anyhow::Result<u8> {
    match args.command {
        QueueCommand::Status { target } => status(&target),
        QueueCommand::Report {
            target,
            wait,
            json,
            junit,
            delete,
        } => report(
            &target,
            wait,
            ReportFiles {
                json: json.as_deref(),
                junit: junit.as_deref(),
            },
            delete,
        ),
    }
}

/// `queue status`: prints the run's counts; exit 0 when the run exists.
fn status(target: &QueueTarget) -> anyhow::Result<u8> {
    let (url, run) = target.resolve()?;
    let mut q = connect(&url, &run)?;
    let status = q.status()?;
    println!("queue run {run} at {url}: {status}");
    Ok(if status.exists {
        cli::EXIT_OK
    } else {
        ExitStatus::NotExactlyOnce.code()
    })
}

/// Where `queue report` writes the merged reports.
struct ReportFiles<'a> {
    /// `--json`.
    json: Option<&'a Path>,
    /// `--junit`.
    junit: Option<&'a Path>,
}

/// `queue report`: waits for the run to settle, writes its merged reports, and proves that
/// every seeded test has exactly one result (exit 0) or names the ones without.
fn report(
    target: &QueueTarget,
    wait: Duration,
    files: ReportFiles<'_>,
    delete: bool,
) -> anyhow::Result<u8> {
    let (url, run) = target.resolve()?;
    let mut q = connect(&url, &run)?;
    let start = Instant::now();
    let status = wait_until_settled(&mut q, start, wait)?;
    if !status.exists {
        return Err(Failure::new(
            ExitStatus::NotExactlyOnce,
            format!(
                "queue run {run} at {url} is incomplete: {status}. Its results are gone, so nothing can prove the tests ran"
            ),
        )
        .into());
    }
    let seeded = q.seeded_tests()?;
    let results = q.results()?;
    let fingerprint = status.fingerprint.clone().unwrap_or_default();
    let (report, missing) = build_report(run.as_str(), &fingerprint, &seeded, &results);
    write_reports(&report, &files)?;
    print_counts(&run, &report, &status);
    if delete {
        let n = q.delete()?;
        say!("    Deleted the run's {n} keys");
    }
    if !missing.is_empty() {
        return Err(incomplete(
            &run,
            start.elapsed(),
            &missing,
            seeded.len(),
            status.stopped,
        )
        .into());
    }
    say!(
        "    verified: each of the {} seeded tests has exactly one result (list {fingerprint})",
        seeded.len()
    );
    Ok(cli::EXIT_OK)
}

/// Polls the run's status until it settles or `wait` (counted from `start`) is over.
///
/// Settled: every test has a result, or nothing is queued or leased any more (a run stopped
/// by --fail-fast), or the run is gone.
fn wait_until_settled(
    q: &mut RedisQueue,
    start: Instant,
    wait: Duration,
) -> anyhow::Result<QueueStatus> {
    let mut status = q.status()?;
    let settled = |s: &QueueStatus| {
        !s.exists || s.done >= s.total || s.leased.is_empty() && (s.queued == 0 || s.stopped)
    };
    while !settled(&status) && start.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(500).min(wait.saturating_sub(start.elapsed())));
        status = q.status()?;
    }
    Ok(status)
}

/// Writes the merged report as JSON and as JUnit XML, where asked.
fn write_reports(report: &JsonReport, files: &ReportFiles<'_>) -> anyhow::Result<()> {
    if let Some(path) = files.json {
        let bytes = serde_json::to_vec_pretty(report).context("encoding the report")?;
        crate::fsutil::write_atomic(path, &bytes)
            .with_context(|| format!("writing the JSON report to {}", path.display()))?;
    }
    if let Some(path) = files.junit {
        crate::report::junit::write(&crate::report::junit::from_reports(&[report]), path)
            .with_context(|| format!("writing the JUnit report to {}", path.display()))?;
    }
    Ok(())
}

/// Prints the run's counts by status, with the duplicates and expired leases the queue saw.
fn print_counts(run: &QueueRunId, report: &JsonReport, status: &QueueStatus) {
    let c = &report.counts;
    say!(
        "    Queue run {run}: {} tests ({} passed, {} flaky, {} failed, {} non-critical failed, {} skipped, {} not run); {} duplicate results counted once, {} expired leases re-queued",
        report.tests.len(),
        c.passed,
        c.flaky,
        c.failed,
        c.failed_non_critical,
        c.skipped,
        c.not_run,
        status.duplicates,
        status.expired_leases
    );
}

/// The failure of a run whose `missing` tests (of `seeded`) have no result after `waited`,
/// naming the first 50.
fn incomplete(
    run: &QueueRunId,
    waited: Duration,
    missing: &[TestId],
    seeded: usize,
    stopped: bool,
) -> Failure {
    let names: Vec<String> = missing
        .iter()
        .take(50)
        .map(|t| format!("\n    {t}"))
        .collect();
    Failure::new(
        ExitStatus::NotExactlyOnce,
        format!(
            "queue run {run} is incomplete after waiting {:?}: {} of {} tests have no result{}{}{}",
            waited,
            missing.len(),
            seeded,
            if stopped {
                " (the run was stopped by --fail-fast)"
            } else {
                ""
            },
            names.concat(),
            if missing.len() > 50 {
                format!("\n    ... and {} more", missing.len() - 50)
            } else {
                String::new()
            }
        ),
    )
}

fn connect(url: &QueueUrl, run: &QueueRunId) -> anyhow::Result<RedisQueue> {
    RedisQueue::connect(url, run, RedisOptions::default()).map_err(|e| queue_failure(e).into())
}

/// A queue error as the failure it is: bad input (exit 2) or a lost queue (exit 105).
pub fn queue_failure(e: crate::queue::QueueError) -> Failure {
    Failure::new(e.exit_status(), e.to_string())
}
