//! Running one shard: a scheduler on the calling thread hands jobs to `W` worker slots,
//! honouring serial keys and group limits, retries failures, enforces slow-test warnings and
//! hard timeouts, and emits the [`RunEvent`] stream.
//!
//! How a job executes is the [`Isolation`] strategy's business: one process per test
//! ([`Isolation::Process`], the default) or many tests of one binary in one process
//! ([`Isolation::Batch`]). Workers report tests beginning and ending through the same
//! messages either way, so the scheduler and every consumer are shared.

mod artifacts;
mod batch;
mod capture;
mod doctest;
mod end_of_run;
pub mod guardian;
mod leak;
pub mod libtest_output;
mod process;
pub mod source;

pub use process::{read_tail, signal_name};

use crate::event::{AttemptOutcome, AttemptRecord, EventConsumer, RunEvent, RunInfo, TestStatus};
use crate::id::TestId;
use crate::list::{TestBinary, TestCase};
use crate::shard::ShardSpec;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How tests are executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Every test attempt in its own process: full isolation, about 1-4 ms per test.
    #[default]
    Process,
    /// Many plain tests of one binary per process (`--exact a b c --test-threads 1`): close to
    /// `cargo test`'s speed. Tests with attributes (serial, group, flaky) still get their own
    /// process; a crash ends only the test that was running, the rest of its batch restarts.
    Batch,
}

/// Settings of a shard run.
#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Worker slots.
    pub workers: u32,
    /// The shard being run.
    pub shard: ShardSpec,
    /// Unique run id.
    pub run_id: String,
    /// Plan fingerprint (reported).
    pub fingerprint: String,
    /// Predicted wall time of the shard (reported).
    pub predicted: Duration,
    /// Warn about a test running longer than this (and each multiple of it).
    pub slow_after: Duration,
    /// Stop a test's process group after this long (SIGTERM, then SIGKILL after
    /// `timeout_grace`).
    pub timeout: Option<Duration>,
    /// After a timeout's SIGTERM, how long a test may take to exit before SIGKILL.
    pub timeout_grace: Duration,
    /// Keep every test's output in its artifact directory, passing tests' too
    /// (`--keep-output`; process isolation). By default only failures' output is kept.
    pub keep_output: bool,
    /// Retries for every failing test (a `#[shard::flaky]` policy can ask for more).
    pub retries: u32,
    /// Wait before each retry of a test without a `#[shard::flaky]` backoff of its own.
    pub retry_backoff: Duration,
    /// Stop starting tests once this many (critical) tests have failed; the running ones
    /// finish, the rest are reported as not run (`--max-fail`, nextest's `fail-fast`).
    pub max_fail: Option<u32>,
    /// Root of this run's artifacts (per-test dirs, kept logs).
    pub artifact_root: PathBuf,
    /// Scratch directory for live output capture.
    pub logs_dir: PathBuf,
    /// Extra arguments for every test process (after `--`).
    pub extra_args: Vec<String>,
    /// How long a test's leftover processes may take to exit before they count as leaked.
    pub leak_grace: Duration,
    /// Execution strategy.
    pub isolation: Isolation,
    /// Run in a random order derived from this seed instead of longest-first.
    pub shuffle_seed: Option<u64>,
    /// Run every test this many times (copies of a non-serial test may run at once);
    /// retries are off when this is above 1.
    pub repeat: u32,
}

impl RunnerConfig {
    /// Per-test artifact directory: `<root>/shard-K-of-N/<binary>/<test>`.
    ///
    /// ```
    /// # use shardtest::run::RunnerConfig;
    /// # use shardtest::plan::ShardSpec;
    /// let c = RunnerConfig::for_tests("/a".into(), ShardSpec::new(2, 4).unwrap());
    /// let d = c.artifact_dir(&"pkg::it mod::case".parse().unwrap());
    /// assert_eq!(d, std::path::Path::new("/a/shard-2-of-4/pkg..it/mod..case"));
    /// ```
    pub fn artifact_dir(&self, id: &TestId) -> PathBuf {
        self.artifact_root
            .join(format!(
                "shard-{}-of-{}",
                self.shard.index, self.shard.total
            ))
            .join(path_component(id.binary.as_str()))
            .join(path_component(id.name.as_str()))
    }

    /// A configuration with defaults, rooted at `root` (for tests and examples).
    ///
    /// ```
    /// # use shardtest::run::RunnerConfig;
    /// # use shardtest::plan::ShardSpec;
    /// let c = RunnerConfig::for_tests("/tmp/x".into(), ShardSpec::WHOLE);
    /// assert_eq!(c.workers, 1);
    /// ```
    pub fn for_tests(root: PathBuf, shard: ShardSpec) -> Self {
        RunnerConfig {
            workers: 1,
            shard,
            run_id: "test-run".into(),
            fingerprint: String::new(),
            predicted: Duration::ZERO,
            slow_after: Duration::from_secs(60),
            timeout: None,
            timeout_grace: Duration::from_secs(10),
            keep_output: false,
            retries: 0,
            retry_backoff: Duration::ZERO,
            max_fail: None,
            logs_dir: root.join("live"),
            artifact_root: root,
            extra_args: vec![],
            leak_grace: Duration::from_millis(100),
            isolation: Isolation::Process,
            shuffle_seed: None,
            repeat: 1,
        }
    }
}

