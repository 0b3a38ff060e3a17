//! `verify`: proof from the shard reports alone that the N jobs together ran every planned
//! test exactly once.
//!
//! Checks, in order: every report carries the same plan fingerprint (otherwise the shards
//! planned different things and nothing else can be trusted); the shard specs agree on N and
//! no shard index is missing or reported twice; and the union of the tests the reports record
//! (any final status, skipped included) equals the planned test list, with no test recorded
//! twice. A test recorded as `not_run` (its shard was interrupted) does not count as run.

use crate::event::TestStatus;
use crate::id::{Fingerprint, TestId};
use crate::schema::JsonReport;
use std::collections::BTreeMap;
use std::fmt;

/// What a successful verification covered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifySummary {
    /// The common plan fingerprint.
    pub fingerprint: Fingerprint,
    /// Number of shards N.
    pub shards: u32,
    /// Number of planned tests, each recorded exactly once.
    pub tests: usize,
    /// Of them, how many were skipped (ignored).
    pub skipped: usize,
    /// Failed tests that `--rerun-failed` reports ran again, and how many of those passed.
    pub reran: Option<(usize, usize)>,
}

impl fmt::Display for VerifySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "verified: {} shards of plan {} together ran each of the {} planned tests exactly once ({} skipped as ignored)",
            self.shards, self.fingerprint, self.tests, self.skipped
        )?;
        if let Some((reran, passed)) = self.reran {
            write!(
                f,
                "; {reran} failed tests were run again by --rerun-failed, {passed} of them passed"
            )?;
        }
        Ok(())
    }
}

/// Coverage problems found by [`verify_reports`]; every list is sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverageProblems {
    /// Number of shards N.
    pub total: u32,
    /// Shard indexes (1-based) with no report.
    pub missing_shards: Vec<u32>,
    /// Shard indexes reported more than once, with the reports.
    pub duplicate_shards: Vec<(u32, Vec<String>)>,
    /// Planned tests no report recorded.
    pub missing_tests: Vec<TestId>,
    /// Tests recorded more than once, with the reports that recorded them.
    pub doubled_tests: Vec<(TestId, Vec<String>)>,
    /// Planned tests recorded only as not run (interrupted shard), with the report.
    pub not_run_tests: Vec<(TestId, String)>,
    /// Tests recorded that the plan does not contain.
    pub unplanned_tests: Vec<TestId>,
    /// Reports whose planned test list differs from the first report's.
    pub inconsistent_plans: Vec<String>,
}

/// Why the reports do not prove a complete run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Nothing to verify.
    #[error(
        "no shard reports given: pass every shard's JSON report, e.g. `cargo shardtest verify shard-*/report.json`"
    )]
    NoReports,
    /// The reports come from different plans.
    #[error("{}", fingerprint_message(.0))]
    FingerprintMismatch(Vec<(String, Vec<String>)>),
    /// The reports disagree on the number of shards.
    #[error("{}", totals_message(.0))]
    ShardTotalMismatch(Vec<(u32, Vec<String>)>),
    /// Shards or tests are missing or doubled.
    #[error("{0}")]
    Coverage(Box<CoverageProblems>),
    /// A `--rerun-failed` report does not belong to the reports given with it.
    #[error("{0}")]
    Rerun(String),
}

const SHOW: usize = 50;

fn list<T: fmt::Display>(items: impl Iterator<Item = T>, len: usize) -> String {
    let mut s: String = items.take(SHOW).map(|t| format!("\n    {t}")).collect();
    if len > SHOW {
        s.push_str(&format!("\n    ... and {} more", len - SHOW));
    }
    s
}

fn fingerprint_message(groups: &[(String, Vec<String>)]) -> String {
    let mut s = String::from(
        "the shard reports come from different plans (fingerprints differ), so they cannot prove every test ran once; re-run all shards with the same test list, timings file, --shard total and -j:",
    );
    for (fp, reports) in groups {
        s.push_str(&format!("\n  fingerprint {fp}: {}", reports.join(", ")));
    }
    s
}

fn totals_message(groups: &[(u32, Vec<String>)]) -> String {
    let mut s = String::from("the shard reports disagree on the number of shards:");
    for (n, reports) in groups {
        s.push_str(&format!("\n  N = {n}: {}", reports.join(", ")));
    }
    s
}

