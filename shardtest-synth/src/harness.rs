//! The libtest-compatible test harness: turns a spec into a test binary.
//!
//! Use it as the `main` of a `harness = false` test target:
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     // Fall back to a spec file of the package when `SHARDTEST_SYNTH_SPEC` is unset.
//!     let fallback = std::path::Path::new("synth-spec.json");
//!     shardtest_synth::harness::main(Some(fallback))
//! }
//! ```
//!
//! Besides libtest's flags it understands `--print-spec` (print the effective spec as JSON and
//! exit) and `--print-tests` (print the generated tests as JSON lines and exit), and, unlike
//! libtest-mimic alone, several positional filters (`--exact a b c` runs exactly those three
//! tests, as with the standard harness) and the `RUST_TEST_THREADS` variable.

use crate::{Mode, Outcome, Spec, SpecError, SynthTest, find, generate};
use libtest_mimic::{Arguments, Failed, Trial};
use shardtest_protocol::attrs::{
    ATTRIBUTE_PROTOCOL_VERSION, AttributeLine, SerialKey, TestAttributes,
};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Environment variable naming the spec: a path to a JSON file, or inline JSON (starting
/// with `{`). Read at run time, so a suite's size changes without recompiling.
pub const SPEC_ENV: &str = "SHARDTEST_SYNTH_SPEC";
/// Name of the spec file looked for next to the executable when [`SPEC_ENV`] is unset.
pub const SPEC_FILE_NAME: &str = "synth-spec.json";
/// Variable through which a runner asks for attribute lines (the shardtest listing protocol).
pub const LIST_ATTRIBUTES_ENV: &str = shardtest_protocol::env::LIST_ATTRIBUTES;
/// Variable naming a file to which every test that runs appends its name and a newline (one
/// `O_APPEND` write, so concurrent processes do not interleave): lets a benchmark check that a
/// runner really ran every test exactly once.
pub const RECORD_ENV: &str = "SHARDTEST_SYNTH_RECORD";
/// Variable overriding the directory of the cross-process serial locks.
pub const LOCK_DIR_ENV: &str = shardtest_protocol::env::LOCK_DIR;

/// Flags this harness adds to libtest's.
const PRINT_SPEC: &str = "--print-spec";
const PRINT_TESTS: &str = "--print-tests";
/// libtest-mimic options that take a value (so their value is not a positional filter).
const OPTIONS_WITH_VALUE: [&str; 6] = [
    "--test-threads",
    "--logfile",
    "--skip",
    "--color",
    "--format",
    "-Z",
];

/// Finds the spec: `$SHARDTEST_SYNTH_SPEC` (file or inline JSON), else `fallback_file` if it
/// exists, else `synth-spec.json` next to the executable, else [`Spec::default`]. Returns the
/// spec and a description of where it came from.
///
/// ```
/// let (spec, origin) = shardtest_synth::harness::load_spec(None).unwrap();
/// assert!(spec.effective_count() > 0 || !origin.is_empty());
/// ```
pub fn load_spec(fallback_file: Option<&Path>) -> Result<(Spec, String), SpecError> {
    if let Some(value) = std::env::var_os(SPEC_ENV).filter(|v| !v.is_empty()) {
        let text = value.to_string_lossy();
        if text.trim_start().starts_with('{') {
            let origin = format!("${SPEC_ENV} (inline JSON)");
            let spec = Spec::from_json_str(&text, &origin, None)?;
            return Ok((spec, origin));
        }
        let path = PathBuf::from(value);
        let spec = Spec::load(&path)?;
        return Ok((spec, path.display().to_string()));
    }
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(SPEC_FILE_NAME)));
    for candidate in fallback_file
        .map(Path::to_path_buf)
        .into_iter()
        .chain(beside_exe)
    {
        if candidate.is_file() {
            let spec = Spec::load(&candidate)?;
            return Ok((spec, candidate.display().to_string()));
        }
    }
    Ok((Spec::default(), "built-in default".to_string()))
}

/// Runs the harness with the process's arguments and returns its exit code (0 all passed,
/// 101 a test failed, 2 bad spec). See the [module docs](self).
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     shardtest_synth::harness::main(None)
/// }
/// ```
pub fn main(fallback_file: Option<&Path>) -> ExitCode {
    run_with_args(std::env::args_os().collect(), fallback_file)
}

