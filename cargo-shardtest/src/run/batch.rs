//! Batched execution: many plain tests of one binary in one process
//! (`<bin> --exact a b c --test-threads 1`). libtest announces each test as it starts
//! (`test NAME ... `) and ends (`ok` / `FAILED`), so reading its output as it streams times
//! every test; failures' captured output is taken from libtest's closing `failures:` section.
//! When the process dies mid-batch, the test that was running is the one that crashed (or
//! timed out), and the tests that had not begun go back to the scheduler as a new batch.

use super::process::{TAIL_BYTES, kept_log_path, outcome_of, read_tail, reap_group, test_command};
use super::{Job, RunnerConfig, ShardTest, TestResult, WorkerMsg};
use crate::event::AttemptOutcome;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Read;
use std::process::Stdio;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

/// Most tests in one batch (keeps command lines far below the OS limit).
pub(super) const MAX_BATCH: usize = 512;

struct Current {
    test: usize,
    began: Instant,
    began_at: SystemTime,
}

struct BatchState<'a> {
    slot: u32,
    attempt: u32,
    by_name: BTreeMap<&'a str, usize>,
    current: Option<Current>,
    done: BTreeSet<usize>,
    failed: Vec<(usize, Duration, SystemTime)>,
    failure_output: BTreeMap<usize, String>,
    collecting: Option<usize>,
    held_pass: Option<(usize, TestResult)>,
}

impl<'a> BatchState<'a> {
    /// The state before the batch's first line: `by_name` maps each test's name to its index.
    fn new(slot: u32, attempt: u32, by_name: BTreeMap<&'a str, usize>) -> Self {
        BatchState {
            slot,
            attempt,
            by_name,
            current: None,
            done: BTreeSet::new(),
            failed: Vec::new(),
            failure_output: BTreeMap::new(),
            collecting: None,
            held_pass: None,
        }
    }

    /// The batch's test named `name`: as printed, or without a suffix libtest adds to a
    /// doctest's result line (` - compile`, ` - compile fail`, ` - should panic`).
    fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied().or_else(|| {
            crate::doctest::RESULT_SUFFIXES
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .and_then(|n| self.by_name.get(n).copied())
        })
    }

    fn begin(&mut self, name: &str, tx: &Sender<WorkerMsg>) {
        let Some(test) = self.index_of(name) else {
            return;
        };
        if self.current.as_ref().is_some_and(|c| c.test == test) {
            return;
        }
        let now = Instant::now();
        self.current = Some(Current {
            test,
            began: now,
            began_at: SystemTime::now(),
        });
        let _ = tx.send(WorkerMsg::Began {
            slot: self.slot,
            test,
            at: now,
        });
    }

    fn end(&mut self, name: &str, result: &str, tx: &Sender<WorkerMsg>) {
        self.begin(name, tx);
        let Some(cur) = self.current.take() else {
            return;
        };
        let duration = cur.began.elapsed();
        self.done.insert(cur.test);
        if result.starts_with("FAILED") {
            self.failed.push((cur.test, duration, cur.began_at));
            return;
        }
        let result = TestResult {
            outcome: AttemptOutcome::Passed,
            duration,
            started_at: cur.began_at,
            leaked: false,
            log: None,
            output_tail: String::new(),
        };
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

    fn line(&mut self, line: &str, tx: &Sender<WorkerMsg>) {
        // Some harnesses (libtest-mimic) pad names to one width: `test a   ... ok`.
        if let Some(rest) = line.strip_prefix("test ")
            && let Some((name, result)) = rest.split_once(" ... ")
            && let name = name.trim_end()
            && self.index_of(name).is_some()
        {
            self.end(name, result.trim(), tx);
            return;
        }
        if line == "failures:" {
            self.collecting = None;
            return;
        }
        // libtest: `---- NAME stdout ----`; libtest-mimic: `---- NAME ----`.
        if let Some(name) = line.strip_prefix("---- ").and_then(|r| {
            r.strip_suffix(" stdout ----")
                .or_else(|| r.strip_suffix(" ----"))
        }) {
            self.collecting = self.index_of(name);
            return;
        }
        if let Some(test) = self.collecting {
            let out = self.failure_output.entry(test).or_default();
            if out.len() < TAIL_BYTES as usize * 4 {
                out.push_str(line);
                out.push('\n');
            }
        }
    }

    /// A partial line `test NAME ... ` means NAME has begun.
    fn partial(&mut self, partial: &str, tx: &Sender<WorkerMsg>) {
        if let Some(name) = partial
            .strip_prefix("test ")
            .and_then(|r| r.strip_suffix(" ... "))
            .map(str::trim_end)
            && self.index_of(name).is_some()
        {
            self.begin(name, tx);
        }
    }
}

