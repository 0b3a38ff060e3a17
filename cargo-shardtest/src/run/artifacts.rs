//! Per-test artifact directories whose names always fit the file system.
//!
//! A directory is named after the test (`<root>/shard-K-of-N/<binary>/<test>`), but file
//! names are limited (255 bytes on most Linux file systems) and test names are not: a name
//! longer than [`MAX_COMPONENT`] bytes is cut and ends in a hash of the whole name, and the
//! full test id is written to [`ID_FILE`] inside the directory.

use crate::id::TestId;
use std::path::{Path, PathBuf};

/// Longest directory name used for one id part (well under the usual 255-byte limit).
pub(super) const MAX_COMPONENT: usize = 120;

/// The file inside every kept artifact directory that holds the test's full id.
pub const ID_FILE: &str = "test-id.txt";

/// `clean` (the file-name-safe rendering of `original`) cut to fit, ending in a hash of
/// `original`.
pub(super) fn shortened(clean: &str, original: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(original.as_bytes());
    let hash: String = h[..8].iter().map(|b| format!("{b:02x}")).collect();
    // `clean` is ASCII, so any byte index is a char boundary.
    let keep = MAX_COMPONENT - hash.len() - 1;
    format!("{}-{hash}", &clean[..keep])
}

/// Creates a test's artifact directory and writes its full id into it; the directory when
/// that worked.
pub(super) fn prepare(dir: &Path, id: &TestId) -> Option<PathBuf> {
    std::fs::create_dir_all(dir).ok()?;
    let _ = std::fs::write(dir.join(ID_FILE), format!("{id}\n"));
    Some(dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use crate::run::RunnerConfig;
    use crate::shard::ShardSpec;

    #[test]
    fn a_long_name_is_cut_and_hashed() {
        let c = RunnerConfig::for_tests("/a".into(), ShardSpec::WHOLE);
        let long = "x".repeat(2000);
        let a = c.artifact_dir(&format!("pkg {long}").parse().unwrap());
        let b = c.artifact_dir(&format!("pkg {long}y").parse().unwrap());
        assert_ne!(a, b, "different names, different directories");
        for d in [&a, &b] {
            let last = d.file_name().unwrap().to_str().unwrap();
            assert_eq!(last.len(), super::MAX_COMPONENT, "{last}");
        }
    }
}
