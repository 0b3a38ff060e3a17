//! The tests a shard runs and the results workers report: [`ShardTest`] (a listed test with
//! its binary and estimate) and [`TestResult`] (how one attempt ended, as a worker saw it).

use crate::event::AttemptOutcome;
use crate::list::{TestBinary, TestCase};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A test of the shard, ready to run.
#[derive(Clone, Debug)]
pub struct ShardTest {
    /// The listed test.
    pub case: TestCase,
    /// Its binary.
    pub binary: Arc<TestBinary>,
    /// Predicted duration (orders the queue: longest first).
    pub estimate: Duration,
    /// Reported as skipped instead of run (ignored tests).
    pub skip: bool,
}

/// How one test attempt ended, as a worker saw it.
#[derive(Debug)]
pub(crate) struct TestResult {
    pub(super) outcome: AttemptOutcome,
    pub(super) duration: Duration,
    pub(super) started_at: SystemTime,
    pub(super) leaked: bool,
    pub(super) log: Option<PathBuf>,
    pub(super) output_tail: String,
}

impl TestResult {
    /// The result of a test that never really ran (its process could not start, or died
    /// before the test began): no duration of its own, no log.
    pub(super) fn unstarted(
        outcome: AttemptOutcome,
        started_at: SystemTime,
        output_tail: String,
    ) -> Self {
        TestResult {
            outcome,
            duration: Duration::ZERO,
            started_at,
            leaked: false,
            log: None,
            output_tail,
        }
    }
}

/// `n` tests `b t<i>` of one fake binary at `path` (a lib target), estimated by `estimate`:
/// what the engine's unit tests run.
#[cfg(test)]
pub(crate) fn fake_tests(
    path: &str,
    n: usize,
    name: impl Fn(usize) -> String,
    estimate: impl Fn(usize) -> Duration,
) -> Vec<ShardTest> {
    let bin = Arc::new(TestBinary::new("b", "lib", "b", path));
    (0..n)
        .map(|i| ShardTest {
            case: TestCase {
                id: format!("b {}", name(i)).parse().unwrap(),
                ignored: false,
                attributes: Default::default(),
            },
            binary: Arc::clone(&bin),
            estimate: estimate(i),
            skip: false,
        })
        .collect()
}