/// [`main`] with explicit arguments (the first is the program name).
///
/// ```no_run
/// let code = shardtest_synth::harness::run_with_args(
///     vec!["synth".into(), "--list".into()], None);
/// ```
pub fn run_with_args(args: Vec<OsString>, fallback_file: Option<&Path>) -> ExitCode {
    let (print_spec, print_tests, args) = take_own_flags(args);
    let (spec, origin) = match load_spec(fallback_file) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if print_spec {
        let mut effective = spec.clone();
        effective.count = Some(spec.effective_count());
        return match serde_json::to_string_pretty(&effective) {
            Ok(json) => {
                println!("{json}");
                eprintln!("(spec from {origin})");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the spec: {e}");
                ExitCode::from(2)
            }
        };
    }
    if print_tests {
        return print_test_lines(&generate(&spec));
    }

    let (args, filters) = split_filters(args);
    let mut args = Arguments::from_iter(args);
    let tests = select(&spec, &args, &filters);
    if args.test_threads.is_none() {
        args.test_threads = std::env::var("RUST_TEST_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|n: &usize| *n > 0);
    }
    let keep = |t: &SynthTest| {
        filters.is_empty()
            || filters.iter().any(|f| {
                if args.exact {
                    t.name == *f
                } else {
                    t.name.contains(f.as_str())
                }
            })
    };

    if args.list {
        return list(&args, &tests, &keep, &spec.serial_key);
    }

    let serial_key: Arc<str> = Arc::from(spec.serial_key.as_str());
    let trials: Vec<Trial> = tests
        .into_iter()
        .filter(|t| keep(t))
        .map(|t| {
            let ignored = t.ignored;
            let name = t.name.clone();
            let job = Job {
                test: t,
                stdout_lines: spec.stdout_lines,
                serial_key: serial_key.clone(),
            };
            Trial::test(name, move || job.run()).with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// The tests the arguments can select. With `--exact NAME...` (how runners start one test or
/// a batch) the named tests are computed directly instead of generating the whole suite.
fn select(spec: &Spec, args: &Arguments, filters: &[String]) -> Vec<SynthTest> {
    if args.exact && !args.list {
        let names: Vec<&str> = match &args.filter {
            Some(f) => vec![f.as_str()],
            None => filters.iter().map(String::as_str).collect(),
        };
        if !names.is_empty() {
            let found: Vec<SynthTest> = names.iter().filter_map(|n| find(spec, n)).collect();
            if found.len() == names.len() {
                let mut found = found;
                found.sort_unstable_by(|a, b| a.name.cmp(&b.name));
                found.dedup_by(|a, b| a.name == b.name);
                return found;
            }
        }
    }
    generate(spec)
}

/// Removes `--print-spec` / `--print-tests` from the arguments.
fn take_own_flags(args: Vec<OsString>) -> (bool, bool, Vec<OsString>) {
    let mut print_spec = false;
    let mut print_tests = false;
    let rest = args
        .into_iter()
        .filter(|a| {
            if a == PRINT_SPEC {
                print_spec = true;
                false
            } else if a == PRINT_TESTS {
                print_tests = true;
                false
            } else {
                true
            }
        })
        .collect();
    (print_spec, print_tests, rest)
}

/// Takes the positional filters out of the arguments when there are several (libtest-mimic
/// accepts one); a single filter stays for libtest-mimic to apply.
fn split_filters(args: Vec<OsString>) -> (Vec<OsString>, Vec<String>) {
    let mut positional = Vec::new();
    let mut after_dashes = false;
    let mut expect_value = false;
    for (i, a) in args.iter().enumerate().skip(1) {
        let s = a.to_string_lossy();
        if expect_value {
            expect_value = false;
        } else if after_dashes || !s.starts_with('-') || s == "-" {
            positional.push(i);
        } else if s == "--" {
            after_dashes = true;
        } else if OPTIONS_WITH_VALUE.contains(&s.as_ref()) {
            expect_value = true;
        }
    }
    if positional.len() <= 1 {
        return (args, Vec::new());
    }
    let mut filters = Vec::new();
    let mut rest = Vec::new();
    for (i, a) in args.into_iter().enumerate() {
        if positional.contains(&i) {
            filters.push(a.to_string_lossy().into_owned());
        } else if a != "--" {
            rest.push(a);
        }
    }
    (rest, filters)
}

/// `--list`: like libtest-mimic's listing (`name: test` lines), buffered so that 100,000
/// tests list in milliseconds, preceded by shardtest attribute lines when asked.
fn list(
    args: &Arguments,
    tests: &[SynthTest],
    keep: &dyn Fn(&SynthTest) -> bool,
    serial_key: &str,
) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let want_attrs = std::env::var_os(LIST_ATTRIBUTES_ENV).is_some_and(|v| v == "1");
    let listed = |t: &&SynthTest| {
        keep(t) && (!args.ignored || t.ignored) && !filtered_by_libtest_args(args, &t.name)
    };
    let mut result = Ok(());
    if want_attrs {
        for t in tests.iter().filter(listed).filter(|t| t.serial) {
            let line = AttributeLine {
                v: ATTRIBUTE_PROTOCOL_VERSION,
                name: t.name.clone(),
                attributes: TestAttributes {
                    serial: Some(SerialKey::from(serial_key)),
                    ..TestAttributes::default()
                },
            };
            result = result.and_then(|()| writeln!(out, "{}", line.to_line()));
        }
    }
    for t in tests.iter().filter(listed) {
        result = result.and_then(|()| writeln!(out, "{}: test", t.name));
    }
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the test list: {e}");
            ExitCode::from(101)
        }
    }
}

/// The single positional filter and `--skip`, as libtest-mimic applies them.
fn filtered_by_libtest_args(args: &Arguments, name: &str) -> bool {
    if let Some(f) = &args.filter {
        let hit = if args.exact {
            name == f
        } else {
            name.contains(f.as_str())
        };
        if !hit {
            return true;
        }
    }
    args.skip.iter().any(|s| {
        if args.exact {
            name == s
        } else {
            name.contains(s.as_str())
        }
    })
}

fn print_test_lines(tests: &[SynthTest]) -> ExitCode {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut result = Ok(());
    for t in tests {
        result = result.and_then(|()| {
            serde_json::to_writer(&mut out, t)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        });
    }
    match result.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the tests: {e}");
            ExitCode::from(101)
        }
    }
}

