//! Command-line interface: every flag of every command, with the help text users read.
//! Flags win over environment variables (`SHARDTEST_*`), which win over the configuration
//! layers (see [`layers`]), which win over defaults.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`, `#[ignore]`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

pub mod archive;
pub mod audit;
pub mod clean;
pub mod plan;
pub mod queue;
pub mod report;
pub mod shared;
pub mod timeline;
pub mod timings;
pub mod verify;

use crate::filter::{IgnoredMode, TestFilter};
use crate::run::Isolation;
pub use shared::{JobsArg, TimingsArg};

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

use shardtest_protocol::exit::ExitStatus;

/// Exit status: every test passed (flaky tests that passed on retry count as passed).
pub const EXIT_OK: u8 = ExitStatus::Ok.code();
/// Exit status: bad usage or bad input (a malformed flag, an unreadable file).
pub const EXIT_USAGE: u8 = ExitStatus::Usage.code();
/// Exit status: no test was selected to run.
pub const EXIT_NO_TESTS: u8 = ExitStatus::NoTests.code();
/// Exit status: at least one test failed (non-critical failures excepted).
pub const EXIT_TEST_FAILED: u8 = ExitStatus::TestsFailed.code();
/// Exit status: the build (or listing the test binaries) failed.
pub const EXIT_BUILD_FAILED: u8 = ExitStatus::BuildFailed.code();
/// Exit status: a report the user asked for could not be written.
pub const EXIT_OUTPUT_FAILED: u8 = ExitStatus::OutputFailed.code();
/// Exit status: interrupted by Ctrl-C or SIGTERM (reports for what finished were written).
pub const EXIT_INTERRUPTED: u8 = ExitStatus::Interrupted.code();

/// The text after `--help`: the exit status table and the default command.
pub fn after_help() -> String {
    format!(
        "{}\n`run` is the default command: `cargo shardtest --shard 2/8` is `cargo shardtest run --shard 2/8`.",
        ExitStatus::help_table()
    )
}

/// Run a cargo test suite as balanced shards, each test in its own process.
#[derive(Debug, Parser)]
#[command(name = "cargo shardtest", bin_name = "cargo shardtest", version, after_help = after_help())]
pub struct Cli {
    /// The command (default: run).
    #[command(subcommand)]
    pub command: Command,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the tests and run them (all, or one shard of N), each in its own process.
    #[command(after_help = after_help())]
    Run(Box<RunArgs>),
    /// Build the tests and list them with their stable ids (and attributes in JSON).
    ///
    /// With `--shard K/N`, the tests of that shard: the plan places tests by their recorded
    /// durations (`--timings`) on `-j` workers per shard, so give the same history, `N` and
    /// `-j` as the run to see the same shard.
    List(Box<ListArgs>),
    /// Build the tests once and pack them into one file that `run --archive` runs anywhere.
    Archive(Box<archive::ArchiveArgs>),
    /// Work with the shards' JSON reports (`report merge`: one report for the CI matrix).
    Report(report::ReportArgs),
    /// Draw where the wall time went (HTML timeline, Chrome trace) from JSON reports.
    Timeline(timeline::TimelineArgs),
    /// Determinism audit: run the tests at -j max and -j 1, in declared, reversed and shuffled
    /// order, batched, alone and repeated, and report the tests whose outcome changes.
    ///
    /// `-j` is the workers of the parallel configuration ("-j max", at least 2). The timings
    /// history is only read: its prediction of one full run is checked against `--budget`
    /// before starting, and the audit's own runs are never recorded into it.
    Audit(Box<audit::AuditArgs>),
    /// Plan N shards from the timings history: predicted time per shard, lower bound, ratio,
    /// fingerprint; `--suggest` recommends a shard count for a per-job setup cost.
    Plan(Box<plan::PlanArgs>),
    /// Merge, import (JUnit XML) and show timings histories.
    Timings(timings::TimingsArgs),
    /// Check that the shards' JSON reports come from one plan and ran every test exactly once.
    Verify(verify::VerifyArgs),
    /// A shared queue run (`run --queue`): `status` (counts per job) and `report` (merged
    /// reports and the exactly-once proof once every test is done).
    Queue(queue::QueueArgs),
    /// Remove the runs' artifact directories (`<target-dir>/shardtest/runs`), and with
    /// `--timings` the timings history too.
    Clean(clean::CleanArgs),
}