/// A file-name-safe rendering of an id part: `::` becomes `..`, anything outside
/// `[A-Za-z0-9_.-]` becomes `_` (plus a short hash then, so different names never collide).
/// A name longer than [`artifacts::MAX_COMPONENT`] bytes is cut and ends in a hash of the
/// whole name, so it always fits the file system (the full id is written inside the
/// directory by [`artifacts::prepare`]).
fn path_component(s: &str) -> String {
    let replaced = s.replace("::", "..");
    let clean: String = replaced
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.len() > artifacts::MAX_COMPONENT {
        return artifacts::shortened(&clean, s);
    }
    if clean == replaced {
        clean
    } else {
        use sha2::{Digest, Sha256};
        let h = Sha256::digest(s.as_bytes());
        format!("{clean}-{:02x}{:02x}{:02x}", h[0], h[1], h[2])
    }
}

/// A test of the shard, ready to run.
#[derive(Clone, Debug)]
pub struct ShardTest {
    /// The listed test.
    pub case: TestCase,
    /// Its binary.
    pub binary: Arc<TestBinary>,
    /// Predicted duration (orders the queue: longest first).
    pub estimate: Duration,
    /// Reported as skipped instead of run (ignored tests).
    pub skip: bool,
}

/// One unit of work handed to a worker: one attempt of one or more tests (more than one only
/// in batch mode, all of one binary).
#[derive(Clone, Debug)]
pub(crate) struct Job {
    tests: Vec<usize>,
    attempt: u32,
}

/// How one test attempt ended, as a worker saw it.
#[derive(Debug)]
pub(crate) struct TestResult {
    outcome: AttemptOutcome,
    duration: Duration,
    started_at: SystemTime,
    leaked: bool,
    log: Option<PathBuf>,
    output_tail: String,
}

impl TestResult {
    /// The result of a test that never really ran (its process could not start, or died
    /// before the test began): no duration of its own, no log.
    fn unstarted(outcome: AttemptOutcome, started_at: SystemTime, output_tail: String) -> Self {
        TestResult {
            outcome,
            duration: Duration::ZERO,
            started_at,
            leaked: false,
            log: None,
            output_tail,
        }
    }
}

/// Reports a test that begins and ends at once with `result` (it could not run).
fn report_at_once(
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
    /// more than [`MAX_UNRUN`] times is an error, with that output.
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

    fn attach(&self, tx: Sender<WorkerMsg>) {
        if self.is_interrupted() {
            let _ = tx.send(WorkerMsg::Interrupt);
        }
        if let Ok(mut guard) = self.target.lock() {
            *guard = Some(tx);
        }
    }

    fn detach(&self) {
        if let Ok(mut guard) = self.target.lock() {
            *guard = None;
        }
    }
}

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
}

struct Running {
    job: Job,
    /// The job may have its successor handed over early ([`Scheduler::is_short`]).
    short: bool,
    pgid: Option<i32>,
    current: Option<(usize, Instant)>,
    slow_warnings: u32,
    killed: Option<AttemptOutcome>,
    /// When a timeout's SIGTERM was sent (SIGKILL follows after the grace period).
    term_at: Option<Instant>,
    /// When the job's process started, until its first test begins: a batch that never
    /// begins its first test times out from here.
    spawned_at: Option<Instant>,
}

impl Running {
    /// The test running and since when; before the job's first test began, `usize::MAX`
    /// since the process started.
    fn clock(&self) -> Option<(usize, Instant)> {
        self.current.or(self.spawned_at.map(|s| (usize::MAX, s)))
    }
}

/// How many times a test may be handed back unrun by a batch process before it is reported
/// as an error instead of queued again.
pub const MAX_UNRUN: u32 = 3;

/// Jobs predicted to take at most this long may be handed to a worker in advance
/// ([`Scheduler::prefetch`]).
const PREFETCH_MAX: Duration = Duration::from_millis(50);

struct Scheduler<'a, 's> {
    tests: Arc<Vec<ShardTest>>,
    config: &'a RunnerConfig,
    queue: VecDeque<Job>,
    delayed: Vec<(Instant, Job)>,
    slots: Vec<Option<Running>>,
    /// Per slot, a short batch already handed to its worker to start as soon as the
    /// running job ends (see [`Scheduler::prefetch`]).
    next: Vec<Option<Job>>,
    /// Tells the workers not to start the jobs they hold (set on interrupt).
    stop: Arc<AtomicBool>,
    serial_busy: BTreeMap<String, usize>,
    group_busy: BTreeMap<String, u32>,
    attempts: Vec<Vec<AttemptRecord>>,
    /// Attempts still outstanding per test (repeat mode runs several at once).
    outstanding: Vec<u32>,
    /// How often each test was handed back unrun (batch mode).
    unrun: Vec<u32>,
    interrupted: bool,
    /// `max_fail` was reached: nothing more starts.
    stopping: bool,
    outcome: RunOutcome,
    /// Where more work comes from, if anywhere (a shared queue); `None` once exhausted.
    source: Option<&'s mut dyn source::WorkSource>,
    /// When to ask the source again after it said "later".
    source_wait: Option<Instant>,
}

