//! Preparing a run: building (or unpacking), listing, selecting and planning, down to this
//! shard's tests and the runner's configuration; everything before the first test starts.
//! `audit` prepares its runs the same way.

use crate::cli::{self, RunArgs};
use crate::console::say;
use crate::exit::{ExitStatus, Failure, UsageError};
use crate::filter::{Selection, TestFilter};
use crate::history::TimingStore;
use crate::pipeline::{
    PlannedSuite, SuiteSource, default_workers, fold_test_args, parse_shard, parse_shuffle,
    plan_suite,
};
use crate::plan::{PlannedShard, ShardPlan, ShardSpec};
use crate::run::{self, RunnerConfig, ShardTest};
use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A shard ready to run: its tests, the runner configuration and what the reports need.
/// Built once by [`prepare_run`]; `run` executes it once, `audit` several times with
/// variations of the configuration.
pub struct PreparedRun {
    /// Tests of this shard (ignored ones marked `skip`).
    pub tests: Vec<ShardTest>,
    /// Runner settings from the command line.
    pub config: RunnerConfig,
    /// Every test of the plan, in all shards (for the JSON report and `verify`).
    pub planned_tests: Vec<crate::id::TestId>,
    /// Cargo's target directory (or the archive's unpack directory).
    pub target_dir: std::path::PathBuf,
    /// Keeps an unpacked archive alive while the run uses it.
    pub unpacked: Option<crate::archive::UnpackedArchive>,
    /// The timings file the plan was made from (and the run records into).
    pub timings: std::path::PathBuf,
    /// The whole plan (all shards).
    pub plan: ShardPlan,
    /// The timings history the plan was made from.
    pub history: TimingStore,
    /// The timings file as it was when `history` was read from it.
    pub history_stamp: Option<crate::history::FileStamp>,
    /// How many of this shard's tests to run have recorded history, of how many.
    pub history_coverage: (usize, usize),
    /// This shard's `#[shard::non_critical]` tests that `--skip-non-critical` left out (they
    /// are reported as skipped, and said so loudly).
    pub skipped_non_critical: Vec<crate::id::TestId>,
}

/// What the command line asks of the run besides the suite.
struct RunShape {
    /// The shard to run.
    spec: ShardSpec,
    /// Arguments for every test process (after `--`).
    extra_args: Vec<String>,
    /// Worker slots.
    workers: u32,
    /// `--shuffle`'s seed.
    shuffle_seed: Option<u64>,
}

/// Builds (or unpacks), lists, selects and plans: everything before the first test starts.
pub fn prepare_run(args: &mut RunArgs) -> Result<PreparedRun> {
    let shape = run_shape(args)?;
    let source = SuiteSource {
        build: &args.build,
        archive: args.archive.as_deref(),
        workspace_remap: args.workspace_remap.as_deref(),
        timings: args.sharding.timings.path(),
    };
    let filter = args.filter.to_filter();
    let suite = plan_suite(&source, &filter, shape.spec.total, shape.workers)?;
    let runnable_total = runnable_or_allowed(&suite, &filter, args.no_tests)?;
    let shard = suite.plan.shard(shape.spec);
    let tests = shard_tests(&suite, shard);
    let to_run = tests.iter().filter(|t| !t.skip).count();
    let skipped_non_critical = skipped_non_critical(&tests, &filter);
    if runnable_total > 0 && to_run == 0 {
        say!(
            "    Shard {} has no tests to run: the plan has {runnable_total} tests to run for {} shards, and the other shards hold them all",
            shape.spec,
            shape.spec.total
        );
    }
    let known = known_in_shard(&suite, shard);
    let config = runner_config(args, shape, &suite, shard);
    let PlannedSuite {
        out,
        unpacked,
        timings,
        history,
        history_stamp,
        items,
        plan,
        ..
    } = suite;
    Ok(PreparedRun {
        tests,
        config,
        planned_tests: items.into_iter().map(|i| i.id).collect(),
        target_dir: out.target_dir,
        unpacked,
        timings,
        plan,
        history,
        history_stamp,
        history_coverage: (known, to_run),
        skipped_non_critical,
    })
}

/// Reads the shard, the test arguments, the workers and the shuffle seed from `args`,
/// refusing runs that would run nothing (`-j 0`, `--repeat 0`).
fn run_shape(args: &mut RunArgs) -> Result<RunShape> {
    let spec = parse_shard(args.sharding.shard.as_deref(), args.sharding.shard_total)?;
    let extra_args = fold_test_args(&mut args.filter, &args.test_args.clone())?;
    let workers = args.jobs.get().unwrap_or_else(default_workers);
    if workers == 0 {
        return Err(UsageError(
            "`-j 0` runs nothing: give at least one worker, e.g. `-j 4`".into(),
        )
        .into());
    }
    let shuffle_seed = parse_shuffle(args.shuffle.as_deref())?;
    if args.repeat == 0 {
        return Err(UsageError("`--repeat 0` runs nothing: give at least 1".into()).into());
    }
    Ok(RunShape {
        spec,
        extra_args,
        workers,
        shuffle_seed,
    })
}

