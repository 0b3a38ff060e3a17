//! A simulated CI matrix, end to end: one "build job" archives the fixture workspace; four
//! "shard jobs" run at the same time as separate processes, each in its own directory with
//! only the archive (and no cargo on PATH), each writing its JSON and JUnit reports; a final
//! job merges the reports, verifies every test ran exactly once, and checks the merged JUnit.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

const N: u32 = 4;
const ALL_TESTS: usize = 22; // 21 runnable + 1 ignored in tests/fixtures/basic

#[test]
fn a_four_job_matrix_runs_every_test_exactly_once() {
    let ci = tempfile::tempdir().unwrap();
    // Build job.
    let archive = ci.path().join("build/tests.tar.zst");
    let o = run(shardtest()
        .args(["archive", "--workspace", "--manifest-path"])
        .arg(fixture("basic"))
        .arg("-o")
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));

    // Shard jobs: each gets a fresh directory with a copy of the archive ("downloaded
    // artifact") and runs concurrently with the others.
    let out = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for k in 1..=N {
        let job = ci.path().join(format!("job-{k}"));
        std::fs::create_dir_all(&job).unwrap();
        std::fs::copy(&archive, job.join("tests.tar.zst")).unwrap();
        let child = shardtest()
            .current_dir(&job)
            .env("PATH", "/usr/bin:/bin")
            .env_remove("CARGO")
            .env("CI", "true")
            .env("FIXTURE_OUT", out.path())
            .args(["run", "--archive", "tests.tar.zst", "-j", "2"])
            .args(["--shard", &format!("{k}/{N}")])
            .args(["--json", &format!("report-{k}.json")])
            .args(["--junit", &format!("junit-{k}.xml")])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        jobs.push((k, job, child));
    }
    let started = Instant::now();
    let mut reports: Vec<PathBuf> = Vec::new();
    for (k, job, child) in jobs {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "shard {k}/{N}: {}", text(&o));
        let last = String::from_utf8_lossy(&o.stderr)
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        assert!(
            last.ends_with(" failed, 0 skipped") || last.ends_with(" failed, 1 skipped"),
            "{last}"
        );
        // Each job's JUnit is valid on its own.
        let x = std::fs::read_to_string(job.join(format!("junit-{k}.xml"))).unwrap();
        roxmltree::Document::parse(&x).unwrap_or_else(|e| panic!("junit-{k}.xml: {e}"));
        reports.push(job.join(format!("report-{k}.json")));
    }
    assert!(
        started.elapsed() < Duration::from_secs(300),
        "the matrix took too long"
    );

    // Final job: merge and verify.
    let (all_xml, all_json) = (ci.path().join("all.xml"), ci.path().join("all.json"));
    let o = merge_reports(&reports, &all_xml, &all_json);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!("verified: {N} shards of plan")),
        "{}",
        text(&o)
    );

    // Exactly once, three ways: the library's verify, the tests' own record, the merged report.
    let parsed: Vec<shardtest::report::json::JsonReport> = reports
        .iter()
        .map(|p| shardtest::report::merge::load(p).unwrap())
        .collect();
    let summary = shardtest::verify::verify_reports(&parsed).expect("exactly once");
    assert_eq!(
        (summary.shards, summary.tests, summary.skipped),
        (N, ALL_TESTS, 1)
    );
    let fps: BTreeSet<&str> = parsed.iter().map(|r| r.run.fingerprint.as_str()).collect();
    assert_eq!(fps.len(), 1, "one plan for every job");
    let runs = runs(out.path());
    assert_eq!(runs.len(), ALL_TESTS - 1, "{runs:?}");
    assert!(runs.values().all(|&n| n == 1), "a test ran twice: {runs:?}");
    let merged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&all_json).unwrap()).unwrap();
    assert_eq!(merged["tests"].as_array().unwrap().len(), ALL_TESTS);
    assert_eq!(merged["counts"]["passed"], 21);
    assert_eq!(merged["counts"]["skipped"], 1);

    // The merged JUnit: valid XML, the right counts, every test once, every shard named.
    let x = std::fs::read_to_string(&all_xml).unwrap();
    let doc = roxmltree::Document::parse(&x).expect("merged JUnit is valid XML");
    let root = doc.root_element();
    let attr = |n: roxmltree::Node, a: &str| -> usize { n.attribute(a).unwrap().parse().unwrap() };
    assert_eq!(attr(root, "tests"), ALL_TESTS);
    assert_eq!(attr(root, "failures"), 0);
    assert_eq!(attr(root, "errors"), 0);
    assert_eq!(attr(root, "skipped"), 1);
    let cases: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .map(|n| {
            format!(
                "{} {}",
                n.attribute("classname").unwrap(),
                n.attribute("name").unwrap()
            )
        })
        .collect();
    let unique: BTreeSet<&String> = cases.iter().collect();
    assert_eq!((cases.len(), unique.len()), (ALL_TESTS, ALL_TESTS));
    let suite_total: usize = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .map(|s| attr(s, "tests"))
        .sum();
    assert_eq!(suite_total, ALL_TESTS);
    let shards: BTreeSet<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("shard"))
        .filter_map(|n| n.attribute("value"))
        .collect();
    assert_eq!(shards.len(), N as usize, "{shards:?}");

    // Timings: every shard's JUnit imports into the timings store (our JUnit has the shape
    // `timings import` reads), and the per-shard stores merge into one that knows every test
    // that ran. (`run --timings` per shard and `timings merge` will replace this import.)
    let listed: BTreeSet<shardtest::id::TestId> = parsed[0].planned_tests.iter().cloned().collect();
    let mut stores = Vec::new();
    for k in 1..=N {
        let x = std::fs::read_to_string(ci.path().join(format!("job-{k}/junit-{k}.xml"))).unwrap();
        let mut store = shardtest::history::TimingStore::default();
        let summary = store.import_junit(&x, Some(&listed), 0).unwrap();
        assert_eq!(summary.unmapped, 0, "junit-{k}.xml: {summary:?}");
        stores.push(store);
    }
    let merged_timings = shardtest::history::TimingStore::merge_all(&stores);
    let known = listed
        .iter()
        .filter(|id| merged_timings.stats(id).is_some())
        .count();
    assert_eq!(known, ALL_TESTS - 1, "every test that ran has a timing");

    // And the picture of the matrix.
    let html = ci.path().join("timeline.html");
    let o = run(shardtest()
        .arg("timeline")
        .args(&reports)
        .arg("-o")
        .arg(&html));
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(page.matches("class=\"actual-end\"").count(), N as usize);
}
