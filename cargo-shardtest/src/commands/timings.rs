//! `cargo shardtest timings merge|import|show`: combine the timings files of a CI matrix's
//! jobs, start a history from JUnit XML (nextest's, cargo2junit's), and look at it.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`, `#[ignore]`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

use crate::cli;
pub use crate::cli::timings::{TimingsArgs, TimingsCommand};
use crate::console::say;
use crate::exit::UsageError;
use crate::history::TimingStore;
use crate::history::flakiness::{FlakyTable, flakiness_table};
use anyhow::Context;
use std::path::{Path, PathBuf};

fn default_path(flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| PathBuf::from(".shardtest").join("timings.json"))
}

/// Runs `timings`.
///
/// ```no_run
/// use shardtest::commands::timings::*;
/// run(TimingsArgs { command: TimingsCommand::Merge {
///     files: vec!["a.json".into(), "b.json".into()], output: Some("all.json".into()),
///     timings: None, incomplete: false } })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: TimingsArgs) -> anyhow::Result<u8> {
    match args.command {
        TimingsCommand::Merge {
            files,
            output,
            timings,
            incomplete,
        } => match output.filter(|_| !files.is_empty()) {
            Some(output) => merge(&files, &output)?,
            None => fold_rounds(timings, incomplete)?,
        },
        TimingsCommand::Import { files, timings } => import(&files, timings)?,
        TimingsCommand::Show {
            timings,
            top,
            flaky,
        } => show(timings, top, flaky)?,
    }
    Ok(cli::EXIT_OK)
}

/// `timings merge` without files: folds the shard timings files of complete rounds (all of
/// them with `incomplete`) into the history.
fn fold_rounds(timings: Option<PathBuf>, incomplete: bool) -> anyhow::Result<()> {
    let path = default_path(timings);
    let folded = crate::rounds::fold(&path, incomplete).map_err(|e| UsageError(e.to_string()))?;
    let pending = crate::rounds::pending_dir(&path);
    let left = std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0);
    say!(
        "folded {folded} shard timings files into {}{}",
        path.display(),
        if left > 0 {
            format!(
                "; {left} files of incomplete rounds wait in {} (`--incomplete` folds them too)",
                pending.display()
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// `timings merge FILES -o OUTPUT`: merges the jobs' timings files (and the durations waiting
/// beside them) into `output`.
fn merge(files: &[PathBuf], output: &Path) -> anyhow::Result<()> {
    let mut stores = Vec::new();
    for f in files {
        // A job's history copy comes with the durations its shard measured, which wait
        // beside it in `<file>.pending/` (the copy itself is what the shard planned from).
        let pending = crate::rounds::pending_files_of(f);
        if !f.exists() && pending.is_empty() {
            return Err(UsageError(format!(
                "timings file {} does not exist (nor {})",
                f.display(),
                crate::rounds::pending_dir(f).display()
            ))
            .into());
        }
        for p in std::iter::once(f.clone()).chain(pending) {
            if !p.exists() {
                continue;
            }
            match TimingStore::load(&p) {
                Ok(s) => stores.push(s),
                Err(e) => say!("warning: skipping {}: {e}", p.display()),
            }
        }
    }
    let merged = TimingStore::merge_all(stores.iter());
    merged
        .save(output)
        .with_context(|| format!("writing the merged timings to {}", output.display()))?;
    say!(
        "merged {} of {} timings files into {} ({} tests)",
        stores.len(),
        files.len(),
        output.display(),
        merged.summary(None, 0).tests_with_history
    );
    Ok(())
}

/// `timings import FILES`: adds the durations of JUnit XML files to the history.
fn import(files: &[PathBuf], timings: Option<PathBuf>) -> anyhow::Result<()> {
    let path = default_path(timings);
    let mut fresh = TimingStore::default();
    for f in files {
        let xml = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let at = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as u64);
        let summary = fresh
            .import_junit(&xml, None, at)
            .map_err(|e| UsageError(format!("{}: {e}", f.display())))?;
        say!("{}: {summary}", f.display());
    }
    let (_, warning) = fresh
        .save_merged(&path)
        .with_context(|| format!("adding the imported durations to {}", path.display()))?;
    if let Some(w) = warning {
        say!("warning: {w}");
    }
    Ok(())
}

/// `timings show`: the history's summary (its `top` slowest tests), or with `flaky` its
/// flakiness table.
fn show(timings: Option<PathBuf>, top: usize, flaky: bool) -> anyhow::Result<()> {
    let path = default_path(timings);
    let store =
        TimingStore::load(&path).map_err(|e| UsageError(format!("{}: {e}", path.display())))?;
    if flaky {
        println!("{}", FlakyTable(flakiness_table(&store)));
    } else {
        println!("{}", store.summary(None, top));
    }
    Ok(())
}
