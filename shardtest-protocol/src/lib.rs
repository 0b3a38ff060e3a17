//! `shardtest-protocol`: the formats that several shardtest crates share, and nothing else.
//!
//! The runner (`cargo-shardtest`), the test library (`shard`) and the attribute macros agree
//! through this crate only, as `nextest-metadata` does for nextest: ids ([`id`]), the shard a
//! job runs ([`shard`]), the attribute record a test binary prints when listed ([`attrs`]),
//! the environment variables the runner sets for test processes ([`env`](mod@env)), durations as
//! written by users and stored in files ([`duration`]), how attempts end ([`outcome`]), the
//! JSON report of a shard ([`report`]) and the exit codes ([`exit`]). It depends on serde
//! and thiserror only.
//!
//! ```
//! use shardtest_protocol::shard::ShardSpec;
//! let s: ShardSpec = "2/8".parse().unwrap();
//! assert_eq!(s.to_string(), "2/8");
//! ```
#![warn(missing_docs)]

pub mod attrs;
pub mod duration;
pub mod env;
pub mod exit;
pub mod id;
pub mod list;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod shard;
