//! The attributes under real runners: builds the fixture workspace `tests/fixtures/attrs-demo`
//! once, then runs its tests under `cargo test` (threads of one process), `cargo nextest run`
//! (a process per test) and directly, and checks the event log the tests write (see the
//! fixture's `tests/demo.rs` for the log protocol).
//!
//! The fixture builds into `$ATTRS_DEMO_TARGET_DIR`, else `$CARGO_TARGET_DIR/attrs-demo`, else
//! `target/attrs-demo` of this workspace. Every run gets its own log file and lock directory
//! (`SHARDTEST_LOCK_DIR`), so runs never interfere with each other or with other tests.
//! `cargo nextest` must be installed; set `SHARDTEST_SKIP_NEXTEST=1` to skip those runs
//! explicitly (they then print that they were skipped).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Fixture {
    manifest: PathBuf,
    target_dir: PathBuf,
    /// The `demo` integration test binary.
    demo: PathBuf,
    /// The unit-test binary of the fixture's library.
    lib: PathBuf,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/attrs-demo")
}

fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ATTRS_DEMO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("attrs-demo");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/attrs-demo")
}

/// Environment variables of ours that must not leak from the outer run into the fixture's.
const SCRUB: &[&str] = &[
    "SHARDTEST_RUN_ID",
    "SHARDTEST_LIST_ATTRIBUTES",
    "SHARDTEST_LOCK_DIR",
    "SHARDTEST_ATTEMPT",
    "SHARDTEST_TEST_ID",
    "SHARDTEST_WORKER_ID",
    "SHARDTEST_SHARD",
    "RUST_BACKTRACE",
    "NEXTEST_PROFILE",
];

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let manifest = fixture_dir().join("Cargo.toml");
        let target_dir = target_dir();
        let out = Command::new(env!("CARGO"))
            .args([
                "test",
                "--no-run",
                "--message-format=json",
                "--manifest-path",
            ])
            .arg(&manifest)
            .env("CARGO_TARGET_DIR", &target_dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("run cargo");
        assert!(out.status.success(), "building the fixture failed");
        let mut demo = None;
        let mut lib = None;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let Ok(msg) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(exe) = msg["executable"].as_str() else {
                continue;
            };
            match msg["target"]["name"].as_str() {
                Some("demo") => demo = Some(PathBuf::from(exe)),
                Some("attrs_demo") => lib = Some(PathBuf::from(exe)),
                _ => {}
            }
        }
        Fixture {
            manifest,
            target_dir,
            demo: demo.expect("no `demo` test binary in cargo's output"),
            lib: lib.expect("no lib test binary in cargo's output"),
        }
    })
}

