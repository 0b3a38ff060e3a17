//! The determinism audit: run the same tests in several configurations (`-j max` vs `-j 1`,
//! declared vs reversed vs shuffled order, process-per-test vs batched, each suspect alone,
//! repeated) and compare the outcomes test by test.
//!
//! The audit builds and lists once; every configuration is a [`run::run_shard`] call on a
//! modified copy of the prepared [`RunnerConfig`], with its own run id (so per-run state a
//! test keys by `SHARDTEST_RUN_ID` starts fresh) and its own artifact directory.
//!
//! Classification ([`classify`]) works on per-configuration tallies of runs and failures:
//!
//! * **order-dependent**: at `-j 1` it fails every time in some order and passes in another,
//!   or it fails every time alone but passes inside the full run;
//! * **isolation/shared state**: it fails in most runs at `-j max`, and passes at `-j 1` in
//!   every order and alone;
//! * **in-process shared state**: it passes in every process-per-test configuration but fails
//!   with other tests in one process (batched, or run the way `cargo test` runs a binary:
//!   [`inproc`]);
//! * **timing/flaky**: it passes and fails in identical configurations;
//! * **always fails**: it fails everywhere (broken, not a determinism problem).
//!
//! Order is controlled without touching the scheduler: [`run::run_shard`] starts tests
//! longest-estimate first, so the audit hands it estimates that encode the order it wants.
//!
//! After the configurations, the audit names the other test of each finding ([`culprit`]):
//! a pair from the tests that ran beside a parallel failure (the attempts' start times and
//! durations), a polluter or provider by bisecting the tests that ran before an
//! order-dependent or in-process failure. Every search run is a [`ConfigRun`] of kind
//! [`ConfigKind::Pair`] or [`ConfigKind::Bisect`], priced from the baseline's durations and
//! skipped when it does not fit the budget.

pub mod culprit;
pub use crate::history::flakiness as flaky;
pub mod inproc;

use crate::event::AttemptOutcome;
use crate::id::TestId;
use crate::list::TestBinary;
use crate::report::json::{JsonReport, JsonReportBuilder};
use crate::run::{self, Interrupter, Isolation, RunnerConfig, ShardTest};
use culprit::{Bisected, Partner, Relation, Replay, Span};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Version of the audit's JSON output.
pub const AUDIT_VERSION: u32 = 2;

/// Least hard timeout the audit sets by itself after the baseline (see `--timeout`).
pub const AUTO_TIMEOUT_MIN: Duration = Duration::from_secs(60);

/// Least cost assumed per test process when estimating a configuration's time (the baseline
/// measures the real one: its wall time times its workers, less the tests' own durations).
const PER_TEST_OVERHEAD: Duration = Duration::from_millis(5);

/// A kind of configuration the audit compares. Repeats and replays of one kind count as
/// identical configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// The full run at `-j max`, one process per test, declared order (also the baseline).
    Parallel,
    /// The full run at `-j 1`, declared order.
    Serial,
    /// The full run at `-j 1`, reversed order.
    Reversed,
    /// The full run at `-j 1`, shuffled with the audit's seed.
    Shuffled,
    /// The full run at `-j 1`, many tests per process (`--isolation batch`).
    Batched,
    /// One test on its own at `-j 1`, repeated.
    Alone,
    /// Every binary's tests as threads of one process, libtest's default thread count: the
    /// way `cargo test` runs them.
    InProcess,
    /// Every binary's tests in one process, `--test-threads 1` (libtest's name order).
    InProcessSerial,
    /// Every binary's tests in one process, `--test-threads 1`, in libtest's shuffled order
    /// (`-Z unstable-options --shuffle-seed`: nightly-built test binaries only).
    InProcessShuffled,
    /// The full run at `-j 1` batched, the batches cut from the reversed order (the stable
    /// stand-in for an in-process shuffle: libtest runs a batch in name order).
    BatchedReversed,
    /// A search trial: the suspect beside one candidate (not tallied).
    Pair,
    /// A search trial: the suspect after a subset of the tests that ran before it (not
    /// tallied).
    Bisect,
}

impl ConfigKind {
    /// The kinds that run every test at `-j 1` in one process each (they differ by order).
    pub const SERIAL_ORDERS: [ConfigKind; 3] = [
        ConfigKind::Serial,
        ConfigKind::Reversed,
        ConfigKind::Shuffled,
    ];

    /// The kinds that run many tests in one process.
    pub const IN_PROCESS: [ConfigKind; 5] = [
        ConfigKind::Batched,
        ConfigKind::BatchedReversed,
        ConfigKind::InProcess,
        ConfigKind::InProcessSerial,
        ConfigKind::InProcessShuffled,
    ];

    /// The kinds that give every test its own process.
    pub const OWN_PROCESS: [ConfigKind; 5] = [
        ConfigKind::Parallel,
        ConfigKind::Serial,
        ConfigKind::Reversed,
        ConfigKind::Shuffled,
        ConfigKind::Alone,
    ];

    /// Runs the binaries directly (not through the runner's scheduler).
    fn is_direct(self) -> bool {
        matches!(
            self,
            ConfigKind::InProcess | ConfigKind::InProcessSerial | ConfigKind::InProcessShuffled
        )
    }

    /// A short human description, e.g. `-j1 reversed`.
    ///
    /// ```
    /// use shardtest::audit::ConfigKind;
    /// assert_eq!(ConfigKind::Parallel.describe(8, 0), "-j8");
    /// assert_eq!(ConfigKind::Shuffled.describe(8, 42), "-j1 shuffled (seed 42)");
    /// ```
    pub fn describe(self, max_workers: u32, seed: u64) -> String {
        match self {
            ConfigKind::Parallel => format!("-j{max_workers}"),
            ConfigKind::Serial => "-j1 declared order".into(),
            ConfigKind::Reversed => "-j1 reversed".into(),
            ConfigKind::Shuffled => format!("-j1 shuffled (seed {seed})"),
            ConfigKind::Batched => "-j1 batched".into(),
            ConfigKind::Alone => "alone".into(),
            ConfigKind::InProcess => "in-process, default threads (cargo test)".into(),
            ConfigKind::InProcessSerial => "in-process, --test-threads 1".into(),
            ConfigKind::InProcessShuffled => format!("in-process shuffled (seed {seed})"),
            ConfigKind::BatchedReversed => "-j1 batched, reversed batches".into(),
            ConfigKind::Pair => "pair".into(),
            ConfigKind::Bisect => "bisect".into(),
        }
    }
}

/// The likely cause of a suspect test's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    /// Fails only in some orders (needs, or is broken by, a test that runs before it).
    OrderDependent,
    /// Fails beside other tests in parallel; passes alone and at `-j 1`.
    SharedState,
    /// Passes in its own process but fails with other tests in one process (a `static`, a
    /// `OnceLock`, a process-wide variable): what `cargo test` exposes and the default
    /// process-per-test isolation hides.
    InProcessSharedState,
    /// Fails intermittently in identical configurations.
    TimingFlaky,
    /// Fails in every configuration: broken, not a determinism problem.
    AlwaysFails,
}

impl fmt::Display for CauseClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CauseClass::OrderDependent => "order-dependent",
            CauseClass::SharedState => "isolation/shared state",
            CauseClass::InProcessSharedState => "in-process shared state",
            CauseClass::TimingFlaky => "timing/flaky",
            CauseClass::AlwaysFails => "always fails",
        })
    }
}

/// Runs and failures of one test in one kind of configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Attempts that ran to an end (interrupted ones do not count).
    pub runs: u32,
    /// Of those, attempts that did not pass.
    pub failures: u32,
    /// Numbers (1-based, as in the configuration list) of the runs where it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_in: Vec<usize>,
    /// Output tail of the first failure.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
}

impl Tally {
    /// Failed every time, at least twice.
    pub fn reproducible(&self) -> bool {
        self.runs >= 2 && self.failures == self.runs
    }
    /// Failed at least twice and in most runs.
    pub fn mostly_fails(&self) -> bool {
        self.failures >= 2 && self.failures * 2 > self.runs
    }
    fn passes(&self) -> bool {
        self.runs > 0 && self.failures == 0
    }
}

