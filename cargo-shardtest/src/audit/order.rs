//! The start order of one run and the runner settings that carry it. The scheduler is not
//! touched: [`crate::run::run_shard`] starts tests longest-estimate first, so the audit hands
//! it estimates that encode the order it wants, on a copy of the prepared runner
//! configuration with the run's own id, artifact directory, workers and isolation.

use super::auditor::Auditor;
use super::kind::ConfigKind;
use crate::id::TestId;
use crate::run::{Isolation, RunnerConfig, ShardTest};
use std::time::Duration;

impl Auditor<'_> {
    /// The start order of a full run of `kind` (indices into the audited tests): reversed for
    /// the reversed kinds, else declared; only `only` when given.
    pub(super) fn start_order(&self, kind: ConfigKind, only: Option<&TestId>) -> Vec<usize> {
        let order: Vec<usize> = match kind {
            ConfigKind::Reversed | ConfigKind::BatchedReversed => {
                (0..self.tests.len()).rev().collect()
            }
            _ => (0..self.tests.len()).collect(),
        };
        order
            .into_iter()
            .filter(|&i| only.is_none_or(|id| &self.tests[i].case.id == id))
            .collect()
    }

    /// The tests and runner settings of one run: `order` (indices into the audited tests)
    /// is the start order.
    pub(super) fn configure(
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
        config.run_id = format!("{}-{slug}", self.base.run_id).into();
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
}
