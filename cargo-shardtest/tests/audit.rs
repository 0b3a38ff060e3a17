//! `cargo shardtest audit` end to end: the planted defects of tests/fixtures/audit-demo are
//! each caught and classified, with the other test of each finding named (the pair, the
//! polluter, the provider, the in-process partner); tests/fixtures/audit-clean is clean;
//! `--budget` skips what does not fit, searches included; Ctrl-C stops the audit and still
//! prints what it found.

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

/// An audit of tests/fixtures/audit-demo with its own directory and its own "fixed" port, so
/// that audits of the demo running at the same time (the tests of this file) never meet.
fn audit_demo(dir: &std::path::Path) -> std::process::Command {
    // A port free right now; the demo's two port tests then fight over it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let mut c = audit("audit-demo");
    c.env("AUDIT_DEMO_DIR", dir)
        .env("AUDIT_DEMO_PORT", port.to_string());
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
    // Four test threads in one process whatever the machine, so the two environment
    // variable tests meet there (RUST_TEST_THREADS reaches the test binaries).
    let o = run(audit_demo(dir.path())
        .args([
            "-j", "2", "--repeat", "3", "--seed", "8123", "--format", "json",
        ])
        .env("RUST_TEST_THREADS", "4"));
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
        (
            "audit-demo tests::order_b_expects_no_lock",
            "order_dependent",
        ),
        (
            "audit-demo tests::inproc_b_first_in_process",
            "in_process_shared_state",
        ),
        (
            "audit-demo tests::env_a_sets_mode",
            "in_process_shared_state",
        ),
        (
            "audit-demo tests::env_b_sets_mode",
            "in_process_shared_state",
        ),
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
        "parallel",
        "serial",
        "reversed",
        "shuffled",
        "batched",
        "alone",
        "in_process",
        "in_process_serial",
        "pair",
        "bisect",
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
    // The other test of each finding, with its evidence and a replay of the two.
    let suspect = |id: &str| {
        r["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} is a suspect: {}", text(&o)))
    };
    let partner = |id: &str, other: &str, relation: &str| {
        let s = suspect(&format!("audit-demo tests::{id}"));
        let p = &s["partner"];
        assert_eq!(
            p["id"],
            format!("audit-demo tests::{other}"),
            "{id}: {s:#}\n{}",
            text(&o)
        );
        assert_eq!(p["relation"], relation, "{id}: {s:#}");
        let replay = p["replay"].as_str().unwrap();
        assert!(
            replay.contains(&format!("tests::{id}")) && replay.contains(&format!("tests::{other}")),
            "the replay runs just the two: {replay}"
        );
        p.clone()
    };
    // The fixed-port pair is a pair: each names the other.
    let p = partner("port_first", "port_second", "beside");
    assert_eq!(p["failures"], p["runs"], "{p}");
    assert!(
        p["evidence"]
            .as_str()
            .unwrap()
            .contains("fails when run beside `audit-demo tests::port_second` (3 of 3 runs); passes alone (3 of 3)"),
        "{p}"
    );
    partner("port_second", "port_first", "beside");
    partner("shared_tmp_first", "shared_tmp_second", "beside");
    // Order-dependent: the polluter is named, and the replay runs the two in that order.
    let p = partner("order_b_expects_no_lock", "order_a_leaves_lock", "polluter");
    let replay = p["replay"].as_str().unwrap();
    assert!(
        replay.find("order_a_leaves_lock") < replay.find("order_b_expects_no_lock"),
        "{replay}"
    );
    partner("z_needs_marker", "a_creates_marker", "provider");
    // The static counter: in-process shared state, its partner found in one process.
    let p = partner(
        "inproc_b_first_in_process",
        "inproc_a_bumps_counter",
        "polluter",
    );
    assert_eq!(p["in_process"], true, "{p}");
    assert!(
        p["replay"].as_str().unwrap().contains("--test-threads 1"),
        "{p}"
    );
    // Two threads of one process racing on an environment variable: an in-process pair.
    let p = partner("env_b_sets_mode", "env_a_sets_mode", "beside");
    assert_eq!(p["in_process"], true, "{p}");
    assert!(
        !p["replay"].as_str().unwrap().contains("--test-threads"),
        "replayed with threads: {p}"
    );
    partner("env_a_sets_mode", "env_b_sets_mode", "beside");
    // Each culprit carries its own entry.
    let culprits: Vec<&str> = r["culprits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for c in [
        "audit-demo tests::port_first",
        "audit-demo tests::port_second",
        "audit-demo tests::order_a_leaves_lock",
        "audit-demo tests::inproc_a_bumps_counter",
    ] {
        assert!(culprits.contains(&c), "{c}: {culprits:?}");
    }
    assert!(
        !culprits.iter().any(|c| c.contains("plain_")),
        "bystanders are never named: {culprits:?}"
    );
    let progress = String::from_utf8_lossy(&o.stderr);
    assert!(
        progress.contains("Audit [ 1] -j2 (baseline)"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_fixed_port_pair_is_one_finding_with_both_names_in_the_table() {
    // Only the two port tests (a filter), so the audit is quick; the human report.
    let dir = tempfile::tempdir().unwrap();
    let o = run(audit_demo(dir.path()).args(["-j", "2", "--repeat", "2", "port_"]));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = |class: &str, test: &str| {
        out.lines()
            .any(|l| l.trim_start().starts_with(class) && l.contains(test))
    };
    for (me, other) in [("port_first", "port_second"), ("port_second", "port_first")] {
        assert!(
            row("isolation/shared state", &format!("audit-demo tests::{me}")),
            "{}",
            text(&o)
        );
        assert!(
            out.contains(&format!(
                "fails when run beside `audit-demo tests::{other}` (2 of 2 runs); passes alone (2 of 2)"
            )),
            "{}",
            text(&o)
        );
        // The culprit has a line of its own.
        assert!(
            row("culprit", &format!("audit-demo tests::{other}")),
            "{}",
            text(&o)
        );
    }
    assert!(
        out.contains("replay the two: cargo shardtest run -p audit-demo --lib -j 2 --repeat 2 --exact tests::port_"),
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
    // The cargo test way ran too, and found nothing either.
    assert!(out.contains("in-process, --test-threads 1"), "{}", text(&o));
    assert!(out.contains("in-process, default threads"), "{}", text(&o));
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
fn a_tight_budget_skips_the_search_for_the_other_test_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(audit_demo(dir.path()).args(["-j", "2", "--repeat", "2", "--budget", "100ms"]));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // The baseline shows the port pair failing; the pair search would overrun the budget.
    assert!(out.contains("audit-demo tests::port_first"), "{}", text(&o));
    assert!(
        out.contains("other test: not named: pair search skipped after 0 of"),
        "{}",
        text(&o)
    );
    assert!(out.contains("would overrun the budget"), "{}", text(&o));
    assert!(
        out.contains("The search for the other test was skipped for"),
        "{}",
        text(&o)
    );
    assert!(
        !out.contains("culprit "),
        "nothing was replayed: {}",
        text(&o)
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
