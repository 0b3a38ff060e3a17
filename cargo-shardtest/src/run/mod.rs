//! Running one shard: a scheduler on the calling thread hands tests to `W` worker slots,
//! honouring serial keys and group limits, retries failures, enforces slow-test warnings and
//! hard timeouts, and emits the [`RunEvent`] stream. How a test is executed is the
//! [`Isolation`] strategy's business (one process per test today); the scheduler only sees
//! jobs start and finish.

mod process;

pub use process::{read_tail, signal_name};

use crate::event::{AttemptOutcome, AttemptRecord, EventConsumer, RunEvent, RunInfo, TestStatus};
use crate::id::TestId;
use crate::list::{TestBinary, TestCase};
use crate::plan::ShardSpec;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How tests are executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Isolation {
    /// Every test attempt in its own process (default).
    #[default]
    Process,
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
    /// Kill a test's process group after this long.
    pub timeout: Option<Duration>,
    /// Retries for every failing test (a `#[shard::flaky]` policy can ask for more).
    pub retries: u32,
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
}

impl RunnerConfig {
    /// Per-test artifact directory: `<root>/shard-K-of-N/<binary>/<test>`.
    ///
    /// ```
    /// # use shardtest::run::RunnerConfig;
    /// # use shardtest::plan::ShardSpec;
    /// # use std::time::Duration;
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
    pub fn for_tests(root: PathBuf, shard: ShardSpec) -> Self {
        RunnerConfig {
            workers: 1,
            shard,
            run_id: "test-run".into(),
            fingerprint: String::new(),
            predicted: Duration::ZERO,
            slow_after: Duration::from_secs(60),
            timeout: None,
            retries: 0,
            logs_dir: root.join("logs"),
            artifact_root: root,
            extra_args: vec![],
            leak_grace: Duration::from_millis(100),
            isolation: Isolation::Process,
        }
    }
}

/// A file-name-safe rendering of an id part: `::` becomes `..`, anything outside
/// `[A-Za-z0-9_.-]` becomes `_` (plus a short hash then, so different names never collide).
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

/// One unit of work handed to a worker: one attempt of one test.
#[derive(Clone, Debug)]
pub(crate) struct Job {
    test: usize,
    attempt: u32,
}

#[derive(Debug)]
pub(crate) struct JobOutcome {
    outcome: AttemptOutcome,
    duration: Duration,
    started_at: SystemTime,
    leaked: bool,
    log: Option<PathBuf>,
    output_tail: String,
}

pub(crate) enum WorkerMsg {
    Started {
        slot: u32,
        pgid: i32,
        at: Instant,
    },
    Done {
        slot: u32,
        job: Job,
        outcome: JobOutcome,
    },
    Interrupt,
}

/// Lets a signal handler stop the run in progress: every running test's process group is
/// killed, queued tests are reported as not run, and the reports are still written.
#[derive(Clone, Default)]
pub struct Interrupter {
    target: Arc<Mutex<Option<Sender<WorkerMsg>>>>,
}

impl Interrupter {
    /// Asks the current run (if any) to stop. Safe to call from a signal-handling thread.
    pub fn interrupt(&self) {
        if let Ok(guard) = self.target.lock() {
            if let Some(tx) = guard.as_ref() {
                let _ = tx.send(WorkerMsg::Interrupt);
            }
        }
    }

    fn attach(&self, tx: Sender<WorkerMsg>) {
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
}

struct Running {
    job: Job,
    pgid: Option<i32>,
    started: Instant,
    slow_warnings: u32,
    killed: Option<AttemptOutcome>,
}

struct Scheduler<'a> {
    tests: Arc<Vec<ShardTest>>,
    config: &'a RunnerConfig,
    queue: VecDeque<Job>,
    delayed: Vec<(Instant, Job)>,
    slots: Vec<Option<Running>>,
    serial_busy: BTreeMap<String, usize>,
    group_busy: BTreeMap<String, u32>,
    attempts: Vec<Vec<AttemptRecord>>,
    interrupted: bool,
    outcome: RunOutcome,
}

