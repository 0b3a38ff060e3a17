//! The audit's findings ([`AuditReport`]): every configuration planned ([`ConfigRun`],
//! [`ConfigStatus`]), the suspect tests with their evidence ([`Suspect`]) and the other tests
//! the searches named ([`Culprit`]).
//!
//! These types are also the JSON form of `audit --format json`: they serialize as they are,
//! under the schema version [`AUDIT_VERSION`]. The human form is in the `render` module.

use super::classify::{CauseClass, Tally};
use super::culprit::{Partner, Relation};
use super::kind::ConfigKind;
use crate::id::TestId;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Version of the audit's JSON output.
pub const AUDIT_VERSION: u32 = 2;

/// What became of one planned configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConfigStatus {
    /// It ran to the end.
    Ran,
    /// It was not started.
    Skipped {
        /// Why (the budget, an interrupt).
        reason: String,
    },
    /// It was stopped (Ctrl-C, or the budget ran out while it ran).
    Stopped {
        /// Why.
        reason: String,
    },
}

/// One configuration the audit planned, in the order it was considered.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigRun {
    /// 1-based number.
    pub number: usize,
    /// Kind of configuration.
    pub kind: ConfigKind,
    /// Human description (`-j1 reversed`, `alone: <test> x3`, ...).
    pub label: String,
    /// Worker slots; for runs in one process, test threads (0: libtest's default).
    pub workers: u32,
    /// Shuffle seed, for the shuffled configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The test run alone, for `alone` configurations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub only: Option<TestId>,
    /// Times each test ran.
    pub repeat: u32,
    /// Ran, skipped or stopped.
    #[serde(flatten)]
    pub status: ConfigStatus,
    /// Estimated time before it started.
    #[serde(with = "crate::serde_duration")]
    pub estimate: Duration,
    /// Wall time it took.
    #[serde(with = "crate::serde_duration")]
    pub elapsed: Duration,
    /// Test attempts that ended.
    pub attempts: usize,
    /// Of those, failures.
    pub failures: usize,
}

/// One suspect test with the evidence.
#[derive(Clone, Debug, Serialize)]
pub struct Suspect {
    /// The test.
    pub id: TestId,
    /// Likely cause.
    pub class: CauseClass,
    /// One-line explanation of the class from the evidence.
    pub reason: String,
    /// Runs and failures per kind of configuration.
    pub tallies: BTreeMap<ConfigKind, Tally>,
    /// The other test involved (the one beside it, the polluter, the provider), when the
    /// search found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<Partner>,
    /// What became of the search for the other test when it found none (skipped for the
    /// budget, nothing reproduced it, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

/// A test named as the other half of one or more suspects' findings: it gets its own line.
#[derive(Clone, Debug, Serialize)]
pub struct Culprit {
    /// The test.
    pub id: TestId,
    /// How it relates to the suspects.
    pub relation: Relation,
    /// Found with the tests in one process.
    pub in_process: bool,
    /// The suspects it makes fail (or, for a provider, pass).
    pub suspects: Vec<TestId>,
}

/// The audit's findings.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// Schema version ([`AUDIT_VERSION`]).
    pub version: u32,
    /// Tests audited (ignored ones excluded).
    pub tests: usize,
    /// Workers of the parallel configurations.
    pub max_workers: u32,
    /// Seed of the shuffled configuration.
    pub seed: u64,
    /// Repeats of the parallel run and of each suspect alone.
    pub repeat: u32,
    /// The time bound, when given.
    #[serde(skip_serializing_if = "Option::is_none", with = "opt_duration")]
    pub budget: Option<Duration>,
    /// Every configuration, run or skipped.
    pub configs: Vec<ConfigRun>,
    /// Suspect tests, by class then id.
    pub suspects: Vec<Suspect>,
    /// The other tests the searches named, each once.
    pub culprits: Vec<Culprit>,
    /// Ctrl-C stopped the audit: the findings are partial.
    pub interrupted: bool,
    /// Wall time of the audit (after the build).
    #[serde(with = "crate::serde_duration")]
    pub elapsed: Duration,
}

/// The JSON form of an optional duration: the duration as [`crate::serde_duration`] writes it,
/// or `null`.
mod opt_duration {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => crate::serde_duration::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

impl AuditReport {
    /// Configurations that were skipped or stopped.
    pub fn incomplete(&self) -> usize {
        self.configs
            .iter()
            .filter(|c| c.status != ConfigStatus::Ran)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::sample::sample_report;

    #[test]
    fn the_json_report_carries_the_pairs() {
        let v = serde_json::to_value(sample_report()).unwrap();
        assert_eq!(v["suspects"][0]["partner"]["id"], "demo tests::port_second");
        assert_eq!(v["suspects"][0]["partner"]["relation"], "beside");
        assert_eq!(v["suspects"][1]["class"], "in_process_shared_state");
        assert!(
            v["suspects"][1]["search"]
                .as_str()
                .unwrap()
                .contains("budget")
        );
        assert_eq!(v["culprits"][0]["suspects"][0], "demo tests::port_first");
    }
}
