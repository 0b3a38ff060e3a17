//! `cargo shardtest verify report-*.json`: proves a CI matrix ran every planned test exactly
//! once, from one plan.

use crate::cli;
pub use crate::cli::verify::VerifyArgs;
use crate::console::say;
use anyhow::Context;

/// Exit status of `verify` when the reports do not prove an exactly-once run.
pub const EXIT_VERIFY_FAILED: u8 = 1;

/// Runs `verify`: 0 when all reports share one plan fingerprint and together ran each planned
/// test exactly once; 1 otherwise, naming the differing reports and the missing or doubled
/// tests; 2 when a report cannot be read.
///
/// ```no_run
/// use shardtest::commands::verify::*;
/// let code = run(VerifyArgs { reports: vec!["report-1.json".into(), "report-2.json".into()] })?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: VerifyArgs) -> anyhow::Result<u8> {
    let mut reports = Vec::new();
    for p in &args.reports {
        let r = crate::report::merge::load(p)
            .map_err(|e| crate::exit::UsageError(e.to_string()))
            .with_context(|| format!("reading {}", p.display()))?;
        reports.push((p.display().to_string(), r));
    }
    let labelled: Vec<(String, &crate::report::json::JsonReport)> =
        reports.iter().map(|(l, r)| (l.clone(), r)).collect();
    match crate::verify::verify_labelled(&labelled) {
        Ok(summary) => {
            println!("{summary}");
            Ok(cli::EXIT_OK)
        }
        Err(e) => {
            say!("verify failed: {e}");
            Ok(EXIT_VERIFY_FAILED)
        }
    }
}
