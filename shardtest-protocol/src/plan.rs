//! The plan schema: which test runs in which shard ([`ShardPlan`]), as `plan --json`
//! prints it ([`PlanReport`]) together with the shard-count advice of `plan --suggest`
//! ([`Suggestion`]). The planner that computes these lives in `cargo-shardtest`.

use crate::id::{Fingerprint, TestId};
use crate::shard::ShardSpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One shard of a plan.
///
/// ```
/// # use shardtest_protocol::plan::PlannedShard;
/// # use std::time::Duration;
/// let s = PlannedShard { tests: vec!["p t".parse().unwrap()], predicted: Duration::from_secs(2) };
/// assert_eq!(s.tests.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    /// Tests of the shard, longest predicted first, ties by id: the order a runner starts them.
    pub tests: Vec<TestId>,
    /// Predicted wall time of the shard with `W` workers.
    #[serde(with = "crate::duration")]
    pub predicted: Duration,
}

/// The result of planning: every input test in exactly one shard.
///
/// ```
/// # use shardtest_protocol::plan::*;
/// # use std::time::Duration;
/// let shard = |secs, tests: &[&str]| PlannedShard {
///     tests: tests.iter().map(|t| t.parse().unwrap()).collect(),
///     predicted: Duration::from_secs(secs),
/// };
/// let plan = ShardPlan {
///     shards: vec![shard(3, &["p a"]), shard(2, &["p b", "p c"])],
///     fingerprint: "ab12".into(),
///     workers: 1,
///     total_work: Duration::from_secs(5),
///     longest: None,
///     lower_bound: Duration::from_secs(3),
///     estimated_tests: 0,
/// };
/// assert_eq!(plan.slowest(), Duration::from_secs(3));
/// assert_eq!(plan.counts(), vec![1, 2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardPlan {
    /// Shards in order (`shards[0]` is shard 1).
    pub shards: Vec<PlannedShard>,
    /// Hex hash of the sorted test list, the estimates used, N and W.
    pub fingerprint: Fingerprint,
    /// Workers per shard the plan was made for.
    pub workers: u32,
    /// Sum of the tests' expected costs.
    #[serde(with = "crate::duration")]
    pub total_work: Duration,
    /// The longest test, if any.
    pub longest: Option<LongestTest>,
    /// Lower bound of the slowest shard: `max(longest test, total work / (N * W))`.
    #[serde(with = "crate::duration")]
    pub lower_bound: Duration,
    /// How many tests had no history (estimated).
    pub estimated_tests: usize,
}

/// The longest test of a plan.
///
/// ```
/// # use shardtest_protocol::plan::LongestTest;
/// # use std::time::Duration;
/// let l = LongestTest { id: "p slow".parse().unwrap(), duration: Duration::from_secs(9) };
/// assert_eq!(l.id.to_string(), "p slow");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongestTest {
    /// The test.
    pub id: TestId,
    /// Its expected cost.
    #[serde(with = "crate::duration")]
    pub duration: Duration,
}

impl ShardPlan {
    /// The tests of shard `spec` (which must have `spec.total` equal to the plan's N).
    ///
    /// ```
    /// # use shardtest_protocol::plan::*;
    /// # use shardtest_protocol::shard::ShardSpec;
    /// # use std::time::Duration;
    /// let one = |t: &str| PlannedShard { tests: vec![t.parse().unwrap()], predicted: Duration::ZERO };
    /// let plan = ShardPlan { shards: vec![one("p a"), one("p b")], fingerprint: "f".into(),
    ///     workers: 1, total_work: Duration::ZERO, longest: None,
    ///     lower_bound: Duration::ZERO, estimated_tests: 2 };
    /// assert_eq!(plan.shard(ShardSpec::new(2, 2).unwrap()).tests[0].to_string(), "p b");
    /// ```
    pub fn shard(&self, spec: ShardSpec) -> &PlannedShard {
        &self.shards[(spec.index - 1) as usize]
    }

    /// Predicted wall time of the slowest shard (zero for a plan without shards).
    ///
    /// ```
    /// # use shardtest_protocol::plan::*;
    /// # use std::time::Duration;
    /// let plan = ShardPlan { shards: vec![], fingerprint: "f".into(), workers: 1,
    ///     total_work: Duration::ZERO, longest: None, lower_bound: Duration::ZERO,
    ///     estimated_tests: 0 };
    /// assert_eq!(plan.slowest(), Duration::ZERO);
    /// ```
    pub fn slowest(&self) -> Duration {
        self.shards
            .iter()
            .map(|s| s.predicted)
            .max()
            .unwrap_or_default()
    }

