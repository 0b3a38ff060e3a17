//! Discovering doctests (`cargo test --doc -p PKG -- --list`, cached per package), which
//! packages and flags select them (as `cargo test` does), and doctests in archives: run
//! through cargo where the sources are, else reported as not run.

mod cache;

use crate::cli::BuildArgs;
use crate::event::ConsumerError;
use crate::id::{BinaryId, BinaryKind, TestId, TestName};
use crate::list::DocTarget;
use crate::list::{TestBinary, TestCase};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Makes an archive's doctest binaries runnable where it is unpacked: with a source
/// checkout (`--workspace-remap`) and cargo, they run through cargo there; otherwise each
/// is marked [`DocTarget::unavailable`] with the reason. Returns the binaries and their
/// tests.
pub fn from_archive(
    binaries: Vec<TestBinary>,
    workspace_remap: Option<&Path>,
) -> (Vec<TestBinary>, Vec<TestCase>) {
    let cargo = crate::discover::cargo_command();
    let reason = match workspace_remap {
        None => Some(
            "doctests need the sources and cargo: pass `--workspace-remap DIR` (a checkout of the same commit) on a machine with cargo".to_string(),
        ),
        Some(_) => match Command::new(&cargo)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => None,
            _ => Some(format!(
                "doctests need cargo, and `{cargo} --version` does not run here"
            )),
        },
    };
    let mut tests = Vec::new();
    let binaries = binaries
        .into_iter()
        .map(|mut b| {
            if let Some(doc) = b.doctest.as_mut() {
                tests.extend(doc.tests(&b.id));
                doc.unavailable = reason.clone();
                if reason.is_none() {
                    doc.cargo_args.extend([
                        "--manifest-path".to_string(),
                        b.package_dir.join("Cargo.toml").display().to_string(),
                    ]);
                }
            }
            b.path = PathBuf::from(&cargo);
            b
        })
        .collect();
    (binaries, tests)
}

/// Takes the doctests that cannot run here out of a shard's tests (ignored ones stay: they
/// are skipped anyway) and prints one line saying how many and why.
pub fn split_unavailable(
    tests: Vec<crate::run::ShardTest>,
) -> (Vec<crate::run::ShardTest>, Vec<TestCase>) {
    let mut not_run = Vec::new();
    let mut reason = None;
    let mut runnable = Vec::with_capacity(tests.len());
    for t in tests {
        match t
            .binary
            .doctest
            .as_ref()
            .and_then(|d| d.unavailable.as_ref())
        {
            Some(r) if !t.skip => {
                reason.get_or_insert_with(|| r.clone());
                not_run.push(t.case);
            }
            _ => runnable.push(t),
        }
    }
    if let Some(r) = reason {
        eprintln!(
            "    Not running {} doctests of this shard (reported as not run): {r}",
            not_run.len()
        );
    }
    (runnable, not_run)
}

/// Wraps an event consumer so that right after the run starts, every doctest that cannot
/// run here (see [`from_archive`]) is reported as not run.
pub struct NotRunDoctests<'a> {
    /// The tests reported as not run.
    pub tests: Vec<TestCase>,
    /// Where events go.
    pub inner: &'a mut dyn crate::event::EventConsumer,
}

