//! The doctest listing cache: a package's doctest names (all, and the ignored ones) kept under
//! the target directory, so that a command on an unchanged crate does not list them again.
//!
//! Listing costs two `cargo test --doc -- --list` runs per package (all doctests, then the
//! `--ignored` ones: stable libtest cannot say which are ignored in one listing), and from
//! edition 2024 rustdoc builds the merged doctest binary for each of them, which makes
//! listing cost more than running the doctests in `cargo test --doc`.
//!
//! An entry is used only when its key matches, and the key covers everything that can change
//! the list:
//! - the `cargo test --doc` arguments (package, features, profile, target, manifest);
//! - the toolchain (`rustc -vV`, run where the listing runs, so toolchain overrides count)
//!   and the environment that steers cargo and rustdoc (`RUSTFLAGS`, `RUSTDOCFLAGS`,
//!   `CARGO_BUILD_*`, `CARGO_TARGET_*`, `CARGO_PROFILE_*`, `RUSTC*`, `RUSTUP_TOOLCHAIN`, ...);
//! - the contents (not the modification times, so a fresh checkout of the same commit with a
//!   restored target directory still hits) of every source-like file of the workspace
//!   (`.rs`, `.md`, `.toml`, `Cargo.lock`, text files; outside the target directory and
//!   hidden directories), cargo's configuration files in the workspace's ancestors, and the
//!   files named by a literal `include_str!`/`include_bytes!`/`include!`/`#[path]`, wherever
//!   they are.
//!
//! A package with a build script is never cached: what it generates (code included from
//! `OUT_DIR`, `cfg`s) can change the doctests without any of the above changing. Nor are
//! path dependencies outside the workspace followed beyond their literal includes.

use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Format of an entry (part of the key: a new format never reads an old entry).
const FORMAT: &str = "shardtest-doctest-list-1";

/// Extensions of the files whose contents are part of the key.
const SOURCE_EXTENSIONS: [&str; 8] = ["rs", "md", "markdown", "toml", "lock", "txt", "rst", "adoc"];

/// Environment variables that change what cargo or rustdoc do, by exact name or prefix.
const ENV_EXACT: [&str; 10] = [
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "RUSTC",
    "RUSTDOC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_BOOTSTRAP",
    "RUSTUP_TOOLCHAIN",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
];
const ENV_PREFIXES: [&str; 4] = [
    "CARGO_BUILD_",
    "CARGO_TARGET_",
    "CARGO_PROFILE_",
    "CARGO_UNSTABLE_",
];

/// What every package's key shares: the toolchain, the environment and the workspace's
/// sources. Computed once per listing.
#[derive(PartialEq, Eq)]
pub(crate) struct Shared {
    digest: [u8; 32],
}

