//! `cargo shardtest clean`: removes the runs' artifact directories and, when asked, the
//! timings history with its pending shard durations.

use crate::cli;
pub use crate::cli::clean::CleanArgs;
use crate::console::say;
use anyhow::Context;
use std::path::PathBuf;

/// Runs `clean`.
///
/// ```no_run
/// use shardtest::commands::clean::{run, CleanArgs};
/// run(CleanArgs { manifest_path: None, target_dir: None, timings: None })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: CleanArgs) -> anyhow::Result<u8> {
    let (root, target) = match &args.target_dir {
        Some(t) => (
            crate::discover::workspace_dirs(args.manifest_path.as_deref())
                .map(|d| d.0)
                .unwrap_or_else(|_| PathBuf::from(".")),
            t.clone(),
        ),
        None => crate::discover::workspace_dirs(args.manifest_path.as_deref())
            .map_err(|e| crate::exit::UsageError(e.to_string()))?,
    };
    let runs = crate::runs_dir::runs_dir(&target);
    let freed =
        crate::runs_dir::clean(&runs).with_context(|| format!("removing {}", runs.display()))?;
    say!(
        "     Removed {} ({:.1} MB)",
        runs.display(),
        freed as f64 / 1e6
    );
    if let Some(flag) = args.timings {
        let flag = (!flag.as_os_str().is_empty()).then_some(flag);
        let history = crate::pipeline::timings_path(flag.as_deref(), &root);
        let pending = crate::rounds::pending_dir(&history);
        for p in [&history, &pending] {
            let result = if p.is_dir() {
                std::fs::remove_dir_all(p)
            } else {
                std::fs::remove_file(p)
            };
            match result {
                Ok(()) => say!("     Removed {}", p.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
            }
        }
    }
    Ok(cli::EXIT_OK)
}
