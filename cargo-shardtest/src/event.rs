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

/// A consumer could not take an event: writing its output failed. The run goes on; the
/// other consumers still get every event, and the command names the failed output and exits
/// with [`ExitStatus::OutputFailed`](crate::exit::ExitStatus::OutputFailed).
///
/// ```
/// # use shardtest::event::ConsumerError;
/// let e = ConsumerError::new("terminal output", std::io::ErrorKind::BrokenPipe.into());
/// assert_eq!(e.to_string(), "the terminal output: broken pipe");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the {consumer}: {source}")]
pub struct ConsumerError {
    /// Which output failed (`terminal output`, `JUnit report`, ...).
    pub consumer: &'static str,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl ConsumerError {
    /// The error of `consumer`.
    ///
    /// ```
    /// # use shardtest::event::ConsumerError;
    /// let e = ConsumerError::new("JUnit report", std::io::Error::other("disk full"));
    /// assert_eq!(e.consumer, "JUnit report");
    /// ```
    pub fn new(consumer: &'static str, source: std::io::Error) -> Self {
        ConsumerError { consumer, source }
    }
}

/// A consumer of the event stream (terminal output, reports, timings store).
pub trait EventConsumer {
    /// Called for every event, in order. An error means the consumer's output is lost from
    /// here on: it gets no further events, and the run reports the error at its end.
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError>;

    /// Called when the runner is about to wait (no event is pending): a consumer that
    /// buffers its output writes it out now. Events often arrive in bursts (a batch reports
    /// hundreds of tests at once), so buffering until here costs one write per burst instead
    /// of one per event, and nothing stays unwritten while the runner waits for a test.
    ///
    /// ```
    /// # use shardtest::event::{ConsumerError, EventConsumer, RunEvent};
    /// struct Counter(usize);
    /// impl EventConsumer for Counter {
    ///     fn on_event(&mut self, _: &RunEvent) -> Result<(), ConsumerError> {
    ///         self.0 += 1;
    ///         Ok(())
    ///     }
    /// }
    /// let mut c = Counter(0);
    /// c.flush().unwrap(); // the default does nothing
    /// assert_eq!(c.0, 0);
    /// ```
    fn flush(&mut self) -> Result<(), ConsumerError> {
        Ok(())
    }
}

/// Sends each event to several consumers in turn. A consumer that fails is cut off (it gets
/// no further events) while the others go on; its error is returned once, from the call
/// that failed.
///
/// ```
/// # use shardtest::event::{ConsumerError, EventConsumer, Fanout, RunEvent};
/// struct Broken;
/// impl EventConsumer for Broken {
///     fn on_event(&mut self, _: &RunEvent) -> Result<(), ConsumerError> {
///         Err(ConsumerError::new("test output", std::io::Error::other("gone")))
///     }
/// }
/// struct Counter(usize);
/// impl EventConsumer for Counter {
///     fn on_event(&mut self, _: &RunEvent) -> Result<(), ConsumerError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
/// let (mut broken, mut counter) = (Broken, Counter(0));
/// let mut fan = Fanout::default();
/// fan.push(&mut broken);
/// fan.push(&mut counter);
/// let done = RunEvent::RunFinished { elapsed: Default::default(), interrupted: false };
/// assert!(fan.on_event(&done).is_err());
/// assert!(fan.on_event(&done).is_ok()); // the broken one is cut off
/// drop(fan);
/// assert_eq!(counter.0, 2);
/// ```
#[derive(Default)]
pub struct Fanout<'a> {
    consumers: Vec<(&'a mut dyn EventConsumer, bool)>,
}

impl<'a> Fanout<'a> {
    /// Adds a consumer.
    pub fn push(&mut self, c: &'a mut dyn EventConsumer) {
        self.consumers.push((c, true));
    }

    /// Calls `f` on every consumer still live; cuts off the ones that fail and returns the
    /// first failure.
    fn each(
        &mut self,
        mut f: impl FnMut(&mut dyn EventConsumer) -> Result<(), ConsumerError>,
    ) -> Result<(), ConsumerError> {
        let mut first = None;
        for (c, live) in self.consumers.iter_mut().filter(|(_, live)| *live) {
            if let Err(e) = f(&mut **c) {
                *live = false;
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl EventConsumer for Fanout<'_> {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError> {
        self.each(|c| c.on_event(event))
    }

    fn flush(&mut self) -> Result<(), ConsumerError> {
        self.each(|c| c.flush())
    }
}

/// The runner's end of the stream: it sends every event to its consumer and keeps the
/// errors instead of stopping the run (tests that are running must still be finished,
/// reported to the other consumers and cleaned up). The errors come back with the outcome.
///
/// ```
/// # use shardtest::event::{ConsumerError, EventConsumer, EventSink, RunEvent};
/// struct Broken;
/// impl EventConsumer for Broken {
///     fn on_event(&mut self, _: &RunEvent) -> Result<(), ConsumerError> {
///         Err(ConsumerError::new("timeline", std::io::Error::other("disk full")))
///     }
/// }
/// let mut broken = Broken;
/// let mut sink = EventSink::new(&mut broken);
/// sink.emit(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: false });
/// assert_eq!(sink.into_errors(), vec!["the timeline: disk full".to_string()]);
/// ```
pub struct EventSink<'a> {
    consumer: &'a mut dyn EventConsumer,
    errors: Vec<String>,
}

impl<'a> EventSink<'a> {
    /// A sink feeding `consumer`.
    pub fn new(consumer: &'a mut dyn EventConsumer) -> Self {
        EventSink {
            consumer,
            errors: Vec::new(),
        }
    }

    /// Sends `event`; an error is kept for the outcome.
    pub fn emit(&mut self, event: &RunEvent) {
        if let Err(e) = self.consumer.on_event(event) {
            self.errors.push(e.to_string());
        }
    }

    /// Lets buffering consumers write what they hold; an error is kept for the outcome.
    pub fn flush(&mut self) {
        if let Err(e) = self.consumer.flush() {
            self.errors.push(e.to_string());
        }
    }

    /// The errors the consumers reported, in order, as `the <output>: <why>`.
    pub fn into_errors(self) -> Vec<String> {
        self.errors
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
