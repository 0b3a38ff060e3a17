//! Subcommands beyond `run` and `list`, one module each: [`archive`] (build once, run
//! anywhere), [`report`] (`report merge`: one report for a CI matrix) [`timeline`]
//! (where the wall time went) and [`clean`] (remove run directories). Each has a `clap::Args` struct and a `run` function returning
//! the exit status.

pub mod archive;
pub mod audit;
pub mod clean;
pub mod list;
pub mod plan;
pub mod queue;
pub mod report;
pub mod run;
pub mod timeline;
pub mod timings;
pub mod verify;