/// Runs the tests of one shard and reports every event to `consumer`.
///
/// Tests run longest-estimate first (ties by id). Each worker slot runs one test at a time;
/// a serial test never overlaps another with the same key, and a group never exceeds its
/// limit; blocked tests are passed over instead of holding a worker.
pub fn run_shard(
    tests: Vec<ShardTest>,
    config: &RunnerConfig,
    consumer: &mut dyn EventConsumer,
    interrupter: &Interrupter,
) -> std::io::Result<RunOutcome> {
    std::fs::create_dir_all(&config.logs_dir)?;
    become_subreaper();
    let run_start = Instant::now();
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by(|&a, &b| {
        tests[b]
            .estimate
            .cmp(&tests[a].estimate)
            .then_with(|| tests[a].case.id.cmp(&tests[b].case.id))
    });
    let to_run = tests.iter().filter(|t| !t.skip).count();
    consumer.on_event(&RunEvent::RunStarted(RunInfo {
        run_id: config.run_id.clone(),
        shard: config.shard,
        fingerprint: config.fingerprint.clone(),
        workers: config.workers,
        to_run,
        predicted: config.predicted,
        started_at: SystemTime::now(),
    }));
    let mut queue = VecDeque::new();
    for &i in &order {
        if tests[i].skip {
            consumer.on_event(&RunEvent::TestSkipped {
                id: tests[i].case.id.clone(),
                status: TestStatus::Skipped,
                attributes: tests[i].case.attributes.clone(),
            });
        } else {
            queue.push_back(Job {
                test: i,
                attempt: 1,
            });
        }
    }

    let workers = config.workers.max(1);
    let tests = Arc::new(tests);
    let (tx, rx) = mpsc::channel::<WorkerMsg>();
    interrupter.attach(tx.clone());
    let mut job_senders = Vec::new();
    let mut handles = Vec::new();
    for slot in 0..workers {
        let (jtx, jrx) = mpsc::channel::<Job>();
        job_senders.push(jtx);
        let tests = Arc::clone(&tests);
        let config = config.clone();
        let tx = tx.clone();
        handles.push(std::thread::spawn(move || {
            worker_loop(slot, jrx, &tests, &config, &tx)
        }));
    }
    drop(tx);

    let mut s = Scheduler {
        attempts: vec![Vec::new(); tests.len()],
        tests: Arc::clone(&tests),
        config,
        queue,
        delayed: Vec::new(),
        slots: (0..workers).map(|_| None).collect(),
        serial_busy: BTreeMap::new(),
        group_busy: BTreeMap::new(),
        interrupted: false,
        outcome: RunOutcome::default(),
    };
    s.event_loop(&rx, &job_senders, consumer);
    interrupter.detach();
    drop(job_senders);
    for h in handles {
        let _ = h.join();
    }
    s.outcome.interrupted = s.interrupted;
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
) {
    for job in jobs {
        match config.isolation {
            Isolation::Process => process::run_attempt(slot, &job, &tests[job.test], config, tx),
        }
    }
}

