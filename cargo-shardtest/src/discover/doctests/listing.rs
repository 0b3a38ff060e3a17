//! Listing the doctests of the packages `cargo test` would doctest ([`discover`]): which
//! libraries, the cargo arguments each is listed (and later run) with, and the listing itself,
//! from `cargo test --doc -- --list` or the listing cache (see `cache`).

use super::cache;
use super::selection::{features_for, spec_matches};
use crate::cli::BuildArgs;
use crate::id::{BinaryId, BinaryKind, TestId, TestName};
use crate::list::DocTarget;
use crate::list::{TestBinary, TestCase};
use cargo_metadata::{Metadata, Package, Target};
use rayon::prelude::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

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
    let md = workspace_metadata(&cargo, build)?;
    let members = md.workspace_packages();
    let member_names: BTreeSet<&str> = members.iter().map(|p| p.name.as_str()).collect();
    let targets = doc_targets(chosen_packages(build, &md, members), build);
    let lister = Lister {
        cargo: &cargo,
        build,
        common: common_args(build, &md),
        member_names,
        cache: ListingCache::new(build, &md, &targets),
    };
    let listed: Vec<Result<(TestBinary, Vec<TestCase>), DocError>> =
        targets.par_iter().map(|(p, t)| lister.list(p, t)).collect();
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

/// `cargo metadata --no-deps` of the workspace (of `--manifest-path` when given).
fn workspace_metadata(cargo: &str, build: &BuildArgs) -> Result<Metadata, DocError> {
    let mut md = cargo_metadata::MetadataCommand::new();
    md.cargo_path(cargo).no_deps();
    if let Some(p) = &build.manifest_path {
        md.manifest_path(p);
    }
    md.exec().map_err(|e| DocError::Cargo(e.to_string()))
}

/// The packages selected as cargo selects them: `-p` specs, else `--workspace` minus
/// `--exclude`, else the default members (all members when there are none).
fn chosen_packages<'a>(
    build: &BuildArgs,
    md: &'a Metadata,
    members: Vec<&'a Package>,
) -> Vec<&'a Package> {
    if !build.package.is_empty() {
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
    }
}

/// The cargo arguments every package is listed with: the build options without the package
/// selection, features (per package, see [`features_for`]) and `--doc`, with absolute paths.
fn common_args(build: &BuildArgs, md: &Metadata) -> Vec<String> {
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
    common.cargo_args()
}

/// Each chosen package's library when it is doctested.
fn doc_targets<'a>(chosen: Vec<&'a Package>, build: &BuildArgs) -> Vec<(&'a Package, &'a Target)> {
    chosen
        .into_iter()
        .filter_map(|p| {
            p.targets
                .iter()
                // An explicit `--doc` tests even `doctest = false` libraries, as cargo does.
                .find(|t| (t.doctest || build.doc) && doctestable(t))
                .map(|t| (p, t))
        })
        .collect()
}

/// The listing cache (see `cache`) for one discovery: where it is, and the state of the
/// sources it is keyed on.
struct ListingCache {
    /// The workspace root.
    root: PathBuf,
    /// The target directory holding the cache entries.
    target_dir: PathBuf,
    /// The sources' state before listing; none when no package is cacheable.
    shared: Option<cache::Shared>,
    /// Whether the sources are still in that state after listing (computed once).
    unchanged: OnceLock<bool>,
}

impl ListingCache {
    /// The cache of the workspace `md` for listing `targets` with these build options.
    fn new(build: &BuildArgs, md: &Metadata, targets: &[(&Package, &Target)]) -> ListingCache {
        let root = md.workspace_root.clone().into_std_path_buf();
        let target_dir = build
            .target_dir
            .as_ref()
            .map(|d| std::path::absolute(d).unwrap_or_else(|_| d.clone()))
            .unwrap_or_else(|| md.target_directory.clone().into_std_path_buf());
        let shared = if targets.iter().any(|(p, _)| cacheable(p)) {
            cache::Shared::compute(&root, &target_dir)
        } else {
            None
        };
        ListingCache {
            root,
            target_dir,
            shared,
            unchanged: OnceLock::new(),
        }
    }

