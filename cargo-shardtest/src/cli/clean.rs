//! The arguments of `cargo shardtest clean` (clap types only; the command is in
//! `commands/clean.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

/// `cargo shardtest clean`.
#[derive(Debug, Clone, clap::Args)]
pub struct CleanArgs {
    /// Path to the workspace's (or package's) Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Cargo's target directory [default: the workspace's].
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    // Not the shared `TimingsArg`: here the flag is a request to delete, so it reads no
    // environment variable or configuration file (a `timings` key must not make every
    // `clean` remove the history), and its value is optional.
    /// Also remove the timings history (`<workspace>/.shardtest/timings.json`, or the file
    /// given) and the shard durations waiting beside it: the next plan starts from estimates.
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = "")]
    pub timings: Option<PathBuf>,
}
