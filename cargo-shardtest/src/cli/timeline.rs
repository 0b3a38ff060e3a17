//! The arguments of `cargo shardtest timeline report-*.json -o timeline.html [--trace trace.json]`. (clap types only; the command is in
//! `commands/timeline.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

/// Draw where a run's wall time went: one lane per worker of each shard, each test a bar
/// coloured by outcome, predicted vs actual shard ends.
#[derive(Debug, Clone, clap::Args)]
pub struct TimelineArgs {
    /// JSON reports of the run's shards (from `run --json`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the self-contained HTML timeline here.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also (or only) write Chrome trace-event JSON here (open it in Perfetto or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}
