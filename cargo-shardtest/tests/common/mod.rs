//! Helpers for the integration tests: run the real `cargo-shardtest` binary against the
//! fixture workspaces under `tests/fixtures/`.
#![allow(dead_code)]

pub mod redis_server;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Root of the repository.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A fixture workspace's manifest.
pub fn fixture(name: &str) -> PathBuf {
    repo_root()
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
}

/// `cargo shardtest <args>` with a clean environment for shardtest variables.
pub fn shardtest() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cargo-shardtest"));
    c.arg("shardtest");
    for (k, _) in std::env::vars() {
        if k.starts_with("SHARDTEST_") || k.starts_with("FIXTURE_") || k.starts_with("NEXTEST") {
            c.env_remove(k);
        }
    }
    c.env_remove("CARGO_TARGET_DIR");
    // Every command gets its own (empty) timings history unless a test passes `--timings`,
    // so concurrent tests never plan from each other's recordings.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("shardtest-it-{}-{n}", std::process::id()));
    c.env("SHARDTEST_TIMINGS", dir.join("timings.json"));
    c
}

/// Runs and returns the output, with stdout+stderr printed on a failed assertion by callers.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("cargo-shardtest starts")
}

/// Text of both streams.
pub fn text(o: &Output) -> String {
    format!(
        "--- status: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Lines of `$dir/runs.log`, counted.
pub fn runs(dir: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    if let Ok(s) = std::fs::read_to_string(dir.join("runs.log")) {
        for l in s.lines() {
            *m.entry(l.to_string()).or_default() += 1;
        }
    }
    m
}

/// Waits (bounded) until `cond` holds.
pub fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Live processes whose environment has `FIXTURE_OUT=<dir>` (from /proc): every process a
/// test run started, however deep, inherits it.
pub fn processes_of_run(dir: &Path) -> Vec<u32> {
    let needle = format!("FIXTURE_OUT={}", dir.display()).into_bytes();
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|b| *b == 0).any(|kv| kv == needle.as_slice()) {
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // Field 3 of /proc/PID/stat is the state; Z is a zombie (already dead).
            let zombie = state
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('Z'))
                .unwrap_or(false);
            if !zombie {
                found.push(pid);
            }
        }
    }
    found
}

/// `cargo shardtest --manifest-path tests/fixtures/basic/Cargo.toml --workspace`.
pub fn basic() -> Command {
    let mut c = shardtest();
    c.arg("--manifest-path")
        .arg(fixture("basic"))
        .arg("--workspace");
    c
}

/// A JSON file (a report) read back.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("report is JSON")
}

/// Final status of every test of a JSON report, by id.
pub fn statuses(r: &serde_json::Value) -> BTreeMap<String, String> {
    r["tests"]
        .as_array()
        .expect("tests array")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Starts `cmd`, waits (bounded) until `marker` exists, presses Ctrl-C (SIGINT) and returns
/// what the run printed once it has exited.
pub fn interrupt_when(mut cmd: Command, marker: &Path) -> Output {
    let child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cargo-shardtest starts");
    wait_until(
        "the run to reach its marker",
        Duration::from_secs(120),
        || marker.exists(),
    );
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe { libc_kill(child.id() as i32, 2) };
    child.wait_with_output().expect("the run exits")
}

/// `cargo shardtest report merge REPORTS --junit XML --json JSON`.
pub fn merge_reports(reports: &[PathBuf], junit: &Path, json: &Path) -> Output {
    run(shardtest()
        .args(["report", "merge"])
        .args(reports)
        .arg("--junit")
        .arg(junit)
        .arg("--json")
        .arg(json))
}
