//! `--skip-non-critical` (issue 18): the hotfix switch leaves exactly the
//! `#[shard::non_critical]` tests out of a run and says so in the summary, the JSON report and
//! the JUnit report. Fixture: tests/fixtures/attrs-demo.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;

fn demo(command: &str, scratch: &Path) -> std::process::Command {
    let mut c = shardtest();
    c.arg(command)
        .arg("--manifest-path")
        .arg(fixture("attrs-demo"))
        .arg("--target-dir")
        .arg(repo_root().join("target/attrs-demo"))
        .env("ATTRS_DEMO_LOG", scratch.join("events.log"))
        .env("SHARDTEST_LOCK_DIR", scratch.join("locks"))
        .env_remove("RUST_BACKTRACE");
    c
}

#[test]
fn skip_non_critical_leaves_out_exactly_the_non_critical_tests_and_says_so() {
    let scratch = tempfile::tempdir().unwrap();
    // The non-critical tests among those the filters select, as the listing knows them.
    let out =
        run(demo("list", scratch.path()).args(["--format", "json", "noncrit", "at_the_root"]));
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tests = doc["tests"].as_array().unwrap();
    let non_critical: BTreeSet<String> = tests
        .iter()
        .filter(|t| t["attributes"]["non_critical"] == true)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(non_critical.len(), 4, "{doc}");
    assert!(tests.len() > non_critical.len());

    let json = scratch.path().join("r.json");
    let junit = scratch.path().join("j.xml");
    let out = run(demo("run", scratch.path())
        .args([
            "--skip-non-critical",
            "-j",
            "2",
            "noncrit",
            "at_the_root",
            "--json",
        ])
        .arg(&json)
        .arg("--junit")
        .arg(&junit));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SKIPPING 4 non-critical tests (--skip-non-critical)"),
        "{err}"
    );
    assert!(
        err.contains("4 non-critical tests were NOT RUN (--skip-non-critical)"),
        "{err}"
    );
    // None of them ran.
    let log = std::fs::read_to_string(scratch.path().join("events.log")).unwrap_or_default();
    assert!(!log.contains("noncrit::"), "{log}");

    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let skipped: BTreeSet<String> = report["skipped_non_critical"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(skipped, non_critical);
    for t in report["tests"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let expected = if non_critical.contains(id) {
            "skipped"
        } else {
            "passed"
        };
        assert_eq!(t["status"], expected, "{id}: {t}");
    }

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(
        xml.matches(r#"type="skip-non-critical""#).count(),
        4,
        "{xml}"
    );
    assert!(
        xml.contains(r#"<property name="shardtest.skipped_non_critical" value="4"/>"#),
        "{xml}"
    );

    // Without the switch they run (and fail, without failing the build).
    let scratch = tempfile::tempdir().unwrap();
    let out = run(demo("run", scratch.path()).args(["-j", "2", "noncrit", "at_the_root"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("--skip-non-critical"));
    let log = std::fs::read_to_string(scratch.path().join("events.log")).unwrap_or_default();
    assert!(log.contains("noncrit::panics"), "{log}");
}
