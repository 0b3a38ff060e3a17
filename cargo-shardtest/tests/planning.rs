//! Timing-based planning end to end: a suite with skewed durations runs as 4 shards with no
//! history, the shards' timings are merged, and the next run's slowest shard comes much closer
//! to the lower bound; `verify` proves every test ran exactly once, and names what is missing
//! when a shard's report is lost.

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn skewed(command: &str) -> std::process::Command {
    let mut c = shardtest();
    c.arg(command).arg("--manifest-path").arg(fixture("skewed"));
    c
}

/// Runs the 4 shards, each from its own copy of `history` (as CI jobs would), and returns
/// the report paths, the per-shard timings files and the slowest shard's wall time.
fn run_matrix(
    dir: &Path,
    round: &str,
    history: Option<&Path>,
) -> (Vec<PathBuf>, Vec<PathBuf>, f64) {
    let mut reports = Vec::new();
    let mut timings = Vec::new();
    let mut slowest: f64 = 0.0;
    for k in 1..=4 {
        let t = dir.join(format!("{round}-timings-{k}.json"));
        if let Some(h) = history {
            std::fs::copy(h, &t).unwrap();
        }
        let r = dir.join(format!("{round}-report-{k}.json"));
        let o = run(skewed("run")
            .args(["-j", "1", "--shard", &format!("{k}/4"), "--timings"])
            .arg(&t)
            .arg("--json")
            .arg(&r));
        assert!(o.status.success(), "{}", text(&o));
        slowest = slowest.max(read_json(&r)["elapsed"].as_f64().unwrap());
        reports.push(r);
        timings.push(t);
    }
    (reports, timings, slowest)
}

fn verify(reports: &[PathBuf]) -> std::process::Output {
    let mut c = shardtest();
    c.arg("verify").args(reports);
    run(&mut c)
}

#[test]
fn recorded_timings_balance_the_next_run_and_verify_proves_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, t1, slowest1) = run_matrix(dir.path(), "first", None);
    let o = verify(&r1);
    assert!(o.status.success(), "{}", text(&o));

    let merged = dir.path().join("merged.json");
    let mut c = shardtest();
    let o = run(c
        .args(["timings", "merge"])
        .args(&t1)
        .arg("-o")
        .arg(&merged));
    assert!(o.status.success(), "{}", text(&o));

    // The plan from the merged history puts one slow test in each of three shards.
    let o = run(skewed("plan")
        .args(["--shards", "4", "--format", "json", "--timings"])
        .arg(&merged));
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        plan["plan"]["estimated_tests"], 0,
        "every test has history now"
    );
    let lower = plan["plan"]["lower_bound"].as_f64().unwrap();
    // One slow test (0.7 s when the machine is quiet, more under load), well below the
    // first round's shard that ran all three of them.
    assert!(
        lower >= 0.6 && lower < slowest1 * 0.7,
        "lower bound is one slow test: {lower} (first round's slowest shard {slowest1})"
    );

    let (r2, _, slowest2) = run_matrix(dir.path(), "second", Some(&merged));
    let o = verify(&r2);
    assert!(o.status.success(), "{}", text(&o));
    // First round: the three 0.7 s tests share shard 1 (about 2.1 s); second: about 0.7 s.
    assert!(
        slowest1 > 1.9,
        "the count split should have been skewed: {slowest1}"
    );
    assert!(
        slowest2 < slowest1 * 0.6,
        "no better after timings: {slowest1} -> {slowest2}"
    );
    eprintln!(
        "slowest shard: {slowest1:.2}s without history, {slowest2:.2}s with (lower bound {lower:.2}s)"
    );

    // A lost shard report is caught, with the names of its tests.
    let lost = read_json(&r2[2]);
    let missing: Vec<String> = lost["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!missing.is_empty());
    let partial: Vec<PathBuf> = r2
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, p)| p.clone())
        .collect();
    let o = verify(&partial);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for m in &missing {
        let name = m.split_once(' ').unwrap().1;
        assert!(
            err.contains(name),
            "verify does not name the missing {m}: {err}"
        );
    }
    // Reports of different plans are refused.
    let o = verify(&[r1[0].clone(), r2[1].clone(), r2[2].clone(), r2[3].clone()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fingerprint"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_corrupt_timings_file_warns_and_every_shard_falls_back_alike() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("timings.json");
    std::fs::write(&t, "{\"version\": 1, \"tests\": [trunc").unwrap();
    let mut lists = Vec::new();
    for k in 1..=2 {
        let o = run(skewed("list")
            .args(["--shard", &format!("{k}/2"), "--timings"])
            .arg(&t));
        assert!(o.status.success(), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("warning") && err.contains(&t.display().to_string()),
            "{err}"
        );
        lists.push(String::from_utf8_lossy(&o.stdout).lines().count());
    }
    assert_eq!(lists, vec![6, 6]);
}

#[test]
fn shard_auto_reads_the_ci_environment_and_says_so() {
    let o = run(skewed("list")
        .args(["--shard", "auto"])
        .env("CIRCLE_NODE_INDEX", "1")
        .env("CIRCLE_NODE_TOTAL", "3"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("CircleCI"),
        "{}",
        text(&o)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 4);
    let o = run(skewed("list").args(["--shard", "auto"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("matrix"),
        "the error shows a GitHub matrix: {}",
        text(&o)
    );
}

#[test]
fn plan_suggest_names_the_test_that_sets_the_finish_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("t.json");
    let o = run(skewed("run").args(["-j", "2", "--timings"]).arg(&t));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(skewed("plan")
        .args([
            "--shards",
            "8",
            "--suggest",
            "--setup-cost",
            "1s",
            "--max-shards",
            "6",
            "--timings",
        ])
        .arg(&t));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("lower bound") && out.contains("ratio") && out.contains("fingerprint"),
        "{out}"
    );
    assert!(out.contains("recommended"), "{out}");
    assert!(out.contains("more shards buy nothing"), "{out}");
}
