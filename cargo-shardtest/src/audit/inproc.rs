//! Running tests the way `cargo test` does: the chosen tests of one binary as threads of one
//! process (`<bin> --exact a b c [--test-threads N]`), with libtest's own capture.
//!
//! The default runner gives every test its own process, which hides state shared through a
//! `static`, a `OnceLock`, a global logger or a process-wide environment variable. The audit
//! uses this module to run a binary's tests in one process and compare. Nothing of
//! `cargo shardtest`'s environment (`SHARDTEST_*`) is set: the test process sees what it sees
//! under plain `cargo test` (cargo's variables only), so `shard::worker_id()` and friends take
//! their `cargo test` paths.
//!
//! libtest runs the tests it is given in name order (with one thread, one after the other),
//! whatever order they are named in, so an in-process order is a subset, not a permutation;
//! a shuffled order needs libtest's unstable `--shuffle-seed` ([`shuffle_supported`]).

use crate::list::TestBinary;
use crate::run::kill_group;
use shardtest_protocol::env;
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How one test ended inside a shared process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InProcessResult {
    /// It passed.
    pub passed: bool,
    /// What libtest captured for a failure (the panic message), or why it has no result.
    pub output: String,
}

/// The results of one in-process run.
#[derive(Clone, Debug, Default)]
pub struct InProcessRun {
    /// Results by libtest name; a test missing here did not report (the run was stopped).
    pub results: BTreeMap<String, InProcessResult>,
    /// Why the run was stopped before it ended (timeout, budget, interrupt), if it was.
    pub stopped: Option<String>,
    /// Wall time of the process.
    pub elapsed: Duration,
}

/// How to run one process.
#[derive(Clone, Debug, Default)]
pub struct InProcessSpec {
    /// Test threads (`--test-threads N`); `None` is libtest's default (one per core).
    pub threads: Option<u32>,
    /// libtest's unstable `--shuffle-seed` (only where [`shuffle_supported`]).
    pub shuffle_seed: Option<u64>,
    /// Extra arguments for the binary (the user's test arguments).
    pub extra_args: Vec<String>,
    /// Kill the process (its whole group) after this long: a bound for all its tests
    /// together, not per test.
    pub timeout: Option<Duration>,
}

/// The command line that runs `names` of `binary` in one process, without the binary itself.
///
/// ```
/// use shardtest::audit::inproc::{libtest_args, InProcessSpec};
/// let spec = InProcessSpec { threads: Some(1), ..Default::default() };
/// assert_eq!(libtest_args(&["t::a", "t::b"], &spec), ["--exact", "t::a", "t::b", "--test-threads", "1"]);
/// ```
pub fn libtest_args(names: &[&str], spec: &InProcessSpec) -> Vec<String> {
    let mut args = vec!["--exact".to_string()];
    args.extend(names.iter().map(|n| n.to_string()));
    if let Some(t) = spec.threads {
        args.extend(["--test-threads".to_string(), t.to_string()]);
    }
    if let Some(seed) = spec.shuffle_seed {
        args.extend([
            "-Z".into(),
            "unstable-options".into(),
            "--shuffle-seed".into(),
            seed.to_string(),
        ]);
    }
    args.extend(spec.extra_args.iter().cloned());
    args
}

/// Whether `binary` is a libtest binary of a cargo target (lib, bin, test, example, bench),
/// which runs its tests in one process when asked. Other units (doctests) are not.
///
/// ```
/// let mut b = shardtest::list::TestBinary::new("demo", "lib", "demo", "/t/demo");
/// assert!(shardtest::audit::inproc::runs_in_process(&b));
/// b.kind = "doctest".into();
/// assert!(!shardtest::audit::inproc::runs_in_process(&b));
/// b.kind = "test".into();
/// b.custom_harness = true; // `harness = false`
/// assert!(!shardtest::audit::inproc::runs_in_process(&b));
/// ```
pub fn runs_in_process(binary: &TestBinary) -> bool {
    // A `harness = false` target has its own `main`: it may not take libtest's arguments.
    !binary.custom_harness
        && matches!(
            binary.kind.as_str(),
            "lib"
                | "rlib"
                | "dylib"
                | "cdylib"
                | "staticlib"
                | "proc-macro"
                | "bin"
                | "test"
                | "example"
                | "bench"
        )
}

