//! Shard planning: which test runs in which shard. Pure code: no I/O, no clocks, no hash-map
//! iteration order; the same [`PlanInput`] gives the same [`ShardPlan`] on every machine and
//! for every input order (ties are broken by [`TestId`]). All arithmetic is in integer
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

use crate::attrs::TestAttributes;
use crate::id::{BinaryId, TestId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::time::Duration;

pub use shardtest_protocol::shard::{ShardSpec, ShardSpecError};

/// Estimate for a test with no history when no test of the suite has any (100 ms).
pub const DEFAULT_ESTIMATE: Duration = Duration::from_millis(100);
/// Failure rate assumed for a `#[shard::flaky]` test with no recorded history (10%).
pub const DEFAULT_FLAKY_RATE_PPM: u32 = 100_000;

/// One test as the planner sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanItem {
    /// The test.
    pub id: TestId,
    /// Predicted duration (recorded, or estimated when `known` is false), including the
    /// expected cost of flaky retries ([`expected_cost`]; [`estimate`] adds it).
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
    /// Workers per shard the plan was made for.
    pub workers: u32,
    /// Sum of the tests' expected costs.
    #[serde(with = "crate::serde_duration")]
    pub total_work: Duration,
    /// The longest test, if any.
    pub longest: Option<LongestTest>,
    /// Lower bound of the slowest shard: `max(longest test, total work / (N * W))`.
    #[serde(with = "crate::serde_duration")]
    pub lower_bound: Duration,
    /// How many tests had no history (estimated).
    pub estimated_tests: usize,
}

/// The longest test of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LongestTest {
    /// The test.
    pub id: TestId,
    /// Its expected cost.
    #[serde(with = "crate::serde_duration")]
    pub duration: Duration,
}

impl ShardPlan {
    /// The tests of shard `spec` (which must have `spec.total` equal to the plan's N).
    ///
    /// ```
    /// # use shardtest::plan::*;
    /// # use shardtest::id::TestId;
    /// # use std::time::Duration;
    /// let items = (0..10).map(|i| PlanItem::new(format!("p t{i}").parse().unwrap(),
    ///     Duration::from_millis(10))).collect();
    /// let plan = plan(&PlanInput { items, shards: 3, workers: 1 });
    /// let total: usize = (1..=3).map(|k| plan.shard(ShardSpec::new(k, 3).unwrap()).tests.len()).sum();
    /// assert_eq!(total, 10);
    /// ```
    pub fn shard(&self, spec: ShardSpec) -> &PlannedShard {
        &self.shards[(spec.index - 1) as usize]
    }

    /// Predicted wall time of the slowest shard.
    ///
    /// ```
    /// # use shardtest::plan::*;
    /// # use std::time::Duration;
    /// let items = vec![PlanItem::new("p a".parse().unwrap(), Duration::from_secs(3)),
    ///                  PlanItem::new("p b".parse().unwrap(), Duration::from_secs(1))];
    /// let p = plan(&PlanInput { items, shards: 2, workers: 1 });
    /// assert_eq!(p.slowest(), Duration::from_secs(3));
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
    /// # use shardtest::plan::*;
    /// # use std::time::Duration;
    /// let items = (0..8).map(|i| PlanItem::new(format!("p t{i}").parse().unwrap(),
    ///     Duration::from_secs(1))).collect();
    /// let p = plan(&PlanInput { items, shards: 4, workers: 1 });
    /// assert_eq!(p.ratio(), 1.0);
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
    /// # use shardtest::plan::*;
    /// let p = plan(&PlanInput { items: vec![], shards: 2, workers: 1 });
    /// assert_eq!(p.counts(), vec![0, 0]);
    /// ```
    pub fn counts(&self) -> Vec<usize> {
        self.shards.iter().map(|s| s.tests.len()).collect()
    }
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

/// Expected time of a test: one attempt plus, for a `#[shard::flaky(retries = R)]` test
/// that fails a share `r` of its runs (parts per million), the expected retries
/// `sum_{k=1..R} r^k * (attempt + backoff_k)`.
///
/// ```
/// # use shardtest::plan::*;
/// # use shardtest::attrs::FlakyPolicy;
/// # use std::time::Duration;
/// let ten = Duration::from_secs(10);
/// assert_eq!(expected_cost(ten, 500_000, None), ten);
/// let policy = FlakyPolicy { retries: 2, backoff_ms: 0 };
/// // fails half the time: 10 + 5 + 2.5
/// assert_eq!(expected_cost(ten, 500_000, Some(&policy)), Duration::from_millis(17_500));
/// ```
pub fn expected_cost(
    attempt: Duration,
    failure_rate_ppm: u32,
    flaky: Option<&crate::attrs::FlakyPolicy>,
) -> Duration {
    let est = us(attempt);
    let Some(policy) = flaky else {
        return attempt;
    };
    let rate = u128::from(failure_rate_ppm.min(1_000_000));
    let mut p: u128 = 1_000_000; // probability of reaching retry k, in ppm
    let mut extra: u128 = 0;
    for k in 1..=policy.retries.min(32) {
        p = p * rate / 1_000_000;
        if p == 0 {
            break;
        }
        let backoff = u128::from(us(policy.backoff_before(k)));
        extra += p * (u128::from(est) + backoff) / 1_000_000;
    }
    Duration::from_micros(est.saturating_add(extra.min(u64::MAX as u128) as u64))
}

fn cost_us(item: &PlanItem) -> u64 {
    us(item.estimate)
}

/// Computes the fingerprint of a plan input: the same for the same tests, estimates,
/// attributes, N and W, whatever the input order or machine.
///
/// ```
/// # use shardtest::plan::*;
/// let a = PlanInput { items: vec![], shards: 2, workers: 1 };
/// let b = PlanInput { items: vec![], shards: 3, workers: 1 };
/// assert_ne!(fingerprint(&a), fingerprint(&b));
/// ```
pub fn fingerprint(input: &PlanInput) -> String {
    fingerprint_in_order(input, &id_order(&input.items))
}

/// Indexes of `items` sorted by id (then by every other field, so that even duplicate ids
/// give one order whatever the input order).
fn id_order(items: &[PlanItem]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&items[a as usize], &items[b as usize]);
        a.id.cmp(&b.id)
            .then_with(|| a.estimate.cmp(&b.estimate))
            .then_with(|| a.known.cmp(&b.known))
            .then_with(|| a.attributes.cmp(&b.attributes))
    });
    order
}

