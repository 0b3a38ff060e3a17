//! Which source file a test lives in, and so, through CODEOWNERS, who owns it.
//!
//! A test id names its binary (package, target kind and target name) and its libtest name,
//! never a file. [`SourceIndex`] asks `cargo metadata` for every target's root source file
//! (`src_path`) and maps a test to a file, best effort:
//!
//! * a test `a::b::c` of a target whose root is `src/lib.rs` (or `main.rs`, `mod.rs`) lives
//!   in the deepest existing module file of its module path: `src/a/b.rs`, `src/a/b/mod.rs`,
//!   then `src/a.rs`, `src/a/mod.rs`, else the root file itself. For another root file such as
//!   `tests/api.rs`, modules are looked up under `tests/api/`;
//! * a doctest (`src/lib.rs - path::item (line 12)`) lives in the file its name starts with,
//!   relative to its package;
//! * inline modules (`mod tests { ... }` in `src/net.rs`) resolve to the enclosing file,
//!   because `src/net/tests.rs` does not exist; a `#[path]` attribute or a module declared
//!   by a macro is not followed (the test is then attributed to the nearest file found).
//!
//! [`TestOwners`] joins this with a [`CodeOwners`] file: the owners of a test are the owners
//! of its file, written space-separated (`@org/net @alice`).

use super::codeowners::{self, CodeOwners};
use crate::id::{BinaryId, TestId};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Root source files of a workspace's targets, by binary id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceIndex {
    /// Binary id to the target's root source file.
    pub targets: BTreeMap<String, PathBuf>,
    /// Package name to the package directory (for doctests, `<package>::doc`).
    pub packages: BTreeMap<String, PathBuf>,
}

impl SourceIndex {
    /// Reads the workspace's targets with `cargo metadata --no-deps` (of `manifest_path`, or
    /// of the current directory's workspace). Returns the index and the workspace root.
    ///
    /// ```no_run
    /// let (index, root) = shardtest::report::health::owners::SourceIndex::from_cargo(None)?;
    /// assert!(root.is_absolute() && !index.targets.is_empty());
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_cargo(manifest_path: Option<&Path>) -> Result<(SourceIndex, PathBuf), String> {
        let mut cmd = cargo_metadata::MetadataCommand::new();
        cmd.cargo_path(crate::toolchain::cargo_command()).no_deps();
        if let Some(p) = manifest_path {
            cmd.manifest_path(p);
        }
        let md = cmd.exec().map_err(|e| e.to_string())?;
        let mut index = SourceIndex::default();
        for p in &md.packages {
            if let Some(dir) = p.manifest_path.parent() {
                index
                    .packages
                    .insert(p.name.to_string(), dir.as_std_path().to_path_buf());
            }
            for t in &p.targets {
                for kind in &t.kind {
                    let id = BinaryId::from_target(&p.name, &kind.to_string(), &t.name);
                    index
                        .targets
                        .entry(id.as_str().to_string())
                        .or_insert_with(|| t.src_path.as_std_path().to_path_buf());
                }
            }
        }
        Ok((index, md.workspace_root.into_std_path_buf()))
    }

    /// The source file of test `id` (see the module doc), `None` for a binary it does not know.
    ///
    /// ```
    /// use shardtest::report::health::owners::SourceIndex;
    /// let d = tempfile::tempdir().unwrap();
    /// std::fs::create_dir_all(d.path().join("src/net")).unwrap();
    /// std::fs::write(d.path().join("src/lib.rs"), "").unwrap();
    /// std::fs::write(d.path().join("src/net/tcp.rs"), "").unwrap();
    /// let mut index = SourceIndex::default();
    /// index.targets.insert("app".into(), d.path().join("src/lib.rs"));
    /// let file = |name: &str| index.source_of(&format!("app {name}").parse().unwrap()).unwrap();
    /// assert_eq!(file("net::tcp::tests::connects"), d.path().join("src/net/tcp.rs"));
    /// assert_eq!(file("net::udp::sends"), d.path().join("src/lib.rs"));
    /// assert_eq!(file("adds"), d.path().join("src/lib.rs"));
    /// ```
    pub fn source_of(&self, id: &TestId) -> Option<PathBuf> {
        let name = id.name.as_str();
        // Doctests: `src/lib.rs - item (line 3)`.
        if let Some((file, _)) = name.split_once(" - ")
            && file.ends_with(".rs")
        {
            let binary = id.binary.as_str();
            let package = binary.strip_suffix("::doc").unwrap_or(binary);
            let package = package.split("::").next().unwrap_or(package);
            if let Some(dir) = self.packages.get(package) {
                return Some(dir.join(file));
            }
        }
        let root = self.targets.get(id.binary.as_str())?;
        let modules: Vec<&str> = name.split("::").collect();
        let modules = &modules[..modules.len().saturating_sub(1)];
        Some(module_file(root, modules))
    }
}

