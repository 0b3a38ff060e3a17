//! Build-once archives: `archive` packs the fixture workspace's tests; the archive, copied to a
//! fresh directory, runs every shard there with cargo absent from PATH and the source tree
//! out of reach (package dirs remapped into the unpacked archive).

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const RUNNABLE: usize = 21; // tests/fixtures/basic: 21 runnable + 1 ignored

/// A PATH without cargo (and without rustup's directory).
const NO_CARGO_PATH: &str = "/usr/bin:/bin";

fn make_archive(dir: &Path, extra: &[&str]) -> PathBuf {
    let archive = dir.join("tests.tar.zst");
    let o = run(shardtest()
        .args(["archive", "--workspace", "--manifest-path"])
        .arg(fixture("basic"))
        .arg("-o")
        .arg(&archive)
        .args(extra));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Archived 4 test binaries"),
        "{}",
        text(&o)
    );
    archive
}

/// `cargo shardtest` in `dir` with no cargo reachable.
fn without_cargo(dir: &Path) -> Command {
    let mut c = shardtest();
    c.current_dir(dir)
        .env("PATH", NO_CARGO_PATH)
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO_MANIFEST_DIR");
    c
}

#[test]
fn the_test_environment_really_has_no_cargo() {
    let o = Command::new("/bin/sh")
        .args(["-c", "command -v cargo"])
        .env("PATH", NO_CARGO_PATH)
        .output()
        .unwrap();
    assert!(
        !o.status.success(),
        "cargo is on {NO_CARGO_PATH}: {}",
        text(&o)
    );
}

#[test]
fn an_archive_runs_every_shard_elsewhere_without_cargo_or_sources() {
    let build_dir = tempfile::tempdir().unwrap();
    let archive = make_archive(build_dir.path(), &[]);
    // "Another machine": a fresh directory holding only the archive.
    let elsewhere = tempfile::tempdir().unwrap();
    let moved = elsewhere.path().join("tests.tar.zst");
    std::fs::copy(&archive, &moved).unwrap();
    drop(build_dir);

    let out = tempfile::tempdir().unwrap();
    let n = 3;
    for k in 1..=n {
        let report = elsewhere.path().join(format!("report-{k}.json"));
        let o = run(without_cargo(elsewhere.path())
            .args(["run", "--archive", "tests.tar.zst", "-j", "2"])
            .args(["--shard", &format!("{k}/{n}"), "--json"])
            .arg(&report)
            .env("FIXTURE_OUT", out.path()));
        assert!(o.status.success(), "shard {k}/{n}: {}", text(&o));
        let r: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
        assert_eq!(r["counts"]["failed"], 0, "{}", text(&o));
    }
    // Every runnable test ran exactly once across the shards, including the ones that need
    // the package dir as cwd and the CARGO_BIN_EXE_ binary.
    let runs = runs(out.path());
    assert_eq!(runs.len(), RUNNABLE, "{runs:?}");
    assert!(runs.values().all(|&c| c == 1), "{runs:?}");
    assert!(runs.contains_key("basic::api cwd_is_the_package_dir"));
    assert!(runs.contains_key("basic::api runs_the_tool_binary"));
    // Package dirs were remapped into the unpacked archive, not the original sources.
    let env = std::fs::read_to_string(out.path().join("env.txt")).unwrap();
    let vars: BTreeMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let manifest_dir = Path::new(vars["CARGO_MANIFEST_DIR"]);
    assert!(
        manifest_dir.starts_with(elsewhere.path()),
        "CARGO_MANIFEST_DIR {} is not under {}",
        manifest_dir.display(),
        elsewhere.path().display()
    );
    assert!(manifest_dir.ends_with("workspace"), "{env}");
    assert_eq!(vars["CWD"], vars["CARGO_MANIFEST_DIR"]);
    // The unpacked copy is cleaned up; the run's artifacts stay under ./target.
    let archives = elsewhere.path().join("target/shardtest/archives");
    assert_eq!(std::fs::read_dir(&archives).unwrap().count(), 0);
}

#[test]
fn list_from_an_archive_matches_list_from_the_sources() {
    let dir = tempfile::tempdir().unwrap();
    let archive = make_archive(dir.path(), &[]);
    let from_source = run(shardtest()
        .args(["list", "--workspace", "--shard", "2/3", "--manifest-path"])
        .arg(fixture("basic")));
    assert!(from_source.status.success(), "{}", text(&from_source));
    let from_archive = run(without_cargo(dir.path())
        .args(["list", "--shard", "2/3", "--archive"])
        .arg(&archive));
    assert!(from_archive.status.success(), "{}", text(&from_archive));
    assert_eq!(
        String::from_utf8_lossy(&from_archive.stdout),
        String::from_utf8_lossy(&from_source.stdout)
    );
}

#[test]
fn included_files_and_workspace_remap() {
    let dir = tempfile::tempdir().unwrap();
    // --include takes workspace paths; here the other package's sources.
    let other_src = fixture("basic").parent().unwrap().join("other/src");
    let archive = make_archive(dir.path(), &["--include", other_src.to_str().unwrap()]);
    let unpacked = tempfile::tempdir().unwrap();
    shardtest::archive::extract(&archive, unpacked.path()).unwrap();
    assert!(unpacked.path().join("workspace/other/src/lib.rs").is_file());
    assert!(unpacked.path().join("workspace/Cargo.toml").is_file());
    assert!(unpacked.path().join("workspace/other/Cargo.toml").is_file());

    // --workspace-remap: package dirs point into a checkout of the sources instead.
    let out = tempfile::tempdir().unwrap();
    let checkout = fixture("basic").parent().unwrap().to_path_buf();
    let o = run(without_cargo(dir.path())
        .args(["run", "env_vars_reach_the_test", "--archive"])
        .arg(&archive)
        .arg("--workspace-remap")
        .arg(&checkout)
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let env = std::fs::read_to_string(out.path().join("env.txt")).unwrap();
    assert!(
        env.contains(&format!("CWD={}\n", checkout.display())),
        "{env}"
    );

    // An include outside the workspace is a usage error.
    let o = run(shardtest()
        .args(["archive", "--workspace", "--manifest-path"])
        .arg(fixture("basic"))
        .arg("-o")
        .arg(dir.path().join("x.tar.zst"))
        .arg("--include")
        .arg(dir.path()));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not inside the workspace"));
}

#[test]
fn a_bad_archive_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.tar.zst");
    std::fs::write(&bogus, "not an archive").unwrap();
    let o = run(without_cargo(dir.path())
        .args(["run", "--archive"])
        .arg(&bogus));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not a shardtest archive"),
        "{}",
        text(&o)
    );
    let o = run(without_cargo(dir.path()).args(["run", "--archive", "missing.tar.zst"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