impl crate::event::EventConsumer for NotRunDoctests<'_> {
    fn on_event(&mut self, event: &crate::event::RunEvent) -> Result<(), ConsumerError> {
        self.inner.on_event(event)?;
        if matches!(event, crate::event::RunEvent::RunStarted(_)) {
            for t in std::mem::take(&mut self.tests) {
                self.inner.on_event(&crate::event::RunEvent::TestSkipped {
                    id: t.id,
                    status: crate::event::TestStatus::NotRun,
                    attributes: t.attributes,
                })?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConsumerError> {
        self.inner.flush()
    }
}

/// Which tests a command's target selection asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocSelection {
    /// No doctests (`--lib`, `--tests`, `--test X`, ... like `cargo test`).
    None,
    /// Doctests and the other tests (no target selection).
    Also,
    /// Only doctests (`--doc`).
    Only,
}

/// What `cargo test` would run given these build options: any explicit target selection
/// other than `--doc` leaves doctests out, `--doc` runs nothing else.
///
/// ```
/// use shardtest::cli::BuildArgs;
/// use shardtest::discover::doctests::{selection, DocSelection};
/// assert_eq!(selection(&BuildArgs::default()), DocSelection::Also);
/// assert_eq!(selection(&BuildArgs { lib: true, ..Default::default() }), DocSelection::None);
/// assert_eq!(selection(&BuildArgs { doc: true, ..Default::default() }), DocSelection::Only);
/// ```
pub fn selection(build: &BuildArgs) -> DocSelection {
    if build.doc {
        return DocSelection::Only;
    }
    let targeted = build.lib
        || build.bins
        || build.tests
        || build.examples
        || !build.bin.is_empty()
        || !build.test_target.is_empty()
        || !build.example.is_empty();
    if targeted {
        DocSelection::None
    } else {
        DocSelection::Also
    }
}

/// `--doc` mixed with another target selection: cargo refuses it, so do we.
pub fn check_args(build: &BuildArgs) -> Result<(), String> {
    let mut other = build.clone();
    other.doc = false;
    if build.doc && selection(&other) == DocSelection::None {
        return Err(
            "`--doc` cannot be combined with other target selections (`--lib`, `--tests`, `--test NAME`, ...), as with `cargo test`".into(),
        );
    }
    Ok(())
}

/// Listing a package's doctests failed.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// cargo could not be started or its metadata read.
    #[error("listing doctests: {0}")]
    Cargo(String),
    /// `cargo test --doc -- --list` failed (the library does not build, ...).
    #[error(
        "listing the doctests of {package} failed ({status}); cargo printed:\n{stderr}\nhint: run `cargo test --doc -p {package} -- --list` yourself"
    )]
    List {
        /// The package.
        package: String,
        /// Exit status.
        status: String,
        /// Tail of what it printed.
        stderr: String,
    },
}

