//! Issue 14, the runner under fire: every libtest result shape in batch mode, binaries that
//! never report, `harness = false` targets, SIGKILL of the runner, daemonised leftovers,
//! graceful timeouts, absurd worker counts and very long test names. Fixture:
//! `tests/fixtures/under-fire`.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn fire() -> Command {
    let mut c = shardtest();
    c.arg("--manifest-path").arg(fixture("under-fire"));
    c
}

/// Runs `cmd`, failing the test (and killing the run) if it takes longer than `limit`: a
/// livelocked runner must fail the test, not hang it.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo-shardtest starts");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let out = child.wait_with_output().expect("the run exits");
        let _ = tx.send(());
        out
    });
    if rx.recv_timeout(limit).is_err() {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        let out = reader.join().unwrap();
        panic!("the run did not finish within {limit:?}:\n{}", text(&out));
    }
    reader.join().unwrap()
}

/// The first attempt of test `id` in a JSON report.
fn first_attempt<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    &report["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("{id} is in the report"))["attempts"][0]
}

fn expected_shapes() -> BTreeMap<String, String> {
    let long = format!("under-fire::spaces long {}", "x".repeat(2000));
    [
        ("under-fire::shapes plain_passes", "passed"),
        ("under-fire::shapes should_panic_passes", "passed"),
        ("under-fire::shapes should_panic_fails", "failed"),
        ("under-fire::shapes ignored_with_reason", "skipped"),
        ("under-fire::shapes fails_with_child_output", "failed"),
        ("under-fire::shapes chatty_passes", "passed"),
        ("under-fire::spaces name with spaces", "passed"),
        ("under-fire::spaces another name ... with dots", "passed"),
        ("under-fire::spaces spaced failure", "failed"),
        (long.as_str(), "passed"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

#[test]
fn batch_mode_maps_every_libtest_line_shape_to_its_test() {
    // Process mode first: it records the durations, so batch mode then plans short batches
    // of several tests (unknown tests are each predicted too long to share a process).
    let timings = tempfile::tempdir().unwrap();
    let timings = timings.path().join("timings.json");
    for isolation in ["process", "batch"] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("report.json");
        let o = run_bounded(
            fire()
                .args(["--test", "shapes", "--test", "spaces", "-j", "1"])
                .args(["--isolation", isolation])
                .arg("--timings")
                .arg(&timings)
                .arg("--json")
                .arg(&json),
            Duration::from_secs(300),
        );
        assert_eq!(o.status.code(), Some(100), "{isolation}: {}", text(&o));
        let report = read_json(&json);
        assert_eq!(
            statuses(&report),
            expected_shapes(),
            "{isolation}: {}",
            text(&o)
        );
        // The failure's log has what the test printed, what its child printed (stdout and
        // stderr), and the tail is on screen.
        let a = first_attempt(&report, "under-fire::shapes fails_with_child_output");
        let log = std::fs::read_to_string(a["log"].as_str().expect("a log path")).unwrap();
        for needle in [
            "captured line of the test",
            "from-a-child-process",
            "child-stderr",
            "this one fails",
        ] {
            assert!(log.contains(needle), "{isolation}: {needle} in {log}");
        }
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("from-a-child-process"),
            "{isolation}: {}",
            text(&o)
        );
    }
}

#[test]
fn a_binary_that_never_reports_ends_with_an_error_not_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let o = run_bounded(
        fire()
            .args(["--test", "mute", "-j", "1", "--isolation", "batch"])
            .arg("--json")
            .arg(&json),
        Duration::from_secs(300),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let report = read_json(&json);
    let s = statuses(&report);
    assert_eq!(s.len(), 8, "{}", text(&o));
    assert!(s.values().all(|v| v == "failed"), "{s:?}: {}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("never reported it") && err.contains("running, but reporting nothing"),
        "the error says why and shows the process's output: {}",
        text(&o)
    );
}

#[test]
fn a_batch_that_hangs_before_its_first_test_times_out_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let b = run_bounded(
        fire().args(["--test", "stall", "-j", "1", "--isolation", "batch"]),
        Duration::from_secs(300),
    );
    assert_eq!(
        b.status.code(),
        Some(0),
        "without the hang it passes: {}",
        text(&b)
    );
    let o = run_bounded(
        fire()
            .args(["--test", "stall", "-j", "1", "--isolation", "batch"])
            .args(["--timeout", "1s", "--timeout-grace", "1s", "--json"])
            .arg(&json)
            .env("FIXTURE_HOLD", "1"),
        Duration::from_secs(120),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let report = read_json(&json);
    let s = statuses(&report);
    assert_eq!(s.len(), 8, "{}", text(&o));
    for t in report["tests"].as_array().unwrap() {
        assert_eq!(t["status"], "failed", "{t}");
        assert_eq!(t["attempts"][0]["outcome"]["kind"], "timed_out", "{t}");
    }
}

#[test]
fn harness_false_targets_run_whole_once_and_are_reported_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let json = dir.path().join("report.json");
    let junit = dir.path().join("junit.xml");
    let o = run_bounded(
        fire()
            .args(["--test", "custom_ignores", "--test", "custom_strict"])
            .arg("--json")
            .arg(&json)
            .arg("--junit")
            .arg(&junit)
            .env("FIXTURE_OUT", &out),
        Duration::from_secs(300),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let counts = runs(&out);
    assert_eq!(counts.get("custom_ignores"), Some(&1), "{}", text(&o));
    assert_eq!(counts.get("custom_strict"), Some(&1), "{}", text(&o));
    let report = read_json(&json);
    let s = statuses(&report);
    for id in [
        "under-fire::custom_ignores <whole binary>",
        "under-fire::custom_strict <whole binary>",
    ] {
        assert_eq!(
            s.get(id).map(String::as_str),
            Some("passed"),
            "{}",
            text(&o)
        );
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("custom_strict: `harness = false`") && err.contains("runs whole"),
        "a one-line notice says why: {}",
        text(&o)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("&lt;whole binary&gt;"), "{xml}");
    let v = run(shardtest().arg("verify").arg(&json));
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));
}