/// Cargo build options, passed through to `cargo test --no-run`.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Cargo build options")]
pub struct BuildArgs {
    /// Package(s) to test (like `cargo test -p`).
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,
    /// Test every package of the workspace.
    #[arg(long)]
    pub workspace: bool,
    /// Leave these packages out (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Features to activate (space or comma separated).
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build in release mode.
    #[arg(short = 'r', long)]
    pub release: bool,
    /// Build with this cargo profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Build for this target triple (the tests must be runnable on this machine).
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Cargo's target directory.
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Path to the workspace's (or package's) Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Test only the library's unit tests.
    #[arg(long)]
    pub lib: bool,
    /// Test all binaries' unit tests.
    #[arg(long)]
    pub bins: bool,
    /// Test only the libraries' documentation tests (doctests), like `cargo test --doc`.
    #[arg(long)]
    pub doc: bool,
    /// Test only this binary's unit tests.
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Test all integration-test targets.
    #[arg(long)]
    pub tests: bool,
    /// Test only this integration-test target.
    #[arg(long = "test", value_name = "NAME")]
    pub test_target: Vec<String>,
    /// Test all examples.
    #[arg(long)]
    pub examples: bool,
    /// Test only this example.
    #[arg(long, value_name = "NAME")]
    pub example: Vec<String>,
    /// Require Cargo.lock to be up to date.
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// Require Cargo.lock and cache to be up to date.
    #[arg(long)]
    pub frozen: bool,
    /// Cargo build jobs (not test workers: see -j).
    #[arg(long, value_name = "N")]
    pub build_jobs: Option<u32>,
}

impl BuildArgs {
    /// The options in cargo's own syntax.
    ///
    /// ```
    /// # use shardtest::cli::BuildArgs;
    /// let b = BuildArgs { package: vec!["api".into()], release: true, ..Default::default() };
    /// assert_eq!(b.cargo_args(), vec!["--package", "api", "--release"]);
    /// ```
    pub fn cargo_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let repeated: [(&str, &[String]); 6] = [
            ("--package", &self.package),
            ("--exclude", &self.exclude),
            ("--features", &self.features),
            ("--bin", &self.bin),
            ("--test", &self.test_target),
            ("--example", &self.example),
        ];
        for (flag, values) in repeated {
            for v in values {
                a.extend([flag.to_string(), v.clone()]);
            }
        }
        let switches = [
            (self.workspace, "--workspace"),
            (self.all_features, "--all-features"),
            (self.no_default_features, "--no-default-features"),
            (self.release, "--release"),
            (self.lib, "--lib"),
            (self.bins, "--bins"),
            (self.tests, "--tests"),
            (self.examples, "--examples"),
            (self.locked, "--locked"),
            (self.offline, "--offline"),
            (self.frozen, "--frozen"),
        ];
        a.extend(
            switches
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| f.to_string()),
        );
        let valued = [
            ("--profile", self.profile.clone()),
            ("--target", self.target.clone()),
            (
                "--target-dir",
                self.target_dir.as_ref().map(|d| d.display().to_string()),
            ),
            (
                "--manifest-path",
                self.manifest_path.as_ref().map(|m| m.display().to_string()),
            ),
            ("--jobs", self.build_jobs.map(|j| j.to_string())),
        ];
        for (flag, value) in valued {
            if let Some(v) = value {
                a.extend([flag.to_string(), v]);
            }
        }
        a
    }
}

/// Test selection, as `cargo test` understands it.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Test selection")]
pub struct FilterArgs {
    /// Run only tests whose name contains one of these strings.
    #[arg(value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Filters and --skip must match the whole test name.
    #[arg(long)]
    pub exact: bool,
    /// Leave out tests whose name contains this string (repeatable).
    #[arg(long, value_name = "FILTER")]
    pub skip: Vec<String>,
    /// Run only #[ignore]d tests.
    #[arg(long, conflicts_with = "include_ignored")]
    pub ignored: bool,
    /// Run #[ignore]d tests too.
    #[arg(long)]
    pub include_ignored: bool,
    /// Only these tests (set by `--rerun-failed`, not a flag of its own).
    #[arg(skip)]
    pub only: Option<std::collections::BTreeSet<crate::id::TestId>>,
    /// Select tests with a nextest filterset, e.g. `-E 'package(api) & test(/e2e_/)'`
    /// (repeatable: a test matching any is selected; combined with FILTER by "and").
    #[arg(short = 'E', long = "filterset", value_name = "EXPR")]
    pub filterset: Vec<String>,
    /// Leave `#[shard::non_critical]` tests out (reported as skipped, and said so loudly):
    /// for a hotfix while an external sandbox is down.
    #[arg(long)]
    pub skip_non_critical: bool,
    /// The profile of `.config/nextest.toml` to apply (nextest's `--profile`; `--profile`
    /// stays cargo's build profile) [default: default].
    #[arg(long, value_name = "NAME", env = "NEXTEST_PROFILE")]
    pub nextest_profile: Option<String>,
    /// Do not apply the nextest profile's `default-filter`.
    #[arg(long)]
    pub ignore_default_filter: bool,
}

