//! `cargo shardtest run`: plan (or take work from a queue), run, report, record.

use crate::pipeline::*;

use crate::cli::{self, RunArgs};
use crate::event::{EventConsumer, Fanout};
use crate::exit::{ExitStatus, Failure, UsageError};
use crate::filter::{Selection, TestFilter};
use crate::history::TimingStore;
use crate::history::flakiness::SpikeHistory;
use crate::id::Fingerprint;
use crate::plan::ShardPlan;
use crate::report::json::JsonReportBuilder;
use crate::report::terminal::TerminalReporter;
use crate::run::{self, Interrupter, RunnerConfig, ShardTest};
use anyhow::{Context, Result};
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

/// Builds (or unpacks), lists, selects and plans: everything before the first test starts.
pub fn prepare_run(args: &mut RunArgs) -> Result<PreparedRun> {
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
    let source = SuiteSource {
        build: &args.build,
        archive: args.archive.as_deref(),
        workspace_remap: args.workspace_remap.as_deref(),
        timings: args.sharding.timings.path(),
    };
    let filter = args.filter.to_filter();
    let suite = plan_suite(&source, &filter, spec.total, workers)?;
    let runnable_total = suite
        .selected
        .iter()
        .filter(|(_, s)| *s == Selection::Run)
        .count();
    if runnable_total == 0 {
        let message = no_tests_message(&suite, &filter);
        match args.no_tests {
            cli::NoTests::Fail => {
                return Err(Failure::new(
                    ExitStatus::NoTests,
                    format!("{message}; pass `--no-tests=pass` to allow an empty run"),
                )
                .into());
            }
            cli::NoTests::Warn => eprintln!("warning: {message}"),
            cli::NoTests::Pass => {}
        }
    }
    let shard = suite.plan.shard(spec);
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
    let to_run = tests.iter().filter(|t| !t.skip).count();
    let skipped_non_critical: Vec<crate::id::TestId> = if filter.skip_non_critical {
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
    } else {
        Vec::new()
    };
    if runnable_total > 0 && to_run == 0 {
        eprintln!(
            "    Shard {spec} has no tests to run: the plan has {runnable_total} tests to run for {} shards, and the other shards hold them all",
            spec.total
        );
    }
    let in_shard: std::collections::BTreeSet<&crate::id::TestId> = shard.tests.iter().collect();
    let known = suite
        .selected
        .iter()
        .zip(&suite.items)
        .filter(|((_, sel), item)| {
            *sel == Selection::Run && item.known && in_shard.contains(&item.id)
        })
        .count();
    let run_id = run::new_run_id();
    let artifact_root = args
        .artifact_dir
        .clone()
        .unwrap_or_else(|| run::default_artifact_root(&suite.out.target_dir, run_id.as_str()));
    let config = RunnerConfig {
        workers,
        shard: spec,
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
        extra_args,
        leak_grace: args.leak_timeout,
        isolation: args.isolation,
        shuffle_seed,
        repeat: args.repeat.max(1),
    };
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

/// The failed tests of earlier reports, for `--rerun-failed`.
struct RerunSet {
    /// Tests whose latest recorded outcome is a failure.
    failed: std::collections::BTreeSet<crate::id::TestId>,
    /// Fingerprints of the original plans these reports ran.
    fingerprints: Vec<Fingerprint>,
    /// How many reports were read.
    reports: usize,
}

fn load_rerun_set(paths: &[std::path::PathBuf]) -> Result<RerunSet> {
    let mut reports = Vec::new();
    for p in paths {
        reports.push(crate::report::merge::load(p).map_err(|e| UsageError(e.to_string()))?);
    }
    // Originals first, then earlier reruns in the order they ran: the latest outcome wins.
    reports.sort_by_key(|r| (r.rerun_of.is_some(), r.run.started_at));
    let mut latest: BTreeMap<crate::id::TestId, crate::event::TestStatus> = BTreeMap::new();
    let mut fingerprints = Vec::new();
    for r in &reports {
        let origins = match &r.rerun_of {
            Some(f) => f.clone(),
            None => vec![r.run.fingerprint.clone()],
        };
        for f in origins {
            if !fingerprints.contains(&f) {
                fingerprints.push(f);
            }
        }
        for t in &r.tests {
            latest.insert(t.id.clone(), t.status);
        }
    }
    let failed = latest
        .into_iter()
        .filter(|(_, s)| *s == crate::event::TestStatus::Failed)
        .map(|(id, _)| id)
        .collect();
    Ok(RerunSet {
        failed,
        fingerprints,
        reports: reports.len(),
    })
}

/// `cargo shardtest run`.
pub fn run_command(mut args: RunArgs, interrupter: &Interrupter) -> Result<u8> {
    let rerun = if args.rerun_failed.is_empty() {
        None
    } else {
        let set = load_rerun_set(&args.rerun_failed)?;
        if set.failed.is_empty() {
            eprintln!(
                "    Nothing to rerun: the {} reports record no failed test",
                set.reports
            );
            return Ok(cli::EXIT_OK);
        }
        eprintln!(
            "    Rerunning the {} tests that failed in {} reports",
            set.failed.len(),
            set.reports
        );
        args.filter.only = Some(set.failed.clone());
        Some(set)
    };
    let prepared = prepare_run(&mut args)?;
    let PreparedRun {
        tests,
        config,
        planned_tests,
        unpacked: _unpacked,
        timings,
        history,
        history_stamp,
        history_coverage,
        skipped_non_critical,
        ..
    } = prepared;
    // Doctests of an archive that cannot run here are reported as not run, never dropped.
    let (tests, docs_not_run) = crate::discover::doctests::split_unavailable(tests);
    if !skipped_non_critical.is_empty() {
        eprintln!(
            "    SKIPPING {} non-critical tests (--skip-non-critical): they will NOT run",
            skipped_non_critical.len()
        );
    }
    let shuffle_seed = config.shuffle_seed;
    if let Some(seed) = shuffle_seed {
        eprintln!("    Shuffling with seed {seed} (replay: --shuffle {seed})");
    }
    // A queue job: seed (or join) the shared queue now, before any test starts.
    let mut queue_job = match &args.queue {
        Some(url) => Some(start_queue_job(url, &args, &tests, config.workers)?),
        None => None,
    };
    if !args.no_record_timings && rerun.is_none() {
        announce_recording(&timings, &config.fingerprint, config.shard);
    }
    // Buffered: the runner flushes it whenever it is about to wait, so a burst of events (a
    // batch finishing hundreds of tests) costs one write instead of one per line.
    let mut terminal = TerminalReporter::with_options(
        std::io::BufWriter::new(std::io::stderr()),
        crate::report::terminal::TerminalOptions::detect(args.color),
    );
    terminal.set_history_coverage(history_coverage.0, history_coverage.1);
    terminal.set_skipped_non_critical(skipped_non_critical.clone());
    // A failure of a test that has almost always passed is flagged as a spike.
    terminal.set_spike_history(SpikeHistory::from_store(&history));
    // Owners from the repository's CODEOWNERS, if it has one: in the failure list and JUnit.
    let owners =
        crate::report::health::owners::TestOwners::discover(args.build.manifest_path.as_deref())
            .map(crate::report::health::owners::lookup);
    if let Some(o) = &owners {
        terminal.set_owners(o.clone());
    }
    let mut junit = args.junit.clone().map(|p| {
        let mut j = crate::report::junit::JunitReporter::new(p);
        owners.iter().for_each(|o| j.set_owners(o.clone()));
        j
    });
    if let Some(j) = junit.as_mut() {
        j.set_skipped_non_critical(skipped_non_critical.clone());
    }
    let mut json = JsonReportBuilder::new(planned_tests, shuffle_seed);
    if let Some(r) = &rerun {
        json.set_rerun_of(r.fingerprints.clone());
    }
    let redactor = crate::report::redact::Redactor::from_env(&args.redact_env);
    // Held while the run runs: another run's pruning on this machine leaves the directory be.
    let _in_use = crate::runs_dir::hold(&config.artifact_root).with_context(|| {
        format!(
            "preparing the run directory {}",
            config.artifact_root.display()
        )
    })?;
    let outcome = {
        let mut fan = Fanout::default();
        fan.push(&mut terminal);
        fan.push(&mut json as &mut dyn EventConsumer);
        if let Some(j) = junit.as_mut() {
            fan.push(j);
        }
        // Secrets are masked before any consumer (terminal, JSON, JUnit) sees the output.
        let mut redacting = crate::report::redact::Redacting::new(redactor.clone(), &mut fan);
        let mut redacting = crate::discover::doctests::NotRunDoctests {
            tests: docs_not_run,
            inner: &mut redacting,
        };
        let source = queue_job
            .as_mut()
            .map(|j| j as &mut dyn run::source::WorkSource);
        run::run_from(tests, &config, &mut redacting, interrupter, source)
            .with_context(|| format!("preparing the run directory {}", config.logs_dir.display()))?
    };
    // The queue's verdict comes before the tests': a lost queue means tests may be unrun.
    let mut queue_failure = None;
    let mut stopped_by_fail_fast = false;
    if let Some(job) = queue_job.take() {
        match job.finish() {
            Ok(summary) => {
                stopped_by_fail_fast = summary.stopped;
                eprintln!(
                    "    Queue: this job ran {} tests{}{}",
                    summary.ran,
                    if summary.duplicates > 0 {
                        format!(
                            " ({} of them also finished by another job after a lease expired; counted once)",
                            summary.duplicates
                        )
                    } else {
                        String::new()
                    },
                    if summary.stopped {
                        "; the run was stopped by --fail-fast"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => queue_failure = Some(e),
        }
    }
    let mut report = json.into_report().context("the run produced no report")?;
    report.doc_setups = outcome.doc_setups.clone();
    // Each output is attempted on its own: one that fails is named, the others are still
    // written, and the exit status says so after saying how the tests did.
    let mut failed_outputs: Vec<String> = Vec::new();
    if let Some(path) = &args.json {
        // `--skip-non-critical` adds a field naming the tests it left out.
        let written = serde_json::to_value(&report)
            .map(|mut v| {
                if !skipped_non_critical.is_empty() {
                    v["skipped_non_critical"] = serde_json::json!(skipped_non_critical);
                }
                v
            })
            .and_then(|v| serde_json::to_vec_pretty(&v))
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(crate::fsutil::write_atomic(path, &bytes)?));
        if let Err(e) = written {
            failed_outputs.push(format!("the JSON report {}: {e:#}", path.display()));
        }
    }
    if let (Some(j), Some(path)) = (junit, &args.junit)
        && let Err(e) = j.finish()
    {
        failed_outputs.push(format!("the JUnit report {}: {e:#}", path.display()));
    }
    failed_outputs.extend(outcome.output_errors.iter().cloned());
    if let Err(e) = redactor.redact_dir(&config.logs_dir) {
        failed_outputs.push(format!(
            "masking secrets in the logs under {}: {e:#}",
            config.logs_dir.display()
        ));
    }
    if args.no_record_timings {
    } else if rerun.is_some() {
        // A rerun measures only failures: its durations are not a round of the plan.
    } else {
        record_timings(
            &timings,
            &report,
            config.shard,
            Some((history, history_stamp)),
        );
    }
    if args.artifact_dir.is_none()
        && let Some(runs) = config.artifact_root.parent()
        && let Err(e) = crate::runs_dir::prune(
            runs,
            args.keep_runs,
            args.runs_size_limit,
            &config.artifact_root,
        )
    {
        eprintln!(
            "warning: could not prune old runs in {}: {e}",
            runs.display()
        );
    }
    for f in &failed_outputs {
        eprintln!("error: could not write {f}");
    }
    if let Some(e) = queue_failure {
        return Err(crate::commands::queue::queue_failure(e).into());
    }
    if stopped_by_fail_fast && outcome.failed == 0 && !outcome.interrupted {
        eprintln!(
            "error: the queue run was stopped by --fail-fast after a test failed in another job; this job's tests passed, but the run did not"
        );
        return Ok(cli::EXIT_TEST_FAILED);
    }
    Ok(if outcome.interrupted {
        cli::EXIT_INTERRUPTED
    } else if outcome.failed > 0 {
        cli::EXIT_TEST_FAILED
    } else if !failed_outputs.is_empty() {
        cli::EXIT_OUTPUT_FAILED
    } else {
        cli::EXIT_OK
    })
}

/// Connects to the queue of `--queue`, seeds it (or joins it) with this job's runnable tests
/// and starts the job's heartbeat.
fn start_queue_job(
    url: &str,
    args: &RunArgs,
    tests: &[ShardTest],
    workers: u32,
) -> Result<crate::queue::QueueJob> {
    use crate::queue::redis_store::{RedisOptions, RedisQueue};
    use crate::queue::{LeasePolicy, Seeded, WorkQueue};
    let target = crate::commands::queue::QueueTarget {
        queue: url.to_string(),
        queue_run: args.queue_run.clone().unwrap_or_default(),
    };
    let (url, run) = target.resolve()?;
    let options = RedisOptions {
        policy: LeasePolicy {
            lease_timeout: args.lease_timeout.max(Duration::from_millis(100)),
            ttl: args.queue_ttl.max(Duration::from_secs(1)),
            retry_for: args.queue_retry,
            ..LeasePolicy::default()
        },
    };
    let every = options.policy.heartbeat_every();
    let failure = |e| anyhow::Error::new(crate::commands::queue::queue_failure(e));
    let mut queue = RedisQueue::connect(&url, &run, options.clone()).map_err(failure)?;
    let runnable: Vec<(crate::id::TestId, Duration)> = tests
        .iter()
        .filter(|t| !t.skip)
        .map(|t| (t.case.id.clone(), t.estimate))
        .collect();
    let seeded = queue.seed(&runnable).map_err(failure)?;
    eprintln!(
        "       Queue run {run} at {url}: {} ({} tests)",
        match seeded {
            Seeded::ByThisJob => "seeded by this job",
            Seeded::Joined => "joined",
        },
        runnable.len()
    );
    let heartbeat = RedisQueue::connect(&url, &run, options).map_err(failure)?;
    let cases: Vec<(crate::id::TestId, crate::attrs::TestAttributes)> = tests
        .iter()
        .map(|t| (t.case.id.clone(), t.case.attributes.clone()))
        .collect();
    Ok(crate::queue::QueueJob::start(
        Box::new(queue),
        Box::new(heartbeat),
        every,
        &cases,
        workers,
        args.fail_fast,
    ))
}
