//! Test attributes (`#[shard::serial]`, `#[shard::group]`, `#[shard::flaky]`,
//! `#[shard::non_critical]`) as the runner and planner see them, and the listing protocol
//! through which a test binary reports them without running any test.
//!
//! # Protocol
//! A binary linked against `shardtest-lib`, run as
//! `SHARDTEST_LIST_ATTRIBUTES=1 <bin> --list --format terse`, prints one line per attributed
//! test *before* libtest's own listing:
//!
//! ```text
//! shardtest-attrs: {"v":1,"name":"db::migrates","serial":"","group":{"name":"db","max":2},"flaky":{"retries":3,"backoff_ms":200},"non_critical":true}
//! ```
//!
//! `name` is the libtest name (module path without the crate name). `serial` is the key
//! (`""` for the global serial set) or absent. A binary without the library ignores the
//! variable and just lists, so the same invocation serves every binary.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Environment variable that asks a test binary to print its attribute lines.
pub const LIST_ATTRIBUTES_ENV: &str = "SHARDTEST_LIST_ATTRIBUTES";
/// Prefix of an attribute line in a listing.
pub const ATTRIBUTE_LINE_PREFIX: &str = "shardtest-attrs: ";
/// Version of the attribute line format this runner understands.
pub const ATTRIBUTE_PROTOCOL_VERSION: u32 = 1;

/// The set a `#[shard::serial]` test is serial in: no two tests of one set overlap.
/// `#[shard::serial]` is the global set, `#[shard::serial(key)]` the set named `key`; the two
/// do not exclude each other. In the attribute record the global set is written `""`.
///
/// ```
/// # use shardtest_protocol::attrs::SerialKey;
/// assert_eq!(SerialKey::from(""), SerialKey::Global);
/// assert_eq!(SerialKey::from("redis").name(), Some("redis"));
/// assert_eq!(serde_json::to_string(&SerialKey::Global).unwrap(), r#""""#);
/// let k: SerialKey = serde_json::from_str(r#""redis""#).unwrap();
/// assert_eq!(k, SerialKey::Named("redis".into()));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SerialKey {
    /// `#[shard::serial]`: serial against every other test of the global set.
    Global,
    /// `#[shard::serial(key)]`: serial against the tests of the same key only.
    Named(String),
}

impl SerialKey {
    /// The key's name; `None` for the global set.
    ///
    /// ```
    /// # use shardtest_protocol::attrs::SerialKey;
    /// assert_eq!(SerialKey::Global.name(), None);
    /// ```
    pub fn name(&self) -> Option<&str> {
        match self {
            SerialKey::Global => None,
            SerialKey::Named(k) => Some(k),
        }
    }

    /// The key as the attribute record writes it (`""` for the global set), which is also
    /// the name of its lock file.
    ///
    /// ```
    /// # use shardtest_protocol::attrs::SerialKey;
    /// assert_eq!(SerialKey::Global.as_record(), "");
    /// assert_eq!(SerialKey::from("db").as_record(), "db");
    /// ```
    pub fn as_record(&self) -> &str {
        self.name().unwrap_or("")
    }
}

impl From<&str> for SerialKey {
    fn from(key: &str) -> Self {
        if key.is_empty() {
            SerialKey::Global
        } else {
            SerialKey::Named(key.to_owned())
        }
    }
}

impl Serialize for SerialKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_record())
    }
}

impl<'de> Deserialize<'de> for SerialKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(SerialKey::from(&*key))
    }
}

/// A concurrency group: at most `max` of its tests run at the same time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupLimit {
    /// The group's name.
    pub name: String,
    /// How many members may run at once (at least 1).
    pub max: u32,
}

/// Retry policy of a flaky test.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FlakyPolicy {
    /// How many times a failed test is run again.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; doubled for each further retry.
    #[serde(default)]
    pub backoff_ms: u64,
}

impl FlakyPolicy {
    /// Wait before retry number `retry` (1-based): `backoff * 2^(retry-1)`, capped at 60 s.
    ///
    /// ```
    /// # use shardtest_protocol::attrs::FlakyPolicy;
    /// use std::time::Duration;
    /// let p = FlakyPolicy { retries: 3, backoff_ms: 100 };
    /// assert_eq!(p.backoff_before(1), Duration::from_millis(100));
    /// assert_eq!(p.backoff_before(3), Duration::from_millis(400));
    /// ```
    pub fn backoff_before(&self, retry: u32) -> Duration {
        let factor = 1u64 << retry.saturating_sub(1).min(16);
        Duration::from_millis(self.backoff_ms.saturating_mul(factor).min(60_000))
    }
}

/// Everything the runner knows about a test besides its name.
///
/// ```
/// # use shardtest_protocol::attrs::TestAttributes;
/// let plain = TestAttributes::default();
/// assert!(plain.is_plain());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TestAttributes {
    /// Serial set: never overlaps another test of the same set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<SerialKey>,
    /// Concurrency group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupLimit>,
    /// Retry policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flaky: Option<FlakyPolicy>,
    /// A failure is reported but does not fail the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub non_critical: bool,
    /// Worker slots the test takes (`#[shard::threads(N)]`, or nextest's `threads-required`);
    /// absent means one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<ThreadsRequired>,
    /// Hard timeout of this test in milliseconds, replacing `--timeout` (from a nextest
    /// override's `slow-timeout` with `terminate-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Slow-test warning period of this test in milliseconds, replacing `--slow-timeout`
    /// (from a nextest override's `slow-timeout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
}