/// The order tests start in: longest estimate first (ties by id), or a seeded shuffle.
fn start_order(tests: &[ShardTest], shuffle_seed: Option<u64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by(|&a, &b| tests[a].case.id.cmp(&tests[b].case.id));
    match shuffle_seed {
        Some(seed) => {
            use rand::SeedableRng;
            use rand::seq::SliceRandom;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            order.shuffle(&mut rng);
        }
        None => order.sort_by(|&a, &b| tests[b].estimate.cmp(&tests[a].estimate).then(a.cmp(&b))),
    }
    order
}

/// Cuts the runnable tests into jobs: one per test, or (batch mode) chunks of plain tests of
/// one binary so that every worker gets several batches.
/// The shortest predicted time [`make_jobs`] plans a batch for: starting a test process costs
/// a millisecond or two, so batches of trivial tests are cut by count instead.
const MIN_BATCH_TIME: Duration = Duration::from_millis(10);

fn make_jobs(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    attempt: u32,
) -> Vec<Job> {
    // Doctests always run in batches per package (see `doctest`), whatever the isolation.
    let mut jobs = doctest::make_doc_jobs(tests, order, config, attempt);
    let rest: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| !doctest::is_doc(&tests[i]))
        .collect();
    jobs.extend(make_plain_jobs(tests, &rest, config, attempt));
    jobs
}

