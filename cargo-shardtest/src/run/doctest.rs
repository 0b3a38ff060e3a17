//! Running doctests: a batch of one package's doctests is one
//! `cargo test --doc -p PKG -- FILTERS --skip ... --test-threads 1` process, read by batch
//! mode's state machine (see [`crate::doctest`] for how the filters are chosen).

use super::{Job, RunnerConfig, ShardTest, TestResult, WorkerMsg};
use crate::doctest::DocArgs;
use crate::event::AttemptOutcome;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::mpsc::Sender;
use std::time::{Instant, SystemTime};

/// Whether a shard test is a doctest.
pub(super) fn is_doc(t: &ShardTest) -> bool {
    t.binary.doctest.is_some()
}

/// Cuts the doctests among `order` (longest first) into jobs: per package, at most one
/// batch per worker (each batch pays cargo's and rustdoc's start-up, and in edition 2024
/// the merged doctest build), balanced by predicted time, longest first.
pub(super) fn make_doc_jobs(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    attempt: u32,
) -> Vec<Job> {
    let mut by_binary: BTreeMap<&crate::id::BinaryId, Vec<usize>> = BTreeMap::new();
    for &i in order {
        if is_doc(&tests[i]) && !tests[i].skip {
            by_binary
                .entry(&tests[i].case.id.binary)
                .or_default()
                .push(i);
        }
    }
    let mut jobs: Vec<(std::time::Duration, Job)> = Vec::new();
    for members in by_binary.into_values() {
        // A batch should carry at least about as much work as it costs to start, so a
        // package with little doctest work runs in one batch.
        let total: std::time::Duration = members.iter().map(|&i| tests[i].estimate).sum();
        let setup = tests[members[0]]
            .binary
            .doctest
            .as_ref()
            .map_or(crate::doctest::BATCH_SETUP, crate::doctest::batch_setup);
        let k = crate::doctest::batches_for(members.len(), total, config.workers, setup);
        let mut bins: Vec<(std::time::Duration, Vec<usize>)> = vec![Default::default(); k];
        for i in members {
            // Longest first into the least loaded batch (ties: the first).
            let Some(b) = bins.iter_mut().min_by_key(|b| b.0) else {
                continue;
            };
            b.0 += tests[i].estimate;
            b.1.push(i);
        }
        jobs.extend(
            bins.into_iter()
                .map(|(t, tests)| (t, Job { tests, attempt })),
        );
    }
    jobs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.tests.cmp(&b.1.tests)));
    jobs.into_iter().map(|(_, j)| j).collect()
}

/// Narrows a doctest job to the tests libtest filters can select exactly: the rest go back
/// to the scheduler as a new batch, and a test that cannot be selected even alone is
/// reported as failed with the reason. `None` when nothing is left to run now.
pub(super) fn narrow(
    slot: u32,
    job: &Job,
    tests: &[ShardTest],
    tx: &Sender<WorkerMsg>,
) -> Option<(Job, DocArgs)> {
    let first = &tests[job.tests[0]];
    let doc = first.binary.doctest.as_ref()?;
    let all: Vec<&str> = doc.names.iter().map(String::as_str).collect();
    let batch: Vec<&str> = job
        .tests
        .iter()
        .map(|&i| tests[i].case.id.name.as_str())
        .collect();
    let args = crate::doctest::selection_args(&batch, &all);
    if args.included.is_empty() {
        for &i in &job.tests {
            let tail = format!(
                "shardtest cannot select the doctest `{}` alone with libtest's filters (rustdoc splits them at spaces); run it with `cargo test --doc`",
                tests[i].case.id.name
            );
            let result = TestResult::unstarted(
                AttemptOutcome::Failed { code: 101 },
                SystemTime::now(),
                tail,
            );
            super::report_at_once(tx, slot, i, job.attempt, Instant::now(), result);
        }
        return None;
    }
    if !args.deferred.is_empty() {
        let _ = tx.send(WorkerMsg::Unrun {
            tests: args.deferred.iter().map(|&d| job.tests[d]).collect(),
            attempt: job.attempt,
            // Not suspect: these could not be selected together with the others.
            output: None,
        });
    }
    let narrowed = Job {
        tests: args.included.iter().map(|&d| job.tests[d]).collect(),
        attempt: job.attempt,
    };
    Some((narrowed, args))
}

/// `cargo test --doc <package and build options> -- <filters> --skip <token>...`, with the
/// environment every test gets (`SHARDTEST_*`), in its own process group, stdin closed.
/// The caller appends `--test-threads 1` and the other test arguments.
pub(super) fn command(
    binary: &crate::list::TestBinary,
    args: &DocArgs,
    config: &RunnerConfig,
    slot: u32,
    attempt: u32,
) -> Command {
    let mut cmd = Command::new(&binary.path);
    cmd.current_dir(crate::doctest::work_dir(binary));
    cmd.args(["test", "--doc"]);
    if let Some(doc) = &binary.doctest {
        cmd.args(&doc.cargo_args);
    }
    cmd.arg("--");
    cmd.args(&args.filters);
    for s in &args.skips {
        cmd.args(["--skip", s]);
    }
    super::process::as_test_process(&mut cmd, config, slot, attempt);
    cmd
}
