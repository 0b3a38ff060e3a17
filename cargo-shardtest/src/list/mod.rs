//! The test list: every test binary of the build and every test inside it, with its
//! attributes and whether it is ignored. Listing runs each binary twice
//! (`--list --format terse`, once more with `--ignored`), all binaries in parallel, and never
//! runs a test.

pub mod doc_target;
pub use doc_target::DocTarget;

use crate::attrs::{self, TestAttributes};
use crate::id::{BinaryId, BinaryKind, TestId, TestName};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test executable produced by the build, with what is needed to run it as cargo would.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestBinary {
    /// Stable id (package, kind, target).
    pub id: BinaryId,
    /// Path of the executable.
    pub path: PathBuf,
    /// Package name.
    pub package_name: String,
    /// Package version.
    pub package_version: String,
    /// Directory of the package's `Cargo.toml`: the tests' working directory.
    pub package_dir: PathBuf,
    /// Cargo target kind (`lib`, `test`, `bin`, ...).
    pub kind: BinaryKind,
    /// Cargo target name.
    pub target_name: String,
    /// `CARGO_BIN_EXE_<name>` values: binaries of the same package, for integration tests.
    #[serde(default)]
    pub bin_exes: BTreeMap<String, PathBuf>,
    /// The package's build-script output directory, if it has a build script: given to the
    /// tests as `OUT_DIR` at run time (as nextest does) and packed into archives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<PathBuf>,
    /// The target has `harness = false` in its manifest: its `main` is the package's own, and
    /// it may not understand libtest's arguments (see [`WHOLE_BINARY_NAME`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub custom_harness: bool,
    /// For a package's doctests (kind `doc`): how to run them through cargo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctest: Option<DocTarget>,
}

/// The test name of a binary that runs whole, as one test: a `harness = false` target that
/// does not speak libtest's `--list --format terse`. Its id is `<binary id> <whole binary>`
/// (e.g. `mypkg::integration <whole binary>`); it runs with no test-name arguments, as
/// `cargo test` runs it, and is timed, sharded, retried and reported like any test.
pub const WHOLE_BINARY_NAME: &str = "<whole binary>";

/// Whether `name` is [`WHOLE_BINARY_NAME`].
///
/// ```
/// assert!(shardtest::list::is_whole_binary("<whole binary>"));
/// assert!(!shardtest::list::is_whole_binary("tests::a"));
/// ```
pub fn is_whole_binary(name: &str) -> bool {
    name == WHOLE_BINARY_NAME
}

impl TestBinary {
    /// A binary of cargo target `kind`/`target` of `package` (version 0.1.0, in the current
    /// directory) at `path`, with libtest's harness, no `CARGO_BIN_EXE_*`, no build-script
    /// output and no doctests; set other fields with struct update syntax.
    ///
    /// ```
    /// # use shardtest::list::TestBinary;
    /// let b = TestBinary::new("billing", "test", "api", "/t/api-1f2e");
    /// assert_eq!(b.id.as_str(), "billing::api");
    /// let v = TestBinary { package_version: "1.2.3".into(), ..TestBinary::new("p", "lib", "p", "/t/p") };
    /// assert_eq!(v.id.as_str(), "p");
    /// ```
    pub fn new(package: &str, kind: &str, target: &str, path: impl Into<PathBuf>) -> Self {
        TestBinary {
            id: BinaryId::from_target(package, kind, target),
            path: path.into(),
            package_name: package.into(),
            package_version: "0.1.0".into(),
            package_dir: ".".into(),
            kind: kind.into(),
            target_name: target.into(),
            bin_exes: BTreeMap::new(),
            out_dir: None,
            custom_harness: false,
            doctest: None,
        }
    }