    /// The cache key and entry path of a package listed with `cargo_args`, when it is cached.
    fn entry(&self, p: &Package, cargo_args: &[String]) -> Option<(String, PathBuf)> {
        self.shared.as_ref().filter(|_| cacheable(p)).map(|s| {
            let path = cache::entry_path(&self.target_dir, &p.name, &p.version.to_string());
            (s.key(cargo_args), path)
        })
    }

    /// Whether the sources are as they were before listing. Listings made while the sources
    /// changed (an edit, or cargo writing a missing `Cargo.lock`) are not stored: what they
    /// list may not match either state.
    fn still_unchanged(&self) -> bool {
        *self.unchanged.get_or_init(|| {
            let now = cache::Shared::compute(&self.root, &self.target_dir);
            matches!((&self.shared, now), (Some(a), Some(b)) if *a == b)
        })
    }
}

/// Packages with a build script always list: their doctests may depend on what it does.
fn cacheable(p: &Package) -> bool {
    !p.targets
        .iter()
        .any(|t| t.kind.iter().any(|k| k.to_string() == "custom-build"))
}

/// What listing one package needs, shared by the parallel listings.
struct Lister<'a> {
    /// The cargo command.
    cargo: &'a str,
    /// The build options.
    build: &'a BuildArgs,
    /// The cargo arguments of every package (see [`common_args`]).
    common: Vec<String>,
    /// The workspace members' names, for [`features_for`].
    member_names: BTreeSet<&'a str>,
    /// The listing cache.
    cache: ListingCache,
}

impl Lister<'_> {
    /// The doctest binary of the library `t` of package `p`, and its tests.
    fn list(&self, p: &Package, t: &Target) -> Result<(TestBinary, Vec<TestCase>), DocError> {
        let cargo_args = self.package_args(p);
        let (all, ignored) = self.listing(p, &cargo_args)?;
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
            path: PathBuf::from(self.cargo),
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
    }

    /// The cargo arguments package `p` is listed and run with: the package, the common
    /// arguments and its features.
    fn package_args(&self, p: &Package) -> Vec<String> {
        let mut cargo_args = vec!["--package".to_string(), format!("{}@{}", p.name, p.version)];
        cargo_args.extend(self.common.iter().cloned());
        let features = package_features(&self.build.features, p, &self.member_names);
        if !features.is_empty() {
            cargo_args.extend(["--features".to_string(), features.join(",")]);
        }
        cargo_args
    }

    /// The names of the package's doctests and of its ignored ones: from the cache, else
    /// listed by cargo (both at once) and stored when the sources did not change meanwhile.
    fn listing(
        &self,
        p: &Package,
        cargo_args: &[String],
    ) -> Result<(Vec<String>, Vec<String>), DocError> {
        let cached = self.cache.entry(p, cargo_args);
        let hit = cached
            .as_ref()
            .and_then(|(key, path)| cache::read(path, key));
        if let Some(listing) = hit {
            return Ok(listing);
        }
        let (all, ignored) = rayon::join(
            || list_package(self.cargo, cargo_args, &p.name, false),
            || list_package(self.cargo, cargo_args, &p.name, true),
        );
        let (all, ignored) = (all?, ignored?);
        if let Some((key, path)) = &cached
            && self.cache.still_unchanged()
        {
            cache::write(path, key, &all, &ignored);
        }
        Ok((all, ignored))
    }
}

/// The user's `--features` for package `p` listed alone (see [`features_for`]).
fn package_features(given: &[String], p: &Package, members: &BTreeSet<&str>) -> Vec<String> {
    let own: BTreeSet<String> = p.features.keys().cloned().collect();
    features_for(given, p.name.as_str(), &own, members)
}

/// cargo's rule: `lib`/`rlib` and `proc-macro` libraries are doctested (not `cdylib` or
/// `staticlib` only).
fn doctestable(t: &Target) -> bool {
    use cargo_metadata::CrateType;
    t.crate_types
        .iter()
        .any(|c| matches!(c, CrateType::Lib | CrateType::RLib | CrateType::ProcMacro))
}

/// The names `cargo test --doc -- --list` prints for one package (only the ignored ones
/// with `ignored`).
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
