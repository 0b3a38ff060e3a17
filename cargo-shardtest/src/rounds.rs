//! Rounds of shard runs: where a run's measured durations go so that what a sharded run plans
//! from is never changed by that run.
//!
//! A *round* is the N shards of one plan (one fingerprint). Every shard of a round plans from
//! the same history file, so while a round is under way that file must not change: a shard
//! that recorded into it would change the plan of the shards that run after it, and together
//! they would skip some tests and run others twice.
//!
//! So a shard writes what it measured beside the history, to
//! `<history>.pending/<fingerprint>-<K>-of-<N>.json`, and the history itself is only
//! updated when the round is complete: the run that writes the last missing shard of its
//! round folds every pending file into the history (under the history's lock, atomically)
//! and deletes them. Until then, running shard K again (a CI "retry job") plans from the same
//! history and runs exactly the tests it ran the first time; after it, the next round plans
//! from the new durations. An unsharded run (`1/1`) is a round of its own and records at once.
//!
//! A history that cannot be read (corrupt, or written by a newer version) is never replaced:
//! the durations stay in the pending directory, and the warning names both paths.

use crate::console::say;
use crate::fsutil::write_atomic;
use crate::history::{FileLock, FileStamp, TimingStore, TimingsError, measured_in, run_record};
use crate::id::Fingerprint;
use crate::schema::JsonReport;
use crate::shard::ShardSpec;
use std::path::{Path, PathBuf};

/// The directory where shards' durations wait for the rest of their round.
///
/// ```
/// use std::path::Path;
/// let d = shardtest::rounds::pending_dir(Path::new(".shardtest/timings.json"));
/// assert_eq!(d, Path::new(".shardtest/timings.json.pending"));
/// ```
pub fn pending_dir(history: &Path) -> PathBuf {
    let mut name = history.as_os_str().to_os_string();
    name.push(".pending");
    PathBuf::from(name)
}

/// The file where shard `spec` of the plan `fingerprint` keeps its durations.
///
/// ```
/// use shardtest::plan::ShardSpec;
/// use std::path::Path;
/// let f = shardtest::rounds::pending_file(Path::new("t.json"), &"ab12".into(), ShardSpec::new(2, 4).unwrap());
/// assert_eq!(f, Path::new("t.json.pending/ab12-2-of-4.json"));
/// ```
pub fn pending_file(history: &Path, fingerprint: &Fingerprint, spec: ShardSpec) -> PathBuf {
    pending_dir(history).join(format!(
        "{fingerprint}-{}-of-{}.json",
        spec.index, spec.total
    ))
}

/// Where a run's durations went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// Nothing was measured (every test skipped or not run).
    Nothing,
    /// Into the history: the round was complete (`folded` pending files, this one included).
    Folded {
        /// The history file.
        history: PathBuf,
        /// How many shards' files were folded in (1 for an unsharded run).
        folded: usize,
    },
    /// Into the pending directory: the round still misses these shard indexes.
    Waiting {
        /// This shard's file.
        pending: PathBuf,
        /// The shards of the round that have not recorded yet (1-based).
        missing: Vec<u32>,
    },
    /// Into the pending directory, because the history cannot be read; it was left untouched.
    KeptBeside {
        /// This run's file.
        pending: PathBuf,
        /// Why the history could not take them, naming both files.
        warning: String,
    },
}