fn make_plain_jobs(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    attempt: u32,
) -> Vec<Job> {
    let runnable = order.iter().copied().filter(|&i| !tests[i].skip);
    if config.isolation == Isolation::Process {
        return runnable
            .map(|i| Job {
                tests: vec![i],
                attempt,
            })
            .collect();
    }
    let mut singles = Vec::new();
    let mut by_binary: BTreeMap<&crate::id::BinaryId, Vec<usize>> = BTreeMap::new();
    let mut binary_order = Vec::new();
    for i in runnable {
        if tests[i].case.attributes.is_plain()
            && !crate::list::is_whole_binary(tests[i].case.id.name.as_str())
        {
            let b = &tests[i].case.id.binary;
            if !by_binary.contains_key(b) {
                binary_order.push(b);
            }
            by_binary.entry(b).or_default().push(i);
        } else {
            singles.push(Job {
                tests: vec![i],
                attempt,
            });
        }
    }
    let mut jobs = singles;
    // Each binary's tests are cut into batches of about equal predicted *time* (not count):
    // about 4 per worker, so a long test gets a batch of its own and does not hold many
    // short ones hostage behind it. `members` is longest first, so long tests come first.
    // A batch is never planned shorter than MIN_BATCH_TIME (each costs a process start), and
    // every worker gets a share of a binary's tests however short they are.
    let workers = config.workers.max(1);
    for b in binary_order {
        let members = &by_binary[b];
        let total: Duration = members.iter().map(|&i| tests[i].estimate).sum();
        let target = (total / (workers * 4)).max(MIN_BATCH_TIME);
        let most = members
            .len()
            .div_ceil(workers as usize)
            .clamp(1, batch::MAX_BATCH);
        let mut chunk: Vec<usize> = Vec::new();
        let mut chunk_time = Duration::ZERO;
        for &i in members {
            let est = tests[i].estimate;
            if !chunk.is_empty() && (chunk_time + est > target || chunk.len() >= most) {
                jobs.push(Job {
                    tests: std::mem::take(&mut chunk),
                    attempt,
                });
                chunk_time = Duration::ZERO;
            }
            chunk.push(i);
            chunk_time += est;
        }
        if !chunk.is_empty() {
            jobs.push(Job {
                tests: chunk,
                attempt,
            });
        }
    }
    jobs
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
    become_subreaper();
    // Removes everything the run started if this process dies (see `guardian.rs`).
    let guardian = guardian::start(&config.run_id);
    let run_start = Instant::now();
    let order = start_order(&tests, config.shuffle_seed);
    let to_run = tests.iter().filter(|t| !t.skip).count();
    // Never more workers than tests to run: a worker is a thread, and `-j 100000` on ten
    // tests must not start 100,000 of them.
    let capped = RunnerConfig {
        workers: config
            .workers
            .min(
                u32::try_from(to_run.saturating_mul(config.repeat.max(1) as usize))
                    .unwrap_or(u32::MAX),
            )
            .max(1),
        ..config.clone()
    };
    let config = &capped;
    consumer.on_event(&RunEvent::RunStarted(RunInfo {
        run_id: config.run_id.clone(),
        shard: config.shard,
        fingerprint: config.fingerprint.clone(),
        workers: config.workers,
        to_run,
        predicted: config.predicted,
        started_at: SystemTime::now(),
        repeat: config.repeat.max(1),
    }));
    for &i in &order {
        if tests[i].skip {
            consumer.on_event(&RunEvent::TestSkipped {
                id: tests[i].case.id.clone(),
                status: TestStatus::Skipped,
                attributes: tests[i].case.attributes.clone(),
            });
        }
    }
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

    let workers = config.workers.max(1);
    let tests = Arc::new(tests);
    let (tx, rx) = mpsc::channel::<WorkerMsg>();
    interrupter.attach(tx.clone());
    let mut job_senders = Vec::new();
    let mut handles = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    for slot in 0..workers {
        let (jtx, jrx) = mpsc::channel::<Job>();
        job_senders.push(jtx);
        let tests = Arc::clone(&tests);
        let config = config.clone();
        let tx = tx.clone();
        let stop = Arc::clone(&stop);
        handles.push(std::thread::spawn(move || {
            worker_loop(slot, jrx, &tests, &config, &tx, &stop)
        }));
    }
    drop(tx);

    let mut s = Scheduler {
        attempts: vec![Vec::new(); tests.len()],
        unrun: vec![0; tests.len()],
        outstanding,
        tests: Arc::clone(&tests),
        config,
        queue,
        delayed: Vec::new(),
        slots: (0..workers).map(|_| None).collect(),
        next: (0..workers).map(|_| None).collect(),
        stop,
        serial_busy: BTreeMap::new(),
        group_busy: BTreeMap::new(),
        interrupted: false,
        stopping: false,
        outcome: RunOutcome::default(),
        source,
        source_wait: None,
    };
    s.event_loop(&rx, &job_senders, consumer);
    interrupter.detach();
    drop(job_senders);
    for h in handles {
        let _ = h.join();
    }
    s.outcome.interrupted = s.interrupted;
    // The test-side library's end-of-run work (dropping `shard::pg` databases).
    end_of_run::finish(&config.run_id);
    drop(guardian);
    // The live capture files hold only the last test of each slot (failures were copied to
    // their artifact directories): nothing of a passing test's output is kept.
    let _ = std::fs::remove_dir_all(&config.logs_dir);
    consumer.on_event(&RunEvent::RunFinished {
        elapsed: run_start.elapsed(),
        interrupted: s.interrupted,
    });
    Ok(s.outcome)
}

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
    fn event_loop(
        &mut self,
        rx: &Receiver<WorkerMsg>,
        jobs: &[Sender<Job>],
        consumer: &mut dyn EventConsumer,
    ) {
        loop {
            self.release_delayed(Instant::now());
            self.refill();
            self.dispatch(jobs);
            let running = self.slots.iter().any(Option::is_some);
            let more_to_come = self.source.is_some() && !self.stopping && !self.interrupted;
            if !running && self.queue.is_empty() && self.delayed.is_empty() && !more_to_come {
                return;
            }
            consumer.flush();
            let wait = [self.next_deadline(), self.source_wait]
                .into_iter()
                .flatten()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()));
            let msg = match wait {
                Some(w) => match rx.recv_timeout(w) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                },
                None => match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                },
            };
            if let Some(msg) = msg {
                self.handle(msg, consumer);
                // Drain what else is waiting before scheduling again (cheap under load).
                while let Ok(m) = rx.try_recv() {
                    self.handle(m, consumer);
                }
            }
            self.check_deadlines(consumer);
        }
    }

    /// Asks the work source for tests when the scheduler's own queue is empty and a worker
    /// is idle (and the source did not ask to wait).
    fn refill(&mut self) {
        if self.interrupted || self.stopping || !self.queue.is_empty() || !self.delayed.is_empty() {
            return;
        }
        if self.source_wait.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let idle = self.slots.iter().filter(|s| s.is_none()).count();
        let Some(source) = self.source.as_deref_mut() else {
            return;
        };
        if idle == 0 {
            return;
        }
        self.source_wait = None;
        match source.take(idle) {
            source::Take::Tests(tests) => {
                let tests: Vec<usize> = tests
                    .into_iter()
                    .filter(|&t| t < self.tests.len() && !self.tests[t].skip)
                    .collect();
                for &t in &tests {
                    self.outstanding[t] = 1;
                }
                let jobs = make_jobs(&self.tests, &tests, self.config, 1);
                self.queue.extend(jobs);
            }
            source::Take::Later(d) => self.source_wait = Some(Instant::now() + d),
            source::Take::Exhausted => self.source = None,
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
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

    fn check_deadlines(&mut self, consumer: &mut dyn EventConsumer) {
        let now = Instant::now();
        for r in self.slots.iter_mut().flatten() {
            let Some((test, started)) = r.clock() else {
                continue;
            };
            if let Some(term) = r.term_at {
                // SIGTERM was not enough within the grace period.
                if now >= term + self.config.timeout_grace {
                    if let Some(pgid) = r.pgid {
                        process::kill_group(pgid, libc::SIGKILL);
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
                    libc::SIGKILL
                } else {
                    r.term_at = Some(now);
                    libc::SIGTERM
                };
                if let Some(pgid) = r.pgid {
                    process::kill_group(pgid, signal);
                }
                r.killed = Some(AttemptOutcome::TimedOut {
                    signal: signal_name(signal),
                });
                continue;
            }
            if test != usize::MAX && elapsed >= slow_after * (r.slow_warnings + 1) {
                r.slow_warnings += 1;
                consumer.on_event(&RunEvent::TestSlow {
                    id: self.tests[test].case.id.clone(),
                    elapsed,
                });
            }
        }
    }

    fn release_delayed(&mut self, now: Instant) {
        if self.delayed.is_empty() {
            return;
        }
        let mut ready: Vec<(Instant, Job)> = Vec::new();
        self.delayed.retain(|(t, j)| {
            if *t <= now {
                ready.push((*t, j.clone()));
                false
            } else {
                true
            }
        });
        ready.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.tests.cmp(&b.1.tests)));
        // Retries go to the front: they are already late.
        for (_, job) in ready.into_iter().rev() {
            self.queue.push_front(job);
        }
    }

    fn allowed(&self, job: &Job) -> bool {
        job.tests.iter().all(|&i| {
            let attrs = &self.tests[i].case.attributes;
            let serial_ok = attrs
                .serial
                .as_ref()
                .is_none_or(|k| self.serial_busy.get(k).copied().unwrap_or(0) == 0);
            let group_ok = attrs
                .group
                .as_ref()
                .is_none_or(|g| self.group_busy.get(&g.name).copied().unwrap_or(0) < g.max.max(1));
            serial_ok && group_ok
        })
    }

    /// Worker slots `job` takes: the most any of its tests needs (1 for plain tests).
    fn slots_of(&self, job: &Job) -> u32 {
        let w = self.config.workers;
        job.tests
            .iter()
            .map(|&i| self.tests[i].case.attributes.slots(w))
            .max()
            .unwrap_or(1)
    }

    /// Worker slots taken by the running jobs.
    fn slots_in_use(&self) -> u32 {
        self.slots
            .iter()
            .flatten()
            .map(|r| self.slots_of(&r.job))
            .sum()
    }

    fn hold(&mut self, job: &Job, take: bool) {
        for &i in &job.tests {
            let attrs = &self.tests[i].case.attributes;
            if let Some(key) = &attrs.serial {
                let n = self.serial_busy.entry(key.clone()).or_default();
                *n = if take { *n + 1 } else { n.saturating_sub(1) };
            }
            if let Some(g) = &attrs.group {
                let n = self.group_busy.entry(g.name.clone()).or_default();
                *n = if take { *n + 1 } else { n.saturating_sub(1) };
            }
        }
    }

    fn dispatch(&mut self, jobs: &[Sender<Job>]) {
        if self.interrupted || self.stopping {
            return;
        }
        for (slot, worker) in jobs.iter().enumerate().take(self.slots.len()) {
            if self.slots[slot].is_some() {
                continue;
            }
            let Some(pos) = self.queue.iter().position(|j| self.allowed(j)) else {
                return;
            };
            // Worker slots (`#[shard::threads(N)]`, nextest's threads-required): never more
            // than W in use; the first startable job waits for its slots and nothing behind it
            // starts meanwhile, so a heavy test is never starved.
            if self.slots_in_use() + self.slots_of(&self.queue[pos]) > self.config.workers.max(1) {
                break;
            }
            let Some(job) = self.queue.remove(pos) else {
                return;
            };
            self.hold(&job, true);
            self.slots[slot] = Some(self.running(job.clone()));
            if worker.send(job).is_err() {
                // The worker thread is gone; nothing more can run.
                self.interrupted = true;
                return;
            }
        }
        self.prefetch(jobs);
    }

    /// Hands a busy worker its next job in advance when both its running job and that job
    /// are short batches of plain tests, so it starts the next process without waiting for
    /// the scheduler to go through the burst of results the last one produced (in batch mode
    /// that wait was a millisecond or more per batch). Long jobs are never handed over early:
    /// a job waiting behind a long one could leave another worker idle at the end.
    fn prefetch(&mut self, jobs: &[Sender<Job>]) {
        if self.config.isolation != Isolation::Batch {
            return;
        }
        for (slot, worker) in jobs.iter().enumerate().take(self.slots.len()) {
            let ready =
                self.next[slot].is_none() && self.slots[slot].as_ref().is_some_and(|r| r.short);
            if !ready || !self.queue.front().is_some_and(|j| self.is_short(j)) {
                continue;
            }
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            self.hold(&job, true);
            self.next[slot] = Some(job.clone());
            if worker.send(job).is_err() {
                self.interrupted = true;
                return;
            }
        }
    }

    /// Whether `job` is a batch of plain tests predicted to take at most [`PREFETCH_MAX`]
    /// (the sum stops as soon as it is over: this runs whenever a worker could be handed a
    /// job early).
    fn is_short(&self, job: &Job) -> bool {
        let tests = &self.tests;
        job.tests.len() > 1
            && job
                .tests
                .iter()
                .try_fold(Duration::ZERO, |sum, &i| {
                    Some(sum + tests[i].estimate).filter(|s| *s <= PREFETCH_MAX)
                })
                .is_some()
            && job
                .tests
                .iter()
                .all(|&i| tests[i].case.attributes.is_plain())
    }

    /// The record of `job` starting in a slot.
    fn running(&self, job: Job) -> Running {
        Running {
            short: self.is_short(&job),
            job,
            pgid: None,
            current: None,
            slow_warnings: 0,
            killed: None,
            term_at: None,
            spawned_at: None,
        }
    }

    fn handle(&mut self, msg: WorkerMsg, consumer: &mut dyn EventConsumer) {
        match msg {
            WorkerMsg::Interrupt => self.interrupt(consumer),
            WorkerMsg::Spawned { slot, pgid } => {
                if let Some(r) = self.slots[slot as usize].as_mut() {
                    r.pgid = Some(pgid);
                    r.spawned_at = Some(Instant::now());
                    if r.killed.is_some() {
                        process::kill_group(pgid, libc::SIGKILL);
                    }
                }
            }
            WorkerMsg::Began { slot, test, at } => {
                if let Some(r) = self.slots[slot as usize].as_mut() {
                    r.current = Some((test, at));
                    r.spawned_at = None;
                    r.slow_warnings = 0;
                    consumer.on_event(&RunEvent::TestStarted {
                        id: self.tests[test].case.id.clone(),
                        attempt: r.job.attempt,
                        worker: slot,
                    });
                }
            }
            WorkerMsg::Ended {
                slot,
                test,
                attempt,
                result,
            } => self.ended(slot, test, attempt, result, consumer),
            WorkerMsg::Unrun {
                tests,
                attempt,
                output,
            } => {
                if self.interrupted || self.stopping {
                    for t in tests {
                        self.outstanding[t] = 0;
                        self.emit_finished(t, TestStatus::NotRun, consumer);
                    }
                    return;
                }
                // A test that keeps coming back unrun (its binary never reports it, whatever
                // the reason) is an error, not a loop.
                let mut again = Vec::new();
                for t in tests {
                    let Some(output) = output.as_deref() else {
                        again.push(t);
                        continue;
                    };
                    self.unrun[t] += 1;
                    if self.unrun[t] > MAX_UNRUN {
                        self.give_up_unrun(t, attempt, output, consumer);
                    } else {
                        again.push(t);
                    }
                }
                if !again.is_empty() {
                    self.queue.push_front(Job {
                        tests: again,
                        attempt,
                    });
                }
            }
            WorkerMsg::Split { tests, attempt } => {
                if self.interrupted {
                    for t in tests {
                        self.outstanding[t] = 0;
                        self.emit_finished(t, TestStatus::NotRun, consumer);
                    }
                    return;
                }
                let Some(&first) = tests.first() else {
                    return;
                };
                let binary = self.tests[first].case.id.binary.clone();
                let tests_ref = Arc::clone(&self.tests);
                let of_binary = |j: &Job| {
                    j.tests.len() > 1
                        && j.tests
                            .iter()
                            .all(|&t| tests_ref[t].case.id.binary == binary)
                };
                let queued: Vec<Job> = self.queue.drain(..).collect();
                for job in queued {
                    if of_binary(&job) {
                        for t in job.tests {
                            self.queue.push_back(Job {
                                tests: vec![t],
                                attempt: job.attempt,
                            });
                        }
                    } else {
                        self.queue.push_back(job);
                    }
                }
                for t in tests.into_iter().rev() {
                    self.queue.push_front(Job {
                        tests: vec![t],
                        attempt,
                    });
                }
            }
            WorkerMsg::DocSetup { test, setup } => {
                let t = &self.tests[test];
                if let Some(doc) = &t.binary.doctest {
                    self.outcome.doc_setups.push(crate::schema::DocSetup {
                        binary: t.case.id.binary.clone(),
                        setup,
                        doctests: u32::try_from(doc.names.len()).unwrap_or(u32::MAX),
                    });
                }
            }
            WorkerMsg::JobDone { slot } => {
                if let Some(r) = self.slots[slot as usize].take() {
                    self.hold(&r.job, false);
                }
                // The worker goes straight on with the job it was handed in advance.
                if let Some(job) = self.next[slot as usize].take() {
                    self.slots[slot as usize] = Some(self.running(job));
                }
            }
        }
    }

    /// Reports a test that was handed back unrun too often as failed with an error.
    fn give_up_unrun(
        &mut self,
        test: usize,
        attempt: u32,
        output: &str,
        consumer: &mut dyn EventConsumer,
    ) {
        if self.outstanding[test] == 0 {
            return;
        }
        let id = self.tests[test].case.id.clone();
        consumer.on_event(&RunEvent::TestStarted {
            id,
            attempt,
            worker: 0,
        });
        self.attempts[test].push(AttemptRecord {
            attempt,
            outcome: AttemptOutcome::SpawnFailed {
                message: format!(
                    "its test process ended {} times without running it (the binary never reported it); giving up",
                    MAX_UNRUN + 1
                ),
            },
            duration: Duration::ZERO,
            started_at: SystemTime::now(),
            worker: 0,
            leaked: false,
            log: None,
            output_tail: output.to_string(),
        });
        self.outstanding[test] = 0;
        self.emit_finished(test, TestStatus::Failed, consumer);
    }

    fn interrupt(&mut self, consumer: &mut dyn EventConsumer) {
        if self.interrupted {
            return;
        }
        self.interrupted = true;
        self.stop.store(true, Ordering::SeqCst);
        for r in self.slots.iter_mut().flatten() {
            r.killed = Some(AttemptOutcome::Interrupted);
            if let Some(pgid) = r.pgid {
                process::kill_group(pgid, libc::SIGKILL);
            }
        }
        self.cancel_pending(consumer);
    }

    /// Reports every queued or delayed test that is not running as not run.
    fn cancel_pending(&mut self, consumer: &mut dyn EventConsumer) {
        let mut pending: Vec<usize> = self.queue.drain(..).flat_map(|j| j.tests).collect();
        pending.extend(self.delayed.drain(..).flat_map(|(_, j)| j.tests));
        pending.sort_by(|&a, &b| self.tests[a].case.id.cmp(&self.tests[b].case.id));
        pending.dedup();
        let running: Vec<usize> = self
            .slots
            .iter()
            .flatten()
            .flat_map(|r| r.job.tests.iter().copied())
            .collect();
        if let Some(source) = self.source.as_deref_mut() {
            // Interrupted: the running tests are being killed too. Stopping (`--max-fail`):
            // they finish, and their results still go to the source.
            let given: Vec<usize> = if self.interrupted {
                pending.iter().chain(&running).copied().collect()
            } else {
                pending
                    .iter()
                    .copied()
                    .filter(|t| !running.contains(t))
                    .collect()
            };
            let ids: Vec<TestId> = given
                .iter()
                .map(|&t| self.tests[t].case.id.clone())
                .collect();
            source.give_back(&ids);
        }
        if self.interrupted {
            self.source = None;
        }
        for t in pending {
            // A test with copies still running reports when they end.
            if !running.contains(&t) && self.outstanding[t] > 0 {
                self.outstanding[t] = 0;
                self.emit_finished(t, TestStatus::NotRun, consumer);
            }
        }
    }

    fn emit_finished(&mut self, test: usize, status: TestStatus, consumer: &mut dyn EventConsumer) {
        let t = &self.tests[test];
        match status {
            TestStatus::Passed | TestStatus::Flaky => self.outcome.passed += 1,
            TestStatus::Failed if !t.case.attributes.non_critical => self.outcome.failed += 1,
            _ => {}
        }
        let stop_now = !self.stopping
            && self
                .config
                .max_fail
                .is_some_and(|m| self.outcome.failed >= m.max(1) as usize);
        let mut attempts = std::mem::take(&mut self.attempts[test]);
        attempts.sort_by_key(|a| a.attempt);
        if let Some(source) = self.source.as_deref_mut()
            && status != TestStatus::NotRun
        {
            source.finished(&t.case.id, status, &attempts);
        }
        consumer.on_event(&RunEvent::TestFinished {
            id: t.case.id.clone(),
            status,
            attempts,
            attributes: t.case.attributes.clone(),
        });
        if stop_now {
            // Fail fast: the running tests finish; nothing else starts.
            self.stopping = true;
            self.stop.store(true, Ordering::SeqCst);
            self.cancel_pending(consumer);
        }
    }

    fn ended(
        &mut self,
        slot: u32,
        test: usize,
        attempt: u32,
        out: TestResult,
        consumer: &mut dyn EventConsumer,
    ) {
        let mut killed = None;
        if let Some(r) = self.slots[slot as usize].as_mut()
            && r.current.map(|(t, _)| t) == Some(test)
        {
            killed = r.killed.take();
            r.current = None;
        }
        // A process we killed reports SIGKILL; say why we killed it. A timed-out test that
        // exited on SIGTERM in its own way (a handler, exit code) still timed out.
        let outcome = match (killed, out.outcome) {
            (Some(t @ AttemptOutcome::TimedOut { .. }), _) => t,
            (Some(reason), AttemptOutcome::Crashed { .. }) => reason,
            (_, o) => o,
        };
        let passed = outcome.is_pass();
        let interrupted = outcome == AttemptOutcome::Interrupted;
        let record = AttemptRecord {
            attempt,
            outcome,
            duration: out.duration,
            started_at: out.started_at,
            worker: slot,
            leaked: out.leaked,
            log: out.log,
            output_tail: out.output_tail,
        };
        let t = &self.tests[test];
        if self.outstanding[test] == 0 {
            return; // already reported (interrupted)
        }
        self.attempts[test].push(record.clone());
        if self.config.repeat > 1 {
            self.outstanding[test] -= 1;
            if self.outstanding[test] == 0 {
                let runs = &self.attempts[test];
                let passes = runs.iter().filter(|a| a.outcome.is_pass()).count();
                let status = if passes == runs.len() {
                    TestStatus::Passed
                } else if passes > 0 {
                    TestStatus::Flaky
                } else if self.interrupted
                    && runs
                        .iter()
                        .all(|a| a.outcome == AttemptOutcome::Interrupted)
                {
                    TestStatus::NotRun
                } else {
                    TestStatus::Failed
                };
                self.emit_finished(test, status, consumer);
            }
            return;
        }
        let max_attempts = 1 + self
            .config
            .retries
            .max(t.case.attributes.flaky.as_ref().map_or(0, |f| f.retries));
        if passed {
            let status = if attempt > 1 {
                TestStatus::Flaky
            } else {
                TestStatus::Passed
            };
            self.outstanding[test] = 0;
            self.emit_finished(test, status, consumer);
        } else if interrupted {
            self.outstanding[test] = 0;
            self.emit_finished(test, TestStatus::NotRun, consumer);
        } else if attempt < max_attempts && !self.interrupted && !self.stopping {
            let backoff = t
                .case
                .attributes
                .flaky
                .as_ref()
                .map_or(self.config.retry_backoff, |f| f.backoff_before(attempt));
            consumer.on_event(&RunEvent::TestRetrying {
                id: t.case.id.clone(),
                failed: record,
                backoff,
            });
            self.delayed.push((
                Instant::now() + backoff,
                Job {
                    tests: vec![test],
                    attempt: attempt + 1,
                },
            ));
        } else {
            self.outstanding[test] = 0;
            self.emit_finished(test, TestStatus::Failed, consumer);
        }
    }
}

