//! Exit statuses: the one table of what `cargo shardtest` exits with.

use std::fmt;

/// How a `cargo shardtest` command ended, as its process exit status.
///
/// ```
/// use shardtest_protocol::exit::ExitStatus;
/// assert_eq!(ExitStatus::TestsFailed.code(), 100);
/// assert_eq!(ExitStatus::NoTests.code(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// Every test passed (a flaky test that passed on a retry counts as passed).
    Ok,
    /// `verify`: the reports do not prove an exactly-once run.
    NotExactlyOnce,
    /// Bad usage or bad input: a malformed flag, a missing or unreadable input file.
    Usage,
    /// The filters (or `--rerun-failed`) selected no test to run (`--no-tests` changes this).
    NoTests,
    /// The run could not be set up: an I/O error outside the user's inputs, cargo missing.
    Setup,
    /// At least one test failed, crashed or timed out.
    TestsFailed,
    /// The build failed, or a test binary could not be listed.
    BuildFailed,
    /// The tests ran, but a report the user asked for (JSON, JUnit) could not be written.
    OutputFailed,
    /// The shared queue (`--queue`) was unreachable past the retry window, or lost the run.
    QueueLost,
    /// Interrupted by Ctrl-C or SIGTERM; reports for what finished were written.
    Interrupted,
}

impl ExitStatus {
    /// Every status, in the order of the documented table.
    pub const ALL: [ExitStatus; 10] = [
        ExitStatus::Ok,
        ExitStatus::NotExactlyOnce,
        ExitStatus::Usage,
        ExitStatus::NoTests,
        ExitStatus::Setup,
        ExitStatus::TestsFailed,
        ExitStatus::BuildFailed,
        ExitStatus::QueueLost,
        ExitStatus::OutputFailed,
        ExitStatus::Interrupted,
    ];

    /// The process exit code.
    ///
    /// ```
    /// # use shardtest_protocol::exit::ExitStatus;
    /// assert_eq!(ExitStatus::Usage.code(), 2);
    /// ```
    pub const fn code(self) -> u8 {
        match self {
            ExitStatus::Ok => 0,
            ExitStatus::NotExactlyOnce => 1,
            ExitStatus::Usage => 2,
            ExitStatus::NoTests => 4,
            ExitStatus::Setup => 96,
            ExitStatus::TestsFailed => 100,
            ExitStatus::BuildFailed => 101,
            ExitStatus::OutputFailed => 110,
            ExitStatus::QueueLost => 105,
            ExitStatus::Interrupted => 130,
        }
    }

    /// One line of the documented table.
    ///
    /// ```
    /// # use shardtest_protocol::exit::ExitStatus;
    /// assert!(ExitStatus::OutputFailed.meaning().contains("JUnit"));
    /// ```
    pub const fn meaning(self) -> &'static str {
        match self {
            ExitStatus::Ok => {
                "every test passed (flaky-but-passed counts as passed; non-critical failures do not count)"
            }
            ExitStatus::NotExactlyOnce => {
                "`verify`: the reports do not prove that every test ran exactly once"
            }
            ExitStatus::Usage => {
                "bad usage or input (a malformed flag, a missing or unreadable file)"
            }
            ExitStatus::NoTests => {
                "no test to run: the filters selected nothing (`--no-tests=pass|warn` to allow it)"
            }
            ExitStatus::Setup => "the run could not be set up (an I/O error, cargo not found)",
            ExitStatus::TestsFailed => "at least one test failed, crashed or timed out",
            ExitStatus::BuildFailed => "the build failed, or a test binary could not be listed",
            ExitStatus::OutputFailed => {
                "the tests passed, but a JSON or JUnit report could not be written"
            }
            ExitStatus::QueueLost => {
                "the shared queue (--queue) was unreachable past its retry window, or lost the run"
            }
            ExitStatus::Interrupted => {
                "interrupted (Ctrl-C, SIGTERM): running tests were stopped, reports were written"
            }
        }
    }

    /// The table as `--help` shows it.
    pub fn help_table() -> String {
        let mut s = String::from("Exit status:\n");
        for st in Self::ALL {
            s.push_str(&format!("  {:>3}  {}\n", st.code(), st.meaning()));
        }
        s
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}
