//! Shard planning: which test runs in which shard. Pure code: no I/O, no clocks, no hash-map
//! iteration order; the same [`PlanInput`] gives the same [`ShardPlan`] on every machine and
//! for every input order (ties are broken by [`TestId`](crate::id::TestId)). All arithmetic is in integer
//! microseconds, so no float rounding can leak into a decision.
//!
//! # Cost model
//! A test's *cost* is its estimate plus its flaky retries' expected cost
//! ([`expected_cost`]). A shard run by `W` workers is predicted to take
//!
//! ```text
//! max( longest test,
//!      serial_work + ceil(parallel_work / W),
//!      max over groups g: ceil(work of g in the shard / max_g) )
//! ```
//!
//! where `serial_work` is the work of `#[shard::serial]` tests (global key), and a keyed
//! serial test (`#[shard::serial(key)]`) counts as parallel work plus a member of the group
//! `serial:key` with limit 1. Work is slot-time: a test that takes N of the W worker slots
//! (`#[shard::threads(N)]`, nextest's `threads-required`) and lasts t adds `N * t` to
//! `parallel_work` (and to the lower bound's total), while "longest test" stays its t.
//!
//! # Algorithm
//! 1. Longest-processing-time first: tests sorted by cost (longest first, ties by id), each
//!    placed on the shard whose predicted time after adding it is smallest (ties: fewer
//!    tests, then lower index).
//! 2. Improvement pass: while the slowest shard is above the lower bound, try moving one of
//!    its tests to another shard, or swapping one with a shorter test of another shard; apply
//!    the change that lowers the larger of the two shards the most, as long as it strictly
//!    drops below the slowest shard's time. Bounded by an evaluation budget.
//! 3. A count split (tests by id, round robin) gets the same improvement pass; the better of
//!    the two plans is kept (LPT on a tie), so a plan is never worse than a count split of
//!    the same data under the same model.
//!
//! # Layout
//! [`input`] is what the planner takes (plain estimates, no history store), [`cost`] the
//! expected cost of one test, `model` the predicted time of a shard, [`partition`] the
//! algorithm, [`fingerprint`](mod@fingerprint) the hash that proves two jobs planned alike, [`estimate`](mod@estimate) how
//! history becomes estimates, and [`suggest`](mod@suggest) the shard-count advice. The plan itself
//! ([`ShardPlan`]) is a schema type of `shardtest-protocol`.

pub mod cost;
pub mod estimate;
pub mod fingerprint;
pub mod input;
mod model;
pub mod partition;
pub mod suggest;

pub use cost::expected_cost;
pub use estimate::{DEFAULT_ESTIMATE, DEFAULT_FLAKY_RATE_PPM, Recorded, estimate};
pub use fingerprint::fingerprint;
pub use input::{PlanInput, PlanItem};
pub use partition::plan;
pub use shardtest_protocol::plan::{LongestTest, PlannedShard, ShardPlan, SuggestRow};
pub use shardtest_protocol::shard::{ShardSpec, ShardSpecError};
pub use suggest::{SuggestReason, Suggestion, suggest};
