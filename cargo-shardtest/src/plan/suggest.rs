//! The shard-count advice (`plan --suggest`): the suite planned for every N of a range,
//! weighed against the setup each CI job pays, and a recommendation with its reason as data
//! ([`SuggestReason`]); the command renders the reason in words.

use super::input::{PlanInput, PlanItem};
use super::partition::plan;
use shardtest_protocol::plan::{LongestTest, SuggestRow};
use std::time::Duration;

/// Why [`suggest`] recommends its shard count: the facts, for the command to put in words.
///
/// ```
/// # use shardtest::plan::SuggestReason;
/// # use std::time::Duration;
/// let r = SuggestReason::SetupDominates { shards: 8, tests: Duration::from_secs(5),
///     setup: Duration::from_secs(60) };
/// assert!(matches!(r, SuggestReason::SetupDominates { shards: 8, .. }));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SuggestReason {
    /// From `shards` on, one test alone sets the slowest shard.
    LongestTestDominates {
        /// The first shard count at which the longest test sets the finish time.
        shards: u32,
        /// The longest test and its cost.
        longest: LongestTest,
        /// Set when a smaller count already finishes within 10% of the fastest wall time
        /// (the recommendation), with that fastest wall time.
        earlier: Option<(u32, Duration)>,
    },
    /// At the recommended count each job spends less than twice its setup on tests.
    SetupDominates {
        /// The recommended count.
        shards: u32,
        /// Its slowest shard (tests only).
        tests: Duration,
        /// The setup each job pays.
        setup: Duration,
    },
    /// The smallest count within 10% of the fastest wall time in range.
    WithinTenPercent {
        /// The recommended count.
        shards: u32,
        /// Its wall time (setup + slowest shard).
        wall: Duration,
        /// The fastest wall time in range.
        fastest: Duration,
        /// Its total machine time.
        machine: Duration,
    },
}

/// The result of [`suggest`].
///
/// ```
/// # use shardtest::plan::*;
/// # use std::time::Duration;
/// let items = vec![PlanItem::new("p a".parse().unwrap(), Duration::from_secs(1))];
/// let s = suggest(&items, Duration::from_secs(1), 1..=2, 1);
/// assert_eq!(s.rows.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Suggestion {
    /// One row per N of the range.
    pub rows: Vec<SuggestRow>,
    /// The recommended shard count.
    pub recommended: u32,
    /// Why.
    pub reason: SuggestReason,
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
/// let SuggestReason::LongestTestDominates { shards, longest, .. } = &s.reason else { panic!() };
/// assert_eq!((*shards, longest.id.to_string()), (2, "p huge".to_string()));
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
        (Some(d), Some(l)) if d.shards < hi => SuggestReason::LongestTestDominates {
            shards: d.shards,
            longest: l.clone(),
            earlier: (recommended < d.shards).then_some((recommended, best_wall)),
        },
        _ if chosen.slowest < setup_cost * 2 => SuggestReason::SetupDominates {
            shards: chosen.shards,
            tests: chosen.slowest,
            setup: setup_cost,
        },
        _ => SuggestReason::WithinTenPercent {
            shards: chosen.shards,
            wall: chosen.wall,
            fastest: best_wall,
            machine: chosen.machine,
        },
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
    fn item(id: &str, ms: u64) -> PlanItem {
        PlanItem::new(id.parse().unwrap(), Duration::from_millis(ms))
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
        assert!(
            matches!(s.reason, SuggestReason::SetupDominates { .. }),
            "{:?}",
            s.reason
        );
    }
}
