//! `cargo shardtest timeline report-*.json -o timeline.html [--trace trace.json]`.

use crate::app::UsageError;
use crate::cli;
use crate::report::{merge, timeline};
use anyhow::Context;
use std::path::PathBuf;

/// Draw where a run's wall time went: one lane per worker of each shard, each test a bar
/// coloured by outcome, predicted vs actual shard ends.
#[derive(Debug, Clone, clap::Args)]
pub struct TimelineArgs {
    /// JSON reports of the run's shards (from `run --json`).
    #[arg(value_name = "REPORT", required = true)]
    pub reports: Vec<PathBuf>,
    /// Write the self-contained HTML timeline here.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also (or only) write Chrome trace-event JSON here (open it in Perfetto or chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// Runs `timeline`.
///
/// ```no_run
/// use shardtest::commands::timeline::{run, TimelineArgs};
/// run(TimelineArgs { reports: vec!["r.json".into()], output: Some("t.html".into()), trace: None })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: TimelineArgs) -> anyhow::Result<u8> {
    if args.output.is_none() && args.trace.is_none() {
        return Err(UsageError(
            "nothing to write: give `-o timeline.html` and/or `--trace trace.json`".into(),
        )
        .into());
    }
    let mut reports = Vec::new();
    let mut labels = Vec::new();
    for p in &args.reports {
        reports.push(merge::load(p).map_err(|e| UsageError(e.to_string()))?);
        labels.push(
            p.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| p.display().to_string()),
        );
    }
    if let Some(out) = &args.output {
        let page = timeline::html(&reports, &labels);
        crate::fsutil::write_atomic(out, page.as_bytes())
            .with_context(|| format!("writing the timeline to {}", out.display()))?;
        eprintln!("    Wrote the timeline to {}", out.display());
    }
    if let Some(out) = &args.trace {
        let trace = timeline::chrome_trace(&reports, &labels);
        let bytes = serde_json::to_vec(&trace).context("encoding the trace")?;
        crate::fsutil::write_atomic(out, &bytes)
            .with_context(|| format!("writing the trace to {}", out.display()))?;
        eprintln!(
            "    Wrote the Chrome trace to {} (open it in Perfetto)",
            out.display()
        );
    }
    Ok(cli::EXIT_OK)
}
