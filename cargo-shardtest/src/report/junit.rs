//! JUnit XML (via `quick-junit`), the format GitHub, GitLab, Jenkins and CircleCI read.
//!
//! Layout: one `<testsuite>` per test binary (named by its stable binary id), one
//! `<testcase>` per test (`classname` = binary id, `name` = test name). Each suite carries the
//! run's properties (`shardtest.shard`, `shardtest.run_id`, `shardtest.fingerprint`,
//! `shardtest.workers`, `shardtest.complete`); each test case its shard and attempt count.
//! A flaky pass is a success with `<flakyFailure>` elements for the failed attempts; a test
//! that failed every attempt is a `<failure>` (or `<error>` for crashes, timeouts and spawn
//! errors) with `<rerunFailure>` elements for the earlier attempts. Ignored tests are
//! `<skipped>`; tests an interrupted run never finished are `<skipped type="interrupted">`.
//! Captured output is bounded to [`MAX_OUTPUT_BYTES`] per attempt.

use crate::event::describe;
use crate::event::{
    AttemptOutcome, AttemptRecord, ConsumerError, EventConsumer, RunEvent, TestStatus,
};
use crate::report::json::{JsonReport, JsonReportBuilder, TestRecord};
use quick_junit::{
    NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Captured output kept per attempt in the XML (the tail; the full log is in the artifact dir).
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024;

/// Writing the JUnit report failed.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    /// Serialising the XML failed.
    #[error("could not serialise the JUnit report: {0}")]
    Serialize(#[from] quick_junit::SerializeError),
    /// Writing the file failed.
    #[error("could not write the JUnit report to {path}: {source}")]
    Write {
        /// Destination.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The run ended before it started (no `RunStarted` event).
    #[error("the run produced no events, so there is no JUnit report to write")]
    NoRun,
}

fn timestamp(t: SystemTime) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::<chrono::Utc>::from(t).into()
}

/// The last `max` bytes of `s`, cut at a line start when possible.
///
/// ```
/// use shardtest::report::junit::bounded;
/// assert_eq!(bounded("short", 100), "short");
/// let b = bounded("line one\nline two\nline three", 12);
/// assert!(b.ends_with("line three") && b.starts_with("[..."));
/// ```
pub fn bounded(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    let mut tail = &s[start..];
    if let Some(nl) = tail.find('\n')
        && nl + 1 < tail.len()
    {
        tail = &tail[nl + 1..];
    }
    format!("[... output cut to the last {max} bytes ...]\n{tail}")
}

fn kind_of(outcome: &AttemptOutcome) -> NonSuccessKind {
    match outcome {
        AttemptOutcome::Failed { .. } => NonSuccessKind::Failure,
        _ => NonSuccessKind::Error,
    }
}

fn type_of(outcome: &AttemptOutcome) -> &'static str {
    match outcome {
        AttemptOutcome::Passed => "passed",
        AttemptOutcome::Failed { .. } => "failed",
        AttemptOutcome::Crashed { .. } => "crashed",
        AttemptOutcome::TimedOut { .. } => "timeout",
        AttemptOutcome::SpawnFailed { .. } => "spawn-error",
        AttemptOutcome::Interrupted => "interrupted",
    }
}

fn output_of(a: &AttemptRecord) -> String {
    let mut out = bounded(&a.output_tail, MAX_OUTPUT_BYTES);
    if let Some(log) = &a.log {
        out.push_str(&format!("\n[full log: {}]", log.display()));
    }
    out
}

fn rerun(a: &AttemptRecord) -> TestRerun {
    let mut r = TestRerun::new(kind_of(&a.outcome));
    r.set_timestamp(timestamp(a.started_at))
        .set_time(a.duration)
        .set_message(format!("attempt {}: {}", a.attempt, describe(&a.outcome)))
        .set_type(type_of(&a.outcome));
    if !a.output_tail.is_empty() || a.log.is_some() {
        r.set_system_out(output_of(a));
    }
    r
}

