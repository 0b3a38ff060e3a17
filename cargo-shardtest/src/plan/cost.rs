//! The expected cost of one test: its estimate plus the expected cost of its flaky retries.
//! Costs are integer microseconds, so no float rounding can change a plan.

use super::input::PlanItem;
use std::time::Duration;

/// A duration in whole microseconds, saturating.
pub(super) fn us(d: Duration) -> u64 {
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

/// The cost the planner uses for `item`, in microseconds.
pub(super) fn cost_us(item: &PlanItem) -> u64 {
    us(item.estimate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::FlakyPolicy;

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
}
