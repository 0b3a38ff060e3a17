//! The arguments of `cargo shardtest timings merge|import|show` (clap types only; the command is in
//! `commands/timings.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;

/// Work with timings files.
#[derive(Debug, Clone, clap::Args)]
pub struct TimingsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TimingsCommand,
}

/// `timings` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TimingsCommand {
    /// Without files: fold the shard durations waiting in `<history>.pending/` into the
    /// history (every complete round; `--incomplete` for all). With files: fold those timings
    /// files (e.g. one per CI job) into `-o PATH`. Order does not matter, and history the
    /// files share is counted once.
    Merge {
        /// Timings files to merge (missing ones are an error; corrupt ones are skipped with a
        /// warning).
        #[arg(value_name = "FILE", requires = "output")]
        files: Vec<PathBuf>,
        /// Where to write the merged history (with FILEs).
        #[arg(short = 'o', long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Without FILEs: the history to fold pending shard durations into
        /// [default: <cwd>/.shardtest/timings.json].
        #[arg(long, value_name = "PATH", env = "SHARDTEST_TIMINGS")]
        timings: Option<PathBuf>,
        /// Without FILEs: fold rounds that still miss shards too (the history then changes
        /// under any round still running).
        #[arg(long, conflicts_with = "files")]
        incomplete: bool,
    },
    /// Add the durations of JUnit XML reports (nextest's `target/nextest/*/junit.xml`,
    /// cargo2junit's) to a timings file.
    Import {
        /// JUnit XML files.
        #[arg(value_name = "JUNIT", required = true)]
        files: Vec<PathBuf>,
        /// Timings file to add to [default: <cwd>/.shardtest/timings.json].
        #[arg(long, value_name = "PATH", env = "SHARDTEST_TIMINGS")]
        timings: Option<PathBuf>,
    },
    /// Show what a timings file knows: coverage, slowest tests, flakiest tests.
    Show {
        /// Timings file [default: <cwd>/.shardtest/timings.json].
        #[arg(long, value_name = "PATH", env = "SHARDTEST_TIMINGS")]
        timings: Option<PathBuf>,
        /// How many tests to list.
        #[arg(long, value_name = "N", default_value_t = 20)]
        top: usize,
        /// List tests by flakiness rate over the recorded history instead.
        #[arg(long)]
        flaky: bool,
    },
}
