//! `cargo shardtest audit` end to end: the planted defects of tests/fixtures/audit-demo are
//! each caught and classified; tests/fixtures/audit-clean is clean; `--budget` skips what does
//! not fit; Ctrl-C stops the audit and still prints what it found.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

fn audit(fixture_name: &str) -> std::process::Command {
    let mut c = shardtest();
    c.arg("audit")
        .arg("--manifest-path")
        .arg(fixture(fixture_name));
    c
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", text(o)))
}

fn classes(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["class"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn audit_catches_and_classifies_every_planted_defect() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(audit("audit-demo")
        .args([
            "-j", "2", "--repeat", "3", "--seed", "8123", "--format", "json",
        ])
        .env("AUDIT_DEMO_DIR", dir.path()));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let r = json(&o);
    let c = classes(&r);
    let expect = [
        ("audit-demo tests::z_needs_marker", "order_dependent"),
        ("audit-demo tests::shared_tmp_first", "shared_state"),
        ("audit-demo tests::shared_tmp_second", "shared_state"),
        ("audit-demo tests::port_first", "shared_state"),
        ("audit-demo tests::port_second", "shared_state"),
        ("audit-demo tests::counter_one_in_five", "timing_flaky"),
    ];
    for (id, class) in expect {
        assert_eq!(
            c.get(id).map(String::as_str),
            Some(class),
            "{id}: {c:?}\n{}",
            text(&o)
        );
    }
    assert_eq!(
        c.len(),
        expect.len(),
        "well-behaved tests are not suspects: {c:?}"
    );
    // The evidence: which configurations failed, the seed, the output.
    let z = r["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "audit-demo tests::z_needs_marker")
        .unwrap();
    assert_eq!(
        z["tallies"]["reversed"]["failures"], z["tallies"]["reversed"]["runs"],
        "{z}"
    );
    assert!(
        z["tallies"]["alone"]["output_tail"]
            .as_str()
            .unwrap()
            .contains("marker left by a_creates_marker is missing"),
        "{z}"
    );
    assert_eq!(r["seed"], 8123);
    let shuffled = r["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "shuffled")
        .unwrap();
    assert_eq!(shuffled["seed"], 8123);
    // Every comparison the checklist asks for ran.
    for kind in [
        "parallel", "serial", "reversed", "shuffled", "batched", "alone",
    ] {
        assert!(
            r["configs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["kind"] == kind && c["status"] == "ran"),
            "{kind} did not run: {}",
            text(&o)
        );
    }
    let progress = String::from_utf8_lossy(&o.stderr);
    assert!(
        progress.contains("Audit [ 1] -j2 (baseline)"),
        "{}",
        text(&o)
    );
}

#[test]
fn audit_of_a_clean_suite_finds_nothing_and_exits_0() {
    let o = run(audit("audit-clean").args(["-j", "2", "--repeat", "2"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("No suspect tests"), "{}", text(&o));
    assert!(!out.contains("SKIPPED"), "{}", text(&o));
}

#[test]
fn budget_skips_the_configurations_that_do_not_fit() {
    let o = run(audit("audit-clean").args(["-j", "2", "--budget", "100ms", "--format", "json"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = json(&o);
    let configs = r["configs"].as_array().unwrap();
    assert_eq!(
        configs[0]["status"], "ran",
        "the baseline always runs: {configs:?}"
    );
    let skipped: Vec<_> = configs
        .iter()
        .filter(|c| c["status"] == "skipped")
        .collect();
    assert!(!skipped.is_empty(), "{}", text(&o));
    assert!(
        skipped
            .iter()
            .all(|c| c["reason"].as_str().unwrap().contains("budget")),
        "{skipped:?}"
    );
    // Nothing that ran overran: the budget was spent before any configuration after the
    // baseline could start (the slow test alone takes 250 ms).
    assert!(
        configs.iter().skip(1).all(|c| c["status"] == "skipped"),
        "{configs:?}"
    );
}

#[test]
fn ctrl_c_stops_the_audit_and_prints_what_it_found() {
    let dir = tempfile::tempdir().unwrap();
    let child = audit("audit-clean")
        .args(["-j", "2", "--repeat", "3"])
        .env("AUDIT_CLEAN_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the second configuration's slow test is running, then press Ctrl-C.
    let second_started = || {
        std::fs::read_dir(dir.path())
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().contains("audit-02"))
            })
            .unwrap_or(false)
    };
    wait_until(
        "the second configuration to start",
        Duration::from_secs(120),
        second_started,
    );
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("Interrupted: these findings are partial."),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("STOPPED: interrupted (Ctrl-C)"),
        "{}",
        text(&o)
    );
    assert!(
        out.contains("SKIPPED: interrupted (Ctrl-C)"),
        "{}",
        text(&o)
    );
}
