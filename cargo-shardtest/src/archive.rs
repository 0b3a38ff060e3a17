//! Build-once archives: `cargo shardtest archive -o tests.tar.zst` packs the test binaries,
//! what the runner needs to run them as cargo would, and files the user lists into one
//! zstd-compressed tar; `run --archive` / `list --archive` unpack it anywhere and run the tests
//! without cargo or the source tree.
//!
//! Layout of the tar:
//!
//! ```text
//! shardtest-archive.json        the manifest (ArchiveManifest), first entry
//! target/<path in target dir>   test binaries and the CARGO_BIN_EXE_* binaries
//! workspace/<package dir>/Cargo.toml   each test package's manifest (tests often look for it)
//! workspace/<included path>     files and directories given with --include
//! ```
//!
//! Paths in the manifest are relative (to the archive root for binaries, to the workspace root
//! for package dirs), so the archive can be unpacked under any directory; package dirs are
//! remapped to `<unpacked>/workspace/<dir>` or to `--workspace-remap DIR`/`<dir>`.

use crate::discover::BuildOutput;
use crate::list::TestBinary;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

/// Version of the archive format written by this build.
pub const ARCHIVE_VERSION: u32 = 1;

/// Name of the manifest entry.
pub const MANIFEST_NAME: &str = "shardtest-archive.json";

/// zstd level: fast, and test binaries compress well at it.
const ZSTD_LEVEL: i32 = 3;

/// A test binary as recorded in an archive: a [`TestBinary`] whose executable and
/// `CARGO_BIN_EXE_*` paths are relative to the archive root and whose package directory is
/// relative to the workspace root (`""` for the root package).
pub type ArchivedBinary = TestBinary;

/// The archive's manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveManifest {
    /// Format version ([`ARCHIVE_VERSION`]).
    pub version: u32,
    /// The shardtest version that wrote it.
    pub created_by: String,
    /// Test binaries, sorted by id.
    pub binaries: Vec<ArchivedBinary>,
    /// Files and directories included with `--include`, relative to the workspace root.
    #[serde(default)]
    pub includes: Vec<PathBuf>,
}

impl ArchiveManifest {
    /// The binaries as the runner needs them, once the archive is unpacked at `root` and the
    /// workspace is at `workspace` (usually `root/workspace`).
    ///
    /// ```
    /// use shardtest::archive::*;
    /// let m = ArchiveManifest {
    ///     version: ARCHIVE_VERSION, created_by: "t".into(), includes: vec![],
    ///     binaries: vec![ArchivedBinary {
    ///         package_dir: "crates/p".into(),
    ///         ..ArchivedBinary::new("p", "lib", "p", "target/debug/deps/p-1")
    ///     }],
    /// };
    /// let b = m.test_binaries("/x".as_ref(), "/x/workspace".as_ref());
    /// assert_eq!(b[0].path, std::path::Path::new("/x/target/debug/deps/p-1"));
    /// assert_eq!(b[0].package_dir, std::path::Path::new("/x/workspace/crates/p"));
    /// ```
    pub fn test_binaries(&self, root: &Path, workspace: &Path) -> Vec<TestBinary> {
        self.binaries
            .iter()
            .map(|b| {
                let package_dir = if b.package_dir.as_os_str().is_empty() {
                    workspace.to_path_buf()
                } else {
                    workspace.join(&b.package_dir)
                };
                b.relocated(|p| root.join(p), package_dir)
            })
            .collect()
    }
}

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A file-system step failed.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// An `--include` path is not inside the workspace.
    #[error(
        "--include {}: not inside the workspace {}; archives hold workspace files only",
        path.display(), workspace.display()
    )]
    OutsideWorkspace {
        /// The path.
        path: PathBuf,
        /// The workspace root.
        workspace: PathBuf,
    },
    /// An `--include` path does not exist.
    #[error("--include {}: no such file or directory", .0.display())]
    MissingInclude(PathBuf),
    /// The file is not a shardtest archive.
    #[error(
        "{} is not a shardtest archive ({reason}); create one with `cargo shardtest archive -o FILE`",
        path.display()
    )]
    NotAnArchive {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The archive was written by an incompatible version.
    #[error(
        "{} has archive format version {found}, this shardtest reads version {ARCHIVE_VERSION}; use the same shardtest version to create and run it",
        path.display()
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: u32,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { what, path, source }
}

