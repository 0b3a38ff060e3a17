//! The arguments of `cargo shardtest plan` (clap types only; the command is in
//! `commands/plan.rs`).

// Doc comments on clap items are the `--help` text users read, written for a terminal, not
// as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::cli::{BuildArgs, FilterArgs, JobsArg, TimingsArg};
use std::time::Duration;

/// Output format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanFormat {
    /// A table per shard and a summary.
    #[default]
    Human,
    /// The whole `ShardPlan` (and the suggestion, with `--suggest`) as JSON.
    Json,
}

/// `cargo shardtest plan`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    #[command(flatten)]
    /// Build options.
    pub build: BuildArgs,
    #[command(flatten)]
    /// Selection.
    pub filter: FilterArgs,
    /// Number of shards to plan for.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub shards: u32,
    #[command(flatten)]
    /// Workers per shard (`-j` of each job).
    pub jobs: JobsArg,
    #[command(flatten)]
    /// The timings history the plan is made from.
    pub timings: TimingsArg,
    /// Compare shard counts from 1 to `--max-shards` and recommend one.
    #[arg(long)]
    pub suggest: bool,
    /// Fixed cost every CI job pays before its tests (checkout, build, cache restore), for
    /// `--suggest`.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = shardtest_protocol::duration::parse)]
    pub setup_cost: Duration,
    /// Largest shard count `--suggest` considers.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_shards: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: PlanFormat,
}
