//! The test history: recorded test durations and outcomes (the timings store) that the
//! planner turns into estimates, and the flakiness derived from them.
//!
//! A run's JSON report becomes samples in `ingest.rs` ([`run_record`]); the store
//! ([`TimingStore`]) records samples ([`TimingStore::record_run`], [`TimingStore::record`]),
//! never reports. [`flakiness`] reads the recorded statuses for flaky rates and spikes.
//!
//! # File format
//! A versioned JSON file ([`TIMINGS_VERSION`]): first a table of the runs the file refers to
//! (`[run id, start in ms since the epoch]`, oldest first), then one test per line. A sample
//! is `[run index, microseconds, workers]`, followed by its status when it is not `passed`
//! and by the test's attributes when it had any. A base is `[watermark run index, id,
//! samples, mean_us, last_us, last_workers, passed, flaky, failed]` (plus attributes).
//!
//! ```text
//! {"version":2,"runs":[
//! ["r-17",1700000000000],
//! ["r-18",1700000100000]
//! ],"tests":{
//! "app::api orders::creates":{"base":[0,"9f..",12,1480000,1475000,2,11,1,0],"runs":[[1,1502113,2]]},
//! "app::api orders::flaky":{"runs":[[1,211000,2,"flaky"]]}
//! }}
//! ```
//!
//! Each run's id is stored once instead of once per test: with eight kept runs that makes
//! the file about a sixth of the size of version 1, which spelt out every sample's run id
//! and start time, and loading and recording are that much cheaper. Version 1 files are
//! still read, and the next recording writes them back as version 2.
//!
//! Version 3 is version 2 plus, after the tests, what starting a batch of each package's
//! doctests cost (`"doc_costs":{"<package>::doc":[[run index, microseconds, doctests],...]}`,
//! see [`DocCostRuns`]). A store is written as version 3 only when it holds such costs and
//! as version 2 otherwise, so a history without doctests stays readable by older builds,
//! while an older build meeting doctest costs refuses the file as too new (below) instead
//! of reading it and silently dropping them the next time it writes.
//!
//! A file written by a
//! newer shardtest ([`TimingsError::FutureVersion`]), or one that is corrupt or truncated
//! ([`TimingsError::Corrupt`]), is an error; [`TimingStore::load_or_fallback`] turns that into
//! an empty store plus one warning whose text depends only on the path and the problem, so
//! every shard of a CI run falls back the same way and still computes the same plan.
//!
//! # Design: history as a set of per-run contributions
//! Every CI job carries its own copy of the file and adds its samples; a last job merges the
//! copies. If each copy only held aggregates (a mean and a count), merging eight copies of
//! "yesterday + one new run" would count yesterday eight times. So the store keeps, per test:
//!
//! * `runs`: one [`RunSample`] per run that measured the test, keyed by the run's unique id
//!   (`SHARDTEST_RUN_ID`, or a content hash for imported JUnit files). A run contributes at
//!   most one sample per test.
//! * `base`: an optional [`BaseSummary`] into which the oldest runs are folded once a test has
//!   more than [`KEEP_RUNS`] explicit runs. The base records its *watermark* (the
//!   `(at, run id)` of the newest run it absorbed) and an id derived from the previous base id
//!   and the folded run ids.
//!
//! [`TimingStore::merge`] is then a union: explicit runs are united by run id (the same run
//! seen twice is the same sample, so it counts once; on a conflicting duplicate the greater
//! value wins, which keeps the merge commutative); of two bases the one with the later
//! watermark wins (ties by id, then content), and explicit runs at or before the winning
//! watermark are dropped because the base already contains them. Folding is deterministic
//! (always the oldest runs beyond [`KEEP_RUNS`]), so copies that grew from the same file fold
//! identically and keep the same base. Merge is therefore commutative, associative and
//! idempotent on the stored data, and eight copies of yesterday plus one run each merge into
//! yesterday once plus each run once.
//!
//! The statistics ([`TestStats`]) are derived, never stored: start from the base, then apply
//! the explicit runs oldest first (by `(at, run id)`) to an integer EWMA with
//! `alpha = 0.3` ([`EWMA_ALPHA_PERCENT`]). Once a test has two samples, a new sample enters
//! the EWMA clamped to `[mean / 3, mean * 3]` ([`OUTLIER_FACTOR`]): one 100x outlier moves the
//! mean by at most 1.6x instead of rewriting it, while a test that really became slower
//! converges within a few runs. `last` keeps the unclamped duration.
//!
//! # Concurrency
//! [`TimingStore::save_merged`] takes an exclusive OS lock (`File::lock`) on a sibling
//! `<path>.lock` file, re-reads the file, merges this store into it and writes the result
//! atomically (temporary file + rename, [`crate::fsutil::write_atomic`]). Two processes
//! updating one file therefore never lose each other's samples, and a crash mid-write leaves
//! the old file.
//!
//! # Files
//! One concept per file: `sample.rs` (what the history is made of), `stats.rs` (derived
//! statistics), `merge.rs` (folding and merging a test's history), `store.rs` (the store),
//! `format/` (the file's versions, read and written), `persist.rs` (loading and saving under
//! the lock), `junit_import.rs`, `summary.rs`, `doc_costs.rs`, `ingest.rs` (reports to
//! samples) and [`flakiness`].

mod doc_costs;
mod error;
pub mod flakiness;
mod format;
mod ingest;
mod junit_import;
mod merge;
mod persist;
mod sample;
mod stats;
mod store;
mod summary;
#[cfg(test)]
mod test_support;

pub use crate::id::RunId;
pub use doc_costs::{DocCostRuns, DocCostSample};
pub use error::TimingsError;
pub use format::TIMINGS_VERSION;
pub use ingest::{measured_in, run_record};
pub use persist::{FileLock, FileStamp};
pub use sample::{
    BaseSummary, KEEP_RUNS, RunRecord, RunSample, RunSamples, RunStamp, Sample, SampleStatus,
    TestHistory, attributes_of,
};
pub use stats::{EWMA_ALPHA_PERCENT, OUTLIER_FACTOR, TestStats};
pub use store::TimingStore;
pub use summary::{ImportSummary, TimingSummary};