    /// The same binary with every file path (executable, `CARGO_BIN_EXE_*`, `OUT_DIR`) passed
    /// through `map` and a new package directory: archives store paths relative to their root
    /// and resolve them where they are unpacked.
    ///
    /// ```
    /// # use shardtest::list::TestBinary;
    /// let b = TestBinary {
    ///     package_dir: "/src/pkg".into(), out_dir: Some("/t/out".into()),
    ///     ..TestBinary::new("pkg", "lib", "pkg", "/t/pkg-1")
    /// };
    /// let moved = b.relocated(|p| std::path::Path::new("/x").join(p.strip_prefix("/t").unwrap()), "pkg".into());
    /// assert_eq!(moved.path, std::path::Path::new("/x/pkg-1"));
    /// assert_eq!(moved.out_dir.as_deref(), Some(std::path::Path::new("/x/out")));
    /// assert_eq!((moved.id, moved.package_dir), (b.id.clone(), "pkg".into()));
    /// ```
    pub fn relocated(&self, map: impl Fn(&Path) -> PathBuf, package_dir: PathBuf) -> TestBinary {
        TestBinary {
            path: map(&self.path),
            package_dir,
            bin_exes: self
                .bin_exes
                .iter()
                .map(|(k, v)| (k.clone(), map(v)))
                .collect(),
            out_dir: self.out_dir.as_deref().map(&map),
            ..self.clone()
        }
    }

    /// The environment `cargo test` gives this binary's tests at run time.
    ///
    /// ```
    /// # use shardtest::list::TestBinary;
    /// let b = TestBinary {
    ///     package_version: "1.2.3".into(), package_dir: "/src/pkg".into(),
    ///     ..TestBinary::new("pkg", "lib", "my-pkg", "/t/pkg-123")
    /// };
    /// let env = b.cargo_env();
    /// assert!(env.contains(&("CARGO_CRATE_NAME".to_string(), "my_pkg".into())));
    /// assert!(env.contains(&("CARGO_PKG_VERSION_MINOR".to_string(), "2".into())));
    /// ```
    pub fn cargo_env(&self) -> Vec<(String, String)> {
        let dir = self.package_dir.to_string_lossy().into_owned();
        let mut env = vec![
            ("CARGO_MANIFEST_DIR".to_string(), dir.clone()),
            (
                "CARGO_MANIFEST_PATH".to_string(),
                self.package_dir
                    .join("Cargo.toml")
                    .to_string_lossy()
                    .into_owned(),
            ),
            ("CARGO_PKG_NAME".to_string(), self.package_name.clone()),
            (
                "CARGO_PKG_VERSION".to_string(),
                self.package_version.clone(),
            ),
            (
                "CARGO_CRATE_NAME".to_string(),
                self.target_name.replace('-', "_"),
            ),
        ];
        let mut parts = self.package_version.splitn(3, '.');
        for key in ["MAJOR", "MINOR", "PATCH"] {
            let part = parts.next().unwrap_or("0");
            let part: String = part.chars().take_while(|c| c.is_ascii_digit()).collect();
            env.push((format!("CARGO_PKG_VERSION_{key}"), part));
        }
        if let Some(out) = &self.out_dir {
            env.push(("OUT_DIR".to_string(), out.to_string_lossy().into_owned()));
        }
        for (name, path) in &self.bin_exes {
            env.push((
                format!("CARGO_BIN_EXE_{name}"),
                path.to_string_lossy().into_owned(),
            ));
        }
        if self.kind == "proc-macro"
            && let Some(path) = dylib_search_path(&self.path)
        {
            env.push(path);
        }
        env
    }
}

/// The dynamic-library search path a proc-macro crate's test binary needs, as `cargo test`
/// sets it: such a binary links the toolchain's `libstd-*.so` dynamically, so the toolchain's
/// target library directory (`rustc --print target-libdir`, asked once) and the binary's own
/// directory go before whatever the variable already holds. `None` when rustc is not there
/// (an archive run on a machine without a toolchain).
fn dylib_search_path(binary: &std::path::Path) -> Option<(String, String)> {
    static LIBDIR: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let libdir = LIBDIR.get_or_init(|| {
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = std::process::Command::new(rustc)
            .args(["--print", "target-libdir"])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        dir.is_dir().then_some(dir)
    });
    let var = if cfg!(target_os = "macos") {
        "DYLD_FALLBACK_LIBRARY_PATH"
    } else {
        "LD_LIBRARY_PATH"
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    dirs.extend(libdir.clone());
    dirs.extend(binary.parent().map(std::path::Path::to_path_buf));
    if libdir.is_none() {
        return None;
    }
    if let Some(old) = std::env::var_os(var) {
        dirs.extend(std::env::split_paths(&old));
    }
    let joined = std::env::join_paths(dirs).ok()?;
    Some((var.to_string(), joined.to_string_lossy().into_owned()))
}

/// One test of the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestCase {
    /// The test's id.
    pub id: TestId,
    /// `#[ignore]`d: skipped unless `--ignored` / `--include-ignored`.
    pub ignored: bool,
    /// Attributes reported by the binary (empty for binaries without `shardtest-lib`).
    #[serde(default, skip_serializing_if = "TestAttributes::is_plain")]
    pub attributes: TestAttributes,
}