/// The JUnit test case of one test record; `shard` (when several shards are merged) goes
/// into its properties. A failure's output is the text of its `<failure>` element.
///
/// ```
/// use shardtest::report::json::TestRecord;
/// use shardtest::event::TestStatus;
/// let t = TestRecord { id: "p t".parse().unwrap(), status: TestStatus::Skipped,
///     attributes: Default::default(), attempts: vec![] };
/// let tc = shardtest::report::junit::test_case(&t, Some("2/4"));
/// assert_eq!(tc.properties[0].value.as_str(), "2/4");
/// ```
pub fn test_case(t: &TestRecord, shard: Option<&str>) -> TestCase {
    let last = t.attempts.last();
    let status = match t.status {
        TestStatus::Passed => TestCaseStatus::success(),
        TestStatus::Flaky => {
            let mut s = TestCaseStatus::success();
            s.add_reruns(
                t.attempts
                    .iter()
                    .filter(|a| !a.outcome.is_pass())
                    .map(rerun),
            );
            s
        }
        TestStatus::Failed => {
            let outcome = last
                .map(|a| a.outcome.clone())
                .unwrap_or(AttemptOutcome::Failed { code: -1 });
            let mut s = TestCaseStatus::non_success(kind_of(&outcome));
            let nc = if t.attributes.non_critical {
                " (non-critical: does not fail the build)"
            } else {
                ""
            };
            s.set_message(format!("{}{nc}", describe(&outcome)))
                .set_type(type_of(&outcome));
            if let Some(a) = last {
                s.set_description(output_of(a));
            }
            let n = t.attempts.len();
            s.add_reruns(t.attempts.iter().take(n.saturating_sub(1)).map(rerun));
            s
        }
        TestStatus::Skipped => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("ignored").set_type("ignored");
            s
        }
        TestStatus::NotRun => {
            let mut s = TestCaseStatus::skipped();
            s.set_message("not run: the run was interrupted")
                .set_type("interrupted");
            s
        }
    };
    let mut tc = TestCase::new(t.id.name.as_str(), status);
    tc.set_classname(t.id.binary.as_str());
    if let Some(first) = t.attempts.first() {
        tc.set_timestamp(timestamp(first.started_at));
    }
    if let Some(a) = last {
        tc.set_time(a.duration);
    }
    if let Some(shard) = shard {
        tc.add_property(Property::new("shard", shard));
    }
    if t.attempts.len() > 1 {
        tc.add_property(Property::new("attempts", t.attempts.len().to_string()));
    }
    if t.attributes.non_critical {
        tc.add_property(Property::new("non_critical", "true"));
    }
    tc
}

/// A JUnit report of one or more shard reports: one suite per binary, tests of every shard.
///
/// ```
/// use shardtest::report::junit::from_reports;
/// let xml = from_reports(&[]).to_string().unwrap();
/// assert!(xml.contains("<testsuites"));
/// ```
pub fn from_reports(reports: &[&JsonReport]) -> Report {
    let mut report = Report::new("shardtest");
    let mut suites: BTreeMap<String, Vec<TestCase>> = BTreeMap::new();
    let mut first_start: Option<SystemTime> = None;
    let mut last_end: Option<SystemTime> = None;
    for r in reports {
        let shard = r.run.shard.to_string();
        let shard = (reports.len() > 1).then_some(shard.as_str());
        for t in &r.tests {
            suites
                .entry(t.id.binary.as_str().to_string())
                .or_default()
                .push(test_case(t, shard));
        }
        first_start = Some(first_start.map_or(r.run.started_at, |s| s.min(r.run.started_at)));
        let end = r.run.started_at + r.elapsed;
        last_end = Some(last_end.map_or(end, |e| e.max(end)));
    }
    if let (Some(s), Some(e)) = (first_start, last_end) {
        report.set_timestamp(timestamp(s));
        report.set_time(e.duration_since(s).unwrap_or_default());
    }
    let mut props = Vec::new();
    if let [one] = reports {
        props.push(Property::new("shardtest.shard", one.run.shard.to_string()));
        props.push(Property::new("shardtest.run_id", one.run.run_id.as_str()));
        props.push(Property::new(
            "shardtest.workers",
            one.run.workers.to_string(),
        ));
    } else {
        let mut shards: Vec<String> = reports.iter().map(|r| r.run.shard.to_string()).collect();
        shards.sort();
        props.push(Property::new("shardtest.shards", shards.join(",")));
        let ids: Vec<&str> = reports.iter().map(|r| r.run.run_id.as_str()).collect();
        props.push(Property::new("shardtest.run_ids", ids.join(",")));
    }
    let mut fps: Vec<&str> = reports.iter().map(|r| r.run.fingerprint.as_str()).collect();
    fps.sort();
    fps.dedup();
    props.push(Property::new("shardtest.fingerprint", fps.join(",")));
    let complete = reports.iter().all(|r| r.complete);
    props.push(Property::new("shardtest.complete", complete.to_string()));
    for (binary, mut cases) in suites {
        cases.sort_by(|a, b| a.name.cmp(&b.name));
        let mut suite = TestSuite::new(binary);
        suite.add_properties(props.iter().cloned());
        let start = cases.iter().filter_map(|c| c.timestamp).min();
        if let Some(s) = start {
            suite.set_timestamp(s);
        }
        let total: std::time::Duration = cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(total);
        suite.add_test_cases(cases);
        report.add_test_suite(suite);
    }
    report
}

