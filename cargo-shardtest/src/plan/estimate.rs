//! From history to estimates: a known test plans with its recorded mean, an unknown one with
//! the median of its binary or of the suite, and a flaky test adds its expected retries.

use super::cost::{expected_cost, us};
use super::input::PlanItem;
use crate::attrs::TestAttributes;
use crate::id::{BinaryId, TestId};
use std::collections::BTreeMap;
use std::time::Duration;

/// Estimate for a test with no history when no test of the suite has any (100 ms).
pub const DEFAULT_ESTIMATE: Duration = Duration::from_millis(100);
/// Failure rate assumed for a `#[shard::flaky]` test with no recorded history (10%).
pub const DEFAULT_FLAKY_RATE_PPM: u32 = 100_000;

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
