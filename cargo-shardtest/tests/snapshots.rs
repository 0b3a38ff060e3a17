//! Snapshot tests of the human output of `run`, `plan`, `verify` and `audit` on the fixture
//! workspaces: what a person reads is committed under `tests/snapshots/`, so a change to it
//! shows up in review as a diff of a `.snap` file (accept one with `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test -p cargo-shardtest --test snapshots`, and read the diff).
//!
//! What varies from run to run or machine to machine is replaced before the comparison:
//! temporary directories (`[TMP]`), the repository's path (`[REPO]`), run ids (`[RUN_ID]`),
//! plan fingerprints (`[FINGERPRINT]`), measured durations (`[DURATION]`, `[T]`),
//! percentages, panicking threads' ids, and cargo's own build lines (`Compiling ...` only
//! appears when a fixture was not built yet; `Finished ... in 0.05s` keeps its words).
//! Colour is off (`--color never`, `NO_COLOR=1`), and the output is not a terminal, so no
//! progress bar is drawn.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// The variable parts of the output, as regular expressions applied in order by insta.
/// `timed`: also the measured durations (not for `plan`, whose predictions come from a
/// history the test writes, so they are the same on every machine and worth reviewing).
fn filters(timed: bool) -> Vec<(&'static str, &'static str)> {
    let mut f = vec![
        // Run ids: `<ms since the epoch, hex>-<pid, hex>` (in the header and in paths).
        (r"\b[0-9a-f]{9,}-[0-9a-f]{1,8}\b", "[RUN_ID]"),
        // Plan fingerprints (16 hex digits of a SHA-256).
        (r"\b[0-9a-f]{16}\b", "[FINGERPRINT]"),
        // libtest names the panicking thread with its OS id: `thread 'x' (15463) panicked`.
        (r"thread '([^']*)' \(\d+\)", "thread '$1' ([TID])"),
        // cargo's build time, which may also read `1m 02s` on a loaded machine.
        (r"(?m)^( *Finished .*) in [^\n]*$", "$1 in [T]"),
    ];
    if timed {
        f.extend([
            // A test's or the run's duration: `[   0.003s]`.
            (r"\[ *\d+\.\d+s\]", "[DURATION]"),
            // Any other duration (`Wall time 0.067s`, `finished in 0.00s`, `(0.31s)`);
            // right-aligned columns of durations were redacted by `redact_columns` already.
            (r"\b\d+\.\d+s\b", "[T]"),
            (r"\b\d+(\.\d+)?%", "[PCT]"),
        ]);
    }
    f
}

/// Cargo's progress lines that depend on what was built before (or is being built by a test
/// running beside this one), not on shardtest.
const CARGO_NOISE: &[&str] = &[
    "Compiling ",
    "Blocking ",
    "Locking ",
    "Updating ",
    "Adding ",
    "Downloading ",
    "Downloaded ",
    "Checking ",
];

/// The plain-string part of the normalisation: paths, cargo's build lines and, with `timed`,
/// right-aligned duration columns ([`redact_columns`]) and the order of the `Slowest:` list
/// ([`sort_slowest`]).
fn normalise(s: &str, tmp: &Path, timed: bool) -> String {
    let s = s
        .replace(&tmp.display().to_string(), "[TMP]")
        .replace(&repo_root().display().to_string(), "[REPO]");
    let kept: Vec<String> = s
        .lines()
        .filter(|l| !CARGO_NOISE.iter().any(|w| l.trim_start().starts_with(w)))
        .map(|l| {
            if timed {
                redact_columns(l)
            } else {
                l.to_string()
            }
        })
        .collect();
    if timed {
        sort_slowest(kept).join("\n")
    } else {
        kept.join("\n")
    }
}

