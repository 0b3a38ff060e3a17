//! The commands: each turns parsed arguments into discover -> plan -> run -> report calls and
//! an exit status. Errors carry context for the user; [`UsageError`] marks bad input (exit 2).

use crate::cli::{self, BuildArgs, FilterArgs, ListArgs, ListFormat, RunArgs};
use crate::discover::{self, BuildOutput, DiscoverError};
use crate::event::{EventConsumer, Fanout};
use crate::exit::{ExitStatus, Failure};
use crate::filter::{Selection, TestFilter};
use crate::list::{self, TestCase, TestList};
use crate::plan::{self, PlanInput, ShardPlan, ShardSpec};
use crate::report::json::JsonReportBuilder;
use crate::report::terminal::TerminalReporter;
use crate::run::{self, Interrupter, RunnerConfig, ShardTest};
use crate::timings::TimingStore;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Bad usage or input: the binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The build or listing failed: the binary exits with status 101.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// Builds the tests through cargo; cargo's diagnostics are shown as cargo shows them. A bad
/// manifest is a [`UsageError`], a failed build a [`BuildError`].
pub fn build_tests(build: &BuildArgs) -> Result<BuildOutput> {
    build_tests_then(build, |_| {})
}

/// [`build_tests`], calling `on_workspace_root` as soon as the workspace root is known
/// (while the build may still run; see [`discover::build`]).
fn build_tests_then(
    build: &BuildArgs,
    on_workspace_root: impl FnOnce(&std::path::Path) + Send,
) -> Result<BuildOutput> {
    discover::build(
        &build.cargo_args(),
        build.manifest_path.as_deref(),
        on_workspace_root,
    )
    .map_err(|e| match e {
        DiscoverError::Metadata(m) => {
            anyhow::Error::new(UsageError(format!("cargo metadata failed: {m}")))
        }
        other => anyhow::Error::new(BuildError(other.to_string())),
    })
}

/// Unpacks an archive under `<target-dir>/shardtest/archives` (removed when the returned guard
/// drops); `workspace_remap` points package dirs into another directory.
fn unpack_archive(
    build: &BuildArgs,
    archive: &std::path::Path,
    workspace_remap: Option<&std::path::Path>,
) -> Result<crate::archive::UnpackedArchive> {
    let target_dir = build
        .target_dir
        .clone()
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(Into::into))
        .unwrap_or_else(|| "target".into());
    let target_dir = std::path::absolute(&target_dir)
        .with_context(|| format!("resolving the target dir {}", target_dir.display()))?;
    crate::archive::unpack_for_run(
        archive,
        &target_dir.join("shardtest").join("archives"),
        &target_dir,
        workspace_remap,
    )
    .map_err(|e| UsageError(e.to_string()).into())
}

/// Builds through cargo (or, with `archive`, unpacks it: no cargo needed) and lists every test.
/// `on_workspace_root` is called early with the workspace root when building (not for an
/// archive).
pub fn discover_or_unpack(
    build: &BuildArgs,
    archive: Option<&std::path::Path>,
    workspace_remap: Option<&std::path::Path>,
    on_workspace_root: impl FnOnce(&std::path::Path) + Send,
) -> Result<(
    BuildOutput,
    TestList,
    Option<crate::archive::UnpackedArchive>,
)> {
    crate::doctest::check_args(build).map_err(UsageError)?;
    let docs = crate::doctest::selection(build);
    let (out, unpacked) = match archive {
        // `--doc`: nothing but doctests, which cargo builds itself when it runs them.
        None if docs == crate::doctest::DocSelection::Only => {
            let (workspace_root, target_dir) =
                discover::workspace_dirs(build.manifest_path.as_deref())
                    .map_err(|e| UsageError(e.to_string()))?;
            on_workspace_root(&workspace_root);
            let out = BuildOutput {
                binaries: vec![],
                workspace_root,
                target_dir,
            };
            (out, None)
        }
        None => (build_tests_then(build, on_workspace_root)?, None),
        Some(archive) => {
            let unpacked = unpack_archive(build, archive, workspace_remap)?;
            (unpacked.build.clone(), Some(unpacked))
        }
    };
    // An archive's doctests are listed from the archive, not by running anything.
    let (mut doc_binaries, mut binaries): (Vec<_>, Vec<_>) = out
        .binaries
        .clone()
        .into_iter()
        .partition(|b| b.doctest.is_some());
    // `--doc` / another target selection apply to an archive's doctests as well.
    match docs {
        crate::doctest::DocSelection::Only => binaries.clear(),
        crate::doctest::DocSelection::None => doc_binaries.clear(),
        crate::doctest::DocSelection::Also => {}
    }
    let archived_docs = crate::doctest::from_archive(doc_binaries, workspace_remap);
    // Doctests are listed through cargo beside the other binaries' listings.
    let want_docs = archive.is_none() && docs != crate::doctest::DocSelection::None;
    let (list, doc) = rayon::join(
        || list::list_tests(binaries),
        || want_docs.then(|| crate::doctest::discover(build)),
    );
    let mut list = list.map_err(|e| BuildError(e.to_string()))?;
    if let Some(doc) = doc {
        let (binaries, tests) = doc.map_err(|e| BuildError(e.to_string()))?;
        crate::doctest::add_to_list(&mut list, binaries, tests);
    }
    crate::doctest::add_to_list(&mut list, archived_docs.0, archived_docs.1);
    for w in &list.warnings {
        eprintln!("warning: {w}");
    }
    Ok((out, list, unpacked))
}

