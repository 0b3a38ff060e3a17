//! Doctests: discovering them (`cargo test --doc -p PKG -- --list`), choosing libtest
//! filters that select exactly the doctests of a batch, and matching doctests whose line
//! moved to their history.
//!
//! A package's doctests are one "binary" with the id `<package>::doc`; a doctest's name is
//! rustdoc's (`src/lib.rs - path::Item (line N)`, relative to the workspace root). They run
//! through cargo (`cargo test --doc -p PKG -- FILTERS --test-threads 1`), timed from
//! libtest's streamed lines like batch mode.
//!
//! Filters: cargo hands test arguments to rustdoc, which splits every one of them at
//! whitespace, and doctest names contain spaces. So `--exact NAME` never matches and `NAME`
//! becomes five filters (`src/lib.rs`, `-`, `Item`, `(line`, `N)`) that together select
//! nearly everything. [`selection_args`] therefore works with whitespace-free tokens only: a
//! filter per intended doctest that selects it, then `--skip` tokens that remove every other
//! doctest the filters caught, and never one of the intended ones. Tests that cannot be
//! selected together that way are left for a later batch.

mod cache;

use crate::cli::BuildArgs;
use crate::id::{BinaryId, TestId, TestName};
use crate::list::{TestBinary, TestCase};
use crate::timings::TimingStore;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The target kind recorded for a package's doctests ([`TestBinary::kind`]).
pub const DOC_KIND: &str = "doc";

/// Suffixes libtest appends to a doctest's name when it reports its result (`no_run`,
/// `compile_fail` and, in edition 2024, `should_panic` doctests); the listing has none.
pub const RESULT_SUFFIXES: [&str; 3] = [" - compile fail", " - compile", " - should panic"];

/// How to run one package's doctests: recorded on its [`TestBinary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocTarget {
    /// Arguments after `cargo test --doc`: the package and the user's build options
    /// (features, profile, target, manifest path).
    pub cargo_args: Vec<String>,
    /// Every doctest of the package, ignored ones included: the filters of a batch are
    /// chosen against this whole list so that no other doctest runs.
    pub names: Vec<String>,
    /// The `#[ignore]`d (```` ```ignore ````) ones among `names` (archives rebuild the
    /// listing from these two).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// Why these doctests cannot run here (an archive run without sources or cargo): each
    /// is reported as not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// The library's edition (`2021`, `2024`, ...): from 2024 rustdoc merges doctests.
    #[serde(default)]
    pub edition: String,
    /// What a batch of these doctests costs to start, learned from the timings history
    /// ([`learn_costs`]); `None`: the defaults ([`BATCH_SETUP`], [`MERGED_BUILD_PER_DOCTEST`]).
    /// Not part of the listing (an archive's doctests learn it from the history they plan
    /// with).
    #[serde(skip)]
    pub cost: Option<DocCost>,
}

/// The model of a doctest batch's start-up: `fixed + per_doctest x doctests of the package`
/// (`per_doctest` is zero before edition 2024, where rustdoc compiles each doctest as part of
/// its own run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocCost {
    /// Paid by every batch: cargo's start-up and freshness check, rustdoc collecting.
    pub fixed: Duration,
    /// Per doctest of the package (edition 2024 and later: the merged build).
    pub per_doctest: Duration,
}

impl DocCost {
    /// The defaults, before any batch of the package was measured.
    ///
    /// ```
    /// use shardtest::doctest::DocCost;
    /// assert_eq!(DocCost::default_for(false).per_doctest, std::time::Duration::ZERO);
    /// assert!(DocCost::default_for(true).per_doctest > std::time::Duration::ZERO);
    /// ```
    pub fn default_for(merged: bool) -> DocCost {
        DocCost {
            fixed: BATCH_SETUP,
            per_doctest: if merged {
                MERGED_BUILD_PER_DOCTEST
            } else {
                Duration::ZERO
            },
        }
    }

