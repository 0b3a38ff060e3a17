//! Running one shard from start to end: [`run_shard`] and [`run_from`] set the run up
//! (subreaper, guardian, worker threads), let the [`Scheduler`] drive it, and tear it down
//! (end-of-run hooks, live capture files) into a [`RunOutcome`]; [`worker_loop`] is what each
//! worker thread does with the jobs it is handed.

use super::config::RunnerConfig;
use super::interrupt::Interrupter;
use super::jobs::{make_jobs, start_order};
use super::messages::{Job, WorkerMsg};
use super::scheduler::Scheduler;
use super::test::ShardTest;
use super::{batch, doctest, end_of_run, guardian, os, process, source};
use crate::event::{EventConsumer, EventSink, RunEvent, RunInfo, TestStatus};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

/// What the run amounted to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOutcome {
    /// Critical failures (failed, crashed, timed out, not marked non-critical).
    pub failed: usize,
    /// Tests that passed (first time or after retries).
    pub passed: usize,
    /// Ctrl-C / SIGTERM stopped the run.
    pub interrupted: bool,
    /// Each doctest batch's start-up, for the timings history.
    pub doc_setups: Vec<crate::schema::DocSetup>,
    /// Outputs that failed during the run (`the terminal output: broken pipe`): each was
    /// cut off at its first error while the run and the other outputs went on.
    pub output_errors: Vec<String>,
}

/// Runs the tests of one shard and reports every event to `consumer`.
///
/// Tests start longest-estimate first (ties by id) unless shuffled. Each worker slot runs one
/// job at a time; a serial test never overlaps another with the same key and a group never
/// exceeds its limit; blocked tests are passed over instead of holding a worker.
pub fn run_shard(
    tests: Vec<ShardTest>,
    config: &RunnerConfig,
    consumer: &mut dyn EventConsumer,
    interrupter: &Interrupter,
) -> std::io::Result<RunOutcome> {
    run_from(tests, config, consumer, interrupter, None)
}