/// The tests a filter keeps (as indexes into `list.tests`), each with whether it runs or is
/// only reported as skipped.
pub fn select(list: &TestList, filter: &TestFilter) -> Vec<(usize, Selection)> {
    list.tests
        .iter()
        .enumerate()
        .map(|(i, t)| (i, filter.select(t)))
        .filter(|(_, s)| *s != Selection::Excluded)
        .collect()
}

/// [`select`], also keeping only the tests whose entry of `expression_matches` (one per test
/// of `list`, from `-E`) is true.
pub fn select_matching(
    list: &TestList,
    filter: &TestFilter,
    expression_matches: Option<&[bool]>,
) -> Vec<(usize, Selection)> {
    let mut selected = select(list, filter);
    if let Some(m) = expression_matches {
        selected.retain(|(i, _)| m.get(*i).copied().unwrap_or(false));
    }
    selected
}

/// Parses `--shard`: `K/N`, or `auto` (read from the CI environment, saying which source).
pub fn parse_shard(value: Option<&str>, shard_total: Option<u32>) -> Result<ShardSpec> {
    match value {
        None => Ok(ShardSpec::WHOLE),
        Some("auto") => {
            let env = |k: &str| std::env::var(k).ok();
            let (spec, source) = crate::ci::detect_shard(&env, shard_total)
                .map_err(|e| UsageError(e.to_string()))?;
            eprintln!("    Shard {spec} from {source} (--shard auto)");
            Ok(spec)
        }
        Some(v) => v
            .parse::<ShardSpec>()
            .map_err(|e| UsageError(e.to_string()).into()),
    }
}

/// The timings file: `--timings`, else `<workspace>/.shardtest/timings.json`.
pub fn timings_path(
    flag: Option<&std::path::Path>,
    workspace_root: &std::path::Path,
) -> std::path::PathBuf {
    flag.map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| workspace_root.join(".shardtest").join("timings.json"))
}

/// A timings history as read from its file.
struct LoadedHistory {
    path: std::path::PathBuf,
    stamp: Option<crate::timings::FileStamp>,
    store: TimingStore,
    /// A corrupt or future-version file: the plan falls back to estimates (the same in every
    /// shard, so they still agree).
    warning: Option<String>,
}

fn read_history(path: std::path::PathBuf) -> LoadedHistory {
    let stamp = crate::timings::FileStamp::of(&path);
    let (store, warning) = TimingStore::load_or_fallback(&path);
    LoadedHistory {
        path,
        stamp,
        store,
        warning,
    }
}

/// What `list`, `run` and `plan` share: the build (or unpacked archive), its tests, what the
/// filter selects, the timings history and the plan made from it. Computing it in one place
/// is what makes a shard listed exactly the shard run.
pub struct PlannedSuite {
    /// The build (or the unpacked archive's binaries).
    pub out: BuildOutput,
    /// Every listed test.
    pub list: TestList,
    /// Keeps an unpacked archive alive while it is used.
    pub unpacked: Option<crate::archive::UnpackedArchive>,
    /// The selected tests: indexes into `list.tests`, with how each is treated.
    pub selected: Vec<(usize, Selection)>,
    /// The timings file.
    pub timings: std::path::PathBuf,
    /// The history read from it.
    pub history: TimingStore,
    /// The timings file as it was when `history` was read.
    pub history_stamp: Option<crate::timings::FileStamp>,
    /// The planner's input, one item per selected test, in `selected` order. Ignored tests
    /// cost nothing but still belong to exactly one shard, so the shards' reports together
    /// account for every selected test.
    pub items: Vec<crate::plan::PlanItem>,
    /// The plan.
    pub plan: ShardPlan,
}

