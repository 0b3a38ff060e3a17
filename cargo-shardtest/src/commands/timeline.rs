//! `cargo shardtest timeline report-*.json -o timeline.html [--trace trace.json]`.

use crate::cli;
pub use crate::cli::timeline::TimelineArgs;
use crate::console::say;
use crate::exit::UsageError;
use crate::report::{merge, timeline};
use anyhow::Context;

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
        say!("    Wrote the timeline to {}", out.display());
    }
    if let Some(out) = &args.trace {
        let trace = timeline::chrome_trace(&reports, &labels);
        let bytes = serde_json::to_vec(&trace).context("encoding the trace")?;
        crate::fsutil::write_atomic(out, &bytes)
            .with_context(|| format!("writing the trace to {}", out.display()))?;
        say!(
            "    Wrote the Chrome trace to {} (open it in Perfetto)",
            out.display()
        );
    }
    Ok(cli::EXIT_OK)
}
