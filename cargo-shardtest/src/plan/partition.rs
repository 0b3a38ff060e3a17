//! The partitioning algorithm: every test placed in exactly one shard, minimising the
//! predicted time of the slowest shard (see the [module doc](super) for the model and the
//! steps).

use super::cost::cost_us;
use super::fingerprint::{fingerprint_in_order, id_order};
use super::input::{PlanInput, PlanItem};
use super::model::Model;
use shardtest_protocol::plan::{LongestTest, PlannedShard, ShardPlan};
use std::time::Duration;

/// Evaluations the improvement pass may spend per candidate plan.
const IMPROVE_BUDGET: u64 = 2_000_000;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::GroupLimit;
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
            it.attributes.serial = Some(crate::attrs::SerialKey::Global);
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
