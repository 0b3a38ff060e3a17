//! The determinism audit: run the same tests in several configurations (`-j max` vs `-j 1`,
//! declared vs reversed vs shuffled order, process-per-test vs batched, each suspect alone,
//! repeated) and compare the outcomes test by test.
//!
//! The audit builds and lists once; every configuration is a [`run::run_shard`] call on a
//! modified copy of the prepared [`RunnerConfig`], with its own run id (so per-run state a
//! test keys by `SHARDTEST_RUN_ID` starts fresh) and its own artifact directory.
//!
//! Classification ([`classify`]) works on per-configuration tallies of runs and failures:
//!
//! * **order-dependent**: at `-j 1` it fails every time in some order and passes in another,
//!   or it fails every time alone but passes inside the full run;
//! * **isolation/shared state**: it fails in most runs at `-j max`, and passes at `-j 1` in
//!   every order and alone;
//! * **in-process shared state**: it passes in every process-per-test configuration but fails
//!   with other tests in one process (batched, or run the way `cargo test` runs a binary:
//!   [`inproc`]);
//! * **timing/flaky**: it passes and fails in identical configurations;
//! * **always fails**: it fails everywhere (broken, not a determinism problem).
//!
//! Order is controlled without touching the scheduler: [`run::run_shard`] starts tests
//! longest-estimate first, so the audit hands it estimates that encode the order it wants.
//!
//! After the configurations, the audit names the other test of each finding ([`culprit`]):
//! a pair from the tests that ran beside a parallel failure (the attempts' start times and
//! durations), a polluter or provider by bisecting the tests that ran before an
//! order-dependent or in-process failure. Every search run is a [`ConfigRun`] of kind
//! [`ConfigKind::Pair`] or [`ConfigKind::Bisect`], priced from the baseline's durations and
//! skipped when it does not fit the budget.
//!
//! Where things live:
//!
//! * the inputs: [`AuditOptions`] (`options`) and [`AuditError`] (`error`);
//! * the configurations compared: [`ConfigKind`] (`kind`);
//! * the verdict on one test: [`Tally`], [`CauseClass`], [`classify`] (`classify`);
//! * the findings: [`AuditReport`] and its parts, also the JSON form (`report`), and their
//!   human rendering (`render`);
//! * the engine ([`audit`], `auditor`): which configurations run and what each costs
//!   (`schedule`), the start order and runner settings of one run (`order`), the budget and
//!   timeouts (`budget`), running one configuration (`execute`) and counting it (`record`);
//! * naming the other test: the search per class (`partners`), the pair search (`pair`),
//!   the bisection of earlier tests (`bisect`), each search run being a trial (`trial`);
//!   the search logic free of execution is [`culprit`], running tests in one process is
//!   [`inproc`].
//!
//! [`run::run_shard`]: crate::run::run_shard
//! [`RunnerConfig`]: crate::run::RunnerConfig

pub mod culprit;
pub use crate::history::flakiness as flaky;
pub mod inproc;

mod auditor;
mod bisect;
mod budget;
mod classify;
mod error;
mod execute;
mod kind;
mod options;
mod order;
mod pair;
mod partners;
mod record;
mod render;
mod report;
mod schedule;
mod trial;

#[cfg(test)]
mod sample;

pub use auditor::audit;
pub use classify::{CauseClass, Tally, classify};
pub use error::AuditError;
pub use kind::ConfigKind;
pub use options::{AUTO_TIMEOUT_MIN, AuditOptions};
pub use render::key_lines;
pub use report::{AUDIT_VERSION, AuditReport, ConfigRun, ConfigStatus, Culprit, Suspect};
