//! Importing a JUnit XML report (nextest's or cargo2junit's shape) into the store as one run,
//! mapping each test case to a [`TestId`].

use crate::attrs::TestAttributes;
use crate::id::{BinaryId, TestId, TestName};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::error::TimingsError;
use super::merge::hex;
use super::sample::{RunStamp, Sample, SampleStatus};
use super::store::TimingStore;
use super::summary::ImportSummary;

impl TimingStore {
    /// Imports a JUnit XML report (nextest's or cargo2junit's shape) as one run.
    ///
    /// * nextest: `<testsuite name="<binary-id>">` with `<testcase classname="<binary-id>"
    ///   name="<test name>" time="1.23">`.
    /// * cargo2junit: `<testsuite name="cargo test #0">` with `classname` = the module path and
    ///   `name` = the last path segment; it has no binary id, so such cases are mapped through
    ///   `known` (a test name found in exactly one binary).
    ///
    /// When `known` is given, only ids in it are imported; everything else counts as unmapped.
    /// The run id is a hash of the XML text, so importing the same file twice counts once.
    /// `<skipped>` cases and cases without a `time` are left out (counted in `skipped`).
    ///
    /// ```
    /// # use shardtest::history::*;
    /// let xml = r#"<testsuites><testsuite name="app::api" tests="2">
    ///   <testcase classname="app::api" name="orders::creates" time="1.5"/>
    ///   <testcase classname="app::api" name="orders::flaky" time="0.2"><flakyFailure/></testcase>
    /// </testsuite></testsuites>"#;
    /// let mut store = TimingStore::default();
    /// let r = store.import_junit(xml, None, 0).unwrap();
    /// assert_eq!((r.imported, r.unmapped), (2, 0));
    /// let s = store.stats(&"app::api orders::creates".parse().unwrap()).unwrap();
    /// assert_eq!(s.mean.as_millis(), 1500);
    /// ```
    pub fn import_junit(
        &mut self,
        xml: &str,
        known: Option<&BTreeSet<TestId>>,
        at_unix_ms: u64,
    ) -> Result<ImportSummary, TimingsError> {
        let doc =
            roxmltree::Document::parse(xml).map_err(|e| TimingsError::Junit(e.to_string()))?;
        let run = RunStamp {
            id: format!("junit:{}", hex(&Sha256::digest(xml.as_bytes())[..8])).into(),
            at_unix_ms,
        };
        // Test name -> ids carrying it, for the cargo2junit shape.
        let mut by_name: BTreeMap<&str, Vec<&TestId>> = BTreeMap::new();
        if let Some(k) = known {
            for id in k {
                by_name.entry(id.name.as_str()).or_default().push(id);
            }
        }
        let mut summary = ImportSummary::default();
        for case in doc.descendants().filter(|n| n.has_tag_name("testcase")) {
            let suite = case
                .ancestors()
                .find(|n| n.has_tag_name("testsuite"))
                .and_then(|n| n.attribute("name"))
                .unwrap_or("");
            let name = case.attribute("name").unwrap_or("");
            let classname = case.attribute("classname").unwrap_or("");
            let label = if classname.is_empty() {
                name.to_string()
            } else {
                format!("{classname} {name}")
            };
            let child = |tag: &str| case.children().any(|c| c.has_tag_name(tag));
            if child("skipped") {
                summary.skipped += 1;
                continue;
            }
            let Some(secs) = case
                .attribute("time")
                .and_then(|t| t.trim().parse::<f64>().ok())
                .filter(|t| t.is_finite() && *t >= 0.0)
            else {
                summary.skipped += 1;
                continue;
            };
            let Some(id) = map_junit_name(suite, classname, name, known, &by_name) else {
                summary.unmapped += 1;
                if summary.unmapped_examples.len() < 10 {
                    summary.unmapped_examples.push(label);
                }
                continue;
            };
            let status = if child("failure") || child("error") {
                SampleStatus::Failed
            } else if child("flakyFailure")
                || child("flakyError")
                || child("rerunFailure")
                || child("rerunError")
            {
                SampleStatus::Flaky
            } else {
                SampleStatus::Passed
            };
            self.record(
                id,
                Sample {
                    run: run.clone(),
                    duration: Duration::from_micros((secs * 1e6).round() as u64),
                    status,
                    workers: 0,
                    attributes: TestAttributes::default(),
                },
            );
            summary.imported += 1;
        }
        Ok(summary)
    }
}

/// Maps a JUnit testcase to a [`TestId`] (see [`TimingStore::import_junit`]).
fn map_junit_name(
    suite: &str,
    classname: &str,
    name: &str,
    known: Option<&BTreeSet<TestId>>,
    by_name: &BTreeMap<&str, Vec<&TestId>>,
) -> Option<TestId> {
    if name.is_empty() {
        return None;
    }
    let cargo2junit = suite.starts_with("cargo test");
    let binary = if classname.is_empty() {
        suite
    } else {
        classname
    };
    let direct = (!cargo2junit && !binary.is_empty() && !binary.contains(' '))
        .then(|| TestId::new(BinaryId::new(binary), TestName::new(name)));
    let Some(known) = known else {
        return direct;
    };
    if let Some(id) = direct.filter(|id| known.contains(id)) {
        return Some(id);
    }
    let full = if classname.is_empty() {
        name.to_string()
    } else {
        format!("{classname}::{name}")
    };
    for candidate in [full.as_str(), name] {
        if let Some([only]) = by_name.get(candidate).map(Vec::as_slice) {
            return Some((*only).clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::test_support::id;

    #[test]
    fn cargo2junit_shape_maps_through_known_tests() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite id="0" name="cargo test #0" tests="3">
    <testcase name="adds" classname="math::tests" time="0.5" />
    <testcase name="top_level" classname="" time="0.25" />
    <testcase name="shared" classname="tests" time="1"><failure message="x"/></testcase>
    <testcase name="ghost" classname="tests" time="1" />
  </testsuite>
</testsuites>"#;
        let known: BTreeSet<TestId> = [
            "calc math::tests::adds",
            "calc top_level",
            "calc tests::shared",
            "calc::it tests::shared",
        ]
        .iter()
        .map(|s| id(s))
        .collect();
        let mut store = TimingStore::default();
        let r = store.import_junit(xml, Some(&known), 0).unwrap();
        assert_eq!(r.imported, 2, "{r}");
        assert_eq!(r.unmapped, 2, "ambiguous and unknown: {r}");
        assert!(store.stats(&id("calc math::tests::adds")).is_some());
        assert!(store.stats(&id("calc top_level")).is_some());
        // Without a listing, cargo2junit cases cannot be placed in a binary.
        let mut s2 = TimingStore::default();
        assert_eq!(s2.import_junit(xml, None, 0).unwrap().unmapped, 4);
        // Importing twice counts once.
        store.import_junit(xml, Some(&known), 0).unwrap();
        assert_eq!(store.stats(&id("calc top_level")).unwrap().samples, 1);
        assert!(store.import_junit("<testsuites>", None, 0).is_err());
    }
}
