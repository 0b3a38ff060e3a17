//! Configuration precedence end to end: flag > environment variable > `.config/shardtest.toml`
//! > built-in default, on a throwaway workspace whose only test fails on its first attempt.

mod common;

use common::*;
use std::path::Path;

fn workspace(dir: &Path, config: &str) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::create_dir_all(dir.join(".config")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"configured\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "#[test]\nfn passes_on_a_retry() {\n    assert_ne!(std::env::var(\"SHARDTEST_ATTEMPT\").as_deref(), Ok(\"1\"), \"first attempt fails\");\n}\n",
    )
    .unwrap();
    std::fs::write(dir.join(".config/shardtest.toml"), config).unwrap();
}

fn run_in(dir: &Path) -> std::process::Command {
    let mut c = shardtest();
    c.arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(repo_root().join("target/config-fixture"));
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