/// Classifies one test from its tallies per kind of configuration; `None` when it never
/// failed. Returns the class and a one-line explanation.
///
/// ```
/// use shardtest::audit::{classify, CauseClass, ConfigKind, Tally};
/// use std::collections::BTreeMap;
/// let t = |runs, failures| Tally { runs, failures, ..Default::default() };
/// let mut m = BTreeMap::new();
/// m.insert(ConfigKind::Parallel, t(3, 3));
/// m.insert(ConfigKind::Serial, t(1, 0));
/// m.insert(ConfigKind::Alone, t(3, 0));
/// assert_eq!(classify(&m, 4).unwrap().0, CauseClass::SharedState);
/// m.insert(ConfigKind::Parallel, t(3, 1));
/// assert_eq!(classify(&m, 4).unwrap().0, CauseClass::TimingFlaky);
/// ```
pub fn classify(
    tallies: &BTreeMap<ConfigKind, Tally>,
    max_workers: u32,
) -> Option<(CauseClass, String)> {
    let get = |k: ConfigKind| tallies.get(&k).cloned().unwrap_or_default();
    if !tallies.values().any(|t| t.failures > 0) {
        return None;
    }
    let ran: Vec<_> = tallies.iter().filter(|(_, t)| t.runs > 0).collect();
    if ran.iter().all(|(_, t)| t.failures == t.runs) {
        return Some((
            CauseClass::AlwaysFails,
            "fails in every configuration it ran in: broken, not a determinism problem".into(),
        ));
    }
    let alone = get(ConfigKind::Alone);
    let alone_note = if alone.reproducible() {
        format!(
            "; fails alone too ({} of {}): it needs a test that runs before it",
            alone.failures, alone.runs
        )
    } else if alone.passes() {
        format!(
            "; passes alone ({} runs): a test that runs before it breaks it",
            alone.runs
        )
    } else {
        String::new()
    };
    let failing_orders: Vec<ConfigKind> = ConfigKind::SERIAL_ORDERS
        .into_iter()
        .filter(|k| get(*k).reproducible())
        .collect();
    let passing_orders: Vec<ConfigKind> = ConfigKind::SERIAL_ORDERS
        .into_iter()
        .filter(|k| get(*k).passes())
        .collect();
    let names = |ks: &[ConfigKind]| {
        ks.iter()
            .map(|k| k.describe(max_workers, 0).replace(" (seed 0)", ""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !failing_orders.is_empty() && !passing_orders.is_empty() {
        return Some((
            CauseClass::OrderDependent,
            format!(
                "fails every time in {} order, passes in {}{alone_note}",
                names(&failing_orders),
                names(&passing_orders)
            ),
        ));
    }
    let full_pass = tallies
        .iter()
        .any(|(k, t)| *k != ConfigKind::Alone && t.passes());
    if alone.reproducible() && full_pass {
        return Some((
            CauseClass::OrderDependent,
            format!(
                "fails every time alone ({} of {}), passes inside the full run: it needs a test that runs before it",
                alone.failures, alone.runs
            ),
        ));
    }
    let parallel = get(ConfigKind::Parallel);
    let calm_ok = ConfigKind::SERIAL_ORDERS
        .into_iter()
        .chain([ConfigKind::Alone])
        .all(|k| get(k).failures == 0);
    if parallel.mostly_fails() && calm_ok {
        return Some((
            CauseClass::SharedState,
            format!(
                "fails at -j{max_workers} beside other tests ({} of {} runs), passes at -j1 in every order and alone",
                parallel.failures, parallel.runs
            ),
        ));
    }
    let own_runs: u32 = ConfigKind::OWN_PROCESS.iter().map(|k| get(*k).runs).sum();
    let own_failures: u32 = ConfigKind::OWN_PROCESS
        .iter()
        .map(|k| get(*k).failures)
        .sum();
    let shared: Vec<(ConfigKind, Tally)> = ConfigKind::IN_PROCESS
        .into_iter()
        .map(|k| (k, get(k)))
        .filter(|(_, t)| t.failures > 0)
        .collect();
    let shared_failures: u32 = shared.iter().map(|(_, t)| t.failures).sum();
    if own_runs > 0 && own_failures == 0 && shared_failures >= 2 {
        let how: Vec<String> = shared
            .iter()
            .map(|(k, t)| {
                format!(
                    "{} ({} of {})",
                    k.describe(max_workers, 0).replace(" (seed 0)", ""),
                    t.failures,
                    t.runs
                )
            })
            .collect();
        return Some((
            CauseClass::InProcessSharedState,
            format!(
                "passes in its own process ({own_runs} of {own_runs} runs), fails with other tests in one process: {}",
                how.join(", ")
            ),
        ));
    }
    let mixed: Vec<String> = tallies
        .iter()
        .filter(|(_, t)| t.failures > 0)
        .map(|(k, t)| {
            format!(
                "{}: {} of {}",
                k.describe(max_workers, 0).replace(" (seed 0)", ""),
                t.failures,
                t.runs
            )
        })
        .collect();
    let confirmed = tallies.values().any(|t| t.failures > 0 && t.runs >= 2);
    let caveat = if confirmed {
        ""
    } else {
        " (seen once and not replayed: unconfirmed)"
    };
    Some((
        CauseClass::TimingFlaky,
        format!(
            "fails intermittently in identical configurations ({}){caveat}",
            mixed.join(", ")
        ),
    ))
}

/// What became of one planned configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConfigStatus {
    /// It ran to the end.
    Ran,
    /// It was not started.
    Skipped {
        /// Why (the budget, an interrupt).
        reason: String,
    },
    /// It was stopped (Ctrl-C, or the budget ran out while it ran).
    Stopped {
        /// Why.
        reason: String,
    },
}

/// One configuration the audit planned, in the order it was considered.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigRun {
    /// 1-based number.
    pub number: usize,
    /// Kind of configuration.
    pub kind: ConfigKind,
    /// Human description (`-j1 reversed`, `alone: <test> x3`, ...).
    pub label: String,
    /// Worker slots; for runs in one process, test threads (0: libtest's default).
    pub workers: u32,
    /// Shuffle seed, for the shuffled configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The test run alone, for `alone` configurations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<TestId>,
    /// Times each test ran.
    pub repeat: u32,
    /// Ran, skipped or stopped.
    #[serde(flatten)]
    pub status: ConfigStatus,
    /// Estimated time before it started.
    #[serde(with = "crate::serde_duration")]
    pub estimate: Duration,
    /// Wall time it took.
    #[serde(with = "crate::serde_duration")]
    pub elapsed: Duration,
    /// Test attempts that ended.
    pub attempts: usize,
    /// Of those, failures.
    pub failures: usize,
}

/// One suspect test with the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Suspect {
    /// The test.
    pub id: TestId,
    /// Likely cause.
    pub class: CauseClass,
    /// One-line explanation of the class from the evidence.
    pub reason: String,
    /// Runs and failures per kind of configuration.
    pub tallies: BTreeMap<ConfigKind, Tally>,
    /// The other test involved (the one beside it, the polluter, the provider), when the
    /// search found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<Partner>,
    /// What became of the search for the other test when it found none (skipped for the
    /// budget, nothing reproduced it, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

/// A test named as the other half of one or more suspects' findings: it gets its own line.
#[derive(Clone, Debug, Serialize)]
pub struct Culprit {
    /// The test.
    pub id: TestId,
    /// How it relates to the suspects.
    pub relation: Relation,
    /// Found with the tests in one process.
    pub in_process: bool,
    /// The suspects it makes fail (or, for a provider, pass).
    pub suspects: Vec<TestId>,
}

/// The audit's findings.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Schema version ([`AUDIT_VERSION`]).
    pub version: u32,
    /// Tests audited (ignored ones excluded).
    pub tests: usize,
    /// Workers of the parallel configurations.
    pub max_workers: u32,
    /// Seed of the shuffled configuration.
    pub seed: u64,
    /// Repeats of the parallel run and of each suspect alone.
    pub repeat: u32,
    /// The time bound, when given.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub budget: Option<Duration>,
    /// Every configuration, run or skipped.
    pub configs: Vec<ConfigRun>,
    /// Suspect tests, by class then id.
    pub suspects: Vec<Suspect>,
    /// The other tests the searches named, each once.
    pub culprits: Vec<Culprit>,
    /// Ctrl-C stopped the audit: the findings are partial.
    pub interrupted: bool,
    /// Wall time of the audit (after the build).
    #[serde(with = "crate::serde_duration")]
    pub elapsed: Duration,
}

mod opt_duration {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => crate::serde_duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

impl AuditReport {
    /// Configurations that were skipped or stopped.
    pub fn incomplete(&self) -> usize {
        self.configs
            .iter()
            .filter(|c| c.status != ConfigStatus::Ran)
            .count()
    }
}

/// Settings of an audit.
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Workers of the parallel configurations (`-j max`), at least 2.
    pub max_workers: u32,
    /// Runs of the parallel configuration, and of each suspect alone.
    pub repeat: u32,
    /// Seed of the shuffled configuration.
    pub seed: u64,
    /// Bound on the audit's total time.
    pub budget: Option<Duration>,
}

