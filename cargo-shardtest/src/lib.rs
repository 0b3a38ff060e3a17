//! `shardtest`: the library behind `cargo shardtest`.
//!
//! Data flows one way (a test, `tests/import_cycles.rs`, keeps it so): [`discover`] builds
//! the test binaries through cargo and lists doctests, [`list`] asks each binary for its
//! tests, [`filter`] selects, [`history`] holds the recorded durations and outcomes (and the
//! flakiness they show), [`pipeline`] turns them into plain estimates for [`plan`], which
//! places tests into shards, [`run`] executes one shard (its work from a
//! [`run::source::WorkSource`]: a static plan or the [`queue`]) and emits a stream of
//! [`event`]s, and the consumers in [`report`] turn that stream into terminal output, JUnit
//! and JSON reports, from which the history records its samples. The front end is [`cli`]
//! (clap types), [`settings`] (configuration layers) and [`commands`] (one module per
//! subcommand); the formats shared with the test-side library live in `shardtest-protocol`
//! and are re-exported here ([`id`], [`attrs`], [`shard`], [`schema`]).
#![warn(missing_docs)]

pub use shardtest_protocol::duration as serde_duration;
pub use shardtest_protocol::report as schema;
pub use shardtest_protocol::{attrs, id, shard};

pub mod archive;
pub mod audit;
pub mod ci;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod discover;
pub mod doctest;
pub mod event;
pub mod exit;
pub mod filter;
pub mod filterset;
pub mod fsutil;
pub mod history;
pub mod list;
pub mod nextest_config;
pub mod pipeline;
pub mod plan;
pub mod queue;
pub mod report;
pub mod rounds;
pub mod run;
pub mod runs_dir;
pub mod settings;
pub mod test_env;
pub mod toolchain;
pub mod verify;
