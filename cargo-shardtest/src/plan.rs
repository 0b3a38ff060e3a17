//! Shard planning: which test runs in which shard. Pure code: no I/O, no clocks, no hash-map
//! iteration order; the same [`PlanInput`] gives the same [`ShardPlan`] on every machine and
//! for every input order (ties are broken by [`TestId`]).

use crate::attrs::TestAttributes;
use crate::id::TestId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Which shard of how many this job runs: `K/N`, 1-based (`1/8` .. `8/8`).
///
/// ```
/// use shardtest::plan::ShardSpec;
/// let s: ShardSpec = "2/8".parse().unwrap();
/// assert_eq!((s.index, s.total), (2, 8));
/// assert!("0/8".parse::<ShardSpec>().is_err());
/// assert!("9/8".parse::<ShardSpec>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 1-based shard index.
    pub index: u32,
    /// Number of shards.
    pub total: u32,
}

impl ShardSpec {
    /// The single shard that runs everything.
    pub const WHOLE: ShardSpec = ShardSpec { index: 1, total: 1 };

    /// Builds a spec, checking `1 <= index <= total`.
    ///
    /// ```
    /// # use shardtest::plan::ShardSpec;
    /// assert!(ShardSpec::new(3, 4).is_ok());
    /// assert!(ShardSpec::new(5, 4).is_err());
    /// ```
    pub fn new(index: u32, total: u32) -> Result<Self, ShardSpecError> {
        if total == 0 {
            return Err(ShardSpecError::ZeroTotal);
        }
        if index == 0 || index > total {
            return Err(ShardSpecError::OutOfRange { index, total });
        }
        Ok(ShardSpec { index, total })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// A `--shard` value that is not `K/N` with `1 <= K <= N`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardSpecError {
    /// Not of the form `K/N`.
    #[error(
        "`{0}` is not a shard: write K/N with 1 <= K <= N, e.g. `--shard 2/8` (or `--shard auto` in CI)"
    )]
    Syntax(String),
    /// `N` was 0.
    #[error("a run has at least one shard: `--shard K/0` is not valid, write e.g. `--shard 1/4`")]
    ZeroTotal,
    /// `K` outside `1..=N`.
    #[error(
        "shard {index}/{total} does not exist: shards are numbered from 1 to {total} (1-based, like `--shard 1/{total}`)"
    )]
    OutOfRange {
        /// The given index.
        index: u32,
        /// The given total.
        total: u32,
    },
}

impl FromStr for ShardSpec {
    type Err = ShardSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardSpecError::Syntax(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let k: u32 = k.trim().parse().map_err(|_| syntax())?;
        let n: u32 = n.trim().parse().map_err(|_| syntax())?;
        ShardSpec::new(k, n)
    }
}

/// One test as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanItem {
    /// The test.
    pub id: TestId,
    /// Predicted duration of one attempt (recorded, or estimated when `known` is false).
    pub estimate: Duration,
    /// True when `estimate` comes from recorded history.
    pub known: bool,
    /// Attributes that constrain scheduling (serial, groups, flaky retries).
    pub attributes: TestAttributes,
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

/// One shard of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    /// Tests of the shard, longest predicted first, ties by id: the order a runner starts them.
    pub tests: Vec<TestId>,
    /// Predicted wall time of the shard with `W` workers.
    #[serde(with = "crate::serde_duration")]
    pub predicted: Duration,
}

/// The result of planning: every input test in exactly one shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPlan {
    /// Shards in order (`shards[0]` is shard 1).
    pub shards: Vec<PlannedShard>,
    /// Hex hash of the sorted test list, the estimates used, N and W.
    pub fingerprint: String,
}

impl ShardPlan {
    /// The tests of shard `spec` (which must have `spec.total` equal to the plan's N).
    ///
    /// ```
    /// # use shardtest::plan::*;
    /// # use shardtest::id::TestId;
    /// # use std::time::Duration;
    /// let items = (0..10).map(|i| PlanItem {
    ///     id: format!("p t{i}").parse::<TestId>().unwrap(),
    ///     estimate: Duration::from_millis(10), known: false, attributes: Default::default(),
    /// }).collect();
    /// let plan = plan(&PlanInput { items, shards: 3, workers: 1 });
    /// let total: usize = (1..=3).map(|k| plan.shard(ShardSpec::new(k, 3).unwrap()).tests.len()).sum();
    /// assert_eq!(total, 10);
    /// ```
    pub fn shard(&self, spec: ShardSpec) -> &PlannedShard {
        &self.shards[(spec.index - 1) as usize]
    }
}

