//! The run's event stream. The scheduler emits [`RunEvent`]s in order; every output
//! (terminal, JUnit, JSON, timings store) is an [`EventConsumer`] of this one stream, so a new
//! report never touches the scheduler.

use crate::attrs::TestAttributes;
use crate::id::TestId;
use std::time::Duration;

pub use shardtest_protocol::outcome::{AttemptOutcome, AttemptRecord, RunInfo, TestStatus};

/// One event of a run, in the order they happen.
#[derive(Clone, Debug)]
pub enum RunEvent {
    /// The run starts.
    RunStarted(RunInfo),
    /// A test will not run (ignored, or the run stopped before reaching it).
    TestSkipped {
        /// The test.
        id: TestId,
        /// Why it was not run.
        status: TestStatus,
        /// Its attributes.
        attributes: TestAttributes,
    },
    /// An attempt started.
    TestStarted {
        /// The test.
        id: TestId,
        /// 1-based attempt.
        attempt: u32,
        /// Worker slot.
        worker: u32,
    },
    /// An attempt has been running longer than the slow threshold (sent once per threshold
    /// multiple).
    TestSlow {
        /// The test.
        id: TestId,
        /// Time it has run so far.
        elapsed: Duration,
    },
    /// An attempt failed and the test will run again after `backoff`.
    TestRetrying {
        /// The test.
        id: TestId,
        /// The failed attempt.
        failed: AttemptRecord,
        /// Delay before the next attempt.
        backoff: Duration,
    },
    /// A test is done (after its last attempt).
    TestFinished {
        /// The test.
        id: TestId,
        /// Final status.
        status: TestStatus,
        /// Every attempt, in order.
        attempts: Vec<AttemptRecord>,
        /// Its attributes (non-critical failures do not fail the run).
        attributes: TestAttributes,
    },
    /// The run is over (normally or interrupted).
    RunFinished {
        /// Wall time of the run.
        elapsed: Duration,
        /// True when Ctrl-C / SIGTERM stopped it.
        interrupted: bool,
    },
}

/// A consumer of the event stream (terminal output, reports, timings store).
pub trait EventConsumer {
    /// Called for every event, in order.
    fn on_event(&mut self, event: &RunEvent);

    /// Called when the runner is about to wait (no event is pending): a consumer that
    /// buffers its output writes it out now. Events often arrive in bursts (a batch reports
    /// hundreds of tests at once), so buffering until here costs one write per burst instead
    /// of one per event, and nothing stays unwritten while the runner waits for a test.
    ///
    /// ```
    /// # use shardtest::event::{EventConsumer, RunEvent};
    /// struct Counter(usize);
    /// impl EventConsumer for Counter {
    ///     fn on_event(&mut self, _: &RunEvent) { self.0 += 1; }
    /// }
    /// let mut c = Counter(0);
    /// c.flush(); // the default does nothing
    /// assert_eq!(c.0, 0);
    /// ```
    fn flush(&mut self) {}
}

/// Sends each event to several consumers in turn.
#[derive(Default)]
pub struct Fanout<'a> {
    consumers: Vec<&'a mut dyn EventConsumer>,
}

impl<'a> Fanout<'a> {
    /// Adds a consumer.
    pub fn push(&mut self, c: &'a mut dyn EventConsumer) {
        self.consumers.push(c);
    }
}

impl EventConsumer for Fanout<'_> {
    fn on_event(&mut self, event: &RunEvent) {
        for c in &mut self.consumers {
            c.on_event(event);
        }
    }

    fn flush(&mut self) {
        for c in &mut self.consumers {
            c.flush();
        }
    }
}

/// A short explanation of a failed attempt (`exit code 101`, `SIGSEGV`, `timed out`).
pub fn describe(outcome: &AttemptOutcome) -> String {
    match outcome {
        AttemptOutcome::Passed => "passed".into(),
        AttemptOutcome::Failed { code } => format!("exit code {code}"),
        AttemptOutcome::Crashed { name, .. } => format!("killed by {name}"),
        AttemptOutcome::TimedOut { signal } if signal == "SIGTERM" => {
            "timed out; ended by SIGTERM within the grace period".into()
        }
        AttemptOutcome::TimedOut { signal } if signal == "SIGKILL" => {
            "timed out; ignored SIGTERM, killed by SIGKILL after the grace period".into()
        }
        AttemptOutcome::TimedOut { .. } => "timed out; its process group was killed".into(),
        AttemptOutcome::SpawnFailed { message } => format!("could not start: {message}"),
        AttemptOutcome::Interrupted => "interrupted".into(),
    }
}