/// What [`create`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveSummary {
    /// Test binaries archived.
    pub binaries: usize,
    /// Other executables (`CARGO_BIN_EXE_*`) archived.
    pub bin_exes: usize,
    /// Workspace files archived (manifests and includes).
    pub files: usize,
    /// Size of the archive in bytes.
    pub bytes: u64,
}

/// `path` relative to `base` when inside it.
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    path.strip_prefix(base).ok().map(Path::to_path_buf)
}

/// A path of the archive for a file of the build: `target/<rel>` when it is inside the target
/// dir, else `target/external/<file name>`.
fn target_entry(path: &Path, target_dir: &Path) -> PathBuf {
    match relative_to(path, target_dir) {
        Some(rel) => Path::new("target").join(rel),
        None => Path::new("target/external").join(path.file_name().unwrap_or_default()),
    }
}

/// Lexically normalises `p` (drops `.`, resolves `..`) without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Packs `build`'s test binaries, the package manifests and `includes` into `dest`
/// (written atomically). Relative `includes` are taken from the current directory and must lie
/// inside the workspace.
pub fn create(
    build: &BuildOutput,
    includes: &[PathBuf],
    dest: &Path,
) -> Result<ArchiveSummary, ArchiveError> {
    let cwd =
        std::env::current_dir().map_err(io("reading the current directory", Path::new(".")))?;
    let ws = normalize(&build.workspace_root);
    let includes = resolve_includes(includes, &cwd, &ws)?;
    let contents = Contents::of(build, &ws, includes);
    let tmp = temp_file_beside(dest)?;
    let included_files = contents.write(&tmp, dest)?;
    publish(tmp, dest)?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(ArchiveSummary {
        binaries: contents
            .manifest
            .binaries
            .iter()
            .filter(|b| b.doctest.is_none())
            .count(),
        bin_exes: contents.exes.len(),
        files: contents.manifests.len() + included_files,
        bytes,
    })
}

/// Each `--include` path (relative ones taken from `cwd`) on disk and relative to the
/// workspace `ws`; it must exist and lie inside the workspace.
fn resolve_includes(
    includes: &[PathBuf],
    cwd: &Path,
    ws: &Path,
) -> Result<Vec<(PathBuf, PathBuf)>, ArchiveError> {
    let mut include_rel = Vec::new();
    for inc in includes {
        let abs = normalize(&cwd.join(inc));
        if !abs.exists() {
            return Err(ArchiveError::MissingInclude(inc.clone()));
        }
        let rel = relative_to(&abs, ws).ok_or_else(|| ArchiveError::OutsideWorkspace {
            path: inc.clone(),
            workspace: ws.to_path_buf(),
        })?;
        include_rel.push((abs, rel));
    }
    Ok(include_rel)
}

/// What an archive holds: its manifest and the files to pack, by their path in the archive.
struct Contents {
    /// The manifest, binaries sorted by id.
    manifest: ArchiveManifest,
    /// Archive path -> file on disk, deduplicated (several test binaries share bin exes).
    files: BTreeMap<PathBuf, PathBuf>,
    /// Archive paths of the `CARGO_BIN_EXE_*` binaries.
    exes: BTreeSet<PathBuf>,
    /// Package manifests: archive path, file on disk.
    manifests: BTreeSet<(PathBuf, PathBuf)>,
    /// Build-script output directories: archive path, directory on disk.
    out_dirs: BTreeSet<(PathBuf, PathBuf)>,
    /// `--include`d paths: on disk, relative to the workspace.
    includes: Vec<(PathBuf, PathBuf)>,
}

impl Contents {
    /// The contents of an archive of `build` (workspace root `ws`) with `includes`.
    fn of(build: &BuildOutput, ws: &Path, includes: Vec<(PathBuf, PathBuf)>) -> Self {
        let mut contents = Contents {
            manifest: ArchiveManifest {
                version: ARCHIVE_VERSION,
                created_by: format!("cargo-shardtest {}", env!("CARGO_PKG_VERSION")),
                binaries: Vec::new(),
                includes: includes.iter().map(|(_, r)| r.clone()).collect(),
            },
            files: BTreeMap::new(),
            exes: BTreeSet::new(),
            manifests: BTreeSet::new(),
            out_dirs: BTreeSet::new(),
            includes,
        };
        for b in &build.binaries {
            contents.add_binary(b, build, ws);
        }
        contents.manifest.binaries.sort_by(|a, b| a.id.cmp(&b.id));
        contents
    }

