//! Batched execution, `--shuffle` and `--repeat`, end to end against tests/fixtures/basic.

mod common;

use common::*;

#[test]
fn batch_mode_runs_every_test_once_and_survives_a_crash() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let o = run(basic()
        .args(["-j", "2", "--isolation", "batch", "--json"])
        .arg(&json)
        .env("FIXTURE_OUT", out.path())
        .env("FIXTURE_CRASH", "1")
        .env("FIXTURE_FAIL", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let runs = runs(out.path());
    assert_eq!(runs.len(), 21, "{runs:?}");
    assert!(
        runs.values().all(|&n| n == 1),
        "batch restarted a test that had run: {runs:?}"
    );
    let r = read_json(&json);
    let st = statuses(&r);
    assert_eq!(st["basic tests::crashes_when_asked"], "failed");
    assert_eq!(st["basic tests::fails_when_asked"], "failed");
    assert_eq!(st.values().filter(|s| *s == "passed").count(), 19);
    let crash = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "basic tests::crashes_when_asked")
        .unwrap();
    assert_eq!(crash["attempts"][0]["outcome"]["name"], "SIGABRT");
    let fail = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "basic tests::fails_when_asked")
        .unwrap();
    assert!(
        fail["attempts"][0]["output_tail"]
            .as_str()
            .unwrap()
            .contains("planted failure"),
        "{fail}"
    );
    // Every test has its own timing, even inside a batch.
    assert!(
        r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "skipped" || t["attempts"][0]["duration"].is_number())
    );
}

#[test]
fn batch_mode_times_out_a_hanging_test_and_runs_the_rest() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let o = run(basic()
        .args([
            "-j",
            "1",
            "--isolation",
            "batch",
            "--timeout",
            "2s",
            "--json",
        ])
        .arg(&json)
        .env("FIXTURE_OUT", out.path())
        .env("FIXTURE_HANG", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let st = statuses(&read_json(&json));
    assert_eq!(st["basic tests::hangs_when_asked"], "failed");
    assert_eq!(st.values().filter(|s| *s == "passed").count(), 20, "{st:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("TIMEOUT"),
        "{}",
        text(&o)
    );
    assert!(
        processes_of_run(out.path()).is_empty(),
        "the hanging batch survived"
    );
}

#[test]
fn shuffle_prints_and_records_its_seed_and_replays_the_order() {
    let order = |seed: &str| {
        let out = tempfile::tempdir().unwrap();
        let json = out.path().join("r.json");
        let o = run(basic()
            .args(["-j", "1", "--shuffle", seed, "--json"])
            .arg(&json)
            .env("FIXTURE_OUT", out.path()));
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&format!("--shuffle {seed}")),
            "{}",
            text(&o)
        );
        assert_eq!(
            read_json(&json)["shuffle_seed"],
            seed.parse::<u64>().unwrap()
        );
        std::fs::read_to_string(out.path().join("runs.log")).unwrap()
    };
    let a = order("8123");
    assert_eq!(a, order("8123"), "the same seed gives the same order");
    assert_ne!(a, order("99"), "another seed gives another order");
}

#[test]
fn repeat_runs_each_test_n_times_and_reports_pass_rates() {
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("r.json");
    let o = run(shardtest()
        .arg("--manifest-path")
        .arg(fixture("basic"))
        .args(["-p", "other", "-j", "3", "--repeat", "4", "--json"])
        .arg(&json)
        .env("FIXTURE_OUT", out.path()));
    assert!(o.status.success(), "{}", text(&o));
    let runs = runs(out.path());
    assert_eq!(runs.len(), 3);
    assert!(runs.values().all(|&n| n == 4), "{runs:?}");
    let r = read_json(&json);
    for t in r["tests"].as_array().unwrap() {
        assert_eq!(t["attempts"].as_array().unwrap().len(), 4, "{t}");
        assert_eq!(t["status"], "passed");
    }
}

#[test]
fn ctrl_c_in_batch_mode_reports_every_test_once_even_with_batches_handed_out_early() {
    // With a recorded history the batches are short, so each worker is handed its next
    // batch while the current one runs; Ctrl-C must not start those, and must still report
    // each of their tests exactly once.
    let out = tempfile::tempdir().unwrap();
    let timings = out.path().join("timings.json");
    let o = run(basic()
        .args(["-j", "2", "--isolation", "batch", "--timings"])
        .arg(&timings)
        .env("FIXTURE_OUT", out.path()));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let again = tempfile::tempdir().unwrap();
    let json = again.path().join("r.json");
    let mut cmd = basic();
    cmd.args(["-j", "2", "--isolation", "batch", "--timings"])
        .arg(&timings)
        .arg("--json")
        .arg(&json)
        .env("FIXTURE_OUT", again.path())
        .env("FIXTURE_HANG", "1");
    let o = interrupt_when(cmd, &again.path().join("hang-started"));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = read_json(&json);
    assert_eq!(r["complete"], false);
    let ids: Vec<&str> = r["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    let st = statuses(&r);
    let planned = r["planned_tests"].as_array().unwrap().len();
    assert_eq!(planned, 22);
    assert_eq!(ids.len(), planned, "every test reported once: {st:?}");
    assert_eq!(st.len(), planned, "no test reported twice: {ids:?}");
    assert!(
        runs(again.path()).values().all(|&n| n == 1),
        "a test ran twice after Ctrl-C"
    );
    assert!(
        st.values()
            .all(|s| ["passed", "not_run", "skipped"].contains(&s.as_str())),
        "{st:?}"
    );
    assert!(processes_of_run(again.path()).is_empty());
}
