//! `cargo shardtest report merge report-*.json --junit all.xml [--json all.json]` and
//! `cargo shardtest report html [--timings PATH] [report-*.json] -o health.html`.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags)]

use crate::cli;
pub use crate::cli::report::{HtmlArgs, MergeArgs, ReportArgs, ReportCommand};
use crate::console::say;
use crate::exit::UsageError;
use crate::report::{junit, merge};
use anyhow::Context;

/// Runs `report`.
///
/// Exit status: 0 merged and verified (failed tests do not change it: CI reads the JUnit),
/// 2 unreadable reports or reports that do not prove an exactly-once run (the merged files
/// are still written, so the failures can be published).
///
/// ```no_run
/// use shardtest::commands::report::*;
/// run(ReportArgs { command: ReportCommand::Merge(MergeArgs {
///     reports: vec!["report-1.json".into()], junit: Some("all.xml".into()), json: None, no_verify: false,
/// }) })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    match args.command {
        ReportCommand::Merge(m) => merge_command(m),
        ReportCommand::Html(h) => html_command(h),
    }
}

fn html_command(args: HtmlArgs) -> anyhow::Result<u8> {
    use crate::report::health;
    if !(args.slower_ratio.is_finite() && args.slower_ratio >= 1.0) {
        return Err(UsageError(format!(
            "--slower-ratio {} is not a slowdown: give a ratio of at least 1, e.g. 1.5",
            args.slower_ratio
        ))
        .into());
    }
    // The workspace: where the default history lives, and which targets tests belong to.
    let metadata = health::owners::SourceIndex::from_cargo(args.manifest_path.as_deref());
    let (index, root) = match metadata {
        Ok((index, root)) => (Some(index), root),
        Err(e) => {
            if args.manifest_path.is_some() {
                return Err(UsageError(format!("cargo metadata failed: {e}")).into());
            }
            (
                None,
                std::env::current_dir().context("reading the current directory")?,
            )
        }
    };
    let timings = crate::pipeline::timings_path(args.timings.path(), &root);
    if !timings.exists() {
        return Err(UsageError(format!(
            "no timings history at {}: run the tests with `cargo shardtest` first, or give --timings PATH",
            timings.display()
        ))
        .into());
    }
    let store =
        crate::history::TimingStore::load(&timings).map_err(|e| UsageError(e.to_string()))?;
    let mut reports = Vec::new();
    for p in &args.reports {
        reports.push(health::data::load_report(p).map_err(|e| UsageError(e.to_string()))?);
    }
    let owners_file = match &args.owners {
        Some(p) if !p.is_file() => {
            return Err(UsageError(format!("--owners {}: no such file", p.display())).into());
        }
        Some(p) => Some(p.clone()),
        None => health::codeowners::find(&root).map(|(f, _)| f),
    };
    let owners = match owners_file {
        Some(f) => Some(
            health::TestOwners::load(&f, index.unwrap_or_default())
                .with_context(|| format!("reading {}", f.display()))?,
        ),
        None => None,
    };
    let options = health::HealthOptions {
        top: args.top,
        slower_ratio_percent: (args.slower_ratio * 100.0).round() as u32,
        ..Default::default()
    };
    let page = health::render(
        &store,
        &reports,
        owners.as_ref(),
        &options,
        &timings.display().to_string(),
    );
    crate::fsutil::write_atomic(&args.output, page.as_bytes())
        .with_context(|| format!("writing the health page to {}", args.output.display()))?;
    say!(
        "    Wrote the health page of {} tests to {} ({} KiB)",
        store.tests.len(),
        args.output.display(),
        page.len() / 1024
    );
    Ok(cli::EXIT_OK)
}

fn merge_command(args: MergeArgs) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    for p in &args.reports {
        reports.push(merge::load(p).map_err(|e| UsageError(e.to_string()))?);
    }
    let labelled: Vec<(String, &crate::report::json::JsonReport)> = args
        .reports
        .iter()
        .zip(&reports)
        .map(|(p, r)| (p.display().to_string(), r))
        .collect();
    let verified = crate::verify::verify_labelled(&labelled);
    let merged = merge::merge(&reports).context("no reports to merge")?;
    if let Some(path) = &args.junit {
        // With `--rerun-failed` reports, the merged report holds each test once with all its
        // attempts; otherwise each shard's report keeps its shard in the JUnit.
        let refs: Vec<_> = if reports.iter().any(|r| r.rerun_of.is_some()) {
            vec![&merged.report]
        } else {
            reports.iter().collect()
        };
        let mut xml = junit::from_reports(&refs);
        // Owners from the CODEOWNERS of the repository around the current directory.
        if let Some(o) = crate::report::health::owners::TestOwners::discover(None) {
            junit::add_owners(&mut xml, &crate::report::health::owners::lookup(o));
        }
        junit::write(&xml, path)
            .with_context(|| format!("writing the merged JUnit report to {}", path.display()))?;
    }
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&merged).context("encoding the merged report")?;
        crate::fsutil::write_atomic(path, &bytes)
            .with_context(|| format!("writing the merged JSON report to {}", path.display()))?;
    }
    let c = &merged.report.counts;
    say!(
        "    Merged {} reports: {} tests ({} passed, {} flaky, {} failed, {} non-critical failed, {} skipped, {} not run)",
        reports.len(),
        merged.report.tests.len(),
        c.passed,
        c.flaky,
        c.failed,
        c.failed_non_critical,
        c.skipped,
        c.not_run
    );
    match verified {
        Ok(summary) => {
            say!("    {summary}");
            Ok(cli::EXIT_OK)
        }
        Err(e) if args.no_verify => {
            say!("warning: {e}");
            Ok(cli::EXIT_OK)
        }
        Err(e) => Err(UsageError(e.to_string()).into()),
    }
}