/// The lock file of `#[shard::serial(fire)]` in lock directory `locks`.
fn serial_lock(locks: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(locks.join("serial").join("fire.lock"))
        .unwrap()
}

#[test]
fn sigkill_of_the_runner_leaves_no_process_and_no_lock_behind() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let locks = dir.path().join("locks");
    std::fs::create_dir_all(&out).unwrap();
    // Build first, so the run below reaches its tests quickly.
    let b = run_bounded(fire().args(["--test", "procs"]), Duration::from_secs(300));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));

    let mut child = fire()
        .args(["--test", "procs", "-j", "4"])
        .env("FIXTURE_HOLD", "1")
        .env("FIXTURE_OUT", &out)
        .env("SHARDTEST_LOCK_DIR", &locks)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the serial holder, the 50 children and the setsid child",
        Duration::from_secs(120),
        || {
            ["serial.started", "fifty.started", "setsid.started"]
                .iter()
                .all(|m| out.join(m).exists())
        },
    );
    assert!(
        processes_of_run(&out).len() >= 53,
        "the run's processes are there before the kill"
    );
    let lock = serial_lock(&locks);
    assert!(lock.try_lock().is_err(), "the serial test holds its lock");

    child.kill().unwrap(); // SIGKILL
    let killed = Instant::now();
    child.wait().unwrap();
    wait_until(
        "every process of the run to be gone",
        Duration::from_secs(2),
        || processes_of_run(&out).is_empty(),
    );
    assert!(killed.elapsed() < Duration::from_secs(2));
    assert!(
        lock.try_lock().is_ok(),
        "the serial lock can be taken at once"
    );
}