    /// Adds test binary `b` of `build`: the binary, its package manifest, its
    /// `CARGO_BIN_EXE_*` binaries and its `OUT_DIR`; a doctest binary is only recorded.
    fn add_binary(&mut self, b: &TestBinary, build: &BuildOutput, ws: &Path) {
        let package_dir = archived_package_dir(b, ws);
        if let Some(doc) = &b.doctest {
            // Doctests are recorded, not packed: they run through cargo in a checkout.
            self.manifest.binaries.push(TestBinary {
                path: PathBuf::new(),
                package_dir,
                doctest: Some(doc.portable()),
                ..b.clone()
            });
            return;
        }
        let entry = target_entry(&b.path, &build.target_dir);
        self.files.insert(entry.clone(), b.path.clone());
        let toml = b.package_dir.join("Cargo.toml");
        if toml.is_file() {
            self.manifests.insert((
                Path::new("workspace").join(&package_dir).join("Cargo.toml"),
                toml,
            ));
        }
        for path in b.bin_exes.values() {
            let e = target_entry(path, &build.target_dir);
            self.files.insert(e.clone(), path.clone());
            self.exes.insert(e);
        }
        if let Some(out) = b.out_dir.as_ref().filter(|d| d.is_dir()) {
            self.out_dirs
                .insert((target_entry(out, &build.target_dir), out.clone()));
        }
        self.manifest
            .binaries
            .push(b.relocated(|p| target_entry(p, &build.target_dir), package_dir));
    }

    /// Writes the archive (for `dest`) into `tmp`: a zstd-compressed tar, manifest first;
    /// how many files the includes held.
    fn write(&self, tmp: &tempfile::NamedTempFile, dest: &Path) -> Result<usize, ArchiveError> {
        let writer = BufWriter::new(
            tmp.reopen()
                .map_err(io("opening the temporary archive", tmp.path()))?,
        );
        let encoder = zstd::Encoder::new(writer, ZSTD_LEVEL).map_err(io("compressing", dest))?;
        let mut tar = tar::Builder::new(encoder);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(true);
        self.append_manifest(&mut tar, dest)?;
        let included_files = self.append_files(&mut tar)?;
        let encoder = tar.into_inner().map_err(io("finishing", dest))?;
        let mut writer = encoder.finish().map_err(io("compressing", dest))?;
        writer.flush().map_err(io("writing", dest))?;
        Ok(included_files)
    }

    /// Appends the manifest as the archive's first entry ([`MANIFEST_NAME`]).
    fn append_manifest<W: Write>(
        &self,
        tar: &mut tar::Builder<W>,
        dest: &Path,
    ) -> Result<(), ArchiveError> {
        let json = serde_json::to_vec_pretty(&self.manifest)
            .map_err(|e| io("encoding the manifest of", dest)(std::io::Error::other(e)))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST_NAME, json.as_slice())
            .map_err(io("writing the manifest to", dest))
    }

    /// Appends the binaries, package manifests, `OUT_DIR`s and includes; how many files the
    /// includes held.
    fn append_files<W: Write>(&self, tar: &mut tar::Builder<W>) -> Result<usize, ArchiveError> {
        for (entry, path) in self
            .files
            .iter()
            .chain(self.manifests.iter().map(|(e, p)| (e, p)))
        {
            tar.append_path_with_name(path, entry)
                .map_err(io("archiving", path))?;
        }
        // Build-script outputs: tests that read files from `OUT_DIR` at run time find them in
        // the unpacked copy (the runner points `OUT_DIR` there).
        for (entry, path) in &self.out_dirs {
            tar.append_dir_all(entry, path)
                .map_err(io("archiving", path))?;
        }
        let mut included_files = 0;
        for (abs, rel) in &self.includes {
            let name = Path::new("workspace").join(rel);
            if abs.is_dir() {
                tar.append_dir_all(&name, abs)
                    .map_err(io("archiving", abs))?;
                included_files += walk_count(abs);
            } else {
                tar.append_path_with_name(abs, &name)
                    .map_err(io("archiving", abs))?;
                included_files += 1;
            }
        }
        Ok(included_files)
    }
}

