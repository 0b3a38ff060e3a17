//! What the planner takes: one [`PlanItem`] per test (an estimate and the attributes that
//! constrain scheduling) and the shard and worker counts ([`PlanInput`]). Plain values: the
//! planner never sees the history store.

use crate::attrs::TestAttributes;
use crate::id::TestId;
use std::time::Duration;

/// One test as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanItem {
    /// The test.
    pub id: TestId,
    /// Predicted duration (recorded, or estimated when `known` is false), including the
    /// expected cost of flaky retries ([`expected_cost`](super::expected_cost); [`estimate`](super::estimate()) adds it).
    pub estimate: Duration,
    /// True when `estimate` comes from recorded history.
    pub known: bool,
    /// Attributes that constrain scheduling (serial, groups).
    pub attributes: TestAttributes,
}

impl PlanItem {
    /// A plain test with an estimate that does not come from history.
    ///
    /// ```
    /// # use shardtest::plan::PlanItem;
    /// # use std::time::Duration;
    /// let it = PlanItem::new("p t".parse().unwrap(), Duration::from_millis(5));
    /// assert!(!it.known && it.attributes.is_plain());
    /// ```
    pub fn new(id: TestId, estimate: Duration) -> Self {
        PlanItem {
            id,
            estimate,
            known: false,
            attributes: TestAttributes::default(),
        }
    }
}

/// Everything a plan depends on. The fingerprint is computed from exactly this.
#[derive(Clone, Debug)]
pub struct PlanInput {
    /// The tests to place (any order).
    pub items: Vec<PlanItem>,
    /// Number of shards `N`.
    pub shards: u32,
    /// Workers per shard `W`.
    pub workers: u32,
}
