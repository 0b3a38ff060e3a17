//! Reports end to end: JUnit and JSON schemas (the XML parses, the counts add up), terminal
//! output in plain/CI mode and with colours, secret masking, a partial JUnit report after
//! Ctrl-C, `report merge` and `timeline`.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;

const ALL_TESTS: usize = 22; // 21 runnable + 1 ignored in tests/fixtures/basic

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("report written")).expect("valid JSON")
}

fn xml(path: &Path) -> String {
    std::fs::read_to_string(path).expect("JUnit report written")
}

fn attr_usize(n: roxmltree::Node, name: &str) -> usize {
    n.attribute(name)
        .unwrap_or_else(|| panic!("<{}> has no {name}", n.tag_name().name()))
        .parse()
        .unwrap()
}

fn property<'a>(suite: roxmltree::Node<'a, 'a>, name: &str) -> Option<&'a str> {
    suite
        .children()
        .find(|c| c.has_tag_name("properties"))?
        .children()
        .find(|p| p.has_tag_name("property") && p.attribute("name") == Some(name))?
        .attribute("value")
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn junit_and_json_reports_parse_and_their_counts_add_up() {
    let out = tempfile::tempdir().unwrap();
    let (junit, report) = (out.path().join("junit.xml"), out.path().join("r.json"));
    let o = run(basic()
        .args(["-j", "2", "--retries", "1", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&report)
        .env("FIXTURE_FAIL", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));

    // JSON: versioned, every planned test recorded once, counts add up.
    let r = json(&report);
    assert_eq!(r["version"], 1);
    let tests = r["tests"].as_array().unwrap();
    assert_eq!(tests.len(), ALL_TESTS);
    let c = &r["counts"];
    let sum: u64 = [
        "passed",
        "flaky",
        "failed",
        "failed_non_critical",
        "skipped",
        "not_run",
    ]
    .iter()
    .map(|k| c[k].as_u64().unwrap())
    .sum();
    assert_eq!(sum as usize, ALL_TESTS);
    assert_eq!(
        (c["failed"].as_u64(), c["skipped"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["planned_tests"].as_array().unwrap().len(), ALL_TESTS);

    // JUnit: parses; one suite per binary with tests; counts agree with the JSON.
    let text_xml = xml(&junit);
    let doc = roxmltree::Document::parse(&text_xml).expect("JUnit is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(attr_usize(root, "tests"), ALL_TESTS);
    assert_eq!(attr_usize(root, "failures"), 1);
    assert_eq!(attr_usize(root, "skipped"), 1);
    let suites: Vec<_> = root
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    let names: BTreeSet<&str> = suites.iter().filter_map(|s| s.attribute("name")).collect();
    assert_eq!(names, BTreeSet::from(["basic", "basic::api", "other"]));
    let mut cases = 0;
    for s in &suites {
        let n = s.children().filter(|c| c.has_tag_name("testcase")).count();
        assert_eq!(attr_usize(*s, "tests"), n);
        cases += n;
        assert_eq!(property(*s, "shardtest.shard"), Some("1/1"));
        assert_eq!(property(*s, "shardtest.complete"), Some("true"));
        assert_eq!(
            property(*s, "shardtest.fingerprint"),
            r["run"]["fingerprint"].as_str()
        );
        assert_eq!(
            property(*s, "shardtest.run_id"),
            r["run"]["run_id"].as_str()
        );
        assert!(s.attribute("timestamp").is_some() && s.attribute("time").is_some());
    }
    assert_eq!(cases, ALL_TESTS);
    // The failure: its output, a path to the full log, and the earlier attempt as a rerun.
    let failed = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase") && n.attribute("name") == Some("tests::fails_when_asked")
        })
        .unwrap();
    assert_eq!(failed.attribute("classname"), Some("basic"));
    let failure = failed
        .children()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    assert_eq!(failure.attribute("message"), Some("exit code 101"));
    let body = failure.text().unwrap_or_default();
    assert!(body.contains("planted failure: FIXTURE_FAIL=1"), "{body}");
    assert!(body.contains("[full log: "), "{body}");
    assert_eq!(
        failed
            .children()
            .filter(|n| n.has_tag_name("rerunFailure"))
            .count(),
        1,
        "{text_xml}"
    );
    let skipped = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase") && n.attribute("name") == Some("tests::expensive_ignored")
        })
        .unwrap();
    assert!(skipped.children().any(|n| n.has_tag_name("skipped")));
    // Reports never copy the environment.
    assert!(
        !text_xml.contains("PATH="),
        "the environment leaked into the JUnit report"
    );
}

fn stderr_lines(o: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn ci_mode_prints_plain_lines_and_a_final_block() {
    let o = run(basic()
        .args(["-j", "2"])
        .env("CI", "true")
        .env_remove("NO_COLOR"));
    assert!(o.status.success(), "{}", text(&o));
    let lines = stderr_lines(&o);
    let all = lines.join("\n");
    assert!(
        !all.contains('\x1b'),
        "no escape codes in CI/pipe mode: {all}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    Starting 21 tests of shard 1/1 on 2 workers (run ")),
        "{all}"
    );
    // One line per test: `        PASS [   0.003s] <id>  (k/21)`.
    let pass: Vec<&String> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("PASS ["))
        .collect();
    assert_eq!(pass.len(), 21, "{all}");
    for l in &pass {
        assert!(l.starts_with("        PASS ["), "{l}");
        assert!(l.ends_with("/21)"), "{l}");
        assert!(l.contains("s] "), "{l}");
    }
    let done: BTreeSet<String> = pass
        .iter()
        .map(|l| {
            l.rsplit_once('(')
                .unwrap()
                .1
                .trim_end_matches(')')
                .to_string()
        })
        .collect();
    assert_eq!(done.len(), 21, "progress counters are distinct: {all}");
    // The final block, in order, ending with the plain summary line.
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no `{needle}` in {all}"))
    };
    let (summary, slowest, wall) = (
        pos("     Summary ["),
        pos("     Slowest:"),
        pos("   Wall time "),
    );
    assert!(summary < slowest && slowest < wall, "{all}");
    let slow_lines = lines[slowest + 1..wall].len();
    assert_eq!(slow_lines, 10, "the 10 slowest tests: {all}");
    // No history yet: the wall-time line says so instead of a percentage against a guess.
    assert!(
        lines[wall].contains("no prediction (no timings history yet)"),
        "{all}"
    );
    assert_eq!(lines.last().unwrap(), "21 passed, 0 failed, 1 skipped");
}