impl fmt::Display for CoverageProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the shard reports do not prove that every planned test ran exactly once:"
        )?;
        if !self.missing_shards.is_empty() {
            let names: Vec<String> = self
                .missing_shards
                .iter()
                .map(|k| format!("{k}/{}", self.total))
                .collect();
            write!(
                f,
                "\n  missing shard reports: {} (pass their reports, or re-run those shards)",
                names.join(", ")
            )?;
        }
        for (k, reports) in &self.duplicate_shards {
            write!(
                f,
                "\n  shard {k}/{} reported more than once: {}",
                self.total,
                reports.join(", ")
            )?;
        }
        if !self.inconsistent_plans.is_empty() {
            write!(
                f,
                "\n  planned test lists differ despite one fingerprint: {}",
                self.inconsistent_plans.join(", ")
            )?;
        }
        if !self.missing_tests.is_empty() {
            write!(
                f,
                "\n  {} planned tests ran in no shard:{}",
                self.missing_tests.len(),
                list(self.missing_tests.iter(), self.missing_tests.len())
            )?;
        }
        if !self.not_run_tests.is_empty() {
            write!(
                f,
                "\n  {} planned tests were not run (shard interrupted, or an archive's doctests without --workspace-remap):{}",
                self.not_run_tests.len(),
                list(
                    self.not_run_tests
                        .iter()
                        .map(|(t, r)| format!("{t}  ({r})")),
                    self.not_run_tests.len()
                )
            )?;
        }
        if !self.doubled_tests.is_empty() {
            write!(
                f,
                "\n  {} tests ran more than once:{}",
                self.doubled_tests.len(),
                list(
                    self.doubled_tests
                        .iter()
                        .map(|(t, r)| format!("{t}  ({})", r.join(", "))),
                    self.doubled_tests.len()
                )
            )?;
        }
        if !self.unplanned_tests.is_empty() {
            write!(
                f,
                "\n  {} tests ran that the plan does not contain:{}",
                self.unplanned_tests.len(),
                list(self.unplanned_tests.iter(), self.unplanned_tests.len())
            )?;
        }
        Ok(())
    }
}

/// Verifies reports, naming each as `report #i (shard K/N, run ID)`.
///
/// ```
/// # use shardtest::verify::*;
/// assert!(matches!(verify_reports(&[]), Err(VerifyError::NoReports)));
/// ```
pub fn verify_reports(reports: &[JsonReport]) -> Result<VerifySummary, VerifyError> {
    let labelled: Vec<(String, &JsonReport)> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                format!(
                    "report #{} (shard {}, run {})",
                    i + 1,
                    r.run.shard,
                    r.run.run_id
                ),
                r,
            )
        })
        .collect();
    verify_labelled(&labelled)
}

/// Verifies reports with caller-chosen labels (e.g. their file paths), used in messages.
///
/// ```
/// # use shardtest::verify::*;
/// assert!(verify_labelled(&[]).is_err());
/// ```
pub fn verify_labelled(reports: &[(String, &JsonReport)]) -> Result<VerifySummary, VerifyError> {
    let (reruns, originals): (Vec<_>, Vec<_>) = reports
        .iter()
        .cloned()
        .partition(|(_, r)| r.rerun_of.is_some());
    let mut summary = verify_originals(&originals)?;
    if reruns.is_empty() {
        return Ok(summary);
    }
    // Each rerun must retry this plan, and only tests that failed before it.
    let mut status: BTreeMap<&TestId, TestStatus> = originals
        .iter()
        .flat_map(|(_, r)| r.tests.iter().map(|t| (&t.id, t.status)))
        .collect();
    let mut ordered = reruns.clone();
    ordered.sort_by_key(|(_, r)| r.run.started_at);
    let mut reran = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (label, r) in &ordered {
        if !r
            .rerun_of
            .as_ref()
            .is_some_and(|f| f.contains(&summary.fingerprint))
        {
            problems.push(format!(
                "{label} reran failures of another plan (not {})",
                summary.fingerprint
            ));
            continue;
        }
        for t in &r.tests {
            match status.get(&t.id) {
                Some(TestStatus::Failed) => {}
                Some(s) => problems.push(format!(
                    "{label} ran {} again although it had not failed (it was {s:?})",
                    t.id
                )),
                None => problems.push(format!(
                    "{label} ran {}, which the plan does not contain",
                    t.id
                )),
            }
        }
        for t in &r.tests {
            if t.status != TestStatus::NotRun {
                status.insert(&t.id, t.status);
                reran.insert(&t.id);
            }
        }
    }
    if !problems.is_empty() {
        return Err(VerifyError::Rerun(format!(
            "the --rerun-failed reports do not fit the shard reports:\n  {}",
            problems.join("\n  ")
        )));
    }
    let passed = reran
        .iter()
        .filter(|id| {
            matches!(
                status.get(*id),
                Some(TestStatus::Passed | TestStatus::Flaky)
            )
        })
        .count();
    summary.reran = Some((reran.len(), passed));
    Ok(summary)
}

