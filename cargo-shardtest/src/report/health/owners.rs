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
        cmd.cargo_path(crate::discover::cargo_command()).no_deps();
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

/// Looks up owners for the run summary and JUnit: `Fn(&TestId) -> Option<owner>`.
pub type OwnerLookup = Arc<dyn Fn(&TestId) -> Option<Arc<str>> + Send + Sync>;

/// The [`OwnerLookup`] of `owners`.
///
/// ```
/// use shardtest::report::health::{codeowners::CodeOwners, owners::*};
/// let o = std::sync::Arc::new(TestOwners::new(CodeOwners::default(), "/".into(), SourceIndex::default()));
/// let lookup = lookup(o);
/// assert!(lookup(&"p t".parse().unwrap()).is_none());
/// ```
pub fn lookup(owners: Arc<TestOwners>) -> OwnerLookup {
    Arc::new(move |id| owners.owner_of(id))
}