impl FilterArgs {
    /// The filter these flags describe.
    pub fn to_filter(&self) -> TestFilter {
        TestFilter {
            patterns: self.filters.clone(),
            exact: self.exact,
            skip: self.skip.clone(),
            ignored: if self.ignored {
                IgnoredMode::Only
            } else if self.include_ignored {
                IgnoredMode::Include
            } else {
                IgnoredMode::Skip
            },
            only: self.only.clone(),
            expressions: self.filterset.clone(),
            skip_non_critical: self.skip_non_critical,
            nextest_profile: self.nextest_profile.clone(),
            ignore_default_filter: self.ignore_default_filter,
        }
    }

    /// Folds libtest-style arguments given after `--` (`cargo shardtest -- foo --exact`) into
    /// the selection; returns the arguments that are not about selection (passed to every
    /// test process) and notes for the user.
    ///
    /// ```
    /// # use shardtest::cli::FilterArgs;
    /// let mut f = FilterArgs::default();
    /// let (rest, _) = f.absorb_test_args(&["db".into(), "--skip".into(), "slow".into(), "--nocapture".into()]).unwrap();
    /// assert_eq!(f.filters, vec!["db"]);
    /// assert_eq!(f.skip, vec!["slow"]);
    /// assert!(rest.is_empty());
    /// ```
    pub fn absorb_test_args(
        &mut self,
        args: &[String],
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let mut rest = Vec::new();
        let mut notes = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--exact" => self.exact = true,
                "--ignored" => self.ignored = true,
                "--include-ignored" => self.include_ignored = true,
                "--skip" => match it.next() {
                    Some(v) => self.skip.push(v.clone()),
                    None => {
                        return Err(
                            "`--skip` after `--` needs a value, e.g. `-- --skip slow`".into()
                        );
                    }
                },
                "--nocapture" | "--no-capture" | "--show-output" => notes.push(format!(
                    "`{a}` is not needed: output is always captured per test and shown for failures"
                )),
                "--test-threads" => {
                    let _ = it.next();
                    notes.push(
                        "`--test-threads` is ignored: use `-j N` to set the number of workers"
                            .into(),
                    );
                }
                s if s.starts_with("--test-threads=") => notes.push(
                    "`--test-threads` is ignored: use `-j N` to set the number of workers".into(),
                ),
                s if s.starts_with('-') => rest.push(a.clone()),
                _ => self.filters.push(a.clone()),
            }
        }
        if self.ignored && self.include_ignored {
            return Err("`--ignored` and `--include-ignored` exclude each other; pick one".into());
        }
        Ok((rest, notes))
    }
}

/// Which shard to run or list, and the timings history the plan is made from. Every job of a
/// matrix must use the same history, `N` and `-j` to compute the same plan.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Sharding")]
pub struct ShardingArgs {
    /// Only shard K of N (1-based: `1/8` .. `8/8`), or `auto` to read it from the CI
    /// environment. Every job of a matrix computes the same plan, so together the N jobs run
    /// every test exactly once.
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,
    /// With `--shard auto` on a CI system that gives only the index (Kubernetes Indexed Jobs):
    /// the number of shards.
    #[arg(long, value_name = "N", env = "SHARDTEST_SHARD_TOTAL")]
    pub shard_total: Option<u32>,
    #[command(flatten)]
    /// The timings history (`--timings`).
    pub timings: TimingsArg,
}

/// Output format of `list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// One `binary-id test-name` line per test.
    #[default]
    Human,
    /// A JSON document with binaries, tests, ignored flags and attributes.
    Json,
}

/// What a run that selects no test does (`--no-tests`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum NoTests {
    /// An error: exit status 4, with the filters named.
    #[default]
    Fail,
    /// A warning; exit status 0.
    Warn,
    /// Silently exit 0.
    Pass,
}

