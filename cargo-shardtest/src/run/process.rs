//! Process-per-test execution: each attempt runs as `<bin> --exact <name> --nocapture` in its
//! own process group, with output captured into a file, and is checked for processes it left
//! behind once it exits.

use super::{RunnerConfig, ShardTest, TestResult, WorkerMsg};
use crate::event::AttemptOutcome;
use nix::sys::signal::Signal;
use shardtest_protocol::env;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Instant, SystemTime};

/// Bytes of captured output shown on screen and kept in reports for a failure.
pub const TAIL_BYTES: u64 = 8 * 1024;

/// A command for a test process of `binary` with the environment every test gets
/// (cargo's variables, `SHARDTEST_*`), in its own process group, stdin closed.
pub(super) fn test_command(
    binary: &crate::list::TestBinary,
    config: &RunnerConfig,
    slot: u32,
    attempt: u32,
) -> Command {
    let mut cmd = Command::new(&binary.path);
    cmd.current_dir(crate::list::existing_dir(&binary.package_dir));
    cmd.envs(binary.cargo_env());
    as_test_process(&mut cmd, config, slot, attempt);
    cmd
}

/// What every process the runner starts for tests gets: the run's `SHARDTEST_*` variables
/// for its worker slot and attempt (and the configuration file's `lock-dir`), no standard input, and a process group of its own (so a
/// timeout or a leak check reaches everything it started).
pub(super) fn as_test_process(cmd: &mut Command, config: &RunnerConfig, slot: u32, attempt: u32) {
    // The configuration file's `lock-dir`, which the tests' library reads.
    cmd.envs(crate::test_env::test_env().iter().map(|(k, v)| (k, v)));
    cmd.env(env::WORKER_ID, slot.to_string())
        .env(env::WORKERS, config.workers.to_string())
        .env(env::SHARD, config.shard.to_string())
        .env(env::RUN_ID, config.run_id.as_str())
        .env(env::ATTEMPT, attempt.to_string());
    cmd.stdin(Stdio::null());
    cmd.process_group(0);
}

/// Runs one attempt of one test in a fresh process: `Spawned` and `Began` as soon as the
/// process exists (so the scheduler can enforce timeouts), `Ended` when it is over.
pub(super) fn run_single(
    slot: u32,
    index: usize,
    attempt: u32,
    test: &ShardTest,
    config: &RunnerConfig,
    tx: &Sender<WorkerMsg>,
) {
    let log_path = config.logs_dir.join(format!("slot-{slot}.log"));
    let artifact_dir = config.artifact_dir(&test.case.id);
    let started_at = SystemTime::now();
    let start = Instant::now();
    let spawned = File::create(&log_path).and_then(|log| {
        let err = log.try_clone()?;
        let mut cmd = test_command(&test.binary, config, slot, attempt);
        // No `--nocapture`: libtest's own capture is what makes a chatty passing test cheap
        // (see `capture.rs`). A whole binary (`harness = false`) gets no test arguments.
        if !crate::list::is_whole_binary(test.case.id.name.as_str()) {
            cmd.arg("--exact").arg(test.case.id.name.as_str());
            if test.case.ignored {
                cmd.arg("--ignored");
            }
        }
        if config.keep_output {
            // libtest prints a passing test's captured output too, so the log holds it.
            cmd.arg("--show-output");
        }
        cmd.args(&config.extra_args);
        cmd.env(env::TEST_ID, test.case.id.to_string())
            .env(env::ARTIFACT_DIR, &artifact_dir);
        cmd.stdout(log).stderr(err);
        cmd.spawn()
    });
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let outcome = AttemptOutcome::SpawnFailed {
                message: format!("{}: {e}", test.binary.path.display()),
            };
            let result = TestResult::unstarted(outcome, started_at, String::new());
            super::report_at_once(tx, slot, index, attempt, start, result);
            return;
        }
    };
    let pgid = child.id() as i32;
    let _ = tx.send(WorkerMsg::Spawned { slot, pgid });
    let _ = tx.send(WorkerMsg::Began {
        slot,
        test: index,
        at: start,
    });
    let status = child.wait();
    let duration = start.elapsed();
    let leaked = reap_group(pgid, slot, config);
    let outcome = match status {
        Ok(s) => outcome_of(s),
        Err(e) => AttemptOutcome::SpawnFailed {
            message: format!("waiting for the test failed: {e}"),
        },
    };
    let keep = !outcome.is_pass() || leaked || config.keep_output;
    let (log, output_tail) = if keep {
        let kept = keep_log(&log_path, &artifact_dir, &test.case.id, attempt);
        (kept, read_tail(&log_path, TAIL_BYTES))
    } else {
        (None, String::new())
    };
    let result = TestResult {
        outcome,
        duration,
        started_at,
        leaked,
        log,
        output_tail,
    };
    let _ = tx.send(WorkerMsg::Ended {
        slot,
        test: index,
        attempt,
        result,
    });
}