/// Computes the fingerprint of a plan input: the same for the same tests, estimates, N and W,
/// whatever the input order.
///
/// ```
/// # use shardtest::plan::*;
/// let a = PlanInput { items: vec![], shards: 2, workers: 1 };
/// let b = PlanInput { items: vec![], shards: 3, workers: 1 };
/// assert_ne!(fingerprint(&a), fingerprint(&b));
/// ```
pub fn fingerprint(input: &PlanInput) -> String {
    let mut sorted: Vec<&PlanItem> = input.items.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut h = Sha256::new();
    h.update(format!(
        "shardtest-plan-v1 N={} W={}\n",
        input.shards, input.workers
    ));
    for it in sorted {
        h.update(format!(
            "{}\t{}\t{}\n",
            it.id,
            it.estimate.as_micros(),
            it.known
        ));
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Places every test in exactly one shard.
///
/// Foundation version: balances by estimate with longest-first greedy placement; the
/// timing-based planner refines the estimates and the improvement pass.
///
/// ```
/// # use shardtest::plan::*;
/// let plan = plan(&PlanInput { items: vec![], shards: 4, workers: 2 });
/// assert_eq!(plan.shards.len(), 4);
/// ```
pub fn plan(input: &PlanInput) -> ShardPlan {
    let n = input.shards.max(1) as usize;
    let mut order: Vec<&PlanItem> = input.items.iter().collect();
    order.sort_by(|a, b| b.estimate.cmp(&a.estimate).then_with(|| a.id.cmp(&b.id)));
    let mut loads = vec![(Duration::ZERO, 0usize); n];
    let mut shards: Vec<Vec<&PlanItem>> = vec![Vec::new(); n];
    for item in order {
        // Least loaded shard; ties go to the shard with fewer tests, then the lowest index.
        let (k, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|(k, (load, count))| (*load, *count, *k))
            .expect("at least one shard");
        loads[k].0 += item.estimate;
        loads[k].1 += 1;
        shards[k].push(item);
    }
    let workers = input.workers.max(1);
    ShardPlan {
        shards: shards
            .into_iter()
            .map(|items| PlannedShard {
                predicted: predict_shard(&items, workers),
                tests: items.into_iter().map(|i| i.id.clone()).collect(),
            })
            .collect(),
        fingerprint: fingerprint(input),
    }
}

/// Predicted wall time of a shard run by `workers` workers: `serial + parallel / W`, never
/// less than its longest test.
fn predict_shard(items: &[&PlanItem], workers: u32) -> Duration {
    let mut serial = Duration::ZERO;
    let mut parallel = Duration::ZERO;
    let mut longest = Duration::ZERO;
    for it in items {
        longest = longest.max(it.estimate);
        if it.attributes.serial.is_some() {
            serial += it.estimate;
        } else {
            parallel += it.estimate;
        }
    }
    (serial + parallel / workers).max(longest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize) -> Vec<PlanItem> {
        (0..n)
            .map(|i| PlanItem {
                id: format!("bin t{i:03}").parse().unwrap(),
                estimate: Duration::from_millis(10),
                known: false,
                attributes: TestAttributes::default(),
            })
            .collect()
    }

    #[test]
    fn shard_syntax_errors_say_what_to_write() {
        for bad in ["0/8", "9/8", "a/b", "3", "1/0", "", "-1/4", "1/4/5"] {
            let err = bad.parse::<ShardSpec>().unwrap_err().to_string();
            assert!(
                err.contains("K/N") || err.contains("1 to") || err.contains("1/4"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            " 8/8 ".parse::<ShardSpec>().unwrap(),
            ShardSpec { index: 8, total: 8 }
        );
    }

    #[test]
    fn equal_tests_split_by_count() {
        let p = plan(&PlanInput {
            items: items(10),
            shards: 3,
            workers: 1,
        });
        let sizes: Vec<usize> = p.shards.iter().map(|s| s.tests.len()).collect();
        assert_eq!(sizes, vec![4, 3, 3]);
    }

    #[test]
    fn input_order_does_not_change_the_plan() {
        let a = items(25);
        let mut b = a.clone();
        b.reverse();
        let pa = plan(&PlanInput {
            items: a,
            shards: 4,
            workers: 2,
        });
        let pb = plan(&PlanInput {
            items: b,
            shards: 4,
            workers: 2,
        });
        assert_eq!(pa, pb);
    }
}
