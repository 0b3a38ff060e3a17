//! Process-per-test execution: each attempt runs as `<bin> --exact <name> --nocapture` in its
//! own process group, with output captured into a file, and is checked for processes it left
//! behind once it exits.

use super::{RunnerConfig, ShardTest, TestResult, WorkerMsg};
use crate::event::AttemptOutcome;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

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
    cmd.env("SHARDTEST_WORKER_ID", slot.to_string())
        .env("SHARDTEST_WORKERS", config.workers.to_string())
        .env("SHARDTEST_SHARD", config.shard.to_string())
        .env("SHARDTEST_RUN_ID", &config.run_id)
        .env("SHARDTEST_ATTEMPT", attempt.to_string());
    cmd.stdin(Stdio::null());
    cmd.process_group(0);
    cmd
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
        cmd.arg("--exact")
            .arg(test.case.id.name.as_str())
            .arg("--nocapture");
        if test.case.ignored {
            cmd.arg("--ignored");
        }
        cmd.args(&config.extra_args);
        cmd.env("SHARDTEST_TEST_ID", test.case.id.to_string())
            .env("SHARDTEST_ARTIFACT_DIR", &artifact_dir);
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
    let leaked = reap_group(pgid, config.leak_grace);
    let outcome = match status {
        Ok(s) => outcome_of(s),
        Err(e) => AttemptOutcome::SpawnFailed {
            message: format!("waiting for the test failed: {e}"),
        },
    };
    let keep = !outcome.is_pass() || leaked;
    let (log, output_tail) = if keep {
        let kept = keep_log(&log_path, &artifact_dir, attempt);
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
    let name = match signal {
        libc::SIGABRT => "SIGABRT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGHUP => "SIGHUP",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGSYS => "SIGSYS",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// Sends `signal` to every process of the group.
pub(super) fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: killpg has no memory-safety preconditions; errors (ESRCH) are expected when
    // the group is already gone.
    unsafe {
        libc::killpg(pgid, signal);
    }
}

fn group_alive(pgid: i32) -> bool {
    // Reap members that became our children (we are a subreaper on Linux) and have exited,
    // so zombies do not count as alive.
    loop {
        // SAFETY: waitpid with WNOHANG on a process group id; no pointers but a valid status.
        let mut status = 0;
        let r = unsafe { libc::waitpid(-pgid, &mut status, libc::WNOHANG) };
        if r <= 0 {
            break;
        }
    }
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

/// After the test's main process exited: true when other processes of its group were still
/// alive after `grace` (they are killed).
pub(super) fn reap_group(pgid: i32, grace: Duration) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    let deadline = Instant::now() + grace;
    let mut wait = Duration::from_millis(1);
    while Instant::now() < deadline {
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(10));
        if !group_alive(pgid) {
            return false;
        }
    }
    kill_group(pgid, libc::SIGKILL);
    // Wait, bounded, for the killed processes to be gone.
    let deadline = Instant::now() + Duration::from_secs(2);
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// Where an attempt's kept output goes: `output.log`, or `output.attempt-N.log` for retries.
pub(super) fn kept_log_path(artifact_dir: &Path, attempt: u32) -> PathBuf {
    if attempt == 1 {
        artifact_dir.join("output.log")
    } else {
        artifact_dir.join(format!("output.attempt-{attempt}.log"))
    }
}

fn keep_log(log: &Path, artifact_dir: &Path, attempt: u32) -> Option<PathBuf> {
    fs::create_dir_all(artifact_dir).ok()?;
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
