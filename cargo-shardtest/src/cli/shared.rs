//! The flags several commands share, each declared once: `-j/--jobs` (workers per shard) and
//! `--timings` (the timings history). A command takes them with `#[command(flatten)]`, so the
//! flag name, short flag, environment variable, value name and help text are the same
//! everywhere; what a flag means to one command in particular is said in that command's
//! own `--help` text.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use std::path::{Path, PathBuf};

/// `-j/--jobs N` (`SHARDTEST_JOBS`): how many tests run at once in one shard.
///
/// ```
/// use clap::Parser;
/// use shardtest::cli::JobsArg;
/// #[derive(Parser)]
/// struct Cli { #[command(flatten)] jobs: JobsArg }
/// assert_eq!(Cli::parse_from(["x", "-j", "3"]).jobs.get(), Some(3));
/// assert_eq!(Cli::parse_from(["x", "--jobs=2"]).jobs.get(), Some(2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::Args)]
pub struct JobsArg {
    /// Tests run at once per shard (worker processes) [default: available parallelism]. Plans
    /// assume this many workers per shard, so every job of a matrix must use the same `-j`
    /// to compute the same plan.
    #[arg(short = 'j', long, env = "SHARDTEST_JOBS", value_name = "N")]
    pub jobs: Option<u32>,
}

impl JobsArg {
    /// A value as if given on the command line (`None`: the flag left out).
    ///
    /// ```
    /// # use shardtest::cli::JobsArg;
    /// assert_eq!(JobsArg::new(Some(4)).get(), Some(4));
    /// ```
    pub fn new(jobs: Option<u32>) -> Self {
        Self { jobs }
    }

    /// The number given (flag, environment or configuration file), if any.
    ///
    /// ```
    /// # use shardtest::cli::JobsArg;
    /// assert_eq!(JobsArg::default().get(), None);
    /// ```
    pub fn get(&self) -> Option<u32> {
        self.jobs
    }
}

/// `--timings PATH` (`SHARDTEST_TIMINGS`): the timings history plans are made from.
///
/// ```
/// use clap::Parser;
/// use shardtest::cli::TimingsArg;
/// #[derive(Parser)]
/// struct Cli { #[command(flatten)] timings: TimingsArg }
/// let cli = Cli::parse_from(["x", "--timings", "ci/t.json"]);
/// assert_eq!(cli.timings.path(), Some(std::path::Path::new("ci/t.json")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct TimingsArg {
    /// Timings history: the tests' recorded durations, which plans are made from
    /// [default: <workspace>/.shardtest/timings.json].
    ///
    /// `run` records its durations, but never into the history its round of shards plans
    /// from: shard K/N writes them to `<PATH>.pending/`, and the run that completes the round
    /// (all N shards of one plan) folds them in. In CI, collect the jobs' `.pending` files
    /// into one place and run `cargo shardtest timings merge`. `list`, `plan`, `audit` and
    /// `report html` only read the history.
    #[arg(long, env = "SHARDTEST_TIMINGS", value_name = "PATH")]
    pub timings: Option<PathBuf>,
}

impl TimingsArg {
    /// A value as if given on the command line (`None`: the flag left out).
    ///
    /// ```
    /// # use shardtest::cli::TimingsArg;
    /// assert!(TimingsArg::new(Some("t.json".into())).path().is_some());
    /// ```
    pub fn new(timings: Option<PathBuf>) -> Self {
        Self { timings }
    }

    /// The history given (flag, environment or configuration file), if any; `None` means
    /// the default place in the workspace.
    ///
    /// ```
    /// # use shardtest::cli::TimingsArg;
    /// assert_eq!(TimingsArg::default().path(), None);
    /// ```
    pub fn path(&self) -> Option<&Path> {
        self.timings.as_deref()
    }
}
