//! Batched execution: many plain tests of one binary in one process
//! (`<bin> --exact a b c --test-threads 1`). libtest announces each test as it starts
//! (`test NAME ... `) and ends (`ok` / `FAILED`), so reading its output as it streams times
//! every test; failures' captured output is taken from libtest's closing `failures:` section.
//! When the process dies mid-batch, the test that was running is the one that crashed (or
//! timed out), and the tests that had not begun go back to the scheduler as a new batch.
//!
//! This file starts the batch's process and follows its output (`BatchState`); `end` says
//! what the process's end means for each test.

mod end;

use super::libtest_output::{
    LineResult, parse_failure_header, parse_test_line, parse_test_started, resolve_name,
};
use super::process::{TAIL_BYTES, test_command};
use super::{Job, RunnerConfig, ShardTest, TestResult, WorkerMsg};
use crate::doctest::DocArgs;
use crate::event::AttemptOutcome;
use end::Batch;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Child;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

/// Most tests in one batch (keeps command lines far below the OS limit).
pub(super) const MAX_BATCH: usize = 512;

/// The test running now, and when it began.
struct Current {
    test: usize,
    began: Instant,
    began_at: SystemTime,
}

/// Most bytes of one test's own output (or of its `failures:` section) kept in memory in batch
/// mode; beyond it the middle is dropped (the log says so).
const MAX_TEST_OUTPUT: usize = 64 * 1024 * 1024;

struct BatchState<'a> {
    slot: u32,
    attempt: u32,
    by_name: BTreeMap<&'a str, usize>,
    current: Option<Current>,
    done: BTreeSet<usize>,
    /// Failed tests: index, duration, start, what the test printed while it ran.
    failed: Vec<(usize, Duration, SystemTime, Vec<u8>)>,
    failure_output: BTreeMap<usize, String>,
    collecting: Option<usize>,
    held_pass: Option<(usize, TestResult)>,
    /// What the running test printed outside libtest's capture (child processes, raw file
    /// descriptors, stderr): lines between its `test NAME ... ` and its result.
    raw: Vec<u8>,
    /// A `test NAME ... <output>` line was seen: the result may come on a line of its own.
    result_pending: bool,
    /// The last bytes of everything the process printed (for errors about the batch itself).
    recent: String,
    /// The batch's process (0: none, in unit tests).
    pid: i32,
    /// The run's id, which every process of the batch carries in its environment.
    run_id: &'a str,
    /// Its children, and the runner's orphans from this slot, seen so far.
    seen_children: BTreeSet<i32>,
    /// Per test, the children of the batch process first seen alive when it ended: the
    /// processes it started and left running. It leaked if they outlive the batch.
    blame: BTreeMap<usize, Vec<i32>>,
    /// Passing tests held back until the batch ends because they left processes running.
    suspects: Vec<(usize, TestResult)>,
    /// A doctest batch until its first test begins: when cargo was started (the time until
    /// then is the batch's start-up, reported as [`WorkerMsg::DocSetup`]).
    doc_started: Option<Instant>,
}

impl<'a> BatchState<'a> {
    /// The state before the batch's first line: `by_name` maps each test's name to its index.
    fn new(slot: u32, attempt: u32, by_name: BTreeMap<&'a str, usize>) -> Self {
        BatchState {
            run_id: "",
            slot,
            attempt,
            by_name,
            current: None,
            done: BTreeSet::new(),
            failed: Vec::new(),
            failure_output: BTreeMap::new(),
            collecting: None,
            held_pass: None,
            raw: Vec::new(),
            result_pending: false,
            recent: String::new(),
            pid: 0,
            seen_children: BTreeSet::new(),
            blame: BTreeMap::new(),
            suspects: Vec::new(),
            doc_started: None,
        }
    }

    /// Notes the processes that appeared while `test` ran: new children of the batch
    /// process, and new orphans handed to the runner (a subreaper) from this slot. A test's
    /// child moves to the runner when it daemonises (`setsid` from a group leader, a double
    /// fork), and, on some kernels, when the libtest thread that started it exits, before the
    /// runner reads the test's result line.
    fn note_children(&mut self, test: usize) {
        if self.pid == 0 {
            return;
        }
        let mut now = super::leak::children_of(self.pid);
        now.extend(super::leak::orphans_now(self.run_id, self.slot));
        let new: Vec<i32> = now
            .into_iter()
            .filter(|p| self.seen_children.insert(*p))
            .collect();
        if !new.is_empty() {
            self.blame.entry(test).or_default().extend(new);
        }
    }

