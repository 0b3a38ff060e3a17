//! Serde helper: a [`std::time::Duration`] as a float number of seconds (millisecond
//! precision is plenty for test durations and keeps reports readable).

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