/// Where test binary `b`'s package lives in the archive's workspace: its directory relative
/// to the workspace root `ws`, else `external/<package name>`.
fn archived_package_dir(b: &TestBinary, ws: &Path) -> PathBuf {
    relative_to(&normalize(&b.package_dir), ws)
        .unwrap_or_else(|| Path::new("external").join(&b.package_name))
}

/// A new temporary file in `dest`'s directory (created if needed), to become `dest`.
fn temp_file_beside(dest: &Path) -> Result<tempfile::NamedTempFile, ArchiveError> {
    let dir = match dest.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io("creating the directory", &dir))?;
    tempfile::Builder::new()
        .prefix(".shardtest-archive-")
        .tempfile_in(&dir)
        .map_err(io("creating a temporary file in", &dir))
}

/// Flushes the written archive `tmp` to disk, makes it readable by all and moves it into
/// place at `dest`.
fn publish(tmp: tempfile::NamedTempFile, dest: &Path) -> Result<(), ArchiveError> {
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .sync_all()
        .map_err(io("flushing", tmp.path()))?;
    // Temporary files are private (0600); an archive is meant to be shared.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io("setting permissions of", tmp.path()))?;
    tmp.persist(dest)
        .map_err(|e| io("moving the archive into place at", dest)(e.error))?;
    Ok(())
}

/// How many files `dir` holds, in all its subdirectories.
fn walk_count(dir: &Path) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk_count(&p) } else { 1 }
        })
        .sum()
}

/// Unpacks `archive` into `into` (created if needed) and returns its manifest.
pub fn extract(archive: &Path, into: &Path) -> Result<ArchiveManifest, ArchiveError> {
    let file = File::open(archive).map_err(io("opening the archive", archive))?;
    let not_archive = |reason: String| ArchiveError::NotAnArchive {
        path: archive.to_path_buf(),
        reason,
    };
    let decoder = zstd::Decoder::new(BufReader::new(file))
        .map_err(|e| not_archive(format!("not zstd data: {e}")))?;
    std::fs::create_dir_all(into).map_err(io("creating the directory", into))?;
    let mut tar = tar::Archive::new(decoder);
    tar.set_preserve_permissions(true);
    tar.set_overwrite(true);
    tar.unpack(into)
        .map_err(|e| not_archive(format!("cannot unpack: {e}")))?;
    let manifest_path = into.join(MANIFEST_NAME);
    let mut text = String::new();
    File::open(&manifest_path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|_| not_archive(format!("no {MANIFEST_NAME} inside")))?;
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let v: Versioned = serde_json::from_str(&text)
        .map_err(|e| not_archive(format!("unreadable manifest: {e}")))?;
    if v.version != ARCHIVE_VERSION {
        return Err(ArchiveError::Version {
            path: archive.to_path_buf(),
            found: v.version,
        });
    }
    serde_json::from_str(&text).map_err(|e| not_archive(format!("unreadable manifest: {e}")))
}

/// An archive unpacked for a run: a fresh directory (removed when dropped) and the build it
/// stands for.
#[derive(Debug)]
pub struct UnpackedArchive {
    /// Where the archive was unpacked.
    pub root: PathBuf,
    /// Its manifest.
    pub manifest: ArchiveManifest,
    /// The build: binaries with paths under `root`, package dirs remapped, the workspace root
    /// (`root/workspace` or the remap dir) and the local target dir (for artifacts).
    pub build: BuildOutput,
    _dir: tempfile::TempDir,
}

