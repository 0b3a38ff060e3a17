//! The arguments of `cargo shardtest verify report-*.json` (clap types only; the command is in
//! `commands/verify.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

/// `cargo shardtest verify`.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// The JSON reports of every shard (`run --json`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
}
