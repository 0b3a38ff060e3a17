//! End-to-end tests of `cargo shardtest run` / `list` against the fixture workspaces.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};

const ALL_TESTS: usize = 22; // 21 runnable + 1 ignored in tests/fixtures/basic

fn list_ids(extra: &[&str]) -> Vec<String> {
    let mut c = shardtest();
    c.args(["list", "--workspace", "--manifest-path"])
        .arg(fixture("basic"))
        .args(extra);
    let o = run(&mut c);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (ignored)").to_string())
        .collect()
}

#[test]
fn list_equals_cargo_tests_own_list() {
    // What `cargo test -- --list` prints: every test name of every binary (stdout), and one
    // `Running <binary>` line per binary (stderr).
    let o = std::process::Command::new(env!("CARGO"))
        .args(["test", "--workspace", "--manifest-path"])
        .arg(fixture("basic"))
        .args(["--", "--list", "--format", "terse"])
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut theirs: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test").map(str::to_string))
        .collect();
    theirs.sort();
    let their_binaries = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.trim_start().starts_with("Running ") && !l.contains("Doc-tests"))
        .count();

    let mut c = shardtest();
    c.args(["list", "--workspace", "--format", "json", "--manifest-path"])
        .arg(fixture("basic"));
    let ours = run(&mut c);
    assert!(ours.status.success(), "{}", text(&ours));
    let doc: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
    let mut our_names: Vec<String> = doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    our_names.sort();
    assert_eq!(our_names, theirs);
    assert_eq!(our_names.len(), ALL_TESTS);
    assert_eq!(
        doc["binaries"].as_object().unwrap().len(),
        their_binaries,
        "{}",
        text(&o)
    );
    // Ids are stable: package, kind and target, never a path or hash.
    let ids: BTreeSet<&str> = doc["binaries"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["basic", "basic::api", "basic::bin/tool", "other"])
    );
}

#[test]
fn full_run_runs_every_test_exactly_once() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("report.json");
    let o = run(basic()
        .args(["-j", "4", "--json"])
        .arg(&json)
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let runs = runs(out.path());
    assert_eq!(runs.len(), ALL_TESTS - 1, "{runs:?}");
    assert!(runs.values().all(|&n| n == 1), "a test ran twice: {runs:?}");
    let listed: BTreeSet<String> = list_ids(&[])
        .into_iter()
        .filter(|l| !l.ends_with("expensive_ignored"))
        .collect();
    assert_eq!(runs.keys().cloned().collect::<BTreeSet<_>>(), listed);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l == "21 passed, 0 failed, 1 skipped"),
        "{stderr}"
    );
    let r = read_json(&json);
    assert_eq!(r["counts"]["passed"], 21);
    assert_eq!(r["counts"]["skipped"], 1);
    assert_eq!(r["complete"], true);
}

#[test]
fn shards_partition_the_list_for_n_up_to_5() {
    let all: BTreeSet<String> = list_ids(&[]).into_iter().collect();
    assert_eq!(all.len(), ALL_TESTS);
    for n in 1..=5u32 {
        let mut seen: BTreeMap<String, u32> = BTreeMap::new();
        for k in 1..=n {
            for id in list_ids(&["--shard", &format!("{k}/{n}")]) {
                assert!(
                    seen.insert(id.clone(), k).is_none(),
                    "{id} is in two shards of {n}"
                );
            }
        }
        assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all, "N={n}");
    }
}

#[test]
fn a_failing_test_exits_100_and_shows_its_output() {
    let o = run(basic().args(["fails_when_asked"]).env("FIXTURE_FAIL", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("planted failure: FIXTURE_FAIL=1"), "{err}");
    assert!(err.contains("some output before the failure"), "{err}");
    assert!(
        err.contains("FAIL") && err.contains("basic tests::fails_when_asked"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l == "0 passed, 1 failed, 0 skipped"),
        "{err}"
    );
}

#[test]
fn crash_and_hang_are_reported_and_the_rest_still_pass() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let o = run(basic()
        .args(["-j", "3", "--timeout", "3s", "--json"])
        .arg(&json)
        .env("FIXTURE_OUT", out.path())
        .env("FIXTURE_CRASH", "1")
        .env("FIXTURE_HANG", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("CRASH") && err.contains("SIGABRT"), "{err}");
    assert!(
        err.contains("TIMEOUT") && err.contains("hangs_when_asked"),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l == "19 passed, 2 failed, 1 skipped"),
        "{err}"
    );
    let r = read_json(&json);
    assert_eq!(r["counts"]["timed_out"], 1);
    assert_eq!(r["counts"]["crashed"], 1);
    assert!(
        processes_of_run(out.path()).is_empty(),
        "the hanging test survived"
    );
}

#[test]
fn a_leaked_child_is_reported_and_killed() {
    let out = tempfile::tempdir().unwrap();
    let o = run(basic()
        .args(["leaks_when_asked"])
        .env("FIXTURE_LEAK", "1")
        .env("FIXTURE_OUT", out.path()));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "a leak alone does not fail the run: {}",
        text(&o)
    );
    assert!(
        err.contains("LEAK") && err.contains("left processes behind"),
        "{}",
        text(&o)
    );
    assert!(
        processes_of_run(out.path()).is_empty(),
        "the leaked `sleep` is still alive"
    );
}