/// What one trial does.
struct Job {
    test: SynthTest,
    stdout_lines: u32,
    serial_key: Arc<str>,
}

/// Serialises serial tests inside one process (the file lock does it across processes).
static IN_PROCESS_SERIAL: Mutex<()> = Mutex::new(());

impl Job {
    fn run(self) -> Result<(), Failed> {
        let _guard = if self.test.serial {
            Some(SerialGuard::acquire(&self.serial_key)?)
        } else {
            None
        };
        if let Some(path) = std::env::var_os(RECORD_ENV).filter(|p| !p.is_empty()) {
            record(Path::new(&path), &self.test.name)?;
        }
        for k in 0..self.stdout_lines {
            println!("{}: output line {k}", self.test.name);
        }
        match self.test.mode {
            Mode::Sleep if self.test.duration.is_zero() => {}
            Mode::Sleep => std::thread::sleep(self.test.duration),
            Mode::Busy => spin(self.test.duration),
        }
        match self.test.outcome {
            Outcome::Pass => Ok(()),
            Outcome::Fail => Err(format!(
                "synthetic failure of {} (the spec's fail_probability chose it)",
                self.test.name
            )
            .into()),
            Outcome::Crash => {
                eprintln!(
                    "shardtest-synth: {} aborts the process (the spec's crash_probability chose it)",
                    self.test.name
                );
                std::process::abort()
            }
        }
    }
}

/// Appends `name` to the record file in one write.
fn record(path: &Path, name: &str) -> Result<(), Failed> {
    let line = format!("{name}\n");
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| Failed::from(format!("cannot append to {}: {e}", path.display())))
}

/// Burns CPU for `d`.
fn spin(d: Duration) {
    let start = Instant::now();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    while start.elapsed() < d {
        for _ in 0..4096 {
            x = std::hint::black_box(x ^ (x << 13) ^ (x >> 7) ^ (x << 17));
        }
    }
    std::hint::black_box(x);
}

/// Holds the in-process mutex and a cross-process file lock for the duration of a serial test.
struct SerialGuard {
    _file: File,
    _inner: std::sync::MutexGuard<'static, ()>,
}

impl SerialGuard {
    fn acquire(key: &str) -> Result<SerialGuard, Failed> {
        let inner = IN_PROCESS_SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let dir = std::env::var_os(LOCK_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("shardtest-synth-locks"));
        let safe: String = key
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = dir.join(format!("synth-serial-{safe}.lock"));
        let open = || -> std::io::Result<File> {
            std::fs::create_dir_all(&dir)?;
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            file.lock()?;
            Ok(file)
        };
        let file =
            open().map_err(|e| Failed::from(format!("cannot lock {}: {e}", path.display())))?;
        Ok(SerialGuard {
            _file: file,
            _inner: inner,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn several_positional_filters_are_taken_out() {
        let (rest, filters) = split_filters(os(&[
            "bin",
            "--exact",
            "a",
            "--test-threads",
            "1",
            "b",
            "--skip",
            "c",
        ]));
        assert_eq!(filters, ["a", "b"]);
        assert_eq!(
            rest,
            os(&["bin", "--exact", "--test-threads", "1", "--skip", "c"])
        );
    }

    #[test]
    fn a_single_filter_stays_for_libtest_mimic() {
        let args = os(&["bin", "--format", "terse", "only"]);
        let (rest, filters) = split_filters(args.clone());
        assert!(filters.is_empty());
        assert_eq!(rest, args);
    }

    #[test]
    fn own_flags_are_removed() {
        let (spec, tests, rest) = take_own_flags(os(&["bin", "--print-spec", "--list"]));
        assert!(spec && !tests);
        assert_eq!(rest, os(&["bin", "--list"]));
    }
}
