//! Plans and outputs you can trust: any sequence of commands runs every test exactly once,
//! and no output lies. Each test here is a sequence a new user would type.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A copy of a fixture workspace in a temporary directory, so that the default history
/// (`<workspace>/.shardtest/`) lands in the copy, never in this repository.
fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    let from = fixture(name).parent().unwrap().to_path_buf();
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let name = e.file_name();
            if name == "target" || name == ".shardtest" {
                continue;
            }
            let (src, dst) = (e.path(), to.join(&name));
            if src.is_dir() {
                copy_dir(&src, &dst);
            } else {
                std::fs::copy(&src, &dst).unwrap();
            }
        }
    }
    let to = into.join(name);
    copy_dir(&from, &to);
    to.join("Cargo.toml")
}

/// `cargo shardtest` on `manifest` with default timings (no `--timings`, no environment).
fn default_flags(command: &str, manifest: &Path, target: &Path) -> Command {
    let mut c = shardtest();
    c.env_remove("SHARDTEST_TIMINGS")
        .arg(command)
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target-dir")
        .arg(target);
    c
}

fn ids_of(report: &Path) -> BTreeSet<String> {
    statuses(&read_json(report)).into_keys().collect()
}

#[test]
fn three_rounds_of_four_shards_with_default_flags_each_run_every_test_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = copy_fixture("skewed", dir.path());
    // One build for every command (the fixture's own target dir is shared by other tests).
    let target = fixture("skewed")
        .parent()
        .unwrap()
        .join("target/trust-rounds");
    let mut fingerprints = Vec::new();
    for round in 1..=3 {
        let mut reports = Vec::new();
        for k in 1..=4 {
            let r = dir.path().join(format!("round{round}-{k}.json"));
            let o = run(default_flags("run", &manifest, &target)
                .args(["-j", "2", "--shard", &format!("{k}/4"), "--json"])
                .arg(&r));
            assert!(o.status.success(), "round {round} shard {k}: {}", text(&o));
            reports.push(r);
            if round == 3 && k == 2 {
                // A CI "retry job" of shard 2 before the round is complete runs the same tests.
                let again = dir.path().join("round3-2-again.json");
                let o = run(default_flags("run", &manifest, &target)
                    .args(["-j", "2", "--shard", "2/4", "--json"])
                    .arg(&again));
                assert!(o.status.success(), "{}", text(&o));
                assert_eq!(
                    ids_of(&again),
                    ids_of(&reports[1]),
                    "the retry ran other tests"
                );
                assert_eq!(
                    read_json(&again)["run"]["fingerprint"],
                    read_json(&reports[1])["run"]["fingerprint"]
                );
            }
        }
        let o = run(shardtest().arg("verify").args(&reports));
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("verified: 4 shards of plan"), "{out}");
        assert!(!out.contains("verified: verified"), "{out}");
        fingerprints.push(read_json(&reports[0])["run"]["fingerprint"].clone());
    }
    assert_ne!(
        fingerprints[0], fingerprints[1],
        "round 2 plans from the durations of round 1"
    );
    // The history's folder keeps itself out of git.
    let root = manifest.parent().unwrap();
    let ignore = std::fs::read_to_string(root.join(".shardtest/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l.trim() == "*"), "{ignore}");
    assert!(root.join(".shardtest/timings.json").exists());
}

#[test]
fn rerun_failed_runs_exactly_the_failures_and_merges_with_the_originals() {
    let dir = tempfile::tempdir().unwrap();
    let (out1, out2) = (dir.path().join("out1"), dir.path().join("out2"));
    std::fs::create_dir_all(&out1).unwrap();
    std::fs::create_dir_all(&out2).unwrap();
    let mut reports = Vec::new();
    for k in 1..=3 {
        let r = dir.path().join(format!("report-{k}.json"));
        let o = run(basic()
            .env("FIXTURE_OUT", &out1)
            .env("FIXTURE_FAIL", "1")
            .env("FIXTURE_CRASH", "1")
            .args(["-j", "2", "--shard", &format!("{k}/3"), "--json"])
            .arg(&r));
        assert!(matches!(o.status.code(), Some(0 | 100)), "{}", text(&o));
        reports.push(r);
    }
    let failed: BTreeSet<String> = reports
        .iter()
        .flat_map(|r| statuses(&read_json(r)))
        .filter(|(_, s)| s == "failed")
        .map(|(id, _)| id)
        .collect();
    assert!(failed.len() >= 2, "planted failures: {failed:?}");

    // The failures are fixed: rerun them only.
    let rerun = dir.path().join("rerun.json");
    let o = run(basic()
        .env("FIXTURE_OUT", &out2)
        .args(["-j", "2", "--json"])
        .arg(&rerun)
        .arg("--rerun-failed")
        .args(&reports));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ids_of(&rerun), failed, "the rerun ran exactly the failures");
    let rerun_log = runs(&out2);
    assert!(rerun_log.values().all(|n| *n == 1), "{rerun_log:?}");
    assert_eq!(rerun_log.len(), failed.len(), "{rerun_log:?}");

    // verify accepts the originals with the rerun, and says what the rerun did.
    let mut all = reports.clone();
    all.push(rerun.clone());
    let o = run(shardtest().arg("verify").args(&all));
    assert!(o.status.success(), "{}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(
        said.contains(&format!(
            "{} failed tests were run again by --rerun-failed, {} of them passed",
            failed.len(),
            failed.len()
        )),
        "{said}"
    );
    // The merged report counts each test once; the fixed failures are flaky, not failed.
    let (xml, json) = (dir.path().join("all.xml"), dir.path().join("all.json"));
    let o = merge_reports(&all, &xml, &json);
    assert!(o.status.success(), "{}", text(&o));
    let merged = read_json(&json);
    let st = statuses(&merged);
    assert_eq!(st.len(), 22, "each test once: {st:?}");
    for id in &failed {
        assert_eq!(st[id], "flaky", "{id}");
    }
    assert_eq!(merged["counts"]["failed"], 0);

    // Nothing left to rerun is not an error.
    let o = run(basic().arg("--rerun-failed").arg(&json));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Nothing to rerun"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_filter_that_selects_nothing_is_an_error_unless_allowed() {
    let o = run(basic().arg("no_such_test"));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no tests to run"), "{err}");
    assert!(
        err.contains("`no_such_test`"),
        "the message names the filter: {err}"
    );
    assert!(err.contains("--no-tests=pass"), "{err}");

    let o = run(basic().args(["--no-tests=pass", "no_such_test"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = run(basic().args(["--no-tests", "warn", "no_such_test"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("warning: no tests to run"));

    // More shards than tests: the empty shard is fine and says why.
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("skewed"))
        .args(["--shard", "13/13"]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Shard 13/13 has no tests to run"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_future_version_history_is_left_byte_for_byte_and_the_durations_go_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("timings.json");
    let future =
        br#"{"version": 99, "runs": [], "tests": {"skewed tests::t00": "a shape we do not know"}}"#;
    std::fs::write(&history, future).unwrap();
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("skewed"))
        .args(["-j", "2", "--timings"])
        .arg(&history));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&history).unwrap(),
        future,
        "the history was changed"
    );
    let pending: Vec<PathBuf> = std::fs::read_dir(dir.path().join("timings.json.pending"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&history.display().to_string()), "{err}");
    assert!(err.contains(&pending[0].display().to_string()), "{err}");
    assert!(err.contains("left as it is"), "{err}");
    // And the durations are there to merge once the history is readable again.
    let merged = dir.path().join("merged.json");
    let o = run(shardtest()
        .args(["timings", "merge"])
        .arg(&pending[0])
        .arg("-o")
        .arg(&merged));
    assert!(o.status.success(), "{}", text(&o));
    assert!(std::fs::read_to_string(&merged).unwrap().contains("t00"));
}

#[test]
fn a_green_run_whose_timings_cannot_be_written_exits_0_with_every_report() {
    let dir = tempfile::tempdir().unwrap();
    // The history's directory is a file: nothing can be written under it, even as root.
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, b"").unwrap();
    let (json, junit) = (dir.path().join("r.json"), dir.path().join("j.xml"));
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("skewed"))
        .args(["-j", "2", "--timings"])
        .arg(blocker.join("timings.json"))
        .arg("--json")
        .arg(&json)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: this run's durations were not recorded"),
        "{err}"
    );
    assert_eq!(read_json(&json)["counts"]["passed"], 12);
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<testsuites")
    );

    // A report that cannot be written is its own exit status; the others are still written.
    let json2 = dir.path().join("r2.json");
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("skewed"))
        .args(["-j", "2", "--json"])
        .arg(&json2)
        .arg("--junit")
        .arg(blocker.join("j.xml")));
    assert_eq!(o.status.code(), Some(110), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("could not write the JUnit report"));
    assert_eq!(read_json(&json2)["counts"]["passed"], 12);
}

