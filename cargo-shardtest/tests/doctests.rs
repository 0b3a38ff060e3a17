//! Doctests end to end on `tests/fixtures/doctests`: an edition 2021 crate (each doctest
//! compiled alone) and an edition 2024 crate (merged), doctests of every kind, names whose
//! tokens are substrings of each other, a `doctest = false` library and a proc-macro crate.
//! Every expectation is checked against real `cargo test` output, parsed here.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// `cargo shardtest <sub> --manifest-path tests/fixtures/doctests/Cargo.toml`.
fn doctests(sub: &str) -> Command {
    let mut c = shardtest();
    c.arg(sub).arg("--manifest-path").arg(fixture("doctests"));
    c
}

/// Outcome of every test `cargo test <args>` ran in the fixture, by shardtest id:
/// `passed`, `failed` or `skipped` (ignored).
fn cargo_test(args: &[&str], test_args: &[&str]) -> BTreeMap<String, String> {
    // Both streams into one pipe, so cargo's section headers (stderr) and libtest's lines
    // (stdout) arrive in the order they were written.
    let mut c = Command::new("sh");
    c.args(["-c", "exec \"$@\" 2>&1", "sh"])
        .arg(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .arg("test")
        .arg("--manifest-path")
        .arg(fixture("doctests"))
        .args(["--no-fail-fast", "--workspace"])
        .args(args)
        .arg("--")
        .args(test_args)
        .args(["--test-threads", "1"])
        .env_remove("CARGO_TARGET_DIR");
    let o = c.output().expect("cargo runs");
    let mut out = BTreeMap::new();
    let mut binary = String::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let trimmed = line.trim();
        if let Some(pkg) = trimmed.strip_prefix("Doc-tests ") {
            binary = format!("{pkg}::doc");
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix("Running unittests ") {
            // `src/lib.rs (target/debug/deps/doc21-0123abcd)`
            let exe = rest.rsplit('/').next().unwrap().trim_end_matches(')');
            binary = exe.rsplit_once('-').unwrap().0.to_string();
            continue;
        }
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, result)) = rest.rsplit_once(" ... ") else {
            continue;
        };
        let mut name = name.trim_end();
        for s in [" - compile fail", " - compile", " - should panic"] {
            name = name.strip_suffix(s).unwrap_or(name);
        }
        let status = match result.trim() {
            "ok" => "passed",
            "ignored" => "skipped",
            r if r.starts_with("FAILED") => "failed",
            r => panic!("unexpected result {r:?} in {line:?}"),
        };
        out.insert(format!("{binary} {name}"), status.to_string());
    }
    out
}

fn shardtest_statuses(args: &[&str]) -> (std::process::Output, BTreeMap<String, String>) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = run(doctests("run")
        .args(["--workspace", "-j", "2", "--json"])
        .arg(&json)
        .args(args));
    let statuses = statuses(&read_json(&json));
    (o, statuses)
}

#[test]
fn run_passes_fails_and_skips_exactly_what_cargo_test_does() {
    let expected = cargo_test(&[], &[]);
    // Sanity: the parse saw every kind.
    assert_eq!(
        expected["doc21::doc doc21/src/lib.rs - fails (line 19)"],
        "failed"
    );
    assert_eq!(
        expected["doc24::doc doc24/src/lib.rs - no_compile (line 74)"],
        "passed"
    );
    assert!(expected.keys().any(|k| k.starts_with("pm::doc ")));
    assert!(!expected.keys().any(|k| k.starts_with("nodoc::doc")));
    let (o, got) = shardtest_statuses(&[]);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    assert_eq!(got, expected, "{}", text(&o));

    // `--include-ignored`: the ignored doctests run (and fail to compile) under both.
    let expected = cargo_test(&[], &["--include-ignored"]);
    let (o, got) = shardtest_statuses(&["--include-ignored"]);
    assert_eq!(got, expected, "{}", text(&o));
}

