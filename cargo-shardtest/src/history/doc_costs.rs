//! What starting a batch of a package's doctests cost in recent runs: one
//! [`DocCostSample`] per run, kept as [`DocCostRuns`] (the newest [`KEEP_RUNS`]), from which
//! the planner learns the per-package batch cost ([`crate::doctest::learned_cost`]).

use crate::id::RunId;
use std::collections::BTreeMap;

use super::sample::KEEP_RUNS;

/// One run's measured start-up of a package's doctest batches: the median over its batches
/// of the time from starting `cargo test --doc` until the first doctest began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocCostSample {
    /// When the run started (ms since the epoch).
    pub at: u64,
    /// The start-up, in microseconds.
    pub setup_us: u64,
    /// How many doctests the package had (in edition 2024 and later rustdoc builds them all
    /// into the merged binary for every batch, so the start-up grows with this).
    pub doctests: u32,
}

/// A package's [`DocCostSample`]s by run: at most [`KEEP_RUNS`], the newest (older ones are
/// dropped, not folded: the cost is re-learned from recent runs). Merging is a union by run
/// id (on a conflict the greater sample wins) followed by keeping the newest, so it is
/// commutative, associative and idempotent like the tests' history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocCostRuns(BTreeMap<RunId, DocCostSample>);

impl DocCostRuns {
    /// Adds (or, if greater, replaces) `run`'s sample and drops the oldest beyond
    /// [`KEEP_RUNS`].
    ///
    /// ```
    /// # use shardtest::history::{DocCostRuns, DocCostSample, KEEP_RUNS};
    /// let mut r = DocCostRuns::default();
    /// for i in 0..KEEP_RUNS as u64 + 2 {
    ///     r.insert(format!("r{i}").as_str().into(), DocCostSample { at: i, setup_us: 1, doctests: 1 });
    /// }
    /// assert_eq!(r.len(), KEEP_RUNS);
    /// assert_eq!(r.iter().map(|(_, s)| s.at).min(), Some(2));
    /// ```
    pub fn insert(&mut self, run: RunId, sample: DocCostSample) {
        match self.0.get(&run) {
            Some(kept) if *kept >= sample => {}
            _ => {
                self.0.insert(run, sample);
            }
        }
        while self.0.len() > KEEP_RUNS {
            let oldest = self
                .0
                .iter()
                .min_by(|a, b| (a.1.at, a.0).cmp(&(b.1.at, b.0)))
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.0.remove(&id);
            }
        }
    }

    /// The samples by run id.
    pub fn iter(&self) -> impl Iterator<Item = (&RunId, &DocCostSample)> {
        self.0.iter()
    }

    /// How many runs are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no run is kept.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
