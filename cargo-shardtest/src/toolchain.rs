//! The tools shardtest calls: which `cargo` to run.

/// The cargo executable: `$CARGO` (set when run as `cargo shardtest`), else `cargo`.
///
/// ```
/// let cargo = shardtest::toolchain::cargo_command();
/// assert!(!cargo.is_empty());
/// ```
pub fn cargo_command() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string())
}
