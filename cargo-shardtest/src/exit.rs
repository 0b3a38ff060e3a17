//! Exit statuses: the one table of what `cargo shardtest` exits with, and the mapping from
//! the typed errors of the library to those statuses. `--help`, the README and this module
//! say the same thing (a unit test holds the help text to the table).

pub use shardtest_protocol::exit::ExitStatus;

/// Bad usage or input: the binary exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The build or listing failed: the binary exits with status 101.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BuildError(pub String);

/// An error that decides the exit status itself (no test selected, a report not written).
///
/// ```
/// use shardtest::exit::{ExitStatus, Failure, status_of};
/// let e = anyhow::Error::new(Failure::new(ExitStatus::NoTests, "no test matches `foo`"));
/// assert_eq!(status_of(&e), ExitStatus::NoTests);
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// The status the process exits with.
    pub status: ExitStatus,
    /// What happened, for the user.
    pub message: String,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// The exit status an error stands for: the first typed error in its chain decides; an error
/// of no known type is a setup failure (never "bad usage", which would send the user looking
/// for a typo).
///
/// ```
/// use shardtest::exit::{ExitStatus, status_of};
/// use shardtest::exit::UsageError;
/// let e = anyhow::Error::new(UsageError("bad".into())).context("reading flags");
/// assert_eq!(status_of(&e), ExitStatus::Usage);
/// let io = anyhow::anyhow!("disk full");
/// assert_eq!(status_of(&io), ExitStatus::Setup);
/// ```
pub fn status_of(error: &anyhow::Error) -> ExitStatus {
    for cause in error.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.status;
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return ExitStatus::Usage;
        }
        if cause.downcast_ref::<BuildError>().is_some() {
            return ExitStatus::BuildFailed;
        }
        if let Some(q) = cause.downcast_ref::<crate::queue::QueueError>() {
            return q.exit_status();
        }
        if cause.downcast_ref::<crate::config::ConfigError>().is_some() {
            return ExitStatus::Usage;
        }
    }
    ExitStatus::Setup
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let mut codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ExitStatus::ALL.len());
    }

    #[test]
    fn the_help_text_and_the_readme_carry_the_whole_table() {
        let help = crate::cli::after_help();
        let readme = include_str!("../../README.md");
        for st in ExitStatus::ALL {
            assert!(
                help.contains(&format!("{:>3}  {}", st.code(), st.meaning())),
                "--help lacks {st}"
            );
            assert!(
                readme.contains(&format!("| {} |", st.code())),
                "README's exit table lacks {st}"
            );
        }
    }
}