fn fingerprint_in_order(input: &PlanInput, by_id: &[u32]) -> String {
    let sorted = by_id.iter().map(|&i| &input.items[i as usize]);
    let mut h = Sha256::new();
    h.update(format!(
        "shardtest-plan-v2 N={} W={}\n",
        input.shards, input.workers
    ));
    let mut line = String::new();
    for it in sorted {
        use std::fmt::Write as _;
        line.clear();
        let attrs = if it.attributes.is_plain() {
            String::new()
        } else {
            serde_json::to_string(&it.attributes).unwrap_or_default()
        };
        let _ = writeln!(
            line,
            "{}\t{}\t{}\t{}",
            it.id,
            us(it.estimate),
            it.known,
            attrs
        );
        h.update(line.as_bytes());
    }
    let digest = h.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The planner's view of the input: items sorted by cost (longest first, ties by id), so an
/// item's index order is also its start order.
struct Model {
    workers: u64,
    cost: Vec<u64>,
    serial: Vec<bool>,
    /// Group indexes of each item (keyed serial group, concurrency group).
    groups: Vec<[Option<u32>; 2]>,
    /// Worker slots each item takes (1 unless `threads`).
    slots: Vec<u64>,
    /// Items with the same class are interchangeable when their costs are equal.
    class: Vec<u32>,
    group_max: Vec<u64>,
}

#[derive(Clone)]
struct Shard {
    /// Item indexes, ascending (= longest first).
    items: Vec<u32>,
    serial: u64,
    parallel: u64,
    group_work: Vec<u64>,
}

impl Model {
    fn new(sorted: &[&PlanItem], workers: u32) -> Model {
        let mut names: Vec<(String, u64)> = Vec::new();
        for it in sorted {
            if let Some(k) = it.attributes.serial.as_deref().filter(|k| !k.is_empty()) {
                names.push((format!("serial:{k}"), 1));
            }
            if let Some(g) = &it.attributes.group {
                names.push((format!("group:{}", g.name), u64::from(g.max.max(1))));
            }
        }
        // One limit per group name: the smallest declared (deterministic whatever the order).
        names.sort();
        names.dedup_by(|a, b| a.0 == b.0);
        let group_index = |name: &str| -> Option<u32> {
            names
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .ok()
                .map(|i| i as u32)
        };
        let mut classes: Vec<(bool, [Option<u32>; 2], u64)> = Vec::new();
        let mut m = Model {
            workers: u64::from(workers.max(1)),
            cost: Vec::with_capacity(sorted.len()),
            serial: Vec::with_capacity(sorted.len()),
            groups: Vec::with_capacity(sorted.len()),
            slots: Vec::with_capacity(sorted.len()),
            class: Vec::with_capacity(sorted.len()),
            group_max: names.iter().map(|(_, m)| *m).collect(),
        };
        for it in sorted {
            let serial = it.attributes.serial.as_deref() == Some("");
            let keyed = it
                .attributes
                .serial
                .as_deref()
                .filter(|k| !k.is_empty())
                .and_then(|k| group_index(&format!("serial:{k}")));
            let group = it
                .attributes
                .group
                .as_ref()
                .and_then(|g| group_index(&format!("group:{}", g.name)));
            let slots = u64::from(it.attributes.slots(workers));
            let key = (serial, [keyed, group], slots);
            let class = match classes.iter().position(|c| *c == key) {
                Some(i) => i,
                None => {
                    classes.push(key);
                    classes.len() - 1
                }
            };
            m.cost.push(cost_us(it));
            m.serial.push(serial);
            m.groups.push([keyed, group]);
            m.slots.push(slots);
            m.class.push(class as u32);
        }
        m
    }

    fn empty_shard(&self) -> Shard {
        Shard {
            items: Vec::new(),
            serial: 0,
            parallel: 0,
            group_work: vec![0; self.group_max.len()],
        }
    }

    fn add(&self, s: &mut Shard, i: u32) {
        let pos = s.items.partition_point(|&x| x < i);
        s.items.insert(pos, i);
        self.account(s, i, true);
    }

    fn remove(&self, s: &mut Shard, i: u32) {
        if let Ok(pos) = s.items.binary_search(&i) {
            s.items.remove(pos);
            self.account(s, i, false);
        }
    }

    /// What item `i` adds to the serial or the parallel work: its cost, times its worker
    /// slots when it runs in parallel (slot-time).
    fn work(&self, i: usize) -> u64 {
        if self.serial[i] {
            self.cost[i]
        } else {
            self.cost[i].saturating_mul(self.slots[i])
        }
    }

    fn account(&self, s: &mut Shard, i: u32, add: bool) {
        let i = i as usize;
        let c = self.cost[i];
        let work = self.work(i);
        let slot = if self.serial[i] {
            &mut s.serial
        } else {
            &mut s.parallel
        };
        *slot = if add { *slot + work } else { *slot - work };
        for g in self.groups[i].iter().flatten() {
            let w = &mut s.group_work[*g as usize];
            *w = if add { *w + c } else { *w - c };
        }
    }

    /// Predicted time of `s` with `remove` taken out and `add` put in.
    fn predict(&self, s: &Shard, remove: Option<u32>, add: Option<u32>) -> u64 {
        let mut serial = s.serial;
        let mut parallel = s.parallel;
        let mut adjust = |i: u32, sign: bool| {
            let i = i as usize;
            let slot = if self.serial[i] {
                &mut serial
            } else {
                &mut parallel
            };
            *slot = if sign {
                *slot + self.work(i)
            } else {
                *slot - self.work(i)
            };
        };
        if let Some(r) = remove {
            adjust(r, false);
        }
        if let Some(a) = add {
            adjust(a, true);
        }
        let mut longest = s
            .items
            .iter()
            .take(2)
            .find(|&&x| Some(x) != remove)
            .map_or(0, |&x| self.cost[x as usize]);
        if let Some(a) = add {
            longest = longest.max(self.cost[a as usize]);
        }
        let mut t = longest.max(serial + parallel.div_ceil(self.workers));
        for (g, &max) in self.group_max.iter().enumerate() {
            let mut w = s.group_work[g];
            if let Some(r) = remove
                && self.groups[r as usize].contains(&Some(g as u32))
            {
                w -= self.cost[r as usize];
            }
            if let Some(a) = add
                && self.groups[a as usize].contains(&Some(g as u32))
            {
                w += self.cost[a as usize];
            }
            t = t.max(w.div_ceil(max));
        }
        t
    }

    fn lower_bound(&self, shards: u64) -> u64 {
        let total: u64 = (0..self.cost.len()).map(|i| self.work(i)).sum();
        let longest = self.cost.first().copied().unwrap_or(0);
        longest.max(total.div_ceil(shards.max(1) * self.workers))
    }

    fn lpt(&self, n: usize) -> Vec<Shard> {
        let mut shards = vec![self.empty_shard(); n];
        for i in 0..self.cost.len() as u32 {
            let k = (0..n)
                .min_by_key(|&k| {
                    (
                        self.predict(&shards[k], None, Some(i)),
                        shards[k].items.len(),
                        k,
                    )
                })
                .unwrap_or(0);
            self.add(&mut shards[k], i);
        }
        shards
    }

    /// Round robin over the tests in id order; `by_id` holds model indexes in id order.
    fn count_split(&self, by_id: &[u32], n: usize) -> Vec<Shard> {
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (pos, &i) in by_id.iter().enumerate() {
            lists[pos % n].push(i);
        }
        lists
            .into_iter()
            .map(|mut items| {
                items.sort_unstable();
                let mut s = self.empty_shard();
                for &i in &items {
                    self.account(&mut s, i, true);
                }
                s.items = items;
                s
            })
            .collect()
    }

    /// Moves and swaps out of the slowest shard while that strictly helps.
    ///
    /// Candidates per other shard `t`: the [`LEAD`] longest distinct tests of the slowest shard
    /// and the ones whose cost is about the work that would even the two shards out; each is
    /// tried as a move to `t` and as a swap with the test of `t` whose cost is closest to
    /// making the pair even. A change is applied when it lowers the larger of the two shards
    /// below the slowest shard's time by at least 1/20,000 of it, and the pass stops within
    /// 0.05% of the lower bound (so a near-flat plan stops at once); `budget` bounds the
    /// number of evaluations.
    fn improve(&self, shards: &mut [Shard], mut budget: u64) {
        let n = shards.len();
        if n < 2 {
            return;
        }
        let lb = self.lower_bound(n as u64);
        let mut preds: Vec<u64> = shards.iter().map(|s| self.predict(s, None, None)).collect();
        while budget > 0 {
            let (s, cur) = preds
                .iter()
                .enumerate()
                .max_by_key(|&(k, &p)| (p, std::cmp::Reverse(k)))
                .map(|(k, &p)| (k, p))
                .unwrap_or((0, 0));
            // Within 0.05% of the bound is optimal for any practical purpose.
            if cur <= lb + lb / 2_000 {
                return;
            }
            let need = cur - (cur / 20_000).max(1);
            let sitems = &shards[s].items;
            let mut lead: Vec<u32> = Vec::with_capacity(LEAD);
            for &a in sitems {
                if lead.len() == LEAD {
                    break;
                }
                let same = lead.last().is_some_and(|&p| {
                    self.cost[p as usize] == self.cost[a as usize]
                        && self.class[p as usize] == self.class[a as usize]
                });
                if !same {
                    lead.push(a);
                }
            }
            // (new max of the two shards, other shard, item out of s, item into s)
            let mut best: Option<(u64, usize, u32, Option<u32>)> = None;
            for t in (0..n).filter(|&t| t != s) {
                let gap = (cur - preds[t]).saturating_mul(self.workers) / 2;
                let pos = sitems.partition_point(|&x| self.cost[x as usize] > gap);
                let near = [pos.wrapping_sub(1), pos, pos + 1]
                    .into_iter()
                    .filter_map(|q| sitems.get(q).copied());
                for a in lead.iter().copied().chain(near) {
                    let ai = a as usize;
                    budget = budget.saturating_sub(1);
                    let new_s = self.predict(&shards[s], Some(a), None);
                    if new_s > need {
                        continue;
                    }
                    let mut consider = |m: u64, b: Option<u32>| {
                        if m <= need && best.is_none_or(|(bm, ..)| m < bm) {
                            best = Some((m, t, a, b));
                        }
                    };
                    consider(new_s.max(self.predict(&shards[t], None, Some(a))), None);
                    let target = self.cost[ai].saturating_sub(gap);
                    let titems = &shards[t].items;
                    let q = titems.partition_point(|&x| self.cost[x as usize] > target);
                    for q in [q.wrapping_sub(1), q, q + 1] {
                        let Some(&b) = titems.get(q) else { continue };
                        if self.cost[b as usize] >= self.cost[ai] {
                            continue;
                        }
                        budget = budget.saturating_sub(1);
                        let ns = self.predict(&shards[s], Some(a), Some(b));
                        let nt = self.predict(&shards[t], Some(b), Some(a));
                        consider(ns.max(nt), Some(b));
                    }
                }
            }
            let Some((_, t, a, b)) = best else { return };
            self.remove(&mut shards[s], a);
            self.add(&mut shards[t], a);
            if let Some(b) = b {
                self.remove(&mut shards[t], b);
                self.add(&mut shards[s], b);
            }
            preds[s] = self.predict(&shards[s], None, None);
            preds[t] = self.predict(&shards[t], None, None);
        }
    }

    /// Shard times sorted slowest first: the comparison key of two plans.
    fn key(&self, shards: &[Shard]) -> Vec<u64> {
        let mut v: Vec<u64> = shards.iter().map(|s| self.predict(s, None, None)).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }
}

/// Evaluations the improvement pass may spend per candidate plan.
const IMPROVE_BUDGET: u64 = 2_000_000;
/// Longest distinct tests of the slowest shard tried in every improvement step.
const LEAD: usize = 48;

/// Places every test in exactly one shard, minimising the predicted time of the slowest
/// shard (see the module doc for the model and the algorithm).
///
/// ```
/// # use shardtest::plan::*;
/// # use std::time::Duration;
/// let items = [5u64, 4, 3, 3, 3].iter().enumerate()
///     .map(|(i, s)| PlanItem::new(format!("p t{i}").parse().unwrap(), Duration::from_secs(*s)))
///     .collect();
/// let plan = plan(&PlanInput { items, shards: 2, workers: 1 });
/// assert_eq!(plan.slowest(), Duration::from_secs(9)); // {5,4} and {3,3,3}
/// assert_eq!(plan.lower_bound, Duration::from_secs(9));
/// ```
pub fn plan(input: &PlanInput) -> ShardPlan {
    let n = input.shards.max(1) as usize;
    let workers = input.workers.max(1);
    // Rank by id once; the model order is (longest first, then id rank).
    let by_id = id_order(&input.items);
    let mut rank = vec![0u32; input.items.len()];
    for (r, &i) in by_id.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    let mut order: Vec<u32> = (0..input.items.len() as u32).collect();
    order.sort_unstable_by_key(|&i| {
        (
            std::cmp::Reverse(cost_us(&input.items[i as usize])),
            rank[i as usize],
        )
    });
    let sorted: Vec<&PlanItem> = order.iter().map(|&i| &input.items[i as usize]).collect();
    // Model index of each input item, and the model indexes in id order.
    let mut model_index = vec![0u32; input.items.len()];
    for (m, &i) in order.iter().enumerate() {
        model_index[i as usize] = m as u32;
    }
    let model_by_id: Vec<u32> = by_id.iter().map(|&i| model_index[i as usize]).collect();
    let model = Model::new(&sorted, workers);

    let mut lpt = model.lpt(n);
    model.improve(&mut lpt, IMPROVE_BUDGET);
    let mut chosen = lpt;
    // A count split can only win when LPT did not reach the lower bound.
    let lb = model.lower_bound(n as u64);
    if model
        .key(&chosen)
        .first()
        .is_some_and(|&slowest| slowest > lb)
    {
        let mut count = model.count_split(&model_by_id, n);
        if model.key(&count) < model.key(&chosen) {
            chosen = count;
        } else {
            model.improve(&mut count, IMPROVE_BUDGET);
            if model.key(&count) < model.key(&chosen) {
                chosen = count;
            }
        }
    }

    let total: u64 = (0..model.cost.len()).map(|i| model.work(i)).sum();
    ShardPlan {
        shards: chosen
            .iter()
            .map(|s| PlannedShard {
                predicted: Duration::from_micros(model.predict(s, None, None)),
                tests: s
                    .items
                    .iter()
                    .map(|&i| sorted[i as usize].id.clone())
                    .collect(),
            })
            .collect(),
        fingerprint: fingerprint_in_order(input, &by_id),
        workers,
        total_work: Duration::from_micros(total),
        longest: sorted.first().map(|it| LongestTest {
            id: it.id.clone(),
            duration: Duration::from_micros(model.cost[0]),
        }),
        lower_bound: Duration::from_micros(model.lower_bound(n as u64)),
        estimated_tests: input.items.iter().filter(|i| !i.known).count(),
    }
}

/// What the history knows of one test, as the planner needs it: no store, no samples.
///
/// ```
/// # use shardtest::plan::Recorded;
/// # use std::time::Duration;
/// let r = Recorded { mean: Duration::from_millis(250), failure_rate_ppm: 0 };
/// assert_eq!(r.mean.as_millis(), 250);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The duration to plan with (the history's mean at the run's worker count when known).
    pub mean: Duration,
    /// Share of recorded runs that did not pass at once, in parts per million.
    pub failure_rate_ppm: u32,
}