/// On Linux, make this process the reaper of orphaned descendants so the processes a test
/// leaves behind can be found (and zombies reaped) by process group.
fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes no pointers.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// A run id unique enough to keep concurrent runs apart: time and process id.
///
/// ```
/// assert_ne!(shardtest::run::new_run_id(), "");
/// ```
pub fn new_run_id() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{:x}", t.as_millis(), std::process::id())
}

/// Directory under the target dir where a run keeps its artifacts.
///
/// ```
/// let d = shardtest::run::default_artifact_root(std::path::Path::new("/t"), "r1");
/// assert_eq!(d, std::path::Path::new("/t/shardtest/runs/r1"));
/// ```
pub fn default_artifact_root(target_dir: &Path, run_id: &str) -> PathBuf {
    target_dir.join("shardtest").join("runs").join(run_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard_tests(n: usize) -> Vec<ShardTest> {
        let bin = Arc::new(TestBinary {
            id: crate::id::BinaryId::new("b"),
            path: "/bin/true".into(),
            package_name: "b".into(),
            package_version: "0.1.0".into(),
            package_dir: ".".into(),
            kind: "lib".into(),
            target_name: "b".into(),
            bin_exes: Default::default(),
            out_dir: None,
            custom_harness: false,
            doctest: None,
        });
        (0..n)
            .map(|i| ShardTest {
                case: TestCase {
                    id: format!("b t{i:02}").parse().unwrap(),
                    ignored: false,
                    attributes: Default::default(),
                },
                binary: Arc::clone(&bin),
                estimate: Duration::from_millis((i % 7) as u64),
                skip: false,
            })
            .collect()
    }

    #[test]
    fn shuffle_is_a_permutation_and_reproducible() {
        let t = shard_tests(30);
        let a = start_order(&t, Some(7));
        assert_eq!(a, start_order(&t, Some(7)));
        assert_ne!(a, start_order(&t, Some(8)));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn default_order_is_longest_first() {
        let t = shard_tests(10);
        let o = start_order(&t, None);
        assert!(o.windows(2).all(|w| t[w[0]].estimate >= t[w[1]].estimate));
    }

    #[test]
    fn a_long_test_gets_a_batch_of_its_own() {
        let mut t = shard_tests(40);
        t[7].estimate = Duration::from_secs(5);
        let mut c = RunnerConfig::for_tests("/tmp".into(), ShardSpec::WHOLE);
        c.isolation = Isolation::Batch;
        c.workers = 2;
        let jobs = make_jobs(&t, &start_order(&t, None), &c, 1);
        let with_long = jobs.iter().find(|j| j.tests.contains(&7)).unwrap();
        assert_eq!(
            with_long.tests,
            vec![7],
            "the 5 s test shares its process with nobody"
        );
    }

    #[test]
    fn batches_cover_every_plain_test_once() {
        let t = shard_tests(50);
        let mut c = RunnerConfig::for_tests("/tmp".into(), ShardSpec::WHOLE);
        c.isolation = Isolation::Batch;
        c.workers = 2;
        let order = start_order(&t, None);
        let jobs = make_jobs(&t, &order, &c, 1);
        assert!(jobs.len() >= 8, "every worker gets several batches");
        let mut all: Vec<usize> = jobs.iter().flat_map(|j| j.tests.clone()).collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());

        // Trivial tests are not split into batches shorter than a process start is worth,
        // but each worker still gets its share.
        let mut trivial = shard_tests(1000);
        for x in &mut trivial {
            x.estimate = Duration::from_micros(10);
        }
        let jobs = make_jobs(&trivial, &start_order(&trivial, None), &c, 1);
        let sizes: Vec<usize> = jobs.iter().map(|j| j.tests.len()).collect();
        assert_eq!(sizes, [500, 500]);
    }
}