/// All binaries and tests of a build, sorted by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestList {
    /// The binaries, sorted by id.
    pub binaries: Vec<TestBinary>,
    /// The tests, sorted by id.
    pub tests: Vec<TestCase>,
    /// Problems met while listing that did not stop it (unreadable attribute lines, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl TestList {
    /// The binary a test belongs to.
    pub fn binary(&self, id: &BinaryId) -> Option<&TestBinary> {
        self.binaries
            .binary_search_by(|b| b.id.cmp(id))
            .ok()
            .map(|i| &self.binaries[i])
    }
}

/// Listing a binary failed.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The binary could not be started.
    #[error("could not run test binary {binary} ({path}) to list its tests: {source}")]
    Spawn {
        /// Binary id.
        binary: BinaryId,
        /// Executable path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The binary exited unsuccessfully when asked for its list.
    #[error(
        "test binary {binary} failed to list its tests ({status}); it printed:\n{stderr}\nhint: run `{path} --list` yourself; a binary with `harness = false` must understand libtest's `--list --format terse`"
    )]
    Failed {
        /// Binary id.
        binary: BinaryId,
        /// Executable path.
        path: String,
        /// Exit status text.
        status: String,
        /// What it printed on stderr (tail).
        stderr: String,
    },
}

/// Lists every binary, in parallel, and assembles the sorted [`TestList`].
pub fn list_tests(mut binaries: Vec<TestBinary>) -> Result<TestList, ListError> {
    binaries.sort_by(|a, b| a.id.cmp(&b.id));
    binaries.dedup_by(|a, b| a.id == b.id);
    let listed: Vec<Result<ListedBinary, ListError>> =
        binaries.par_iter().map(list_binary).collect();
    let mut tests = Vec::new();
    let mut warnings = Vec::new();
    for (binary, listed) in binaries.iter().zip(listed) {
        let listed = listed?;
        warnings.extend(listed.warnings);
        for name in listed.names {
            let attributes = listed.attributes.get(&name).cloned().unwrap_or_default();
            tests.push(TestCase {
                ignored: listed.ignored.contains(&name),
                id: TestId::new(binary.id.clone(), TestName::new(name)),
                attributes,
            });
        }
    }
    tests.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(TestList {
        binaries,
        tests,
        warnings,
    })
}

struct ListedBinary {
    names: Vec<String>,
    ignored: BTreeSet<String>,
    attributes: BTreeMap<String, TestAttributes>,
    warnings: Vec<String>,
}

/// The listing of a binary that runs whole, with a notice saying why.
fn whole(binary: &TestBinary, why: &str) -> ListedBinary {
    ListedBinary {
        names: vec![WHOLE_BINARY_NAME.to_string()],
        ignored: BTreeSet::new(),
        attributes: BTreeMap::new(),
        warnings: vec![format!(
            "{}: {why}; it runs whole, as one test `{}`",
            binary.id, WHOLE_BINARY_NAME
        )],
    }
}

/// Whether `--list --format terse` printed libtest's listing: nothing but `NAME: test`,
/// `NAME: bench` and attribute lines.
fn is_terse_listing(out: &str) -> bool {
    out.lines().all(|l| {
        l.is_empty()
            || l.starts_with(attrs::ATTRIBUTE_LINE_PREFIX)
            || l.ends_with(": test")
            || l.ends_with(": bench")
    })
}

/// Whether an executable knows libtest's listing format (the word `terse` of
/// `--format terse`, as libtest-mimic and libtest itself do). A custom `main` without it
/// would not list, and may run its checks when asked to: it is not asked.
fn knows_terse_listing(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| memchr::memmem::find(&bytes, b"terse").is_some())
}