#[test]
fn color_always_colours_labels_but_never_the_summary_line() {
    let o = run(basic()
        .args(["--color", "always", "fails_when_asked", "adds_one"])
        .env("FIXTURE_FAIL", "1")
        .env("NO_COLOR", "1"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let lines = stderr_lines(&o);
    let all = lines.join("\n");
    assert!(
        all.contains("\x1b[32m        PASS\x1b[0m ["),
        "green PASS: {all}"
    );
    assert!(
        all.contains("\x1b[1m\x1b[31m        FAIL\x1b[0m ["),
        "red FAIL: {all}"
    );
    assert_eq!(lines.last().unwrap(), "1 passed, 1 failed, 0 skipped");

    for (flag, no_color) in [("never", None), ("auto", Some("1")), ("auto", None)] {
        let mut c = basic();
        c.args(["--color", flag, "adds_one"]);
        if let Some(v) = no_color {
            c.env("NO_COLOR", v);
        }
        let o = run(&mut c);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains('\x1b'),
            "--color {flag} (NO_COLOR={no_color:?}) into a pipe: {}",
            text(&o)
        );
    }
    let o = run(basic().args(["--color", "sometimes"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn secrets_are_masked_in_every_output() {
    let out = tempfile::tempdir().unwrap();
    let artifacts = out.path().join("artifacts");
    let (junit, report) = (out.path().join("j.xml"), out.path().join("r.json"));
    let o = run(basic()
        .args(["fails_when_asked", "--redact-env", "PLAIN_NAME", "--junit"])
        .arg(&junit)
        .arg("--json")
        .arg(&report)
        .arg("--artifact-dir")
        .arg(&artifacts)
        .env("FIXTURE_FAIL", "1")
        // Masked because of its name (`*_TOKEN`) ...
        .env("DEPLOY_TOKEN", "some output before")
        // ... and because it is named with --redact-env.
        .env("PLAIN_NAME", "planted failure"));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let mut outputs = vec![
        (
            "stderr".to_string(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        ),
        ("junit".into(), xml(&junit)),
        ("json".into(), std::fs::read_to_string(&report).unwrap()),
    ];
    let logs = files_under(&artifacts);
    assert!(logs.iter().any(|p| p.ends_with("output.log")), "{logs:?}");
    for p in logs {
        outputs.push((
            p.display().to_string(),
            std::fs::read_to_string(&p).unwrap_or_default(),
        ));
    }
    for (what, s) in &outputs {
        assert!(!s.contains("some output before"), "secret in {what}: {s}");
        assert!(!s.contains("planted failure"), "secret in {what}: {s}");
    }
    let err = &outputs[0].1;
    assert!(err.contains("[REDACTED:DEPLOY_TOKEN] the failure"), "{err}");
    assert!(
        err.contains("[REDACTED:PLAIN_NAME]: FIXTURE_FAIL=1"),
        "{err}"
    );
    assert!(outputs[1].1.contains("[REDACTED:DEPLOY_TOKEN]"));
}

#[test]
fn ctrl_c_still_writes_a_partial_junit_report() {
    let out = tempfile::tempdir().unwrap();
    let junit = out.path().join("partial.xml");
    let mut cmd = basic();
    cmd.args(["-j", "2", "--junit"])
        .arg(&junit)
        .env("FIXTURE_OUT", out.path())
        .env("FIXTURE_HANG", "1");
    let o = interrupt_when(cmd, &out.path().join("hang-started"));
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let s = xml(&junit);
    let doc = roxmltree::Document::parse(&s).expect("the partial report is well-formed XML");
    let suites: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert!(!suites.is_empty(), "{s}");
    for suite in &suites {
        assert_eq!(property(*suite, "shardtest.complete"), Some("false"), "{s}");
    }
    let hang = doc
        .descendants()
        .find(|n| {
            n.has_tag_name("testcase") && n.attribute("name") == Some("tests::hangs_when_asked")
        })
        .expect("the interrupted test is in the report");
    let skipped = hang
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .expect("{s}");
    assert_eq!(skipped.attribute("type"), Some("interrupted"));
    assert!(
        processes_of_run(out.path()).is_empty(),
        "the hanging test survived Ctrl-C"
    );
}

#[test]
fn report_merge_and_timeline_cover_every_shard() {
    let out = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for k in 1..=2 {
        let r = out.path().join(format!("report-{k}.json"));
        let o = run(basic()
            .args(["-j", "2", "--shard", &format!("{k}/2"), "--json"])
            .arg(&r));
        assert!(o.status.success(), "{}", text(&o));
        reports.push(r);
    }
    let (all_xml, all_json) = (out.path().join("all.xml"), out.path().join("all.json"));
    let o = merge_reports(&reports, &all_xml, &all_json);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("exactly once"),
        "{}",
        text(&o)
    );
    let merged = json(&all_json);
    assert_eq!(merged["tests"].as_array().unwrap().len(), ALL_TESTS);
    assert_eq!(merged["counts"]["passed"], 21);
    assert_eq!(merged["merged_from"].as_array().unwrap().len(), 2);
    assert_eq!(merged["complete"], true);
    let s = xml(&all_xml);
    let doc = roxmltree::Document::parse(&s).unwrap();
    assert_eq!(attr_usize(doc.root_element(), "tests"), ALL_TESTS);
    let shards: BTreeSet<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name("property") && n.attribute("name") == Some("shard"))
        .filter_map(|n| n.attribute("value"))
        .collect();
    assert_eq!(shards, BTreeSet::from(["1/2", "2/2"]));

    // A missing shard is named, and a report of another plan is refused.
    let o = run(shardtest()
        .args(["report", "merge"])
        .arg(&reports[0])
        .arg("--junit")
        .arg(out.path().join("x.xml")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing shard reports: 2/2"),
        "{}",
        text(&o)
    );
    let other = out.path().join("other.json");
    let o = run(basic()
        .args(["-j", "2", "--shard", "2/2", "adds_", "--json"])
        .arg(&other));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(shardtest()
        .args(["report", "merge"])
        .arg(&reports[0])
        .arg(&other)
        .arg("--json")
        .arg(out.path().join("y.json")));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("fingerprints differ"),
        "{}",
        text(&o)
    );

    // Timeline: one bar per attempt, lanes per worker and shard; the trace has the same events.
    let (html, trace) = (out.path().join("t.html"), out.path().join("trace.json"));
    let o = run(shardtest()
        .arg("timeline")
        .args(&reports)
        .arg("-o")
        .arg(&html)
        .arg("--trace")
        .arg(&trace));
    assert!(o.status.success(), "{}", text(&o));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"));
    assert_eq!(
        page.matches("<rect class=\"pass\"").count(),
        21,
        "one bar per attempt"
    );
    assert_eq!(page.matches("class=\"actual-end\"").count(), 2);
    assert_eq!(page.matches("class=\"predicted-end\"").count(), 2);
    assert!(
        page.contains("shard 1/2 (report-1.json) · worker 1"),
        "lanes per worker"
    );
    assert!(!page.contains("src=\"http"), "self-contained");
    let t = json(&trace);
    let events = t["traceEvents"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 21);
    let pids: BTreeSet<u64> = events.iter().filter_map(|e| e["pid"].as_u64()).collect();
    assert_eq!(pids, BTreeSet::from([1, 2]));
    for e in events.iter().filter(|e| e["ph"] == "X") {
        assert!(
            e["ts"].is_u64() && e["dur"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
    }
}

#[test]
fn help_explains_the_report_and_archive_commands() {
    for (args, flags) in [
        (
            &["run", "--help"][..],
            &[
                "--junit",
                "--color",
                "--redact-env",
                "--archive",
                "--workspace-remap",
            ][..],
        ),
        (&["list", "--help"], &["--archive", "--workspace-remap"]),
        (
            &["archive", "--help"],
            &["--output", "--include", "--manifest-path"],
        ),
        (
            &["report", "merge", "--help"],
            &["--junit", "--json", "--no-verify"],
        ),
        (&["timeline", "--help"], &["--output", "--trace"]),
    ] {
        let o = run(shardtest().args(args));
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        for f in flags {
            assert!(s.contains(f), "{args:?} --help lacks {f}: {s}");
        }
    }
    let o = run(shardtest().arg("timeline").arg("x.json"));
    assert_eq!(o.status.code(), Some(2), "nothing to write: {}", text(&o));
}
