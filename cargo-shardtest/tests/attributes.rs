//! Test attributes under our runner: the scheduler honours `#[shard::serial]`,
//! `#[shard::group]`, `#[shard::flaky]` and `#[shard::non_critical]` learnt at list time.
//! Fixture: tests/fixtures/attrs-demo (its tests log `<test> start|end` lines to a file).

mod common;

use common::*;
use std::path::Path;

fn demo(scratch: &Path) -> std::process::Command {
    demo_cmd("run", scratch)
}

fn demo_cmd(command: &str, scratch: &Path) -> std::process::Command {
    let mut c = shardtest();
    c.arg(command)
        .arg("--manifest-path")
        .arg(fixture("attrs-demo"))
        // Shared with shardtest-lib's runner tests so the fixture is built once.
        .arg("--target-dir")
        .arg(repo_root().join("target/attrs-demo"))
        .env("ATTRS_DEMO_LOG", scratch.join("events.log"))
        .env("SHARDTEST_LOCK_DIR", scratch.join("locks"))
        .env_remove("RUST_BACKTRACE");
    c
}

fn events(scratch: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(scratch.join("events.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Most members of `prefix` between start and end at once, from the ordered event log.
fn max_inside(ev: &[(String, String)], prefix: &str) -> usize {
    let (mut now, mut max) = (0usize, 0usize);
    for (t, w) in ev {
        if t.starts_with(prefix) {
            match w.as_str() {
                "start" => {
                    now += 1;
                    max = max.max(now);
                }
                "end" => now = now.saturating_sub(1),
                _ => {}
            }
        }
    }
    max
}

fn test_entry<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"].as_str().unwrap().ends_with(name))
        .unwrap()
}

#[test]
fn the_runner_honours_every_attribute() {
    let scratch = tempfile::tempdir().unwrap();
    let json = scratch.path().join("r.json");
    let o = run(demo(scratch.path())
        .args([
            "-j",
            "4",
            "--skip",
            "kill::",
            "--skip",
            "flaky::exhausted",
            "--json",
        ])
        .arg(&json));
    // Non-critical failures are listed but do not fail the run.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("FAIL (non-critical)") && err.contains("noncrit::panics"),
        "{err}"
    );
    let ev = events(scratch.path());
    assert_eq!(
        max_inside(&ev, "serial_set::"),
        1,
        "serial tests overlapped: {ev:?}"
    );
    assert!(
        max_inside(&ev, "group::") <= 2,
        "group max = 2 exceeded: {ev:?}"
    );
    assert!(max_inside(&ev, "keyed::a") <= 1);
    let r = read_json(&json);
    assert_eq!(r["counts"]["failed"], 0);
    assert_eq!(r["counts"]["failed_non_critical"], 4);
    let third = test_entry(&r, "flaky::passes_third");
    assert_eq!(third["status"], "flaky");
    assert_eq!(
        third["attempts"].as_array().unwrap().len(),
        3,
        "the runner retried in fresh processes"
    );
    assert_eq!(
        test_entry(&r, "flaky::async_tokio_below_passes_third")["status"],
        "flaky"
    );
    assert!(err.contains("FLAKY"), "{err}");
    // Keys differ: `keyed::a` and `keyed::b` wait for each other, so they must overlap.
    assert_eq!(test_entry(&r, "keyed::b")["status"], "passed", "{err}");
}

#[test]
fn an_exhausted_flaky_test_fails_the_run() {
    let scratch = tempfile::tempdir().unwrap();
    let o = run(demo(scratch.path()).args(["flaky::exhausted", "-j", "2"]));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("RETRY"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_killed_serial_test_releases_its_lock_for_the_next() {
    let scratch = tempfile::tempdir().unwrap();
    let json = scratch.path().join("r.json");
    // `holder` takes serial(killme) and never returns; the timeout kills its process group;
    // `waiter` (same key) must then get the OS lock and pass.
    let o = run(demo(scratch.path())
        .args([
            "kill::holder",
            "kill::waiter",
            "--exact",
            "-j",
            "2",
            "--timeout",
            "2s",
            "--json",
        ])
        .arg(&json));
    let r = read_json(&json);
    assert_eq!(
        test_entry(&r, "kill::holder")["attempts"][0]["outcome"]["kind"],
        "timed_out",
        "{}",
        text(&o)
    );
    assert_eq!(
        test_entry(&r, "kill::waiter")["status"],
        "passed",
        "{}",
        text(&o)
    );
    let ev = events(scratch.path());
    let holder = ev.iter().position(|e| e.0 == "kill::holder").unwrap();
    let waiter = ev.iter().position(|e| e.0 == "kill::waiter").unwrap();
    assert!(holder < waiter, "serial(killme) tests overlapped: {ev:?}");
}

#[test]
fn list_json_shows_attributes() {
    let scratch = tempfile::tempdir().unwrap();
    let o = run(demo_cmd("list", scratch.path()).args(["--format", "json"]));
    assert!(o.status.success(), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = |n: &str| {
        doc["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(t("serial_set::s1")["attributes"]["serial"], "");
    assert_eq!(t("keyed::a")["attributes"]["serial"], "key_a");
    assert_eq!(t("group::g1")["attributes"]["group"]["max"], 2);
    assert_eq!(
        t("flaky::passes_third")["attributes"]["flaky"]["retries"],
        3
    );
    assert_eq!(
        t("flaky::passes_third")["attributes"]["flaky"]["backoff_ms"],
        10
    );
    assert_eq!(t("noncrit::panics")["attributes"]["non_critical"], true);
}
