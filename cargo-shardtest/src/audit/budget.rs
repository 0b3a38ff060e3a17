//! The audit's time limits: what is left of `--budget`, whether a configuration may start
//! under it, the watchdog that stops a running one when it runs out, and the hard timeout of
//! a process that runs many tests.

use super::auditor::Auditor;
use crate::id::TestId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

impl Auditor<'_> {
    /// What is left of the budget, when there is one.
    pub(super) fn remaining(&self) -> Option<Duration> {
        self.opts
            .budget
            .map(|b| b.saturating_sub(self.start.elapsed()))
    }

    /// Why a configuration estimated at `estimate` must not start, if it must not.
    pub(super) fn skip_reason(&self, estimate: Duration, exempt: bool) -> Option<String> {
        if let Some(why) = &self.stopped {
            return Some(why.clone());
        }
        let left = self.remaining().filter(|_| !exempt)?;
        (estimate > left).then(|| {
            format!(
                "would overrun the budget: needs ~{:.1}s, {:.1}s left",
                estimate.as_secs_f64(),
                left.as_secs_f64()
            )
        })
    }

    /// A watchdog that interrupts the running configuration when the budget runs out (and
    /// sets `hit`). Dropping the sender ends it; without a budget there is no thread.
    pub(super) fn watchdog(&self, hit: Arc<AtomicBool>) -> (Sender<()>, Option<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel::<()>();
        let Some(left) = self.remaining() else {
            return (tx, None);
        };
        let interrupter = self.interrupter.clone();
        let handle = std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(left) {
                hit.store(true, Ordering::SeqCst);
                interrupter.interrupt();
            }
        });
        (tx, Some(handle))
    }

    /// The bound on one process running `ids` one after the other: the per-test timeout
    /// (`--timeout`, else the automatic one) on top of twice their recorded durations, so a
    /// binary of many tests is not cut short while a deadlock still ends.
    pub(super) fn process_timeout(&self, ids: &[TestId]) -> Option<Duration> {
        let per_test = self.base.timeout.or(self.auto_timeout)?;
        let work: Duration = ids.iter().map(|id| self.duration(id)).sum();
        Some(per_test + work * 2)
    }
}
