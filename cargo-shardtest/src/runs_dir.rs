//! The runs folder (`<target-dir>/shardtest/runs/<run-id>/`): each run's artifacts and failure
//! logs. It is kept bounded: after a run, the oldest run directories are removed until at
//! most `keep` runs remain and together they fit the size budget; the run that just finished
//! is never removed, nor is the directory of a run still under way (each run holds an OS lock
//! on `<run>/.in-use` while it runs). `cargo shardtest clean` removes them all.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Default number of run directories kept.
pub const DEFAULT_KEEP_RUNS: usize = 10;
/// Default size budget of the runs folder (1 GiB).
pub const DEFAULT_SIZE_LIMIT: u64 = 1 << 30;

/// The runs folder of a target directory.
///
/// ```
/// let d = shardtest::runs_dir::runs_dir(std::path::Path::new("/t"));
/// assert_eq!(d, std::path::Path::new("/t/shardtest/runs"));
/// ```
pub fn runs_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("shardtest").join("runs")
}

/// Marks a run directory as in use until the returned guard drops, so that another run's
/// pruning (or `clean`) on the same machine leaves it alone.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// let guard = shardtest::runs_dir::hold(d.path()).unwrap();
/// assert!(shardtest::runs_dir::in_use(d.path()));
/// drop(guard);
/// assert!(!shardtest::runs_dir::in_use(d.path()));
/// ```
pub fn hold(run_dir: &Path) -> std::io::Result<std::fs::File> {
    std::fs::create_dir_all(run_dir)?;
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(run_dir.join(IN_USE))?;
    f.lock()?;
    Ok(f)
}

/// True when a live run holds `run_dir` (see [`hold`]).
pub fn in_use(run_dir: &Path) -> bool {
    let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .open(run_dir.join(IN_USE))
    else {
        return false;
    };
    match f.try_lock() {
        Ok(()) => {
            let _ = f.unlock();
            false
        }
        Err(_) => true,
    }
}

const IN_USE: &str = ".in-use";

/// What pruning removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Run directories removed.
    pub removed: usize,
    /// Bytes freed.
    pub freed: u64,
    /// Size of the folder afterwards.
    pub remaining: u64,
}

/// Removes the oldest run directories of `dir` until at most `keep` remain and their total
/// size is within `size_limit`; `current` (this run's directory) is never removed.
///
/// ```
/// use shardtest::runs_dir::prune;
/// let d = tempfile::tempdir().unwrap();
/// for r in ["a", "b", "c"] {
///     std::fs::create_dir(d.path().join(r)).unwrap();
///     std::fs::write(d.path().join(r).join("log"), vec![0u8; 1000]).unwrap();
/// }
/// let p = prune(d.path(), 2, u64::MAX, &d.path().join("c")).unwrap();
/// assert_eq!(p.removed, 1);
/// assert!(d.path().join("c").exists());
/// ```
pub fn prune(dir: &Path, keep: usize, size_limit: u64, current: &Path) -> std::io::Result<Pruned> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pruned::default()),
        Err(e) => return Err(e),
    };
    let mut runs: Vec<(SystemTime, PathBuf, u64)> = Vec::new();
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || (path != current && in_use(&path)) {
            continue;
        }
        let modified = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        runs.push((modified, path.clone(), size_of(&path)));
    }
    // Newest first; ties by name so the choice is stable.
    runs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    // Walk from the newest: keep while the count and the budget allow (this run's directory
    // always, and it counts first), remove everything older than the first that does not fit.
    let is_current = |p: &Path| p == current;
    let mut kept_size: u64 = runs.iter().filter(|r| is_current(&r.1)).map(|r| r.2).sum();
    let mut kept = runs.iter().filter(|r| is_current(&r.1)).count();
    let mut full = false;
    let mut out = Pruned::default();
    for (_, path, size) in &runs {
        if is_current(path) {
            continue;
        }
        if !full && kept < keep.max(1) && kept_size + size <= size_limit {
            kept += 1;
            kept_size += size;
            continue;
        }
        full = true;
        if std::fs::remove_dir_all(path).is_ok() {
            out.removed += 1;
            out.freed += size;
        } else {
            kept_size += size;
        }
    }
    out.remaining = kept_size;
    Ok(out)
}

/// Removes the whole runs folder; returns the bytes freed.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(d.path().join("r1")).unwrap();
/// std::fs::write(d.path().join("r1/x"), b"12345").unwrap();
/// assert_eq!(shardtest::runs_dir::clean(d.path()).unwrap(), 5);
/// assert!(!d.path().exists());
/// ```
pub fn clean(dir: &Path) -> std::io::Result<u64> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut freed = 0;
    let mut busy = false;
    for e in entries.filter_map(Result::ok) {
        let path = e.path();
        if in_use(&path) {
            busy = true;
            continue;
        }
        let size = size_of(&path);
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
        freed += size;
    }
    if !busy {
        std::fs::remove_dir(dir)?;
    }
    Ok(freed)
}

/// Bytes of the files below `path` (not following links).
pub fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| size_of(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

/// Parses a size such as `500MB`, `1GiB`, `200k` or a number of bytes.
///
/// ```
/// use shardtest::runs_dir::parse_size;
/// assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
/// assert_eq!(parse_size("500MB").unwrap(), 500_000_000);
/// assert_eq!(parse_size("4096").unwrap(), 4096);
/// assert!(parse_size("lots").is_err());
/// ```
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let value: f64 = num.parse().map_err(|_| {
        format!(
            "`{text}` is not a size: write a number with an optional unit, e.g. `500MB` or `2GiB`"
        )
    })?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{text}`: unknown size unit `{other}` (use B, KB, MB, GB, KiB, MiB or GiB)"
            ));
        }
    };
    Ok((value * factor) as u64)
}
