//! The [`Interrupter`]: how a signal handler (Ctrl-C, SIGTERM) reaches the run in progress.

use super::messages::WorkerMsg;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

/// Lets a signal handler stop the run in progress: every running test's process group is
/// killed, queued tests are reported as not run, and the reports are still written.
#[derive(Clone, Default)]
pub struct Interrupter {
    target: Arc<Mutex<Option<Sender<WorkerMsg>>>>,
    requested: Arc<std::sync::atomic::AtomicBool>,
}

impl Interrupter {
    /// Asks the current run (if any) to stop. Safe to call from a signal-handling thread.
    pub fn interrupt(&self) {
        self.requested
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(guard) = self.target.lock()
            && let Some(tx) = guard.as_ref()
        {
            let _ = tx.send(WorkerMsg::Interrupt);
        }
    }

    /// True once an interrupt was asked for (it stays set: a run started afterwards stops at
    /// once, so an interrupt between two runs is not lost).
    ///
    /// ```
    /// let i = shardtest::run::Interrupter::default();
    /// assert!(!i.is_interrupted());
    /// i.interrupt();
    /// assert!(i.is_interrupted());
    /// ```
    pub fn is_interrupted(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub(super) fn attach(&self, tx: Sender<WorkerMsg>) {
        if self.is_interrupted() {
            let _ = tx.send(WorkerMsg::Interrupt);
        }
        if let Ok(mut guard) = self.target.lock() {
            *guard = Some(tx);
        }
    }

    pub(super) fn detach(&self) {
        if let Ok(mut guard) = self.target.lock() {
            *guard = None;
        }
    }
}