/// Errors of the audit itself (not of the tests).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A configuration's run directory could not be prepared.
    #[error("preparing the run directory {path}: {source}")]
    RunDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Runs an audit over prepared tests. `tests` are the tests of the run (skipped ones are
/// left out); `base` is the prepared runner configuration; progress lines go to `progress`.
///
/// ```no_run
/// use shardtest::audit::{audit, AuditOptions};
/// use shardtest::run::{Interrupter, RunnerConfig};
/// use shardtest::plan::ShardSpec;
/// let base = RunnerConfig::for_tests("/tmp/audit".into(), ShardSpec::WHOLE);
/// let opts = AuditOptions { max_workers: 2, repeat: 3, seed: 7, budget: None };
/// let report = audit(vec![], &base, &opts, &Interrupter::default(), &mut std::io::stderr())?;
/// assert!(report.suspects.is_empty());
/// # Ok::<(), shardtest::audit::AuditError>(())
/// ```
pub fn audit(
    tests: Vec<ShardTest>,
    base: &RunnerConfig,
    opts: &AuditOptions,
    interrupter: &Interrupter,
    progress: &mut dyn Write,
) -> Result<AuditReport, AuditError> {
    // Skipped (ignored) tests stay in: run_shard only reports them, and keeping them makes
    // the shuffled order the same permutation `run --shuffle SEED` gives.
    let mut tests = tests;
    tests.sort_by(|a, b| a.case.id.cmp(&b.case.id));
    let mut a = Auditor {
        tests,
        base,
        opts,
        interrupter,
        progress,
        start: Instant::now(),
        configs: Vec::new(),
        tallies: BTreeMap::new(),
        durations: BTreeMap::new(),
        elapsed_by_kind: BTreeMap::new(),
        stopped: None,
        auto_timeout: None,
        ctrl_c: false,
        overhead: PER_TEST_OVERHEAD,
        spans: Vec::new(),
        orders: BTreeMap::new(),
        partners: BTreeMap::new(),
        notes: BTreeMap::new(),
        last_trial: BTreeMap::new(),
    };
    a.run_all()?;
    Ok(a.finish())
}

/// Most candidates a pair search tries for one suspect.
const MAX_PAIR_CANDIDATES: usize = 8;

struct Auditor<'a> {
    tests: Vec<ShardTest>,
    base: &'a RunnerConfig,
    opts: &'a AuditOptions,
    interrupter: &'a Interrupter,
    progress: &'a mut dyn Write,
    start: Instant,
    configs: Vec<ConfigRun>,
    tallies: BTreeMap<TestId, BTreeMap<ConfigKind, Tally>>,
    durations: BTreeMap<TestId, Duration>,
    elapsed_by_kind: BTreeMap<ConfigKind, Duration>,
    /// Why the audit stopped early (Ctrl-C, budget exhausted mid-run).
    stopped: Option<String>,
    /// Hard timeout of the configurations after the baseline when none was given.
    auto_timeout: Option<Duration>,
    /// Ctrl-C stopped the audit.
    ctrl_c: bool,
    /// Cost per test beyond its own duration (process start, scheduling), from the baseline.
    overhead: Duration,
    /// The attempts of every parallel configuration (config number, spans): who ran beside whom.
    spans: Vec<(usize, Vec<Span>)>,
    /// The start order of every `-j1` process-per-test configuration, by config number.
    orders: BTreeMap<usize, (ConfigKind, Vec<TestId>)>,
    /// The other test of each suspect, as the searches found it.
    partners: BTreeMap<TestId, Partner>,
    /// Why a search found no other test.
    notes: BTreeMap<TestId, String>,
    /// Runs and failures of every test of the last process-per-test search trial.
    last_trial: BTreeMap<TestId, (u32, u32)>,
}

/// How a search trial runs its tests.
enum TrialRun {
    /// One process per test, the tests started in this order on `workers` slots.
    Process { order: Vec<TestId>, workers: u32 },
    /// The tests of one binary in one process.
    InProcess {
        binary: Arc<TestBinary>,
        names: Vec<TestId>,
        threads: Option<u32>,
    },
}