/// The deepest existing file of `modules` under the crate root file `root`.
fn module_file(root: &Path, modules: &[&str]) -> PathBuf {
    let dir = root.parent().unwrap_or(Path::new("."));
    let stem = root.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let base = if matches!(stem, "lib" | "main" | "mod") {
        dir.to_path_buf()
    } else {
        dir.join(stem)
    };
    for k in (1..=modules.len()).rev() {
        let mut p = base.clone();
        for m in &modules[..k] {
            p.push(m);
        }
        let file = p.with_extension("rs");
        if file.is_file() {
            return file;
        }
        let m = p.join("mod.rs");
        if m.is_file() {
            return m;
        }
    }
    root.to_path_buf()
}

/// Owners by binary and module path.
type OwnerCache = HashMap<(BinaryId, String), Option<Arc<str>>>;

/// Owners of tests: a CODEOWNERS file plus the [`SourceIndex`] that places tests in files.
/// Lookups are cached per binary and module path, so asking for 100,000 tests costs a few
/// file-system checks per module.
#[derive(Debug)]
pub struct TestOwners {
    /// The CODEOWNERS file read.
    pub file: PathBuf,
    /// The repository root its patterns are relative to.
    pub root: PathBuf,
    rules: CodeOwners,
    sources: SourceIndex,
    cache: Mutex<OwnerCache>,
}

impl TestOwners {
    /// Owners from a parsed CODEOWNERS whose patterns are relative to `root`.
    ///
    /// ```
    /// use shardtest::report::health::{codeowners::CodeOwners, owners::*};
    /// let d = tempfile::tempdir().unwrap();
    /// std::fs::create_dir_all(d.path().join("src")).unwrap();
    /// std::fs::write(d.path().join("src/lib.rs"), "").unwrap();
    /// let mut index = SourceIndex::default();
    /// index.targets.insert("app".into(), d.path().join("src/lib.rs"));
    /// let owners = TestOwners::new(CodeOwners::parse("/src/ @core\n"), d.path().into(), index);
    /// assert_eq!(owners.owner_of(&"app tests::adds".parse().unwrap()).as_deref(), Some("@core"));
    /// assert_eq!(owners.owner_of(&"other t".parse().unwrap()), None);
    /// ```
    pub fn new(rules: CodeOwners, root: PathBuf, sources: SourceIndex) -> TestOwners {
        TestOwners {
            file: PathBuf::new(),
            root,
            rules,
            sources,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Reads the CODEOWNERS file `file` (patterns relative to its repository root, see
    /// [`codeowners::root_of`]).
    ///
    /// ```no_run
    /// use shardtest::report::health::owners::*;
    /// let (index, _) = SourceIndex::from_cargo(None)?;
    /// let owners = TestOwners::load(".github/CODEOWNERS".as_ref(), index).map_err(|e| e.to_string())?;
    /// # Ok::<(), String>(())
    /// ```
    pub fn load(file: &Path, sources: SourceIndex) -> std::io::Result<TestOwners> {
        let text = std::fs::read_to_string(file)?;
        let root = codeowners::root_of(&std::path::absolute(file)?);
        let mut o = TestOwners::new(CodeOwners::parse(&text), root, sources);
        o.file = file.to_path_buf();
        Ok(o)
    }

    /// For a run: the CODEOWNERS of the repository around the current directory (or around
    /// `manifest_path`), with the targets from `cargo metadata`. `None`, at the cost of a few
    /// file checks, when the repository has no CODEOWNERS; `cargo metadata` only runs when
    /// it has one.
    ///
    /// ```no_run
    /// let owners = shardtest::report::health::owners::TestOwners::discover(None);
    /// ```
    pub fn discover(manifest_path: Option<&Path>) -> Option<Arc<TestOwners>> {
        let start = match manifest_path {
            Some(m) => std::path::absolute(m).ok()?.parent()?.to_path_buf(),
            None => std::env::current_dir().ok()?,
        };
        let (file, _) = codeowners::find(&start)?;
        let (index, _) = SourceIndex::from_cargo(manifest_path).ok()?;
        TestOwners::load(&file, index).ok().map(Arc::new)
    }

    /// The source file of `id` relative to the repository root (`/`-separated), when known.
    ///
    /// ```
    /// use shardtest::report::health::{codeowners::CodeOwners, owners::*};
    /// let mut index = SourceIndex::default();
    /// index.targets.insert("app::it".into(), "/repo/app/tests/it.rs".into());
    /// let o = TestOwners::new(CodeOwners::default(), "/repo".into(), index);
    /// assert_eq!(o.source_path(&"app::it works".parse().unwrap()).as_deref(), Some("app/tests/it.rs"));
    /// ```
    pub fn source_path(&self, id: &TestId) -> Option<String> {
        let file = self.sources.source_of(id)?;
        let rel = file.strip_prefix(&self.root).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }

    /// The owners of test `id`, space-separated; `None` when its file is unknown or unowned.
    ///
    /// ```
    /// use shardtest::report::health::{codeowners::CodeOwners, owners::*};
    /// let mut index = SourceIndex::default();
    /// index.targets.insert("app::it".into(), "/repo/tests/it.rs".into());
    /// let rules = CodeOwners::parse("/tests/ @qa @bob\n");
    /// let o = TestOwners::new(rules, "/repo".into(), index);
    /// assert_eq!(o.owner_of(&"app::it works".parse().unwrap()).as_deref(), Some("@qa @bob"));
    /// ```
    pub fn owner_of(&self, id: &TestId) -> Option<Arc<str>> {
        let name = id.name.as_str();
        let module = if name.contains(" - ") {
            name.to_string()
        } else {
            name.rsplit_once("::").map_or("", |(m, _)| m).to_string()
        };
        let key = (id.binary.clone(), module);
        if let Some(hit) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return hit;
        }
        let owner: Option<Arc<str>> = self
            .source_path(id)
            .and_then(|p| self.rules.owners_of(&p).map(|o| o.join(" ")))
            .map(Arc::from);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, owner.clone());
        }
        owner
    }
}