    /// The start-up of a batch of a package with `doctests` doctests.
    pub fn for_doctests(&self, doctests: usize) -> Duration {
        self.fixed + self.per_doctest * u32::try_from(doctests).unwrap_or(u32::MAX)
    }
}

/// The batch cost learned from a package's recorded start-ups ([`crate::timings::DocCostRuns`]),
/// `None` without any. Before edition 2024 (`merged` false) it is the median start-up. In
/// edition 2024 and later, with runs at two or more package sizes, it is the least-squares
/// line through them (when both its terms are non-negative); otherwise the default model
/// scaled to the median ratio of measured to predicted start-up, so that it reproduces what
/// was measured at the sizes measured and still grows with the number of doctests.
///
/// ```
/// use shardtest::doctest::{learned_cost, DocCost};
/// use shardtest::timings::{DocCostRuns, DocCostSample};
/// use std::time::Duration;
/// let mut runs = DocCostRuns::default();
/// runs.insert("r1".into(), DocCostSample { at: 1, setup_us: 2_000_000, doctests: 10 });
/// let c = learned_cost(&runs, false).unwrap();
/// assert_eq!(c.for_doctests(10), Duration::from_secs(2));
/// let c = learned_cost(&runs, true).unwrap();
/// assert!(c.for_doctests(10).abs_diff(Duration::from_secs(2)) < Duration::from_millis(1));
/// assert!(c.for_doctests(100) > c.for_doctests(10));
/// runs.insert("r2".into(), DocCostSample { at: 2, setup_us: 3_000_000, doctests: 110 });
/// let c = learned_cost(&runs, true).unwrap();
/// assert_eq!(c, DocCost { fixed: Duration::from_millis(1900), per_doctest: Duration::from_millis(10) });
/// ```
pub fn learned_cost(runs: &crate::timings::DocCostRuns, merged: bool) -> Option<DocCost> {
    let samples: Vec<(f64, f64)> = runs
        .iter()
        .map(|(_, s)| (f64::from(s.doctests), s.setup_us as f64 / 1e6))
        .collect();
    if samples.is_empty() {
        return None;
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    };
    // Rounded to microseconds, the precision of the samples.
    let secs = |x: f64| Duration::from_micros((x.max(0.0) * 1e6).round() as u64);
    if !merged {
        let m = median(samples.iter().map(|s| s.1).collect());
        return Some(DocCost {
            fixed: secs(m),
            per_doctest: Duration::ZERO,
        });
    }
    let n = samples.len() as f64;
    let mean_x = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1).sum::<f64>() / n;
    let var: f64 = samples.iter().map(|s| (s.0 - mean_x).powi(2)).sum();
    if var > 0.0 {
        let cov: f64 = samples
            .iter()
            .map(|s| (s.0 - mean_x) * (s.1 - mean_y))
            .sum();
        let slope = cov / var;
        let intercept = mean_y - slope * mean_x;
        if slope >= 0.0 && intercept >= 0.0 {
            return Some(DocCost {
                fixed: secs(intercept),
                per_doctest: secs(slope),
            });
        }
    }
    let default = DocCost::default_for(true);
    let factor = median(
        samples
            .iter()
            .map(|&(x, y)| y / default.for_doctests(x as usize).as_secs_f64())
            .collect(),
    );
    Some(DocCost {
        fixed: secs(default.fixed.as_secs_f64() * factor),
        per_doctest: secs(default.per_doctest.as_secs_f64() * factor),
    })
}

/// Sets each doctest binary's [`DocTarget::cost`] from the start-ups `history` recorded for
/// it (binaries without any keep the defaults).
pub fn learn_costs(list: &mut crate::list::TestList, history: &TimingStore) {
    for b in &mut list.binaries {
        if let Some(doc) = b.doctest.as_mut()
            && let Some(runs) = history.doc_costs.get(&b.id)
        {
            doc.cost = learned_cost(runs, merged(&doc.edition));
        }
    }
}