#[test]
fn a_setsid_child_is_reported_as_a_leak_and_killed_in_both_modes() {
    // As above: process mode records durations, so batch mode puts several tests in a process.
    let timings = tempfile::tempdir().unwrap();
    let timings = timings.path().join("timings.json");
    for isolation in ["process", "batch"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        let json = dir.path().join("report.json");
        let o = run_bounded(
            fire()
                .args(["--test", "procs", "-j", "1", "--isolation", isolation])
                .arg("--timings")
                .arg(&timings)
                .arg("--json")
                .arg(&json)
                .env("FIXTURE_LEAK", "1")
                .env("FIXTURE_OUT", &out),
            Duration::from_secs(300),
        );
        assert_eq!(o.status.code(), Some(0), "{isolation}: {}", text(&o));
        assert!(out.join("leak.started").exists(), "{isolation}");
        let report = read_json(&json);
        let leaked: Vec<String> = report["tests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["attempts"][0]["leaked"] == true)
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            leaked,
            ["under-fire::procs a_setsid_leak"],
            "{isolation}: {}",
            text(&o)
        );
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("LEAK"),
            "{isolation}: {}",
            text(&o)
        );
        wait_until(
            "the daemonised child to be gone",
            Duration::from_secs(2),
            || processes_of_run(&out).is_empty(),
        );
    }
}

#[test]
fn a_timeout_sends_sigterm_then_sigkill_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let json = dir.path().join("report.json");
    let o = run_bounded(
        fire()
            .args(["--test", "grace", "-j", "2"])
            .args(["--timeout", "2s", "--timeout-grace", "2s"])
            .arg("--json")
            .arg(&json)
            .env("FIXTURE_HOLD", "1")
            .env("FIXTURE_OUT", &out),
        Duration::from_secs(300),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert_eq!(
        std::fs::read_to_string(out.join("trapped")).ok().as_deref(),
        Some("cleaned up"),
        "the trapping test got to clean up: {}",
        text(&o)
    );
    let report = read_json(&json);
    let trap = first_attempt(&report, "under-fire::grace traps_sigterm");
    assert_eq!(trap["outcome"]["kind"], "timed_out", "{trap}");
    assert_eq!(trap["outcome"]["signal"], "SIGTERM", "{trap}");
    let ignore = first_attempt(&report, "under-fire::grace ignores_sigterm");
    assert_eq!(ignore["outcome"]["kind"], "timed_out", "{ignore}");
    assert_eq!(ignore["outcome"]["signal"], "SIGKILL", "{ignore}");
    let d = ignore["duration"]
        .as_f64()
        .or_else(|| ignore["duration"]["secs"].as_f64());
    if let Some(secs) = d {
        assert!(secs >= 3.5, "killed only after the grace period: {ignore}");
    }
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("killed by SIGKILL after the grace period"),
        "{}",
        text(&o)
    );
    assert!(processes_of_run(&out).is_empty());
}

#[test]
fn zero_timeouts_are_rejected_with_a_clear_message() {
    for flag in ["--timeout", "--slow-timeout"] {
        let o = run(fire().args([flag, "0s"]));
        assert_eq!(o.status.code(), Some(2), "{flag}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("positive duration"),
            "{flag}: {}",
            text(&o)
        );
    }
}

/// Peak resident memory (KiB) of a finished child and the children it waited for.
fn run_measuring_rss(cmd: &mut Command) -> (Output, i64) {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reader = std::thread::spawn(move || {
        let mut c = child;
        let mut out = Vec::new();
        let mut err = Vec::new();
        use std::io::Read;
        let mut o = c.stdout.take().unwrap();
        let mut e = c.stderr.take().unwrap();
        let t = std::thread::spawn(move || {
            let _ = e.read_to_end(&mut err);
            err
        });
        let _ = o.read_to_end(&mut out);
        (out, t.join().unwrap())
    });
    // SAFETY: wait4 on our own child with valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    let (stdout, stderr) = reader.join().unwrap();
    use std::os::unix::process::ExitStatusExt;
    (
        Output {
            status: std::process::ExitStatus::from_raw(status),
            stdout,
            stderr,
        },
        usage.ru_maxrss,
    )
}

#[test]
fn a_hundred_thousand_workers_on_ten_tests_stay_small() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let b = run_bounded(fire().args(["--test", "ten"]), Duration::from_secs(300));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b));
    let (o, max_kib) = run_measuring_rss(
        fire()
            .args(["--test", "ten", "-j", "100000", "--json"])
            .arg(&json),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(statuses(&read_json(&json)).len(), 10);
    // ru_maxrss covers the runner and every process it waited for (cargo, the tests): all of
    // them, the runner included, stayed under 100 MB.
    assert!(max_kib < 100 * 1024, "peak RSS {max_kib} KiB: {}", text(&o));
}

