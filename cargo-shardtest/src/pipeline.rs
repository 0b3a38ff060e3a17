//! The stages every command shares, done once: build the test binaries (or unpack an
//! archive), list and select tests, read the history, plan the shards, and record a run's
//! durations into the history afterwards. `commands/` calls these; they never call a
//! command.

use crate::attrs::TestAttributes;
use crate::cli::{BuildArgs, FilterArgs};
use crate::console::say;
use crate::discover::{self, BuildOutput, DiscoverError};
use crate::exit::{BuildError, UsageError};
use crate::filter::{Selection, TestFilter};
use crate::history::TimingStore;
use crate::id::TestId;
use crate::list::{self, TestList};
use crate::plan::{self, PlanInput, ShardPlan};
use crate::shard::ShardSpec;
use anyhow::{Context, Result};
use std::time::Duration;

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
    crate::discover::doctests::check_args(build).map_err(UsageError)?;
    let docs = crate::discover::doctests::selection(build);
    let (out, unpacked) = match archive {
        // `--doc`: nothing but doctests, which cargo builds itself when it runs them.
        None if docs == crate::discover::doctests::DocSelection::Only => {
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
        crate::discover::doctests::DocSelection::Only => binaries.clear(),
        crate::discover::doctests::DocSelection::None => doc_binaries.clear(),
        crate::discover::doctests::DocSelection::Also => {}
    }
    let archived_docs = crate::discover::doctests::from_archive(doc_binaries, workspace_remap);
    // Doctests are listed through cargo beside the other binaries' listings.
    let want_docs = archive.is_none() && docs != crate::discover::doctests::DocSelection::None;
    let (list, doc) = rayon::join(
        || list::list_tests(binaries),
        || want_docs.then(|| crate::discover::doctests::discover(build)),
    );
    let mut list = list.map_err(|e| BuildError(e.to_string()))?;
    if let Some(doc) = doc {
        let (binaries, tests) = doc.map_err(|e| BuildError(e.to_string()))?;
        crate::discover::doctests::add_to_list(&mut list, binaries, tests);
    }
    crate::discover::doctests::add_to_list(&mut list, archived_docs.0, archived_docs.1);
    for w in &list.warnings {
        say!("warning: {w}");
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
            say!("    Shard {spec} from {source} (--shard auto)");
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
    stamp: Option<crate::history::FileStamp>,
    store: TimingStore,
    /// A corrupt or future-version file: the plan falls back to estimates (the same in every
    /// shard, so they still agree).
    warning: Option<String>,
}

fn read_history(path: std::path::PathBuf) -> LoadedHistory {
    let stamp = crate::history::FileStamp::of(&path);
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
    pub history_stamp: Option<crate::history::FileStamp>,
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
        say!("warning: {w}");
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
    let mut items = estimate_items_for_workers(&for_estimates, &history, Some(workers));
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

/// Folds the arguments after `--` into the filter (libtest-style flags and names).
pub fn fold_test_args(filter: &mut FilterArgs, test_args: &[String]) -> Result<Vec<String>> {
    let (rest, notes) = filter.absorb_test_args(test_args).map_err(UsageError)?;
    for n in notes {
        say!("note: {n}");
    }
    Ok(rest)
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

/// Says, before a sharded run starts, where its durations will go (after the run, the
/// summary must stay the last line).
pub fn announce_recording(
    path: &std::path::Path,
    fingerprint: &crate::id::Fingerprint,
    spec: ShardSpec,
) {
    if spec.total > 1 {
        say!(
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
    loaded: Option<(TimingStore, Option<crate::history::FileStamp>)>,
) {
    use crate::rounds::Recorded;
    match crate::rounds::record(path, &report.run.fingerprint, spec, report, loaded) {
        Ok(Recorded::Nothing | Recorded::Folded { .. }) => {}
        // Said before the run (`announce_recording`): the summary stays the last line.
        Ok(Recorded::Waiting { .. }) => {}
        Ok(Recorded::KeptBeside { warning, .. }) => say!("warning: {warning}"),
        Err(e) => say!(
            "warning: this run's durations were not recorded: {e} (the tests' results and reports are not affected)"
        ),
    }
}

/// Plan items for the listed tests from the history: each test's recorded mean and failure
/// rate, handed to the planner as plain numbers ([`plan::estimate()`]).
///
/// ```
/// # use shardtest::pipeline::estimate_items;
/// # use shardtest::history::*;
/// # use std::time::Duration;
/// let mut store = TimingStore::default();
/// for (t, ms) in [("a x", 100), ("a y", 300), ("a z", 500), ("b w", 40)] {
///     store.record(t.parse().unwrap(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 0 },
///         duration: Duration::from_millis(ms), status: SampleStatus::Passed, workers: 1,
///         attributes: Default::default() });
/// }
/// let listed: Vec<_> = ["a x", "a y", "a z", "a new", "c new"].iter()
///     .map(|t| (t.parse().unwrap(), Default::default())).collect();
/// let items = estimate_items(&listed, &store);
/// assert_eq!(items[3].estimate, Duration::from_millis(300)); // median of binary `a`
/// assert!(!items[3].known);
/// assert_eq!(items[4].estimate, Duration::from_millis(300)); // median of the listed suite
/// ```
pub fn estimate_items(
    listed: &[(TestId, TestAttributes)],
    store: &TimingStore,
) -> Vec<plan::PlanItem> {
    estimate_items_for_workers(listed, store, None)
}

/// Like [`estimate_items`], but a test with at least two kept samples taken with `workers`
/// workers uses their mean ([`crate::history::TestStats::planning_mean`]): a test's duration
/// depends on what runs beside it.
///
/// ```
/// # use shardtest::pipeline::estimate_items_for_workers;
/// # use shardtest::plan::DEFAULT_ESTIMATE;
/// # use shardtest::history::TimingStore;
/// let listed = vec![("p t".parse().unwrap(), Default::default())];
/// let items = estimate_items_for_workers(&listed, &TimingStore::default(), Some(2));
/// assert_eq!(items[0].estimate, DEFAULT_ESTIMATE);
/// ```
pub fn estimate_items_for_workers(
    listed: &[(TestId, TestAttributes)],
    store: &TimingStore,
    workers: Option<u32>,
) -> Vec<plan::PlanItem> {
    use rayon::prelude::*;
    let recorded: Vec<Option<plan::Recorded>> = listed
        .par_iter()
        .map(|(id, _)| {
            let stats = match workers {
                Some(w) => store.stats_for_workers(id, w),
                None => store.stats(id),
            };
            stats.map(|s| plan::Recorded {
                mean: s.planning_mean(),
                failure_rate_ppm: s.failure_rate_ppm(),
            })
        })
        .collect();
    plan::estimate(listed, &recorded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::FlakyPolicy;
    use crate::plan::{DEFAULT_ESTIMATE, DEFAULT_FLAKY_RATE_PPM, expected_cost};

    #[test]
    fn flaky_tests_count_expected_retries_from_the_store() {
        let policy = FlakyPolicy {
            retries: 3,
            backoff_ms: 1000,
        };
        let ten = Duration::from_secs(10);
        // From the store: 1 flaky run of 4 -> 25% -> 10 + 2.5*1... with backoff
        use crate::history::*;
        let mut store = TimingStore::default();
        for (i, st) in [
            SampleStatus::Passed,
            SampleStatus::Flaky,
            SampleStatus::Passed,
            SampleStatus::Passed,
        ]
        .iter()
        .enumerate()
        {
            store.record(
                "p f".parse().unwrap(),
                Sample {
                    run: RunStamp {
                        id: format!("r{i}").into(),
                        at_unix_ms: i as u64,
                    },
                    duration: ten,
                    status: *st,
                    workers: 1,
                    attributes: TestAttributes::default(),
                },
            );
        }
        let attrs = TestAttributes {
            flaky: Some(policy.clone()),
            ..Default::default()
        };
        let items = estimate_items(&[("p f".parse().unwrap(), attrs)], &store);
        assert_eq!(
            items[0].estimate,
            expected_cost(ten, 250_000, Some(&policy))
        );
        assert!(items[0].estimate > ten);
    }

    #[test]
    fn unknown_tests_get_binary_then_suite_median_then_default() {
        use crate::history::*;
        let mut store = TimingStore::default();
        let rec = |s: &mut TimingStore, t: &str, ms: u64| {
            s.record(
                t.parse().unwrap(),
                Sample {
                    run: RunStamp {
                        id: "r".into(),
                        at_unix_ms: 0,
                    },
                    duration: Duration::from_millis(ms),
                    status: SampleStatus::Passed,
                    workers: 1,
                    attributes: TestAttributes::default(),
                },
            )
        };
        rec(&mut store, "a x", 100);
        rec(&mut store, "a y", 200);
        rec(&mut store, "b z", 900);
        rec(&mut store, "gone q", 5); // not listed: does not count
        let listed: Vec<(TestId, TestAttributes)> = ["a x", "a y", "a new", "b z", "c new"]
            .iter()
            .map(|t| (t.parse().unwrap(), TestAttributes::default()))
            .collect();
        let it = estimate_items(&listed, &store);
        assert_eq!(it[2].estimate, Duration::from_millis(100)); // lower median of a: 100, 200
        assert!(!it[2].known && it[0].known);
        assert_eq!(it[4].estimate, Duration::from_millis(200)); // suite median of 100,200,900
        let none = estimate_items(&listed, &TimingStore::default());
        assert!(
            none.iter()
                .all(|i| i.estimate == DEFAULT_ESTIMATE && !i.known)
        );
        // A flaky test without history is assumed to fail sometimes.
        let flaky = vec![(
            "a f".parse().unwrap(),
            TestAttributes {
                flaky: Some(FlakyPolicy {
                    retries: 2,
                    backoff_ms: 0,
                }),
                ..Default::default()
            },
        )];
        let est = estimate_items(&flaky, &store)[0].estimate;
        assert_eq!(
            est,
            expected_cost(
                DEFAULT_ESTIMATE,
                DEFAULT_FLAKY_RATE_PPM,
                flaky[0].1.flaky.as_ref()
            )
        );
    }
}
