//! Helpers the history's unit tests share: a test id and a passed sample of a run.

use crate::attrs::TestAttributes;
use crate::history::{RunStamp, Sample, SampleStatus};
use crate::id::TestId;
use std::time::Duration;

/// A passed sample of run `run` (started at `at`, ms since the epoch) that took `ms`
/// milliseconds with two workers.
pub(super) fn sample(run: &str, at: u64, ms: u64) -> Sample {
    Sample {
        run: RunStamp {
            id: run.into(),
            at_unix_ms: at,
        },
        duration: Duration::from_millis(ms),
        status: SampleStatus::Passed,
        workers: 2,
        attributes: TestAttributes::default(),
    }
}

/// The test id written `s` (`"<binary> <name>"`).
pub(super) fn id(s: &str) -> TestId {
    s.parse().expect("a test id in a test")
}