/// Adds an `owner` property (the test's owners from CODEOWNERS, space-separated) to every
/// test case of `report` whose owner `owners` knows.
///
/// ```
/// use shardtest::report::junit::{add_owners, from_reports};
/// let mut report = from_reports(&[]);
/// let owners = shardtest::report::health::owners::OwnerLookup::new(|_| Some("@team".into()));
/// add_owners(&mut report, &owners);
/// ```
pub fn add_owners(report: &mut Report, owners: &crate::report::health::owners::OwnerLookup) {
    for suite in &mut report.test_suites {
        for case in &mut suite.test_cases {
            let binary = case.classname.as_ref().map_or("", |c| c.as_str());
            let id = crate::id::TestId::new(
                crate::id::BinaryId::new(binary),
                crate::id::TestName::new(case.name.as_str()),
            );
            if let Some(owner) = owners.get(&id) {
                case.add_property(Property::new("owner", &*owner));
            }
        }
    }
}

/// Serialises `report` and writes it atomically to `path`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let p = dir.path().join("junit.xml");
/// shardtest::report::junit::write(&shardtest::report::junit::from_reports(&[]), &p).unwrap();
/// assert!(std::fs::read_to_string(&p).unwrap().starts_with("<?xml"));
/// ```
pub fn write(report: &Report, path: &Path) -> Result<(), JunitError> {
    let xml = report.to_string()?;
    crate::fsutil::write_atomic(path, xml.as_bytes()).map_err(|source| JunitError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The event consumer behind `run --junit PATH`: collects the run and writes the XML when the
/// run finishes, interrupted or not (then `shardtest.complete` is `false` and unfinished tests
/// are `<skipped type="interrupted">`).
///
/// ```
/// use shardtest::event::{EventConsumer, RunEvent};
/// let dir = tempfile::tempdir().unwrap();
/// let mut j = shardtest::report::junit::JunitReporter::new(dir.path().join("j.xml"));
/// j.on_event(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: true });
/// assert!(j.finish().is_err()); // no RunStarted: nothing to write
/// ```
#[derive(Debug)]
pub struct JunitReporter {
    path: PathBuf,
    builder: JsonReportBuilder,
    result: Option<Result<(), JunitError>>,
    owners: Option<crate::report::health::owners::OwnerLookup>,
    /// Tests `--skip-non-critical` left out.
    skipped_non_critical: Vec<crate::id::TestId>,
}

impl JunitReporter {
    /// A reporter that writes to `path`.
    pub fn new(path: PathBuf) -> Self {
        JunitReporter {
            path,
            builder: JsonReportBuilder::new(Vec::new(), None),
            result: None,
            owners: None,
            skipped_non_critical: Vec::new(),
        }
    }

    /// Adds each test's owners (CODEOWNERS) as an `owner` property of its test case.
    ///
    /// ```
    /// use shardtest::report::health::owners::OwnerLookup;
    /// let mut j = shardtest::report::junit::JunitReporter::new("junit.xml".into());
    /// j.set_owners(OwnerLookup::new(|_| Some("@team".into())));
    /// ```
    pub fn set_owners(&mut self, owners: crate::report::health::owners::OwnerLookup) {
        self.owners = Some(owners);
    }

    /// The non-critical tests `--skip-non-critical` left out: each is a
    /// `<skipped type="skip-non-critical">` with a message saying so, and every suite gets a
    /// `shardtest.skipped_non_critical` property with their number.
    pub fn set_skipped_non_critical(&mut self, tests: Vec<crate::id::TestId>) {
        self.skipped_non_critical = tests;
    }

    /// The outcome of writing the file (call after the run).
    pub fn finish(self) -> Result<(), JunitError> {
        self.result.unwrap_or(Err(JunitError::NoRun))
    }

    fn write_now(&self) -> Result<(), JunitError> {
        let report = self.builder.report().ok_or(JunitError::NoRun)?;
        let mut junit = from_reports(&[&report]);
        if let Some(owners) = &self.owners {
            add_owners(&mut junit, owners);
        }
        if !self.skipped_non_critical.is_empty() {
            mark_skipped_non_critical(&mut junit, &self.skipped_non_critical);
        }
        write(&junit, &self.path)
    }
}

/// Marks the tests `--skip-non-critical` left out in a JUnit report (see
/// [`JunitReporter::set_skipped_non_critical`]).
fn mark_skipped_non_critical(report: &mut Report, tests: &[crate::id::TestId]) {
    let n = tests.len().to_string();
    for suite in &mut report.test_suites {
        suite.add_property(Property::new("shardtest.skipped_non_critical", n.as_str()));
        for tc in &mut suite.test_cases {
            let hit = tests.iter().any(|id| {
                tc.classname.as_deref() == Some(id.binary.as_str())
                    && tc.name.as_str() == id.name.as_str()
            });
            if hit {
                let mut s = TestCaseStatus::skipped();
                s.set_message("non-critical test left out by --skip-non-critical")
                    .set_type("skip-non-critical");
                tc.status = s;
            }
        }
    }
}

impl EventConsumer for JunitReporter {
    /// The file is written when the run finishes; a failure to write it is kept for
    /// [`JunitReporter::finish`], which names the file in its error.
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError> {
        self.builder.on_event(event)?;
        if let RunEvent::RunFinished { .. } = event {
            self.result = Some(self.write_now());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RunInfo;
    use crate::shard::ShardSpec;
    use std::time::Duration;

    fn attempt(n: u32, outcome: AttemptOutcome, tail: &str) -> AttemptRecord {
        AttemptRecord {
            attempt: n,
            outcome,
            duration: Duration::from_millis(100 * u64::from(n)),
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(n)),
            worker: 0,
            leaked: false,
            log: None,
            output_tail: tail.into(),
        }
    }

    fn record(id: &str, status: TestStatus, attempts: Vec<AttemptRecord>) -> TestRecord {
        TestRecord {
            id: id.parse().unwrap(),
            status,
            attributes: Default::default(),
            attempts,
        }
    }

    fn report(tests: Vec<TestRecord>, complete: bool) -> JsonReport {
        JsonReport {
            version: 1,
            run: RunInfo {
                run_id: "r1".into(),
                shard: ShardSpec::new(2, 3).unwrap(),
                fingerprint: "fp".into(),
                workers: 2,
                to_run: tests.len(),
                predicted: Duration::from_secs(1),
                started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                repeat: 1,
            },
            planned_tests: tests.iter().map(|t| t.id.clone()).collect(),
            counts: Default::default(),
            tests,
            elapsed: Duration::from_secs(2),
            complete,
            shuffle_seed: None,
            rerun_of: None,
            doc_setups: Vec::new(),
        }
    }

    #[test]
    fn flaky_retries_and_interruptions_are_recorded() {
        let r = report(
            vec![
                record(
                    "a::it flaky",
                    TestStatus::Flaky,
                    vec![
                        attempt(1, AttemptOutcome::Failed { code: 101 }, "boom 1"),
                        attempt(2, AttemptOutcome::Passed, ""),
                    ],
                ),
                record(
                    "a::it broken",
                    TestStatus::Failed,
                    vec![
                        attempt(1, AttemptOutcome::Failed { code: 101 }, "first"),
                        attempt(
                            2,
                            AttemptOutcome::TimedOut {
                                signal: "SIGKILL".into(),
                            },
                            "second <&>",
                        ),
                    ],
                ),
                record("b stopped", TestStatus::NotRun, vec![]),
                record(
                    "b ok",
                    TestStatus::Passed,
                    vec![attempt(1, AttemptOutcome::Passed, "")],
                ),
            ],
            false,
        );
        let xml = from_reports(&[&r]).to_string().unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("tests"), Some("4"));
        assert_eq!(
            root.attribute("errors"),
            Some("1"),
            "a timeout is an error: {xml}"
        );
        assert_eq!(root.attribute("skipped"), Some("1"));
        let case = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
                .unwrap()
        };
        let flaky = case("flaky");
        let ff = flaky
            .children()
            .find(|n| n.has_tag_name("flakyFailure"))
            .unwrap();
        assert_eq!(ff.attribute("message"), Some("attempt 1: exit code 101"));
        assert!(!flaky.children().any(|n| n.has_tag_name("failure")));
        let broken = case("broken");
        let err = broken.children().find(|n| n.has_tag_name("error")).unwrap();
        assert_eq!(err.attribute("type"), Some("timeout"));
        assert!(err.text().unwrap().contains("second <&>"));
        assert_eq!(
            broken
                .children()
                .filter(|n| n.has_tag_name("rerunFailure"))
                .count(),
            1
        );
        let stopped = case("stopped");
        let sk = stopped
            .children()
            .find(|n| n.has_tag_name("skipped"))
            .unwrap();
        assert_eq!(sk.attribute("type"), Some("interrupted"));
        assert!(xml.contains(r#"<property name="shardtest.complete" value="false"/>"#));
        assert!(xml.contains(r#"<property name="shardtest.shard" value="2/3"/>"#));
        let suites: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .filter_map(|n| n.attribute("name"))
            .collect();
        assert_eq!(suites, vec!["a::it", "b"]);
    }

    #[test]
    fn output_is_bounded() {
        let big = "x".repeat(10) + "\n" + &"y".repeat(MAX_OUTPUT_BYTES * 2);
        let b = bounded(&big, MAX_OUTPUT_BYTES);
        assert!(b.len() <= MAX_OUTPUT_BYTES + 64);
        let multi = "é".repeat(10);
        assert!(bounded(&multi, 5).ends_with('é'));
    }
}