    fn lookup(&self) -> impl Fn(&str) -> Option<usize> + '_ {
        |n: &str| self.by_name.get(n).copied()
    }

    fn begin(&mut self, test: usize, tx: &Sender<WorkerMsg>) {
        if self.current.as_ref().is_some_and(|c| c.test == test) {
            return;
        }
        let now = Instant::now();
        if let Some(started) = self.doc_started.take() {
            let _ = tx.send(WorkerMsg::DocSetup {
                test,
                setup: now.saturating_duration_since(started),
            });
        }
        self.current = Some(Current {
            test,
            began: now,
            began_at: SystemTime::now(),
        });
        self.raw.clear();
        let _ = tx.send(WorkerMsg::Began {
            slot: self.slot,
            test,
            at: now,
        });
    }

    fn end(&mut self, test: usize, result: &LineResult, tx: &Sender<WorkerMsg>) {
        self.begin(test, tx);
        self.result_pending = false;
        let Some(cur) = self.current.take() else {
            return;
        };
        let duration = cur.began.elapsed();
        self.done.insert(cur.test);
        self.note_children(cur.test);
        if *result == LineResult::Failed {
            let raw = std::mem::take(&mut self.raw);
            self.failed.push((cur.test, duration, cur.began_at, raw));
            return;
        }
        self.raw.clear();
        // `ignored` for a test we asked to run: it ran as far as the harness lets it, as in
        // process mode (exit status 0).
        let result = TestResult {
            outcome: AttemptOutcome::Passed,
            duration,
            started_at: cur.began_at,
            leaked: false,
            log: None,
            output_tail: String::new(),
        };
        if self.blame.contains_key(&cur.test) {
            self.suspects.push((cur.test, result));
            return;
        }
        // Hold back the latest pass: if the process leaves children behind, it gets the blame.
        if let Some((test, r)) = self.held_pass.replace((cur.test, result)) {
            let _ = tx.send(WorkerMsg::Ended {
                slot: self.slot,
                test,
                attempt: self.attempt,
                result: r,
            });
        }
    }

    fn remember(&mut self, line: &str) {
        self.recent.push_str(line);
        self.recent.push('\n');
        if self.recent.len() > 2 * TAIL_BYTES as usize {
            let mut cut = self.recent.len() - TAIL_BYTES as usize;
            while !self.recent.is_char_boundary(cut) {
                cut += 1;
            }
            self.recent.drain(..cut);
        }
    }

    fn raw_line(&mut self, text: &str) {
        if self.raw.len() + text.len() < MAX_TEST_OUTPUT {
            self.raw.extend_from_slice(text.as_bytes());
            self.raw.push(b'\n');
        }
    }

    fn line(&mut self, line: &str, tx: &Sender<WorkerMsg>) {
        self.remember(line);
        if let Some((test, result)) = parse_test_line(line, self.lookup()) {
            self.end(test, &result, tx);
            return;
        }
        // `test NAME ... <output of the test>`: the test began and printed outside the
        // capture on the same line; its result follows on a line of its own.
        if let Some(rest) = line.strip_prefix("test ") {
            let mut from = 0;
            while let Some(at) = rest[from..].find(" ... ") {
                let split = from + at;
                if let Some(test) = resolve_name(&rest[..split], self.lookup()) {
                    self.begin(test, tx);
                    self.result_pending = true;
                    let after = rest[split + 5..].to_string();
                    self.raw_line(&after);
                    return;
                }
                from = split + 1;
            }
        }
        if self.result_pending
            && let Some(cur) = self.current.as_ref().map(|c| c.test)
            && let Some((_, result)) =
                parse_test_line(&format!("test x ... {line}"), |n| (n == "x").then_some(()))
        {
            self.end(cur, &result, tx);
            return;
        }
        if self.current.is_some() {
            self.raw_line(line);
            return;
        }
        if line == "failures:" {
            self.collecting = None;
            return;
        }
        if let Some(test) = parse_failure_header(line, self.lookup()) {
            self.collecting = Some(test);
            return;
        }
        if let Some(test) = self.collecting {
            let out = self.failure_output.entry(test).or_default();
            if out.len() < MAX_TEST_OUTPUT {
                out.push_str(line);
                out.push('\n');
            }
        }
    }

    /// A partial line `test NAME ... ` means NAME has begun.
    fn partial(&mut self, partial: &str, tx: &Sender<WorkerMsg>) {
        if let Some(test) = parse_test_started(partial, self.lookup()) {
            self.begin(test, tx);
        }
    }
}

