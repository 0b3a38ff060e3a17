//! The errors of reading, writing or importing timings ([`TimingsError`]).

use std::path::PathBuf;

/// Errors of reading, writing or importing timings.
#[derive(Debug, thiserror::Error)]
pub enum TimingsError {
    /// The file could not be read, locked or written.
    #[error("timings file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid timings JSON (corrupt or truncated).
    #[error(
        "timings file `{path}` is corrupt or truncated ({message}); delete it (or restore it from the CI cache) and the next run writes a fresh one"
    )]
    Corrupt {
        /// The file (`<memory>` for text).
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The file was written by a newer shardtest.
    #[error(
        "timings file `{path}` has format version {found}, this cargo-shardtest reads version {supported}: update cargo-shardtest, or delete the file to start a new history"
    )]
    FutureVersion {
        /// The file.
        path: PathBuf,
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// A JUnit file could not be parsed.
    #[error("JUnit XML could not be read: {0}")]
    Junit(String),
}
