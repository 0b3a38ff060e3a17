//! Configuration precedence end to end: flag > environment variable > `.config/shardtest.toml`
//! > built-in default, on a throwaway workspace whose only test fails on its first attempt.

mod common;

use common::*;
use std::path::Path;

fn workspace(dir: &Path, config: &str) {
    workspace_with(
        dir,
        "#[test]\nfn passes_on_a_retry() {\n    assert_ne!(std::env::var(\"SHARDTEST_ATTEMPT\").as_deref(), Ok(\"1\"), \"first attempt fails\");\n}\n",
        &[("shardtest.toml", config)],
    );
}

fn run_in(dir: &Path) -> std::process::Command {
    let mut c = shardtest();
    c.arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Every test writes its own `configured` package: a shared target directory would
        // let one test's build replace another's binary mid-run.
        .arg("--target-dir")
        .arg(dir.join("target"));
    c
}

#[test]
fn a_config_file_sets_defaults_that_env_and_flags_override() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path(), "retries = 1\n");
    let o = run(&mut run_in(dir.path()));
    assert_eq!(
        o.status.code(),
        Some(0),
        "the file's retries = 1 applies: {}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FLAKY"),
        "{}",
        text(&o)
    );

    let o = run(run_in(dir.path()).env("SHARDTEST_RETRIES", "0"));
    assert_eq!(
        o.status.code(),
        Some(100),
        "the environment wins over the file: {}",
        text(&o)
    );

    let o = run(run_in(dir.path())
        .env("SHARDTEST_RETRIES", "0")
        .args(["--retries", "1"]));
    assert_eq!(
        o.status.code(),
        Some(0),
        "the flag wins over the environment: {}",
        text(&o)
    );
}

#[test]
fn a_bad_config_file_is_a_usage_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    workspace(dir.path(), "retrys = 1\n");
    let o = run(&mut run_in(dir.path()));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("shardtest.toml") && err.contains("retrys") && err.contains("known keys"),
        "{err}"
    );
}

/// A one-package workspace with `lib` as its `src/lib.rs` and these `.config/` files.
fn workspace_with(dir: &Path, lib: &str, config: &[(&str, &str)]) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"configured\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), lib).unwrap();
    for (name, text) in config {
        std::fs::write(dir.join(".config").join(name), text).unwrap();
    }
}

/// The worker count of the run header ("... on N workers").
fn workers_of(o: &std::process::Output) -> u32 {
    let all = text(o);
    let at = all
        .find(" workers (run ")
        .unwrap_or_else(|| panic!("no header: {all}"));
    let n = all[..at].rsplit(' ').next().unwrap();
    n.parse()
        .unwrap_or_else(|_| panic!("no worker count: {all}"))
}

#[test]
fn jobs_come_from_the_flag_then_env_then_file_then_nextest_profile_then_default() {
    let dir = tempfile::tempdir().unwrap();
    // More tests than any worker count asked for: a run never starts more workers than tests.
    let tests: String = (0..32)
        .map(|i| format!("#[test]\nfn passes_{i}() {{}}\n"))
        .collect();
    workspace_with(
        dir.path(),
        &tests,
        &[
            ("shardtest.toml", "jobs = 13\nnextest-config = true\n"),
            ("nextest.toml", "[profile.default]\ntest-threads = 14\n"),
        ],
    );
    let o = run(run_in(dir.path()).env("SHARDTEST_JOBS", "12").arg("-j11"));
    assert_eq!(workers_of(&o), 11, "the flag wins: {}", text(&o));
    let o = run(run_in(dir.path()).env("SHARDTEST_JOBS", "12"));
    assert_eq!(workers_of(&o), 12, "then the environment: {}", text(&o));
    let o = run(&mut run_in(dir.path()));
    assert_eq!(workers_of(&o), 13, "then the file: {}", text(&o));
    std::fs::write(
        dir.path().join(".config/shardtest.toml"),
        "nextest-config = true\n",
    )
    .unwrap();
    let o = run(&mut run_in(dir.path()));
    assert_eq!(workers_of(&o), 14, "then the nextest profile: {}", text(&o));
    std::fs::remove_file(dir.path().join(".config/nextest.toml")).unwrap();
    let o = run(&mut run_in(dir.path()));
    let default = (std::thread::available_parallelism().unwrap().get() as u32).min(32);
    assert_eq!(workers_of(&o), default, "then the default: {}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn config_values_are_not_in_the_tests_environment_except_the_lock_dir() {
    let dir = tempfile::tempdir().unwrap();
    workspace_with(
        dir.path(),
        concat!(
            "#[test]\nfn sees_only_what_it_needs() {\n",
            "    for var in [\"SHARDTEST_JOBS\", \"SHARDTEST_RETRIES\", \"SHARDTEST_TIMEOUT\"] {\n",
            "        assert!(std::env::var_os(var).is_none(), \"{var} leaked into the test\");\n",
            "    }\n",
            "    let locks = std::env::var(\"SHARDTEST_LOCK_DIR\").expect(\"the file's lock-dir\");\n",
            "    assert!(locks.ends_with(\"/ci-locks\"), \"{locks}\");\n",
            "}\n",
            "#[test]\nfn a_second_test_for_a_second_worker() {}\n",
        ),
        &[(
            "shardtest.toml",
            "jobs = 2\nretries = 1\ntimeout = \"5m\"\nlock-dir = \"ci-locks\"\n",
        )],
    );
    let o = run(&mut run_in(dir.path()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(workers_of(&o), 2, "the file still applies: {}", text(&o));
    assert!(!text(&o).contains("FLAKY"), "{}", text(&o));
}
