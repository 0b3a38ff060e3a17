//! Where a run's tests come from. A static shard hands the scheduler all of its tests at
//! the start; a [`WorkSource`] (a shared queue) hands them over bit by bit, when workers are
//! idle, and is told each test's final result. The scheduler is the same either way, and so
//! are the event stream and every report.

use crate::event::{AttemptRecord, TestStatus};
use crate::id::TestId;
use std::time::Duration;

/// What a work source has for the scheduler right now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Take {
    /// Start these tests (indexes into the run's test list), in this order.
    Tests(Vec<usize>),
    /// Nothing now, but more may come: ask again after this long.
    Later(Duration),
    /// No more work will come.
    Exhausted,
}

/// A source of work for one run, besides the tests given up front.
///
/// ```
/// use shardtest::run::source::{Take, WorkSource};
/// use shardtest::event::{AttemptRecord, TestStatus};
/// /// Hands out the tests one at a time.
/// struct OneByOne(Vec<usize>);
/// impl WorkSource for OneByOne {
///     fn take(&mut self, _idle: usize) -> Take {
///         match self.0.pop() { Some(t) => Take::Tests(vec![t]), None => Take::Exhausted }
///     }
///     fn finished(&mut self, _: &shardtest::id::TestId, _: TestStatus, _: &[AttemptRecord]) {}
///     fn give_back(&mut self, _: &[shardtest::id::TestId]) {}
/// }
/// let mut s = OneByOne(vec![0]);
/// assert_eq!(s.take(4), Take::Tests(vec![0]));
/// assert_eq!(s.take(4), Take::Exhausted);
/// ```
pub trait WorkSource {
    /// Called when the scheduler's own queue is empty and `idle` workers are free.
    fn take(&mut self, idle: usize) -> Take;

    /// A test the source handed out reached its final status, with all its attempts.
    fn finished(&mut self, test: &TestId, status: TestStatus, attempts: &[AttemptRecord]);

    /// The run stops (Ctrl-C): these tests were handed out but never finished.
    fn give_back(&mut self, tests: &[TestId]);
}