/// Decodes an exit status.
pub(super) fn outcome_of(status: ExitStatus) -> AttemptOutcome {
    if let Some(code) = status.code() {
        if code == 0 {
            AttemptOutcome::Passed
        } else {
            AttemptOutcome::Failed { code }
        }
    } else if let Some(signal) = status.signal() {
        AttemptOutcome::Crashed {
            signal,
            name: signal_name(signal),
        }
    } else {
        AttemptOutcome::Failed { code: -1 }
    }
}

/// `SIGSEGV` for 11, and so on.
pub fn signal_name(signal: i32) -> String {
    // Only the signals a test commonly dies of are named; others stay numbers.
    match Signal::try_from(signal) {
        Ok(
            s @ (Signal::SIGABRT
            | Signal::SIGSEGV
            | Signal::SIGBUS
            | Signal::SIGILL
            | Signal::SIGFPE
            | Signal::SIGKILL
            | Signal::SIGTERM
            | Signal::SIGINT
            | Signal::SIGHUP
            | Signal::SIGPIPE
            | Signal::SIGTRAP
            | Signal::SIGSYS),
        ) => s.as_str().to_string(),
        _ => format!("signal {signal}"),
    }
}

/// After the test's main process exited: true when processes it started (in its group, or
/// daemonised and handed back to the runner) were still alive after the leak grace (they
/// are killed).
pub(super) fn reap_group(pgid: i32, slot: u32, config: &RunnerConfig) -> bool {
    super::leak::reap_leftovers(pgid, config.run_id.as_str(), slot, config.leak_grace)
}

/// A short description of how a test process ended, for messages.
pub(super) fn describe_status(outcome: &AttemptOutcome) -> String {
    crate::event::describe(outcome)
}

/// Where an attempt's kept output goes: `output.log`, or `output.attempt-N.log` for retries.
pub(super) fn kept_log_path(artifact_dir: &Path, attempt: u32) -> PathBuf {
    if attempt == 1 {
        artifact_dir.join("output.log")
    } else {
        artifact_dir.join(format!("output.attempt-{attempt}.log"))
    }
}

fn keep_log(
    log: &Path,
    artifact_dir: &Path,
    id: &crate::id::TestId,
    attempt: u32,
) -> Option<PathBuf> {
    super::artifacts::prepare(artifact_dir, id)?;
    let dest = kept_log_path(artifact_dir, attempt);
    fs::copy(log, &dest).ok()?;
    Some(dest)
}

/// The last `max` bytes of a file (from a line start when possible), lossily decoded.
pub fn read_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(max);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(max).read_to_end(&mut buf);
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    if start > 0 {
        if let Some(nl) = text.find('\n') {
            text.drain(..=nl);
        }
        text.insert_str(0, "[... earlier output cut; see the full log ...]\n");
    }
    text
}
