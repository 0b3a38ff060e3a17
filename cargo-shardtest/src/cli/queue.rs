//! The arguments of `cargo shardtest queue report|status` (clap types only; the command is in
//! `commands/queue.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::PathBuf;
use std::time::Duration;

/// Where the queue is and which run.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueTarget {
    /// The queue: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], or rediss:// for TLS.
    #[arg(
        long,
        value_name = "URL",
        env = "SHARDTEST_QUEUE",
        hide_env_values = true
    )]
    pub queue: String,
    /// The run's id, the same in every job (e.g. the CI pipeline id), or `auto` to take it
    /// from the CI environment.
    #[arg(long, value_name = "ID|auto", env = "SHARDTEST_QUEUE_RUN")]
    pub queue_run: String,
}

/// `cargo shardtest queue`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueueArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: QueueCommand,
}

/// `queue` subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum QueueCommand {
    /// Wait (bounded by --wait) until every test of the run is done, then write the merged
    /// reports and prove every test ran exactly once. Exits 1, naming the missing tests, when
    /// the run is incomplete.
    Report {
        #[command(flatten)]
        /// The queue and run.
        target: QueueTarget,
        /// How long to wait for the jobs to finish, e.g. `10m`.
        #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = shardtest_protocol::duration::parse)]
        wait: Duration,
        /// Write the merged JSON report here (`verify` accepts it).
        #[arg(long, value_name = "PATH")]
        json: Option<PathBuf>,
        /// Write the merged JUnit XML report here.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Remove the run's keys from the queue afterwards (they expire by themselves anyway).
        #[arg(long)]
        delete: bool,
    },
    /// Counts of the run: queued, leased (per job), done, duplicates.
    Status {
        #[command(flatten)]
        /// The queue and run.
        target: QueueTarget,
    },
}