/// How many selected tests are to run, in all shards; none is an error, a warning or
/// fine, as `--no-tests` says.
fn runnable_or_allowed(
    suite: &PlannedSuite,
    filter: &TestFilter,
    no_tests: cli::NoTests,
) -> Result<usize> {
    let runnable_total = suite
        .selected
        .iter()
        .filter(|(_, s)| *s == Selection::Run)
        .count();
    if runnable_total == 0 {
        let message = no_tests_message(suite, filter);
        match no_tests {
            cli::NoTests::Fail => {
                return Err(Failure::new(
                    ExitStatus::NoTests,
                    format!("{message}; pass `--no-tests=pass` to allow an empty run"),
                )
                .into());
            }
            cli::NoTests::Warn => say!("warning: {message}"),
            cli::NoTests::Pass => {}
        }
    }
    Ok(runnable_total)
}

/// Why a run selected no test, naming the filters.
fn no_tests_message(suite: &PlannedSuite, filter: &TestFilter) -> String {
    let listed = suite.list.tests.len();
    let ignored = suite
        .selected
        .iter()
        .filter(|(_, s)| *s == Selection::Skip)
        .count();
    if listed == 0 {
        "no tests to run: the build has no tests (check `-p`, `--lib`, `--test` and the other target options)".to_string()
    } else if ignored > 0 {
        format!(
            "no tests to run: the {ignored} tests that {} selects are all #[ignore]d (add `--include-ignored` to run them)",
            filter.describe()
        )
    } else {
        format!(
            "no tests to run: {} matches none of the {listed} listed tests (a filter is a substring of the test name unless `--exact`; `cargo shardtest list` shows the names)",
            filter.describe()
        )
    }
}

/// The tests of `shard`, in plan order, each with its binary, estimate and whether it is
/// skipped.
fn shard_tests(suite: &PlannedSuite, shard: &PlannedShard) -> Vec<ShardTest> {
    let by_id: BTreeMap<_, _> = suite
        .selected
        .iter()
        .zip(&suite.items)
        .map(|(&(i, sel), item)| (&item.id, (&suite.list.tests[i], sel, item.estimate)))
        .collect();
    let binaries: BTreeMap<_, _> = suite
        .list
        .binaries
        .iter()
        .map(|b| (b.id.clone(), Arc::new(b.clone())))
        .collect();
    let mut tests = Vec::with_capacity(shard.tests.len());
    for id in &shard.tests {
        let (Some(&(case, sel, estimate)), Some(binary)) =
            (by_id.get(id), binaries.get(&id.binary))
        else {
            continue;
        };
        tests.push(ShardTest {
            case: case.clone(),
            binary: Arc::clone(binary),
            estimate,
            skip: sel == Selection::Skip,
        });
    }
    tests
}

/// The skipped `#[shard::non_critical]` tests that would run but for `--skip-non-critical`.
fn skipped_non_critical(tests: &[ShardTest], filter: &TestFilter) -> Vec<crate::id::TestId> {
    if !filter.skip_non_critical {
        return Vec::new();
    }
    let plain = TestFilter {
        skip_non_critical: false,
        ..filter.clone()
    };
    tests
        .iter()
        .filter(|t| t.skip && t.case.attributes.non_critical)
        .filter(|t| plain.select(&t.case) == Selection::Run)
        .map(|t| t.case.id.clone())
        .collect()
}

/// How many of `shard`'s tests to run have recorded history.
fn known_in_shard(suite: &PlannedSuite, shard: &PlannedShard) -> usize {
    let in_shard: std::collections::BTreeSet<&crate::id::TestId> = shard.tests.iter().collect();
    suite
        .selected
        .iter()
        .zip(&suite.items)
        .filter(|((_, sel), item)| {
            *sel == Selection::Run && item.known && in_shard.contains(&item.id)
        })
        .count()
}

/// The runner's settings for `shard` of `suite`, from the command line, under a new run id.
fn runner_config(
    args: &RunArgs,
    shape: RunShape,
    suite: &PlannedSuite,
    shard: &PlannedShard,
) -> RunnerConfig {
    let run_id = run::new_run_id();
    let artifact_root = args
        .artifact_dir
        .clone()
        .unwrap_or_else(|| run::default_artifact_root(&suite.out.target_dir, run_id.as_str()));
    RunnerConfig {
        workers: shape.workers,
        shard: shape.spec,
        run_id: run_id.clone(),
        fingerprint: suite.plan.fingerprint.clone(),
        predicted: shard.predicted,
        slow_after: args.slow_timeout.max(Duration::from_millis(1)),
        timeout: args.timeout,
        timeout_grace: args.timeout_grace,
        keep_output: args.keep_output,
        retries: args.retries,
        retry_backoff: args.retry_backoff.unwrap_or_default(),
        // `--fail-fast` is `--max-fail 1` (and with --queue it stops the other jobs too).
        max_fail: args
            .max_fail
            .filter(|n| *n > 0)
            .or(args.fail_fast.then_some(1)),
        logs_dir: artifact_root.join("live"),
        artifact_root,
        extra_args: shape.extra_args,
        leak_grace: args.leak_timeout,
        isolation: args.isolation,
        shuffle_seed: shape.shuffle_seed,
        repeat: args.repeat.max(1),
    }
}