/// Builds plan items for the listed tests from what the history recorded of each
/// (`recorded[i]` belongs to `listed[i]`; `None`: no history).
///
/// Known tests use their recorded mean. A test with no history gets the median mean of the
/// listed tests with history in the same binary, else of the whole listing, else
/// [`DEFAULT_ESTIMATE`]; all unknown tests of a binary get the same estimate, so they are
/// spread evenly. A `#[shard::flaky]` test's estimate then includes its expected retries
/// ([`expected_cost`]) at its observed failure rate, or [`DEFAULT_FLAKY_RATE_PPM`] without
/// history. The attributes come from the listing.
///
/// ```
/// # use shardtest::plan::*;
/// # use std::time::Duration;
/// let ms = |m| Some(Recorded { mean: Duration::from_millis(m), failure_rate_ppm: 0 });
/// let listed: Vec<_> = ["a x", "a y", "a z", "a new", "c new"].iter()
///     .map(|t| (t.parse().unwrap(), Default::default())).collect();
/// let items = estimate(&listed, &[ms(100), ms(300), ms(500), None, None]);
/// assert_eq!(items[3].estimate, Duration::from_millis(300)); // median of binary `a`
/// assert!(!items[3].known);
/// assert_eq!(items[4].estimate, Duration::from_millis(300)); // median of the listed suite
/// ```
pub fn estimate(
    listed: &[(TestId, TestAttributes)],
    recorded: &[Option<Recorded>],
) -> Vec<PlanItem> {
    assert_eq!(
        listed.len(),
        recorded.len(),
        "one history entry per listed test"
    );
    let mut suite: Vec<u64> = Vec::new();
    let mut per_binary: BTreeMap<&BinaryId, Vec<u64>> = BTreeMap::new();
    for ((id, _), r) in listed.iter().zip(recorded) {
        if let Some(r) = r {
            suite.push(us(r.mean));
            per_binary.entry(&id.binary).or_default().push(us(r.mean));
        }
    }
    let median = |v: &mut Vec<u64>| -> Option<u64> {
        v.sort_unstable();
        v.get(v.len().saturating_sub(1) / 2).copied()
    };
    let suite_median = median(&mut suite);
    let binary_median: BTreeMap<&BinaryId, u64> = per_binary
        .into_iter()
        .filter_map(|(b, mut v)| median(&mut v).map(|m| (b, m)))
        .collect();
    listed
        .iter()
        .zip(recorded)
        .map(|((id, attributes), r)| {
            let (estimate, known, rate) = match r {
                Some(r) => (r.mean, true, r.failure_rate_ppm),
                None => {
                    let est = binary_median
                        .get(&id.binary)
                        .copied()
                        .or(suite_median)
                        .map_or(DEFAULT_ESTIMATE, Duration::from_micros);
                    let rate = if attributes.flaky.is_some() {
                        DEFAULT_FLAKY_RATE_PPM
                    } else {
                        0
                    };
                    (est, false, rate)
                }
            };
            PlanItem {
                id: id.clone(),
                estimate: expected_cost(estimate, rate, attributes.flaky.as_ref()),
                known,
                attributes: attributes.clone(),
            }
        })
        .collect()
}