/// Runs one batch and reports every test of it (`Ended` or, for tests that never began,
/// `Unrun`).
///
/// The process's stdout and stderr share one pipe, so what a test prints outside libtest's
/// capture (child processes, raw file descriptors, stderr) lands between its `test NAME ... `
/// and its result, in order, and is kept with the test if it fails.
pub(super) fn run_batch(
    slot: u32,
    job: &Job,
    tests: &[ShardTest],
    config: &RunnerConfig,
    tx: &Sender<WorkerMsg>,
    stop: &std::sync::atomic::AtomicBool,
) {
    let first = &tests[job.tests[0]];
    // Doctests run through cargo with filters chosen to select exactly the batch.
    let narrowed;
    let (job, doc_args) = if first.binary.doctest.is_some() {
        match super::doctest::narrow(slot, job, tests, tx) {
            Some((j, a)) => {
                narrowed = j;
                (&narrowed, Some(a))
            }
            None => return,
        }
    } else {
        (job, None)
    };
    let batch = Batch {
        slot,
        job,
        tests,
        config,
        tx,
        doc: doc_args.is_some(),
        start_at: SystemTime::now(),
        start: Instant::now(),
    };
    let (mut child, reader) = match spawn(&batch, doc_args.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            let message = format!("{}: {e}", first.binary.path.display());
            let outcome = AttemptOutcome::SpawnFailed { message };
            batch.report_unstarted(&job.tests, &outcome, "", None);
            return;
        }
    };
    let pgid = child.id() as i32;
    let _ = tx.send(WorkerMsg::Spawned { slot, pgid });
    let mut st = follow(&batch, &mut child, reader, pgid);
    let status = child.wait();
    let exit = batch.exit(&mut st, status, pgid, stop);
    batch.report(st, &exit);
}

/// Starts the batch's process (through cargo with `doc_args` for doctests), its stdout and
/// stderr sharing one pipe; the child and the pipe's read end.
fn spawn(
    batch: &Batch<'_>,
    doc_args: Option<&DocArgs>,
) -> std::io::Result<(Child, std::io::PipeReader)> {
    let (job, tests, config) = (batch.job, batch.tests, batch.config);
    let first = &tests[job.tests[0]];
    let (reader, writer) = std::io::pipe()?;
    let mut cmd = match doc_args {
        Some(a) => super::doctest::command(&first.binary, a, config, batch.slot, job.attempt),
        None => {
            let mut cmd = test_command(&first.binary, config, batch.slot, job.attempt);
            cmd.arg("--exact");
            for &i in &job.tests {
                cmd.arg(tests[i].case.id.name.as_str());
            }
            cmd
        }
    };
    cmd.args(["--test-threads", "1"]);
    if job.tests.iter().any(|&i| tests[i].case.ignored) {
        cmd.arg("--include-ignored");
    }
    cmd.args(&config.extra_args);
    cmd.stdout(writer.try_clone()?).stderr(writer);
    let child = cmd.spawn()?;
    // `cmd` (and with it our copies of the pipe's write end) is dropped here, so the pipe
    // ends when the test process and its children close it.
    Ok((child, reader))
}

