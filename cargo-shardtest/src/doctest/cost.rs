//! The start-up cost of doctest batches in the plan: learned from the history's recorded
//! batches, spread over a package's doctests, and how many batches a shard should start.

use crate::history::TimingStore;
use crate::id::BinaryId;
use crate::list::doc_target::{DocCost, batch_setup, merged};
use std::collections::BTreeMap;
use std::time::Duration;

/// The batch cost learned from a package's recorded start-ups ([`crate::history::DocCostRuns`]),
/// `None` without any. Before edition 2024 (`merged` false) it is the median start-up. In
/// edition 2024 and later, with runs at two or more package sizes, it is the least-squares
/// line through them (when both its terms are non-negative); otherwise the default model
/// scaled to the median ratio of measured to predicted start-up, so that it reproduces what
/// was measured at the sizes measured and still grows with the number of doctests.
///
/// ```
/// use shardtest::doctest::{learned_cost, DocCost};
/// use shardtest::history::{DocCostRuns, DocCostSample};
/// use std::time::Duration;
/// let mut runs = DocCostRuns::default();
/// runs.insert("r1".into(), DocCostSample { at: 1, setup_us: 2_000_000, doctests: 10 });
/// let c = learned_cost(&runs, false).unwrap();
/// assert_eq!(c.for_doctests(10), Duration::from_secs(2));
/// let c = learned_cost(&runs, true).unwrap();
/// assert!(c.for_doctests(10).abs_diff(Duration::from_secs(2)) < Duration::from_millis(1));
/// assert!(c.for_doctests(100) > c.for_doctests(10));
/// runs.insert("r2".into(), DocCostSample { at: 2, setup_us: 3_000_000, doctests: 110 });
/// let c = learned_cost(&runs, true).unwrap();
/// assert_eq!(c, DocCost { fixed: Duration::from_millis(1900), per_doctest: Duration::from_millis(10) });
/// ```
pub fn learned_cost(runs: &crate::history::DocCostRuns, merged: bool) -> Option<DocCost> {
    let samples: Vec<(f64, f64)> = runs
        .iter()
        .map(|(_, s)| (f64::from(s.doctests), s.setup_us as f64 / 1e6))
        .collect();
    if samples.is_empty() {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    };
    // Rounded to microseconds, the precision of the samples.
    let secs = |x: f64| Duration::from_micros((x.max(0.0) * 1e6).round() as u64);
    if !merged {
        let m = median(samples.iter().map(|s| s.1).collect());
        return Some(DocCost {
            fixed: secs(m),
            per_doctest: Duration::ZERO,
        });
    }
    let n = samples.len() as f64;
    let mean_x = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let var: f64 = samples.iter().map(|s| (s.0 - mean_x).powi(2)).sum();
    if var > 0.0 {
        let cov: f64 = samples
            .iter()
            .map(|s| (s.0 - mean_x) * (s.1 - mean_y))
            .sum();
        let slope = cov / var;
        let intercept = mean_y - slope * mean_x;
        if slope >= 0.0 && intercept >= 0.0 {
            return Some(DocCost {
                fixed: secs(intercept),
                per_doctest: secs(slope),
            });
        }
    }
    let default = DocCost::default_for(true);
    let factor = median(
        samples
            .iter()
            .map(|&(x, y)| y / default.for_doctests(x as usize).as_secs_f64())
            .collect(),
    );
    Some(DocCost {
        fixed: secs(default.fixed.as_secs_f64() * factor),
        per_doctest: secs(default.per_doctest.as_secs_f64() * factor),
    })
}

/// Sets each doctest binary's [`DocTarget::cost`](crate::list::DocTarget::cost) from the start-ups `history` recorded for
/// it (binaries without any keep the defaults).
pub fn learn_costs(list: &mut crate::list::TestList, history: &TimingStore) {
    for b in &mut list.binaries {
        if let Some(doc) = b.doctest.as_mut()
            && let Some(runs) = history.doc_costs.get(&b.id)
        {
            doc.cost = learned_cost(runs, merged(&doc.edition));
        }
    }
}

/// How many batches a shard cuts `count` doctests of one package with `work` predicted time
/// into on `workers` workers, each batch costing `setup` to start: one per worker at most, and
/// one per `setup` of work (a batch must be worth starting).
///
/// ```
/// use std::time::Duration;
/// use shardtest::doctest::batches_for;
/// let s = Duration::from_secs(1);
/// assert_eq!(batches_for(4, Duration::from_millis(400), 4, s), 1);
/// assert_eq!(batches_for(100, Duration::from_secs(30), 2, s), 2);
/// ```
pub fn batches_for(count: usize, work: Duration, workers: u32, setup: Duration) -> usize {
    let worth = (work.as_millis() / setup.as_millis().max(1)).max(1) as usize;
    (workers.max(1) as usize).min(count).min(worth).max(1)
}

/// The plan's model of doctest compile cost: a doctest's own recorded time holds its own
/// compilation (edition 2021 and earlier), and a per-package fixed cost ([`batch_setup`],
/// given per binary in `setup`) is paid once per batch. With `shards` shards of `workers`
/// workers, a package's doctests start about `min(shards, doctests) x batches` batches in
/// all; their setup is spread over the package's doctests in proportion to count, so shards
/// with more of a package's doctests carry more of its setup. Skipped (zero-cost) items get
/// none.
///
/// ```
/// use shardtest::plan::PlanItem;
/// use std::time::Duration;
/// let mut items: Vec<PlanItem> = (0..4)
///     .map(|i| PlanItem::new(format!("p::doc src/lib.rs - f (line {i})").parse().unwrap(), Duration::from_millis(100)))
///     .collect();
/// let setup = [(shardtest::id::BinaryId::new("p::doc"), Duration::from_secs(1))].into();
/// shardtest::doctest::add_setup_cost(&mut items, 2, 1, &setup);
/// // Two shards, one batch each: 2 s of setup over 4 doctests.
/// assert_eq!(items[0].estimate, Duration::from_millis(600));
/// ```
pub fn add_setup_cost(
    items: &mut [crate::plan::PlanItem],
    shards: u32,
    workers: u32,
    setup: &BTreeMap<BinaryId, Duration>,
) {
    let mut per_package: BTreeMap<BinaryId, (usize, Duration)> = BTreeMap::new();
    for it in items.iter() {
        if setup.contains_key(&it.id.binary) && !it.estimate.is_zero() {
            let e = per_package.entry(it.id.binary.clone()).or_default();
            e.0 += 1;
            e.1 += it.estimate;
        }
    }
    for (binary, (count, work)) in &per_package {
        let cost = setup[binary];
        let shards_used = (shards.max(1) as usize).min(*count);
        let per_shard_work = *work / shards_used as u32;
        let batches = shards_used * batches_for(count / shards_used, per_shard_work, workers, cost);
        let share = cost * batches as u32 / *count as u32;
        for it in items.iter_mut() {
            if &it.id.binary == binary && !it.estimate.is_zero() {
                it.estimate += share;
            }
        }
    }
}

/// Per doctest binary of `list`, its [`batch_setup`].
pub fn setup_costs(list: &crate::list::TestList) -> BTreeMap<BinaryId, Duration> {
    list.binaries
        .iter()
        .filter_map(|b| b.doctest.as_ref().map(|d| (b.id.clone(), batch_setup(d))))
        .collect()
}
