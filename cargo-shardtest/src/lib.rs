//! `shardtest`: the library behind `cargo shardtest`.
//!
//! Data flows one way: [`discover`] builds the test binaries through cargo, [`list`] asks each
//! binary for its tests, [`filter`] selects, [`plan`] places tests into shards, [`run`]
//! executes one shard and emits a stream of [`event`]s, and the consumers in [`report`] turn
//! that stream into terminal output, JSON reports and the timings store.
#![warn(missing_docs)]

pub mod attrs;
pub mod event;
pub mod fsutil;
pub mod id;
pub mod list;
pub mod plan;
pub mod report;
pub mod serde_duration;