/// Whether rustdoc merges the doctests of a crate of this edition into one binary.
fn merged(edition: &str) -> bool {
    edition.parse::<u32>().is_ok_and(|e| e >= 2024)
}

impl DocTarget {
    /// The arguments without the build machine's paths (`--manifest-path`, `--target-dir`),
    /// for an archive.
    ///
    /// ```
    /// # use shardtest::doctest::DocTarget;
    /// let d = DocTarget { cargo_args: ["-p", "a@1.0.0", "--release", "--manifest-path", "/w/Cargo.toml"]
    ///     .map(String::from).to_vec(), names: vec![], ignored: vec![], unavailable: None,
    ///     edition: "2021".into(), cost: None };
    /// assert_eq!(d.portable().cargo_args, ["-p", "a@1.0.0", "--release"]);
    /// ```
    pub fn portable(&self) -> DocTarget {
        let mut args = Vec::new();
        let mut it = self.cargo_args.iter();
        while let Some(a) = it.next() {
            if a == "--manifest-path" || a == "--target-dir" {
                it.next();
            } else {
                args.push(a.clone());
            }
        }
        DocTarget {
            cargo_args: args,
            ..self.clone()
        }
    }

    /// The tests of a package's doctest binary, rebuilt from the recorded names.
    pub fn tests(&self, binary: &BinaryId) -> Vec<TestCase> {
        let ignored: BTreeSet<&str> = self.ignored.iter().map(String::as_str).collect();
        self.names
            .iter()
            .map(|n| TestCase {
                id: TestId::new(binary.clone(), TestName::new(n.clone())),
                ignored: ignored.contains(n.as_str()),
                attributes: Default::default(),
            })
            .collect()
    }
}

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
    fn on_event(&mut self, event: &crate::event::RunEvent) {
        self.inner.on_event(event);
        if matches!(event, crate::event::RunEvent::RunStarted(_)) {
            for t in std::mem::take(&mut self.tests) {
                self.inner.on_event(&crate::event::RunEvent::TestSkipped {
                    id: t.id,
                    status: crate::event::TestStatus::NotRun,
                    attributes: t.attributes,
                });
            }
        }
    }

    fn flush(&mut self) {
        self.inner.flush();
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
/// use shardtest::doctest::{selection, DocSelection};
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
                kind: DOC_KIND.to_string(),
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
/// let f = shardtest::doctest::features_for(&["a/x,b/y".into(), "x serde/std".into()], "a", &own, &members);
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
/// use shardtest::doctest::spec_matches;
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

/// The libtest arguments that run exactly a batch of doctests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocArgs {
    /// Filters (whitespace-free substrings), one or more per included doctest.
    pub filters: Vec<String>,
    /// `--skip` values (whitespace-free) that remove every other doctest the filters catch.
    pub skips: Vec<String>,
    /// The intended doctests these arguments select (indexes into the batch).
    pub included: Vec<usize>,
    /// Intended doctests left out: they cannot be selected together with the included
    /// ones; run them in another batch.
    pub deferred: Vec<usize>,
    /// Other doctests these arguments run too, because no filter can leave them out (every
    /// piece of their name is in the intended doctest's name, e.g. `a (line 11)` beside
    /// `b::a (line 11)` and `b::a (line 1)`). Only ever for a batch of one; their results
    /// are ignored.
    pub extras: Vec<String>,
}

/// What libtest runs given `filters` and `skips` (substring matches, as rustdoc passes
/// them): the reference the filter choice is tested against.
///
/// ```
/// let all = ["src/lib.rs - a (line 4)", "src/lib.rs - a (line 40)"];
/// let run = shardtest::doctest::libtest_selects(&all, &["4)".into()], &[]);
/// assert_eq!(run, vec!["src/lib.rs - a (line 4)"]);
/// ```
pub fn libtest_selects<'a>(all: &[&'a str], filters: &[String], skips: &[String]) -> Vec<&'a str> {
    all.iter()
        .copied()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .filter(|n| !skips.iter().any(|s| n.contains(s.as_str())))
        .collect()
}