#[test]
fn shards_together_run_every_doctest_once() {
    for n in 1..=4u32 {
        let dir = tempfile::tempdir().unwrap();
        let timings = dir.path().join("timings.json");
        let mut reports = Vec::new();
        for k in 1..=n {
            let json = dir.path().join(format!("r{k}.json"));
            let o = run(doctests("run")
                .args(["--workspace", "--doc", "-j", "2"])
                .args(["--shard", &format!("{k}/{n}")])
                .arg("--timings")
                .arg(&timings)
                .arg("--no-record-timings")
                .arg("--json")
                .arg(&json)
                .env("FIXTURE_OUT", dir.path()));
            assert!(
                matches!(o.status.code(), Some(0) | Some(100)),
                "{}",
                text(&o)
            );
            reports.push(json);
        }
        let o = run(shardtest().arg("verify").args(&reports));
        assert!(o.status.success(), "N={n}: {}", text(&o));
        let ran = runs(dir.path());
        assert_eq!(
            ran,
            BTreeMap::from([("a@2".to_string(), 1), ("b::a@22".to_string(), 1)]),
            "N={n}: each marked doctest ran exactly once"
        );
        // Every doctest cargo lists is in one report.
        let mut all = std::collections::BTreeSet::new();
        for r in &reports {
            all.extend(statuses(&read_json(r)).into_keys());
        }
        let cargo: std::collections::BTreeSet<String> = cargo_doc_list().into_iter().collect();
        assert_eq!(all, cargo, "N={n}");
    }
}

/// `cargo test --doc --workspace -- --list` in the fixture, as shardtest ids.
fn cargo_doc_list() -> Vec<String> {
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--doc", "--workspace", "--manifest-path"])
        .arg(fixture("doctests"))
        .args(["--", "--list", "--format", "terse"])
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(o.status.success());
    let names: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(|n| {
            let pkg = n.split('/').next().unwrap();
            format!("{pkg}::doc {n}")
        })
        .collect();
    names
}

#[test]
fn doctests_whose_tokens_are_substrings_of_each_other_run_once_each() {
    // `a (line 2)` vs `b::a (line 22)`: every whitespace-free piece of the first name is
    // inside the second, so a naive filter for the first also runs the second.
    for (name, mark) in [
        ("doc24/src/lib.rs - a (line 2)", "a@2"),
        ("doc24/src/lib.rs - b::a (line 22)", "b::a@22"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("r.json");
        let o = run(doctests("run")
            .args(["-p", "doc24", "--doc", "--exact", name, "--json"])
            .arg(&json)
            .env("FIXTURE_OUT", dir.path()));
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            runs(dir.path()),
            BTreeMap::from([(mark.to_string(), 1)]),
            "{name}: {}",
            text(&o)
        );
        let s = statuses(&read_json(&json));
        assert_eq!(s.len(), 1, "{s:?}");
        assert_eq!(s[&format!("doc24::doc {name}")], "passed");
    }
}

