//! `--rerun-failed`: the tests whose latest recorded outcome in earlier reports is a failure,
//! run again on their own.

use crate::cli::RunArgs;
use crate::console::say;
use crate::exit::UsageError;
use crate::id::Fingerprint;
use anyhow::Result;
use std::collections::BTreeMap;

/// The failed tests of earlier reports, for `--rerun-failed`.
pub(super) struct RerunSet {
    /// Tests whose latest recorded outcome is a failure.
    failed: std::collections::BTreeSet<crate::id::TestId>,
    /// Fingerprints of the original plans these reports ran.
    pub(super) fingerprints: Vec<Fingerprint>,
    /// How many reports were read.
    reports: usize,
}

/// Reads the reports of `--rerun-failed` and narrows `args` to the tests that failed in
/// them; `None`, said so, when they record no failed test (there is nothing to run).
pub(super) fn select_failed(args: &mut RunArgs) -> Result<Option<RerunSet>> {
    let set = load_rerun_set(&args.rerun_failed)?;
    if set.failed.is_empty() {
        say!(
            "    Nothing to rerun: the {} reports record no failed test",
            set.reports
        );
        return Ok(None);
    }
    say!(
        "    Rerunning the {} tests that failed in {} reports",
        set.failed.len(),
        set.reports
    );
    args.filter.only = Some(set.failed.clone());
    Ok(Some(set))
}

/// Reads the reports at `paths`: the tests whose latest outcome is a failure, and the plans
/// they ran.
fn load_rerun_set(paths: &[std::path::PathBuf]) -> Result<RerunSet> {
    let mut reports = Vec::new();
    for p in paths {
        reports.push(crate::report::merge::load(p).map_err(|e| UsageError(e.to_string()))?);
    }
    // Originals first, then earlier reruns in the order they ran: the latest outcome wins.
    reports.sort_by_key(|r| (r.rerun_of.is_some(), r.run.started_at));
    let mut latest: BTreeMap<crate::id::TestId, crate::event::TestStatus> = BTreeMap::new();
    let mut fingerprints = Vec::new();
    for r in &reports {
        let origins = match &r.rerun_of {
            Some(f) => f.clone(),
            None => vec![r.run.fingerprint.clone()],
        };
        for f in origins {
            if !fingerprints.contains(&f) {
                fingerprints.push(f);
            }
        }
        for t in &r.tests {
            latest.insert(t.id.clone(), t.status);
        }
    }
    let failed = latest
        .into_iter()
        .filter(|(_, s)| *s == crate::event::TestStatus::Failed)
        .map(|(id, _)| id)
        .collect();
    Ok(RerunSet {
        failed,
        fingerprints,
        reports: reports.len(),
    })
}