/// One run's private files: the event log and the lock directory.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    fn apply(&self, cmd: &mut Command) {
        for var in SCRUB {
            cmd.env_remove(var);
        }
        cmd.env("ATTRS_DEMO_LOG", self.log())
            .env("SHARDTEST_LOCK_DIR", self.dir.path().join("locks"))
            .env("CARGO_TARGET_DIR", &fixture().target_dir);
    }

    fn events(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (t, w) = l.split_once(' ').unwrap_or((l, ""));
                (t.to_owned(), w.to_owned())
            })
            .collect()
    }

    fn attempts(&self, test: &str) -> u64 {
        std::fs::metadata(self.log().with_extension(format!("attempts.{test}")))
            .map(|m| m.len())
            .unwrap_or(0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runner {
    CargoTest,
    Nextest,
}

/// Runs the fixture's `demo` tests selected by `prefixes` (test-name prefixes), with 4
/// threads / processes, plus extra environment.
fn run(
    runner: Runner,
    scratch: &Scratch,
    prefixes: &[&str],
    skip: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let fx = fixture();
    let mut cmd = Command::new(env!("CARGO"));
    match runner {
        Runner::CargoTest => {
            cmd.args(["test", "--manifest-path"])
                .arg(&fx.manifest)
                .args(["--test", "demo", "--", "--test-threads=4"])
                .args(prefixes);
            for s in skip {
                cmd.args(["--skip", s]);
            }
        }
        Runner::Nextest => {
            let mut expr = prefixes
                .iter()
                .map(|p| format!("test(/^{p}/)"))
                .collect::<Vec<_>>()
                .join(" | ");
            for s in skip {
                expr = format!("({expr}) - test(/{s}/)");
            }
            cmd.args(["nextest", "run", "--manifest-path"])
                .arg(&fx.manifest)
                .args([
                    "--test",
                    "demo",
                    "-j",
                    "4",
                    "--no-fail-fast",
                    "--retries",
                    "0",
                    "--success-output",
                    "immediate",
                    "--failure-output",
                    "immediate",
                    "-E",
                ])
                .arg(expr);
        }
    }
    scratch.apply(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the fixture")
}

fn nextest_available() -> bool {
    if std::env::var_os("SHARDTEST_SKIP_NEXTEST").is_some_and(|v| v == "1") {
        eprintln!("SKIPPED: SHARDTEST_SKIP_NEXTEST=1");
        return false;
    }
    let ok = Command::new(env!("CARGO"))
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`cargo nextest` is not installed (install it, or set SHARDTEST_SKIP_NEXTEST=1)"
    );
    true
}

fn describe(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The largest number of tests matching `member` that were between start and end at once,
/// and the set of those that were inside together at that moment.
fn max_inside(events: &[(String, String)], member: impl Fn(&str) -> bool) -> (usize, Vec<String>) {
    let mut inside: BTreeSet<String> = BTreeSet::new();
    let mut best = (0, Vec::new());
    for (t, w) in events {
        if !member(t) {
            continue;
        }
        match w.as_str() {
            "start" => {
                assert!(inside.insert(t.clone()), "{t} started twice:\n{events:?}");
                if inside.len() > best.0 {
                    best = (inside.len(), inside.iter().cloned().collect());
                }
            }
            "end" => {
                assert!(inside.remove(t), "{t} ended without starting:\n{events:?}");
            }
            _ => {}
        }
    }
    assert!(inside.is_empty(), "tests never ended: {inside:?}");
    best
}

fn started(events: &[(String, String)], test: &str) -> bool {
    events.iter().any(|(t, w)| t == test && w == "start")
}

fn check_serial(runner: Runner) {
    let s = Scratch::new();
    let out = run(runner, &s, &["serial_set::"], &[], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let events = s.events();
    for t in ["s1", "s2", "s3", "async_tokio_above", "async_tokio_below"] {
        assert!(
            started(&events, &format!("serial_set::{t}")),
            "{t} did not run: {events:?}"
        );
    }
    let (n, together) = max_inside(&events, |t| t.starts_with("serial_set::"));
    assert_eq!(n, 1, "serial tests overlapped: {together:?}\n{events:?}");
}

fn check_keyed(runner: Runner) {
    let s = Scratch::new();
    let out = run(runner, &s, &["keyed::"], &[], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let events = s.events();
    // `a` and `b` each ended only after seeing the other start: they overlapped.
    let (n, _) = max_inside(&events, |t| t == "keyed::a" || t == "keyed::b");
    assert_eq!(n, 2, "different keys did not overlap: {events:?}");
    let (n, together) = max_inside(&events, |t| t == "keyed::a" || t == "keyed::a_again");
    assert_eq!(n, 1, "same key overlapped: {together:?}\n{events:?}");
}

fn check_group(runner: Runner) {
    let s = Scratch::new();
    let out = run(runner, &s, &["group::"], &[], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let events = s.events();
    let starts = events.iter().filter(|(_, w)| w == "start").count();
    assert_eq!(starts, 5, "{events:?}");
    let (n, together) = max_inside(&events, |t| t.starts_with("group::"));
    assert!(n <= 2, "group max = 2 exceeded: {together:?}\n{events:?}");
    assert_eq!(n, 2, "the group never had two members at once: {events:?}");
}

const FLAKY_PASSING: &[(&str, u64)] = &[
    ("flaky::passes_third", 3),
    ("flaky::async_tokio_below_passes_third", 3),
    ("flaky::async_tokio_above_passes_third", 3),
    ("flaky::err_then_ok", 2),
];

fn check_flaky(runner: Runner) {
    let s = Scratch::new();
    let out = run(runner, &s, &["flaky::"], &["exhausted"], &[]);
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    for (test, attempts) in FLAKY_PASSING {
        assert_eq!(s.attempts(test), *attempts, "{test}\n{}", describe(&out));
        let line = format!("shardtest: flaky test {test} passed on attempt {attempts}/");
        assert!(
            stderr.contains(&line) || stdout.contains(&line),
            "no `{line}`:\n{}",
            describe(&out)
        );
    }

    // Retries run out: the test fails after 1 + retries attempts.
    let s = Scratch::new();
    let out = run(runner, &s, &["flaky::exhausted"], &[], &[]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_eq!(s.attempts("flaky::exhausted"), 2, "{}", describe(&out));
}

const NONCRIT: &[&str] = &[
    "noncrit::panics",
    "noncrit::returns_err",
    "noncrit::flaky_then_forgiven",
    "noncrit::async_panics",
];

fn check_non_critical(runner: Runner) {
    let s = Scratch::new();
    let out = run(runner, &s, &["noncrit::"], &[], &[]);
    assert!(
        out.status.success(),
        "non-critical failures failed the run:\n{}",
        describe(&out)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for test in NONCRIT {
        let line = format!("shardtest: non-critical test {test} failed: ");
        assert!(all.contains(&line), "no `{line}`:\n{}", describe(&out));
    }
    assert!(all.contains("panicked: sandbox unreachable"), "{all}");
    assert!(all.contains("returned Err(\"sandbox said 503\")"), "{all}");
    // flaky + non_critical: retried first, then forgiven.
    assert_eq!(s.attempts("noncrit::flaky_then_forgiven"), 2);
}

#[test]
fn cargo_test_serial_tests_never_overlap() {
    check_serial(Runner::CargoTest);
}

#[test]
fn cargo_test_different_serial_keys_overlap_and_same_keys_do_not() {
    check_keyed(Runner::CargoTest);
}

#[test]
fn cargo_test_group_never_exceeds_max() {
    check_group(Runner::CargoTest);
}

#[test]
fn cargo_test_flaky_retries_in_process() {
    check_flaky(Runner::CargoTest);
}

#[test]
fn cargo_test_non_critical_failure_passes() {
    check_non_critical(Runner::CargoTest);
}

#[test]
fn nextest_serial_tests_never_overlap() {
    if nextest_available() {
        check_serial(Runner::Nextest);
    }
}

#[test]
fn nextest_different_serial_keys_overlap_and_same_keys_do_not() {
    if nextest_available() {
        check_keyed(Runner::Nextest);
    }
}

#[test]
fn nextest_group_never_exceeds_max() {
    if nextest_available() {
        check_group(Runner::Nextest);
    }
}

#[test]
fn nextest_flaky_retries_in_process() {
    if nextest_available() {
        check_flaky(Runner::Nextest);
    }
}

#[test]
fn nextest_non_critical_failure_passes() {
    if nextest_available() {
        check_non_critical(Runner::Nextest);
    }
}

/// Under our runner (`SHARDTEST_RUN_ID` set) a flaky test runs once and a non-critical
/// failure fails the test: the runner retries and reports them itself.
#[test]
fn under_our_runner_the_test_side_neither_retries_nor_forgives() {
    let s = Scratch::new();
    let out = run(
        Runner::CargoTest,
        &s,
        &["flaky::passes_third", "noncrit::panics"],
        &[],
        &[("SHARDTEST_RUN_ID", "run-1")],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test flaky::passes_third ... FAILED"),
        "{}",
        describe(&out)
    );
    assert!(
        stdout.contains("test noncrit::panics ... FAILED"),
        "{}",
        describe(&out)
    );
    assert_eq!(s.attempts("flaky::passes_third"), 1);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("shardtest: non-critical"));
}

fn wait_for(bound: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < bound {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn demo_test(scratch: &Scratch, test: &str) -> Command {
    let mut cmd = Command::new(&fixture().demo);
    cmd.args(["--exact", test, "--nocapture"]);
    scratch.apply(&mut cmd);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd
}

/// A serial test process killed with SIGKILL while it holds its key releases it at once:
/// a waiting test of the same key starts within a bound.
#[test]
fn a_killed_serial_test_releases_its_lock() {
    let s = Scratch::new();
    let mut holder = demo_test(&s, "kill::holder").spawn().expect("spawn holder");
    assert!(
        wait_for(Duration::from_secs(60), || started(
            &s.events(),
            "kill::holder"
        )),
        "holder never started"
    );
    // The key is held now, by the holder process.
    let probe = demo_test(&s, "kill::probe").status().expect("run probe");
    assert!(probe.success());
    assert!(
        s.events()
            .iter()
            .any(|(t, w)| t == "kill::probe" && w == "held"),
        "{:?}",
        s.events()
    );

    let mut waiter = demo_test(&s, "kill::waiter").spawn().expect("spawn waiter");
    // Still waiting while the holder lives (it can only have started if the lock failed).
    assert!(
        !started(&s.events(), "kill::waiter"),
        "waiter ran beside the holder"
    );

    holder.kill().expect("SIGKILL the holder");
    let killed_at = Instant::now();
    let _ = holder.wait();
    assert!(
        wait_for(Duration::from_secs(10), || started(
            &s.events(),
            "kill::waiter"
        )),
        "the waiter did not get the lock within 10 s of the kill"
    );
    let latency = killed_at.elapsed();
    let status = waiter.wait().expect("wait for waiter");
    assert!(status.success());
    eprintln!("waiter acquired the lock {latency:?} after the kill");
}

fn listing(binary: &Path) -> Vec<Value> {
    let mut cmd = Command::new(binary);
    cmd.args(["--list", "--format", "terse"]);
    for var in SCRUB {
        cmd.env_remove(var);
    }
    let out = cmd
        .env("SHARDTEST_LIST_ATTRIBUTES", "1")
        // A test that ran would need this; listing must not run any.
        .env_remove("ATTRS_DEMO_LOG")
        .output()
        .expect("list");
    assert!(out.status.success(), "{}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("shardtest-attrs: "))
        .map(|json| serde_json::from_str(json).expect("attribute line is JSON"))
        .collect()
}

#[test]
fn listing_reports_every_attributed_test_of_the_fixture() {
    let fx = fixture();
    let serial = |name: &str, key: &str| json!({"v":1,"name":name,"serial":key});
    let group = |name: &str| json!({"v":1,"name":name,"group":{"name":"pool","max":2}});
    let flaky = |name: &str, retries: u32, backoff: u64| json!({"v":1,"name":name,"flaky":{"retries":retries,"backoff_ms":backoff}});
    let nc = |name: &str| json!({"v":1,"name":name,"non_critical":true});
    let expected = vec![
        flaky("at_the_root", 2, 0),
        flaky("flaky::async_tokio_above_passes_third", 2, 0),
        flaky("flaky::async_tokio_below_passes_third", 2, 5),
        flaky("flaky::err_then_ok", 1, 0),
        json!({"v":1,"name":"flaky::exhausted","serial":"flaky_serial","flaky":{"retries":1,"backoff_ms":1}}),
        flaky("flaky::passes_third", 3, 10),
        group("group::g1"),
        group("group::g2"),
        group("group::g3"),
        group("group::g4"),
        group("group::g5_async"),
        serial("keyed::a", "key_a"),
        serial("keyed::a_again", "key_a"),
        serial("keyed::b", "key_b"),
        serial("kill::holder", "killme"),
        serial("kill::waiter", "killme"),
        nc("noncrit::async_panics"),
        json!({"v":1,"name":"noncrit::flaky_then_forgiven","flaky":{"retries":1,"backoff_ms":0},"non_critical":true}),
        nc("noncrit::panics"),
        nc("noncrit::returns_err"),
        serial("serial_set::async_tokio_above", ""),
        serial("serial_set::async_tokio_below", ""),
        serial("serial_set::s1", ""),
        serial("serial_set::s2", ""),
        serial("serial_set::s3", ""),
    ];
    assert_eq!(listing(&fx.demo), expected);
    assert_eq!(
        listing(&fx.lib),
        vec![
            serial("in_lib", "libkey"),
            json!({"v":1,"name":"inner::deep::grouped","group":{"name":"lib-pool","max":1}}),
        ]
    );
}