#[test]
fn a_failing_test_with_a_2000_character_name_keeps_its_full_log() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("report.json");
    let o = run_bounded(
        fire()
            .args(["--test", "spaces", "-j", "1"])
            .arg("--json")
            .arg(&json)
            .env("FIXTURE_LONG_FAILS", "1"),
        Duration::from_secs(300),
    );
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let id = format!("under-fire::spaces long {}", "x".repeat(2000));
    let report = read_json(&json);
    assert_eq!(statuses(&report)[&id], "failed");
    let a = first_attempt(&report, &id);
    let log = Path::new(a["log"].as_str().expect("a log path"));
    let text_of_log = std::fs::read_to_string(log).unwrap();
    assert!(
        text_of_log.contains("output of the test with a long name"),
        "{text_of_log}"
    );
    let id_file = log.parent().unwrap().join("test-id.txt");
    assert_eq!(
        std::fs::read_to_string(id_file).unwrap().trim_end(),
        id,
        "the full id is kept beside the log"
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&log.display().to_string()),
        "the log's path is printed: {}",
        text(&o)
    );
}

/// Names of the `shard::pg` databases on the `DATABASE_URL` server whose name starts with
/// `prefix` (through `psql`).
fn pg_databases(url: &str, prefix: &str) -> Vec<String> {
    let o = Command::new("psql")
        .arg(url)
        .args(["-Atc", "SELECT datname FROM pg_database ORDER BY datname"])
        .output()
        .expect("psql runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// `shard::pg`'s form of a run id in database names (lower-case alphanumerics, `_` else).
fn pg_run(run: &str) -> String {
    run.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

#[test]
fn shard_pg_databases_are_dropped_when_the_run_ends() {
    let Ok(url) = std::env::var("DATABASE_URL") else {
        eprintln!("SKIPPED: DATABASE_URL is not set (scripts/test.sh starts a server)");
        return;
    };
    if Command::new("psql").arg("--version").output().is_err() {
        eprintln!("SKIPPED: psql is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    let manifest = fixture("pg-end");

    // Control: the same tests under a runner with no end-of-run hook keep their databases.
    let built = run_bounded(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "test",
                "--no-run",
                "--message-format=json",
                "--manifest-path",
            ])
            .arg(&manifest),
        Duration::from_secs(600),
    );
    assert!(built.status.success(), "{}", text(&built));
    let exe = String::from_utf8_lossy(&built.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "db" && m["profile"]["test"] == true)
        .find_map(|m| m["executable"].as_str().map(str::to_string))
        .expect("the test executable");
    let control_run = format!("ctl{}", std::process::id());
    let o = run(Command::new(&exe)
        .env("SHARDTEST_RUN_ID", &control_run)
        .env("SHARDTEST_LOCK_DIR", &locks)
        .env("SHARDTEST_PG_SWEEP", "0"));
    assert!(o.status.success(), "{}", text(&o));
    let kept = pg_databases(&url, &format!("st_{}", pg_run(&control_run)));
    assert!(!kept.is_empty(), "the control run made databases");
    for db in &kept {
        let _ = Command::new("psql")
            .arg(&url)
            .args(["-qAtc", &format!("DROP DATABASE IF EXISTS \"{db}\"")])
            .output();
    }

    let json = dir.path().join("report.json");
    let o = run_bounded(
        shardtest()
            .arg("--manifest-path")
            .arg(&manifest)
            .args(["-j", "2", "--json"])
            .arg(&json)
            .env("SHARDTEST_LOCK_DIR", &locks)
            .env("SHARDTEST_PG_SWEEP", "0"),
        Duration::from_secs(600),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = read_json(&json);
    let run_id = report["run"]["run_id"].as_str().unwrap();
    let left = pg_databases(&url, &format!("st_{}", pg_run(&format!("{run_id}-s1"))));
    assert_eq!(left, Vec::<String>::new(), "{}", text(&o));
    assert!(
        !locks
            .join("pg-run")
            .join(format!("end-{run_id}.exes"))
            .exists(),
        "the end-of-run note is removed"
    );
}