/// Packages whose library `cargo test` would doctest, with their doctests: the binaries
/// (`<package>::doc`) and the tests, sorted by id. Each package is listed twice (all tests,
/// then `--ignored`), all in parallel, unless the listing cache under the target directory
/// holds its listing for exactly these sources, toolchain and options (see `cache`).
pub fn discover(build: &BuildArgs) -> Result<(Vec<TestBinary>, Vec<TestCase>), DocError> {
    let cargo = crate::discover::cargo_command();
    let mut md = cargo_metadata::MetadataCommand::new();
    md.cargo_path(&cargo).no_deps();
    if let Some(p) = &build.manifest_path {
        md.manifest_path(p);
    }
    let md = md.exec().map_err(|e| DocError::Cargo(e.to_string()))?;
    let members: Vec<&cargo_metadata::Package> = md.workspace_packages();
    let member_names: BTreeSet<&str> = members.iter().map(|p| p.name.as_str()).collect();
    let chosen: Vec<&cargo_metadata::Package> = if !build.package.is_empty() {
        members
            .into_iter()
            .filter(|p| {
                build
                    .package
                    .iter()
                    .any(|spec| spec_matches(spec, p.name.as_str()))
            })
            .collect()
    } else if build.workspace {
        members
            .into_iter()
            .filter(|p| {
                !build
                    .exclude
                    .iter()
                    .any(|x| spec_matches(x, p.name.as_str()))
            })
            .collect()
    } else if md.workspace_default_members.is_available() {
        md.workspace_default_packages()
    } else {
        members
    };
    let mut common = build.clone();
    (common.package, common.exclude, common.workspace) = (vec![], vec![], false);
    common.features = vec![];
    // Absolute paths: doctest batches run from their package's directory.
    common.manifest_path = Some(md.workspace_root.join("Cargo.toml").into_std_path_buf());
    common.target_dir = common
        .target_dir
        .take()
        .map(|d| std::path::absolute(&d).unwrap_or(d));
    common.doc = false;
    let common = common.cargo_args();
    let targets: Vec<(&cargo_metadata::Package, &cargo_metadata::Target)> = chosen
        .into_iter()
        .filter_map(|p| {
            p.targets
                .iter()
                // An explicit `--doc` tests even `doctest = false` libraries, as cargo does.
                .find(|t| (t.doctest || build.doc) && doctestable(t))
                .map(|t| (p, t))
        })
        .collect();
    // The listing cache (see `cache`): packages with a build script always list.
    let target_dir = build
        .target_dir
        .as_ref()
        .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
        .unwrap_or_else(|| md.target_directory.clone().into_std_path_buf());
    let cacheable = |p: &cargo_metadata::Package| {
        !p.targets
            .iter()
            .any(|t| t.kind.iter().any(|k| k.to_string() == "custom-build"))
    };
    let shared = if targets.iter().any(|(p, _)| cacheable(p)) {
        cache::Shared::compute(md.workspace_root.as_std_path(), &target_dir)
    } else {
        None
    };
    // Listings made while the sources changed (an edit, or cargo writing a missing
    // `Cargo.lock`) are not stored: what they list may not match either state.
    let unchanged = std::sync::OnceLock::new();
    let still_unchanged = || {
        *unchanged.get_or_init(|| {
            let now = cache::Shared::compute(md.workspace_root.as_std_path(), &target_dir);
            matches!((&shared, now), (Some(a), Some(b)) if *a == b)
        })
    };
    let listed: Vec<Result<(TestBinary, Vec<TestCase>), DocError>> = targets
        .par_iter()
        .map(|(p, t)| {
            let mut cargo_args = vec!["--package".to_string(), format!("{}@{}", p.name, p.version)];
            cargo_args.extend(common.iter().cloned());
            let features = package_features(&build.features, p, &member_names);
            if !features.is_empty() {
                cargo_args.extend(["--features".to_string(), features.join(",")]);
            }
            let cached = shared.as_ref().filter(|_| cacheable(p)).map(|s| {
                let path = cache::entry_path(&target_dir, &p.name, &p.version.to_string());
                (s.key(&cargo_args), path)
            });
            let hit = cached
                .as_ref()
                .and_then(|(key, path)| cache::read(path, key));
            let (all, ignored) = match hit {
                Some(listing) => listing,
                None => {
                    let (all, ignored) = rayon::join(
                        || list_package(&cargo, &cargo_args, &p.name, false),
                        || list_package(&cargo, &cargo_args, &p.name, true),
                    );
                    let (all, ignored) = (all?, ignored?);
                    if let Some((key, path)) = &cached
                        && still_unchanged()
                    {
                        cache::write(path, key, &all, &ignored);
                    }
                    (all, ignored)
                }
            };
            let ignored_names = ignored.clone();
            let ignored: BTreeSet<String> = ignored.into_iter().collect();
            let id = BinaryId::new(format!("{}::doc", p.name));
            let tests = all
                .iter()
                .map(|n| TestCase {
                    id: TestId::new(id.clone(), TestName::new(n.clone())),
                    ignored: ignored.contains(n),
                    attributes: Default::default(),
                })
                .collect();
            let binary = TestBinary {
                id,
                custom_harness: false,
                path: PathBuf::from(&cargo),
                package_name: p.name.to_string(),
                package_version: p.version.to_string(),
                package_dir: p
                    .manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default(),
                kind: BinaryKind::Doc,
                target_name: t.name.clone(),
                bin_exes: Default::default(),
                out_dir: None,
                doctest: Some(DocTarget {
                    cargo_args,
                    names: all,
                    ignored: ignored_names,
                    unavailable: None,
                    edition: t.edition.as_str().to_string(),
                    cost: None,
                }),
            };
            Ok((binary, tests))
        })
        .collect();
    let mut binaries = Vec::new();
    let mut tests = Vec::new();
    for l in listed {
        let (b, t) = l?;
        if !t.is_empty() {
            binaries.push(b);
            tests.extend(t);
        }
    }
    binaries.sort_by(|a, b| a.id.cmp(&b.id));
    tests.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((binaries, tests))
}

/// Adds doctest binaries and tests to a listing, keeping both sorted by id.
pub fn add_to_list(
    list: &mut crate::list::TestList,
    binaries: Vec<TestBinary>,
    tests: Vec<TestCase>,
) {
    if binaries.is_empty() {
        return;
    }
    list.binaries.extend(binaries);
    list.binaries.sort_by(|a, b| a.id.cmp(&b.id));
    list.tests.extend(tests);
    list.tests.sort_by(|a, b| a.id.cmp(&b.id));
}