/// Records a run's durations for the round of `spec` and the plan `fingerprint`: straight
/// into the history for an unsharded run, else into the pending directory, folding the
/// round into the history when this run completes it. `loaded` is the history as read for
/// planning (used instead of a fresh parse when the file is unchanged).
///
/// ```
/// use shardtest::plan::ShardSpec;
/// use shardtest::rounds::{record, Recorded};
/// # fn get_report() -> Option<shardtest::report::json::JsonReport> { None }
/// let dir = tempfile::tempdir().unwrap();
/// let history = dir.path().join("timings.json");
/// if let Some(report) = get_report() {
///     let r = record(&history, &"fp".into(), ShardSpec::new(1, 2).unwrap(), &report, None).unwrap();
///     assert!(matches!(r, Recorded::Waiting { .. } | Recorded::Nothing));
/// }
/// ```
pub fn record(
    history: &Path,
    fingerprint: &Fingerprint,
    spec: ShardSpec,
    report: &JsonReport,
    loaded: Option<(TimingStore, Option<FileStamp>)>,
) -> Result<Recorded, TimingsError> {
    let sharded = spec.total > 1;
    if !sharded && measured_in(report) == 0 {
        return Ok(Recorded::Nothing);
    }
    let _lock = FileLock::acquire(history)?;
    ignore_default_dir(history);
    if !sharded {
        // A round of one: record straight into the history read for planning when nobody
        // wrote the file since (no re-parse), else into a fresh read of it.
        let unchanged = loaded.filter(|(_, stamp)| *stamp == FileStamp::of(history));
        let read = match unchanged {
            Some((store, _)) => Ok(store),
            None => TimingStore::load(history),
        };
        return match read {
            Ok(mut store) => {
                store.record_run(run_record(report));
                write_store(history, &store)?;
                Ok(Recorded::Folded {
                    history: history.to_path_buf(),
                    folded: 1,
                })
            }
            Err(e @ (TimingsError::Corrupt { .. } | TimingsError::FutureVersion { .. })) => {
                let pending = pending_file(history, fingerprint, spec);
                write_store(&pending, &store_of(report))?;
                Ok(Recorded::KeptBeside {
                    warning: kept_warning(&e, &pending),
                    pending,
                })
            }
            Err(e) => Err(e),
        };
    }
    // Even a shard that measured nothing writes its (empty) file: the round needs every shard.
    let pending = pending_file(history, fingerprint, spec);
    write_store(&pending, &store_of(report))?;
    let missing: Vec<u32> = (1..=spec.total)
        .filter(|&k| {
            let other = ShardSpec {
                index: k,
                total: spec.total,
            };
            !pending_file(history, fingerprint, other).exists()
        })
        .collect();
    if !missing.is_empty() {
        return Ok(Recorded::Waiting { pending, missing });
    }
    match fold_locked(history) {
        Ok(folded) => Ok(Recorded::Folded {
            history: history.to_path_buf(),
            folded,
        }),
        Err(e @ (TimingsError::Corrupt { .. } | TimingsError::FutureVersion { .. })) => {
            Ok(Recorded::KeptBeside {
                warning: kept_warning(&e, &pending),
                pending,
            })
        }
        Err(e) => Err(e),
    }
}

/// Folds pending shard durations into the history: only rounds whose every shard has
/// recorded, or all of them with `incomplete` (which changes the plan of a round under way).
/// Returns how many files were folded. The history is left untouched when it cannot be read.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let history = dir.path().join("timings.json");
/// assert_eq!(shardtest::rounds::fold(&history, false).unwrap(), 0);
/// ```
pub fn fold(history: &Path, incomplete: bool) -> Result<usize, TimingsError> {
    let _lock = FileLock::acquire(history)?;
    let files = pending_files(history)?;
    let chosen: Vec<&PendingFile> = files
        .iter()
        .filter(|f| incomplete || round_is_complete(&files, f))
        .collect();
    if chosen.is_empty() {
        return Ok(0);
    }
    fold_files(history, &chosen)
}

/// The shard timings files waiting beside `history`, sorted by name (empty when none).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// assert!(shardtest::rounds::pending_files_of(&dir.path().join("t.json")).is_empty());
/// ```
pub fn pending_files_of(history: &Path) -> Vec<PathBuf> {
    pending_files(history)
        .map(|fs| fs.into_iter().map(|f| f.path).collect())
        .unwrap_or_default()
}

