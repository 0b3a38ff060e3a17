//! Time limits of running tests: slow-test warnings, and timeouts (SIGTERM to the process
//! group, SIGKILL after the grace period).

use super::Scheduler;
use crate::event::{AttemptOutcome, EventSink, RunEvent};
use crate::run::config::RunnerConfig;
use crate::run::process::signal_name;
use crate::run::test::ShardTest;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// A test's slow-warning period and hard timeout: its own (from a nextest override) or the
/// run's.
fn limits_of(test: Option<&ShardTest>, config: &RunnerConfig) -> (Duration, Option<Duration>) {
    let Some(test) = test else {
        // A batch whose first test has not begun: the run's limits.
        return (
            config.slow_after.max(Duration::from_millis(1)),
            config.timeout,
        );
    };
    let a = &test.case.attributes;
    let slow = a
        .slow_ms
        .map_or(config.slow_after, Duration::from_millis)
        .max(Duration::from_millis(1));
    (
        slow,
        a.timeout_ms.map(Duration::from_millis).or(config.timeout),
    )
}

impl Scheduler<'_, '_> {
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = self.delayed.iter().map(|(t, _)| *t).min();
        for r in self.slots.iter().flatten() {
            // Before a batch's first test begins, the timeout runs from its process start.
            let Some((test, started)) = r.clock() else {
                continue;
            };
            if let Some(term) = r.term_at {
                let kill = term + self.config.timeout_grace;
                next = Some(next.map_or(kill, |n| n.min(kill)));
                continue;
            }
            if r.killed.is_some() {
                continue;
            }
            let (slow_after, timeout) = limits_of(self.tests.get(test), self.config);
            let slow = started + slow_after * (r.slow_warnings + 1);
            next = Some(next.map_or(slow, |n| n.min(slow)));
            if let Some(t) = timeout {
                let hard = started + t;
                next = Some(next.map_or(hard, |n| n.min(hard)));
            }
        }
        next
    }

    pub(super) fn check_deadlines(&mut self, consumer: &mut EventSink<'_>) {
        let now = Instant::now();
        for r in self.slots.iter_mut().flatten() {
            let Some((test, started)) = r.clock() else {
                continue;
            };
            if let Some(term) = r.term_at {
                // SIGTERM was not enough within the grace period.
                if now >= term + self.config.timeout_grace {
                    if let Some(pgid) = r.pgid {
                        crate::run::os::signal_group(pgid, Signal::SIGKILL);
                    }
                    r.killed = Some(AttemptOutcome::TimedOut {
                        signal: "SIGKILL".into(),
                    });
                    r.term_at = None;
                }
                continue;
            }
            if r.killed.is_some() {
                continue;
            }
            let elapsed = now.saturating_duration_since(started);
            let (slow_after, timeout) = limits_of(self.tests.get(test), self.config);
            if let Some(t) = timeout
                && elapsed >= t
            {
                // Graceful first: SIGTERM to the whole group, SIGKILL after the grace period.
                let signal = if self.config.timeout_grace.is_zero() {
                    Signal::SIGKILL
                } else {
                    r.term_at = Some(now);
                    Signal::SIGTERM
                };
                if let Some(pgid) = r.pgid {
                    crate::run::os::signal_group(pgid, signal);
                }
                r.killed = Some(AttemptOutcome::TimedOut {
                    signal: signal_name(signal as i32),
                });
                continue;
            }
            if test != usize::MAX && elapsed >= slow_after * (r.slow_warnings + 1) {
                r.slow_warnings += 1;
                consumer.emit(&RunEvent::TestSlow {
                    id: self.tests[test].case.id.clone(),
                    elapsed,
                });
            }
        }
    }
}
