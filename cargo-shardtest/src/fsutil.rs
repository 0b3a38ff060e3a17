//! File-system helpers shared by every writer of reports and timings.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
/// flushed to disk and renamed over `path`, so a reader sees the old file or the new one,
/// never half of one (a crash mid-write leaves at most a stray temporary file).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("sub/report.json");
/// shardtest::fsutil::write_atomic(&p, b"{}").unwrap();
/// assert_eq!(std::fs::read(&p).unwrap(), b"{}");
/// # #[cfg(unix)] {
/// use std::os::unix::fs::PermissionsExt;
/// assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o644);
/// # }
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".shardtest-tmp-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    // Temporary files are created owner-only; reports and timings are meant to be shared
    // (CI artifacts, caches), so give them the usual file mode.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