/// How many of the W worker slots a test takes: a count, or all of them (`"num-cpus"`).
///
/// ```
/// # use shardtest_protocol::attrs::ThreadsRequired;
/// assert_eq!(ThreadsRequired::Count(2).slots(4), 2);
/// assert_eq!(ThreadsRequired::Count(8).slots(4), 4); // never more than the workers
/// assert_eq!(ThreadsRequired::all().slots(3), 3);
/// let json = serde_json::to_string(&ThreadsRequired::all()).unwrap();
/// assert_eq!(json, r#""num-cpus""#);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ThreadsRequired {
    /// This many slots (at least 1; more than W means W).
    Count(u32),
    /// Every slot of the shard.
    Named(NamedThreads),
}

/// The named values of [`ThreadsRequired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum NamedThreads {
    /// All W workers (nextest's `"num-cpus"`; `"num-test-threads"` means the same here).
    #[serde(rename = "num-cpus", alias = "num-test-threads")]
    AllWorkers,
}

impl ThreadsRequired {
    /// Every worker slot.
    pub const fn all() -> Self {
        ThreadsRequired::Named(NamedThreads::AllWorkers)
    }

    /// The slots taken with `workers` workers: between 1 and `workers`.
    pub fn slots(self, workers: u32) -> u32 {
        let workers = workers.max(1);
        match self {
            ThreadsRequired::Count(n) => n.clamp(1, workers),
            ThreadsRequired::Named(NamedThreads::AllWorkers) => workers,
        }
    }
}

impl TestAttributes {
    /// True when the test carries no attribute at all.
    ///
    /// ```
    /// # use shardtest_protocol::attrs::TestAttributes;
    /// let t = TestAttributes { non_critical: true, ..Default::default() };
    /// assert!(!t.is_plain());
    /// ```
    pub fn is_plain(&self) -> bool {
        *self == TestAttributes::default()
    }

    /// Worker slots the test takes with `workers` workers (1 unless it has `threads`).
    ///
    /// ```
    /// # use shardtest_protocol::attrs::{TestAttributes, ThreadsRequired};
    /// assert_eq!(TestAttributes::default().slots(4), 1);
    /// let t = TestAttributes { threads: Some(ThreadsRequired::Count(2)), ..Default::default() };
    /// assert_eq!(t.slots(4), 2);
    /// ```
    pub fn slots(&self, workers: u32) -> u32 {
        self.threads.map_or(1, |t| t.slots(workers))
    }
}

/// One attribute line: the test binary writes it ([`AttributeLine::to_line`]), the runner
/// reads it ([`parse_attribute_line`]).
///
/// ```
/// # use shardtest_protocol::attrs::*;
/// let line = AttributeLine {
///     v: ATTRIBUTE_PROTOCOL_VERSION,
///     name: "db::migrates".into(),
///     attributes: TestAttributes { serial: Some(SerialKey::Global), ..Default::default() },
/// };
/// assert_eq!(line.to_line(), r#"shardtest-attrs: {"v":1,"name":"db::migrates","serial":""}"#);
/// assert_eq!(parse_attribute_line(&line.to_line()).unwrap().unwrap(), line);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeLine {
    /// Format version (see [`ATTRIBUTE_PROTOCOL_VERSION`]).
    pub v: u32,
    /// libtest name of the test.
    pub name: String,
    /// The attributes.
    #[serde(flatten)]
    pub attributes: TestAttributes,
}

impl AttributeLine {
    /// The line as a listing prints it: [`ATTRIBUTE_LINE_PREFIX`] and the record as JSON.
    pub fn to_line(&self) -> String {
        // Plain structs with string keys: serialising them cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        format!("{ATTRIBUTE_LINE_PREFIX}{json}")
    }
}

/// Decodes a listing line if it is an attribute line. Returns `None` for ordinary lines, and
/// `Some(Err(..))` for an attribute line this runner cannot read.
///
/// ```
/// # use shardtest_protocol::attrs::{SerialKey, parse_attribute_line};
/// let line = r#"shardtest-attrs: {"v":1,"name":"t::a","serial":""}"#;
/// let parsed = parse_attribute_line(line).unwrap().unwrap();
/// assert_eq!(parsed.name, "t::a");
/// assert_eq!(parsed.attributes.serial, Some(SerialKey::Global));
/// assert!(parse_attribute_line("t::a: test").is_none());
/// ```
pub fn parse_attribute_line(line: &str) -> Option<Result<AttributeLine, String>> {
    let json = line.strip_prefix(ATTRIBUTE_LINE_PREFIX)?;
    Some(match serde_json::from_str::<AttributeLine>(json) {
        Ok(l) if l.v == ATTRIBUTE_PROTOCOL_VERSION => Ok(l),
        Ok(l) => Err(format!(
            "attribute line of version {} (this runner reads version {}): update cargo-shardtest",
            l.v, ATTRIBUTE_PROTOCOL_VERSION
        )),
        Err(e) => Err(format!("unreadable attribute line `{line}`: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_line_decodes() {
        let line = r#"shardtest-attrs: {"v":1,"name":"db::m","serial":"redis","group":{"name":"db","max":2},"flaky":{"retries":3,"backoff_ms":200},"non_critical":true}"#;
        let l = parse_attribute_line(line).unwrap().unwrap();
        assert_eq!(l.attributes.serial, Some(SerialKey::from("redis")));
        assert_eq!(
            l.attributes.group,
            Some(GroupLimit {
                name: "db".into(),
                max: 2
            })
        );
        assert_eq!(l.attributes.flaky.as_ref().unwrap().retries, 3);
        assert!(l.attributes.non_critical);
    }

    #[test]
    fn future_version_is_an_error_not_a_silent_default() {
        let line = r#"shardtest-attrs: {"v":9,"name":"x"}"#;
        assert!(parse_attribute_line(line).unwrap().is_err());
    }
}