#[test]
fn plan_and_run_agree_on_the_fingerprint_with_default_workers() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("t.json");
    let skewed = |args: &[&str]| {
        let mut c = shardtest();
        c.arg(args[0])
            .arg("--manifest-path")
            .arg(fixture("skewed"))
            .arg("--timings")
            .arg(&history)
            .args(&args[1..]);
        c
    };
    // Some history first, so the estimates are not all the same guess.
    let o = run(&mut skewed(&["run", "-j", "1"]));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&mut skewed(&["plan", "--shards", "4", "--format", "json"]));
    assert!(o.status.success(), "{}", text(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cores = std::thread::available_parallelism().unwrap().get() as u64;
    assert_eq!(plan["workers"], cores, "plan assumes run's -j");
    let fp = plan["plan"]["fingerprint"].clone();
    // The human plan says which -j it assumed, and prints the same fingerprint.
    let o = run(&mut skewed(&["plan", "--shards", "4"]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!("-j {cores}: this machine's available parallelism")),
        "{out}"
    );
    assert!(
        out.contains(&format!("fingerprint {}", fp.as_str().unwrap())),
        "{out}"
    );
    let mut by_shard = BTreeMap::new();
    for k in 1..=4 {
        let r = dir.path().join(format!("r{k}.json"));
        let o = run(skewed(&["run", "--shard", &format!("{k}/4"), "--json"]).arg(&r));
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(read_json(&r)["run"]["fingerprint"], fp, "shard {k}");
        by_shard.insert(k, ids_of(&r).len());
    }
    assert_eq!(by_shard.values().sum::<usize>(), 12, "{by_shard:?}");
}

#[test]
fn the_runs_folder_stays_within_its_budget() {
    let dir = tempfile::tempdir().unwrap();
    let target = fixture("disk-budget").parent().unwrap().join("target");
    let runs_dir = target.join("shardtest/runs");
    let budget: u64 = 6_000_000;
    for i in 0..20 {
        let o = run(shardtest()
            .arg("--manifest-path")
            .arg(fixture("disk-budget"))
            .args(["-j", "2", "--keep-runs", "100", "--runs-size-limit", "6MB"])
            .arg("--timings")
            .arg(dir.path().join("t.json")));
        assert_eq!(o.status.code(), Some(100), "run {i}: {}", text(&o));
        let size = shardtest::runs_dir::size_of(&runs_dir);
        assert!(
            size <= budget,
            "run {i}: the runs folder holds {size} bytes"
        );
    }
    // The newest run's failure log is still there to read.
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("disk-budget"))
        .args(["-j", "2", "--keep-runs", "2"])
        .arg("--timings")
        .arg(dir.path().join("t.json")));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let left = std::fs::read_dir(&runs_dir).unwrap().count();
    assert!(left <= 2, "--keep-runs 2 left {left} runs");
    // `clean` removes them.
    let o = run(shardtest()
        .args(["clean", "--manifest-path"])
        .arg(fixture("disk-budget")));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!runs_dir.exists());
}

#[test]
fn a_proc_macro_crates_unit_tests_list_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("proc-macro-unit"))
        .args(["-j", "1", "--json"])
        .arg(&json));
    assert!(o.status.success(), "{}", text(&o));
    let st = statuses(&read_json(&json));
    assert_eq!(
        st.get("proc-macro-unit tests::a_unit_test_of_a_proc_macro_crate")
            .map(String::as_str),
        Some("passed"),
        "{st:?}"
    );
}

fn logs_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "output.log") {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn a_passing_tests_output_is_kept_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (plain, kept) = (dir.path().join("plain"), dir.path().join("kept"));
    for (artifacts, extra) in [(&plain, None), (&kept, Some("--keep-output"))] {
        let o = run(basic()
            .args(["-j", "1", "--exact", "tests::adds_one", "--artifact-dir"])
            .arg(artifacts)
            .args(extra));
        assert!(o.status.success(), "{}", text(&o));
    }
    assert!(logs_under(&plain).is_empty(), "{:?}", logs_under(&plain));
    let logs = logs_under(&kept);
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(log.contains("adds_one"), "{log}");
}
