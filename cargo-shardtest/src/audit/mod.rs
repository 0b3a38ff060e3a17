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
//! * **isolation/shared state**: it fails in most runs at `-j max` or batched, and passes at
//!   `-j 1` in every order and alone;
//! * **timing/flaky**: it passes and fails in identical configurations;
//! * **always fails**: it fails everywhere (broken, not a determinism problem).
//!
//! Order is controlled without touching the scheduler: [`run::run_shard`] starts tests
//! longest-estimate first, so the audit hands it estimates that encode the order it wants.

pub mod flaky;

use crate::event::AttemptOutcome;
use crate::id::TestId;
use crate::report::json::JsonReportBuilder;
use crate::run::{self, Interrupter, Isolation, RunnerConfig, ShardTest};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Version of the audit's JSON output.
pub const AUDIT_VERSION: u32 = 1;

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
}

impl ConfigKind {
    /// The kinds that run every test at `-j 1` in one process each (they differ by order).
    pub const SERIAL_ORDERS: [ConfigKind; 3] = [
        ConfigKind::Serial,
        ConfigKind::Reversed,
        ConfigKind::Shuffled,
    ];

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
        }
    }
}

/// The likely cause of a suspect test's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    /// Fails only in some orders (needs, or is broken by, a test that runs before it).
    OrderDependent,
    /// Fails in parallel, batched or only with others; passes alone and at `-j 1`.
    SharedState,
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
    let crowded: Vec<ConfigKind> = [ConfigKind::Parallel, ConfigKind::Batched]
        .into_iter()
        .filter(|k| get(*k).mostly_fails())
        .collect();
    let calm_ok = ConfigKind::SERIAL_ORDERS
        .into_iter()
        .chain([ConfigKind::Alone])
        .all(|k| get(k).failures == 0);
    if !crowded.is_empty() && calm_ok {
        let how: Vec<String> = crowded
            .iter()
            .map(|k| {
                let t = get(*k);
                let what = match k {
                    ConfigKind::Batched => "batched with other tests in one process".to_string(),
                    _ => format!("at -j{max_workers} beside other tests"),
                };
                format!("{what} ({} of {} runs)", t.failures, t.runs)
            })
            .collect();
        return Some((
            CauseClass::SharedState,
            format!(
                "fails {}, passes at -j1 in every order and alone",
                how.join(" and ")
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
    /// Worker slots.
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
    };
    a.run_all()?;
    Ok(a.finish())
}

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
        // Most informative first; within a tier the cheapest first. What does not fit the
        // budget is skipped and the next (cheaper) one is tried.
        let mut tiers: Vec<Vec<(ConfigKind, Duration)>> = vec![
            vec![(ConfigKind::Serial, serial_cost)],
            vec![
                (ConfigKind::Reversed, serial_cost),
                (ConfigKind::Batched, serial_cost),
            ],
            vec![(ConfigKind::Shuffled, serial_cost)],
        ];
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
        Ok(())
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
            .map(|(id, _)| {
                (
                    self.durations.get(id).copied().unwrap_or_default(),
                    id.clone(),
                )
            })
            .collect();
        suspects.sort();
        for (d, id) in suspects {
            done.insert(id.clone());
            let cost = (d + self.overhead) * k + self.overhead;
            self.run_config(ConfigKind::Alone, Some(id), cost, false)?;
        }
        Ok(())
    }

    fn serial_cost(&self) -> Duration {
        self.tests
            .iter()
            .filter(|t| !t.skip)
            .map(|t| self.durations.get(&t.case.id).copied().unwrap_or_default() + self.overhead)
            .sum()
    }

    fn remaining(&self) -> Option<Duration> {
        self.opts
            .budget
            .map(|b| b.saturating_sub(self.start.elapsed()))
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
        let workers = if kind == ConfigKind::Parallel {
            self.opts.max_workers.max(2)
        } else {
            1
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
        let mut record = ConfigRun {
            number,
            kind,
            label,
            workers,
            seed: (kind == ConfigKind::Shuffled).then_some(self.opts.seed),
            only: only.clone(),
            repeat,
            status: ConfigStatus::Ran,
            estimate,
            elapsed: Duration::ZERO,
            attempts: 0,
            failures: 0,
        };
        let skip = if let Some(why) = &self.stopped {
            Some(why.clone())
        } else if let Some(left) = self.remaining().filter(|_| !baseline) {
            (estimate > left).then(|| {
                format!(
                    "would overrun the budget: needs ~{:.1}s, {:.1}s left",
                    estimate.as_secs_f64(),
                    left.as_secs_f64()
                )
            })
        } else {
            None
        };
        if let Some(reason) = skip {
            let _ = writeln!(
                self.progress,
                "       Audit [{number:>2}] skipped {}: {reason}",
                record.label
            );
            record.status = ConfigStatus::Skipped { reason };
            self.configs.push(record);
            return Ok(());
        }

        let (tests, config) = self.configure(kind, only.as_ref(), number, workers, repeat);
        let mut json = JsonReportBuilder::new(Vec::new(), config.shuffle_seed);
        let budget_hit = Arc::new(AtomicBool::new(false));
        // The baseline is exempt: without it nothing else can be estimated.
        let (cancel, watchdog) = if baseline {
            (std::sync::mpsc::channel().0, None)
        } else {
            self.watchdog(Arc::clone(&budget_hit))
        };
        let started = Instant::now();
        let result = run::run_shard(tests, &config, &mut json, self.interrupter);
        drop(cancel);
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        let outcome = result.map_err(|source| AuditError::RunDir {
            path: config.logs_dir.clone(),
            source,
        })?;
        record.elapsed = started.elapsed();
        if outcome.interrupted {
            let why = if budget_hit.load(Ordering::SeqCst) {
                "the budget ran out".to_string()
            } else {
                self.ctrl_c = true;
                "interrupted (Ctrl-C)".to_string()
            };
            record.status = ConfigStatus::Stopped {
                reason: why.clone(),
            };
            self.stopped = Some(why);
        }
        if let Some(report) = json.report() {
            for t in &report.tests {
                for a in &t.attempts {
                    if a.outcome == AttemptOutcome::Interrupted {
                        continue;
                    }
                    record.attempts += 1;
                    if baseline {
                        self.durations.insert(t.id.clone(), a.duration);
                    }
                    let tally = self
                        .tallies
                        .entry(t.id.clone())
                        .or_default()
                        .entry(kind)
                        .or_default();
                    tally.runs += 1;
                    if !a.outcome.is_pass() {
                        record.failures += 1;
                        tally.failures += 1;
                        if !tally.failed_in.contains(&number) {
                            tally.failed_in.push(number);
                        }
                        if tally.output_tail.is_empty() {
                            tally.output_tail = if a.output_tail.trim().is_empty() {
                                crate::report::terminal::describe(&a.outcome)
                            } else {
                                a.output_tail.clone()
                            };
                        }
                    }
                }
            }
        }
        if record.status == ConfigStatus::Ran {
            let e = self.elapsed_by_kind.entry(kind).or_default();
            *e = (*e).max(record.elapsed);
        }
        let _ = writeln!(
            self.progress,
            "       Audit [{number:>2}] {}: {} runs, {} failed ({:.2}s){}",
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
        Ok(())
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

    /// The tests and runner settings of one configuration.
    fn configure(
        &self,
        kind: ConfigKind,
        only: Option<&TestId>,
        number: usize,
        workers: u32,
        repeat: u32,
    ) -> (Vec<ShardTest>, RunnerConfig) {
        let n = self.tests.len() as u64;
        let tests: Vec<ShardTest> = self
            .tests
            .iter()
            .enumerate()
            .filter(|(_, t)| only.is_none_or(|id| &t.case.id == id))
            .map(|(i, t)| {
                let i = i as u64;
                let mut t = t.clone();
                // run_shard starts tests longest-estimate first: encode the order as estimates.
                t.estimate = Duration::from_nanos(match kind {
                    ConfigKind::Reversed => i + 1,
                    _ => n - i,
                });
                t
            })
            .collect();
        let mut config = self.base.clone();
        config.timeout = self.base.timeout.or(self.auto_timeout);
        let slug = format!("audit-{number:02}-{kind:?}").to_lowercase();
        config.run_id = format!("{}-{slug}", self.base.run_id);
        config.artifact_root = self.base.artifact_root.join(&slug);
        config.logs_dir = config.artifact_root.join("live");
        config.workers = workers;
        config.retries = 0;
        config.repeat = repeat;
        config.isolation = if kind == ConfigKind::Batched {
            Isolation::Batch
        } else {
            Isolation::Process
        };
        config.shuffle_seed = (kind == ConfigKind::Shuffled).then_some(self.opts.seed);
        (tests, config)
    }

    fn finish(self) -> AuditReport {
        let max_workers = self.opts.max_workers.max(2);
        let mut suspects: Vec<Suspect> = self
            .tallies
            .into_iter()
            .filter_map(|(id, tallies)| {
                classify(&tallies, max_workers).map(|(class, reason)| Suspect {
                    id,
                    class,
                    reason,
                    tallies,
                })
            })
            .collect();
        suspects.sort_by(|a, b| a.class.cmp(&b.class).then_with(|| a.id.cmp(&b.id)));
        AuditReport {
            version: AUDIT_VERSION,
            tests: self.tests.iter().filter(|t| !t.skip).count(),
            max_workers,
            seed: self.opts.seed,
            repeat: self.opts.repeat.max(1),
            budget: self.opts.budget,
            configs: self.configs,
            suspects,
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
            let mut by_class: BTreeMap<CauseClass, usize> = BTreeMap::new();
            for s in &self.suspects {
                *by_class.entry(s.class).or_default() += 1;
            }
            let parts: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
            writeln!(f)?;
            writeln!(
                f,
                "{} suspect tests: {}",
                self.suspects.len(),
                parts.join(", ")
            )?;
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
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::SharedState);
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
    fn key_lines_fall_back_to_the_last_lines() {
        assert_eq!(
            key_lines("a\nb\nc\ntest result: FAILED\n", 2),
            vec!["b", "c"]
        );
    }
}