/// Verifies the shard reports proper (no `--rerun-failed` ones): one plan, every shard once,
/// every planned test recorded exactly once.
fn verify_originals(reports: &[(String, &JsonReport)]) -> Result<VerifySummary, VerifyError> {
    let Some((_, first)) = reports.first() else {
        return Err(VerifyError::NoReports);
    };
    agree_on_plan(reports)?;
    let total = first.run.shard.total;
    let mut p = CoverageProblems {
        total,
        ..Default::default()
    };
    shard_coverage(reports, &mut p);
    let planned = planned_tests(first);
    p.inconsistent_plans = inconsistent_plans(&reports[1..], &planned);
    let skipped = test_coverage(reports, &planned, &mut p);
    if p != (CoverageProblems {
        total,
        ..Default::default()
    }) {
        return Err(VerifyError::Coverage(Box::new(p)));
    }
    Ok(VerifySummary {
        fingerprint: first.run.fingerprint.clone(),
        shards: total,
        tests: planned.len(),
        skipped,
        reran: None,
    })
}

/// The labels of `reports` grouped by `key` of their report.
fn labels_by<'r, K: Ord>(
    reports: &[(String, &'r JsonReport)],
    key: impl Fn(&'r JsonReport) -> K,
) -> BTreeMap<K, Vec<String>> {
    let mut groups: BTreeMap<K, Vec<String>> = BTreeMap::new();
    for (label, r) in reports {
        groups.entry(key(r)).or_default().push(label.clone());
    }
    groups
}

/// Checks that every report carries the same plan fingerprint and the same shard count.
fn agree_on_plan(reports: &[(String, &JsonReport)]) -> Result<(), VerifyError> {
    let by_fp = labels_by(reports, |r| r.run.fingerprint.as_str());
    if by_fp.len() > 1 {
        return Err(VerifyError::FingerprintMismatch(
            by_fp.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        ));
    }
    let by_total = labels_by(reports, |r| r.run.shard.total);
    if by_total.len() > 1 {
        return Err(VerifyError::ShardTotalMismatch(
            by_total.into_iter().collect(),
        ));
    }
    Ok(())
}

/// Notes the shard indexes no report covers and those reported more than once.
fn shard_coverage(reports: &[(String, &JsonReport)], p: &mut CoverageProblems) {
    let by_index = labels_by(reports, |r| r.run.shard.index);
    p.missing_shards = (1..=p.total)
        .filter(|k| !by_index.contains_key(k))
        .collect();
    p.duplicate_shards = by_index.into_iter().filter(|(_, v)| v.len() > 1).collect();
}

/// A report's planned tests, sorted, each once.
fn planned_tests(r: &JsonReport) -> Vec<&TestId> {
    let mut planned: Vec<&TestId> = r.planned_tests.iter().collect();
    planned.sort();
    planned.dedup();
    planned
}

/// The labels of the reports whose planned test list is not `planned`.
fn inconsistent_plans(reports: &[(String, &JsonReport)], planned: &[&TestId]) -> Vec<String> {
    reports
        .iter()
        .filter(|(_, r)| planned_tests(r) != planned)
        .map(|(label, _)| label.clone())
        .collect()
}

/// Notes the planned tests no report ran (or only as not run), the tests run more than once
/// and the tests run that are not planned; returns how many tests were skipped.
fn test_coverage(
    reports: &[(String, &JsonReport)],
    planned: &[&TestId],
    p: &mut CoverageProblems,
) -> usize {
    // Test -> (reports that ran it, reports that recorded it as not run).
    let mut seen: BTreeMap<&TestId, (Vec<&str>, Vec<&str>)> = BTreeMap::new();
    let mut skipped = 0;
    for (label, r) in reports {
        for t in &r.tests {
            let e = seen.entry(&t.id).or_default();
            if t.status == TestStatus::NotRun {
                e.1.push(label);
            } else {
                if t.status == TestStatus::Skipped {
                    skipped += 1;
                }
                e.0.push(label);
            }
        }
    }
    for id in planned {
        match seen.get(id) {
            None => p.missing_tests.push((*id).clone()),
            Some((ran, not_run)) if ran.is_empty() => {
                let r = not_run.first().copied().unwrap_or_default();
                p.not_run_tests.push(((*id).clone(), r.to_string()))
            }
            _ => {}
        }
    }
    for (id, (ran, _)) in &seen {
        if ran.len() > 1 {
            p.doubled_tests
                .push(((*id).clone(), ran.iter().map(|s| s.to_string()).collect()));
        }
        if planned.binary_search(id).is_err() {
            p.unplanned_tests.push((*id).clone());
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RunInfo;
    use crate::schema::{REPORT_VERSION, StatusCounts, TestRecord};
    use crate::shard::ShardSpec;
    use std::time::{Duration, SystemTime};

    fn id(s: &str) -> TestId {
        s.parse().unwrap()
    }

    fn report(
        k: u32,
        n: u32,
        fp: &str,
        planned: &[&str],
        ran: &[(&str, TestStatus)],
    ) -> JsonReport {
        JsonReport {
            version: REPORT_VERSION,
            run: RunInfo {
                run_id: format!("run{k}").into(),
                shard: ShardSpec::new(k, n).unwrap(),
                fingerprint: fp.into(),
                workers: 1,
                to_run: ran.len(),
                predicted: Duration::ZERO,
                started_at: SystemTime::UNIX_EPOCH,
                repeat: 1,
            },
            planned_tests: planned.iter().map(|s| id(s)).collect(),
            tests: ran
                .iter()
                .map(|(s, st)| TestRecord {
                    id: id(s),
                    status: *st,
                    attributes: Default::default(),
                    attempts: vec![],
                })
                .collect(),
            counts: StatusCounts::default(),
            elapsed: Duration::ZERO,
            complete: true,
            shuffle_seed: None,
            rerun_of: None,
            doc_setups: Vec::new(),
        }
    }

    const PLANNED: &[&str] = &["p a", "p b", "p c", "p d"];
    use TestStatus::*;

    #[test]
    fn complete_run_verifies() {
        let r = [
            report(1, 2, "f", PLANNED, &[("p a", Passed), ("p b", Skipped)]),
            report(2, 2, "f", PLANNED, &[("p c", Flaky), ("p d", Failed)]),
        ];
        let s = verify_reports(&r).unwrap();
        assert_eq!((s.shards, s.tests, s.skipped), (2, 4, 1));
        assert!(s.to_string().contains("exactly once"));
    }

    #[test]
    fn a_lost_shard_names_the_shard_and_its_tests() {
        let r = [report(
            1,
            2,
            "f",
            PLANNED,
            &[("p a", Passed), ("p b", Passed)],
        )];
        let err = verify_reports(&r).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("missing shard reports: 2/2"), "{msg}");
        assert!(
            msg.contains("2 planned tests ran in no shard")
                && msg.contains("p c")
                && msg.contains("p d"),
            "{msg}"
        );
    }

    #[test]
    fn doubled_tests_and_shards_are_named() {
        let r = [
            report(1, 2, "f", PLANNED, &[("p a", Passed), ("p b", Passed)]),
            report(
                1,
                2,
                "f",
                PLANNED,
                &[("p a", Passed), ("p c", Passed), ("p d", Passed)],
            ),
        ];
        let VerifyError::Coverage(p) = verify_reports(&r).unwrap_err() else {
            panic!()
        };
        assert_eq!(p.missing_shards, vec![2]);
        assert_eq!(p.duplicate_shards.len(), 1);
        assert_eq!(p.doubled_tests.len(), 1);
        assert_eq!(p.doubled_tests[0].0, id("p a"));
        assert!(p.to_string().contains("ran more than once"));
    }

    #[test]
    fn different_fingerprints_name_the_reports() {
        let r = [
            report(1, 2, "aaaa", PLANNED, &[("p a", Passed), ("p b", Passed)]),
            report(2, 2, "bbbb", PLANNED, &[("p c", Passed), ("p d", Passed)]),
        ];
        let msg = verify_reports(&r).unwrap_err().to_string();
        assert!(
            msg.contains("fingerprint aaaa: report #1 (shard 1/2, run run1)"),
            "{msg}"
        );
        assert!(msg.contains("fingerprint bbbb: report #2"), "{msg}");
    }

    #[test]
    fn totals_must_agree_and_not_run_is_not_run() {
        let r = [
            report(1, 2, "f", PLANNED, &[("p a", Passed)]),
            report(2, 3, "f", PLANNED, &[("p c", Passed)]),
        ];
        assert!(matches!(
            verify_reports(&r),
            Err(VerifyError::ShardTotalMismatch(_))
        ));
        let r = [
            report(1, 2, "f", PLANNED, &[("p a", Passed), ("p b", NotRun)]),
            report(
                2,
                2,
                "f",
                PLANNED,
                &[("p c", Passed), ("p d", Passed), ("x y", Passed)],
            ),
        ];
        let VerifyError::Coverage(p) = verify_reports(&r).unwrap_err() else {
            panic!()
        };
        assert_eq!(p.not_run_tests.len(), 1);
        assert_eq!(p.unplanned_tests, vec![id("x y")]);
    }
}