/// The user's `--features` as they apply to one package listed alone (`cargo test --doc -p
/// PKG`): `PKG/feat` and the package's own `feat`, and features of dependencies
/// (`dep/feat`); another member's `other/feat` is left out, as cargo refuses it for a
/// package that does not depend on `other`.
///
/// ```
/// # use std::collections::BTreeSet;
/// let members: BTreeSet<&str> = ["a", "b"].into();
/// let mut own = BTreeSet::new();
/// own.insert("x".to_string());
/// let f = shardtest::discover::doctests::features_for(&["a/x,b/y".into(), "x serde/std".into()], "a", &own, &members);
/// assert_eq!(f, ["x", "x", "serde/std"]);
/// ```
pub fn features_for(
    given: &[String],
    package: &str,
    own: &BTreeSet<String>,
    members: &BTreeSet<&str>,
) -> Vec<String> {
    given
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|f| !f.is_empty())
        .filter_map(|f| match f.split_once('/') {
            Some((pkg, feat)) if pkg == package => Some(feat.to_string()),
            Some((pkg, _)) if members.contains(pkg) => None,
            Some(_) => Some(f.to_string()),
            None if own.contains(f) => Some(f.to_string()),
            None => None,
        })
        .collect()
}

fn package_features(
    given: &[String],
    p: &cargo_metadata::Package,
    members: &BTreeSet<&str>,
) -> Vec<String> {
    let own: BTreeSet<String> = p.features.keys().cloned().collect();
    features_for(given, p.name.as_str(), &own, members)
}

/// Whether a `-p`/`--exclude` spec names the package `name`, as cargo reads it: the name
/// part of `name`, `name@version`, `name:version` or a package id URL (`...#name@version`),
/// which may be a glob (`*`, `?`, `[...]`) as cargo allows for both flags.
///
/// ```
/// use shardtest::discover::doctests::spec_matches;
/// assert!(spec_matches("doc24", "doc24"));
/// assert!(spec_matches("doc24@0.1.0", "doc24"));
/// assert!(spec_matches("path+file:///w/doc24#0.1.0", "doc24"));
/// assert!(spec_matches("path+file:///w/x#doc24@0.1.0", "doc24"));
/// assert!(spec_matches("doc*", "doc24") && spec_matches("doc2?", "doc24"));
/// assert!(spec_matches("doc[0-9]4", "doc24") && !spec_matches("doc[!2]4", "doc24"));
/// assert!(!spec_matches("doc", "doc24") && !spec_matches("*x", "doc24"));
/// ```
pub fn spec_matches(spec: &str, name: &str) -> bool {
    let spec = match spec.rsplit_once('#') {
        // `url#name@version`, or `url#version` whose name is the URL's last segment.
        Some((url, frag)) => {
            if frag.starts_with(|c: char| c.is_ascii_digit()) {
                url.rsplit('/').next().unwrap_or(url)
            } else {
                frag
            }
        }
        None => spec,
    };
    let pattern = spec.split(['@', ':']).next().unwrap_or(spec);
    glob_matches(pattern.as_bytes(), name.as_bytes())
}

/// Shell-style glob matching: `*` any run, `?` one character, `[...]` a class (with ranges,
/// and `!` or `^` to negate).
fn glob_matches(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_matches(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_matches(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().skip(2).position(|&c| c == b']').map(|i| i + 2) else {
                return s.first() == Some(&b'[') && glob_matches(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..close];
            let negate = matches!(class.first(), Some(b'!' | b'^'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_matches(&p[close + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob_matches(&p[1..], &s[1..]),
    }
}

/// cargo's rule: `lib`/`rlib` and `proc-macro` libraries are doctested (not `cdylib` or
/// `staticlib` only).
fn doctestable(t: &cargo_metadata::Target) -> bool {
    use cargo_metadata::CrateType;
    t.crate_types
        .iter()
        .any(|c| matches!(c, CrateType::Lib | CrateType::RLib | CrateType::ProcMacro))
}

fn list_package(
    cargo: &str,
    cargo_args: &[String],
    package: &str,
    ignored: bool,
) -> Result<Vec<String>, DocError> {
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--doc", "--quiet"])
        .args(cargo_args)
        .args(["--", "--list", "--format", "terse"]);
    if ignored {
        cmd.arg("--ignored");
    }
    cmd.stdin(Stdio::null());
    let out = cmd
        .output()
        .map_err(|e| DocError::Cargo(format!("could not run `{cargo}`: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(DocError::List {
            package: package.to_string(),
            status: out.status.to_string(),
            stderr: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}
