//! The cost model: a shard's predicted time with `W` workers (the longest test, serial plus
//! divided parallel work, group floors), and the moves that build and improve a partition
//! (longest-processing-time placement, count split, move/swap improvement).

use super::cost::cost_us;
use super::input::PlanItem;
use crate::attrs::SerialKey;

/// A concurrency limit a test counts against: a `#[shard::group]` or the one-at-a-time set
/// of a keyed `#[shard::serial(key)]`. Groups and serial keys are separate name spaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Limit<'a> {
    /// `#[shard::group(name, max = ..)]`.
    Group(&'a str),
    /// `#[shard::serial(key)]`: a group of limit 1.
    Serial(&'a str),
}

/// The planner's view of the input: items sorted by cost (longest first, ties by id), so an
/// item's index order is also its start order.
pub(super) struct Model {
    pub(super) workers: u64,
    pub(super) cost: Vec<u64>,
    pub(super) serial: Vec<bool>,
    /// Group indexes of each item (keyed serial group, concurrency group).
    pub(super) groups: Vec<[Option<u32>; 2]>,
    /// Worker slots each item takes (1 unless `threads`).
    pub(super) slots: Vec<u64>,
    /// Items with the same class are interchangeable when their costs are equal.
    pub(super) class: Vec<u32>,
    pub(super) group_max: Vec<u64>,
}

#[derive(Clone)]
pub(super) struct Shard {
    /// Item indexes, ascending (= longest first).
    pub(super) items: Vec<u32>,
    pub(super) serial: u64,
    pub(super) parallel: u64,
    pub(super) group_work: Vec<u64>,
}

impl Model {
    pub(super) fn new(sorted: &[&PlanItem], workers: u32) -> Model {
        let mut limits: Vec<(Limit<'_>, u64)> = Vec::new();
        for it in sorted {
            if let Some(k) = it.attributes.serial.as_ref().and_then(SerialKey::name) {
                limits.push((Limit::Serial(k), 1));
            }
            if let Some(g) = &it.attributes.group {
                limits.push((Limit::Group(&g.name), u64::from(g.max.max(1))));
            }
        }
        // One limit per group: the smallest declared (deterministic whatever the order).
        limits.sort();
        limits.dedup_by(|a, b| a.0 == b.0);
        let group_index = |limit: Limit<'_>| -> Option<u32> {
            limits
                .binary_search_by(|(l, _)| l.cmp(&limit))
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
            group_max: limits.iter().map(|(_, m)| *m).collect(),
        };
        for it in sorted {
            let serial = it.attributes.serial == Some(SerialKey::Global);
            let keyed = it
                .attributes
                .serial
                .as_ref()
                .and_then(SerialKey::name)
                .and_then(|k| group_index(Limit::Serial(k)));
            let group = it
                .attributes
                .group
                .as_ref()
                .and_then(|g| group_index(Limit::Group(&g.name)));
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

    pub(super) fn empty_shard(&self) -> Shard {
        Shard {
            items: Vec::new(),
            serial: 0,
            parallel: 0,
            group_work: vec![0; self.group_max.len()],
        }
    }

    pub(super) fn add(&self, s: &mut Shard, i: u32) {
        let pos = s.items.partition_point(|&x| x < i);
        s.items.insert(pos, i);
        self.account(s, i, true);
    }

    pub(super) fn remove(&self, s: &mut Shard, i: u32) {
        if let Ok(pos) = s.items.binary_search(&i) {
            s.items.remove(pos);
            self.account(s, i, false);
        }
    }

    /// What item `i` adds to the serial or the parallel work: its cost, times its worker
    /// slots when it runs in parallel (slot-time).
    pub(super) fn work(&self, i: usize) -> u64 {
        if self.serial[i] {
            self.cost[i]
        } else {
            self.cost[i].saturating_mul(self.slots[i])
        }
    }

    pub(super) fn account(&self, s: &mut Shard, i: u32, add: bool) {
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
    pub(super) fn predict(&self, s: &Shard, remove: Option<u32>, add: Option<u32>) -> u64 {
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

    pub(super) fn lower_bound(&self, shards: u64) -> u64 {
        let total: u64 = (0..self.cost.len()).map(|i| self.work(i)).sum();
        let longest = self.cost.first().copied().unwrap_or(0);
        longest.max(total.div_ceil(shards.max(1) * self.workers))
    }

    pub(super) fn lpt(&self, n: usize) -> Vec<Shard> {
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
    pub(super) fn count_split(&self, by_id: &[u32], n: usize) -> Vec<Shard> {
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
    pub(super) fn improve(&self, shards: &mut [Shard], mut budget: u64) {
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
    pub(super) fn key(&self, shards: &[Shard]) -> Vec<u64> {
        let mut v: Vec<u64> = shards.iter().map(|s| self.predict(s, None, None)).collect();
        v.sort_unstable_by(|a, b| b.cmp(a));
        v
    }
}

/// Longest distinct tests of the slowest shard tried in every improvement step.
const LEAD: usize = 48;