/// Where the suite comes from and how it is planned.
pub struct SuiteSource<'a> {
    /// Cargo build options.
    pub build: &'a BuildArgs,
    /// Run from this archive instead of building.
    pub archive: Option<&'a std::path::Path>,
    /// With `archive`: where the package directories are.
    pub workspace_remap: Option<&'a std::path::Path>,
    /// `--timings`.
    pub timings: Option<&'a std::path::Path>,
}

/// Builds (or unpacks), lists, selects and plans into `shards` shards of `workers` workers.
pub fn plan_suite(
    source: &SuiteSource<'_>,
    filter: &TestFilter,
    shards: u32,
    workers: u32,
) -> Result<PlannedSuite> {
    // An archive's workspace is a temporary unpack directory: keep history beside the job.
    let archive_root = std::path::Path::new(".");
    // The history is read on its own thread while cargo builds and the binaries are listed:
    // on a big history that read costs as much as an up-to-date build. Its path is known at
    // once from `--timings` (or for an archive), else as soon as cargo metadata has run.
    let known_path = match (source.timings, source.archive) {
        (None, None) => None,
        (flag, _) => Some(timings_path(flag, archive_root)),
    };
    let (root_tx, root_rx) = std::sync::mpsc::channel::<std::path::PathBuf>();
    let reader = std::thread::spawn(move || {
        let path = match known_path {
            Some(p) => p,
            None => timings_path(None, &root_rx.recv().ok()?),
        };
        Some(read_history(path))
    });
    let (out, mut list, unpacked) = discover_or_unpack(
        source.build,
        source.archive,
        source.workspace_remap,
        move |root| {
            let _ = root_tx.send(root.to_path_buf());
        },
    )?;
    let root = match source.archive {
        Some(_) => archive_root,
        None => out.workspace_root.as_path(),
    };
    // `.config/nextest.toml` overrides and `-E` filtersets (issue 18).
    let expression_matches =
        crate::nextest_config::configure_list(source.build, root, filter, &mut list, workers)?;
    let selected = select_matching(&list, filter, expression_matches.as_deref());
    let timings = timings_path(source.timings, root);
    let loaded = match reader.join() {
        Ok(Some(h)) if h.path == timings => h,
        // The reader could not learn the path (or read another one): read it here.
        _ => read_history(timings.clone()),
    };
    if let Some(w) = &loaded.warning {
        eprintln!("warning: {w}");
    }
    // A history that could not be read is planned from as empty, but that empty store must
    // never stand for the file when recording: no stamp, so the recorder reads it again (and
    // leaves it alone).
    let history_stamp = loaded.stamp.filter(|_| loaded.warning.is_none());
    let history = loaded.store;
    let listed: Vec<_> = selected
        .iter()
        .map(|&(i, _)| (list.tests[i].id.clone(), list.tests[i].attributes.clone()))
        .collect();
    // A doctest whose line moved plans from its old line's history.
    let moved = crate::doctest::moved_history(
        &listed.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>(),
        &history,
    );
    let for_estimates: Vec<_> = listed
        .iter()
        .map(|(id, a)| (moved.get(id).unwrap_or(id).clone(), a.clone()))
        .collect();
    let mut items = plan::estimate_items_for_workers(&for_estimates, &history, Some(workers));
    for (item, (id, _)) in items.iter_mut().zip(&listed) {
        item.id = id.clone();
    }
    for (item, (_, sel)) in items.iter_mut().zip(&selected) {
        if *sel == Selection::Skip {
            item.estimate = Duration::ZERO;
        }
    }
    // Doctest batches pay a fixed start-up (learned from the history when it has some):
    // spread it over the package's doctests.
    crate::doctest::learn_costs(&mut list, &history);
    let setup = crate::doctest::setup_costs(&list);
    crate::doctest::add_setup_cost(&mut items, shards, workers, &setup);
    let input = PlanInput {
        items,
        shards,
        workers,
    };
    let plan = plan::plan(&input);
    Ok(PlannedSuite {
        out,
        list,
        unpacked,
        selected,
        timings,
        history,
        history_stamp,
        items: input.items,
        plan,
    })
}

/// `-j` when not given: the available parallelism (what `run` and `plan` both assume).
pub fn default_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

fn fold_test_args(filter: &mut FilterArgs, test_args: &[String]) -> Result<Vec<String>> {
    let (rest, notes) = filter.absorb_test_args(test_args).map_err(UsageError)?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(rest)
}

