//! Durations: the one parser for durations users write (flags, configuration files,
//! `#[shard::flaky(backoff = "..")]`), and the serde form of durations in reports and
//! history (a float number of seconds: millisecond precision is plenty for test durations
//! and keeps files readable).

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

/// Serialises a duration as seconds.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_micros() as f64) / 1e6)
}

/// Reads seconds back into a duration; negative or non-finite values are an error.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let secs = f64::deserialize(d)?;
    Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
}

/// A duration a user wrote that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{text}` is not a duration: {reason} (write e.g. \"200ms\", \"30s\", \"1m 30s\" or \"2h\")"
)]
pub struct DurationError {
    /// What was written.
    pub text: String,
    /// Why it was refused.
    pub reason: String,
}

/// Parses a duration as written on the command line, in configuration files and in test
/// attributes: one or more `<integer><unit>` parts (`ns`, `us`, `ms`, `s`/`sec`,
/// `m`/`min`, `h`, `d`, ...), optionally separated by spaces.
///
/// ```
/// use shardtest_protocol::duration::parse;
/// use std::time::Duration;
/// assert_eq!(parse("1s 500ms"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse("2m1s"), Ok(Duration::from_secs(121)));
/// assert!(parse("fast").is_err());
/// assert!(parse("200").unwrap_err().to_string().contains("200ms"));
/// ```
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|e| DurationError {
        text: text.to_string(),
        reason: e.to_string(),
    })
}
