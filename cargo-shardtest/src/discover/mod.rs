//! Discovery: builds the test binaries through cargo (`cargo test --no-run
//! --message-format=json-render-diagnostics`, with the user's build options passed through)
//! and turns cargo's messages into [`TestBinary`] records.

pub mod doctests;

use crate::id::{BinaryId, BinaryKind};
use crate::list::TestBinary;
use cargo_metadata::{Message, MetadataCommand, PackageId, TargetKind};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What the build produced.
#[derive(Clone, Debug)]
pub struct BuildOutput {
    /// Test binaries, sorted by id.
    pub binaries: Vec<TestBinary>,
    /// The workspace root (directory of the root `Cargo.toml`).
    pub workspace_root: PathBuf,
    /// Cargo's target directory.
    pub target_dir: PathBuf,
}

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// `cargo` could not be started.
    #[error("could not run `{cargo}`: {source}; is cargo on PATH (or set CARGO)?")]
    CargoSpawn {
        /// The cargo command used.
        cargo: String,
        /// OS error.
        source: std::io::Error,
    },
    /// `cargo metadata` failed (bad manifest path, invalid Cargo.toml, ...).
    #[error("cargo metadata failed: {0}")]
    Metadata(String),
    /// The build failed; cargo already printed the diagnostics.
    #[error("the build failed (cargo printed the errors above); fix them and run again")]
    BuildFailed,
    /// Reading cargo's output failed.
    #[error("could not read cargo's build messages: {0}")]
    Messages(std::io::Error),
}

pub use crate::toolchain::cargo_command;

/// Workspace root and target directory of the workspace at `manifest_path` (or the current
/// directory's).
pub fn workspace_dirs(manifest_path: Option<&Path>) -> Result<(PathBuf, PathBuf), DiscoverError> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_command()).no_deps();
    if let Some(p) = manifest_path {
        cmd.manifest_path(p);
    }
    let md = cmd
        .exec()
        .map_err(|e| DiscoverError::Metadata(e.to_string()))?;
    Ok((
        md.workspace_root.into_std_path_buf(),
        md.target_directory.into_std_path_buf(),
    ))
}

/// Builds the tests with `cargo test --no-run` plus `cargo_args` (the user's build options,
/// already in cargo's syntax) and returns the test binaries.
///
/// `on_workspace_root` is called with the workspace root as soon as `cargo metadata` knows
/// it, while the build may still be running, so the caller can start work that needs it
/// (reading the timings history) beside the build. It is not called when metadata fails.
pub fn build(
    cargo_args: &[String],
    manifest_path: Option<&Path>,
    on_workspace_root: impl FnOnce(&Path) + Send,
) -> Result<BuildOutput, DiscoverError> {
    let cargo = cargo_command();
    let mut mdcmd = MetadataCommand::new();
    mdcmd.cargo_path(&cargo).no_deps();
    if let Some(p) = manifest_path {
        mdcmd.manifest_path(p);
    }
    // `cargo metadata` runs beside the build: on an up-to-date build the two cargo start-ups
    // are most of discovery's cost.
    let (metadata, built) = std::thread::scope(|scope| {
        let metadata = scope.spawn(|| {
            let md = mdcmd.exec();
            if let Ok(md) = &md {
                on_workspace_root(md.workspace_root.as_std_path());
            }
            md
        });
        let built = run_build(&cargo, cargo_args);
        (metadata.join(), built)
    });
    let metadata = metadata
        .map_err(|_| DiscoverError::Metadata("the cargo metadata thread panicked".into()))?
        .map_err(|e| DiscoverError::Metadata(e.to_string()))?;
    let Built {
        tests,
        bin_exes,
        out_dirs,
    } = built?;
    let packages: BTreeMap<&PackageId, &cargo_metadata::Package> =
        metadata.packages.iter().map(|p| (&p.id, p)).collect();
    // `cargo metadata` does not say which targets have `harness = false`: the manifests do.
    let mut custom_harness: BTreeMap<&PackageId, Vec<(String, String)>> = BTreeMap::new();
    for p in &metadata.packages {
        custom_harness.insert(&p.id, custom_harness_targets(p.manifest_path.as_std_path()));
    }

    let mut binaries = Vec::new();
    for (a, exe) in tests {
        let kind = a
            .target
            .kind
            .first()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "lib".to_string());
        let (name, version, dir) = match packages.get(&a.package_id) {
            Some(p) => (
                p.name.to_string(),
                p.version.to_string(),
                p.manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default(),
            ),
            None => (
                a.target.name.clone(),
                "0.0.0".to_string(),
                a.manifest_path
                    .parent()
                    .map(|d| d.as_std_path().to_path_buf())
                    .unwrap_or_default(),
            ),
        };
        binaries.push(TestBinary {
            id: BinaryId::from_target(&name, &kind, &a.target.name),
            path: exe.into_std_path_buf(),
            package_name: name,
            package_version: version,
            package_dir: dir,
            target_name: a.target.name.clone(),
            bin_exes: bin_exes.get(&a.package_id).cloned().unwrap_or_default(),
            out_dir: out_dirs.get(&a.package_id).cloned(),
            custom_harness: custom_harness.get(&a.package_id).is_some_and(|targets| {
                targets
                    .iter()
                    .any(|(k, n)| *k == kind && (k == "lib" || *n == a.target.name))
            }),
            kind: BinaryKind::from(kind.as_str()),
            doctest: None,
        });
    }
    binaries.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(BuildOutput {
        binaries,
        workspace_root: metadata.workspace_root.into_std_path_buf(),
        target_dir: metadata.target_directory.into_std_path_buf(),
    })
}