/// What the pending directory holds: each file's round and shard.
#[derive(Clone, Debug)]
struct PendingFile {
    path: PathBuf,
    fingerprint: Fingerprint,
    spec: ShardSpec,
}

fn pending_files(history: &Path) -> Result<Vec<PendingFile>, TimingsError> {
    let dir = pending_dir(history);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(TimingsError::Io { path: dir, source }),
    };
    let mut files: Vec<PendingFile> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (fingerprint, spec) = parse_name(&name)?;
            Some(PendingFile {
                path: e.path(),
                fingerprint,
                spec,
            })
        })
        .collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `<fingerprint>-<K>-of-<N>.json` -> its parts.
fn parse_name(name: &str) -> Option<(Fingerprint, ShardSpec)> {
    let stem = name.strip_suffix(".json")?;
    let (rest, total) = stem.rsplit_once("-of-")?;
    let (fingerprint, index) = rest.rsplit_once('-')?;
    let spec = ShardSpec::new(index.parse().ok()?, total.parse().ok()?).ok()?;
    Some((Fingerprint::from(fingerprint), spec))
}

fn round_is_complete(files: &[PendingFile], f: &PendingFile) -> bool {
    (1..=f.spec.total).all(|k| {
        files.iter().any(|o| {
            o.fingerprint == f.fingerprint && o.spec.total == f.spec.total && o.spec.index == k
        })
    })
}

/// Every pending file into the history, under the lock the caller holds.
fn fold_locked(history: &Path) -> Result<usize, TimingsError> {
    let files = pending_files(history)?;
    fold_files(history, &files.iter().collect::<Vec<_>>())
}

/// Merges `files` into the history and deletes them, under the lock the caller holds; a
/// file that cannot be read is left where it is, with a warning. Returns how many were folded.
fn fold_files(history: &Path, files: &[&PendingFile]) -> Result<usize, TimingsError> {
    let mut store = TimingStore::load(history)?;
    let mut done = Vec::new();
    for f in files {
        match TimingStore::load(&f.path) {
            Ok(s) => {
                store.merge(&s);
                done.push(&f.path);
            }
            Err(e) => say!("warning: left {} as it is: {e}", f.path.display()),
        }
    }
    write_store(history, &store)?;
    for p in &done {
        let _ = std::fs::remove_file(p);
    }
    Ok(done.len())
}

/// The default history lives in `<workspace>/.shardtest/`, which holds only machine-local
/// state: a `.gitignore` inside it (as pytest's cache has) keeps it out of commits. A team
/// that wants to commit its history passes `--timings` with a path of its choosing.
fn ignore_default_dir(history: &Path) {
    let Some(dir) = history.parent() else {
        return;
    };
    if dir.file_name().is_some_and(|n| n == ".shardtest") {
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            let _ = write_atomic(
                &ignore,
                b"# Written by cargo-shardtest: timings history and run state, local to this machine.\n# Cache it in CI (see the README); pass --timings PATH to keep a history you commit.\n*\n",
            );
        }
    }
}

fn store_of(report: &JsonReport) -> TimingStore {
    let mut s = TimingStore::default();
    s.record_run(run_record(report));
    s
}

fn write_store(path: &Path, store: &TimingStore) -> Result<(), TimingsError> {
    write_atomic(path, store.to_json().as_bytes()).map_err(|source| TimingsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn kept_warning(e: &TimingsError, pending: &Path) -> String {
    format!(
        "{e}. The file was left as it is; this run's durations were written to {} instead (`cargo shardtest timings merge` folds them in once the history can be read)",
        pending.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let spec = ShardSpec::new(3, 12).unwrap();
        let f = pending_file(Path::new("h.json"), &"0123abcd".into(), spec);
        let name = f.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_name(name), Some(("0123abcd".into(), spec)));
        assert_eq!(parse_name("junk.json"), None);
        assert_eq!(parse_name("fp-0-of-2.json"), None);
    }
}
