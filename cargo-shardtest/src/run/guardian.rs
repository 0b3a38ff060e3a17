//! The guardian: a small process that outlives the runner and removes what the run started
//! if the runner dies, even by SIGKILL.
//!
//! When a run starts, the runner starts its own executable again in a hidden mode
//! (`cargo-shardtest __shardtest-guardian RUN_ID`), in a process group of its own, with an
//! empty environment, and keeps the write end of a pipe to the guardian's stdin. Nothing is
//! ever written to it: when the runner's process ends, however it ends, the kernel closes the
//! pipe, the guardian reads end-of-file and kills every process whose environment carries
//! `SHARDTEST_RUN_ID=<RUN_ID>`, which every test process gets and every descendant inherits,
//! whatever its process group or session (`setsid`, double fork). It looks again until a scan
//! finds nothing twice in a row (killing a process can hand its children to PID 1 mid-scan),
//! at most about 5 seconds. Locks (`#[shard::serial]`, groups, ports) are OS file locks held by
//! those processes, so they are free once the processes are gone.
//!
//! At the normal end of a run the pipe is closed too and the guardian finds nothing to kill.
//!
//! Limits: only Linux (it reads `/proc/PID/environ`); a descendant that replaces its whole
//! environment is not recognised; a process of another user, or one that the guardian may
//! not signal, is not killed; and if the guardian itself is killed with the runner (for
//! example by a `kill -9` of every process of the machine or of a cgroup), nothing is left to
//! clean up, which is also the case then. The runner's test processes are also in process
//! groups of their own, so a CI system that kills the runner's process group does not reach
//! them: the guardian does.

use crate::console::say;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hidden first argument that makes `cargo-shardtest` act as a guardian.
pub const GUARDIAN_ARG: &str = "__shardtest-guardian";

static EXE: OnceLock<PathBuf> = OnceLock::new();

/// Lets runs started by this process start a guardian: `cargo-shardtest`'s `main` calls it
/// (the library used elsewhere, e.g. in unit tests, runs without one).
pub fn enable() {
    if let Ok(exe) = std::env::current_exe() {
        let _ = EXE.set(exe);
    }
}

/// A running guardian; dropping it closes the pipe, which tells the guardian the run is over.
pub(super) struct Guardian {
    _child: Child,
    _pipe: ChildStdin,
}

/// Starts the guardian of run `run_id`, if guardians are enabled.
pub(super) fn start(run_id: &str) -> Option<Guardian> {
    let exe = EXE.get()?;
    let mut cmd = Command::new(exe);
    cmd.arg(GUARDIAN_ARG)
        .arg(run_id)
        .env_clear()
        // Not empty: the leak check takes an empty environment for a process mid-exec.
        .env("SHARDTEST_GUARDIAN_OF", run_id)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    match cmd.spawn() {
        Ok(mut child) => {
            let pipe = child.stdin.take()?;
            Some(Guardian {
                _child: child,
                _pipe: pipe,
            })
        }
        Err(e) => {
            say!(
                "warning: could not start the run's guardian ({e}): if the runner is killed, its tests may survive it"
            );
            None
        }
    }
}

/// The guardian's `main`: `args` are the arguments after [`GUARDIAN_ARG`] (the run id).
/// Waits for the runner's pipe to close, then kills the run's processes.
pub fn main(args: &[String]) -> std::process::ExitCode {
    let Some(run_id) = args.first() else {
        return std::process::ExitCode::from(2);
    };
    // Ctrl-C in a terminal goes to the foreground group; the guardian is in its own group,
    // but ignore the terminal's signals anyway: its job starts when the runner is gone.
    for s in [
        nix::sys::signal::Signal::SIGINT,
        nix::sys::signal::Signal::SIGHUP,
    ] {
        // SAFETY: SIG_IGN installs no handler code.
        unsafe {
            let _ = nix::sys::signal::signal(s, nix::sys::signal::SigHandler::SigIgn);
        }
    }
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    sweep(run_id, Duration::from_secs(5));
    std::process::ExitCode::SUCCESS
}

/// Kills every process carrying `SHARDTEST_RUN_ID=<run_id>` until two scans in a row find
/// none (or `limit` passes). Returns how many were signalled.
pub fn sweep(run_id: &str, limit: Duration) -> usize {
    let marker = format!("SHARDTEST_RUN_ID={run_id}");
    let me = std::process::id() as i32;
    let start = Instant::now();
    let mut killed = 0;
    let mut quiet = 0;
    while quiet < 2 && start.elapsed() < limit {
        let found = processes_with(marker.as_bytes(), me);
        if found.is_empty() {
            quiet += 1;
        } else {
            quiet = 0;
        }
        for pid in found {
            let pid = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    killed
}

/// Live (not zombie) processes other than `except` whose environment has `entry`.
fn processes_with(entry: &[u8], except: i32) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == except {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == entry) {
            found.push(pid);
        }
    }
    found
}