/// `cargo shardtest list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    #[command(flatten)]
    /// Build options.
    pub build: BuildArgs,
    #[command(flatten)]
    /// Selection.
    pub filter: FilterArgs,
    #[command(flatten)]
    /// Which shard, and the history it is planned from.
    pub sharding: ShardingArgs,
    #[command(flatten)]
    /// Workers per shard the plan assumes (`-j`).
    pub jobs: JobsArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ListFormat,
    /// List the tests of an archive (from `cargo shardtest archive`) instead of building.
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// With --archive: the package directories are under this directory (e.g. a source
    /// checkout) instead of the archive's own copy of the workspace files.
    #[arg(long, value_name = "DIR", requires = "archive")]
    pub workspace_remap: Option<PathBuf>,
}

/// `cargo shardtest run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    /// Build options.
    pub build: BuildArgs,
    #[command(flatten)]
    /// Selection.
    pub filter: FilterArgs,
    #[command(flatten)]
    /// Which shard, and the history it is planned from.
    pub sharding: ShardingArgs,
    /// Do not write this run's durations back to the timings file.
    #[arg(long)]
    pub no_record_timings: bool,
    #[command(flatten)]
    /// Tests run at once (`-j`).
    pub jobs: JobsArg,
    /// Stop a test (its whole process group) after this long, e.g. `5m`, `90s`: SIGTERM, then
    /// SIGKILL after `--timeout-grace` [default: no limit]. `0` is rejected (omit the flag
    /// for no limit).
    #[arg(long, env = "SHARDTEST_TIMEOUT", value_name = "DURATION", value_parser = parse_nonzero_duration)]
    pub timeout: Option<Duration>,
    /// Report a test as slow after this long (and at each multiple). `0` is rejected.
    #[arg(long, env = "SHARDTEST_SLOW_TIMEOUT", value_name = "DURATION", default_value = "60s", value_parser = parse_nonzero_duration)]
    pub slow_timeout: Duration,
    /// Run a failing test again up to N times (in a fresh process); it is FLAKY if a retry passes.
    #[arg(long, env = "SHARDTEST_RETRIES", value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Keep every test's output in its artifact directory (`output.log`), passing tests' too
    /// (process isolation; libtest's `--show-output`). By default a passing test's output is
    /// dropped and only failures' is kept.
    #[arg(long)]
    pub keep_output: bool,
    /// Wait this long before each retry of a failed test (a `#[shard::flaky]` policy's own
    /// backoff wins for its test), e.g. `1s` [default: none].
    #[arg(long, env = "SHARDTEST_RETRY_BACKOFF", value_name = "DURATION", value_parser = shardtest_protocol::duration::parse)]
    pub retry_backoff: Option<Duration>,
    /// How long a finished test's leftover child processes may take to exit before they are
    /// reported as leaked.
    #[arg(long, env = "SHARDTEST_LEAK_TIMEOUT", value_name = "DURATION", default_value = "100ms", value_parser = shardtest_protocol::duration::parse)]
    pub leak_timeout: Duration,
    /// Stop starting tests once N tests have failed (non-critical failures do not count):
    /// running tests finish, the rest are reported as not run. `0` runs everything
    /// [default: run everything].
    #[arg(long, env = "SHARDTEST_MAX_FAIL", value_name = "N")]
    pub max_fail: Option<u32>,
    /// Write the JSON report of this run here (written even when interrupted).
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Where to keep per-test artifacts and failure logs [default: <target-dir>/shardtest/runs/<run-id>].
    #[arg(long, value_name = "DIR")]
    pub artifact_dir: Option<PathBuf>,
    /// How tests are isolated: `process` (one process per test, the default) or `batch`
    /// (many plain tests of one binary per process: about as fast as `cargo test`).
    #[arg(long, value_enum, default_value_t, env = "SHARDTEST_ISOLATION")]
    pub isolation: Isolation,
    /// Write a JUnit XML report of this run here (written even when interrupted).
    #[arg(long, value_name = "PATH")]
    pub junit: Option<PathBuf>,
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: crate::report::terminal::ColorChoice,
    /// Mask the value of this environment variable in captured output (repeatable); values of
    /// variables named like `*_TOKEN`, `*_PASSWORD`, `*_SECRET`, `*_KEY` are masked anyway.
    #[arg(long, value_name = "NAME")]
    pub redact_env: Vec<String>,
    /// Run the tests of an archive (from `cargo shardtest archive`) instead of building:
    /// no cargo and no source tree needed.
    #[arg(long, value_name = "FILE")]
    pub archive: Option<PathBuf>,
    /// With --archive: the package directories (the tests' working directories) are under
    /// this directory (e.g. a source checkout) instead of the archive's own copy.
    #[arg(long, value_name = "DIR", requires = "archive")]
    pub workspace_remap: Option<PathBuf>,
    /// Run tests in a random order (printed; pass the seed again to replay the same order).
    #[arg(long, value_name = "SEED", num_args = 0..=1, default_missing_value = "random")]
    pub shuffle: Option<String>,
    /// Run every selected test N times (copies of non-serial tests run at once) and report
    /// each test's pass rate; retries are off.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub repeat: u32,
    /// What a run that selects no test does: `fail` (exit 4, naming the filters), `warn`
    /// (a warning, exit 0) or `pass` (exit 0). A shard that is empty only because there are
    /// more shards than tests is fine either way.
    #[arg(
        long,
        value_enum,
        default_value_t,
        env = "SHARDTEST_NO_TESTS",
        value_name = "WHAT"
    )]
    pub no_tests: NoTests,
    /// Run only the tests that failed in these JSON reports (from `run --json`, any shards,
    /// or `report merge`), unsharded. Its own JSON report names the runs it retries, so
    /// `verify` and `report merge` given the original reports and this one count each test once.
    #[arg(long, value_name = "REPORT", num_args = 1.., conflicts_with = "shard")]
    pub rerun_failed: Vec<PathBuf>,
    /// Keep the artifact directories of at most this many runs under
    /// `<target-dir>/shardtest/runs` (older ones are removed after each run).
    #[arg(long, value_name = "N", env = "SHARDTEST_KEEP_RUNS", default_value_t = crate::runs_dir::DEFAULT_KEEP_RUNS)]
    pub keep_runs: usize,
    /// Size budget of `<target-dir>/shardtest/runs`, e.g. `500MB`, `2GiB`: the oldest runs
    /// are removed until the rest fit (this run's directory is always kept).
    #[arg(long, value_name = "SIZE", env = "SHARDTEST_RUNS_SIZE_LIMIT", default_value = "1GiB", value_parser = crate::runs_dir::parse_size)]
    pub runs_size_limit: u64,
    /// Take tests from a shared queue instead of running a static shard: every CI job runs
    /// the same command and pulls work until the queue is empty (redis://[[USER]:PASSWORD@]
    /// HOST[:PORT][/DB], or rediss:// for TLS). Needs --queue-run.
    #[arg(long, value_name = "URL", env = "SHARDTEST_QUEUE", hide_env_values = true, conflicts_with_all = ["shard", "rerun_failed"], requires = "queue_run")]
    pub queue: Option<String>,
    /// With --queue: the run's id, the same in every job of the pipeline (e.g. the CI
    /// pipeline id), or `auto` to take it from the CI environment.
    #[arg(long, value_name = "ID|auto", env = "SHARDTEST_QUEUE_RUN")]
    pub queue_run: Option<String>,
    /// With --queue: a lease expires this long after its job's last heartbeat, and its tests
    /// go back into the queue for another job.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = shardtest_protocol::duration::parse)]
    pub lease_timeout: Duration,
    /// With --queue: the run's keys expire after this long.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = shardtest_protocol::duration::parse)]
    pub queue_ttl: Duration,
    /// With --queue: how long to retry an unreachable queue (with backoff) before giving up
    /// with exit status 105.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = shardtest_protocol::duration::parse)]
    pub queue_retry: Duration,
    /// Stop starting tests after the first failure (`--max-fail 1`). With --queue, every job
    /// of the run stops taking new work (the jobs finish what they hold, and exit 100).
    #[arg(long)]
    pub fail_fast: bool,
    /// Arguments after `--`: libtest-style filters (`-- foo --exact --skip bar`) are folded into
    /// the selection; anything else is passed to every test process.
    #[arg(last = true, value_name = "TEST ARGS")]
    pub test_args: Vec<String>,
    /// After `--timeout` sends SIGTERM to a test's process group, how long it may take to exit
    /// before SIGKILL (`0`: SIGKILL at once).
    #[arg(long, env = "SHARDTEST_TIMEOUT_GRACE", value_name = "DURATION", default_value = "10s", value_parser = shardtest_protocol::duration::parse)]
    pub timeout_grace: Duration,
}