impl Auditor<'_> {
    fn run_all(&mut self) -> Result<(), AuditError> {
        if self.tests.iter().all(|t| t.skip) {
            return Ok(());
        }
        let k = self.opts.repeat.max(1);
        // The baseline: its durations estimate every other configuration.
        self.run_config(ConfigKind::Parallel, None, Duration::ZERO, true)?;
        if let Some(first) = self.configs.first().filter(|c| c.attempts > 0) {
            let work: Duration = self.durations.values().sum();
            let slack = (first.elapsed * first.workers).saturating_sub(work);
            self.overhead = (slack / first.attempts as u32).max(PER_TEST_OVERHEAD);
        }
        let serial_cost = self.serial_cost();
        if self.base.timeout.is_none() {
            // A test that deadlocks only in some order or beside some test must not hang the
            // audit: allow ten times the slowest test of the baseline, at least a minute.
            let slowest = self.durations.values().max().copied().unwrap_or_default();
            self.auto_timeout = Some((slowest * 10).max(AUTO_TIMEOUT_MIN));
        }
        let parallel_cost = self
            .elapsed_by_kind
            .get(&ConfigKind::Parallel)
            .copied()
            .unwrap_or_default();
        // In one process there is no per-test process start; with threads the work spreads.
        let work: Duration = self.durations.values().sum();
        let binaries = self.binaries().len() as u32;
        let in_process_serial = work + self.overhead * binaries.max(1);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        let in_process_cost = work / threads.max(1) + self.overhead * binaries.max(1);
        let shuffle_ok = self
            .binaries()
            .values()
            .all(|b| inproc::shuffle_supported(b));
        // Most informative first; within a tier the cheapest first. What does not fit the
        // budget is skipped and the next (cheaper) one is tried.
        let mut tiers: Vec<Vec<(ConfigKind, Duration)>> = vec![
            vec![(ConfigKind::Serial, serial_cost)],
            vec![
                (ConfigKind::Reversed, serial_cost),
                (ConfigKind::Batched, serial_cost),
                (ConfigKind::InProcessSerial, in_process_serial),
                (ConfigKind::InProcess, in_process_cost),
            ],
            vec![(ConfigKind::Shuffled, serial_cost)],
        ];
        if shuffle_ok {
            tiers[2].push((ConfigKind::InProcessShuffled, in_process_serial));
        } else {
            tiers[2].push((ConfigKind::BatchedReversed, serial_cost));
        }
        if k >= 2 {
            tiers[0].push((ConfigKind::Parallel, parallel_cost));
        }
        for _ in 2..k {
            tiers[2].push((ConfigKind::Parallel, parallel_cost));
        }
        for mut tier in tiers {
            tier.sort_by_key(|(_, c)| *c);
            for (kind, cost) in tier {
                self.run_config(kind, None, cost, false)?;
            }
        }
        // Each suspect alone, cheapest first; then replays of the one-off configurations a
        // suspect failed in (a failure that repeats is not timing); then newcomers alone.
        let mut alone_done = std::collections::BTreeSet::new();
        self.run_alone(&mut alone_done)?;
        let mut replay: Vec<ConfigKind> = Vec::new();
        for t in self.tallies.values() {
            for (kind, tally) in t {
                if *kind != ConfigKind::Alone
                    && tally.failures > 0
                    && tally.runs == 1
                    && !replay.contains(kind)
                {
                    replay.push(*kind);
                }
            }
        }
        replay.sort();
        for kind in replay {
            let cost = self
                .elapsed_by_kind
                .get(&kind)
                .copied()
                .unwrap_or(serial_cost);
            self.run_config(kind, None, cost, false)?;
        }
        self.run_alone(&mut alone_done)?;
        self.find_partners()
    }

    /// The libtest binaries of the audited tests (cargo's test targets), by id: what the
    /// in-process configurations run. Other kinds of units (doctests, say) are left out.
    fn binaries(&self) -> BTreeMap<crate::id::BinaryId, Arc<TestBinary>> {
        self.tests
            .iter()
            .filter(|t| {
                !t.skip
                    && inproc::runs_in_process(&t.binary)
                    && !crate::list::is_whole_binary(t.case.id.name.as_str())
            })
            .map(|t| (t.binary.id.clone(), Arc::clone(&t.binary)))
            .collect()
    }

    fn run_alone(
        &mut self,
        done: &mut std::collections::BTreeSet<TestId>,
    ) -> Result<(), AuditError> {
        let k = self.opts.repeat.max(1);
        let mut suspects: Vec<(Duration, TestId)> = self
            .tallies
            .iter()
            .filter(|(id, t)| !done.contains(*id) && t.values().any(|x| x.failures > 0))
            .map(|(id, _)| (self.duration(id), id.clone()))
            .collect();
        suspects.sort();
        for (d, id) in suspects {
            done.insert(id.clone());
            let cost = (d + self.overhead) * k + self.overhead;
            self.run_config(ConfigKind::Alone, Some(id), cost, false)?;
        }
        Ok(())
    }

    fn duration(&self, id: &TestId) -> Duration {
        self.durations.get(id).copied().unwrap_or_default()
    }

    fn serial_cost(&self) -> Duration {
        self.tests
            .iter()
            .filter(|t| !t.skip)
            .map(|t| self.duration(&t.case.id) + self.overhead)
            .sum()
    }

    fn remaining(&self) -> Option<Duration> {
        self.opts
            .budget
            .map(|b| b.saturating_sub(self.start.elapsed()))
    }

    /// Why a configuration estimated at `estimate` must not start, if it must not.
    fn skip_reason(&self, estimate: Duration, exempt: bool) -> Option<String> {
        if let Some(why) = &self.stopped {
            return Some(why.clone());
        }
        let left = self.remaining().filter(|_| !exempt)?;
        (estimate > left).then(|| {
            format!(
                "would overrun the budget: needs ~{:.1}s, {:.1}s left",
                estimate.as_secs_f64(),
                left.as_secs_f64()
            )
        })
    }

    /// Records a configuration that was not started and says so on the progress stream.
    fn push_skipped(&mut self, mut record: ConfigRun, reason: String) {
        let _ = writeln!(
            self.progress,
            "       Audit [{:>2}] skipped {}: {reason}",
            record.number, record.label
        );
        record.status = ConfigStatus::Skipped { reason };
        self.configs.push(record);
    }

    /// Records a configuration that ran (or was stopped) and says so on the progress stream.
    fn push_done(&mut self, record: ConfigRun) {
        if record.status == ConfigStatus::Ran {
            let e = self.elapsed_by_kind.entry(record.kind).or_default();
            *e = (*e).max(record.elapsed);
        }
        let _ = writeln!(
            self.progress,
            "       Audit [{:>2}] {}: {} runs, {} failed ({:.2}s){}",
            record.number,
            record.label,
            record.attempts,
            record.failures,
            record.elapsed.as_secs_f64(),
            match &record.status {
                ConfigStatus::Stopped { reason } => format!(", stopped: {reason}"),
                _ => String::new(),
            }
        );
        self.configs.push(record);
    }

    fn new_record(&self, kind: ConfigKind, label: String, workers: u32, repeat: u32) -> ConfigRun {
        ConfigRun {
            number: self.configs.len() + 1,
            kind,
            label,
            workers,
            seed: matches!(kind, ConfigKind::Shuffled | ConfigKind::InProcessShuffled)
                .then_some(self.opts.seed),
            only: None,
            repeat,
            status: ConfigStatus::Ran,
            estimate: Duration::ZERO,
            elapsed: Duration::ZERO,
            attempts: 0,
            failures: 0,
        }
    }

    /// Counts one attempt of `id` in a configuration of `kind`.
    fn tally(&mut self, id: &TestId, kind: ConfigKind, number: usize, passed: bool, tail: &str) {
        let tally = self
            .tallies
            .entry(id.clone())
            .or_default()
            .entry(kind)
            .or_default();
        tally.runs += 1;
        if !passed {
            tally.failures += 1;
            if !tally.failed_in.contains(&number) {
                tally.failed_in.push(number);
            }
            if tally.output_tail.is_empty() {
                tally.output_tail = tail.to_string();
            }
        }
    }

    /// Runs one configuration (or records why it was skipped).
    fn run_config(
        &mut self,
        kind: ConfigKind,
        only: Option<TestId>,
        estimate: Duration,
        baseline: bool,
    ) -> Result<(), AuditError> {
        let number = self.configs.len() + 1;
        let workers = match kind {
            ConfigKind::Parallel => self.opts.max_workers.max(2),
            ConfigKind::InProcess => 0,
            _ => 1,
        };
        let repeat = if kind == ConfigKind::Alone {
            self.opts.repeat.max(1)
        } else {
            1
        };
        let mut label = kind.describe(self.opts.max_workers.max(2), self.opts.seed);
        if let Some(id) = &only {
            label = format!("alone x{repeat}: {id}");
        } else if kind == ConfigKind::Parallel && baseline {
            label.push_str(" (baseline)");
        }
        let mut record = self.new_record(kind, label, workers, repeat);
        record.only = only.clone();
        record.estimate = estimate;
        if let Some(reason) = self.skip_reason(estimate, baseline) {
            self.push_skipped(record, reason);
            return Ok(());
        }
        if kind.is_direct() {
            return self.run_direct(record);
        }

        let order: Vec<usize> = match kind {
            ConfigKind::Reversed | ConfigKind::BatchedReversed => {
                (0..self.tests.len()).rev().collect()
            }
            _ => (0..self.tests.len()).collect(),
        };
        let order: Vec<usize> = order
            .into_iter()
            .filter(|&i| only.as_ref().is_none_or(|id| &self.tests[i].case.id == id))
            .collect();
        let slug = format!("audit-{number:02}-{kind:?}").to_lowercase();
        let (tests, config) = self.configure(kind, &order, &slug, workers, repeat);
        let (report, elapsed, stopped) = self.execute(tests, &config, baseline)?;
        record.elapsed = elapsed;
        if let Some(why) = stopped {
            record.status = ConfigStatus::Stopped { reason: why };
        }
        if let Some(report) = report {
            let mut spans = Vec::new();
            for t in &report.tests {
                for a in &t.attempts {
                    if a.outcome == AttemptOutcome::Interrupted {
                        continue;
                    }
                    record.attempts += 1;
                    if baseline {
                        self.durations.insert(t.id.clone(), a.duration);
                    }
                    let tail = if a.outcome.is_pass() {
                        String::new()
                    } else if a.output_tail.trim().is_empty() {
                        crate::event::describe(&a.outcome)
                    } else {
                        a.output_tail.clone()
                    };
                    if !a.outcome.is_pass() {
                        record.failures += 1;
                    }
                    self.tally(&t.id, kind, number, a.outcome.is_pass(), &tail);
                    spans.push(Span {
                        id: t.id.clone(),
                        start: a.started_at,
                        duration: a.duration,
                        passed: a.outcome.is_pass(),
                    });
                }
            }
            if kind == ConfigKind::Parallel {
                self.spans.push((number, spans));
            } else if workers == 1 && only.is_none() && ConfigKind::SERIAL_ORDERS.contains(&kind) {
                spans.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.id.cmp(&b.id)));
                self.orders
                    .insert(number, (kind, spans.into_iter().map(|s| s.id).collect()));
            }
        }
        self.push_done(record);
        Ok(())
    }

    /// Runs a configuration of [`ConfigKind::is_direct`] kind: every binary's tests in one
    /// process, one binary after the other.
    fn run_direct(&mut self, mut record: ConfigRun) -> Result<(), AuditError> {
        let kind = record.kind;
        let mut spec = inproc::InProcessSpec {
            threads: (kind != ConfigKind::InProcess).then_some(1),
            shuffle_seed: (kind == ConfigKind::InProcessShuffled).then_some(self.opts.seed),
            extra_args: self.base.extra_args.clone(),
            timeout: None,
        };
        let started = Instant::now();
        for (bin_id, binary) in self.binaries() {
            let ids: Vec<TestId> = self
                .tests
                .iter()
                .filter(|t| {
                    !t.skip
                        && t.binary.id == bin_id
                        && !crate::list::is_whole_binary(t.case.id.name.as_str())
                })
                .map(|t| t.case.id.clone())
                .collect();
            spec.timeout = self.process_timeout(&ids);
            let (run, stopped) = self.run_in_process(&binary, &ids, &spec)?;
            for id in &ids {
                let Some(r) = run.results.get(id.name.as_str()) else {
                    continue;
                };
                record.attempts += 1;
                if !r.passed {
                    record.failures += 1;
                }
                self.tally(id, kind, record.number, r.passed, &r.output);
            }
            if let Some(why) = stopped {
                record.status = ConfigStatus::Stopped { reason: why };
                break;
            }
        }
        record.elapsed = started.elapsed();
        self.push_done(record);
        Ok(())
    }

    /// The bound on one process running `ids` one after the other: the per-test timeout
    /// (`--timeout`, else the automatic one) on top of twice their recorded durations, so a
    /// binary of many tests is not cut short while a deadlock still ends.
    fn process_timeout(&self, ids: &[TestId]) -> Option<Duration> {
        let per_test = self.base.timeout.or(self.auto_timeout)?;
        let work: Duration = ids.iter().map(|id| self.duration(id)).sum();
        Some(per_test + work * 2)
    }

    /// One in-process run of `ids` (all of `binary`), watched for the budget and Ctrl-C.
    /// Returns the run and, when the audit must stop, why.
    fn run_in_process(
        &mut self,
        binary: &TestBinary,
        ids: &[TestId],
        spec: &inproc::InProcessSpec,
    ) -> Result<(inproc::InProcessRun, Option<String>), AuditError> {
        let names: Vec<&str> = ids.iter().map(|id| id.name.as_str()).collect();
        let deadline = self.remaining().map(|left| Instant::now() + left);
        let interrupter = self.interrupter.clone();
        let stop = move || {
            if interrupter.is_interrupted() {
                Some("interrupted (Ctrl-C)".to_string())
            } else if deadline.is_some_and(|d| Instant::now() >= d) {
                Some("the budget ran out".to_string())
            } else {
                None
            }
        };
        let run = inproc::run_in_process(binary, &names, spec, &stop).map_err(|source| {
            AuditError::RunDir {
                path: binary.path.clone(),
                source,
            }
        })?;
        let halted = match &run.stopped {
            Some(why) if why.starts_with("interrupted") => {
                self.ctrl_c = true;
                Some(why.clone())
            }
            Some(why) if why.starts_with("the budget") => Some(why.clone()),
            _ => None,
        };
        if let Some(why) = &halted {
            self.stopped = Some(why.clone());
        }
        Ok((run, halted))
    }

    /// Runs `tests` with `config` under the budget's watchdog (unless `exempt`). Returns the
    /// run's report, its wall time, and why it was stopped, if it was.
    fn execute(
        &mut self,
        tests: Vec<ShardTest>,
        config: &RunnerConfig,
        exempt: bool,
    ) -> Result<(Option<JsonReport>, Duration, Option<String>), AuditError> {
        let mut json = JsonReportBuilder::new(Vec::new(), config.shuffle_seed);
        let budget_hit = Arc::new(AtomicBool::new(false));
        // The baseline is exempt: without it nothing else can be estimated.
        let (cancel, watchdog) = if exempt {
            (std::sync::mpsc::channel().0, None)
        } else {
            self.watchdog(Arc::clone(&budget_hit))
        };
        let started = Instant::now();
        let result = run::run_shard(tests, config, &mut json, self.interrupter);
        drop(cancel);
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        let outcome = result.map_err(|source| AuditError::RunDir {
            path: config.logs_dir.clone(),
            source,
        })?;
        let elapsed = started.elapsed();
        let mut stopped = None;
        if outcome.interrupted {
            let why = if budget_hit.load(Ordering::SeqCst) {
                "the budget ran out".to_string()
            } else {
                self.ctrl_c = true;
                "interrupted (Ctrl-C)".to_string()
            };
            self.stopped = Some(why.clone());
            stopped = Some(why);
        }
        Ok((json.report(), elapsed, stopped))
    }

    /// A watchdog that interrupts the running configuration when the budget runs out.
    fn watchdog(
        &self,
        hit: Arc<AtomicBool>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        Option<std::thread::JoinHandle<()>>,
    ) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let Some(left) = self.remaining() else {
            return (tx, None);
        };
        let interrupter = self.interrupter.clone();
        let handle = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(left) {
                hit.store(true, Ordering::SeqCst);
                interrupter.interrupt();
            }
        });
        (tx, Some(handle))
    }

    /// The tests and runner settings of one run: `order` (indices into the audited tests)
    /// is the start order.
    fn configure(
        &self,
        kind: ConfigKind,
        order: &[usize],
        slug: &str,
        workers: u32,
        repeat: u32,
    ) -> (Vec<ShardTest>, RunnerConfig) {
        let n = order.len() as u64;
        let tests: Vec<ShardTest> = order
            .iter()
            .enumerate()
            .map(|(pos, &i)| {
                let mut t = self.tests[i].clone();
                // run_shard starts tests longest-estimate first: encode the order as estimates.
                t.estimate = Duration::from_nanos(n - pos as u64);
                t
            })
            .collect();
        let mut config = self.base.clone();
        config.timeout = self.base.timeout.or(self.auto_timeout);
        config.run_id = format!("{}-{slug}", self.base.run_id);
        config.artifact_root = self.base.artifact_root.join(slug);
        config.logs_dir = config.artifact_root.join("live");
        config.workers = workers;
        config.retries = 0;
        config.repeat = repeat;
        config.isolation = if matches!(kind, ConfigKind::Batched | ConfigKind::BatchedReversed) {
            Isolation::Batch
        } else {
            Isolation::Process
        };
        config.shuffle_seed = (kind == ConfigKind::Shuffled).then_some(self.opts.seed);
        (tests, config)
    }

    fn index_of(&self, id: &TestId) -> Option<usize> {
        self.tests.iter().position(|t| &t.case.id == id)
    }

    /// One search trial (`kind` is [`ConfigKind::Pair`] or [`ConfigKind::Bisect`]): runs
    /// `how` up to `reps` times and counts the suspect's runs and failures. With `settle`,
    /// it stops as soon as a majority of failures can no longer be reached. `Err` is why
    /// the trial was not made (or was stopped).
    #[allow(clippy::too_many_arguments)]
    fn trial(
        &mut self,
        kind: ConfigKind,
        label: String,
        how: &TrialRun,
        suspect: &TestId,
        reps: u32,
        settle: bool,
        estimate: Duration,
    ) -> Result<Result<(u32, u32), String>, AuditError> {
        let workers = match how {
            TrialRun::Process { workers, .. } => *workers,
            TrialRun::InProcess { threads, .. } => threads.unwrap_or(0),
        };
        let mut record = self.new_record(kind, label, workers, reps);
        record.only = Some(suspect.clone());
        record.estimate = estimate;
        if let Some(reason) = self.skip_reason(estimate, false) {
            self.push_skipped(record, reason.clone());
            return Ok(Err(reason));
        }
        let number = record.number;
        let majority = reps / 2 + 1;
        let started = Instant::now();
        let (mut runs, mut failures) = (0u32, 0u32);
        let mut halted = None;
        self.last_trial.clear();
        for rep in 1..=reps {
            let passed = match how {
                TrialRun::Process { order, workers } => {
                    let idx: Vec<usize> = order.iter().filter_map(|id| self.index_of(id)).collect();
                    let slug = format!("audit-{number:02}-{kind:?}-{rep}").to_lowercase();
                    let (tests, config) = self.configure(kind, &idx, &slug, *workers, 1);
                    let (report, _, stopped) = self.execute(tests, &config, false)?;
                    if let Some(why) = stopped {
                        halted = Some(why);
                        break;
                    }
                    let attempt = report.as_ref().and_then(|r| {
                        r.tests
                            .iter()
                            .find(|t| &t.id == suspect)
                            .and_then(|t| t.attempts.first().cloned())
                    });
                    for t in report.iter().flat_map(|r| r.tests.iter()) {
                        let c = self.last_trial.entry(t.id.clone()).or_default();
                        for a in &t.attempts {
                            c.0 += 1;
                            c.1 += u32::from(!a.outcome.is_pass());
                        }
                        record.attempts += t.attempts.len();
                        record.failures +=
                            t.attempts.iter().filter(|a| !a.outcome.is_pass()).count();
                    }
                    match attempt {
                        Some(a) => a.outcome.is_pass(),
                        None => continue,
                    }
                }
                TrialRun::InProcess {
                    binary,
                    names,
                    threads,
                } => {
                    let spec = inproc::InProcessSpec {
                        threads: *threads,
                        shuffle_seed: None,
                        extra_args: self.base.extra_args.clone(),
                        timeout: self.process_timeout(names),
                    };
                    let (run, stopped) = self.run_in_process(binary, names, &spec)?;
                    if let Some(why) = stopped {
                        halted = Some(why);
                        break;
                    }
                    record.attempts += run.results.len();
                    record.failures += run.results.values().filter(|r| !r.passed).count();
                    for id in names {
                        if let Some(r) = run.results.get(id.name.as_str()) {
                            let c = self.last_trial.entry(id.clone()).or_default();
                            c.0 += 1;
                            c.1 += u32::from(!r.passed);
                        }
                    }
                    match run.results.get(suspect.name.as_str()) {
                        Some(r) => r.passed,
                        None => continue,
                    }
                }
            };
            runs += 1;
            if !passed {
                failures += 1;
            }
            if settle && runs - failures > reps - majority {
                break;
            }
        }
        record.elapsed = started.elapsed();
        if let Some(why) = &halted {
            record.status = ConfigStatus::Stopped {
                reason: why.clone(),
            };
        }
        self.push_done(record);
        Ok(match halted {
            Some(why) => Err(why),
            None => Ok((runs, failures)),
        })
    }

    /// Searches the other test of every suspect it can: a pair for tests that fail beside
    /// others, a polluter or provider for order-dependent ones, either for in-process ones.
    fn find_partners(&mut self) -> Result<(), AuditError> {
        let max_workers = self.opts.max_workers.max(2);
        let mut suspects: Vec<(Duration, TestId, CauseClass)> = self
            .tallies
            .iter()
            .filter_map(|(id, t)| classify(t, max_workers).map(|(c, _)| (id, t, c)))
            .map(|(id, _, c)| (self.duration(id), id.clone(), c))
            .collect();
        suspects.sort();
        for (_, id, class) in suspects {
            if self.partners.contains_key(&id) {
                continue; // named by the search of its pair
            }
            let tallies = self.tallies.get(&id).cloned().unwrap_or_default();
            let get = |k: ConfigKind| tallies.get(&k).cloned().unwrap_or_default();
            let failed_beside = get(ConfigKind::Parallel).failures > 0
                && ConfigKind::SERIAL_ORDERS
                    .into_iter()
                    .chain([ConfigKind::Alone])
                    .all(|k| get(k).failures == 0);
            match class {
                CauseClass::OrderDependent => self.search_order(&id)?,
                CauseClass::InProcessSharedState => self.search_in_process(&id)?,
                // Only parallel runs failed (and, under a tight budget, perhaps nothing else
                // ran, which makes it look like it always fails): look for the pair.
                CauseClass::SharedState | CauseClass::TimingFlaky | CauseClass::AlwaysFails
                    if failed_beside =>
                {
                    self.search_beside(&id)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn note(&mut self, id: &TestId, note: String) {
        let _ = writeln!(self.progress, "       Audit: {id}: {note}");
        self.notes.insert(id.clone(), note);
    }

    /// How the suspect did in its own process, for the evidence: "passes alone (3 of 3)".
    fn alone_evidence(&self, id: &TestId) -> String {
        let t = self
            .tallies
            .get(id)
            .and_then(|t| t.get(&ConfigKind::Alone))
            .cloned()
            .unwrap_or_default();
        if t.runs == 0 {
            "not run alone".into()
        } else if t.failures == 0 {
            format!("passes alone ({} of {})", t.runs, t.runs)
        } else {
            format!("fails alone ({} of {})", t.failures, t.runs)
        }
    }

    fn binary_of(&self, id: &TestId) -> Option<Arc<TestBinary>> {
        self.tests
            .iter()
            .find(|t| &t.case.id == id)
            .map(|t| Arc::clone(&t.binary))
    }

    fn replay<'b>(
        &self,
        other: &'b TestId,
        suspect: &'b TestId,
        f: impl FnOnce(&Replay<'_>) -> String,
    ) -> String {
        match (self.binary_of(other), self.binary_of(suspect)) {
            (Some(ob), Some(sb)) => f(&Replay {
                other: (other, &ob),
                suspect: (suspect, &sb),
            }),
            _ => String::new(),
        }
    }

    /// Pair search for a test that failed beside others at `-jN`: the tests that were
    /// running while it failed, each replayed beside it.
    fn search_beside(&mut self, id: &TestId) -> Result<(), AuditError> {
        let failing: Vec<Vec<Span>> = self
            .spans
            .iter()
            .filter(|(_, s)| s.iter().any(|x| &x.id == id && !x.passed))
            .map(|(_, s)| s.clone())
            .collect();
        let mut cands = culprit::rank_beside(id, &failing);
        // A partner already found for another suspect is tried first (pairs are symmetric).
        if let Some(pos) = cands.iter().position(|c| {
            self.partners
                .get(&c.id)
                .is_some_and(|p| &p.id == id && p.relation == Relation::Beside)
        }) {
            let c = cands.remove(pos);
            cands.insert(0, c);
        }
        let total = cands.len();
        if total == 0 {
            self.note(id, "no other test was running while it failed".into());
            return Ok(());
        }
        let k = self.opts.repeat.max(1);
        for (tried, c) in cands.into_iter().take(MAX_PAIR_CANDIDATES).enumerate() {
            let per_run = self.duration(id).max(c.cost) + self.overhead * 2;
            let how = TrialRun::Process {
                order: vec![c.id.clone(), id.clone()],
                workers: 2,
            };
            let label = format!("beside x{k}: {id} + {}", c.id.name);
            match self.trial(ConfigKind::Pair, label, &how, id, k, true, per_run * k)? {
                Err(why) => {
                    self.note(
                        id,
                        format!("pair search skipped after {tried} of {total} candidates: {why}"),
                    );
                    return Ok(());
                }
                Ok((runs, failures)) if runs > 0 && failures * 2 > runs => {
                    let evidence = format!(
                        "fails when run beside `{}` ({failures} of {runs} runs); {}",
                        c.id,
                        self.alone_evidence(id)
                    );
                    let replay = self.replay(&c.id, id, |r| r.beside(k));
                    // The same replays show whether the other one failed too: a pair of
                    // suspects is searched once.
                    let (c_runs, c_failures) =
                        self.last_trial.get(&c.id).copied().unwrap_or_default();
                    let c_suspect = self.tallies.get(&c.id).is_some_and(|t| {
                        t.get(&ConfigKind::Parallel).is_some_and(|p| p.failures > 0)
                    });
                    if c_suspect && c_runs > 0 && c_failures * 2 > c_runs {
                        let evidence = format!(
                            "fails when run beside `{id}` ({c_failures} of {c_runs} runs); {}",
                            self.alone_evidence(&c.id)
                        );
                        let replay = self.replay(id, &c.id, |r| r.beside(k));
                        self.partners.entry(c.id.clone()).or_insert(Partner {
                            id: id.clone(),
                            relation: Relation::Beside,
                            in_process: false,
                            runs: c_runs,
                            failures: c_failures,
                            evidence,
                            replay,
                        });
                    }
                    self.partners.insert(
                        id.clone(),
                        Partner {
                            id: c.id,
                            relation: Relation::Beside,
                            in_process: false,
                            runs,
                            failures,
                            evidence,
                            replay,
                        },
                    );
                    return Ok(());
                }
                Ok(_) => {}
            }
        }
        let more = total.saturating_sub(MAX_PAIR_CANDIDATES);
        self.note(
            id,
            format!(
                "no single test reproduces it beside it (tried {} of the tests running while it failed{})",
                total.min(MAX_PAIR_CANDIDATES),
                if more > 0 {
                    format!("; {more} more not tried")
                } else {
                    String::new()
                }
            ),
        );
        Ok(())
    }

    /// Bisection for an order-dependent test: the earlier test that breaks it (it passes
    /// alone) or that it needs (it fails alone).
    fn search_order(&mut self, id: &TestId) -> Result<(), AuditError> {
        let tallies = self.tallies.get(id).cloned().unwrap_or_default();
        let alone = tallies.get(&ConfigKind::Alone).cloned().unwrap_or_default();
        let needs = alone.reproducible();
        // Needs a provider: look before it in an order where it passed; else a polluter:
        // look before it in an order where it failed.
        let order = self.orders.values().find(|(kind, _)| {
            let t = tallies.get(kind).cloned().unwrap_or_default();
            if needs {
                t.failures == 0 && t.runs > 0
            } else {
                t.reproducible()
            }
        });
        let Some((_, order)) = order.cloned() else {
            self.note(id, "no -j1 order to bisect was recorded".into());
            return Ok(());
        };
        let before: Vec<TestId> = order.iter().take_while(|t| *t != id).cloned().collect();
        let relation = if needs {
            Relation::Provider
        } else {
            Relation::Polluter
        };
        let make = |subset: &[TestId]| {
            let mut order = subset.to_vec();
            order.push(id.clone());
            TrialRun::Process { order, workers: 1 }
        };
        self.bisect_and_verify(id, &before, relation, false, &make)
    }

    /// Search for a test that passes in its own process but fails in one process with others:
    /// bisect the tests before it in name order when it failed at one thread, else replay it
    /// beside each test of its binary (in one process, default threads).
    fn search_in_process(&mut self, id: &TestId) -> Result<(), AuditError> {
        let Some(binary) = self.binary_of(id).filter(|b| inproc::runs_in_process(b)) else {
            return Ok(());
        };
        let tallies = self.tallies.get(id).cloned().unwrap_or_default();
        let one_thread_failed = [
            ConfigKind::InProcessSerial,
            ConfigKind::Batched,
            ConfigKind::BatchedReversed,
        ]
        .iter()
        .any(|k| tallies.get(k).is_some_and(|t| t.failures > 0));
        let same_binary: Vec<TestId> = self
            .tests
            .iter()
            .filter(|t| !t.skip && t.binary.id == binary.id && &t.case.id != id)
            .map(|t| t.case.id.clone())
            .collect();
        if one_thread_failed {
            // libtest runs one thread's tests in name order: the tests before it are those
            // whose names sort first.
            let before: Vec<TestId> = same_binary
                .iter()
                .filter(|t| t.name < id.name)
                .cloned()
                .collect();
            let make = |subset: &[TestId]| {
                let mut names = subset.to_vec();
                names.push(id.clone());
                TrialRun::InProcess {
                    binary: Arc::clone(&binary),
                    names,
                    threads: Some(1),
                }
            };
            return self.bisect_and_verify(id, &before, Relation::Polluter, true, &make);
        }
        // No start times in one process: the tests that failed there too come first (the
        // other side of a race usually fails as well), then the cheapest.
        let failed_in_process = |a: &Self, t: &TestId| {
            a.tallies.get(t).is_some_and(|m| {
                ConfigKind::IN_PROCESS
                    .iter()
                    .any(|k| m.get(k).is_some_and(|x| x.failures > 0))
            })
        };
        let mut cands: Vec<(bool, Duration, TestId)> = same_binary
            .into_iter()
            .map(|t| (!failed_in_process(self, &t), self.duration(&t), t))
            .collect();
        cands.sort();
        let total = cands.len();
        let k = self.opts.repeat.max(1);
        for (tried, (_, cost, c)) in cands.into_iter().take(MAX_PAIR_CANDIDATES).enumerate() {
            let how = TrialRun::InProcess {
                binary: Arc::clone(&binary),
                names: vec![c.clone(), id.clone()],
                threads: None,
            };
            let per_run = self.duration(id).max(cost) + self.overhead;
            let label = format!("in-process beside x{k}: {id} + {}", c.name);
            match self.trial(ConfigKind::Pair, label, &how, id, k, true, per_run * k)? {
                Err(why) => {
                    self.note(
                        id,
                        format!("pair search skipped after {tried} of {total} candidates: {why}"),
                    );
                    return Ok(());
                }
                Ok((runs, failures)) if runs > 0 && failures * 2 > runs => {
                    let evidence = format!(
                        "fails when run beside `{c}` in one process ({failures} of {runs} runs); {}",
                        self.own_process_evidence(id)
                    );
                    let replay = self.replay(&c, id, |r| r.in_process(false));
                    // The same replays show whether the other one failed too.
                    let (c_runs, c_failures) = self.last_trial.get(&c).copied().unwrap_or_default();
                    let c_suspect = self.tallies.get(&c).is_some_and(|t| {
                        classify(t, self.opts.max_workers.max(2))
                            .is_some_and(|(class, _)| class == CauseClass::InProcessSharedState)
                    });
                    if c_suspect && c_runs > 0 && c_failures * 2 > c_runs {
                        let evidence = format!(
                            "fails when run beside `{id}` in one process ({c_failures} of {c_runs} runs); {}",
                            self.own_process_evidence(&c)
                        );
                        let replay = self.replay(id, &c, |r| r.in_process(false));
                        self.partners.entry(c.clone()).or_insert(Partner {
                            id: id.clone(),
                            relation: Relation::Beside,
                            in_process: true,
                            runs: c_runs,
                            failures: c_failures,
                            evidence,
                            replay,
                        });
                    }
                    self.partners.insert(
                        id.clone(),
                        Partner {
                            id: c,
                            relation: Relation::Beside,
                            in_process: true,
                            runs,
                            failures,
                            evidence,
                            replay,
                        },
                    );
                    return Ok(());
                }
                Ok(_) => {}
            }
        }
        self.note(
            id,
            format!(
                "no single test of its binary reproduces it in one process (tried {} of {total})",
                total.min(MAX_PAIR_CANDIDATES)
            ),
        );
        Ok(())
    }

    fn own_process_evidence(&self, id: &TestId) -> String {
        let runs: u32 = self
            .tallies
            .get(id)
            .map(|t| {
                ConfigKind::OWN_PROCESS
                    .iter()
                    .filter_map(|k| t.get(k))
                    .map(|t| t.runs)
                    .sum()
            })
            .unwrap_or(0);
        format!("passes in its own process ({runs} of {runs})")
    }

    /// Bisects `before` for the one test that gives `id` the outcome of `relation` (fails
    /// after a polluter, passes after a provider), then replays the two `--repeat` times.
    fn bisect_and_verify(
        &mut self,
        id: &TestId,
        before: &[TestId],
        relation: Relation,
        in_process: bool,
        make: &dyn Fn(&[TestId]) -> TrialRun,
    ) -> Result<(), AuditError> {
        if before.is_empty() {
            self.note(id, "no test ran before it".into());
            return Ok(());
        }
        let want_failure = relation == Relation::Polluter;
        let cost_of = |a: &Self, subset: &[TestId]| -> Duration {
            subset.iter().map(|t| a.duration(t)).sum::<Duration>()
                + a.duration(id)
                + a.overhead * (subset.len() as u32 + 1)
        };
        let mut error = None;
        let found = {
            let mut trial = |subset: &[TestId]| -> culprit::Trial {
                if error.is_some() {
                    return Err("an error".into());
                }
                let how = make(subset);
                let label = format!("bisect: {id} after {} earlier tests", subset.len());
                let estimate = cost_of(self, subset);
                match self.trial(ConfigKind::Bisect, label, &how, id, 1, false, estimate) {
                    Err(e) => {
                        error = Some(e);
                        Err("an error".into())
                    }
                    Ok(Err(why)) => Err(why),
                    Ok(Ok((runs, failures))) => {
                        if runs == 0 {
                            return Err("the suspect did not report".into());
                        }
                        Ok((failures > 0) == want_failure)
                    }
                }
            };
            culprit::bisect(before, &mut trial)
        };
        if let Some(e) = error {
            return Err(e);
        }
        let p = match found {
            Bisected::Found(p) => p,
            Bisected::NotFound => {
                self.note(
                    id,
                    format!(
                        "bisecting the {} tests before it found no single one that does it (it may take several)",
                        before.len()
                    ),
                );
                return Ok(());
            }
            Bisected::Skipped(why) => {
                self.note(id, format!("bisection skipped: {why}"));
                return Ok(());
            }
        };
        let k = self.opts.repeat.max(1);
        let how = make(std::slice::from_ref(&p));
        let label = format!("verify x{k}: {} then {id}", p.name);
        let estimate = cost_of(self, std::slice::from_ref(&p)) * k;
        let (runs, failures) =
            match self.trial(ConfigKind::Bisect, label, &how, id, k, false, estimate)? {
                Ok(r) => r,
                Err(why) => {
                    self.note(
                        id,
                        format!("bisection points at `{p}`, not confirmed: {why}"),
                    );
                    return Ok(());
                }
            };
        let shown = if want_failure {
            failures
        } else {
            runs - failures
        };
        if runs == 0 || shown * 2 <= runs {
            self.note(
                id,
                format!(
                    "bisection pointed at `{p}`, but the two alone did not repeat it ({shown} of {runs})"
                ),
            );
            return Ok(());
        }
        let place = if in_process { " in one process" } else { "" };
        let (evidence, replay) = match relation {
            Relation::Provider => (
                format!(
                    "passes only when `{p}` runs before it{place} ({shown} of {runs} runs); {}",
                    self.alone_evidence(id)
                ),
                self.replay(&p, id, |r| r.in_order()),
            ),
            _ if in_process => (
                format!(
                    "fails when `{p}` runs before it{place} ({shown} of {runs} runs); {}",
                    self.own_process_evidence(id)
                ),
                self.replay(&p, id, |r| r.in_process(true)),
            ),
            _ => (
                format!(
                    "fails when `{p}` runs before it ({shown} of {runs} runs); {}",
                    self.alone_evidence(id)
                ),
                self.replay(&p, id, |r| r.in_order()),
            ),
        };
        self.partners.insert(
            id.clone(),
            Partner {
                id: p,
                relation,
                in_process,
                runs,
                failures,
                evidence,
                replay,
            },
        );
        Ok(())
    }

    fn finish(mut self) -> AuditReport {
        let max_workers = self.opts.max_workers.max(2);
        let mut partners = std::mem::take(&mut self.partners);
        let mut notes = std::mem::take(&mut self.notes);
        let mut suspects: Vec<Suspect> = std::mem::take(&mut self.tallies)
            .into_iter()
            .filter_map(|(id, tallies)| {
                classify(&tallies, max_workers).map(|(class, reason)| Suspect {
                    partner: partners.remove(&id),
                    search: notes.remove(&id),
                    id,
                    class,
                    reason,
                    tallies,
                })
            })
            .collect();
        suspects.sort_by(|a, b| a.class.cmp(&b.class).then_with(|| a.id.cmp(&b.id)));
        let mut culprits: BTreeMap<(TestId, Relation, bool), Vec<TestId>> = BTreeMap::new();
        for s in &suspects {
            if let Some(p) = &s.partner {
                culprits
                    .entry((p.id.clone(), p.relation, p.in_process))
                    .or_default()
                    .push(s.id.clone());
            }
        }
        let culprits = culprits
            .into_iter()
            .map(|((id, relation, in_process), suspects)| Culprit {
                id,
                relation,
                in_process,
                suspects,
            })
            .collect();
        AuditReport {
            version: AUDIT_VERSION,
            tests: self.tests.iter().filter(|t| !t.skip).count(),
            max_workers,
            seed: self.opts.seed,
            repeat: self.opts.repeat.max(1),
            budget: self.opts.budget,
            configs: self.configs,
            suspects,
            culprits,
            interrupted: self.ctrl_c,
            elapsed: self.start.elapsed(),
        }
    }
}

/// The lines of a failure's output worth showing in a table: the panic line and its message
/// (or the last lines), at most `max` lines.
///
/// ```
/// let tail = "running 1 test\nthread 't' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
/// assert_eq!(shardtest::audit::key_lines(tail, 2), vec!["thread 't' panicked at src/lib.rs:3:5:", "boom"]);
/// ```
pub fn key_lines(tail: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = tail
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(p) = lines.iter().position(|l| l.contains("panicked at")) {
        return lines[p..]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace:"))
            .take(max)
            .map(|l| l.to_string())
            .collect();
    }
    let keep: Vec<&str> = lines
        .into_iter()
        .filter(|l| {
            !l.starts_with("note:") && !l.starts_with("test result:") && !l.starts_with("failures:")
        })
        .collect();
    keep[keep.len().saturating_sub(max)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ran = self
            .configs
            .iter()
            .filter(|c| c.status == ConfigStatus::Ran)
            .count();
        writeln!(
            f,
            "Audit of {} tests: {ran} configurations run, {} skipped or stopped, {:.1}s (seed {}, repeat {}, -j max = {})",
            self.tests,
            self.incomplete(),
            self.elapsed.as_secs_f64(),
            self.seed,
            self.repeat,
            self.max_workers
        )?;
        for c in &self.configs {
            let state = match &c.status {
                ConfigStatus::Ran => format!("{} of {} runs failed", c.failures, c.attempts),
                ConfigStatus::Skipped { reason } => format!("SKIPPED: {reason}"),
                ConfigStatus::Stopped { reason } => format!("STOPPED: {reason}"),
            };
            writeln!(
                f,
                "  [{:>2}] {:<48} {:>7.2}s  {state}",
                c.number,
                c.label,
                c.elapsed.as_secs_f64()
            )?;
        }
        writeln!(f)?;
        if self.suspects.is_empty() {
            writeln!(
                f,
                "No suspect tests: every test had the same outcome in every configuration."
            )?;
        } else {
            writeln!(f, "Suspect tests ({}):", self.suspects.len())?;
            let w = self
                .suspects
                .iter()
                .map(|s| s.id.to_string().len())
                .chain(self.culprits.iter().map(|c| c.id.to_string().len()))
                .max()
                .unwrap_or(4)
                .max(4);
            writeln!(f, "  {:<24} {:<w$}  EVIDENCE", "CLASS", "TEST")?;
            for s in &self.suspects {
                writeln!(
                    f,
                    "  {:<24} {:<w$}  {}",
                    s.class.to_string(),
                    s.id.to_string(),
                    s.reason
                )?;
                let mut failed_in: Vec<usize> = s
                    .tallies
                    .values()
                    .flat_map(|t| t.failed_in.iter().copied())
                    .collect();
                failed_in.sort();
                let labels: Vec<String> = failed_in
                    .iter()
                    .filter_map(|n| self.configs.get(n - 1))
                    .map(|c| format!("[{}] {}", c.number, c.label))
                    .collect();
                writeln!(f, "  {:<24} failed in: {}", "", labels.join("; "))?;
                if let Some(t) = s.tallies.values().find(|t| !t.output_tail.is_empty()) {
                    for l in key_lines(&t.output_tail, 2) {
                        writeln!(f, "  {:<24} | {l}", "")?;
                    }
                }
                if let Some(p) = &s.partner {
                    writeln!(f, "  {:<24} with: {} ({})", "", p.id, p.relation)?;
                    writeln!(f, "  {:<24}       {}", "", p.evidence)?;
                    if !p.replay.is_empty() {
                        writeln!(f, "  {:<24} replay the two: {}", "", p.replay)?;
                    }
                } else if let Some(note) = &s.search {
                    writeln!(f, "  {:<24} other test: not named: {note}", "")?;
                }
                if s.tallies
                    .get(&ConfigKind::Shuffled)
                    .is_some_and(|t| t.failures > 0)
                {
                    writeln!(
                        f,
                        "  {:<24} replay: cargo shardtest run -j 1 --shuffle {}",
                        "", self.seed
                    )?;
                }
            }
            for c in &self.culprits {
                let victims: Vec<String> = c.suspects.iter().map(|v| v.to_string()).collect();
                let victims = victims.join(", ");
                let place = if c.in_process { " in one process" } else { "" };
                let what = match c.relation {
                    Relation::Beside => format!("makes {victims} fail when run beside it{place}"),
                    Relation::Polluter => format!("breaks {victims} when run before it{place}"),
                    Relation::Provider => {
                        format!("is needed by {victims}: it passes only after this one{place}")
                    }
                };
                writeln!(f, "  {:<24} {:<w$}  {what}", "culprit", c.id.to_string())?;
            }
            let mut by_class: BTreeMap<CauseClass, usize> = BTreeMap::new();
            for s in &self.suspects {
                *by_class.entry(s.class).or_default() += 1;
            }
            let parts: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
            writeln!(f)?;
            writeln!(
                f,
                "{} suspect tests: {}{}",
                self.suspects.len(),
                parts.join(", "),
                match self.culprits.len() {
                    0 => String::new(),
                    1 => "; 1 culprit named".to_string(),
                    n => format!("; {n} culprits named"),
                }
            )?;
            let unsearched = self
                .suspects
                .iter()
                .filter(|s| s.search.as_deref().is_some_and(|n| n.contains("skipped")))
                .count();
            if unsearched > 0 {
                writeln!(
                    f,
                    "The search for the other test was skipped for {unsearched} suspect(s) (budget or interrupt): raise --budget to name them."
                )?;
            }
        }
        if let (Some(b), Some(first)) = (self.budget, self.configs.first())
            && first.elapsed > b
        {
            writeln!(
                f,
                "The first full run alone took {:.1}s, more than the budget of {:.1}s.",
                first.elapsed.as_secs_f64(),
                b.as_secs_f64()
            )?;
        }
        if self.interrupted {
            writeln!(f, "Interrupted: these findings are partial.")?;
        } else if self.incomplete() > 0 {
            writeln!(
                f,
                "{} configurations were skipped or stopped: the audit is incomplete (raise --budget to run them).",
                self.incomplete()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(runs: u32, failures: u32) -> Tally {
        Tally {
            runs,
            failures,
            ..Default::default()
        }
    }

    fn tallies(entries: &[(ConfigKind, u32, u32)]) -> BTreeMap<ConfigKind, Tally> {
        entries.iter().map(|(k, r, f)| (*k, t(*r, *f))).collect()
    }

    use ConfigKind::*;

    #[test]
    fn a_clean_test_is_not_a_suspect() {
        assert!(classify(&tallies(&[(Parallel, 3, 0), (Serial, 1, 0)]), 2).is_none());
    }

    #[test]
    fn a_test_needing_a_predecessor_is_order_dependent() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Reversed, 2, 2),
            (Alone, 3, 3),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::OrderDependent);
        assert!(why.contains("needs a test that runs before it"), "{why}");
    }

    #[test]
    fn a_test_broken_by_a_predecessor_is_order_dependent() {
        let m = tallies(&[
            (Parallel, 3, 3),
            (Serial, 2, 2),
            (Reversed, 1, 0),
            (Alone, 3, 0),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::OrderDependent);
        assert!(why.contains("passes alone"), "{why}");
    }

    #[test]
    fn failing_only_in_parallel_is_shared_state() {
        let m = tallies(&[
            (Parallel, 3, 3),
            (Serial, 1, 0),
            (Reversed, 2, 0),
            (Batched, 2, 0),
            (Alone, 3, 0),
        ]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::SharedState);
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Batched, 2, 2),
            (Alone, 3, 0),
        ]);
        // Failing only batched (many tests in one process) is in-process shared state.
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::InProcessSharedState);
        assert!(why.contains("batched"), "{why}");
    }

    #[test]
    fn intermittent_failures_are_timing() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Batched, 2, 1),
            (Alone, 3, 1),
        ]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::TimingFlaky);
        let m = tallies(&[(Parallel, 3, 0), (Reversed, 1, 1), (Serial, 1, 0)]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::TimingFlaky);
        assert!(why.contains("unconfirmed"), "{why}");
    }

    #[test]
    fn failing_everywhere_is_not_a_determinism_problem() {
        let m = tallies(&[(Parallel, 3, 3), (Serial, 1, 1), (Alone, 3, 3)]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::AlwaysFails);
    }

    #[test]
    fn in_process_failures_only_are_in_process_shared_state() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 2, 0),
            (Alone, 3, 0),
            (InProcessSerial, 2, 2),
            (InProcess, 2, 1),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::InProcessSharedState);
        assert!(
            why.contains("passes in its own process (8 of 8 runs)"),
            "{why}"
        );
        // A failure in its own process as well is not in-process shared state.
        let m = tallies(&[(Parallel, 3, 1), (Alone, 3, 0), (InProcessSerial, 2, 2)]);
        assert_ne!(classify(&m, 2).unwrap().0, CauseClass::InProcessSharedState);
    }

    /// A report built by hand, so its human rendering is byte-for-byte stable.
    fn sample_report() -> AuditReport {
        let id = |s: &str| -> TestId { s.parse().unwrap() };
        let config = |number, kind, label: &str, status, attempts, failures| ConfigRun {
            number,
            kind,
            label: label.into(),
            workers: 1,
            seed: None,
            only: None,
            repeat: 1,
            elapsed: Duration::from_millis(if status == ConfigStatus::Ran { 420 } else { 0 }),
            status,
            estimate: Duration::from_millis(500),
            attempts,
            failures,
        };
        let port = Suspect {
            id: id("demo tests::port_first"),
            class: CauseClass::SharedState,
            reason: "fails at -j2 beside other tests (3 of 3 runs), passes at -j1 in every order and alone".into(),
            tallies: [(
                Parallel,
                Tally {
                    runs: 3,
                    failures: 3,
                    failed_in: vec![1],
                    output_tail: "thread 'tests::port_first' panicked at src/lib.rs:9:5:\nAddress already in use\n".into(),
                },
            )]
            .into_iter()
            .collect(),
            partner: Some(Partner {
                id: id("demo tests::port_second"),
                relation: Relation::Beside,
                in_process: false,
                runs: 3,
                failures: 3,
                evidence: "fails when run beside `demo tests::port_second` (3 of 3 runs); passes alone (3 of 3)".into(),
                replay: "cargo shardtest run -p demo --lib -j 2 --repeat 3 --exact tests::port_second tests::port_first".into(),
            }),
            search: None,
        };
        let counter = Suspect {
            id: id("demo tests::first_in_process"),
            class: CauseClass::InProcessSharedState,
            reason: "passes in its own process (5 of 5 runs), fails with other tests in one process: in-process, --test-threads 1 (2 of 2)".into(),
            tallies: [(InProcessSerial, Tally { runs: 2, failures: 2, failed_in: vec![2], output_tail: String::new() })]
                .into_iter()
                .collect(),
            partner: None,
            search: Some("bisection skipped: would overrun the budget: needs ~0.6s, 0.1s left".into()),
        };
        AuditReport {
            version: AUDIT_VERSION,
            tests: 4,
            max_workers: 2,
            seed: 7,
            repeat: 3,
            budget: Some(Duration::from_secs(5)),
            configs: vec![
                config(1, Parallel, "-j2 (baseline)", ConfigStatus::Ran, 4, 2),
                config(
                    2,
                    InProcessSerial,
                    "in-process, --test-threads 1",
                    ConfigStatus::Ran,
                    4,
                    1,
                ),
                config(
                    3,
                    Pair,
                    "beside x3: demo tests::port_first + tests::port_second",
                    ConfigStatus::Ran,
                    6,
                    6,
                ),
                config(
                    4,
                    Bisect,
                    "bisect: demo tests::first_in_process after 1 earlier tests",
                    ConfigStatus::Skipped {
                        reason: "would overrun the budget: needs ~0.6s, 0.1s left".into(),
                    },
                    0,
                    0,
                ),
            ],
            culprits: vec![Culprit {
                id: id("demo tests::port_second"),
                relation: Relation::Beside,
                in_process: false,
                suspects: vec![id("demo tests::port_first")],
            }],
            suspects: vec![port, counter],
            interrupted: false,
            elapsed: Duration::from_millis(2500),
        }
    }

    /// The human report, compared with `snapshots/report.txt`. After a deliberate change of
    /// the output, rewrite the file with `UPDATE_SNAPSHOTS=1 cargo test -p cargo-shardtest
    /// --lib audit::tests::human_report_snapshot` and review the diff.
    #[test]
    fn human_report_snapshot() {
        let got = sample_report().to_string();
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audit/snapshots/report.txt");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "the human report changed; if on purpose, rerun with UPDATE_SNAPSHOTS=1\n--- want\n{want}\n--- got\n{got}"
        );
    }

    #[test]
    fn the_json_report_carries_the_pairs() {
        let v = serde_json::to_value(sample_report()).unwrap();
        assert_eq!(v["suspects"][0]["partner"]["id"], "demo tests::port_second");
        assert_eq!(v["suspects"][0]["partner"]["relation"], "beside");
        assert_eq!(v["suspects"][1]["class"], "in_process_shared_state");
        assert!(
            v["suspects"][1]["search"]
                .as_str()
                .unwrap()
                .contains("budget")
        );
        assert_eq!(v["culprits"][0]["suspects"][0], "demo tests::port_first");
    }

    #[test]
    fn key_lines_fall_back_to_the_last_lines() {
        assert_eq!(
            key_lines("a\nb\nc\ntest result: FAILED\n", 2),
            vec!["b", "c"]
        );
    }
}
