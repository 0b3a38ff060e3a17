//! What every process started for tests gets from the configuration layers (today only
//! `SHARDTEST_LOCK_DIR`, when the configuration file sets `lock-dir`): set once by the
//! command line's layers, read wherever a test process is spawned.

static TEST_ENV: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();

/// Sets what [`test_env`] returns for the rest of the process (the first call wins); the
/// command line's layers call it once they are read.
pub fn set_test_env(vars: Vec<(&'static str, String)>) {
    let _ = TEST_ENV.set(vars);
}

/// Variables every process started for tests gets from the configuration file (only
/// `SHARDTEST_LOCK_DIR`, and only when the file sets `lock-dir` and the environment does
/// not): the test-side library reads them from its environment.
///
/// ```
/// let mut cmd = std::process::Command::new("true");
/// cmd.envs(shardtest::test_env::test_env().iter().map(|(k, v)| (k, v)));
/// ```
pub fn test_env() -> &'static [(&'static str, String)] {
    TEST_ENV.get().map_or(&[], Vec::as_slice)
}