/// Replaces each duration that ends a right-aligned column (two or more spaces, then
/// `12.34s`: the audit's table, the `Slowest:` list) by `[T]` padded to the same width, so
/// the columns stay aligned in the snapshot whether a number has one digit before the point
/// or two. A duration in brackets (`[   0.003s]`) is left to the `[DURATION]` filter.
fn redact_columns(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        let spaces = b[i..].iter().take_while(|&&c| c == b' ').count();
        if spaces >= 2 && (i == 0 || b[i - 1] != b'[') {
            let token = duration_len(&b[i + spaces..]);
            if token > 0 {
                out.push_str(&" ".repeat(spaces + token - 3));
                out.push_str("[T]");
                i += spaces + token;
                continue;
            }
        }
        // Spaces as they are, or one character (which may be more than one byte).
        let n = match spaces {
            0 => line[i..].chars().next().map_or(1, char::len_utf8),
            n => n,
        };
        out.push_str(&line[i..i + n]);
        i += n;
    }
    out
}

/// The length of a `12.34s` duration at the start of `b` (followed by the end of the line or
/// by something that is not a letter or digit), or 0.
fn duration_len(b: &[u8]) -> usize {
    let int = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if int == 0 || b.get(int) != Some(&b'.') {
        return 0;
    }
    let frac = b[int + 1..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = int + 1 + frac;
    let boundary = b.get(end + 1).is_none_or(|c| !c.is_ascii_alphanumeric());
    if frac > 0 && b.get(end) == Some(&b's') && boundary {
        end + 1
    } else {
        0
    }
}

/// The run summary's `Slowest:` list is ordered by measured duration, which changes from run
/// to run when tests take about as long as each other (they do here: a few milliseconds
/// each). Its entries (durations already redacted: `[T] <test id>`) are sorted by test id
/// instead, so the snapshot shows which tests are listed, in a stable order.
fn sort_slowest(lines: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(lines.len());
    let mut it = lines.into_iter().peekable();
    while let Some(line) = it.next() {
        let heading = line.trim() == "Slowest:";
        out.push(line);
        if heading {
            let mut entries = Vec::new();
            while let Some(e) = it.next_if(|l| l.trim_start().starts_with("[T] ")) {
                entries.push(e);
            }
            entries.sort();
            out.extend(entries);
        }
    }
    out
}

/// Exit status and both streams, normalised: what the snapshot holds.
fn transcript(o: &Output, tmp: &Path, timed: bool) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !stdout.contains('\x1b') && !stderr.contains('\x1b'),
        "colour codes in the output: {}",
        text(o)
    );
    format!(
        "exit status: {:?}\n--- stdout\n{}\n--- stderr\n{}\n",
        o.status.code(),
        normalise(&stdout, tmp, timed),
        normalise(&stderr, tmp, timed)
    )
}

/// The command line, normalised, and the `FIXTURE_*` variables it sets: the snapshot's
/// description, so a reviewer sees what produced it.
fn describe(c: &Command, tmp: &Path) -> String {
    let mut words = vec!["cargo".to_string()];
    words.extend(c.get_args().map(|a| a.to_string_lossy().into_owned()));
    let mut env: Vec<String> = c
        .get_envs()
        .filter_map(|(k, v)| {
            let k = k.to_string_lossy();
            let v = v?.to_string_lossy();
            k.starts_with("FIXTURE_").then(|| format!("{k}={v}"))
        })
        .collect();
    env.sort();
    env.extend(words);
    normalise(&env.join(" "), tmp, false)
}

/// `cargo shardtest <args>` (see [`shardtest`]) with colour off and what reaches the tests
/// pinned: no backtraces (their frames name the toolchain's paths), libtest's default threads.
fn command(tmp: &Path) -> Command {
    let mut c = shardtest();
    c.env("NO_COLOR", "1")
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS")
        // Read by `run` and `audit`; each test of this file passes its own `--timings` too.
        .env("SHARDTEST_TIMINGS", tmp.join("default-timings.json"));
    c
}

/// Runs `c` and compares its transcript with the snapshot `name`.
fn check(name: &str, mut c: Command, tmp: &Path, timed: bool) -> Output {
    let o = run(&mut c);
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_description(describe(&c, tmp));
    settings.set_omit_expression(true);
    for (re, with) in filters(timed) {
        settings.add_filter(re, with);
    }
    let t = transcript(&o, tmp, timed);
    settings.bind(|| insta::assert_snapshot!(name, t));
    o
}

