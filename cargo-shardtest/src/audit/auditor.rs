//! The audit's engine state ([`Auditor`]) and its entry point ([`audit`]): what every step
//! of the audit reads and adds to (the tallies, the recorded durations, orders and spans,
//! the partners found), the lookups they share, and the assembly of the final
//! [`AuditReport`].
//!
//! The steps themselves are `impl Auditor` blocks in the sibling modules: `schedule` (which
//! configurations run), `execute` (running one), `partners` and its searches (naming the
//! other test).

use super::classify::{Tally, classify};
use super::culprit::{Partner, Relation, Span};
use super::error::AuditError;
use super::inproc;
use super::kind::ConfigKind;
use super::options::AuditOptions;
use super::report::{AUDIT_VERSION, AuditReport, ConfigRun, Culprit, Suspect};
use super::schedule::PER_TEST_OVERHEAD;
use crate::id::{BinaryId, TestId};
use crate::list::TestBinary;
use crate::run::{Interrupter, RunnerConfig, ShardTest};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// The state of one audit while it runs.
pub(super) struct Auditor<'a> {
    /// The audited tests, by id (skipped ones included).
    pub(super) tests: Vec<ShardTest>,
    /// The prepared runner configuration every configuration copies.
    pub(super) base: &'a RunnerConfig,
    /// The user's settings.
    pub(super) opts: &'a AuditOptions,
    /// Ctrl-C, and the budget's stop of a running configuration.
    pub(super) interrupter: &'a Interrupter,
    /// Where progress lines go.
    pub(super) progress: &'a mut dyn Write,
    /// When the audit started (the budget counts from here).
    pub(super) start: Instant,
    /// Every configuration planned so far, in order.
    pub(super) configs: Vec<ConfigRun>,
    /// Runs and failures of every test, per kind of configuration.
    pub(super) tallies: BTreeMap<TestId, BTreeMap<ConfigKind, Tally>>,
    /// Each test's duration in the baseline.
    pub(super) durations: BTreeMap<TestId, Duration>,
    /// The longest wall time of a completed configuration, per kind.
    pub(super) elapsed_by_kind: BTreeMap<ConfigKind, Duration>,
    /// Why the audit stopped early (Ctrl-C, budget exhausted mid-run).
    pub(super) stopped: Option<String>,
    /// Hard timeout of the configurations after the baseline when none was given.
    pub(super) auto_timeout: Option<Duration>,
    /// Ctrl-C stopped the audit.
    pub(super) ctrl_c: bool,
    /// Cost per test beyond its own duration (process start, scheduling), from the baseline.
    pub(super) overhead: Duration,
    /// The attempts of every parallel configuration (config number, spans): who ran beside whom.
    pub(super) spans: Vec<(usize, Vec<Span>)>,
    /// The start order of every `-j1` process-per-test configuration, by config number.
    pub(super) orders: BTreeMap<usize, (ConfigKind, Vec<TestId>)>,
    /// The other test of each suspect, as the searches found it.
    pub(super) partners: BTreeMap<TestId, Partner>,
    /// Why a search found no other test.
    pub(super) notes: BTreeMap<TestId, String>,
    /// Runs and failures of every test of the last process-per-test search trial.
    pub(super) last_trial: BTreeMap<TestId, (u32, u32)>,
}

impl Auditor<'_> {
    /// The libtest binaries of the audited tests (cargo's test targets), by id: what the
    /// in-process configurations run. Other kinds of units (doctests, say) are left out.
    pub(super) fn binaries(&self) -> BTreeMap<BinaryId, Arc<TestBinary>> {
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

    /// The baseline duration of `id` (zero when it did not run there).
    pub(super) fn duration(&self, id: &TestId) -> Duration {
        self.durations.get(id).copied().unwrap_or_default()
    }

    /// The position of `id` among the audited tests.
    pub(super) fn index_of(&self, id: &TestId) -> Option<usize> {
        self.tests.iter().position(|t| &t.case.id == id)
    }

    /// The binary `id` belongs to.
    pub(super) fn binary_of(&self, id: &TestId) -> Option<Arc<TestBinary>> {
        self.tests
            .iter()
            .find(|t| &t.case.id == id)
            .map(|t| Arc::clone(&t.binary))
    }

    /// The report: the suspects classified from their tallies with the partners and notes of
    /// the searches, and the culprits gathered from the partners.
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
        let culprits = culprits_of(&suspects);
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

/// Every test named as a partner, once per relation and place, with the suspects it goes with.
fn culprits_of(suspects: &[Suspect]) -> Vec<Culprit> {
    let mut culprits: BTreeMap<(TestId, Relation, bool), Vec<TestId>> = BTreeMap::new();
    for s in suspects {
        if let Some(p) = &s.partner {
            culprits
                .entry((p.id.clone(), p.relation, p.in_process))
                .or_default()
                .push(s.id.clone());
        }
    }
    culprits
        .into_iter()
        .map(|((id, relation, in_process), suspects)| Culprit {
            id,
            relation,
            in_process,
            suspects,
        })
        .collect()
}