impl Shared {
    /// `None` when the toolchain cannot be identified (no caching then).
    pub(crate) fn compute(workspace_root: &Path, target_dir: &Path) -> Option<Shared> {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
        let out = Command::new(rustc)
            .arg("-vV")
            .current_dir(workspace_root)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        field(&mut h, "rustc", &out.stdout);
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                ENV_EXACT.contains(&k.as_str()) || ENV_PREFIXES.iter().any(|p| k.starts_with(p))
            })
            .collect();
        env.sort();
        for (k, v) in &env {
            field(&mut h, k, v.as_bytes());
        }
        // cargo's configuration: in the workspace root and every ancestor, and CARGO_HOME.
        let mut configs: Vec<PathBuf> = workspace_root
            .ancestors()
            .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
            .collect();
        if let Some(home) = std::env::var_os("CARGO_HOME") {
            let home = PathBuf::from(home);
            configs.extend([home.join("config.toml"), home.join("config")]);
        }
        for c in &configs {
            hash_file(&mut h, c);
        }
        let mut files = Vec::new();
        walk(workspace_root, target_dir, &mut files);
        files.sort();
        // Files named by literal includes, wherever they are and whatever their extension.
        let mut included: BTreeSet<PathBuf> = BTreeSet::new();
        for f in &files {
            let Ok(bytes) = std::fs::read(f) else {
                field(&mut h, &f.display().to_string(), b"<unreadable>");
                continue;
            };
            let rel = f.strip_prefix(workspace_root).unwrap_or(f);
            field(&mut h, &rel.display().to_string(), &bytes);
            if f.extension().is_some_and(|e| e == "rs") {
                for inc in literal_includes(&String::from_utf8_lossy(&bytes)) {
                    let dir = f.parent().unwrap_or(workspace_root);
                    let p = dir.join(inc);
                    let p = std::path::absolute(&p).unwrap_or(p);
                    included.insert(normalized(&p));
                }
            }
        }
        for p in &included {
            hash_file(&mut h, p);
        }
        Some(Shared {
            digest: h.finalize().into(),
        })
    }

    /// The key of one package's listing with these `cargo test --doc` arguments.
    pub(crate) fn key(&self, cargo_args: &[String]) -> String {
        let mut h = Sha256::new();
        h.update(self.digest);
        for a in cargo_args {
            field(&mut h, "arg", a.as_bytes());
        }
        let d: [u8; 32] = h.finalize().into();
        d.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A length-prefixed name and value, so that no two different inputs hash alike.
fn field(h: &mut Sha256, name: &str, value: &[u8]) {
    h.update((name.len() as u64).to_le_bytes());
    h.update(name.as_bytes());
    h.update((value.len() as u64).to_le_bytes());
    h.update(value);
}

fn hash_file(h: &mut Sha256, p: &Path) {
    match std::fs::read(p) {
        Ok(bytes) => field(h, &p.display().to_string(), &bytes),
        Err(_) => field(h, &p.display().to_string(), b"<absent>"),
    }
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalized(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// The source-like files under `dir`, leaving out the target directory and hidden
/// directories (`.git`, `.shardtest`, ...).
fn walk(dir: &Path, target_dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        let hidden = e.file_name().to_string_lossy().starts_with('.');
        if kind.is_dir() {
            if !hidden && path != target_dir && !path.join("CACHEDIR.TAG").exists() {
                walk(&path, target_dir, out);
            }
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| SOURCE_EXTENSIONS.contains(&x))
        {
            out.push(path);
        }
    }
}

/// The string literals given to `include_str!`, `include_bytes!`, `include!` and `#[path]`
/// (`#![doc = include_str!("../README.md")]` gives `../README.md`); a path built by a macro
/// (`concat!`, `env!`) is not seen.
fn literal_includes(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for marker in ["include_str!", "include_bytes!", "include!", "#[path"] {
        let mut rest = text;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let head = rest.trim_start_matches([' ', '(', '=', '\t']);
            if let Some(lit) = head.strip_prefix('"')
                && let Some(end) = lit.find('"')
            {
                out.push(&lit[..end]);
            }
        }
    }
    out
}

/// A cached listing: the key it was made under, every doctest name and the ignored ones.
#[derive(serde::Serialize, serde::Deserialize)]
struct Entry {
    key: String,
    names: Vec<String>,
    ignored: Vec<String>,
}

/// Where a package's entry lives.
pub(crate) fn entry_path(target_dir: &Path, package: &str, version: &str) -> PathBuf {
    target_dir
        .join("shardtest")
        .join("doctest-lists")
        .join(format!("{package}-{version}.json"))
}

/// The cached listing at `path` if it was made under `key`.
pub(crate) fn read(path: &Path, key: &str) -> Option<(Vec<String>, Vec<String>)> {
    let bytes = std::fs::read(path).ok()?;
    let e: Entry = serde_json::from_slice(&bytes).ok()?;
    (e.key == key).then_some((e.names, e.ignored))
}

/// Stores a listing (failing to is not an error: the next command lists again).
pub(crate) fn write(path: &Path, key: &str, names: &[String], ignored: &[String]) {
    let e = Entry {
        key: key.to_string(),
        names: names.to_vec(),
        ignored: ignored.to_vec(),
    };
    if let Ok(bytes) = serde_json::to_vec(&e) {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::fsutil::write_atomic(path, &bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_includes_are_found() {
        let src = r#"#![doc = include_str!("../README.md")]
            const X: &[u8] = include_bytes! ("data.bin");
            #[path = "other/m.rs"] mod m;
            include!(concat!(env!("OUT_DIR"), "/gen.rs"));"#;
        assert_eq!(
            literal_includes(src),
            ["../README.md", "data.bin", "other/m.rs"]
        );
    }

    #[test]
    fn normalizing_drops_parent_components() {
        assert_eq!(normalized(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
    }
}