#[test]
fn run_with_a_failure() {
    // Five tests of the basic fixture's library, in order on one worker: two plain passes,
    // one that passes after reading its environment, one that fails when asked, and one
    // `#[ignore]`d (skipped). A fresh, empty history: the plan is by test count.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = command(tmp.path());
    c.args(["run", "--manifest-path"])
        .arg(fixture("basic"))
        .args(["-p", "basic", "--lib", "-j", "1", "--color", "never"])
        .arg("--timings")
        .arg(tmp.path().join("timings.json"))
        .args([
            "adds_one",
            "adds_two",
            "env_vars",
            "fails_when_asked",
            "expensive",
        ])
        .env("FIXTURE_FAIL", "1");
    let o = check("run_with_a_failure", c, tmp.path(), true);
    assert_eq!(o.status.code(), Some(100), "{}", text(&o));
}

/// The history of `plan_from_a_history`: the skewed fixture's three slow tests take 0.7 s,
/// the others 20 ms, and `t11` has no history (its duration is estimated).
fn skewed_history() -> String {
    let mut tests = Vec::new();
    for i in 0..11 {
        let us = if i % 4 == 0 { 700_000 } else { 20_000 };
        tests.push(format!(
            "\"skewed tests::t{i:02}\":{{\"runs\":[[0,{us},1]]}}"
        ));
    }
    format!(
        "{{\"version\":2,\"runs\":[\n[\"r-1\",1700000000000]\n],\"tests\":{{\n{}\n}}}}\n",
        tests.join(",\n")
    )
}

#[test]
fn plan_from_a_history() {
    // Every shard of four with one worker each, and the shard-count suggestion for a 1 s
    // setup per job. The predictions come from the history written here, so they are kept.
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("history.json");
    std::fs::write(&history, skewed_history()).unwrap();
    let mut c = command(tmp.path());
    c.args(["plan", "--manifest-path"])
        .arg(fixture("skewed"))
        .args(["--shards", "4", "-j", "1", "--timings"])
        .arg(&history)
        .args(["--suggest", "--setup-cost", "1s", "--max-shards", "5"]);
    let o = check("plan_from_a_history", c, tmp.path(), false);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn verify_two_shards() {
    // Two shards of six tests, run as two CI jobs would (one history file, the same plan),
    // then `verify` on both reports, on one (a lost shard) and on one twice.
    let tmp = tempfile::tempdir().unwrap();
    let timings = tmp.path().join("timings.json");
    let mut reports = Vec::new();
    for k in 1..=2 {
        let report = tmp.path().join(format!("report-{k}.json"));
        let mut c = command(tmp.path());
        let o = run(c
            .args(["run", "--manifest-path"])
            .arg(fixture("basic"))
            .args(["-p", "basic", "--lib", "-j", "1", "--shard"])
            .arg(format!("{k}/2"))
            .arg("--timings")
            .arg(&timings)
            .arg("--json")
            .arg(&report)
            .arg("adds_"));
        assert!(o.status.success(), "{}", text(&o));
        reports.push(report);
    }
    let verify = |name: &str, reports: &[&Path]| {
        let mut c = command(tmp.path());
        c.arg("verify").args(reports);
        check(name, c, tmp.path(), true)
    };
    let o = verify("verify_all_shards", &[&reports[0], &reports[1]]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = verify("verify_missing_shard", &[&reports[0]]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = verify("verify_shard_reported_twice", &[&reports[1], &reports[1]]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn audit_of_a_clean_suite() {
    // The five parallel-safe tests of audit-clean, with a fixed seed, two workers and one
    // repetition: every configuration runs, and none finds a suspect.
    let tmp = tempfile::tempdir().unwrap();
    let mut c = command(tmp.path());
    c.args(["audit", "--manifest-path"])
        .arg(fixture("audit-clean"))
        .args(["-j", "2", "--repeat", "1", "--seed", "7", "--timings"])
        .arg(tmp.path().join("timings.json"));
    let o = check("audit_of_a_clean_suite", c, tmp.path(), true);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
