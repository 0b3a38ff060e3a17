//! `shard`: the test-side library of shardtest.
//!
//! Add it once to a crate's dev-dependencies and write `shard::...` in tests:
//!
//! ```toml
//! [dev-dependencies]
//! shardtest-lib = "0.1"   # the library's crate name is `shard`
//! ```
//!
//! It provides attributes that hold under `cargo shardtest`, `cargo nextest` and plain
//! `cargo test` alike ([`serial`], [`group`], [`flaky`], [`non_critical`]) and worker-scoped
//! fixtures (ports, temp and artifact dirs, a host registry, clusters, PostgreSQL).
#![warn(missing_docs)]

pub use shardtest_macros::{flaky, group, hosts, non_critical, serial};

pub mod lockdir;