/// Reads the output of the batch's process `pgid` until it exits, telling the scheduler as
/// each test begins and ends; the state it leaves for the batch's end.
fn follow<'a>(
    batch: &Batch<'a>,
    child: &mut Child,
    reader: std::io::PipeReader,
    pgid: i32,
) -> BatchState<'a> {
    let tests = batch.tests;
    let mut st = BatchState::new(
        batch.slot,
        batch.job.attempt,
        batch
            .job
            .tests
            .iter()
            .map(|&i| (tests[i].case.id.name.as_str(), i))
            .collect(),
    );
    st.pid = pgid;
    st.run_id = batch.config.run_id.as_str();
    if batch.doc {
        st.doc_started = Some(batch.start);
    }
    // The batch process is the runner's child with this slot's environment: not an orphan.
    st.seen_children.insert(pgid);
    let tx = batch.tx;
    super::capture::read_until_exit(reader, child, |chunk, complete| {
        if complete {
            // Borrowed unless the line is not UTF-8: no allocation per line.
            let line = String::from_utf8_lossy(chunk);
            st.line(line.trim_end_matches('\r'), tx);
        } else {
            let partial = String::from_utf8_lossy(chunk);
            st.partial(&partial, tx);
        }
    });
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state<'a>(names: &[&'a str]) -> BatchState<'a> {
        BatchState::new(
            0,
            1,
            names.iter().enumerate().map(|(i, n)| (*n, i)).collect(),
        )
    }

    fn feed(st: &mut BatchState<'_>, text: &str) -> Vec<WorkerMsg> {
        let (tx, rx) = std::sync::mpsc::channel();
        for line in text.lines() {
            st.line(line, &tx);
        }
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn libtest_and_padded_libtest_mimic_lines_are_both_understood() {
        for out in [
            "test a::one ... ok\ntest a::three ... FAILED\ntest a::two ... ok\n\nfailures:\n\n---- a::three stdout ----\nboom\n\nfailures:\n    a::three\n",
            "test a::one   ... ok\ntest a::three ... FAILED\ntest a::two   ... ok\n\nfailures:\n\n---- a::three ----\nboom\n\nfailures:\n    a::three\n",
        ] {
            let mut st = state(&["a::one", "a::two", "a::three"]);
            let msgs = feed(&mut st, out);
            let began = msgs
                .iter()
                .filter(|m| matches!(m, WorkerMsg::Began { .. }))
                .count();
            assert_eq!(began, 3, "{out}");
            assert_eq!(st.done.len(), 3, "every test is seen to finish: {out}");
            assert_eq!(st.failed.len(), 1);
            assert_eq!(
                st.failure_output.get(&2).map(String::as_str),
                Some("boom\n\n")
            );
        }
    }

    #[test]
    fn a_partial_line_means_the_test_has_begun() {
        let mut st = state(&["slow::one"]);
        let (tx, rx) = std::sync::mpsc::channel();
        st.partial("test slow::one   ... ", &tx);
        drop(tx);
        assert!(matches!(
            rx.into_iter().next(),
            Some(WorkerMsg::Began { test: 0, .. })
        ));
        assert_eq!(st.current.as_ref().map(|c| c.test), Some(0));
    }

    #[test]
    fn every_libtest_line_shape_maps_to_its_test() {
        let names = [
            "kmerge",
            "src/lib.rs - f (line 3)",
            "src/lib.rs - g (line 9)",
            "reasoned",
            "name with spaces",
            "fails - should panic",
        ];
        let mut st = state(&names);
        let out = "running 6 tests\n\
            test kmerge - should panic ... ok\n\
            test src/lib.rs - f (line 3) - compile ... ok\n\
            test src/lib.rs - g (line 9) - compile fail ... FAILED\n\
            test reasoned ... ignored, needs a database ... or two\n\
            test name with spaces ... ok\n\
            test fails - should panic - should panic ... FAILED\n\
            \nfailures:\n\n---- src/lib.rs - g (line 9) stdout ----\nit compiled\n\
            \nfailures:\n    src/lib.rs - g (line 9)\n\ntest result: FAILED. 3 passed; 2 failed\n";
        feed(&mut st, out);
        assert_eq!(st.done.len(), 6, "every test is seen to finish");
        let failed: Vec<usize> = st.failed.iter().map(|f| f.0).collect();
        assert_eq!(failed, [2, 5]);
        assert_eq!(
            st.failure_output.get(&2).map(String::as_str),
            Some("it compiled\n\n")
        );
    }

    #[test]
    fn output_of_a_test_outside_the_capture_is_its_own() {
        let mut st = state(&["a", "b"]);
        let (tx, rx) = std::sync::mpsc::channel();
        st.partial("test a ... ", &tx);
        for line in [
            "test a ... from a child",
            "more child output",
            "FAILED",
            "test b ... ok",
        ] {
            st.line(line, &tx);
        }
        drop(tx);
        let _ = rx.into_iter().count();
        assert_eq!(st.done.len(), 2);
        assert_eq!(st.failed.len(), 1);
        assert_eq!(
            String::from_utf8_lossy(&st.failed[0].3),
            "from a child\nmore child output\n"
        );
    }
}
