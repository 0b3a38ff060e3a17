//! The arguments of `cargo shardtest report merge|html` (clap types only; the command is in
//! `commands/report.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

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
    /// Write the test-health page: one self-contained HTML file with the history's run
    /// times and pass rates, shard balance, slowest tests, tests that got slower, flakiest
    /// tests (spikes flagged), failing and flaky tests by owner (CODEOWNERS), and a
    /// searchable table of every test.
    ///
    /// Outside a cargo workspace (when `cargo metadata` fails and no `--manifest-path` is
    /// given), the timings history defaults to `.shardtest/timings.json` in the current
    /// directory.
    Html(HtmlArgs),
}

/// `report html`.
#[derive(Debug, Clone, clap::Args)]
pub struct HtmlArgs {
    /// JSON reports of the latest run's shards (or a merged report), for the balance section
    /// and measured wall times. Optional.
    #[arg(value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    #[command(flatten)]
    /// The timings history the page is drawn from.
    pub timings: crate::cli::TimingsArg,
    /// Write the page here.
    #[arg(short = 'o', long, value_name = "FILE", default_value = "health.html")]
    pub output: PathBuf,
    /// CODEOWNERS file [default: .github/CODEOWNERS, CODEOWNERS or docs/CODEOWNERS of the
    /// repository around the workspace].
    #[arg(long, value_name = "PATH")]
    pub owners: Option<PathBuf>,
    /// Path to the workspace's Cargo.toml (to place tests in source files for CODEOWNERS).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Rows in the slowest, got-slower and flakiest lists.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    /// "Got slower" threshold: recent mean at least this many times the older mean.
    #[arg(long, value_name = "RATIO", default_value_t = 1.5)]
    pub slower_ratio: f64,
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