/// The variables the runner sets in every test process it starts (see the brief's list).
const RUNNER_VARS: [&str; 7] = [
    env::RUN_ID,
    env::WORKER_ID,
    env::WORKERS,
    env::SHARD,
    env::TEST_ID,
    env::ATTEMPT,
    env::ARTIFACT_DIR,
];

fn command(binary: &TestBinary, args: &[String]) -> Command {
    let mut cmd = Command::new(&binary.path);
    cmd.current_dir(crate::list::existing_dir(&binary.package_dir));
    cmd.envs(binary.cargo_env());
    cmd.envs(crate::test_env::test_env().iter().map(|(k, v)| (k, v)));
    // What `cargo shardtest` sets for each test process stays out (were it inherited by a
    // nested run): this is how `cargo test` runs it. The user's own settings of the library
    // (`SHARDTEST_PORT_RANGE`, `SHARDTEST_LOCK_DIR`, ...) are kept, as `cargo test` would.
    for k in RUNNER_VARS {
        cmd.env_remove(k);
    }
    cmd.args(args).stdin(Stdio::null()).process_group(0);
    cmd
}

/// Whether `binary`'s libtest accepts `-Z unstable-options --shuffle-seed` (a nightly
/// toolchain built it). Stable libtest refuses unstable options.
///
/// ```no_run
/// # fn binary() -> shardtest::list::TestBinary {
/// #     shardtest::list::TestBinary::new("demo", "lib", "demo", "target/debug/deps/demo-1")
/// # }
/// if !shardtest::audit::inproc::shuffle_supported(&binary()) {
///     println!("stable libtest: no in-process shuffle");
/// }
/// ```
pub fn shuffle_supported(binary: &TestBinary) -> bool {
    let args: Vec<String> = [
        "--list",
        "--format",
        "terse",
        "-Z",
        "unstable-options",
        "--shuffle-seed",
        "1",
    ]
    .map(String::from)
    .to_vec();
    command(binary, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs `names` of `binary` in one process as `spec` says and reads each test's result from
/// libtest's output. `stop` is asked about every 10 ms whether to give up (budget, Ctrl-C):
/// it returns the reason. The process group is killed when stopped or timed out.
///
/// ```no_run
/// use shardtest::audit::inproc::{run_in_process, InProcessSpec};
/// # fn binary() -> shardtest::list::TestBinary {
/// #     shardtest::list::TestBinary::new("demo", "lib", "demo", "target/debug/deps/demo-1")
/// # }
/// let spec = InProcessSpec { threads: Some(1), ..Default::default() };
/// let run = run_in_process(&binary(), &["tests::a", "tests::b"], &spec, &|| None)?;
/// let b_passed = run.results.get("tests::b").is_some_and(|r| r.passed);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn run_in_process(
    binary: &TestBinary,
    names: &[&str],
    spec: &InProcessSpec,
    stop: &dyn Fn() -> Option<String>,
) -> std::io::Result<InProcessRun> {
    let args = libtest_args(names, spec);
    let mut child = command(binary, &args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let pgid = child.id() as i32;
    let start = Instant::now();
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = out.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = err.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let mut stopped = None;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        let why = stop().or_else(|| {
            spec.timeout
                .filter(|t| start.elapsed() > *t)
                .map(|t| format!("timed out after {:.0}s", t.as_secs_f64()))
        });
        if let Some(why) = why {
            stopped = Some(why);
            kill_group(pgid);
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // Threads the tests started may outlive the main thread's exit in other processes of the
    // group: nothing of the run survives it.
    kill_group(pgid);
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let mut results = parse_libtest_output(&stdout, names);
    if let Some(why) = stopped.as_deref().filter(|w| w.starts_with("timed out"))
        && let Some(name) = running_test(&stdout, names)
    {
        // One thread: libtest named the test it was running when the process was killed.
        results.insert(
            name.to_string(),
            InProcessResult {
                passed: false,
                output: format!("{why}: the process was killed while this test ran"),
            },
        );
    }
    if stopped.is_none() {
        // The process died (a crash, an abort, a process::exit) before some tests reported:
        // they count as failed, each with what the process printed last.
        let died = match status.code() {
            Some(0) | Some(101) => None,
            Some(code) => Some(format!("the test process exited with code {code}")),
            None => Some(format!(
                "the test process was killed by {}",
                crate::run::signal_name(status.signal().unwrap_or(0))
            )),
        };
        if let Some(died) = died {
            let tail: String = stderr
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            for n in names {
                results
                    .entry(n.to_string())
                    .or_insert_with(|| InProcessResult {
                        passed: false,
                        output: format!("{died} before this test reported\n{tail}"),
                    });
            }
        }
    }
    Ok(InProcessRun {
        results,
        stopped,
        elapsed: start.elapsed(),
    })
}

/// The test libtest was running when its output stopped: with one thread it prints
/// `test NAME ... ` when a test begins and the result when it ends, so an unfinished last line
/// names it.
///
/// ```
/// use shardtest::audit::inproc::running_test;
/// assert_eq!(running_test("test t::a ... ok\ntest t::b ... ", &["t::a", "t::b"]), Some("t::b"));
/// assert_eq!(running_test("test t::a ... ok\n", &["t::a", "t::b"]), None);
/// ```
pub fn running_test<'n>(stdout: &str, names: &[&'n str]) -> Option<&'n str> {
    let last = stdout.rsplit('\n').next()?;
    crate::run::libtest_output::parse_test_started(last, |n| {
        names.iter().copied().find(|k| *k == n)
    })
}