/// Whitespace-free pieces of a name usable as a filter or `--skip` (not `-`, which libtest
/// would read as an option).
fn tokens(name: &str) -> impl Iterator<Item = &str> {
    name.split_whitespace().filter(|t| !t.starts_with('-'))
}

/// Chooses filters and skips selecting exactly `batch` (names) out of `all` (every doctest
/// of the package). Tests that cannot join the others are [`DocArgs::deferred`]; a test that
/// cannot be selected even alone is deferred too (callers report it).
///
/// ```
/// let all = ["p.rs - f (line 1)", "p.rs - f (line 11)", "p.rs - g (line 3)"];
/// let a = shardtest::doctest::selection_args(&["p.rs - f (line 1)"], &all);
/// assert_eq!(shardtest::doctest::libtest_selects(&all, &a.filters, &a.skips), vec!["p.rs - f (line 1)"]);
/// ```
pub fn selection_args(batch: &[&str], all: &[&str]) -> DocArgs {
    let mut args = DocArgs::default();
    // The usual case: the whole batch at once.
    if let Some((filters, skips, _)) = solve(batch, all, false) {
        args.included = (0..batch.len()).collect();
        (args.filters, args.skips) = (filters, skips);
        return args;
    }
    // A big batch is halved (the other half runs later) before the greedy search below,
    // which costs a solve per test.
    if batch.len() > 32 {
        let half = batch.len() / 2;
        let mut first = selection_args(&batch[..half], all);
        first.deferred.extend(half..batch.len());
        return first;
    }
    let mut chosen: Vec<&str> = Vec::new();
    for (i, name) in batch.iter().enumerate() {
        let mut candidate = chosen.clone();
        candidate.push(name);
        match solve(&candidate, all, false) {
            Some((f, s, _)) => {
                chosen = candidate;
                args.included.push(i);
                (args.filters, args.skips) = (f, s);
            }
            None => args.deferred.push(i),
        }
    }
    if args.included.is_empty() && !batch.is_empty() {
        // Not even the first test can be selected alone: run it with the fewest others.
        if let Some((f, s, extras)) = solve(&batch[..1], all, true) {
            (args.filters, args.skips, args.extras) = (f, s, extras);
            args.included = vec![0];
            args.deferred = (1..batch.len()).collect();
        }
    }
    args
}

/// Filters and skips selecting exactly `want` from `all`, if this greedy choice finds them;
/// with `allow_extras`, the other doctests no skip can remove run too (returned).
fn solve(
    want: &[&str],
    all: &[&str],
    allow_extras: bool,
) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
    let wanted: BTreeSet<&str> = want.iter().copied().collect();
    // Some piece of the name of an unwanted test that no wanted name contains.
    let skippable = |n: &str| tokens(n).any(|t| !wanted.iter().any(|w| w.contains(t)));
    let mut filters: Vec<String> = Vec::new();
    for name in want {
        // The token catching the fewest other names that cannot be skipped, then the fewest
        // other names (line tokens like `12)` usually win).
        let best = tokens(name).min_by_key(|t| {
            let caught = all
                .iter()
                .filter(|n| !wanted.contains(**n) && n.contains(*t));
            (
                caught.clone().filter(|n| !skippable(n)).count(),
                caught.count(),
                std::cmp::Reverse(t.len()),
            )
        })?;
        if !filters.iter().any(|f| f == best) {
            filters.push(best.to_string());
        }
    }
    let mut skips: Vec<String> = Vec::new();
    let mut extras: Vec<String> = Vec::new();
    for extra in libtest_selects(all, &filters, &[]) {
        if wanted.contains(extra) || skips.iter().any(|s| extra.contains(s.as_str())) {
            continue;
        }
        // Longest token of the extra that no wanted name contains.
        match tokens(extra)
            .filter(|t| !wanted.iter().any(|w| w.contains(t)))
            .max_by_key(|t| t.len())
        {
            Some(skip) => skips.push(skip.to_string()),
            None if allow_extras => extras.push(extra.to_string()),
            None => return None,
        }
    }
    let got: BTreeSet<&str> = libtest_selects(all, &filters, &skips).into_iter().collect();
    let mut expected = wanted.clone();
    expected.extend(extras.iter().map(String::as_str));
    (got == expected).then_some((filters, skips, extras))
}

