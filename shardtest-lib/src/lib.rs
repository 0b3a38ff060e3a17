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
//! `cargo test` alike ([`serial`], [`group`], [`flaky`], [`non_critical`]; [`threads`] is
//! scheduled by `cargo shardtest` and informational elsewhere) and worker-scoped
//! fixtures (ports, temp and artifact dirs, a host registry, clusters, PostgreSQL).
#![warn(missing_docs)]

pub use shardtest_macros::{flaky, group, hosts, non_critical, serial, threads};

pub mod lockdir;

// Test attributes at run time (issue 4).
#[doc(hidden)]
#[path = "registry.rs"]
pub mod __private;
pub mod attrs;

// Worker-scoped fixtures (issue 5).
pub mod cluster;
pub mod dirs;
pub mod hosts;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod port;
pub mod worker;
pub use cluster::{Cluster, Node, cluster, cluster_on};
pub use dirs::{TempDir, artifact_dir, temp_dir};
pub use port::{Port, port, ports};
pub use worker::worker_id;