    /// Slowest shard divided by the lower bound (1.0 is optimal; 1.0 for an empty plan).
    ///
    /// ```
    /// # use shardtest_protocol::plan::*;
    /// # use std::time::Duration;
    /// let s = |secs| PlannedShard { tests: vec![], predicted: Duration::from_secs(secs) };
    /// let plan = ShardPlan { shards: vec![s(6), s(4)], fingerprint: "f".into(), workers: 1,
    ///     total_work: Duration::from_secs(10), longest: None,
    ///     lower_bound: Duration::from_secs(5), estimated_tests: 0 };
    /// assert_eq!(plan.ratio(), 1.2);
    /// ```
    pub fn ratio(&self) -> f64 {
        if self.lower_bound.is_zero() {
            return 1.0;
        }
        self.slowest().as_secs_f64() / self.lower_bound.as_secs_f64()
    }

    /// Number of tests per shard.
    ///
    /// ```
    /// # use shardtest_protocol::plan::*;
    /// # use std::time::Duration;
    /// let plan = ShardPlan { shards: vec![], fingerprint: "f".into(), workers: 1,
    ///     total_work: Duration::ZERO, longest: None, lower_bound: Duration::ZERO,
    ///     estimated_tests: 0 };
    /// assert!(plan.counts().is_empty());
    /// ```
    pub fn counts(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.tests.len()).collect()
    }
}

/// One row of the shard-count advice: what `N` shards would cost.
///
/// ```
/// # use shardtest_protocol::plan::SuggestRow;
/// # use std::time::Duration;
/// let s = Duration::from_secs;
/// let row = SuggestRow { shards: 2, slowest: s(50), wall: s(110), machine: s(220), lower_bound: s(50) };
/// assert_eq!(row.wall - row.slowest, s(60)); // the setup each job pays
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestRow {
    /// Number of shards.
    pub shards: u32,
    /// Predicted slowest shard (tests only).
    #[serde(with = "crate::duration")]
    pub slowest: Duration,
    /// Predicted wall time of the CI stage: setup + slowest shard.
    #[serde(with = "crate::duration")]
    pub wall: Duration,
    /// Total machine time: every job pays its setup plus its own shard.
    #[serde(with = "crate::duration")]
    pub machine: Duration,
    /// Lower bound of the slowest shard for this N.
    #[serde(with = "crate::duration")]
    pub lower_bound: Duration,
}

/// The shard-count advice as `plan --suggest --json` prints it.
///
/// ```
/// # use shardtest_protocol::plan::Suggestion;
/// let s = Suggestion { rows: vec![], recommended: 4, reason: "4 shards finish in 60 s".into() };
/// assert_eq!(s.recommended, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// One row per N of the range.
    pub rows: Vec<SuggestRow>,
    /// The recommended shard count.
    pub recommended: u32,
    /// Why, in one sentence.
    pub reason: String,
}

/// The document `cargo shardtest plan --format json` prints.
///
/// ```
/// # use shardtest_protocol::plan::*;
/// # use std::time::Duration;
/// let plan = ShardPlan { shards: vec![], fingerprint: "f".into(), workers: 2,
///     total_work: Duration::ZERO, longest: None, lower_bound: Duration::ZERO,
///     estimated_tests: 0 };
/// let doc = PlanReport { plan, suggestion: None, tests_skipped: 0, tests_to_run: 0,
///     tests_with_history: 0, timings: "target/shardtest/timings.json".into(), workers: 2 };
/// let json = serde_json::to_string(&doc).unwrap();
/// assert!(json.starts_with(r#"{"plan":{"#), "{json}");
/// ```
// Fields in alphabetical order: the document has always been printed with sorted keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanReport {
    /// The plan.
    pub plan: ShardPlan,
    /// The shard-count advice (`--suggest`), else null.
    pub suggestion: Option<Suggestion>,
    /// Ignored tests: they belong to a shard but are skipped.
    pub tests_skipped: usize,
    /// Tests that will run.
    pub tests_to_run: usize,
    /// Of the tests that will run, how many have recorded history.
    pub tests_with_history: usize,
    /// The timings history file the estimates came from.
    pub timings: PathBuf,
    /// Workers per shard the plan assumes.
    pub workers: u32,
}
