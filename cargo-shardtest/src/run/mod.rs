//! Running one shard: a scheduler on the calling thread hands jobs to `W` worker slots,
//! honouring serial keys and group limits, retries failures, enforces slow-test warnings and
//! hard timeouts, and emits the [`RunEvent`](crate::event::RunEvent) stream.
//!
//! How a job executes is the [`Isolation`] strategy's business: one process per test
//! ([`Isolation::Process`], the default) or many tests of one binary in one process
//! ([`Isolation::Batch`]). Workers report tests beginning and ending through the same
//! messages either way, so the scheduler and every consumer are shared.
//!
//! One concept per file: `config` (settings and paths), `test` (the tests and the results
//! workers report), `messages` (the scheduler/worker protocol), `interrupt` (Ctrl-C /
//! SIGTERM), `jobs` (start order, cutting tests into jobs), `driver` (a run from start to
//! end, the worker threads), `scheduler` (dispatch, deadlines, results), `os` (the runner's
//! own process control); `process`, `batch` and `doctest` execute jobs.

mod artifacts;
mod batch;
mod capture;
mod config;
mod doctest;
mod driver;
mod end_of_run;
pub mod guardian;
mod interrupt;
mod jobs;
mod leak;
pub mod libtest_output;
mod messages;
mod os;
mod process;
mod scheduler;
pub mod source;
mod test;

pub use config::{Isolation, RunnerConfig, default_artifact_root, new_run_id};
pub use driver::{RunOutcome, run_from, run_shard};
pub use interrupt::Interrupter;
pub(crate) use os::kill_group;
pub use process::{read_tail, signal_name};
pub use scheduler::MAX_UNRUN;
pub use test::ShardTest;

// The worker side (`process`, `batch`, `doctest`) reaches these through `super::`.
use messages::{Job, WorkerMsg, report_at_once};
use test::TestResult;