/// The targets of a manifest declared with `harness = false`, as (cargo kind, target name):
/// `[lib]` is `("lib", _)`, `[[test]]` `("test", name)`, and likewise for `bench`, `bin` and
/// `example`. A manifest that cannot be read declares none.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let m = dir.path().join("Cargo.toml");
/// std::fs::write(&m, "[package]\nname = \"p\"\n[[test]]\nname = \"custom\"\nharness = false\n[[test]]\nname = \"std\"\n[[test]]\npath = \"tests/by_path.rs\"\nharness = false\n").unwrap();
/// let t = shardtest::discover::custom_harness_targets(&m);
/// assert_eq!(t, [("test".to_string(), "custom".to_string()), ("test".to_string(), "by_path".to_string())]);
/// ```
pub fn custom_harness_targets(manifest: &Path) -> Vec<(String, String)> {
    let Ok(text) = std::fs::read_to_string(manifest) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let no_harness =
        |t: &toml::Table| t.get("harness").and_then(toml::Value::as_bool) == Some(false);
    let name_of = |t: &toml::Table| {
        t.get("name")
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                t.get("path")
                    .and_then(toml::Value::as_str)
                    .and_then(|p| Path::new(p).file_stem())
                    .map(|s| s.to_string_lossy().into_owned())
            })
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    if let Some(lib) = doc.get("lib").and_then(toml::Value::as_table)
        && no_harness(lib)
    {
        found.push(("lib".to_string(), name_of(lib)));
    }
    for kind in ["test", "bench", "bin", "example"] {
        for t in doc
            .get(kind)
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_table)
        {
            if no_harness(t) {
                found.push((kind.to_string(), name_of(t)));
            }
        }
    }
    found
}

/// What the build produced, from cargo's messages.
struct Built {
    /// Test executables with their artifact records.
    tests: Vec<(
        cargo_metadata::Artifact,
        cargo_metadata::camino::Utf8PathBuf,
    )>,
    /// Per package, its `bin` executables (for `CARGO_BIN_EXE_*`).
    bin_exes: BTreeMap<PackageId, BTreeMap<String, PathBuf>>,
    /// Per package, its build script's output directory.
    out_dirs: BTreeMap<PackageId, PathBuf>,
}

/// Runs `cargo test --no-run` and collects the test executables and the `bin` executables
/// (for `CARGO_BIN_EXE_*`) from its messages.
fn run_build(cargo: &str, cargo_args: &[String]) -> Result<Built, DiscoverError> {
    let mut cmd = Command::new(cargo);
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    cmd.args(cargo_args);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .stdin(Stdio::null());
    let mut child = cmd.spawn().map_err(|source| DiscoverError::CargoSpawn {
        cargo: cargo.to_string(),
        source,
    })?;
    let stdout = child.stdout.take().ok_or_else(|| {
        DiscoverError::Messages(std::io::Error::other("cargo's stdout was not captured"))
    })?;

    let mut tests = Vec::new();
    let mut bin_exes: BTreeMap<PackageId, BTreeMap<String, PathBuf>> = BTreeMap::new();
    let mut out_dirs = BTreeMap::new();
    let mut success = true;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        match message.map_err(DiscoverError::Messages)? {
            Message::CompilerArtifact(a) => {
                let Some(exe) = a.executable.clone() else {
                    continue;
                };
                if a.profile.test {
                    tests.push((a, exe));
                } else if a.target.kind.contains(&TargetKind::Bin) {
                    bin_exes
                        .entry(a.package_id.clone())
                        .or_default()
                        .insert(a.target.name.clone(), exe.into_std_path_buf());
                }
            }
            Message::BuildScriptExecuted(b) => {
                out_dirs.insert(b.package_id, b.out_dir.into_std_path_buf());
            }
            Message::BuildFinished(f) => success &= f.success,
            _ => {}
        }
    }
    let status = child.wait().map_err(DiscoverError::Messages)?;
    if !success || !status.success() {
        return Err(DiscoverError::BuildFailed);
    }

    Ok(Built {
        tests,
        bin_exes,
        out_dirs,
    })
}
