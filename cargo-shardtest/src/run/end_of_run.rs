//! What the test-side library asked to have done when the run ends.
//!
//! `shard::pg` creates PostgreSQL databases per run and worker. Under this runner the run's
//! end is known here, not in any test process, so a test binary that opened such a database
//! notes itself (its executable and the run id as the library sees it) in
//! `<lock dir>/pg-run/end-<run id>.exes`. When the run ends, each noted binary is started once
//! more with `SHARDTEST_PG_END_RUN=<run>`: the library's constructor drops that run's
//! databases and exits before any test runs. A run that is killed never gets here; the next
//! run's sweep drops its databases, as before.

use crate::console::say;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The library's environment variable that asks a test binary to drop a run's databases.
const END_RUN_ENV: &str = shardtest_protocol::env::PG_END_RUN;

/// The lock directory the test-side library uses: `$SHARDTEST_LOCK_DIR`, else the
/// configuration file's `lock-dir` (which the tests got), else `<tmp>/shardtest-locks-<uid>`
/// (the same rule as `shard::lockdir::lock_dir`).
fn lock_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(shardtest_protocol::env::LOCK_DIR) {
        return PathBuf::from(dir);
    }
    if let Some((_, dir)) = crate::test_env::test_env()
        .iter()
        .find(|(k, _)| *k == shardtest_protocol::env::LOCK_DIR)
    {
        return PathBuf::from(dir);
    }
    let uid = nix::unistd::getuid();
    std::env::temp_dir().join(format!("shardtest-locks-{uid}"))
}

/// Longest time one binary may take to drop its run's databases.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the end-of-run requests of run `run_id` (none for most runs: one file lookup).
pub(super) fn finish(run_id: &str) {
    let file = lock_dir().join("pg-run").join(format!("end-{run_id}.exes"));
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let requests: BTreeSet<(&str, &str)> =
        text.lines().filter_map(|l| l.split_once('\t')).collect();
    for (exe, run) in requests {
        let spawned = Command::new(exe)
            .envs(crate::test_env::test_env().iter().map(|(k, v)| (k, v)))
            .env(END_RUN_ENV, run)
            .env_remove(shardtest_protocol::env::RUN_ID)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let Ok(mut child) = spawned else {
            continue;
        };
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if start.elapsed() > LIMIT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    say!(
                        "warning: {exe} took more than {}s to drop this run's PostgreSQL databases; the next run's sweep will",
                        LIMIT.as_secs()
                    );
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }
    let _ = std::fs::remove_file(&file);
}