/// `cargo shardtest list`.
pub fn list_command(args: ListArgs) -> Result<u8> {
    let spec = parse_shard(args.sharding.shard.as_deref(), args.sharding.shard_total)?;
    let workers = args.jobs.unwrap_or_else(default_workers).max(1);
    let source = SuiteSource {
        build: &args.build,
        archive: args.archive.as_deref(),
        workspace_remap: args.workspace_remap.as_deref(),
        timings: args.sharding.timings.as_deref(),
    };
    let suite = plan_suite(&source, &args.filter.to_filter(), spec.total, workers)?;
    let (list, plan) = (&suite.list, &suite.plan);
    let in_shard: std::collections::BTreeSet<_> = plan.shard(spec).tests.iter().collect();
    let chosen: Vec<(&TestCase, Selection)> = suite
        .selected
        .iter()
        .map(|&(i, s)| (&list.tests[i], s))
        .filter(|(t, _)| in_shard.contains(&t.id))
        .collect();
    let mut stdout = std::io::stdout().lock();
    use std::io::Write;
    match args.format {
        ListFormat::Human => {
            for (t, _) in &chosen {
                let ignored = if t.ignored { " (ignored)" } else { "" };
                writeln!(stdout, "{}{ignored}", t.id).context("writing the list to stdout")?;
            }
        }
        ListFormat::Json => {
            let binaries: BTreeMap<_, _> = list
                .binaries
                .iter()
                .map(|b| {
                    (
                        b.id.to_string(),
                        serde_json::json!({
                            "path": b.path, "package": b.package_name, "kind": b.kind,
                            "target": b.target_name, "package_dir": b.package_dir,
                        }),
                    )
                })
                .collect();
            let tests: Vec<_> = chosen
                .iter()
                .map(|(t, s)| {
                    serde_json::json!({
                        "id": t.id, "binary": t.id.binary, "name": t.id.name,
                        "ignored": t.ignored, "will_run": *s == Selection::Run,
                        "attributes": t.attributes,
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "version": 1, "shard": spec.to_string(), "fingerprint": plan.fingerprint,
                "binaries": binaries, "tests": tests,
            });
            serde_json::to_writer_pretty(&mut stdout, &doc).context("writing JSON to stdout")?;
            writeln!(stdout).context("writing to stdout")?;
        }
    }
    Ok(cli::EXIT_OK)
}

/// Parses `--shuffle [SEED]`: a number, or `random` for a fresh seed.
pub fn parse_shuffle(value: Option<&str>) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some("random") => {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Ok(Some(
                (t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32))
                    % 1_000_000_000,
            ))
        }
        Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
            UsageError(format!(
                "`--shuffle {v}`: the seed must be a whole number, e.g. `--shuffle 8123`"
            ))
            .into()
        }),
    }
}

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
    pub history_stamp: Option<crate::timings::FileStamp>,
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
    let workers = args.jobs.unwrap_or_else(default_workers);
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
        timings: args.sharding.timings.as_deref(),
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
        .unwrap_or_else(|| run::default_artifact_root(&suite.out.target_dir, &run_id));
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
    fingerprints: Vec<String>,
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
    let (tests, docs_not_run) = crate::doctest::split_unavailable(tests);
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
    terminal.set_spike_history(crate::audit::flaky::SpikeHistory::from_store(&history));
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
        let mut redacting = crate::doctest::NotRunDoctests {
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

/// Says, before a sharded run starts, where its durations will go (after the run, the
/// summary must stay the last line).
fn announce_recording(path: &std::path::Path, fingerprint: &str, spec: ShardSpec) {
    if spec.total > 1 {
        eprintln!(
            "     Timings this shard's durations wait in {} until all {} shards of plan {fingerprint} have run; the history they plan from stays as it is",
            crate::rounds::pending_file(path, fingerprint, spec).display(),
            spec.total
        );
    }
}

/// Adds a run's durations to the history of its round (see [`crate::rounds`]). Failing to
/// record is a warning, never a failure of the run: the exit status says how the tests did.
pub fn record_timings(
    path: &std::path::Path,
    report: &crate::report::json::JsonReport,
    spec: ShardSpec,
    loaded: Option<(TimingStore, Option<crate::timings::FileStamp>)>,
) {
    use crate::rounds::Recorded;
    match crate::rounds::record(path, &report.run.fingerprint, spec, report, loaded) {
        Ok(Recorded::Nothing | Recorded::Folded { .. }) => {}
        // Said before the run (`announce_recording`): the summary stays the last line.
        Ok(Recorded::Waiting { .. }) => {}
        Ok(Recorded::KeptBeside { warning, .. }) => eprintln!("warning: {warning}"),
        Err(e) => eprintln!(
            "warning: this run's durations were not recorded: {e} (the tests' results and reports are not affected)"
        ),
    }
}