/// Runs `tests` as [`run_shard`] does, except that with a `source` none of them starts on its
/// own: the scheduler takes them from the source whenever workers are idle, tells it each
/// final result, and ends when the source is exhausted (the tests marked `skip` are reported
/// as skipped either way).
pub fn run_from(
    tests: Vec<ShardTest>,
    config: &RunnerConfig,
    consumer: &mut dyn EventConsumer,
    interrupter: &Interrupter,
    source: Option<&mut dyn source::WorkSource>,
) -> std::io::Result<RunOutcome> {
    std::fs::create_dir_all(&config.logs_dir)?;
    let mut sink = EventSink::new(consumer);
    let consumer = &mut sink;
    os::become_subreaper();
    // Removes everything the run started if this process dies (see `guardian.rs`).
    let guardian = guardian::start(config.run_id.as_str());
    let run_start = Instant::now();
    let order = start_order(&tests, config.shuffle_seed);
    let to_run = tests.iter().filter(|t| !t.skip).count();
    let capped = with_capped_workers(config, to_run);
    let config = &capped;
    announce(&tests, &order, config, to_run, consumer);
    let repeat = config.repeat.max(1);
    let mut queue = VecDeque::new();
    if source.is_none() {
        for attempt in 1..=repeat {
            queue.extend(make_jobs(&tests, &order, config, attempt));
        }
    }
    let outstanding = tests
        .iter()
        .map(|t| if t.skip { 0 } else { repeat })
        .collect();

    let tests = Arc::new(tests);
    let (tx, rx) = mpsc::channel::<WorkerMsg>();
    interrupter.attach(tx.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let workers = Workers::start(&tests, config, &tx, &stop);
    drop(tx);

    let mut s = Scheduler::new(Arc::clone(&tests), config, queue, outstanding, stop, source);
    s.event_loop(&rx, &workers.jobs, consumer);
    interrupter.detach();
    workers.join();
    let mut outcome = s.into_outcome();
    // The test-side library's end-of-run work (dropping `shard::pg` databases).
    end_of_run::finish(config.run_id.as_str());
    drop(guardian);
    // The live capture files hold only the last test of each slot (failures were copied to
    // their artifact directories): nothing of a passing test's output is kept.
    let _ = std::fs::remove_dir_all(&config.logs_dir);
    consumer.emit(&RunEvent::RunFinished {
        elapsed: run_start.elapsed(),
        interrupted: outcome.interrupted,
    });
    consumer.flush();
    outcome.output_errors = sink.into_errors();
    Ok(outcome)
}

/// `config` with never more workers than tests to run: a worker is a thread, and
/// `-j 100000` on ten tests must not start 100,000 of them.
fn with_capped_workers(config: &RunnerConfig, to_run: usize) -> RunnerConfig {
    RunnerConfig {
        workers: config
            .workers
            .min(
                u32::try_from(to_run.saturating_mul(config.repeat.max(1) as usize))
                    .unwrap_or(u32::MAX),
            )
            .max(1),
        ..config.clone()
    }
}

/// Reports the run starting, then every test that is skipped instead of run.
fn announce(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    to_run: usize,
    consumer: &mut EventSink<'_>,
) {
    consumer.emit(&RunEvent::RunStarted(RunInfo {
        run_id: config.run_id.clone(),
        shard: config.shard,
        fingerprint: config.fingerprint.clone(),
        workers: config.workers,
        to_run,
        predicted: config.predicted,
        started_at: SystemTime::now(),
        repeat: config.repeat.max(1),
    }));
    for &i in order {
        if tests[i].skip {
            consumer.emit(&RunEvent::TestSkipped {
                id: tests[i].case.id.clone(),
                status: TestStatus::Skipped,
                attributes: tests[i].case.attributes.clone(),
            });
        }
    }
}

/// The worker threads, one per slot, and the channels that hand each its jobs.
struct Workers {
    jobs: Vec<Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `config.workers` (at least one) worker threads reporting to `tx`.
    fn start(
        tests: &Arc<Vec<ShardTest>>,
        config: &RunnerConfig,
        tx: &Sender<WorkerMsg>,
        stop: &Arc<AtomicBool>,
    ) -> Self {
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for slot in 0..config.workers.max(1) {
            let (jtx, jrx) = mpsc::channel::<Job>();
            jobs.push(jtx);
            let tests = Arc::clone(tests);
            let config = config.clone();
            let tx = tx.clone();
            let stop = Arc::clone(stop);
            handles.push(std::thread::spawn(move || {
                worker_loop(slot, jrx, &tests, &config, &tx, &stop)
            }));
        }
        Workers { jobs, handles }
    }

    /// Closes the job channels (each worker ends after its last job) and waits for them.
    fn join(self) {
        drop(self.jobs);
        for h in self.handles {
            let _ = h.join();
        }
    }
}

/// A worker thread: runs each job it is handed (one test in its own process, or a batch),
/// then says it is free again; jobs handed over after a stop go back unrun.
fn worker_loop(
    slot: u32,
    jobs: Receiver<Job>,
    tests: &[ShardTest],
    config: &RunnerConfig,
    tx: &Sender<WorkerMsg>,
    stop: &AtomicBool,
) {
    for job in jobs {
        if stop.load(Ordering::SeqCst) {
            // A job handed over before the run was interrupted: give it back unstarted.
            let _ = tx.send(WorkerMsg::Unrun {
                tests: job.tests,
                attempt: job.attempt,
                output: None,
            });
        } else if job.tests.len() == 1 && !doctest::is_doc(&tests[job.tests[0]]) {
            process::run_single(
                slot,
                job.tests[0],
                job.attempt,
                &tests[job.tests[0]],
                config,
                tx,
            );
        } else {
            batch::run_batch(slot, &job, tests, config, tx, stop);
        }
        let _ = tx.send(WorkerMsg::JobDone { slot });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Fanout;
    use crate::report::json::JsonReportBuilder;
    use crate::report::terminal::TerminalReporter;
    use crate::shard::ShardSpec;
    use std::time::Duration;

    /// A writer on a full disk.
    struct Full;

    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn true_tests(n: usize) -> Vec<ShardTest> {
        crate::run::test::fake_tests(
            "/bin/true",
            n,
            |i| format!("t{i}"),
            |_| Duration::from_millis(1),
        )
    }

    #[test]
    fn a_failing_output_is_cut_off_and_reported_while_the_run_and_other_outputs_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = RunnerConfig::for_tests(dir.path().to_path_buf(), ShardSpec::WHOLE);
        config.workers = 2;
        let mut terminal = TerminalReporter::new(Full);
        let mut json = JsonReportBuilder::new(Vec::new(), None);
        let outcome = {
            let mut fan = Fanout::default();
            fan.push(&mut terminal);
            fan.push(&mut json);
            run_shard(true_tests(3), &config, &mut fan, &Interrupter::default()).unwrap()
        };
        assert_eq!((outcome.passed, outcome.failed), (3, 0), "{outcome:?}");
        assert_eq!(outcome.output_errors.len(), 1, "{outcome:?}");
        assert!(
            outcome.output_errors[0].starts_with("the terminal output: "),
            "{outcome:?}"
        );
        let report = json.into_report().unwrap();
        assert_eq!(report.counts.passed, 3);
        assert!(report.complete);
    }
}
