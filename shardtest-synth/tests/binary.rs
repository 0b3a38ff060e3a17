//! Runs the built `shardtest-synth` binary the way test runners do.

use shardtest_synth::{Outcome, Spec, generate};
use std::process::{Command, Output};
use std::time::Instant;

fn synth(spec: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shardtest-synth"))
        .args(args)
        .env("SHARDTEST_SYNTH_SPEC", spec)
        .env_remove("SHARDTEST_LIST_ATTRIBUTES")
        .env_remove("RUST_TEST_THREADS")
        .output()
        .expect("the synth binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const MIXED: &str = r#"{"seed": 11, "count": 300, "fail_probability": 0.05,
    "ignored_fraction": 0.1, "serial_fraction": 0.05}"#;

#[test]
fn list_terse_matches_the_library() {
    let o = synth(MIXED, &["--list", "--format", "terse"]);
    assert!(o.status.success());
    let spec = Spec::from_json_str(MIXED, "test", None).unwrap();
    let expected: Vec<String> = generate(&spec)
        .iter()
        .map(|t| format!("{}: test", t.name))
        .collect();
    let got: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(got, expected);
}

#[test]
fn list_ignored_lists_only_ignored_tests() {
    let o = synth(MIXED, &["--list", "--format", "terse", "--ignored"]);
    assert!(o.status.success());
    let spec = Spec::from_json_str(MIXED, "test", None).unwrap();
    let expected: Vec<String> = generate(&spec)
        .iter()
        .filter(|t| t.ignored)
        .map(|t| format!("{}: test", t.name))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(stdout(&o).lines().collect::<Vec<_>>(), expected);
}

#[test]
fn attribute_lines_come_first_when_asked() {
    let o = Command::new(env!("CARGO_BIN_EXE_shardtest-synth"))
        .args(["--list", "--format", "terse"])
        .env("SHARDTEST_SYNTH_SPEC", MIXED)
        .env("SHARDTEST_LIST_ATTRIBUTES", "1")
        .output()
        .unwrap();
    let out = stdout(&o);
    let attrs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("shardtest-attrs: "))
        .collect();
    assert!(!attrs.is_empty());
    assert!(attrs.iter().all(|l| l.contains("serial_case_")));
    let first_test = out.lines().position(|l| l.ends_with(": test")).unwrap();
    assert_eq!(first_test, attrs.len());
}

#[test]
fn exact_runs_exactly_the_named_tests() {
    let spec = r#"{"count": 200}"#;
    let o = synth(spec, &["--exact", "mod_1::case_0001", "--nocapture"]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("test mod_1::case_0001 ... ok"));
    assert!(out.contains("1 passed"), "{out}");
    // `mod_1::case_001` is a prefix of `mod_1::case_0011`: --exact must not match it.
    let o = synth(spec, &["--exact", "mod_1::case_001"]);
    assert!(stdout(&o).contains("0 passed"));
    // Several names, as a batching runner passes them.
    let o = synth(
        spec,
        &[
            "--exact",
            "mod_1::case_0001",
            "mod_2::case_0002",
            "mod_3::case_0003",
            "--test-threads",
            "1",
        ],
    );
    assert!(o.status.success());
    assert!(stdout(&o).contains("3 passed"), "{}", stdout(&o));
}

#[test]
fn filters_and_skip_behave_like_libtest() {
    let o = synth(r#"{"count": 100}"#, &["mod_3::", "--skip", "case_0003"]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("9 passed"), "{}", stdout(&o));
}

#[test]
fn failures_exit_101_and_crashes_abort() {
    let spec = r#"{"count": 50, "fail_probability": 1.0}"#;
    let o = synth(spec, &["--exact", "mod_0::case_0000"]);
    assert_eq!(o.status.code(), Some(101));
    let spec = r#"{"count": 50, "crash_probability": 1.0}"#;
    let o = synth(spec, &["--exact", "mod_0::case_0000"]);
    assert_eq!(
        o.status.code(),
        None,
        "an abort is a signal, not an exit code"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("aborts the process"));
}

#[test]
fn ignored_tests_run_only_when_asked() {
    let spec = r#"{"count": 40, "ignored_fraction": 1.0}"#;
    let o = synth(spec, &[]);
    assert!(stdout(&o).contains("0 passed; 0 failed; 40 ignored"));
    let o = synth(spec, &["--include-ignored"]);
    assert!(stdout(&o).contains("40 passed"));
}

#[test]
fn bad_spec_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("synth-bad-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.json");
    std::fs::write(&path, "{\n  \"ignored_fraction\": 3\n}\n").unwrap();
    let o = synth(path.to_str().unwrap(), &["--list"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.json") && err.contains("ignored_fraction"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn print_spec_shows_the_effective_count() {
    let o = synth(r#"{"seed": 5}"#, &["--print-spec"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["seed"], 5);
    assert_eq!(v["count"], 100);
}

#[test]
fn print_tests_matches_the_library() {
    let spec = r#"{"count": 20, "crash_probability": 0.5}"#;
    let o = synth(spec, &["--print-tests"]);
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let lib = generate(&Spec::from_json_str(spec, "t", None).unwrap());
    assert_eq!(lines.len(), lib.len());
    for (v, t) in lines.iter().zip(&lib) {
        assert_eq!(v["name"], t.name.as_str());
        assert_eq!(v["outcome"] == "crash", t.outcome == Outcome::Crash);
    }
}

#[test]
fn lists_100k_tests_quickly() {
    let start = Instant::now();
    let o = synth(r#"{"count": 100000}"#, &["--list", "--format", "terse"]);
    let took = start.elapsed();
    assert!(o.status.success());
    assert_eq!(o.stdout.iter().filter(|b| **b == b'\n').count(), 100_000);
    // Well under a second in release; generous for an unoptimised build on a busy machine.
    assert!(took.as_secs_f64() < 3.0, "listing took {took:?}");
}

#[test]
fn record_file_gets_one_line_per_test_run() {
    let path = std::env::temp_dir().join(format!("synth-record-{}.txt", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let o = Command::new(env!("CARGO_BIN_EXE_shardtest-synth"))
        .args(["--test-threads", "4"])
        .env(
            "SHARDTEST_SYNTH_SPEC",
            r#"{"count": 500, "ignored_fraction": 0.1}"#,
        )
        .env("SHARDTEST_SYNTH_RECORD", &path)
        .output()
        .unwrap();
    assert!(o.status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let mut names: Vec<&str> = text.lines().collect();
    let ran = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), ran, "a test ran twice");
    let spec =
        Spec::from_json_str(r#"{"count": 500, "ignored_fraction": 0.1}"#, "t", None).unwrap();
    assert_eq!(ran, generate(&spec).iter().filter(|t| !t.ignored).count());
    std::fs::remove_file(&path).unwrap();
}
