//! The arguments of `cargo shardtest audit` (clap types only; the command is in
//! `commands/audit.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::cli::{BuildArgs, FilterArgs, JobsArg, TimingsArg};
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
    #[command(flatten, next_help_heading = "Audit options")]
    /// Workers of the parallel configuration ("-j max"; at least 2).
    pub jobs: JobsArg,
    /// Bound the audit's total time (after the build), e.g. `10m`: configurations that would
    /// not fit are skipped and reported; the first full run is always made (it measures the
    /// cost of the others).
    #[arg(help_heading = "Audit options", long, value_name = "DURATION", value_parser = shardtest_protocol::duration::parse)]
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
    #[arg(help_heading = "Audit options", long, env = "SHARDTEST_TIMEOUT", value_name = "DURATION", value_parser = shardtest_protocol::duration::parse)]
    pub timeout: Option<Duration>,
    #[command(flatten, next_help_heading = "Audit options")]
    /// The timings history, read only: its prediction of one full run is checked against
    /// `--budget`; the audit's own runs are never recorded into it.
    pub timings: TimingsArg,
    /// Where to keep per-configuration artifacts and failure logs [default: <target-dir>/shardtest/runs/<run-id>].
    #[arg(help_heading = "Audit options", long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// Arguments after `--`: libtest-style filters are folded into the selection; anything
    /// else is passed to every test process.
    #[arg(help_heading = "Test selection", last = true, value_name = "TEST ARGS")]
    pub test_args: Vec<String>,
}
