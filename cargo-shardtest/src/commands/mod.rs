//! Subcommands beyond `run` and `list`, one module each: [`archive`] (build once, run
//! anywhere), [`report`] (`report merge`: one report for a CI matrix) and [`timeline`]
//! (where the wall time went). Each has a `clap::Args` struct and a `run` function returning
//! the exit status.

pub mod archive;
pub mod audit;
pub mod plan;
pub mod report;
pub mod timeline;
pub mod timings;
pub mod verify;