/// One row of [`suggest`]: what `N` shards would cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestRow {
    /// Number of shards.
    pub shards: u32,
    /// Predicted slowest shard (tests only).
    #[serde(with = "crate::serde_duration")]
    pub slowest: Duration,
    /// Predicted wall time of the CI stage: setup + slowest shard.
    #[serde(with = "crate::serde_duration")]
    pub wall: Duration,
    /// Total machine time: every job pays its setup plus its own shard.
    #[serde(with = "crate::serde_duration")]
    pub machine: Duration,
    /// Lower bound of the slowest shard for this N.
    #[serde(with = "crate::serde_duration")]
    pub lower_bound: Duration,
}

/// The result of [`suggest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suggestion {
    /// One row per N of the range.
    pub rows: Vec<SuggestRow>,
    /// The recommended shard count.
    pub recommended: u32,
    /// Why, in one sentence.
    pub reason: String,
}

fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 10_000 {
        format!("{} s", (ms + 500) / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Plans the suite for every N in `shards` and recommends one, given the fixed `setup_cost`
/// each CI job pays (checkout, build). The recommendation is the smallest N whose wall time
/// is within 10% of the fastest; the reason says when one test sets the finish time
/// ("shard count beyond K buys nothing: test X alone takes T") or when more shards would
/// mostly pay setup.
///
/// ```
/// # use shardtest::plan::*;
/// # use std::time::Duration;
/// let mut items: Vec<PlanItem> = (0..30).map(|i| PlanItem::new(format!("p t{i}").parse().unwrap(),
///     Duration::from_secs(1))).collect();
/// items.push(PlanItem::new("p huge".parse().unwrap(), Duration::from_secs(55)));
/// let s = suggest(&items, Duration::from_secs(10), 1..=8, 1);
/// assert_eq!(s.recommended, 2);
/// assert!(s.reason.contains("beyond 2 buys nothing: test p huge alone takes 55 s"), "{}", s.reason);
/// ```
pub fn suggest(
    items: &[PlanItem],
    setup_cost: Duration,
    shards: std::ops::RangeInclusive<u32>,
    workers: u32,
) -> Suggestion {
    let lo = (*shards.start()).max(1);
    let hi = (*shards.end()).max(lo);
    let mut rows = Vec::new();
    let mut longest: Option<LongestTest> = None;
    for n in lo..=hi {
        let p = plan(&PlanInput {
            items: items.to_vec(),
            shards: n,
            workers,
        });
        let machine = p
            .shards
            .iter()
            .fold(Duration::ZERO, |acc, s| acc + setup_cost + s.predicted);
        longest = p.longest.clone();
        rows.push(SuggestRow {
            shards: n,
            slowest: p.slowest(),
            wall: setup_cost + p.slowest(),
            machine,
            lower_bound: p.lower_bound,
        });
    }
    let best_wall = rows.iter().map(|r| r.wall).min().unwrap_or_default();
    let limit = best_wall + best_wall / 10;
    let rec = rows
        .iter()
        .find(|r| r.wall <= limit)
        .cloned()
        .unwrap_or_else(|| rows[0].clone());
    // First N at which the longest test alone sets the slowest shard.
    let dominated = rows
        .iter()
        .find(|r| longest.as_ref().is_some_and(|l| r.slowest <= l.duration));
    let recommended = match dominated {
        Some(d) => d.shards.min(rec.shards),
        None => rec.shards,
    };
    let chosen = rows
        .iter()
        .find(|r| r.shards == recommended)
        .unwrap_or(&rec);
    let reason = match (dominated, &longest) {
        (Some(d), Some(l)) if d.shards < hi => {
            let mut s = format!(
                "shard count beyond {} buys nothing: test {} alone takes {}",
                d.shards,
                l.id,
                human(l.duration)
            );
            if recommended < d.shards {
                s.push_str(&format!(
                    "; {recommended} shards already finish within 10% of the fastest ({})",
                    human(best_wall)
                ));
            }
            s
        }
        _ if chosen.slowest < setup_cost * 2 => format!(
            "at {} shards each job spends {} on tests against {} of setup: more shards mostly pay setup",
            chosen.shards,
            human(chosen.slowest),
            human(setup_cost)
        ),
        _ => format!(
            "{} shards finish in {} (fastest in range: {}) for {} of machine time",
            chosen.shards,
            human(chosen.wall),
            human(best_wall),
            human(chosen.machine)
        ),
    };
    Suggestion {
        rows,
        recommended,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::{FlakyPolicy, GroupLimit};

    fn items(n: usize) -> Vec<PlanItem> {
        (0..n)
            .map(|i| {
                PlanItem::new(
                    format!("bin t{i:03}").parse().unwrap(),
                    Duration::from_millis(10),
                )
            })
            .collect()
    }

    fn item(id: &str, ms: u64) -> PlanItem {
        PlanItem::new(id.parse().unwrap(), Duration::from_millis(ms))
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
        let mut sizes = p.counts();
        sizes.sort();
        assert_eq!(sizes, vec![3, 3, 4]);
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

    #[test]
    fn shard_order_is_longest_first_ties_by_id() {
        let p = plan(&PlanInput {
            items: vec![item("b z", 5), item("b a", 5), item("b m", 9)],
            shards: 1,
            workers: 2,
        });
        let names: Vec<String> = p.shards[0].tests.iter().map(|t| t.to_string()).collect();
        assert_eq!(names, ["b m", "b a", "b z"]);
    }

    #[test]
    fn model_counts_workers_and_the_longest_test() {
        // W = 2: four 10 s tests and one 30 s test in one shard: max(30, 70/2) = 35 s.
        let mut v: Vec<PlanItem> = (0..4).map(|i| item(&format!("p t{i}"), 10_000)).collect();
        v.push(item("p long", 30_000));
        let p = plan(&PlanInput {
            items: v.clone(),
            shards: 1,
            workers: 2,
        });
        assert_eq!(p.slowest(), Duration::from_secs(35));
        // With only the long test and one short one: the long test is the floor.
        let p = plan(&PlanInput {
            items: v[3..].to_vec(),
            shards: 1,
            workers: 2,
        });
        assert_eq!(p.slowest(), Duration::from_secs(30));
    }

    #[test]
    fn threads_tests_count_slot_time() {
        // W = 3: a threads(2) test of 30 s is 60 s of the 3-slot capacity; with three 10 s
        // tests that is (60 + 30) / 3 = 30 s, floored by the 30 s test itself.
        let heavy = || {
            let mut h = item("p heavy", 30_000);
            h.attributes.threads = Some(crate::attrs::ThreadsRequired::Count(2));
            h
        };
        let mut v: Vec<PlanItem> = (0..3).map(|i| item(&format!("p t{i}"), 10_000)).collect();
        v.push(heavy());
        let p = plan(&PlanInput {
            items: v.clone(),
            shards: 1,
            workers: 3,
        });
        assert_eq!(p.slowest(), Duration::from_secs(30));
        assert_eq!(p.total_work, Duration::from_secs(90));
        // Six 10 s tests beside it: (60 + 60) / 3 = 40 s (a plain 30 s test would give 30 s).
        v.extend((3..6).map(|i| item(&format!("p t{i}"), 10_000)));
        let p = plan(&PlanInput {
            items: v.clone(),
            shards: 1,
            workers: 3,
        });
        assert_eq!(p.slowest(), Duration::from_secs(40));
        let mut plain = v.clone();
        plain[3].attributes.threads = None;
        let p = plan(&PlanInput {
            items: plain,
            shards: 1,
            workers: 3,
        });
        assert_eq!(p.slowest(), Duration::from_secs(30));
        // "num-cpus" takes all W slots; the lower bound counts slot-time too.
        v[3].attributes.threads = Some(crate::attrs::ThreadsRequired::all());
        let p = plan(&PlanInput {
            items: v,
            shards: 2,
            workers: 3,
        });
        // total 90 + 60 = 150 slot-seconds over 2 x 3 slots = 25 s; the longest test is 30 s.
        assert_eq!(p.lower_bound, Duration::from_secs(30));
        assert_eq!(p.total_work, Duration::from_secs(150));
    }

    #[test]
    fn serial_tests_are_not_divided_by_workers() {
        let mut v: Vec<PlanItem> = (0..4).map(|i| item(&format!("p t{i}"), 10_000)).collect();
        for it in &mut v[..2] {
            it.attributes.serial = Some(String::new());
        }
        let p = plan(&PlanInput {
            items: v,
            shards: 1,
            workers: 4,
        });
        // serial 20 s + parallel 20 s / 4 = 25 s
        assert_eq!(p.slowest(), Duration::from_secs(25));
    }

    #[test]
    fn groups_and_keyed_serial_are_floors_and_get_spread() {
        let mut v: Vec<PlanItem> = (0..4).map(|i| item(&format!("p db{i}"), 10_000)).collect();
        for it in &mut v {
            it.attributes.group = Some(GroupLimit {
                name: "db".into(),
                max: 1,
            });
        }
        v.extend((0..4).map(|i| item(&format!("p fast{i}"), 10_000)));
        // One shard, W = 8: the db group (limit 1) takes 40 s although 80/8 = 10 s.
        let p = plan(&PlanInput {
            items: v.clone(),
            shards: 1,
            workers: 8,
        });
        assert_eq!(p.slowest(), Duration::from_secs(40));
        // Two shards, W = 8: the planner puts two db tests in each shard: 20 s.
        let p = plan(&PlanInput {
            items: v.clone(),
            shards: 2,
            workers: 8,
        });
        assert_eq!(p.slowest(), Duration::from_secs(20));
        // Keyed serial behaves as a group of limit 1.
        for it in &mut v {
            it.attributes.group = None;
            if it.id.name.as_str().starts_with("db") {
                it.attributes.serial = Some("redis".into());
            }
        }
        let p = plan(&PlanInput {
            items: v,
            shards: 1,
            workers: 8,
        });
        assert_eq!(p.slowest(), Duration::from_secs(40));
    }

    #[test]
    fn flaky_tests_count_expected_retries() {
        let policy = FlakyPolicy {
            retries: 3,
            backoff_ms: 1000,
        };
        // 10 + 0.1*(10+1) + 0.01*(10+2) + 0.001*(10+4) = 11.234 s
        let ten = Duration::from_secs(10);
        assert_eq!(
            expected_cost(ten, 100_000, Some(&policy)),
            Duration::from_micros(11_234_000)
        );
    }

    #[test]
    fn improvement_pass_fixes_what_lpt_misses() {
        // LPT gives {3,2,2} / {3,2} = 7; optimal is {3,3} / {2,2,2} = 6.
        let v = ["p a", "p b", "p c", "p d", "p e"]
            .iter()
            .zip([3000, 3000, 2000, 2000, 2000])
            .map(|(t, ms)| item(t, ms))
            .collect();
        let p = plan(&PlanInput {
            items: v,
            shards: 2,
            workers: 1,
        });
        assert_eq!(p.slowest(), Duration::from_secs(6));
        assert_eq!(p.ratio(), 1.0);
    }

    #[test]
    fn suggest_weighs_setup_cost() {
        // 400 s of even work: with 60 s setup, 8 shards (50 s each) finish in 110 s, 16 in 85 s;
        // the recommendation is the smallest N within 10% of the fastest in range.
        let v: Vec<PlanItem> = (0..400)
            .map(|i| item(&format!("p t{i:03}"), 1000))
            .collect();
        let s = suggest(&v, Duration::from_secs(60), 1..=16, 1);
        assert_eq!(s.rows.len(), 16);
        let best = s.rows.iter().map(|r| r.wall).min().unwrap();
        let rec = s.rows.iter().find(|r| r.shards == s.recommended).unwrap();
        assert!(rec.wall <= best + best / 10);
        assert!(
            s.rows[..(s.recommended - 1) as usize]
                .iter()
                .all(|r| r.wall > best + best / 10)
        );
        assert_eq!(s.rows[3].machine, Duration::from_secs(4 * 60 + 400));
        assert!(s.reason.contains("setup"), "{}", s.reason);
    }

    #[test]
    fn fingerprint_covers_estimates_and_attributes() {
        let a = PlanInput {
            items: vec![item("p a", 5)],
            shards: 2,
            workers: 1,
        };
        let mut b = a.clone();
        b.items[0].estimate = Duration::from_millis(6);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut c = a.clone();
        c.items[0].attributes.serial = Some(String::new());
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d.workers = 2;
        assert_ne!(fingerprint(&a), fingerprint(&d));
        // A golden value: the fingerprint must not change across machines or builds.
        // sha256("shardtest-plan-v2 N=2 W=1\np a\t5000\tfalse\t\n"), first 8 bytes.
        assert_eq!(fingerprint(&a), "e87dff6171a7e534");
        let mut shuffled = PlanInput {
            items: vec![item("p b", 7), item("p a", 5)],
            shards: 2,
            workers: 1,
        };
        let f = fingerprint(&shuffled);
        shuffled.items.reverse();
        assert_eq!(fingerprint(&shuffled), f);
    }

    #[test]
    fn plans_100k_tests_quickly_enough_in_debug() {
        let v: Vec<PlanItem> = (0..20_000u64)
            .map(|i| item(&format!("b{} t{i}", i % 50), 1 + (i * 7919) % 5000))
            .collect();
        let p = plan(&PlanInput {
            items: v,
            shards: 16,
            workers: 2,
        });
        assert_eq!(p.counts().iter().sum::<usize>(), 20_000);
        assert!(p.ratio() < 1.01, "{}", p.ratio());
    }
}
