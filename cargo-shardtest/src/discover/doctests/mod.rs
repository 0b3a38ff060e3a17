//! Discovering doctests (`cargo test --doc -p PKG -- --list`, cached per package), which
//! packages and flags select them (as `cargo test` does), and doctests in archives: run
//! through cargo where the sources are, else reported as not run.
//!
//! `listing.rs` lists them (with the per-package cache in `cache.rs`),
//! `selection.rs` decides which packages and flags count, and `archived.rs` handles an
//! archive's doctests.

mod archived;
mod cache;
mod listing;
mod selection;

pub use archived::{NotRunDoctests, from_archive, split_unavailable};
pub use listing::{DocError, add_to_list, discover};
pub use selection::{DocSelection, check_args, features_for, selection, spec_matches};