/// What starting any doctest batch costs before its first doctest runs: cargo's start-up and
/// freshness check and rustdoc collecting the doctests (0.4 s measured on a quiet 2-core
/// machine for `cargo test --doc -- --list`; see BENCHMARKS.md). The default until a
/// package's batches were measured ([`learned_cost`]); a doctest's own recorded time starts
/// when libtest starts it and holds none of this.
pub const BATCH_SETUP: Duration = Duration::from_millis(500);

/// In edition 2024 and later, what building the merged doctest binary adds to every batch,
/// per doctest of the package (1.3 s measured for 100 trivial doctests).
pub const MERGED_BUILD_PER_DOCTEST: Duration = Duration::from_millis(13);

/// The fixed cost of one batch of `doc`'s doctests: its learned [`DocTarget::cost`], or by
/// default [`BATCH_SETUP`] plus, in edition 2024 and later, [`MERGED_BUILD_PER_DOCTEST`] per
/// doctest of the package (rustdoc builds the merged binary of all of them).
///
/// ```
/// use shardtest::doctest::{batch_setup, DocCost, DocTarget};
/// use std::time::Duration;
/// let mut d = DocTarget { cargo_args: vec![], names: vec!["a".into(); 100], ignored: vec![],
///     unavailable: None, edition: "2021".into(), cost: None };
/// assert_eq!(batch_setup(&d), Duration::from_millis(500));
/// d.edition = "2024".into();
/// assert_eq!(batch_setup(&d), Duration::from_millis(1800));
/// d.cost = Some(DocCost { fixed: Duration::from_millis(300), per_doctest: Duration::from_millis(2) });
/// assert_eq!(batch_setup(&d), Duration::from_millis(500));
/// ```
pub fn batch_setup(doc: &DocTarget) -> Duration {
    doc.cost
        .unwrap_or_else(|| DocCost::default_for(merged(&doc.edition)))
        .for_doctests(doc.names.len())
}

/// How many batches a shard cuts `count` doctests of one package with `work` predicted time
/// into on `workers` workers, each batch costing `setup` to start: one per worker at most, and
/// one per `setup` of work (a batch must be worth starting).
///
/// ```
/// use std::time::Duration;
/// use shardtest::doctest::batches_for;
/// let s = Duration::from_secs(1);
/// assert_eq!(batches_for(4, Duration::from_millis(400), 4, s), 1);
/// assert_eq!(batches_for(100, Duration::from_secs(30), 2, s), 2);
/// ```
pub fn batches_for(count: usize, work: Duration, workers: u32, setup: Duration) -> usize {
    let worth = (work.as_millis() / setup.as_millis().max(1)).max(1) as usize;
    (workers.max(1) as usize).min(count).min(worth).max(1)
}

