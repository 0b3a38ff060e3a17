//! `cargo shardtest report merge report-*.json --junit all.xml [--json all.json]`.

use crate::app::UsageError;
use crate::cli;
use crate::report::{junit, merge};
use anyhow::Context;
use std::path::PathBuf;

/// Work with the JSON reports of a run's shards.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// `report` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportCommand {
    /// Merge the shards' JSON reports into one report (JUnit and/or JSON) for the whole CI
    /// matrix, after checking they come from one plan and ran every test exactly once.
    Merge(MergeArgs),
}

/// `report merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// The shards' JSON reports (from `run --json`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the merged JUnit XML here.
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// Write the merged JSON report here.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Merge even when the reports do not prove an exactly-once run (different plans, missing
    /// or doubled tests); the problems are still printed.
    #[arg(long)]
    pub no_verify: bool,
}

/// Runs `report`.
///
/// Exit status: 0 merged and verified (failed tests do not change it: CI reads the JUnit),
/// 2 unreadable reports or reports that do not prove an exactly-once run (the merged files
/// are still written, so the failures can be published).
///
/// ```no_run
/// use shardtest::commands::report::*;
/// run(ReportArgs { command: ReportCommand::Merge(MergeArgs {
///     reports: vec!["report-1.json".into()], junit: Some("all.xml".into()), json: None, no_verify: false,
/// }) })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    match args.command {
        ReportCommand::Merge(m) => merge_command(m),
    }
}

fn merge_command(args: MergeArgs) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    for p in &args.reports {
        reports.push(merge::load(p).map_err(|e| UsageError(e.to_string()))?);
    }
    let labelled: Vec<(String, &crate::report::json::JsonReport)> = args
        .reports
        .iter()
        .zip(&reports)
        .map(|(p, r)| (p.display().to_string(), r))
        .collect();
    let verified = crate::verify::verify_labelled(&labelled);
    let merged = merge::merge(&reports).context("no reports to merge")?;
    if let Some(path) = &args.junit {
        // With `--rerun-failed` reports, the merged report holds each test once with all its
        // attempts; otherwise each shard's report keeps its shard in the JUnit.
        let refs: Vec<_> = if reports.iter().any(|r| r.rerun_of.is_some()) {
            vec![&merged.report]
        } else {
            reports.iter().collect()
        };
        junit::write(&junit::from_reports(&refs), path)
            .with_context(|| format!("writing the merged JUnit report to {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&merged).context("encoding the merged report")?;
        crate::fsutil::write_atomic(path, &bytes)
            .with_context(|| format!("writing the merged JSON report to {}", path.display()))?;
    }
    let c = &merged.report.counts;
    eprintln!(
        "    Merged {} reports: {} tests ({} passed, {} flaky, {} failed, {} non-critical failed, {} skipped, {} not run)",
        reports.len(),
        merged.report.tests.len(),
        c.passed,
        c.flaky,
        c.failed,
        c.failed_non_critical,
        c.skipped,
        c.not_run
    );
    match verified {
        Ok(summary) => {
            eprintln!("    {summary}");
            Ok(cli::EXIT_OK)
        }
        Err(e) if args.no_verify => {
            eprintln!("warning: {e}");
            Ok(cli::EXIT_OK)
        }
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}
