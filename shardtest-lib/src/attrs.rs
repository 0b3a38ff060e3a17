//! Test attributes at run time: what [`serial`](crate::serial), [`group`](crate::group),
//! [`flaky`](crate::flaky) and [`non_critical`](crate::non_critical) do under each runner, and
//! how a test binary tells the runner about them without running a test.
//!
//! ```
//! #[cfg(test)]
//! mod tests {
//!     #[test]
//!     #[shard::serial] // never overlaps another `#[shard::serial]` test
//!     fn migrates_the_shared_schema() {}
//!
//!     #[test]
//!     #[shard::serial(redis)] // serial only against other `redis` tests
//!     fn flushes_redis() {}
//!
//!     #[test]
//!     #[shard::group("browser", max = 2)] // at most two browser tests at once
//!     fn checkout_flow() {}
//!
//!     #[test]
//!     #[shard::flaky(retries = 3, backoff = "200ms")]
//!     #[shard::non_critical] // talks to a third-party sandbox: reported, not fatal
//!     fn charges_the_sandbox_card() -> Result<(), String> {
//!         Ok(())
//!     }
//!
//!     #[tokio::test]
//!     #[shard::serial] // async tests too, in either attribute order
//!     async fn async_serial() {}
//! }
//! # fn main() {}
//! ```
//!
//! With `#[tokio::test] async fn` the attributes go above or below `#[tokio::test]`.
//!
//! # Semantics per runner
//!
//! | attribute | `cargo shardtest` (`SHARDTEST_RUN_ID` set) | `cargo nextest run` (a process per test) | `cargo test` (threads of one process) |
//! | --- | --- | --- | --- |
//! | `#[shard::serial]` / `serial(key)` | the scheduler never starts two tests of one key together; the lock below is still taken (uncontended) and also excludes other runs on the machine | exclusive OS file lock `serial/<key>` held while the body runs | the same lock: threads of one process exclude each other too |
//! | `#[shard::group("g", max = N)]` | the scheduler runs at most N members at once; the slot is still taken | one of N slot locks `group/g/<i>` held while the body runs | the same |
//! | `#[shard::flaky(retries = N, backoff = "..")]` | runs **once** per process; the runner retries in a fresh process with the backoff and reports FLAKY | retried in the process up to N times, waiting `backoff`, `2*backoff`, ... (capped at 60 s) | the same |
//! | `#[shard::non_critical]` | fails normally; the runner lists it as a non-critical failure and the exit status stays 0 | a panic or `Err` is caught, `shardtest: non-critical test X failed: ...` is written to stderr, and the test passes | the same |
//! | `#[shard::threads(N)]` / `threads("num-cpus")` | takes N of the W worker slots: the scheduler never exceeds W slots and does not starve it; the planner counts N times its duration | informational (nothing is reserved); say `threads-required = N` in an override of `.config/nextest.toml` to have nextest reserve the threads | informational |
//!
//! Details that hold everywhere:
//!
//! - Locks live in [`crate::lockdir::lock_dir`] (`$SHARDTEST_LOCK_DIR`, default a per-user
//!   directory of the machine), so every process of the machine that uses the same directory
//!   takes part, including other test runs. The OS releases a lock when its holder exits or is
//!   killed; nothing stays stuck.
//! - `#[shard::serial]` without a key is the key `""`, its own set: it does not exclude
//!   `serial(key)` tests (as with `serial_test`). Tests without the attribute run beside
//!   serial tests.
//! - A test with both a serial key and a group takes the serial lock first, then the group
//!   slot. Locks are taken per attempt, so other tests may run between a flaky test's retries.
//! - Tests of a group that declare different `max` values in one binary all use the smallest.
//! - Under `flaky`, a panic and a returned `Err` both count as a failed attempt; each failed
//!   attempt and a pass after a retry are written to stderr (`shardtest: flaky test X ...`).
//!   Under nextest, such lines of a passing test are in its captured output (shown with
//!   `--success-output immediate` or `--no-capture`); under `cargo test` they bypass the
//!   capture and always show.
//! - `async` tests (e.g. `#[tokio::test]`, above or below the shard attribute) work the same;
//!   each retry awaits a new future. Waiting for a lock or a backoff happens on a helper
//!   thread, so the executor is not blocked.
//! - `flaky` and `non_critical` cannot be combined with `#[should_panic]` (compile error).
//!
//! # Listing protocol
//!
//! `SHARDTEST_LIST_ATTRIBUTES=1 <test binary> --list --format terse` prints, before libtest's
//! listing, one line per attributed test:
//!
//! ```text
//! shardtest-attrs: {"v":1,"name":"db::migrates","serial":"","group":{"name":"db","max":2},"flaky":{"retries":3,"backoff_ms":200},"non_critical":true}
//! ```
//!
//! The lines come from a constructor function of this library that reads a link-time
//! registry (a `linkme` distributed slice the macros add to), so listing runs no test and
//! costs nothing extra. A binary that does not link this library ignores the variable and
//! lists as usual.

// The example above shows `#[test]` functions on purpose.
#![allow(clippy::test_attr_in_doctest)]

