//! The README's main job: the bundled example workspace runs green under `cargo shardtest`,
//! sharded or not (with a real PostgreSQL when `DATABASE_URL` is set, as under
//! scripts/test.sh).

mod common;

use common::*;
use std::collections::BTreeSet;

#[test]
fn the_example_workspace_passes_whole_and_in_three_shards() {
    let manifest = repo_root().join("examples/Cargo.toml");
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.json");
    let mut c = shardtest();
    let o = run(c
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--workspace", "-j", "4", "--json"])
        .arg(&whole));
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&whole).unwrap()).unwrap();
    let passed = r["counts"]["passed"].as_u64().unwrap();
    assert!(passed >= 40, "the example has dozens of tests: {passed}");
    assert_eq!(r["counts"]["failed"], 0);
    // The main command runs the doctests too.
    let doctests: Vec<_> = statuses(&r)
        .into_iter()
        .filter(|(id, _)| id.starts_with("billing::doc "))
        .collect();
    assert_eq!(doctests.len(), 4, "{doctests:?}");
    assert!(doctests.iter().all(|(_, s)| s == "passed"), "{doctests:?}");

    let mut ran = BTreeSet::new();
    for k in 1..=3 {
        let json = dir.path().join(format!("shard-{k}.json"));
        let mut c = shardtest();
        let o = run(c
            .arg("--manifest-path")
            .arg(&manifest)
            .args([
                "--workspace",
                "-j",
                "2",
                "--shard",
                &format!("{k}/3"),
                "--json",
            ])
            .arg(&json));
        assert!(o.status.success(), "{}", text(&o));
        let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        for t in r["tests"].as_array().unwrap() {
            assert!(
                ran.insert(t["id"].as_str().unwrap().to_string()),
                "{t} ran in two shards"
            );
        }
    }
    let all: BTreeSet<String> = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ran, all);
}