#[test]
fn env_vars_reach_the_test() {
    let out = tempfile::tempdir().unwrap();
    let o = run(basic()
        .args(["env_vars_reach_the_test", "--shard", "1/1", "-j", "2"])
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let env = std::fs::read_to_string(out.path().join("env.txt")).unwrap();
    let vars: BTreeMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    assert!(["0", "1"].contains(&vars["SHARDTEST_WORKER_ID"]), "{env}");
    assert_eq!(vars["SHARDTEST_SHARD"], "1/1");
    assert!(!vars["SHARDTEST_RUN_ID"].is_empty());
    assert_eq!(
        vars["SHARDTEST_TEST_ID"],
        "basic tests::env_vars_reach_the_test"
    );
    assert_eq!(vars["SHARDTEST_ATTEMPT"], "1");
    assert!(
        vars["SHARDTEST_ARTIFACT_DIR"].contains("shard-1-of-1"),
        "{env}"
    );
    let pkg = fixture("basic").parent().unwrap().to_path_buf();
    assert_eq!(std::path::Path::new(vars["CARGO_MANIFEST_DIR"]), pkg);
    assert_eq!(std::path::Path::new(vars["CWD"]), pkg);
    assert_eq!(vars["CARGO_PKG_NAME"], "basic");
}

#[test]
fn a_worker_slot_is_never_shared_by_two_running_tests() {
    let out = tempfile::tempdir().unwrap();
    let o = run(basic()
        .args(["adds_", "-j", "3"])
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let log = std::fs::read_to_string(out.path().join("workers.log")).unwrap();
    let spans: Vec<(u32, u128, u128)> = log
        .lines()
        .map(|l| {
            let v: Vec<&str> = l.split(' ').collect();
            (
                v[0].parse().unwrap(),
                v[1].parse().unwrap(),
                v[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans.len(), 6, "{log}");
    assert!(
        spans.iter().all(|s| s.0 < 3),
        "worker ids are 0..W-1: {log}"
    );
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            let overlap = a.1 < b.2 && b.1 < a.2;
            assert!(
                !(overlap && a.0 == b.0),
                "two running tests shared worker {}: {log}",
                a.0
            );
        }
    }
}

#[test]
fn one_and_four_workers_give_the_same_results() {
    let statuses = |j: &str| {
        let out = tempfile::tempdir().unwrap();
        let json = out.path().join("r.json");
        let o = run(basic()
            .args(["-j", j, "--json"])
            .arg(&json)
            .env("FIXTURE_FAIL", "1"));
        assert_eq!(o.status.code(), Some(100), "{}", text(&o));
        let r = read_json(&json);
        r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["status"].as_str().unwrap().to_string(),
                )
            })
            .collect::<BTreeMap<_, _>>()
    };
    let one = statuses("1");
    assert_eq!(one.len(), ALL_TESTS);
    assert_eq!(one, statuses("4"));
}

#[test]
fn ignored_tests_run_with_ignored_flags() {
    let out = tempfile::tempdir().unwrap();
    let o = run(basic().arg("--ignored").env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        runs(out.path()).keys().cloned().collect::<Vec<_>>(),
        vec!["basic tests::expensive_ignored"]
    );
    let out = tempfile::tempdir().unwrap();
    let o = run(basic()
        .args(["--", "--include-ignored"])
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let runs = runs(out.path());
    assert_eq!(runs.len(), ALL_TESTS, "{runs:?}\n{}", text(&o));
}

#[test]
fn filters_exact_and_skip_mean_what_cargo_test_means() {
    let ids = list_ids(&["api_", "--skip", "api_two"]);
    assert_eq!(ids.len(), 4, "{ids:?}");
    let ids = list_ids(&["--exact", "tests::adds_one"]);
    assert_eq!(ids, vec!["basic tests::adds_one"]);
    let mut c = shardtest();
    let o = run(c
        .args(["list", "-p", "other", "--manifest-path"])
        .arg(fixture("basic")));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().count(),
        3,
        "{}",
        text(&o)
    );
}

#[test]
fn malformed_shards_are_usage_errors() {
    for bad in ["0/8", "9/8", "a/b", "3", "1/0"] {
        let o = run(basic().args(["--shard", bad]));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("shard"), "{bad}: {err}");
    }
}

#[test]
fn a_build_failure_exits_101() {
    let mut c = shardtest();
    let o = run(c.arg("--manifest-path").arg(fixture("broken")));
    assert_eq!(o.status.code(), Some(101), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("mismatched types"),
        "cargo's diagnostics are shown: {err}"
    );
}

#[test]
fn ctrl_c_stops_the_tests_and_still_writes_the_report() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let mut cmd = basic();
    cmd.args(["-j", "2", "--json"])
        .arg(&json)
        .env("FIXTURE_OUT", out.path())
        .env("FIXTURE_HANG", "1");
    let o = interrupt_when(cmd, &out.path().join("hang-started"));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = read_json(&json);
    assert_eq!(r["complete"], false);
    assert!(!r["tests"].as_array().unwrap().is_empty());
    assert!(
        processes_of_run(out.path()).is_empty(),
        "the hanging test survived Ctrl-C"
    );
}

#[test]
fn help_explains_every_command() {
    for args in [&["--help"][..], &["run", "--help"], &["list", "--help"]] {
        let o = run(shardtest().args(args));
        assert!(o.status.success(), "{}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains("Usage"), "{s}");
    }
    let o = run(shardtest().args(["run", "--help"]));
    let s = String::from_utf8_lossy(&o.stdout);
    for flag in [
        "--shard",
        "--jobs",
        "--timeout",
        "--retries",
        "--json",
        "--exact",
        "--skip",
        "--ignored",
        "--manifest-path",
        "Exit status",
    ] {
        assert!(s.contains(flag), "run --help lacks {flag}");
    }
}
