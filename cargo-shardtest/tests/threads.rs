//! `#[shard::threads(N)]` (issue 18): a test that takes N of the W worker slots. Fixture:
//! tests/fixtures/threads-demo, run at `-j 3`: two long tests start first, the heavy test
//! (threads 2) is next in line, short tests queue behind it. The heavy test must not share the
//! machine with more than one other test, and no short test may take the free slot while it
//! waits (a scheduler that filled the free slot with short tests would starve it).

mod common;

use common::*;
use std::path::Path;

#[derive(Debug)]
struct Span {
    name: String,
    start: u128,
    end: u128,
}

fn spans(dir: &Path) -> Vec<Span> {
    let mut out: Vec<Span> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            let f: Vec<&str> = text.split_whitespace().collect();
            Span {
                name: f[0].to_string(),
                start: f[1].parse().unwrap(),
                end: f[2].parse().unwrap(),
            }
        })
        .collect();
    out.sort_by_key(|s| s.start);
    out
}

#[test]
fn a_threads_2_test_takes_two_of_three_slots_and_is_not_starved() {
    let dir = tempfile::tempdir().unwrap();
    let list = run(shardtest()
        .args(["list", "--format", "json", "--manifest-path"])
        .arg(fixture("threads-demo"))
        .arg("--target-dir")
        .arg(repo_root().join("target/attrs-demo")));
    assert!(list.status.success(), "{}", text(&list));
    let doc: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let heavy = doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "b_heavy")
        .unwrap()
        .clone();
    assert_eq!(heavy["attributes"]["threads"], 2, "{heavy}");

    let out = run(shardtest()
        .args(["run", "-j", "3", "--manifest-path"])
        .arg(fixture("threads-demo"))
        .arg("--target-dir")
        .arg(repo_root().join("target/attrs-demo"))
        .env("THREADS_DEMO_LOG", dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let all = spans(dir.path());
    assert_eq!(all.len(), 9, "{all:?}");
    let heavy = all.iter().find(|s| s.name == "b_heavy").unwrap();
    // While it runs, at most one other test runs (at every start inside its interval, and
    // at its own start).
    let others: Vec<&Span> = all.iter().filter(|s| s.name != "b_heavy").collect();
    let mut points = vec![heavy.start];
    points.extend(
        others
            .iter()
            .map(|s| s.start)
            .filter(|t| *t > heavy.start && *t < heavy.end),
    );
    for t in points {
        let running: Vec<&str> = others
            .iter()
            .filter(|s| s.start <= t && s.end > t)
            .map(|s| s.name.as_str())
            .collect();
        assert!(
            running.len() <= 1,
            "{running:?} ran beside the threads(2) test: {all:?}"
        );
    }
    // Never starved: while it waited for its second slot (until a long test ended), the free
    // slot was not handed to the short tests queued behind it, and it started as soon as a
    // long test ended (the bound allows for process start-up on a loaded machine).
    let first_long_end = all
        .iter()
        .filter(|s| s.name.starts_with("a_long"))
        .map(|s| s.end)
        .min()
        .unwrap();
    for s in all.iter().filter(|s| s.name.starts_with("c_short")) {
        assert!(
            s.start >= first_long_end,
            "{} started while the heavy test waited for its slots: {all:?}",
            s.name
        );
    }
    let waited = heavy.start.saturating_sub(first_long_end);
    assert!(
        waited < 2_000_000_000,
        "the heavy test started {waited} ns after its slots were free: {all:?}"
    );
}
