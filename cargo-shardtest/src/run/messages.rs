//! The protocol between the scheduler and its workers: a [`Job`] goes to a worker, the
//! worker answers with [`WorkerMsg`]s (a process spawned, tests began and ended, tests handed
//! back unrun, the worker free again); [`report_at_once`] is the pair of messages for a test
//! that could not run.

use super::test::TestResult;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// One unit of work handed to a worker: one attempt of one or more tests (more than one only
/// in batch mode, all of one binary).
#[derive(Clone, Debug)]
pub(crate) struct Job {
    pub(super) tests: Vec<usize>,
    pub(super) attempt: u32,
}

/// Reports a test that begins and ends at once with `result` (it could not run).
pub(super) fn report_at_once(
    tx: &Sender<WorkerMsg>,
    slot: u32,
    test: usize,
    attempt: u32,
    at: Instant,
    result: TestResult,
) {
    let _ = tx.send(WorkerMsg::Began { slot, test, at });
    let _ = tx.send(WorkerMsg::Ended {
        slot,
        test,
        attempt,
        result,
    });
}

/// What a worker tells the scheduler.
pub(crate) enum WorkerMsg {
    /// The job's process exists (it can be killed through its group).
    Spawned { slot: u32, pgid: i32 },
    /// A test of the job began.
    Began { slot: u32, test: usize, at: Instant },
    /// A test of the job ended.
    Ended {
        slot: u32,
        test: usize,
        attempt: u32,
        result: TestResult,
    },
    /// The job's process died before these tests began (batch mode): run them again. With
    /// `output`, the process ended on its own without reporting them: a test handed back so
    /// more than [`MAX_UNRUN`](super::MAX_UNRUN) times is an error, with that output.
    Unrun {
        tests: Vec<usize>,
        attempt: u32,
        output: Option<String>,
    },
    /// A batch's binary exited with an error before running any of its tests (it may not
    /// accept several test names): run these, and the rest of the binary's tests, one per
    /// process.
    Split { tests: Vec<usize>, attempt: u32 },
    /// A doctest batch began its first test (`test`) `setup` after cargo was started.
    DocSetup { test: usize, setup: Duration },
    /// The worker is free again.
    JobDone { slot: u32 },
    /// Ctrl-C / SIGTERM.
    Interrupt,
}