fn tail_of(text: &str) -> String {
    if text.len() <= TAIL_BYTES as usize {
        return text.to_string();
    }
    let mut cut = text.len() - TAIL_BYTES as usize;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "[... earlier output cut; see the full log ...]\n{}",
        &text[cut..]
    )
}

/// Runs one batch and reports every test of it (`Ended` or, for tests that never began,
/// `Unrun`).
pub(super) fn run_batch(
    slot: u32,
    job: &Job,
    tests: &[ShardTest],
    config: &RunnerConfig,
    tx: &Sender<WorkerMsg>,
) {
    let first = &tests[job.tests[0]];
    let stderr_path = config.logs_dir.join(format!("slot-{slot}.stderr.log"));
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
    let mut cmd = match &doc_args {
        Some(a) => super::doctest::command(&first.binary, a, config, slot, job.attempt),
        None => {
            let mut cmd = test_command(&first.binary, config, slot, job.attempt);
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
    let spawned = File::create(&stderr_path).and_then(|err| {
        cmd.stdout(Stdio::piped()).stderr(err);
        cmd.spawn()
    });
    let start_at = SystemTime::now();
    let start = Instant::now();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let message = format!("{}: {e}", first.binary.path.display());
            for &test in &job.tests {
                let outcome = AttemptOutcome::SpawnFailed {
                    message: message.clone(),
                };
                let result = TestResult::unstarted(outcome, start_at, String::new());
                super::report_at_once(tx, slot, test, job.attempt, start, result);
            }
            return;
        }
    };
    let pgid = child.id() as i32;
    let _ = tx.send(WorkerMsg::Spawned { slot, pgid });

    let mut st = BatchState::new(
        slot,
        job.attempt,
        job.tests
            .iter()
            .map(|&i| (tests[i].case.id.name.as_str(), i))
            .collect(),
    );
    if let Some(mut out) = child.stdout.take() {
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            pending.extend_from_slice(&buf[..n]);
            let mut start_of_line = 0;
            while let Some(nl) = pending[start_of_line..].iter().position(|&b| b == b'\n') {
                // Borrowed unless the line is not UTF-8: no allocation per line.
                let line = String::from_utf8_lossy(&pending[start_of_line..start_of_line + nl]);
                st.line(line.trim_end_matches('\r'), tx);
                start_of_line += nl + 1;
            }
            pending.drain(..start_of_line);
            if !pending.is_empty() {
                let partial = String::from_utf8_lossy(&pending);
                st.partial(&partial, tx);
            }
        }
    }
    let status = child.wait();
    let leaked = reap_group(pgid, config.leak_grace);
    let status_outcome = match status {
        Ok(s) => outcome_of(s),
        Err(e) => AttemptOutcome::SpawnFailed {
            message: format!("waiting for the test binary failed: {e}"),
        },
    };
    let stderr_tail = read_tail(&stderr_path, TAIL_BYTES);
    let exited_ok = status_outcome.is_pass();

    let killed_by_us =
        matches!(status_outcome, AttemptOutcome::Crashed { signal, .. } if signal == libc::SIGKILL);
    if st.done.is_empty() && st.current.is_none() && killed_by_us {
        // Killed (Ctrl-C) before its first test began: nothing of it ran.
        let _ = tx.send(WorkerMsg::Unrun {
            tests: job.tests.clone(),
            attempt: job.attempt,
        });
        return;
    }
    if st.done.is_empty() && st.current.is_none() && !status_outcome.is_pass() {
        // Nothing began: the binary itself failed (bad arguments, a crash at start-up).
        // Report every test of the batch as failed with what it printed, rather than retry
        // forever.
        let tail = format!("the test binary failed before running any test:\n{stderr_tail}");
        for &test in &job.tests {
            let mut result = TestResult::unstarted(status_outcome.clone(), start_at, tail.clone());
            (result.duration, result.leaked) = (start.elapsed(), leaked);
            super::report_at_once(tx, slot, test, job.attempt, start, result);
        }
        return;
    }

    for (test, duration, started_at) in std::mem::take(&mut st.failed) {
        let output = st.failure_output.remove(&test).unwrap_or_default();
        let dir = config.artifact_dir(&tests[test].case.id);
        let log = std::fs::create_dir_all(&dir).ok().and_then(|_| {
            let p = kept_log_path(&dir, job.attempt);
            std::fs::write(&p, &output).ok().map(|_| p)
        });
        let result = TestResult {
            outcome: AttemptOutcome::Failed { code: 101 },
            duration,
            started_at,
            leaked: false,
            log,
            output_tail: tail_of(&output),
        };
        let _ = tx.send(WorkerMsg::Ended {
            slot,
            test,
            attempt: job.attempt,
            result,
        });
    }
    // Leftover processes are blamed on the test that was running when the process died, else
    // on the last test that passed.
    let crashed = st.current.is_some();
    if let Some(cur) = st.current.take() {
        // The process ended while this test ran: it crashed (or we killed it).
        st.done.insert(cur.test);
        let outcome = match status_outcome {
            AttemptOutcome::Passed => AttemptOutcome::Failed { code: 0 },
            other => other,
        };
        let result = TestResult {
            outcome,
            duration: cur.began.elapsed(),
            started_at: cur.began_at,
            leaked,
            log: None,
            output_tail: stderr_tail,
        };
        let _ = tx.send(WorkerMsg::Ended {
            slot,
            test: cur.test,
            attempt: job.attempt,
            result,
        });
    }
    if let Some((test, mut result)) = st.held_pass.take() {
        result.leaked = leaked && !crashed;
        let _ = tx.send(WorkerMsg::Ended {
            slot,
            test,
            attempt: job.attempt,
            result,
        });
    }
    let unrun: Vec<usize> = job
        .tests
        .iter()
        .copied()
        .filter(|t| !st.done.contains(t))
        .collect();
    if !unrun.is_empty() && doc_args.is_some() && exited_ok {
        // cargo finished without running them: running them again would loop forever.
        for test in unrun {
            let tail = format!(
                "`cargo test --doc` ended without running this doctest; it printed:\n{}",
                read_tail(&stderr_path, TAIL_BYTES)
            );
            let result = TestResult::unstarted(AttemptOutcome::Failed { code: 0 }, start_at, tail);
            super::report_at_once(tx, slot, test, job.attempt, start, result);
        }
    } else if !unrun.is_empty() {
        let _ = tx.send(WorkerMsg::Unrun {
            tests: unrun,
            attempt: job.attempt,
        });
    }
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
    fn doctest_result_suffixes_are_understood() {
        let names = [
            "src/lib.rs - a (line 1)",
            "src/lib.rs - b (line 5)",
            "src/lib.rs - c (line 9)",
            "src/lib.rs - d (line 13)",
        ];
        let mut st = state(&names);
        let out = "test src/lib.rs - a (line 1) - compile ... ok\ntest src/lib.rs - b (line 5) - compile fail ... ok\ntest src/lib.rs - c (line 9) - should panic ... ok\ntest src/lib.rs - d (line 13) ... FAILED\ntest src/lib.rs - e (line 20) ... ok\n\nfailures:\n\n---- src/lib.rs - d (line 13) stdout ----\nboom\n";
        feed(&mut st, out);
        assert_eq!(st.done.len(), 4, "the unknown `e` is not one of them");
        assert_eq!(st.failed.len(), 1);
        assert_eq!(
            st.failure_output.get(&3).map(String::as_str),
            Some("boom\n")
        );
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
}
