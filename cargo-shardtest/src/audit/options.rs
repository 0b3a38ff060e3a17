//! The settings an audit is started with ([`AuditOptions`]) and the bounds it applies by
//! itself when the user gave none ([`AUTO_TIMEOUT_MIN`]).

use std::time::Duration;

/// Least hard timeout the audit sets by itself after the baseline (see `--timeout`).
pub const AUTO_TIMEOUT_MIN: Duration = Duration::from_secs(60);

/// Settings of an audit.
///
/// ```
/// use shardtest::audit::AuditOptions;
/// use std::time::Duration;
/// let opts = AuditOptions { max_workers: 4, repeat: 3, seed: 7, budget: Some(Duration::from_secs(300)) };
/// assert_eq!(opts.repeat, 3);
/// ```
#[derive(Clone, Debug)]
pub struct AuditOptions {
    /// Workers of the parallel configurations (`-j max`), at least 2.
    pub max_workers: u32,
    /// Runs of the parallel configuration, and of each suspect alone.
    pub repeat: u32,
    /// Seed of the shuffled configuration.
    pub seed: u64,
    /// Bound on the audit's total time.
    pub budget: Option<Duration>,
}