/// Unpacks `archive` into a fresh directory under `parent` and maps it for a run whose local
/// target dir is `target_dir`. With `workspace_remap`, package dirs point into that directory
/// (e.g. a source checkout) instead of the archive's own `workspace/`.
pub fn unpack_for_run(
    archive: &Path,
    parent: &Path,
    target_dir: &Path,
    workspace_remap: Option<&Path>,
) -> Result<UnpackedArchive, ArchiveError> {
    std::fs::create_dir_all(parent).map_err(io("creating the directory", parent))?;
    let dir = tempfile::Builder::new()
        .prefix("archive-")
        .tempdir_in(parent)
        .map_err(io("creating a directory in", parent))?;
    let root = dir.path().to_path_buf();
    let manifest = extract(archive, &root)?;
    let workspace = match workspace_remap {
        Some(w) => std::path::absolute(w).map_err(io("resolving", w))?,
        None => root.join("workspace"),
    };
    let binaries = manifest.test_binaries(&root, &workspace);
    for b in &binaries {
        if !b.path.is_file() && b.doctest.is_none() {
            return Err(ArchiveError::NotAnArchive {
                path: archive.to_path_buf(),
                reason: format!("binary {} of {} is missing", b.path.display(), b.id),
            });
        }
    }
    Ok(UnpackedArchive {
        build: BuildOutput {
            binaries,
            workspace_root: workspace,
            target_dir: target_dir.to_path_buf(),
        },
        root,
        manifest,
        _dir: dir,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_target_dir() {
        assert_eq!(
            target_entry(Path::new("/t/debug/deps/x-1"), Path::new("/t")),
            Path::new("target/debug/deps/x-1")
        );
        assert_eq!(
            target_entry(Path::new("/elsewhere/x"), Path::new("/t")),
            Path::new("target/external/x")
        );
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }

    #[test]
    fn a_round_trip_keeps_binaries_executable() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let ws = src.path().join("ws");
        let target = ws.join("target");
        std::fs::create_dir_all(target.join("debug/deps")).unwrap();
        std::fs::create_dir_all(ws.join("data")).unwrap();
        std::fs::write(ws.join("Cargo.toml"), "[package]\n").unwrap();
        std::fs::write(ws.join("data/fixture.txt"), "hello").unwrap();
        let bin = target.join("debug/deps/p-123");
        std::fs::write(&bin, "#!/bin/sh\necho hi\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let build = BuildOutput {
            binaries: vec![TestBinary {
                id: crate::id::BinaryId::new("p"),
                path: bin.clone(),
                package_name: "p".into(),
                package_version: "0.1.0".into(),
                package_dir: ws.clone(),
                kind: "lib".into(),
                target_name: "p".into(),
                bin_exes: BTreeMap::from([("tool".to_string(), bin.clone())]),
                out_dir: None,
                custom_harness: false,
                doctest: None,
            }],
            workspace_root: ws.clone(),
            target_dir: target.clone(),
        };
        let dest = src.path().join("out/a.tar.zst");
        let s = create(&build, &[ws.join("data")], &dest).unwrap();
        assert_eq!((s.binaries, s.bin_exes, s.files), (1, 1, 2));
        let other = tempfile::tempdir().unwrap();
        let u = unpack_for_run(&dest, other.path(), other.path(), None).unwrap();
        let b = &u.build.binaries[0];
        assert!(b.path.starts_with(&u.root));
        let mode = std::fs::metadata(&b.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "executable bits survive");
        assert_eq!(b.package_dir, u.root.join("workspace"));
        assert!(b.package_dir.join("Cargo.toml").is_file());
        assert_eq!(
            std::fs::read_to_string(u.root.join("workspace/data/fixture.txt")).unwrap(),
            "hello"
        );
        assert_eq!(b.bin_exes["tool"], b.path);
        let root = u.root.clone();
        drop(u);
        assert!(!root.exists(), "the unpacked directory is removed");
    }

    #[test]
    fn includes_must_exist_inside_the_workspace() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir_all(ws.join("data")).unwrap();
        let found = resolve_includes(&["ws/./data".into()], d.path(), &ws).unwrap();
        assert_eq!(found, [(ws.join("data"), PathBuf::from("data"))]);
        let missing = resolve_includes(&["ws/nope".into()], d.path(), &ws).unwrap_err();
        assert!(
            matches!(missing, ArchiveError::MissingInclude(_)),
            "{missing}"
        );
        let outside = resolve_includes(&[".".into()], d.path(), &ws).unwrap_err();
        assert!(
            matches!(outside, ArchiveError::OutsideWorkspace { .. }),
            "{outside}"
        );
    }

    #[test]
    fn garbage_is_not_an_archive() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.tar.zst");
        std::fs::write(&p, "not an archive").unwrap();
        let e = extract(&p, &d.path().join("out")).unwrap_err();
        assert!(matches!(e, ArchiveError::NotAnArchive { .. }), "{e}");
    }
}
