//! The kinds of configuration the audit compares ([`ConfigKind`]): how many workers, which
//! start order, one process per test or many tests per process, and the two kinds of search
//! runs. Repeats and replays of one kind count as identical configurations.

use serde::Serialize;

/// A kind of configuration the audit compares. Repeats and replays of one kind count as
/// identical configurations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigKind {
    /// The full run at `-j max`, one process per test, declared order (also the baseline).
    Parallel,
    /// The full run at `-j 1`, declared order.
    Serial,
    /// The full run at `-j 1`, reversed order.
    Reversed,
    /// The full run at `-j 1`, shuffled with the audit's seed.
    Shuffled,
    /// The full run at `-j 1`, many tests per process (`--isolation batch`).
    Batched,
    /// One test on its own at `-j 1`, repeated.
    Alone,
    /// Every binary's tests as threads of one process, libtest's default thread count: the
    /// way `cargo test` runs them.
    InProcess,
    /// Every binary's tests in one process, `--test-threads 1` (libtest's name order).
    InProcessSerial,
    /// Every binary's tests in one process, `--test-threads 1`, in libtest's shuffled order
    /// (`-Z unstable-options --shuffle-seed`: nightly-built test binaries only).
    InProcessShuffled,
    /// The full run at `-j 1` batched, the batches cut from the reversed order (the stable
    /// stand-in for an in-process shuffle: libtest runs a batch in name order).
    BatchedReversed,
    /// A search trial: the suspect beside one candidate (not tallied).
    Pair,
    /// A search trial: the suspect after a subset of the tests that ran before it (not
    /// tallied).
    Bisect,
}

impl ConfigKind {
    /// The kinds that run every test at `-j 1` in one process each (they differ by order).
    pub const SERIAL_ORDERS: [ConfigKind; 3] = [
        ConfigKind::Serial,
        ConfigKind::Reversed,
        ConfigKind::Shuffled,
    ];

    /// The kinds that run many tests in one process.
    pub const IN_PROCESS: [ConfigKind; 5] = [
        ConfigKind::Batched,
        ConfigKind::BatchedReversed,
        ConfigKind::InProcess,
        ConfigKind::InProcessSerial,
        ConfigKind::InProcessShuffled,
    ];

    /// The kinds that give every test its own process.
    pub const OWN_PROCESS: [ConfigKind; 5] = [
        ConfigKind::Parallel,
        ConfigKind::Serial,
        ConfigKind::Reversed,
        ConfigKind::Shuffled,
        ConfigKind::Alone,
    ];

    /// Runs the binaries directly (not through the runner's scheduler).
    pub(super) fn is_direct(self) -> bool {
        matches!(
            self,
            ConfigKind::InProcess | ConfigKind::InProcessSerial | ConfigKind::InProcessShuffled
        )
    }

    /// A short human description, e.g. `-j1 reversed`.
    ///
    /// ```
    /// use shardtest::audit::ConfigKind;
    /// assert_eq!(ConfigKind::Parallel.describe(8, 0), "-j8");
    /// assert_eq!(ConfigKind::Shuffled.describe(8, 42), "-j1 shuffled (seed 42)");
    /// ```
    pub fn describe(self, max_workers: u32, seed: u64) -> String {
        match self {
            ConfigKind::Parallel => format!("-j{max_workers}"),
            ConfigKind::Serial => "-j1 declared order".into(),
            ConfigKind::Reversed => "-j1 reversed".into(),
            ConfigKind::Shuffled => format!("-j1 shuffled (seed {seed})"),
            ConfigKind::Batched => "-j1 batched".into(),
            ConfigKind::Alone => "alone".into(),
            ConfigKind::InProcess => "in-process, default threads (cargo test)".into(),
            ConfigKind::InProcessSerial => "in-process, --test-threads 1".into(),
            ConfigKind::InProcessShuffled => format!("in-process shuffled (seed {seed})"),
            ConfigKind::BatchedReversed => "-j1 batched, reversed batches".into(),
            ConfigKind::Pair => "pair".into(),
            ConfigKind::Bisect => "bisect".into(),
        }
    }
}