/// Looks up a test's owners for the run summary and JUnit (cheap to clone).
///
/// ```
/// use shardtest::report::health::owners::OwnerLookup;
/// let o = OwnerLookup::new(|id| (id.binary.as_str() == "app").then(|| "@team".into()));
/// assert_eq!(o.get(&"app t".parse().unwrap()).as_deref(), Some("@team"));
/// assert!(o.get(&"lib t".parse().unwrap()).is_none());
/// ```
#[derive(Clone)]
pub struct OwnerLookup(Arc<OwnerFn>);

/// The function behind an [`OwnerLookup`].
type OwnerFn = dyn Fn(&TestId) -> Option<Arc<str>> + Send + Sync;

impl OwnerLookup {
    /// A lookup backed by `f`.
    pub fn new(f: impl Fn(&TestId) -> Option<Arc<str>> + Send + Sync + 'static) -> Self {
        OwnerLookup(Arc::new(f))
    }

    /// The owners of `id`, space-separated.
    pub fn get(&self, id: &TestId) -> Option<Arc<str>> {
        (self.0)(id)
    }
}

impl std::fmt::Debug for OwnerLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerLookup")
    }
}

/// The [`OwnerLookup`] of `owners`.
///
/// ```
/// use shardtest::report::health::{codeowners::CodeOwners, owners::*};
/// let o = std::sync::Arc::new(TestOwners::new(CodeOwners::default(), "/".into(), SourceIndex::default()));
/// let lookup = lookup(o);
/// assert!(lookup.get(&"p t".parse().unwrap()).is_none());
/// ```
pub fn lookup(owners: Arc<TestOwners>) -> OwnerLookup {
    OwnerLookup::new(move |id| owners.owner_of(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{
        AttemptOutcome, AttemptRecord, EventConsumer, RunEvent, RunInfo, TestStatus,
    };
    use crate::report::terminal::TerminalReporter;
    use std::time::{Duration, SystemTime};

    fn tree() -> (tempfile::TempDir, TestOwners) {
        let d = tempfile::tempdir().unwrap();
        for f in [
            "app/src/lib.rs",
            "app/src/net.rs",
            "app/src/parse/mod.rs",
            "app/src/parse/json.rs",
            "app/tests/api.rs",
            "app/tests/api/orders.rs",
        ] {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let mut index = SourceIndex::default();
        index
            .targets
            .insert("app".into(), d.path().join("app/src/lib.rs"));
        index
            .targets
            .insert("app::api".into(), d.path().join("app/tests/api.rs"));
        index.packages.insert("app".into(), d.path().join("app"));
        let rules = CodeOwners::parse(
            "* @core\n/app/src/net.rs @net\n/app/src/parse/ @parse\n/app/tests/api/ @orders\n",
        );
        let owners = TestOwners::new(rules, d.path().to_path_buf(), index);
        (d, owners)
    }

    #[test]
    fn tests_are_placed_in_their_module_files() {
        let (_d, o) = tree();
        let path = |t: &str| o.source_path(&t.parse().unwrap()).unwrap();
        assert_eq!(path("app net::tests::dns"), "app/src/net.rs");
        assert_eq!(
            path("app parse::json::tests::nested"),
            "app/src/parse/json.rs"
        );
        assert_eq!(path("app parse::tests::t"), "app/src/parse/mod.rs");
        assert_eq!(path("app unknown::t"), "app/src/lib.rs");
        assert_eq!(path("app top_level"), "app/src/lib.rs");
        assert_eq!(path("app::api orders::creates"), "app/tests/api/orders.rs");
        assert_eq!(path("app::api smoke"), "app/tests/api.rs");
        assert_eq!(
            path("app::doc src/net.rs - net::connect (line 7)"),
            "app/src/net.rs"
        );
        let owner = |t: &str| o.owner_of(&t.parse().unwrap()).map(|s| s.to_string());
        assert_eq!(owner("app net::tests::dns").as_deref(), Some("@net"));
        assert_eq!(
            owner("app parse::json::tests::nested").as_deref(),
            Some("@parse")
        );
        assert_eq!(
            owner("app::api orders::creates").as_deref(),
            Some("@orders")
        );
        assert_eq!(owner("app::api smoke").as_deref(), Some("@core"));
        assert_eq!(owner("other t"), None, "a binary cargo does not know");
    }

    fn run_with_a_failure(consumer: &mut dyn EventConsumer) {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        consumer
            .on_event(&RunEvent::RunStarted(RunInfo {
                run_id: "r".into(),
                shard: crate::shard::ShardSpec::WHOLE,
                fingerprint: "f".into(),
                workers: 1,
                to_run: 2,
                predicted: Duration::ZERO,
                started_at: at,
                repeat: 1,
            }))
            .unwrap();
        for (name, outcome, status) in [
            (
                "app net::tests::dns",
                AttemptOutcome::Failed { code: 101 },
                TestStatus::Failed,
            ),
            (
                "app parse::tests::t",
                AttemptOutcome::Passed,
                TestStatus::Passed,
            ),
        ] {
            consumer
                .on_event(&RunEvent::TestFinished {
                    id: name.parse().unwrap(),
                    status,
                    attempts: vec![AttemptRecord {
                        attempt: 1,
                        outcome,
                        duration: Duration::from_millis(5),
                        started_at: at,
                        worker: 0,
                        leaked: false,
                        log: None,
                        output_tail: String::new(),
                    }],
                    attributes: Default::default(),
                })
                .unwrap();
        }
        consumer
            .on_event(&RunEvent::RunFinished {
                elapsed: Duration::from_millis(10),
                interrupted: false,
            })
            .unwrap();
    }

    #[test]
    fn the_summary_and_junit_name_the_owners() {
        let (d, o) = tree();
        let lookup = lookup(Arc::new(o));
        let mut t = TerminalReporter::new(Vec::new());
        t.set_owners(lookup.clone());
        run_with_a_failure(&mut t);
        let out = String::from_utf8(t.into_inner()).unwrap();
        // The summary's failure list (not the progress line) names the owners.
        let summary = out.split("Summary").nth(1).unwrap_or_default();
        assert!(
            summary.contains("FAIL app net::tests::dns (exit code 101) (owner @net)\n"),
            "{out}"
        );
        let path = d.path().join("junit.xml");
        let mut j = crate::report::junit::JunitReporter::new(path.clone());
        j.set_owners(lookup);
        run_with_a_failure(&mut j);
        j.finish().unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        let dns = xml
            .split("<testcase")
            .find(|c| c.contains("name=\"net::tests::dns\""))
            .unwrap();
        assert!(
            dns.contains("<property name=\"owner\" value=\"@net\"/>"),
            "{xml}"
        );
        let t = xml
            .split("<testcase")
            .find(|c| c.contains("name=\"parse::tests::t\""))
            .unwrap();
        assert!(
            t.contains("<property name=\"owner\" value=\"@parse\"/>"),
            "{xml}"
        );
    }
}