/// The plan's model of doctest compile cost: a doctest's own recorded time holds its own
/// compilation (edition 2021 and earlier), and a per-package fixed cost ([`batch_setup`],
/// given per binary in `setup`) is paid once per batch. With `shards` shards of `workers`
/// workers, a package's doctests start about `min(shards, doctests) x batches` batches in
/// all; their setup is spread over the package's doctests in proportion to count, so shards
/// with more of a package's doctests carry more of its setup. Skipped (zero-cost) items get
/// none.
///
/// ```
/// use shardtest::plan::PlanItem;
/// use std::time::Duration;
/// let mut items: Vec<PlanItem> = (0..4)
///     .map(|i| PlanItem::new(format!("p::doc src/lib.rs - f (line {i})").parse().unwrap(), Duration::from_millis(100)))
///     .collect();
/// let setup = [(shardtest::id::BinaryId::new("p::doc"), Duration::from_secs(1))].into();
/// shardtest::doctest::add_setup_cost(&mut items, 2, 1, &setup);
/// // Two shards, one batch each: 2 s of setup over 4 doctests.
/// assert_eq!(items[0].estimate, Duration::from_millis(600));
/// ```
pub fn add_setup_cost(
    items: &mut [crate::plan::PlanItem],
    shards: u32,
    workers: u32,
    setup: &BTreeMap<BinaryId, Duration>,
) {
    let mut per_package: BTreeMap<BinaryId, (usize, Duration)> = BTreeMap::new();
    for it in items.iter() {
        if setup.contains_key(&it.id.binary) && !it.estimate.is_zero() {
            let e = per_package.entry(it.id.binary.clone()).or_default();
            e.0 += 1;
            e.1 += it.estimate;
        }
    }
    for (binary, (count, work)) in &per_package {
        let cost = setup[binary];
        let shards_used = (shards.max(1) as usize).min(*count);
        let per_shard_work = *work / shards_used as u32;
        let batches = shards_used * batches_for(count / shards_used, per_shard_work, workers, cost);
        let share = cost * batches as u32 / *count as u32;
        for it in items.iter_mut() {
            if &it.id.binary == binary && !it.estimate.is_zero() {
                it.estimate += share;
            }
        }
    }
}

/// Per doctest binary of `list`, its [`batch_setup`].
pub fn setup_costs(list: &crate::list::TestList) -> BTreeMap<BinaryId, Duration> {
    list.binaries
        .iter()
        .filter_map(|b| b.doctest.as_ref().map(|d| (b.id.clone(), batch_setup(d))))
        .collect()
}

/// A doctest name's parts: file, item path and line (`src/lib.rs - a::B (line 7)`).
fn parts(name: &str) -> Option<(&str, &str, u32)> {
    let (rest, line) = name.rsplit_once(" (line ")?;
    let line = line.strip_suffix(')')?.parse().ok()?;
    match rest.strip_suffix(" -") {
        Some(file) => Some((file, "", line)),
        None => rest
            .split_once(" - ")
            .map(|(file, item)| (file, item, line)),
    }
}

