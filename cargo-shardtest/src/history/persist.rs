//! The history on disk: loading a store (a missing file is an empty store; an unreadable one
//! an error, or with [`TimingStore::load_or_fallback`] an empty store and a warning), saving
//! it atomically under an exclusive [`FileLock`] on `<path>.lock`, and read-merge-write
//! updates that never lose another process's samples ([`FileStamp`] tells whether the file
//! changed since it was read).

use crate::fsutil::write_atomic;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::TimingsError;
use super::store::TimingStore;

/// What a file looked like when it was read: its length and modification time. Recording
/// compares it under the lock to tell whether another process wrote the file meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl FileStamp {
    /// The stamp of `path` now (`None` when it does not exist).
    ///
    /// ```
    /// # use shardtest::history::FileStamp;
    /// assert!(FileStamp::of(std::path::Path::new("/no/such/file")).is_none());
    /// ```
    pub fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            len: m.len(),
            modified: m.modified().ok(),
        })
    }
}

impl TimingStore {
    /// Loads a store; a missing file is an empty store.
    ///
    /// ```
    /// # use shardtest::history::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let s = TimingStore::load(&dir.path().join("none.json")).unwrap();
    /// assert!(s.tests.is_empty());
    /// ```
    pub fn load(path: &Path) -> Result<TimingStore, TimingsError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|e| TimingsError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("not UTF-8: {e}"),
                })?;
                Self::parse(&text, path)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TimingStore::default()),
            Err(source) => Err(TimingsError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Loads a store, or falls back to an empty one with a warning (the same text in every
    /// shard: it depends only on the path and the problem).
    ///
    /// ```
    /// # use shardtest::history::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// std::fs::write(&p, "{\"version\": 1, \"tests\": {").unwrap();
    /// let (store, warning) = TimingStore::load_or_fallback(&p);
    /// assert!(store.tests.is_empty());
    /// assert!(warning.unwrap().contains("t.json"));
    /// ```
    pub fn load_or_fallback(path: &Path) -> (TimingStore, Option<String>) {
        match Self::load(path) {
            Ok(s) => (s, None),
            Err(e) => (
                TimingStore::default(),
                Some(format!(
                    "{e}. Planning from estimates instead (every shard does the same)."
                )),
            ),
        }
    }

    /// Writes the store to `path` atomically under the lock, replacing its content.
    ///
    /// ```
    /// # use shardtest::history::TimingStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// TimingStore::default().save(&p).unwrap();
    /// assert_eq!(TimingStore::load(&p).unwrap(), TimingStore::default());
    /// ```
    pub fn save(&self, path: &Path) -> Result<(), TimingsError> {
        let _lock = FileLock::acquire(path)?;
        write_atomic(path, self.to_json().as_bytes()).map_err(|source| TimingsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Load-merge-save under the lock: re-reads `path`, merges `self` into it and writes the
    /// result atomically, so concurrent writers never lose samples. A corrupt or
    /// future-version file on disk is never replaced: its problem is returned as the error.
    /// Returns the merged store (and no warning: the slot is kept for callers).
    ///
    /// ```
    /// # use shardtest::history::*;
    /// # use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// let mk = |run: &str, test: &str| {
    ///     let mut s = TimingStore::default();
    ///     s.record(test.parse().unwrap(), Sample { run: RunStamp { id: run.into(), at_unix_ms: 0 },
    ///         duration: Duration::from_millis(1), status: SampleStatus::Passed, workers: 1,
    ///         attributes: Default::default() });
    ///     s
    /// };
    /// mk("r1", "p a").save_merged(&p).unwrap();
    /// mk("r2", "p b").save_merged(&p).unwrap();
    /// assert_eq!(TimingStore::load(&p).unwrap().tests.len(), 2);
    /// ```
    pub fn save_merged(&self, path: &Path) -> Result<(TimingStore, Option<String>), TimingsError> {
        let (merged, (), warning) = Self::update_file(path, None, |on_disk| on_disk.merge(self))?;
        Ok((merged, warning))
    }

    /// Read-update-write under the lock, as [`TimingStore::save_merged`] does, with any
    /// update (`merge`, `record_run`, ...). When the file is still as it was when `loaded`
    /// was read from it (same [`FileStamp`]), `update` is applied to `loaded` instead of to a
    /// fresh parse of the file: on a big history that parse is most of the cost of recording.
    /// A corrupt or future-version file is left as it is and its problem returned as the
    /// error. Returns the written store, what `update` returned and a warning slot.
    ///
    /// ```
    /// # use shardtest::history::*;
    /// # use std::time::Duration;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("t.json");
    /// let stamp = FileStamp::of(&path);
    /// let loaded = TimingStore::load(&path).unwrap();
    /// let (written, tests, _) = TimingStore::update_file(&path, Some((loaded, stamp)), |store| {
    ///     store.record("p t".parse().unwrap(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 0 },
    ///         duration: Duration::from_millis(1), status: SampleStatus::Passed, workers: 1,
    ///         attributes: Default::default() });
    ///     store.tests.len()
    /// }).unwrap();
    /// assert_eq!(tests, 1);
    /// assert_eq!(TimingStore::load(&path).unwrap(), written);
    /// ```
    pub fn update_file<T>(
        path: &Path,
        loaded: Option<(TimingStore, Option<FileStamp>)>,
        update: impl FnOnce(&mut TimingStore) -> T,
    ) -> Result<(TimingStore, T, Option<String>), TimingsError> {
        let _lock = FileLock::acquire(path)?;
        let unchanged = loaded.filter(|(_, stamp)| *stamp == FileStamp::of(path));
        let read = match unchanged {
            Some((store, _)) => Ok(store),
            None => Self::load(path),
        };
        // A file that cannot be read is never replaced: the error goes to the caller.
        let (mut store, warning) = (read?, None);
        let result = update(&mut store);
        write_atomic(path, store.to_json().as_bytes()).map_err(|source| TimingsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok((store, result, warning))
    }
}

/// An exclusive OS lock on `<path>.lock`, released on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Blocks until the lock on `<path>.lock` is held (creating the directory and lock file).
    ///
    /// ```
    /// # use shardtest::history::FileLock;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("t.json");
    /// let lock = FileLock::acquire(&p).unwrap();
    /// drop(lock);
    /// ```
    pub fn acquire(path: &Path) -> Result<FileLock, TimingsError> {
        let mut name = path.as_os_str().to_os_string();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let io = |source| TimingsError::Io {
            path: lock_path.clone(),
            source,
        };
        if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io)?;
        file.lock().map_err(io)?;
        Ok(FileLock { file })
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::{id, sample};

    #[test]
    fn recording_onto_a_loaded_store_notices_a_write_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        let mut first = TimingStore::default();
        first.record(id("p a"), sample("r1", 1, 10));
        first.save(&path).unwrap();
        let stamp = FileStamp::of(&path);
        let loaded = TimingStore::load(&path).unwrap();
        // Another job writes the file after we read it (a different length, so a different stamp).
        let mut other = TimingStore::default();
        other.record(id("p other-job-test"), sample("r2", 2, 20));
        other.save_merged(&path).unwrap();
        let mut mine = TimingStore::default();
        mine.record(id("p b"), sample("r3", 3, 30));
        let (merged, (), _) =
            TimingStore::update_file(&path, Some((loaded, stamp)), |s| s.merge(&mine)).unwrap();
        for t in ["p a", "p other-job-test", "p b"] {
            assert!(merged.stats(&id(t)).is_some(), "{t} lost");
        }
        assert_eq!(TimingStore::load(&path).unwrap(), merged);
    }

    #[test]
    fn truncated_and_future_files_are_typed_errors_with_a_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("timings.json");
        let mut s = TimingStore::default();
        s.record(id("p t"), sample("r", 0, 5));
        s.save(&p).unwrap();
        let full = std::fs::read(&p).unwrap();
        for cut in [1, full.len() / 2, full.len() - 3] {
            std::fs::write(&p, &full[..cut]).unwrap();
            let err = TimingStore::load(&p).unwrap_err();
            assert!(matches!(err, TimingsError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("delete it"));
        }
        std::fs::write(&p, r#"{"version": 7, "tests": {}, "new": true}"#).unwrap();
        let (store, warning) = TimingStore::load_or_fallback(&p);
        assert!(store.tests.is_empty());
        let w = warning.unwrap();
        assert!(w.contains("version 7") && w.contains("timings.json"), "{w}");
        assert_eq!(Some(w), TimingStore::load_or_fallback(&p).1);
    }

    #[test]
    fn concurrent_save_merged_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        std::thread::scope(|scope| {
            for k in 0..4 {
                let p = &p;
                scope.spawn(move || {
                    for i in 0..5 {
                        let mut s = TimingStore::default();
                        s.record(id(&format!("p t{k}_{i}")), sample(&format!("r{k}"), 0, 1));
                        s.save_merged(p).unwrap();
                    }
                });
            }
        });
        assert_eq!(TimingStore::load(&p).unwrap().tests.len(), 20);
    }
}