/// Reads libtest's output: `test NAME ... ok|FAILED|ignored` lines and the captured output
/// of each failure (`---- NAME stdout ----` sections). Only `names` are looked for.
///
/// ```
/// use shardtest::audit::inproc::parse_libtest_output;
/// let out = "running 2 tests\ntest t::a ... ok\ntest t::b ... FAILED\n\nfailures:\n\n---- t::b stdout ----\nboom\n\nfailures:\n    t::b\n";
/// let r = parse_libtest_output(out, &["t::a", "t::b"]);
/// assert!(r["t::a"].passed);
/// assert!(!r["t::b"].passed);
/// assert_eq!(r["t::b"].output.trim(), "boom");
/// ```
pub fn parse_libtest_output(stdout: &str, names: &[&str]) -> BTreeMap<String, InProcessResult> {
    use crate::run::libtest_output::{LineResult, parse_failure_header, parse_test_line};
    let lookup = |n: &str| names.iter().find(|k| **k == n).map(|k| k.to_string());
    let mut results: BTreeMap<String, InProcessResult> = BTreeMap::new();
    let mut collecting: Option<String> = None;
    for line in stdout.lines() {
        let line = line.trim_end_matches('\r');
        if let Some((name, result)) = parse_test_line(line, lookup) {
            let passed = match result {
                LineResult::Ok => true,
                LineResult::Failed => false,
                LineResult::Ignored(_) => continue,
            };
            results.insert(
                name,
                InProcessResult {
                    passed,
                    output: String::new(),
                },
            );
            continue;
        }
        if line == "failures:" {
            collecting = None;
            continue;
        }
        if let Some(name) = parse_failure_header(line, lookup) {
            collecting = Some(name);
            continue;
        }
        if let Some(name) = &collecting
            && let Some(r) = results.get_mut(name)
            && r.output.len() < 8 * 1024
        {
            r.output.push_str(line);
            r.output.push('\n');
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn should_panic_suffixes_are_understood() {
        let out = "test t::p - should panic ... ok\ntest t::q - should panic ... FAILED\n";
        let r = parse_libtest_output(out, &["t::p", "t::q"]);
        assert!(r["t::p"].passed);
        assert!(!r["t::q"].passed);
    }

    #[test]
    fn ignored_and_unknown_lines_are_not_results() {
        let out = "test t::a ... ignored\ntest other ... ok\ntest t::b ... ok\n";
        let r = parse_libtest_output(out, &["t::a", "t::b"]);
        assert_eq!(r.len(), 1);
        assert!(r["t::b"].passed);
    }

    #[test]
    fn shuffle_arguments_are_libtests_unstable_ones() {
        let spec = InProcessSpec {
            shuffle_seed: Some(9),
            ..Default::default()
        };
        let args = libtest_args(&["a"], &spec);
        assert_eq!(
            args,
            [
                "--exact",
                "a",
                "-Z",
                "unstable-options",
                "--shuffle-seed",
                "9"
            ]
        );
    }
}