/// History for doctests whose line moved: for each listed doctest (of a `::doc` binary)
/// with no history, the historical doctest of the same package, file and item with the
/// nearest line that no listed test has, each used at most once (ties: the lower line).
/// Returns listed id -> historical id.
///
/// ```
/// use shardtest::timings::*;
/// use std::time::Duration;
/// let mut store = TimingStore::default();
/// let old: shardtest::id::TestId = "p::doc src/lib.rs - f (line 10)".parse().unwrap();
/// store.record(old.clone(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 1 },
///     duration: Duration::from_secs(2), status: SampleStatus::Passed, workers: 1,
///     attributes: Default::default() });
/// let moved: shardtest::id::TestId = "p::doc src/lib.rs - f (line 11)".parse().unwrap();
/// let m = shardtest::doctest::moved_history(&[moved.clone()], &store);
/// assert_eq!(m.get(&moved), Some(&old));
/// ```
pub fn moved_history(listed: &[TestId], store: &TimingStore) -> BTreeMap<TestId, TestId> {
    let listed_set: BTreeSet<&TestId> = listed.iter().collect();
    let is_doc = |id: &TestId| id.binary.as_str().ends_with("::doc");
    let unknown: Vec<&TestId> = listed
        .iter()
        .filter(|id| is_doc(id) && store.stats(id).is_none())
        .collect();
    let mut out = BTreeMap::new();
    if unknown.is_empty() {
        return out;
    }
    // (binary, file, item) -> historical lines with their ids, unused by the listing.
    type Key<'a> = (&'a str, &'a str, &'a str);
    let mut free: BTreeMap<Key<'_>, Vec<(u32, &TestId)>> = BTreeMap::new();
    for id in store.tests.keys() {
        if !is_doc(id) || listed_set.contains(id) || store.stats(id).is_none() {
            continue;
        }
        if let Some((file, item, line)) = parts(id.name.as_str()) {
            free.entry((id.binary.as_str(), file, item))
                .or_default()
                .push((line, id));
        }
    }
    // Closest pairs first, so one history entry goes to the test that moved least.
    let mut pairs: Vec<(u32, &TestId, &TestId)> = Vec::new();
    for id in &unknown {
        let Some((file, item, line)) = parts(id.name.as_str()) else {
            continue;
        };
        if let Some(cands) = free.get(&(id.binary.as_str(), file, item)) {
            for (l, old) in cands {
                pairs.push((l.abs_diff(line), id, old));
            }
        }
    }
    pairs.sort();
    let mut used: BTreeSet<&TestId> = BTreeSet::new();
    for (_, new, old) in pairs {
        if out.contains_key(new) || used.contains(old) {
            continue;
        }
        used.insert(old);
        out.insert(new.clone(), old.clone());
    }
    out
}

