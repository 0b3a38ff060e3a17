//! Cross-process locks in one directory shared by every test process of the machine.
//!
//! Everything that must hold across processes (serial tests, group limits, ports, worker
//! slots) is an OS file lock (std's [`File::lock`]) on a file in [`lock_dir`]. The OS drops a
//! lock when its process dies, so a crashed or killed test never leaves a lock stuck; the
//! files themselves are never deleted (deleting a lock file races with a waiter).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// Environment variable that overrides the lock directory (all cooperating processes must
/// agree on it; the default is shared by every user-level process on the machine).
pub const LOCK_DIR_ENV: &str = shardtest_protocol::env::LOCK_DIR;

/// The lock directory: `$SHARDTEST_LOCK_DIR`, else `<tmp>/shardtest-locks-<uid>`.
///
/// ```
/// let dir = shard::lockdir::lock_dir();
/// assert!(dir.is_absolute() || std::env::var_os("SHARDTEST_LOCK_DIR").is_some());
/// ```
pub fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(LOCK_DIR_ENV) {
        return PathBuf::from(dir);
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    std::env::temp_dir().join(format!("shardtest-locks-{uid}"))
}

/// An exclusive lock held on a file of the lock directory; released on drop (or when the
/// process dies).
#[derive(Debug)]
pub struct HeldLock {
    file: File,
    path: PathBuf,
}

impl HeldLock {
    /// The lock file's path.
    ///
    /// ```
    /// let l = shard::lockdir::lock("doc-example-path").unwrap();
    /// assert!(l.path().ends_with("doc-example-path.lock"));
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

fn open(name: &str) -> io::Result<(File, PathBuf)> {
    let path = lock_dir().join(format!("{name}.lock"));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)?;
    Ok((file, path))
}

/// Blocks until the named lock is held. `name` may contain `/` to form sub-directories.
///
/// ```
/// let a = shard::lockdir::lock("doc-example-a").unwrap();
/// assert!(shard::lockdir::try_lock("doc-example-a").unwrap().is_none() || cfg!(not(unix)));
/// drop(a);
/// ```
pub fn lock(name: &str) -> io::Result<HeldLock> {
    let (file, path) = open(name)?;
    file.lock()?;
    Ok(HeldLock { file, path })
}

/// Takes the named lock if it is free right now.
///
/// ```
/// let l = shard::lockdir::try_lock("doc-example-b").unwrap();
/// assert!(l.is_some());
/// ```
pub fn try_lock(name: &str) -> io::Result<Option<HeldLock>> {
    let (file, path) = open(name)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(HeldLock { file, path })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Takes the named lock in shared mode if no process holds it exclusively right now. Any
/// number of shared holders may coexist; an exclusive [`try_lock`] fails while one exists.
///
/// ```
/// let a = shard::lockdir::try_lock_shared("doc-example-shared").unwrap();
/// let b = shard::lockdir::try_lock_shared("doc-example-shared").unwrap();
/// assert!(a.is_some() && b.is_some());
/// assert!(shard::lockdir::try_lock("doc-example-shared").unwrap().is_none());
/// ```
pub fn try_lock_shared(name: &str) -> io::Result<Option<HeldLock>> {
    let (file, path) = open(name)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(HeldLock { file, path })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Whether some live process holds the named lock (shared or exclusive) right now. Only a
/// snapshot: the answer may change as soon as it is returned.
///
/// ```
/// let held = shard::lockdir::lock("doc-example-probe").unwrap();
/// assert!(shard::lockdir::is_held("doc-example-probe").unwrap());
/// drop(held);
/// assert!(!shard::lockdir::is_held("doc-example-probe").unwrap());
/// ```
pub fn is_held(name: &str) -> io::Result<bool> {
    Ok(try_lock(name)?.is_none())
}

/// Takes one of `slots` slots of the named pool (a cross-process counting semaphore), waiting
/// until one is free. Returns the slot index and its lock.
///
/// ```
/// let (i, _held) = shard::lockdir::acquire_slot("doc-example-pool", 2).unwrap();
/// assert!(i < 2);
/// ```
pub fn acquire_slot(pool: &str, slots: u32) -> io::Result<(u32, HeldLock)> {
    let slots = slots.max(1);
    let mut wait = Duration::from_millis(1);
    loop {
        for i in 0..slots {
            if let Some(l) = try_lock(&format!("{pool}/{i}"))? {
                return Ok((i, l));
            }
        }
        // Every slot is held by a live process; poll again shortly (bounded back-off).
        thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(20));
    }
}

/// Takes the lowest free slot of an unbounded pool (for ids that must be unique among the
/// processes alive right now, like a worker slot under plain `cargo test`).
///
/// ```
/// let (i, _held) = shard::lockdir::first_free_slot("doc-example-unbounded").unwrap();
/// let (j, _held2) = shard::lockdir::first_free_slot("doc-example-unbounded").unwrap();
/// assert_ne!(i, j);
/// ```
pub fn first_free_slot(pool: &str) -> io::Result<(u32, HeldLock)> {
    let mut i = 0u32;
    loop {
        if let Some(l) = try_lock(&format!("{pool}/{i}"))? {
            return Ok((i, l));
        }
        i += 1;
    }
}
