//! Attributes inside one test binary: the listing protocol of this very binary, the names it
//! reports, and in-process exclusion between threads.
//!
//! Runs under any runner: nothing here depends on in-process retries.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[test]
#[shard::serial]
fn at_the_root() {}

/// Both orders, a stack of all four, and a `Result` return.
mod listed {
    #[test]
    #[shard::serial(redis)]
    fn keyed() {}

    #[shard::group("browser", max = 2)]
    #[test]
    fn grouped() {}

    #[test]
    #[shard::flaky(retries = 3, backoff = "200ms")]
    #[shard::non_critical]
    #[shard::serial]
    #[shard::group("db", max = 3)]
    fn everything() -> Result<(), String> {
        Ok(())
    }

    #[test]
    #[shard::flaky(retries = 1)]
    fn flaky_without_backoff() {}

    #[test]
    fn plain() {}
}

/// Each test of the `inproc` key checks that no other one is inside at the same time; under
/// `cargo test` they run on parallel threads of this process.
mod exclusion {
    use super::*;

    pub static INSIDE: AtomicU32 = AtomicU32::new(0);
    pub static MAX_SEEN: AtomicU32 = AtomicU32::new(0);

    pub fn body() {
        let now = INSIDE.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_SEEN.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        INSIDE.fetch_sub(1, Ordering::SeqCst);
        assert_eq!(now, 1, "two `serial(inproc)` tests were inside at once");
    }

    #[test]
    #[shard::serial(inproc)]
    fn one() {
        body()
    }
    #[test]
    #[shard::serial(inproc)]
    fn two() {
        body()
    }
    #[test]
    #[shard::serial(inproc)]
    fn three() {
        body()
    }
}

/// A renamed import hides a duplicate from the macro: the two expansions register twice, and
/// the test fails at once with a clear message instead of waiting on its own lock.
mod renamed {
    use shard::serial as exclusive;

    #[test]
    #[should_panic(expected = "carries `#[shard::serial]` 2 times")]
    #[shard::serial(dup)]
    #[exclusive(dup)]
    fn duplicate_through_a_renamed_import() {}
}

#[test]
fn flock_excludes_a_second_open_file_of_the_same_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.lock");
    let open = || {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap()
    };
    let (a, b) = (open(), open());
    a.lock().unwrap();
    assert!(matches!(
        b.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    // And a blocked `lock()` on another thread wakes up when the first is released.
    let waiter = std::thread::spawn(move || {
        b.lock().unwrap();
        Instant::now()
    });
    std::thread::sleep(Duration::from_millis(50));
    let released = Instant::now();
    a.unlock().unwrap();
    let acquired = waiter.join().unwrap();
    assert!(acquired >= released);
}

fn listing_of_this_binary() -> Vec<Value> {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .env("SHARDTEST_LIST_ATTRIBUTES", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let mut attrs = Vec::new();
    // The attribute lines come first, then libtest's listing.
    for line in lines.by_ref() {
        match line.strip_prefix("shardtest-attrs: ") {
            Some(json) => attrs.push(serde_json::from_str(json).unwrap()),
            None => {
                assert!(line.ends_with(": test"), "unexpected line {line:?}");
                break;
            }
        }
    }
    assert!(
        lines.all(|l| !l.starts_with("shardtest-attrs")),
        "attribute lines after the listing:\n{stdout}"
    );
    attrs
}

#[test]
fn listing_prints_the_protocol_lines_then_the_normal_list() {
    let got = listing_of_this_binary();
    let expected = vec![
        json!({"v":1,"name":"at_the_root","serial":""}),
        json!({"v":1,"name":"exclusion::one","serial":"inproc"}),
        json!({"v":1,"name":"exclusion::three","serial":"inproc"}),
        json!({"v":1,"name":"exclusion::two","serial":"inproc"}),
        json!({"v":1,"name":"listed::everything","serial":"","group":{"name":"db","max":3},
               "flaky":{"retries":3,"backoff_ms":200},"non_critical":true}),
        json!({"v":1,"name":"listed::flaky_without_backoff","flaky":{"retries":1,"backoff_ms":0}}),
        json!({"v":1,"name":"listed::grouped","group":{"name":"browser","max":2}}),
        json!({"v":1,"name":"listed::keyed","serial":"redis"}),
        json!({"v":1,"name":"renamed::duplicate_through_a_renamed_import","serial":"dup"}),
    ];
    assert_eq!(got, expected);
}

#[test]
fn listing_needs_both_the_variable_and_list() {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(&exe)
        .args(["--list", "--format", "terse"])
        .env_remove("SHARDTEST_LIST_ATTRIBUTES")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("shardtest-attrs"));
    // Running (not listing) a test with the variable set prints nothing extra.
    let out = Command::new(&exe)
        .args(["--exact", "at_the_root", "--format", "terse"])
        .env("SHARDTEST_LIST_ATTRIBUTES", "1")
        .env("SHARDTEST_LOCK_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("shardtest-attrs"));
}

#[test]
fn the_registry_matches_the_listing() {
    let names: Vec<String> = shard::attrs::registered_tests()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(
        names.contains(&"listed::everything".to_owned()),
        "{names:?}"
    );
    let lines = shard::attrs::attribute_lines();
    assert_eq!(lines.len(), names.len());
}
