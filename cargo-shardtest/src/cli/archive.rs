//! The arguments of `cargo shardtest archive -o tests.tar.zst [--include PATH]... [BUILD OPTIONS]`. (clap types only; the command is in
//! `commands/archive.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::cli::BuildArgs;
use std::path::PathBuf;

/// Build the tests once and pack them (with what the runner needs) into one file that
/// `run --archive` / `list --archive` use on other machines, without cargo or the sources.
#[derive(Debug, Clone, clap::Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    /// Build options.
    pub build: BuildArgs,
    /// The archive to write (a zstd-compressed tar, e.g. `tests.tar.zst`).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Also pack this file or directory of the workspace (test data the tests read at run
    /// time); repeatable. Relative to the current directory; must be inside the workspace.
    #[arg(long, value_name = "PATH")]
    pub include: Vec<PathBuf>,
}
