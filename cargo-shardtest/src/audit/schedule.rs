//! Which configurations the audit runs, in what sequence, and what each is expected to cost:
//! the baseline first (its durations price everything else), then tiers of full runs (most
//! informative first, cheapest first within a tier), each suspect alone, replays of the
//! one-off configurations a suspect failed in, and finally the searches for the other test.
//! A configuration that does not fit the budget is skipped and the next one is tried.

use super::auditor::Auditor;
use super::error::AuditError;
use super::inproc;
use super::kind::ConfigKind;
use super::options::AUTO_TIMEOUT_MIN;
use crate::id::TestId;
use std::collections::BTreeSet;
use std::time::Duration;

/// Least cost assumed per test process when estimating a configuration's time (the baseline
/// measures the real one: its wall time times its workers, less the tests' own durations).
pub(super) const PER_TEST_OVERHEAD: Duration = Duration::from_millis(5);

/// Configurations with their estimated cost, grouped in tiers run one after the other.
type Tiers = Vec<Vec<(ConfigKind, Duration)>>;

impl Auditor<'_> {
    /// Runs every configuration of the audit, then the searches for the other test.
    pub(super) fn run_all(&mut self) -> Result<(), AuditError> {
        if self.tests.iter().all(|t| t.skip) {
            return Ok(());
        }
        // The baseline: its durations estimate every other configuration.
        self.run_config(ConfigKind::Parallel, None, Duration::ZERO, true)?;
        self.learn_from_baseline();
        for mut tier in self.tiers() {
            tier.sort_by_key(|(_, c)| *c);
            for (kind, cost) in tier {
                self.run_config(kind, None, cost, false)?;
            }
        }
        // Each suspect alone, cheapest first; then replays of the one-off configurations a
        // suspect failed in (a failure that repeats is not timing); then newcomers alone.
        let mut alone_done = BTreeSet::new();
        self.run_alone(&mut alone_done)?;
        self.replay_one_offs()?;
        self.run_alone(&mut alone_done)?;
        self.find_partners()
    }

    /// Sets the per-test overhead from the baseline's wall time, and, when no `--timeout`
    /// was given, a hard timeout from its slowest test.
    fn learn_from_baseline(&mut self) {
        if let Some(first) = self.configs.first().filter(|c| c.attempts > 0) {
            let work: Duration = self.durations.values().sum();
            let slack = (first.elapsed * first.workers).saturating_sub(work);
            self.overhead = (slack / first.attempts as u32).max(PER_TEST_OVERHEAD);
        }
        if self.base.timeout.is_none() {
            // A test that deadlocks only in some order or beside some test must not hang the
            // audit: allow ten times the slowest test of the baseline, at least a minute.
            let slowest = self.durations.values().max().copied().unwrap_or_default();
            self.auto_timeout = Some((slowest * 10).max(AUTO_TIMEOUT_MIN));
        }
    }

    /// The full-run configurations after the baseline, priced: most informative tier first.
    fn tiers(&self) -> Tiers {
        let k = self.opts.repeat.max(1);
        let serial_cost = self.serial_cost();
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
        let mut tiers: Tiers = vec![
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
        tiers
    }

    /// Runs once more every kind of configuration that ran once and saw a failure (other
    /// than alone), so a failure that repeats is told from timing.
    fn replay_one_offs(&mut self) -> Result<(), AuditError> {
        let serial_cost = self.serial_cost();
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
        Ok(())
    }

    /// Runs each test that failed somewhere and is not in `done` alone, `--repeat` times,
    /// cheapest first.
    fn run_alone(&mut self, done: &mut BTreeSet<TestId>) -> Result<(), AuditError> {
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

    /// The estimated time of one full run at `-j1`, one process per test.
    fn serial_cost(&self) -> Duration {
        self.tests
            .iter()
            .filter(|t| !t.skip)
            .map(|t| self.duration(&t.case.id) + self.overhead)
            .sum()
    }
}