/// The package directory of a doctest binary as a working directory (cargo finds the
/// manifest from `--manifest-path` anyway).
pub(crate) fn work_dir(b: &TestBinary) -> &Path {
    crate::list::existing_dir(&b.package_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(batch: &[&str], all: &[&str]) -> DocArgs {
        let a = selection_args(batch, all);
        let mut want: BTreeSet<&str> = a.included.iter().map(|&i| batch[i]).collect();
        assert!(a.extras.is_empty() || a.included.len() == 1, "{a:?}");
        want.extend(a.extras.iter().map(String::as_str));
        let got: BTreeSet<&str> = libtest_selects(all, &a.filters, &a.skips)
            .into_iter()
            .collect();
        assert_eq!(got, want, "{a:?}");
        for f in a.filters.iter().chain(&a.skips) {
            assert!(!f.contains(char::is_whitespace) && !f.starts_with('-'));
        }
        a
    }

    #[test]
    fn line_prefixes_and_name_substrings_select_exactly() {
        let all = [
            "src/lib.rs - a (line 4)",
            "src/lib.rs - a (line 40)",
            "src/lib.rs - a (line 140)",
            "src/lib.rs - b::a (line 4)",
            "src/x/src/lib.rs - a (line 4)",
            "src/lib.rs - (line 1)",
            "src/lib.rs - (line 11)",
        ];
        for i in 0..all.len() {
            let a = check(&[all[i]], &all);
            assert_eq!(a.included, vec![0], "{} alone", all[i]);
            for j in 0..all.len() {
                if i != j {
                    let a = check(&[all[i], all[j]], &all);
                    assert_eq!(a.included.len() + a.deferred.len(), 2);
                }
            }
        }
        let a = check(&all, &all);
        assert!(a.included.len() >= 2, "{a:?}");
    }

    #[test]
    fn every_batch_of_a_generated_suite_is_exact() {
        // Deterministic pseudo-random names with many shared tokens.
        let mut all = Vec::new();
        for f in ["src/lib.rs", "src/a.rs", "src/x/src/lib.rs"] {
            for item in ["a", "b::a", "a::b", "Foo<T>::new"] {
                for line in [1, 4, 11, 40, 41] {
                    all.push(format!("{f} - {item} (line {line})"));
                }
            }
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut seed = 7u64;
        let (mut extras, mut batches) = (0, 0);
        for _ in 0..20 {
            let mut batch = Vec::new();
            for n in &all {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (seed >> 33).is_multiple_of(5) {
                    batch.push(*n);
                }
            }
            let mut rest: Vec<&str> = batch.clone();
            // Deferred tests always make progress: run the batch until every test ran once.
            let mut ran: Vec<&str> = Vec::new();
            while !rest.is_empty() {
                let a = check(&rest, &all);
                assert!(!a.included.is_empty(), "no progress on {rest:?}");
                ran.extend(a.included.iter().map(|&i| rest[i]));
                extras += a.extras.len();
                rest = a.deferred.iter().map(|&i| rest[i]).collect();
            }
            ran.sort();
            batch.sort();
            assert_eq!(ran, batch);
            batches += 1;
        }
        // Every token in every combination is the worst case: some names can only run
        // with others, but never more of them than names.
        assert!(
            extras <= batches * all.len(),
            "{extras} extra runs in {batches} batches"
        );
    }

    #[test]
    fn a_name_whose_every_piece_is_in_another_runs_with_the_fewest_extras() {
        let all = [
            "src/lib.rs - b::a (line 11)",
            "src/lib.rs - a (line 11)",
            "src/lib.rs - b::a (line 1)",
            "src/lib.rs - c (line 5)",
        ];
        let a = check(&[all[0]], &all);
        assert_eq!(a.included, vec![0]);
        assert_eq!(a.extras.len(), 1, "{a:?}");
        // The others are exact.
        for n in &all[1..] {
            assert!(check(&[n], &all).extras.is_empty(), "{n}");
        }
    }

    #[test]
    fn moved_doctests_take_the_nearest_unused_history_once() {
        use crate::timings::{RunStamp, Sample, SampleStatus};
        let mut store = TimingStore::default();
        for (name, ms) in [
            ("p::doc src/lib.rs - f (line 10)", 1000),
            ("p::doc src/lib.rs - f (line 20)", 2000),
            ("p::doc src/lib.rs - g (line 30)", 3000),
            ("q::doc src/lib.rs - f (line 10)", 4000),
        ] {
            store.record(
                name.parse().unwrap(),
                Sample {
                    run: RunStamp {
                        id: "r".into(),
                        at_unix_ms: 1,
                    },
                    duration: std::time::Duration::from_millis(ms),
                    status: SampleStatus::Passed,
                    workers: 1,
                    attributes: Default::default(),
                },
            );
        }
        let id = |s: &str| -> TestId { s.parse().unwrap() };
        // A line was inserted above everything: each doctest moved by one.
        let listed = [
            id("p::doc src/lib.rs - f (line 11)"),
            id("p::doc src/lib.rs - f (line 21)"),
            id("p::doc src/lib.rs - g (line 31)"),
            id("p::doc src/lib.rs - f (line 50)"),
            id("p::doc src/lib.rs - h (line 12)"),
        ];
        let m = moved_history(&listed, &store);
        assert_eq!(m[&listed[0]], id("p::doc src/lib.rs - f (line 10)"));
        assert_eq!(m[&listed[1]], id("p::doc src/lib.rs - f (line 20)"));
        assert_eq!(m[&listed[2]], id("p::doc src/lib.rs - g (line 30)"));
        // No history left for a third `f`, none ever for `h`; other packages never match.
        assert_eq!(m.len(), 3, "{m:?}");
        // A test with its own history keeps it.
        let m = moved_history(&[id("p::doc src/lib.rs - f (line 10)")], &store);
        assert!(m.is_empty());
    }

    #[test]
    fn name_parts() {
        assert_eq!(
            parts("src/lib.rs - a::B (line 7)"),
            Some(("src/lib.rs", "a::B", 7))
        );
        assert_eq!(parts("src/lib.rs - (line 1)"), Some(("src/lib.rs", "", 1)));
        assert_eq!(parts("x"), None);
    }
}
