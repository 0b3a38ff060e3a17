//! The errors of the audit itself ([`AuditError`]), as opposed to the failures of the tests
//! it runs, which are findings.

/// Errors of the audit itself (not of the tests).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A configuration's run directory could not be prepared.
    #[error("preparing the run directory {path}: {source}")]
    RunDir {
        /// The directory.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}