fn list_binary(binary: &TestBinary) -> Result<ListedBinary, ListError> {
    if binary.custom_harness && !knows_terse_listing(&binary.path) {
        return Ok(whole(
            binary,
            "`harness = false` and its executable does not know libtest's `--list --format terse`",
        ));
    }
    // The two listings are independent processes: run them side by side.
    let (all, ignored) = rayon::join(|| run_list(binary, false), || run_list(binary, true));
    if binary.custom_harness {
        match (&all, &ignored) {
            (Err(e), _) | (_, Err(e)) => {
                let first = e.to_string();
                let first = first.lines().next().unwrap_or_default();
                return Ok(whole(
                    binary,
                    &format!("`harness = false` and listing it failed ({first})"),
                ));
            }
            (Ok(a), Ok(i)) if !is_terse_listing(a) || !is_terse_listing(i) => {
                return Ok(whole(
                    binary,
                    "`harness = false` and it did not answer `--list --format terse` in libtest's format",
                ));
            }
            _ => {}
        }
    }
    let (all, ignored) = (all?, ignored?);
    let mut names = Vec::new();
    let mut attributes = BTreeMap::new();
    let mut warnings = Vec::new();
    for line in all.lines() {
        if let Some(parsed) = attrs::parse_attribute_line(line) {
            match parsed {
                Ok(l) => {
                    attributes.insert(l.name, l.attributes);
                }
                Err(e) => warnings.push(format!("{}: {e}", binary.id)),
            }
        } else if let Some(name) = terse_test_name(line) {
            names.push(name.to_string());
        }
    }
    let ignored = ignored
        .lines()
        .filter(|l| !l.starts_with(attrs::ATTRIBUTE_LINE_PREFIX))
        .filter_map(terse_test_name)
        .map(str::to_string)
        .collect();
    Ok(ListedBinary {
        names,
        ignored,
        attributes,
        warnings,
    })
}

/// `name: test` -> `name`; benchmarks and other lines are not tests.
fn terse_test_name(line: &str) -> Option<&str> {
    line.strip_suffix(": test")
}

fn run_list(binary: &TestBinary, ignored: bool) -> Result<String, ListError> {
    let mut cmd = Command::new(&binary.path);
    cmd.args(["--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    } else {
        cmd.env(attrs::LIST_ATTRIBUTES_ENV, "1");
    }
    cmd.current_dir(existing_dir(&binary.package_dir));
    cmd.envs(binary.cargo_env());
    cmd.envs(crate::test_env::test_env().iter().map(|(k, v)| (k, v)));
    let out = cmd.output().map_err(|source| ListError::Spawn {
        binary: binary.id.clone(),
        path: binary.path.clone(),
        source,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(ListError::Failed {
            binary: binary.id.clone(),
            path: binary.path.display().to_string(),
            status: out.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The package directory if it exists (it may not, for an archive run elsewhere), else `.`.
pub(crate) fn existing_dir(dir: &Path) -> &Path {
    if dir.is_dir() { dir } else { Path::new(".") }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our binary ids are nextest's (`nextest-metadata`'s `RustBinaryId`), so `-E 'binary_id(..)'`
    /// filters, `.config/nextest.toml` overrides and reports mean the same binaries in both
    /// tools. We keep our own type in `shardtest-protocol` (serde only, shared with the test
    /// library) and hold it to nextest's rule here, kind by kind.
    #[test]
    fn binary_ids_are_nextests() {
        use nextest_metadata::{RustBinaryId, RustTestBinaryKind};
        let kinds = [
            ("lib", RustTestBinaryKind::LIB),
            ("proc-macro", RustTestBinaryKind::PROC_MACRO),
            ("test", RustTestBinaryKind::TEST),
            ("bin", RustTestBinaryKind::BIN),
            ("example", RustTestBinaryKind::EXAMPLE),
            ("bench", RustTestBinaryKind::BENCH),
        ];
        for (kind, theirs) in kinds {
            for (package, target) in [("billing", "billing"), ("my-crate", "api_v2"), ("a", "b")] {
                assert_eq!(
                    crate::id::BinaryId::from_target(package, kind, target).as_str(),
                    RustBinaryId::from_parts(package, &theirs, target).as_str(),
                    "{package} {kind} {target}"
                );
            }
        }
    }

    #[test]
    fn terse_lines_are_parsed() {
        assert_eq!(terse_test_name("a::b: test"), Some("a::b"));
        assert_eq!(terse_test_name("bench_x: bench"), None);
        assert_eq!(terse_test_name(""), None);
    }
}
