//! Switching from cargo-nextest (issue 18): the fixture `tests/fixtures/nextest-compat` has a
//! real `.config/nextest.toml`; its tests log when they ran (`NEXTEST_COMPAT_LOG=<dir>`), so
//! the same config is checked under `cargo shardtest` and under `cargo nextest` (when it is
//! installed), and `-E` filtersets are compared with what `cargo nextest list` selects.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> PathBuf {
    repo_root().join("target/nextest-compat")
}

fn nextest_installed() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cargo shardtest <command> --manifest-path <fixture> --workspace --target-dir ...`.
fn st(command: &str) -> Command {
    let mut c = shardtest();
    c.arg(command)
        .arg("--manifest-path")
        .arg(fixture("nextest-compat"))
        .arg("--workspace")
        .arg("--target-dir")
        .arg(target_dir());
    c
}

/// `cargo nextest <command>` on the same fixture and target directory.
fn nt(command: &str) -> Command {
    let mut c = Command::new("cargo");
    c.args(["nextest", command])
        .arg("--manifest-path")
        .arg(fixture("nextest-compat"))
        .arg("--workspace")
        .arg("--target-dir")
        .arg(target_dir());
    for (k, _) in std::env::vars() {
        if k.starts_with("NEXTEST") || k.starts_with("SHARDTEST_") {
            c.env_remove(k);
        }
    }
    c.env_remove("CARGO_TARGET_DIR");
    c
}

/// The tests `cargo shardtest list -E ...` would run: `binary-id name`.
fn shardtest_selects(args: &[&str]) -> BTreeSet<String> {
    let out = run(st("list").args(["--format", "json"]).args(args));
    assert!(out.status.success(), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["will_run"] == true)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect()
}

/// The tests `cargo nextest list -E ...` selects (status `matches`).
fn nextest_selects(args: &[&str]) -> BTreeSet<String> {
    let out = nt("list")
        .args(["--message-format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo nextest list {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut set = BTreeSet::new();
    for (binary, suite) in doc["rust-suites"].as_object().unwrap() {
        for (name, case) in suite["testcases"].as_object().unwrap() {
            if case["filter-match"]["status"] == "matches" {
                set.insert(format!("{binary} {name}"));
            }
        }
    }
    set
}

#[test]
fn filtersets_select_exactly_what_nextest_selects() {
    if !nextest_installed() {
        eprintln!("cargo-nextest is not installed: comparing with it is skipped");
        return;
    }
    let cases: &[&[&str]] = &[
        &["-E", "all()"],
        &["-E", "none()"],
        &["-E", "test(db_)"],
        &["-E", "test(=tests::db_one)"],
        &["-E", "test(/^tests::db_/)"],
        &["-E", "test(#*heavy*)"],
        &["-E", "test(~light)"],
        &["-E", "package(alpha)"],
        &["-E", "package(~alph)"],
        &["-E", "package(beta)"],
        &["-E", "deps(alpha)"],
        &["-E", "deps(beta)"],
        &["-E", "rdeps(alpha)"],
        &["-E", "rdeps(fixture-log)"],
        &["-E", "binary(it)"],
        &["-E", "binary(#b*)"],
        &["-E", "binary_id(alpha::it)"],
        &["-E", "binary_id(beta::bin/beta-cli)"],
        &["-E", "binary_id(/^alpha/)"],
        &["-E", "kind(lib)"],
        &["-E", "kind(test)"],
        &["-E", "kind(bin)"],
        &["-E", "platform(target)"],
        &["-E", "platform(host)"],
        &["-E", "not test(db_)"],
        &["-E", "!test(light)"],
        &["-E", "package(alpha) & test(light)"],
        &["-E", "package(alpha) and not kind(test)"],
        &["-E", "package(alpha) - test(db_)"],
        &["-E", "test(heavy) | test(flaky)"],
        &["-E", "(kind(lib) or kind(bin)) and not package(beta)"],
        &["-E", "test(/light_[12]$/) + binary(beta-cli)"],
        // Several -E are OR-ed.
        &["-E", "test(db_)", "-E", "test(heavy)"],
        // -E and a positional filter: both must match.
        &["-E", "package(alpha)", "light"],
        &["-E", "rdeps(alpha)", "--skip", "light_2", "light"],
        // Ignored tests: -E does not change how they are handled.
        &["-E", "test(ignored)", "--run-ignored-placeholder"],
    ];
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for case in cases {
        // nextest spells the ignored switch differently: compare both spellings.
        let (ours, theirs): (Vec<&str>, Vec<&str>) =
            if case.last() == Some(&"--run-ignored-placeholder") {
                let base = &case[..case.len() - 1];
                (
                    base.iter().copied().chain(["--include-ignored"]).collect(),
                    base.iter()
                        .copied()
                        .chain(["--run-ignored", "all"])
                        .collect(),
                )
            } else if let Some(i) = case.iter().position(|a| *a == "--skip") {
                // `cargo nextest list` takes `--skip` after `--`, libtest style.
                let mut theirs: Vec<&str> = case[..i].to_vec();
                theirs.extend(&case[i + 2..]);
                theirs.extend(["--", "--skip", case[i + 1]]);
                (case.to_vec(), theirs)
            } else {
                (case.to_vec(), case.to_vec())
            };
        let a = shardtest_selects(&ours);
        let b = nextest_selects(&theirs);
        compared += 1;
        if a != b {
            mismatches.push(format!(
                "{case:?}: shardtest only {:?}, nextest only {:?}",
                a.difference(&b).collect::<Vec<_>>(),
                b.difference(&a).collect::<Vec<_>>()
            ));
        }
    }
    assert!(compared >= 20);
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_bad_filterset_is_a_usage_error_naming_it() {
    let out = run(st("list").args(["-E", "test(", "-E", "frobnicate(x)"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("invalid filterset `test(`"), "{t}");
    assert!(t.contains("frobnicate"), "{t}");
}

#[test]
fn config_overrides_show_in_the_listing_and_header() {
    let out = run(st("list").args(["--format", "json"]));
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Nextest config"), "{err}");
    assert!(err.contains("SHARDTEST_TIMEOUT=1m"), "{err}");
    assert_eq!(err.matches("status-level").count(), 1, "{err}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let attrs: BTreeMap<String, serde_json::Value> = doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["attributes"].clone(),
            )
        })
        .collect();
    assert_eq!(attrs["alpha tests::db_one"]["group"]["max"], 1);
    assert_eq!(attrs["beta tests::db_beta"]["group"]["max"], 1);
    assert_eq!(attrs["alpha tests::heavy_compute"]["threads"], 2);
    assert_eq!(attrs["alpha tests::flaky_once"]["flaky"]["retries"], 2);
    assert_eq!(attrs["alpha::it hangs"]["timeout_ms"], 1000);
    assert_eq!(attrs["alpha::it hangs"]["slow_ms"], 500);
    assert!(
        attrs["alpha tests::light_1"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    // A profile that does not exist is an error, as in nextest.
    let out = run(st("list").args(["--nextest-profile", "nope"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("profile `nope` not found"),
        "{}",
        text(&out)
    );
    // The `ci` profile's retries reach the run as SHARDTEST_RETRIES (shown in the header).
    let out = run(st("list").env("NEXTEST_PROFILE", "ci"));
    assert!(text(&out).contains("SHARDTEST_RETRIES=1"), "{}", text(&out));
}

/// One logged test execution.
#[derive(Clone, Debug)]
struct Span {
    name: String,
    start: u128,
    end: Option<u128>,
}

fn spans(dir: &Path) -> Vec<Span> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().extension().is_none_or(|x| x != "log") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).unwrap();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            out.push(Span {
                name: f[0].to_string(),
                start: f[1].parse().unwrap(),
                end: f[2].parse().ok(),
            });
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

fn overlaps(a: &Span, b: &Span) -> bool {
    let (ae, be) = (a.end.unwrap_or(u128::MAX), b.end.unwrap_or(u128::MAX));
    a.start < be && b.start < ae
}

/// The most spans of `others` running at one moment inside `within`.
fn most_beside(within: &Span, others: &[&Span]) -> usize {
    let end = within.end.unwrap_or(u128::MAX);
    let mut points: Vec<u128> = vec![within.start];
    points.extend(
        others
            .iter()
            .map(|s| s.start)
            .filter(|t| *t >= within.start && *t < end),
    );
    points
        .iter()
        .map(|&t| {
            others
                .iter()
                .filter(|s| s.start <= t && s.end.unwrap_or(u128::MAX) > t)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Checks what the fixture's nextest.toml asks for, from the logged spans; `runner` names the
/// runner in messages.
fn check_config_honoured(runner: &str, all: &[Span]) {
    let by = |n: &str| all.iter().filter(|s| s.name == n).collect::<Vec<_>>();
    // The group: no two `db_` tests at once.
    let db: Vec<&Span> = all.iter().filter(|s| s.name.starts_with("db_")).collect();
    assert_eq!(db.len(), 5, "{runner}: {db:?}");
    for (i, a) in db.iter().enumerate() {
        for b in &db[i + 1..] {
            assert!(!overlaps(a, b), "{runner}: group overlap {a:?} {b:?}");
        }
    }
    // threads-required = 2 at -j 4: at most 2 others beside the heavy test.
    let heavy = by("heavy_compute");
    assert_eq!(heavy.len(), 1, "{runner}");
    let others: Vec<&Span> = all.iter().filter(|s| s.name != "heavy_compute").collect();
    let beside = most_beside(heavy[0], &others);
    assert!(beside <= 2, "{runner}: {beside} tests beside the heavy one");
    // retries = 2: the flaky test ran twice.
    assert_eq!(by("flaky_once").len(), 2, "{runner}: {all:?}");
    // terminate-after: the hanging test was killed (it never logged its end).
    let hangs = by("hangs");
    assert_eq!(hangs.len(), 1, "{runner}");
    assert!(hangs[0].end.is_none(), "{runner}: {:?}", hangs[0]);
}

#[test]
fn the_nextest_config_is_honoured_by_shardtest_run() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = run(st("run")
        .args(["-j", "4", "--json"])
        .arg(&report)
        .env("NEXTEST_COMPAT_LOG", dir.path()));
    // `hangs` times out: the run fails.
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    check_config_honoured("shardtest", &spans(dir.path()));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let status = |id: &str| {
        doc["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the report"))
            .clone()
    };
    assert_eq!(status("alpha tests::flaky_once")["status"], "flaky");
    let hangs = status("alpha::it hangs");
    assert_eq!(hangs["status"], "failed");
    assert_eq!(hangs["attempts"][0]["outcome"]["kind"], "timed_out");
    assert_eq!(doc["counts"]["failed"], 1, "{doc}");
}

#[test]
fn the_same_config_gives_the_same_behaviour_under_nextest() {
    if !nextest_installed() {
        eprintln!("cargo-nextest is not installed: comparing with it is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = nt("run")
        .args(["-j", "4"])
        .env("NEXTEST_COMPAT_LOG", dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(100), "{err}");
    check_config_honoured("nextest", &spans(dir.path()));
    assert!(err.contains("TIMEOUT"), "{err}");
    assert!(err.contains("FLAKY"), "{err}");
}

/// A profile with `fail-fast = true`, `-j 1`, the tests of `alpha::it` in name order:
/// `db_in_it` passes, `hangs` times out, `light_it` never starts, under both runners.
#[test]
fn fail_fast_stops_starting_tests_under_both_runners() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let out = run(st("run")
        .args(["--nextest-profile", "failfast", "-j", "1"])
        .args(["-E", "binary_id(alpha::it)", "--json"])
        .arg(&report)
        .env("NEXTEST_COMPAT_LOG", dir.path()));
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    assert!(
        text(&out).contains("fail-fast (SHARDTEST_MAX_FAIL=1)"),
        "{}",
        text(&out)
    );
    let names: BTreeSet<String> = spans(dir.path()).into_iter().map(|s| s.name).collect();
    assert_eq!(names, BTreeSet::from(["db_in_it".into(), "hangs".into()]));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let status: BTreeMap<String, String> = doc["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_string(),
                t["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(status["alpha::it db_in_it"], "passed");
    assert_eq!(status["alpha::it hangs"], "failed");
    assert_eq!(status["alpha::it light_it"], "not_run");
    // The default profile (`fail-fast = false`) runs everything.
    let dir = tempfile::tempdir().unwrap();
    let out = run(st("run")
        .args(["-j", "1", "-E", "binary_id(alpha::it)"])
        .env("NEXTEST_COMPAT_LOG", dir.path()));
    assert_eq!(out.status.code(), Some(100), "{}", text(&out));
    assert_eq!(spans(dir.path()).len(), 3);

    if !nextest_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = nt("run")
        .args([
            "--profile",
            "failfast",
            "-j",
            "1",
            "-E",
            "binary_id(alpha::it)",
        ])
        .env("NEXTEST_COMPAT_LOG", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let names: BTreeSet<String> = spans(dir.path()).into_iter().map(|s| s.name).collect();
    assert_eq!(names, BTreeSet::from(["db_in_it".into(), "hangs".into()]));
}

#[test]
fn a_profile_default_filter_selects_what_nextest_selects() {
    if !nextest_installed() {
        eprintln!("cargo-nextest is not installed: comparing with it is skipped");
        return;
    }
    let cases: &[&[&str]] = &[
        &[],
        &["-E", "all()"],
        &["-E", "test(light)"],
        &["-E", "default() & test(db_)"],
        &["-E", "not default()"],
        &["--ignore-default-filter"],
        &["--ignore-default-filter", "-E", "not default()"],
        &["light"],
    ];
    for case in cases {
        let mut ours = vec!["--nextest-profile", "dflt"];
        ours.extend_from_slice(case);
        let mut theirs = vec!["--profile", "dflt"];
        theirs.extend_from_slice(case);
        let a = shardtest_selects(&ours);
        let b = nextest_selects(&theirs);
        assert_eq!(a, b, "{case:?}");
    }
    // Without the profile nothing is filtered by default.
    assert!(shardtest_selects(&[]).contains("alpha::it hangs"));
    assert!(!shardtest_selects(&["--nextest-profile", "dflt"]).contains("alpha::it hangs"));
}
