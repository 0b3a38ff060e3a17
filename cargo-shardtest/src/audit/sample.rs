//! A hand-built [`AuditReport`] for the tests of the report's forms (human and JSON), so
//! their output is byte-for-byte stable.

use super::classify::{CauseClass, Tally};
use super::culprit::{Partner, Relation};
use super::kind::ConfigKind::*;
use super::report::{AUDIT_VERSION, AuditReport, ConfigRun, ConfigStatus, Culprit, Suspect};
use crate::id::TestId;
use std::time::Duration;

/// A report built by hand, so its human rendering is byte-for-byte stable.
pub(super) fn sample_report() -> AuditReport {
    let id = |s: &str| -> TestId { s.parse().unwrap() };
    let config = |number, kind, label: &str, status, attempts, failures| ConfigRun {
        number,
        kind,
        label: label.into(),
        workers: 1,
        seed: None,
        only: None,
        repeat: 1,
        elapsed: Duration::from_millis(if status == ConfigStatus::Ran { 420 } else { 0 }),
        status,
        estimate: Duration::from_millis(500),
        attempts,
        failures,
    };
    let port = Suspect {
        id: id("demo tests::port_first"),
        class: CauseClass::SharedState,
        reason: "fails at -j2 beside other tests (3 of 3 runs), passes at -j1 in every order and alone".into(),
        tallies: [(
            Parallel,
            Tally {
                runs: 3,
                failures: 3,
                failed_in: vec![1],
                output_tail: "thread 'tests::port_first' panicked at src/lib.rs:9:5:\nAddress already in use\n".into(),
            },
        )]
        .into_iter()
        .collect(),
        partner: Some(Partner {
            id: id("demo tests::port_second"),
            relation: Relation::Beside,
            in_process: false,
            runs: 3,
            failures: 3,
            evidence: "fails when run beside `demo tests::port_second` (3 of 3 runs); passes alone (3 of 3)".into(),
            replay: "cargo shardtest run -p demo --lib -j 2 --repeat 3 --exact tests::port_second tests::port_first".into(),
        }),
        search: None,
    };
    let counter = Suspect {
        id: id("demo tests::first_in_process"),
        class: CauseClass::InProcessSharedState,
        reason: "passes in its own process (5 of 5 runs), fails with other tests in one process: in-process, --test-threads 1 (2 of 2)".into(),
        tallies: [(InProcessSerial, Tally { runs: 2, failures: 2, failed_in: vec![2], output_tail: String::new() })]
            .into_iter()
            .collect(),
        partner: None,
        search: Some("bisection skipped: would overrun the budget: needs ~0.6s, 0.1s left".into()),
    };
    AuditReport {
        version: AUDIT_VERSION,
        tests: 4,
        max_workers: 2,
        seed: 7,
        repeat: 3,
        budget: Some(Duration::from_secs(5)),
        configs: vec![
            config(1, Parallel, "-j2 (baseline)", ConfigStatus::Ran, 4, 2),
            config(
                2,
                InProcessSerial,
                "in-process, --test-threads 1",
                ConfigStatus::Ran,
                4,
                1,
            ),
            config(
                3,
                Pair,
                "beside x3: demo tests::port_first + tests::port_second",
                ConfigStatus::Ran,
                6,
                6,
            ),
            config(
                4,
                Bisect,
                "bisect: demo tests::first_in_process after 1 earlier tests",
                ConfigStatus::Skipped {
                    reason: "would overrun the budget: needs ~0.6s, 0.1s left".into(),
                },
                0,
                0,
            ),
        ],
        culprits: vec![Culprit {
            id: id("demo tests::port_second"),
            relation: Relation::Beside,
            in_process: false,
            suspects: vec![id("demo tests::port_first")],
        }],
        suspects: vec![port, counter],
        interrupted: false,
        elapsed: Duration::from_millis(2500),
    }
}