/// A duration that is not zero: `--timeout 0` would time out every test and
/// `--slow-timeout 0` warn about every test at once, so both are rejected with a message.
///
/// ```
/// # use shardtest::cli::parse_nonzero_duration;
/// assert!(parse_nonzero_duration("90s").is_ok());
/// assert!(parse_nonzero_duration("0s").unwrap_err().contains("0"));
/// ```
pub fn parse_nonzero_duration(s: &str) -> Result<Duration, String> {
    let d = shardtest_protocol::duration::parse(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err(format!(
            "a duration of {s:?} would end or flag every test at once; give a positive duration (e.g. `60s`), or leave the flag out for the default"
        ));
    }
    Ok(d)
}

/// Prepares the raw process arguments: drops the `shardtest` word cargo inserts when run as
/// `cargo shardtest`, and makes `run` the default command.
///
/// ```
/// # use shardtest::cli::normalize_args;
/// let a = normalize_args(vec!["cargo-shardtest".into(), "shardtest".into(), "--shard".into(), "2/8".into()]);
/// assert_eq!(a, vec!["cargo-shardtest", "run", "--shard", "2/8"]);
/// let b = normalize_args(vec!["cargo-shardtest".into(), "list".into()]);
/// assert_eq!(b, vec!["cargo-shardtest", "list"]);
/// ```
pub fn normalize_args(mut args: Vec<String>) -> Vec<String> {
    if args.get(1).map(String::as_str) == Some("shardtest") {
        args.remove(1);
    }
    const COMMANDS: &[&str] = &[
        "run", "list", "plan", "timings", "verify", "archive", "audit", "report", "timeline",
        "clean", "queue", "help",
    ];
    let first = args.get(1).map(String::as_str);
    let explicit = match first {
        None => false,
        Some(a) => COMMANDS.contains(&a) || matches!(a, "-h" | "--help" | "-V" | "--version"),
    };
    if !explicit {
        args.insert(1.min(args.len()), "run".to_string());
    }
    args
}