use std::collections::BTreeMap;

use crate::__private::TESTS;

/// Environment variable that asks a test binary to print its attribute lines with `--list`.
///
/// ```
/// assert_eq!(shard::attrs::LIST_ATTRIBUTES_ENV, "SHARDTEST_LIST_ATTRIBUTES");
/// ```
pub const LIST_ATTRIBUTES_ENV: &str = shardtest_protocol::env::LIST_ATTRIBUTES;

/// The attribute line format shared with the runner (see `shardtest-protocol`).
///
/// ```
/// assert!(shard::attrs::ATTRIBUTE_LINE_PREFIX.starts_with("shardtest-attrs"));
/// assert_eq!(shard::attrs::ATTRIBUTE_PROTOCOL_VERSION, 1);
/// ```
pub use shardtest_protocol::attrs::{ATTRIBUTE_LINE_PREFIX, ATTRIBUTE_PROTOCOL_VERSION};

/// Environment variable `cargo shardtest` sets in every test process. When it is set,
/// `flaky` tests run once (the runner retries them in a fresh process) and `non_critical`
/// failures fail the test (the runner reports them without failing the run).
///
/// ```
/// assert_eq!(shard::attrs::RUN_ID_ENV, "SHARDTEST_RUN_ID");
/// ```
pub const RUN_ID_ENV: &str = shardtest_protocol::env::RUN_ID;

/// Whether this process runs under `cargo shardtest` (see [`RUN_ID_ENV`]).
///
/// ```
/// let under = shard::attrs::under_shardtest_runner();
/// assert_eq!(under, std::env::var_os("SHARDTEST_RUN_ID").is_some_and(|v| !v.is_empty()));
/// ```
pub fn under_shardtest_runner() -> bool {
    std::env::var_os(RUN_ID_ENV).is_some_and(|v| !v.is_empty())
}

use shardtest_protocol::attrs::AttributeLine;
/// The attribute record: a concurrency group, a flaky test's retry policy, a serial set and the
/// worker slots, as the runner reads them (one
/// definition, in `shardtest-protocol`).
///
/// ```
/// let g = shard::attrs::GroupLimit { name: "db".into(), max: 2 };
/// assert_eq!(g.max, 2);
/// use std::time::Duration;
/// let p = shard::attrs::FlakyPolicy { retries: 3, backoff_ms: 100 };
/// assert_eq!(p.backoff_before(3), Duration::from_millis(400));
/// ```
pub use shardtest_protocol::attrs::{
    FlakyPolicy, GroupLimit, SerialKey, TestAttributes, ThreadsRequired,
};

/// An attributed test of this binary, as registered by the macros.
///
/// ```
/// for t in shard::attrs::registered_tests() {
///     assert!(!t.name.is_empty());
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegisteredTest {
    /// libtest name (module path without the crate name, then the function name).
    pub name: String,
    /// Its attributes, in the record format the runner reads (one definition, in
    /// `shardtest-protocol`).
    pub attributes: TestAttributes,
}

/// The attributed tests linked into this binary, one entry per test, sorted by name. (When
/// the attributes of one test expanded separately, e.g. through a renamed import, their
/// registrations are merged here.)
///
/// ```
/// let tests = shard::attrs::registered_tests();
/// assert!(tests.windows(2).all(|w| w[0].name < w[1].name));
/// ```
pub fn registered_tests() -> Vec<RegisteredTest> {
    let mut by_name: BTreeMap<String, RegisteredTest> = BTreeMap::new();
    for rec in TESTS.iter() {
        let name = rec.test_name();
        let t = by_name
            .entry(name.clone())
            .or_insert_with(|| RegisteredTest {
                name,
                ..RegisteredTest::default()
            });
        let t = &mut t.attributes;
        if t.serial.is_none() {
            t.serial = rec.serial.map(SerialKey::from);
        }
        if t.group.is_none() {
            t.group = rec.group.map(|g| GroupLimit {
                name: g.name.to_owned(),
                max: g.max,
            });
        }
        if t.flaky.is_none() {
            t.flaky = rec.flaky.map(|f| FlakyPolicy {
                retries: f.retries,
                backoff_ms: f.backoff_ms,
            });
        }
        t.non_critical |= rec.non_critical;
        if t.threads.is_none() {
            t.threads = rec.threads.map(|n| match n {
                u32::MAX => ThreadsRequired::all(),
                n => ThreadsRequired::Count(n),
            });
        }
    }
    by_name.into_values().collect()
}

/// The attribute lines of this binary, exactly as the listing prints them (one per test,
/// sorted by name, each starting with [`ATTRIBUTE_LINE_PREFIX`]).
///
/// ```
/// for line in shard::attrs::attribute_lines() {
///     assert!(line.starts_with("shardtest-attrs: {\"v\":1,\"name\":"));
/// }
/// ```
pub fn attribute_lines() -> Vec<String> {
    registered_tests()
        .iter()
        .map(|t| {
            AttributeLine {
                v: ATTRIBUTE_PROTOCOL_VERSION,
                name: t.name.clone(),
                attributes: t.attributes.clone(),
            }
            .to_line()
        })
        .collect()
}
