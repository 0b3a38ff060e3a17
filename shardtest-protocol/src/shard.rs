//! The shard a job runs: `K/N`, its parser and its errors.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Which shard of how many this job runs: `K/N`, 1-based (`1/8` .. `8/8`).
///
/// ```
/// use shardtest_protocol::shard::ShardSpec;
/// let s: ShardSpec = "2/8".parse().unwrap();
/// assert_eq!((s.index, s.total), (2, 8));
/// assert!("0/8".parse::<ShardSpec>().is_err());
/// assert!("9/8".parse::<ShardSpec>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    /// 1-based shard index.
    pub index: u32,
    /// Number of shards.
    pub total: u32,
}

impl ShardSpec {
    /// The single shard that runs everything.
    pub const WHOLE: ShardSpec = ShardSpec { index: 1, total: 1 };

    /// Builds a spec, checking `1 <= index <= total`.
    ///
    /// ```
    /// # use shardtest_protocol::shard::ShardSpec;
    /// assert!(ShardSpec::new(3, 4).is_ok());
    /// assert!(ShardSpec::new(5, 4).is_err());
    /// ```
    pub fn new(index: u32, total: u32) -> Result<Self, ShardSpecError> {
        if total == 0 {
            return Err(ShardSpecError::ZeroTotal);
        }
        if index == 0 || index > total {
            return Err(ShardSpecError::OutOfRange { index, total });
        }
        Ok(ShardSpec { index, total })
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// A `--shard` value that is not `K/N` with `1 <= K <= N`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardSpecError {
    /// Not of the form `K/N`.
    #[error(
        "`{0}` is not a shard: write K/N with 1 <= K <= N, e.g. `--shard 2/8` (or `--shard auto` in CI)"
    )]
    Syntax(String),
    /// `N` was 0.
    #[error("a run has at least one shard: `--shard K/0` is not valid, write e.g. `--shard 1/4`")]
    ZeroTotal,
    /// `K` outside `1..=N`.
    #[error(
        "shard {index}/{total} does not exist: shards are numbered from 1 to {total} (1-based, like `--shard 1/{total}`)"
    )]
    OutOfRange {
        /// The given index.
        index: u32,
        /// The given total.
        total: u32,
    },
}

impl FromStr for ShardSpec {
    type Err = ShardSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardSpecError::Syntax(s.to_string());
        let (k, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let k: u32 = k.trim().parse().map_err(|_| syntax())?;
        let n: u32 = n.trim().parse().map_err(|_| syntax())?;
        ShardSpec::new(k, n)
    }
}