/// Every `(long flag, environment variable)` of the command tree, for the configuration
/// file's keys (see [`crate::config::keys`]).
pub fn flag_env_vars() -> Vec<(String, &'static str)> {
    fn walk(cmd: &clap::Command, out: &mut Vec<(String, &'static str)>) {
        for a in cmd.get_arguments() {
            if let (Some(long), Some(var)) = (a.get_long(), a.get_env().and_then(|v| v.to_str()))
                && !out.iter().any(|(l, v)| l == long && *v == var)
            {
                out.push((
                    long.to_string(),
                    &*Box::leak(var.to_string().into_boxed_str()),
                ));
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, out);
        }
    }
    let mut out = Vec::new();
    walk(&<Cli as clap::CommandFactory>::command(), &mut out);
    out
}

/// The flags of the command tree that read `var`, long and short (`--jobs`, `-j`).
pub fn flags_reading(var: &str) -> Vec<String> {
    fn walk(cmd: &clap::Command, var: &str, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if a.get_env().is_some_and(|v| v == var) {
                let flags = a
                    .get_long()
                    .map(|l| format!("--{l}"))
                    .into_iter()
                    .chain(a.get_short().map(|s| format!("-{s}")));
                for f in flags {
                    if !out.contains(&f) {
                        out.push(f);
                    }
                }
            }
        }
        for s in cmd.get_subcommands() {
            walk(s, var, out);
        }
    }
    let mut out = Vec::new();
    walk(&<Cli as clap::CommandFactory>::command(), var, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn run_is_the_default_command() {
        let args = normalize_args(vec!["cargo-shardtest".into()]);
        let cli = Cli::try_parse_from(args).unwrap();
        assert!(matches!(cli.command, Command::Run(_)));
    }

    #[test]
    fn filters_and_test_args_parse() {
        let args = normalize_args(
            [
                "cargo-shardtest",
                "shardtest",
                "db",
                "-j",
                "3",
                "--",
                "--exact",
                "x",
            ]
            .map(String::from)
            .to_vec(),
        );
        let Command::Run(run) = Cli::try_parse_from(args).unwrap().command else {
            panic!("not run")
        };
        assert_eq!(run.filter.filters, vec!["db"]);
        assert_eq!(run.jobs.get(), Some(3));
        assert_eq!(run.test_args, vec!["--exact", "x"]);
    }
}