#[test]
fn doc_and_lib_select_what_cargo_selects() {
    let list = |args: &[&str]| -> Vec<String> {
        let o = run(doctests("list").args(["--workspace"]).args(args));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.trim_end_matches(" (ignored)").to_string())
            .collect()
    };
    let doc = list(&["--doc"]);
    let mut cargo = cargo_doc_list();
    cargo.sort();
    assert_eq!(doc, cargo);
    // An explicit `--doc` doctests `doctest = false` libraries too, as cargo does.
    assert!(doc.iter().any(|t| t.starts_with("nodoc::doc ")));
    let lib = list(&["--lib"]);
    assert_eq!(
        lib,
        [
            "doc21 tests::unit",
            "doc24 tests::unit",
            "nodoc tests::unit"
        ]
    );
    // Without target selection: everything `cargo test` runs (no `doctest = false` ones).
    let both = list(&[]);
    assert_eq!(both.len(), doc.len() - 1 + lib.len(), "{both:?}");
    assert!(!both.iter().any(|t| t.starts_with("nodoc::doc ")));
    // Features reach the doctest listing.
    let with = list(&["--doc", "--features", "doc21/extra"]);
    assert_eq!(with.len(), doc.len() + 1, "{with:?}");
    // cargo refuses `--doc` with another target selection; so do we (usage error).
    let o = run(doctests("list").args(["--workspace", "--doc", "--lib"]));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_line_inserted_above_a_doctest_keeps_its_history() {
    // A copy of the edition 2024 crate, so the test can edit it.
    let dir = tempfile::tempdir().unwrap();
    let src = repo_root().join("tests/fixtures/doctests/doc24");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::copy(src.join("Cargo.toml"), ws.join("Cargo.toml")).unwrap();
    let manifest = std::fs::read_to_string(ws.join("Cargo.toml")).unwrap() + "\n[workspace]\n";
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    let lib = std::fs::read_to_string(src.join("src/lib.rs")).unwrap();
    std::fs::write(ws.join("src/lib.rs"), &lib).unwrap();
    let timings = dir.path().join("timings.json");
    let plan = |ws: &Path| -> serde_json::Value {
        let o = run(shardtest()
            .args(["plan", "--doc", "--shards", "2", "--format", "json"])
            .arg("--manifest-path")
            .arg(ws.join("Cargo.toml"))
            .arg("--timings")
            .arg(&timings));
        assert!(o.status.success(), "{}", text(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let o = run(shardtest()
        .args(["run", "--doc", "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .arg("--timings")
        .arg(&timings));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let before = plan(&ws)["plan"]["estimated_tests"].as_u64().unwrap();
    // Only the ignored doctest (never run) has no history.
    assert_eq!(before, 1);
    std::fs::write(ws.join("src/lib.rs"), format!("// one more line\n{lib}")).unwrap();
    let p = plan(&ws);
    let listed = p["plan"]["shards"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .flat_map(|s| s["tests"].as_array().unwrap())
            .any(|t| t.as_str().unwrap().ends_with("- add (line 31)")),
        "the lines moved: {p}"
    );
    assert_eq!(
        p["plan"]["estimated_tests"].as_u64().unwrap(),
        before,
        "moved doctests plan from their history: {p}"
    );
}

#[test]
fn an_archive_records_doctests_and_runs_them_only_with_a_checkout() {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("t.tar.zst");
    let o = run(doctests("archive")
        .args(["-p", "doc24", "-o"])
        .arg(&archive));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("Recorded 12 doctests"), "{}", text(&o));

    // No sources: every doctest is reported as not run, with one line, and verify says so.
    let job = dir.path().join("job");
    std::fs::create_dir_all(&job).unwrap();
    let o = run(shardtest()
        .current_dir(&job)
        .args(["run", "--archive"])
        .arg(&archive)
        .args(["--json", "r.json"]));
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("Not running"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", text(&o));
    assert!(lines[0].contains("11 doctests"), "{}", lines[0]);
    let s = statuses(&read_json(&job.join("r.json")));
    assert_eq!(s.values().filter(|v| *v == "not_run").count(), 11, "{s:?}");
    let o = run(shardtest().arg("verify").arg(job.join("r.json")));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("doc24::doc doc24/src/lib.rs - add (line 30)"),
        "{}",
        text(&o)
    );

    // With a checkout and cargo they run, and verify proves it.
    let o = run(shardtest()
        .current_dir(&job)
        .args(["run", "--archive"])
        .arg(&archive)
        .arg("--workspace-remap")
        .arg(fixture("doctests").parent().unwrap())
        .args(["--json", "r2.json"])
        .env("FIXTURE_OUT", dir.path()));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let s = statuses(&read_json(&job.join("r2.json")));
    assert_eq!(s["doc24::doc doc24/src/lib.rs - fails (line 39)"], "failed");
    assert_eq!(s["doc24::doc doc24/src/lib.rs - a (line 2)"], "passed");
    let o = run(shardtest().arg("verify").arg(job.join("r2.json")));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(runs(dir.path()).len(), 2);
}

#[test]
fn a_hanging_doctest_times_out_and_a_failing_one_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let o = run(doctests("run")
        .args(["-p", "doc24", "--doc", "-j", "2", "--retries", "1"])
        .args(["--timeout", "3s", "--json"])
        .arg(&json)
        .args(["hangs", "fails"])
        .env("FIXTURE_HANG", "1")
        .env("FIXTURE_OUT", dir.path()));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    let r = read_json(&json);
    let tests = r["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 2, "{r}");
    for t in tests {
        let attempts = t["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 2, "retried once: {t}");
        assert_eq!(t["status"], "failed", "{t}");
        if t["id"].as_str().unwrap().contains("hangs") {
            assert!(
                attempts.iter().all(|a| a.to_string().contains("timed_out")),
                "{t}"
            );
        }
    }
    // Nothing of the killed cargo/rustdoc/doctest processes survives the run.
    assert_eq!(processes_of_run(dir.path()), Vec::<u32>::new());
    assert_eq!(runs(dir.path()).get("hang"), Some(&2));
}

/// A copy of the edition 2024 fixture crate as a workspace of its own, so a test can edit it.
fn doc24_copy(dir: &Path) -> std::path::PathBuf {
    let src = repo_root().join("tests/fixtures/doctests/doc24");
    let ws = dir.join("ws");
    std::fs::create_dir_all(ws.join("src")).unwrap();
    let manifest = std::fs::read_to_string(src.join("Cargo.toml")).unwrap() + "\n[workspace]\n";
    std::fs::write(ws.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(src.join("src/lib.rs"), ws.join("src/lib.rs")).unwrap();
    ws
}

/// The predicted time of the only shard of `plan --doc --shards 1 -j 1`, in seconds.
fn predicted_alone(ws: &Path, timings: &Path) -> f64 {
    let o = run(shardtest()
        .args([
            "plan", "--doc", "--shards", "1", "-j", "1", "--format", "json",
        ])
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
        .arg("--timings")
        .arg(timings));
    assert!(o.status.success(), "{}", text(&o));
    let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    p["plan"]["shards"][0]["predicted"].as_f64().unwrap()
}

#[test]
fn a_run_records_the_doctest_start_up_and_the_next_plan_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let ws = doc24_copy(dir.path());
    let timings = dir.path().join("timings.json");
    let o = run(shardtest()
        .args(["run", "--doc", "-j", "1", "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .arg("--timings")
        .arg(&timings));
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    // The history holds the package's measured start-up, in the version 3 format.
    let history = std::fs::read_to_string(&timings).unwrap();
    let h: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(h["version"], 3, "{history}");
    let samples = h["doc_costs"]["doc24::doc"].as_array().unwrap();
    assert_eq!(samples.len(), 1, "one run, one sample: {history}");
    let (setup_us, doctests) = (
        samples[0][1].as_u64().unwrap(),
        samples[0][2].as_u64().unwrap(),
    );
    assert!(setup_us > 0 && setup_us < 600_000_000, "{history}");
    assert_eq!(doctests, 12, "every doctest of the package: {history}");
    // The plan uses it: with the recorded start-up replaced by 100 s and then by 300 s, the
    // one batch of the only shard is predicted 100 s, then 300 s, plus the doctests' work.
    let set_setup = |us: u64| {
        let mut h = h.clone();
        h["doc_costs"]["doc24::doc"][0][1] = us.into();
        std::fs::write(&timings, serde_json::to_string(&h).unwrap()).unwrap();
    };
    set_setup(100_000_000);
    let at_100 = predicted_alone(&ws, &timings);
    set_setup(300_000_000);
    let at_300 = predicted_alone(&ws, &timings);
    assert!((100.0..130.0).contains(&at_100), "{at_100}");
    assert!(
        (at_300 - at_100 - 200.0).abs() < 0.01,
        "{at_100} s, then {at_300} s"
    );
    // Without the record, the defaults: 0.5 s + 13 ms x 12 doctests.
    let h0 = {
        let mut h = h.clone();
        h.as_object_mut().unwrap().remove("doc_costs");
        h["version"] = 2.into();
        h
    };
    std::fs::write(&timings, serde_json::to_string(&h0).unwrap()).unwrap();
    let default = predicted_alone(&ws, &timings);
    assert!(
        (at_100 - default - (100.0 - 0.656)).abs() < 0.01,
        "{default} s by default, {at_100} s with 100 s learned"
    );
}

#[test]
fn an_unchanged_crate_is_not_listed_again_and_an_edited_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let ws = doc24_copy(dir.path());
    // cargo, through a wrapper that logs the listings.
    let log = dir.path().join("cargo.log");
    let wrapper = dir.path().join("cargo");
    let real = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$*\" in *--list*) echo \"$*\" >> '{}';; esac\nexec '{real}' \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A listing during which the sources change (here: cargo writing the missing lock file)
    // is not kept; the test starts from a locked workspace.
    let o = run(Command::new(&real)
        .arg("generate-lockfile")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml")));
    assert!(o.status.success(), "{}", text(&o));
    let list = || -> (String, usize) {
        let o = run(shardtest()
            .args(["list", "--doc", "--manifest-path"])
            .arg(ws.join("Cargo.toml"))
            .env("CARGO", &wrapper));
        assert!(o.status.success(), "{}", text(&o));
        let listings = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        (String::from_utf8_lossy(&o.stdout).into_owned(), listings)
    };
    let (first, n) = list();
    assert_eq!(n, 2, "all, then --ignored");
    assert!(first.contains("src/lib.rs - add (line 30)"), "{first}");
    let (second, n) = list();
    assert_eq!(n, 2, "the cached listing is used");
    assert_eq!(first, second);
    // A new doctest: listed again.
    let lib = std::fs::read_to_string(ws.join("src/lib.rs")).unwrap();
    let edited = format!(
        "{lib}\n/// New.\n///\n/// ```\n/// assert!(true);\n/// ```\npub fn new_one() {{}}\n"
    );
    std::fs::write(ws.join("src/lib.rs"), edited).unwrap();
    let (third, n) = list();
    assert_eq!(n, 4, "edited: listed again");
    assert!(third.contains("src/lib.rs - new_one (line"), "{third}");
    // A one-line edit above a doctest moves its line: listed again.
    let lib = std::fs::read_to_string(ws.join("src/lib.rs")).unwrap();
    std::fs::write(
        ws.join("src/lib.rs"),
        lib.replacen("/// New.\n", "/// New.\n/// More.\n", 1),
    )
    .unwrap();
    let (fourth, n) = list();
    assert_eq!(n, 6, "edited: listed again");
    assert_ne!(third, fourth, "the line moved");
    // An edit inside a doc comment only (no line moves) changes the list too.
    let lib = std::fs::read_to_string(ws.join("src/lib.rs")).unwrap();
    std::fs::write(
        ws.join("src/lib.rs"),
        lib.replacen(
            "/// ```\n/// assert!(true);\n/// ```\n",
            "/// ```ignore\n/// assert!(true);\n/// ```\n",
            1,
        ),
    )
    .unwrap();
    let (_, n) = list();
    assert_eq!(n, 8, "edited again: listed again");
    let o = run(shardtest()
        .args(["list", "--doc", "--format", "json", "--manifest-path"])
        .arg(ws.join("Cargo.toml"))
        .env("CARGO", &wrapper));
    let listing = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(listing.contains("new_one"), "{listing}");
    assert_eq!(
        std::fs::read_to_string(&log).unwrap().lines().count(),
        8,
        "unchanged since: cached"
    );
    // Another target is another listing (cached on its own), the host's included.
    let host = String::from_utf8(
        Command::new("rustc")
            .arg("-vV")
            .output()
            .expect("rustc runs")
            .stdout,
    )
    .unwrap()
    .lines()
    .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
    .unwrap();
    for expected in [10, 10] {
        let o = run(shardtest()
            .args(["list", "--doc", "--target", &host, "--manifest-path"])
            .arg(ws.join("Cargo.toml"))
            .env("CARGO", &wrapper));
        assert!(o.status.success(), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("new_one"));
        let n = std::fs::read_to_string(&log).unwrap().lines().count();
        assert_eq!(n, expected, "--target {host}");
    }
}

#[test]
fn package_globs_select_doctests_as_cargo_does() {
    let binaries = |args: &[&str]| -> std::collections::BTreeSet<String> {
        let o = run(doctests("list").args(["--doc"]).args(args));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(b, _)| b.to_string()))
            .collect()
    };
    let want = |b: &[&str]| b.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        binaries(&["-p", "doc2*"]),
        want(&["doc21::doc", "doc24::doc"])
    );
    assert_eq!(binaries(&["-p", "doc2[4]"]), want(&["doc24::doc"]));
    let all = binaries(&["--workspace"]);
    assert!(
        all.contains("doc21::doc") && all.contains("doc24::doc"),
        "{all:?}"
    );
    let rest = binaries(&["--workspace", "--exclude", "doc?1"]);
    assert!(
        !rest.contains("doc21::doc") && rest.contains("doc24::doc"),
        "{rest:?}"
    );
}