impl Scheduler<'_> {
    fn event_loop(
        &mut self,
        rx: &Receiver<WorkerMsg>,
        jobs: &[Sender<Job>],
        consumer: &mut dyn EventConsumer,
    ) {
        loop {
            let now = Instant::now();
            self.release_delayed(now);
            self.dispatch(jobs, consumer);
            let running = self.slots.iter().any(Option::is_some);
            if !running && self.queue.is_empty() && self.delayed.is_empty() {
                return;
            }
            let wait = self
                .next_deadline()
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
            }
            self.check_deadlines(consumer);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = self.delayed.iter().map(|(t, _)| *t).min();
        for r in self.slots.iter().flatten() {
            if r.killed.is_some() {
                continue;
            }
            let slow = r.started + self.config.slow_after * (r.slow_warnings + 1);
            next = Some(next.map_or(slow, |n| n.min(slow)));
            if let Some(t) = self.config.timeout {
                let hard = r.started + t;
                next = Some(next.map_or(hard, |n| n.min(hard)));
            }
        }
        next
    }

    fn check_deadlines(&mut self, consumer: &mut dyn EventConsumer) {
        let now = Instant::now();
        for r in self.slots.iter_mut().flatten() {
            if r.killed.is_some() {
                continue;
            }
            let elapsed = now.saturating_duration_since(r.started);
            if let Some(t) = self.config.timeout {
                if elapsed >= t {
                    if let Some(pgid) = r.pgid {
                        process::kill_group(pgid, libc::SIGKILL);
                    }
                    r.killed = Some(AttemptOutcome::TimedOut);
                    continue;
                }
            }
            if elapsed >= self.config.slow_after * (r.slow_warnings + 1) {
                r.slow_warnings += 1;
                consumer.on_event(&RunEvent::TestSlow {
                    id: self.tests[r.job.test].case.id.clone(),
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
        ready.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.test.cmp(&b.1.test)));
        // Retries go to the front: they are already late.
        for (_, job) in ready.into_iter().rev() {
            self.queue.push_front(job);
        }
    }

    fn allowed(&self, test: &ShardTest) -> bool {
        if let Some(key) = &test.case.attributes.serial {
            if self.serial_busy.get(key).copied().unwrap_or(0) > 0 {
                return false;
            }
        }
        if let Some(g) = &test.case.attributes.group {
            if self.group_busy.get(&g.name).copied().unwrap_or(0) >= g.max.max(1) {
                return false;
            }
        }
        true
    }

    fn dispatch(&mut self, jobs: &[Sender<Job>], consumer: &mut dyn EventConsumer) {
        if self.interrupted {
            return;
        }
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_some() {
                continue;
            }
            let Some(pos) = self
                .queue
                .iter()
                .position(|j| self.allowed(&self.tests[j.test]))
            else {
                return;
            };
            let Some(job) = self.queue.remove(pos) else {
                return;
            };
            let test = &self.tests[job.test];
            if let Some(key) = &test.case.attributes.serial {
                *self.serial_busy.entry(key.clone()).or_default() += 1;
            }
            if let Some(g) = &test.case.attributes.group {
                *self.group_busy.entry(g.name.clone()).or_default() += 1;
            }
            consumer.on_event(&RunEvent::TestStarted {
                id: test.case.id.clone(),
                attempt: job.attempt,
                worker: slot as u32,
            });
            self.slots[slot] = Some(Running {
                job: job.clone(),
                pgid: None,
                started: Instant::now(),
                slow_warnings: 0,
                killed: None,
            });
            if jobs[slot].send(job).is_err() {
                // The worker thread is gone; nothing more can run.
                self.interrupted = true;
                return;
            }
        }
    }

    fn handle(&mut self, msg: WorkerMsg, consumer: &mut dyn EventConsumer) {
        match msg {
            WorkerMsg::Interrupt => self.interrupt(consumer),
            WorkerMsg::Started { slot, pgid, at, .. } => {
                if let Some(r) = self.slots[slot as usize].as_mut() {
                    r.pgid = Some(pgid);
                    r.started = at;
                    if r.killed.is_some() {
                        process::kill_group(pgid, libc::SIGKILL);
                    }
                }
            }
            WorkerMsg::Done { slot, job, outcome } => self.finish(slot, job, outcome, consumer),
        }
    }

    fn interrupt(&mut self, consumer: &mut dyn EventConsumer) {
        if !self.interrupted {
            self.interrupted = true;
            for r in self.slots.iter_mut().flatten() {
                r.killed = Some(AttemptOutcome::Interrupted);
                if let Some(pgid) = r.pgid {
                    process::kill_group(pgid, libc::SIGKILL);
                }
            }
            let mut pending: Vec<Job> = self.queue.drain(..).collect();
            pending.extend(self.delayed.drain(..).map(|(_, j)| j));
            pending.sort_by(|a, b| self.tests[a.test].case.id.cmp(&self.tests[b.test].case.id));
            for job in pending {
                self.emit_finished(job.test, TestStatus::NotRun, consumer);
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
        consumer.on_event(&RunEvent::TestFinished {
            id: t.case.id.clone(),
            status,
            attempts: std::mem::take(&mut self.attempts[test]),
            attributes: t.case.attributes.clone(),
        });
    }

    fn finish(&mut self, slot: u32, job: Job, out: JobOutcome, consumer: &mut dyn EventConsumer) {
        let running = self.slots[slot as usize].take();
        let test = &self.tests[job.test];
        if let Some(key) = &test.case.attributes.serial {
            if let Some(n) = self.serial_busy.get_mut(key) {
                *n = n.saturating_sub(1);
            }
        }
        if let Some(g) = &test.case.attributes.group {
            if let Some(n) = self.group_busy.get_mut(&g.name) {
                *n = n.saturating_sub(1);
            }
        }
        // A process we killed reports SIGKILL; say why we killed it.
        let outcome = match (running.and_then(|r| r.killed), out.outcome) {
            (Some(reason), AttemptOutcome::Crashed { .. }) => reason,
            (_, o) => o,
        };
        let passed = outcome.is_pass();
        let interrupted = outcome == AttemptOutcome::Interrupted;
        let record = AttemptRecord {
            attempt: job.attempt,
            outcome,
            duration: out.duration,
            started_at: out.started_at,
            worker: slot,
            leaked: out.leaked,
            log: out.log,
            output_tail: out.output_tail,
        };
        let max_attempts = 1 + self
            .config
            .retries
            .max(test.case.attributes.flaky.as_ref().map_or(0, |f| f.retries));
        self.attempts[job.test].push(record.clone());
        if passed {
            let status = if job.attempt > 1 {
                TestStatus::Flaky
            } else {
                TestStatus::Passed
            };
            self.emit_finished(job.test, status, consumer);
        } else if interrupted {
            self.emit_finished(job.test, TestStatus::NotRun, consumer);
        } else if job.attempt < max_attempts && !self.interrupted {
            let backoff = test
                .case
                .attributes
                .flaky
                .as_ref()
                .map_or(Duration::ZERO, |f| f.backoff_before(job.attempt));
            consumer.on_event(&RunEvent::TestRetrying {
                id: test.case.id.clone(),
                failed: record,
                backoff,
            });
            self.delayed.push((
                Instant::now() + backoff,
                Job {
                    test: job.test,
                    attempt: job.attempt + 1,
                },
            ));
        } else {
            self.emit_finished(job.test, TestStatus::Failed, consumer);
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

/// A run id unique enough to keep concurrent runs apart: time, process id and a counter.
pub fn new_run_id() -> String {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}-{:x}", t.as_millis(), std::process::id())
}

/// Directory under the target dir where a run keeps its artifacts.
pub fn default_artifact_root(target_dir: &Path, run_id: &str) -> PathBuf {
    target_dir.join("shardtest").join("runs").join(run_id)
}
