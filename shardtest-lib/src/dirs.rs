//! Per-test directories: a temporary one removed afterwards, and an artifact one kept.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use crate::lockdir::{self, HeldLock};

/// Per-test artifact directory set by `cargo shardtest`.
pub const ARTIFACT_DIR_ENV: &str = shardtest_protocol::env::ARTIFACT_DIR;

/// Why a directory could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    /// Creating, clearing or locking the directory failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A temporary directory for one test, removed when dropped. When the test fails (the guard
/// is dropped while the thread panics) under `cargo shardtest` (`SHARDTEST_RUN_ID` is set),
/// the directory is kept and its path printed, for inspection.
///
/// ```
/// let dir = shard::temp_dir();
/// std::fs::write(dir.join("x.txt"), "hello").unwrap();
/// let path = dir.path().to_path_buf();
/// drop(dir);
/// assert!(!path.exists());
/// ```
#[derive(Debug)]
pub struct TempDir {
    inner: Option<tempfile::TempDir>,
}

impl TempDir {
    /// The directory's path.
    ///
    /// ```
    /// let dir = shard::temp_dir();
    /// assert!(dir.path().is_dir());
    /// ```
    pub fn path(&self) -> &Path {
        match &self.inner {
            Some(d) => d.path(),
            None => Path::new(""),
        }
    }

    /// Keeps the directory (it is not removed on drop) and returns its path.
    ///
    /// ```
    /// let path = shard::temp_dir().keep();
    /// assert!(path.is_dir());
    /// std::fs::remove_dir_all(path).unwrap();
    /// ```
    pub fn keep(mut self) -> PathBuf {
        match self.inner.take() {
            Some(d) => d.keep(),
            None => PathBuf::new(),
        }
    }
}

impl Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.path()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let Some(d) = self.inner.take() else { return };
        if std::thread::panicking() && std::env::var_os(crate::worker::RUN_ID_ENV).is_some() {
            let path = d.keep();
            eprintln!(
                "shard: test failed; keeping its temp dir {}",
                path.display()
            );
        }
    }
}

/// A new temporary directory for this test (see [`TempDir`]); panics when none can be made.
///
/// ```
/// let a = shard::temp_dir();
/// let b = shard::temp_dir();
/// assert_ne!(a.path(), b.path());
/// ```
pub fn temp_dir() -> TempDir {
    match try_temp_dir() {
        Ok(d) => d,
        Err(e) => panic!("shard::temp_dir(): {e}"),
    }
}

/// Like [`temp_dir`], returning the error instead of panicking.
///
/// ```
/// let d = shard::dirs::try_temp_dir()?;
/// assert!(d.is_dir());
/// # Ok::<(), shard::dirs::DirError>(())
/// ```
pub fn try_temp_dir() -> Result<TempDir, DirError> {
    let w = crate::worker::try_worker_id().unwrap_or(0);
    let d = tempfile::Builder::new()
        .prefix(&format!("shardtest-w{w}-"))
        .tempdir()
        .map_err(|source| DirError::Io {
            what: "creating a temp dir in",
            path: std::env::temp_dir(),
            source,
        })?;
    Ok(TempDir { inner: Some(d) })
}

/// Artifact directories taken by this process: test name -> (dir, its lock).
type Taken = HashMap<String, (PathBuf, Option<HeldLock>)>;
static TAKEN: OnceLock<Mutex<Taken>> = OnceLock::new();

/// This test's artifact directory (created, kept after the test): under `cargo shardtest` the
/// per-test `SHARDTEST_ARTIFACT_DIR`; otherwise `target/shardtest-artifacts/<test name>`,
/// where the test name is the current thread's name (libtest names each test's thread after
/// the test). A directory is never shared by two tests running at once: a second process
/// running the same test at the same time gets `<test name>.2`, and so on. A directory left by
/// an earlier run is emptied when taken. Panics when no directory can be made.
///
/// ```
/// let dir = shard::artifact_dir();
/// std::fs::write(dir.join("log.txt"), "kept for the report").unwrap();
/// assert_eq!(dir, shard::artifact_dir()); // same test, same dir
/// ```
pub fn artifact_dir() -> PathBuf {
    match try_artifact_dir() {
        Ok(d) => d,
        Err(e) => panic!("shard::artifact_dir(): {e}"),
    }
}

/// Like [`artifact_dir`], returning the error instead of panicking.
///
/// ```
/// let d = shard::dirs::try_artifact_dir()?;
/// assert!(d.is_dir());
/// # Ok::<(), shard::dirs::DirError>(())
/// ```
pub fn try_artifact_dir() -> Result<PathBuf, DirError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| DirError::Io { what, path, source }
    };
    if let Some(dir) = std::env::var_os(ARTIFACT_DIR_ENV).filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        return Ok(dir);
    }
    let name = test_name();
    let map = TAKEN.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((dir, _)) = map.get(&name) {
        return Ok(dir.clone());
    }
    let root = artifacts_root();
    let safe = sanitize(&name);
    for n in 1u32.. {
        let leaf = if n == 1 {
            safe.clone()
        } else {
            format!("{safe}.{n}")
        };
        let lock_name = format!(
            "artifacts/{:016x}",
            fnv1a(root.join(&leaf).as_os_str().as_encoded_bytes())
        );
        let Some(held) =
            lockdir::try_lock(&lock_name).map_err(io("locking", &lockdir::lock_dir()))?
        else {
            continue;
        };
        let dir = root.join(&leaf);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(io("clearing", &dir))?;
        }
        fs::create_dir_all(&dir).map_err(io("creating", &dir))?;
        map.insert(name, (dir.clone(), Some(held)));
        return Ok(dir);
    }
    unreachable!("an unbounded search always finds a free directory")
}

/// The current test's name: the current thread's name under libtest (`main` is replaced by
/// the binary's name, for code that runs outside a test thread).
///
/// ```
/// let name = shard::dirs::test_name();
/// assert!(!name.is_empty());
/// ```
pub fn test_name() -> String {
    match std::thread::current().name() {
        Some(n) if n != "main" => n.to_string(),
        _ => std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "main".to_string()),
    }
}

/// `target/shardtest-artifacts`: the target dir is found above the test binary by the
/// `CACHEDIR.TAG` cargo writes there; else `<tmp>/shardtest-artifacts`.
fn artifacts_root() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let target = exe.as_deref().and_then(|e| {
        e.ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
    });
    match target {
        Some(t) => t.join("shardtest-artifacts"),
        None => std::env::temp_dir().join("shardtest-artifacts"),
    }
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() { "test".to_string() } else { s }
}

/// 64-bit FNV-1a: a stable short hash for lock and database names.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_test_names() {
        assert_eq!(sanitize("tests::a b/c"), "tests__a_b_c");
        assert_eq!(sanitize(".."), "test");
    }

    #[test]
    fn artifact_dirs_are_per_thread_name() {
        let a = artifact_dir();
        let b = std::thread::Builder::new()
            .name("other::test".into())
            .spawn(artifact_dir)
            .expect("spawn")
            .join()
            .expect("join");
        assert_ne!(a, b);
        assert!(a.ends_with("dirs__tests__artifact_dirs_are_per_thread_name"));
        assert_eq!(a, artifact_dir());
    }
}
