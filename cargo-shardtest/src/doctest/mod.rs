//! Doctests: discovering them (`cargo test --doc -p PKG -- --list`), choosing libtest
//! filters that select exactly the doctests of a batch, and matching doctests whose line
//! moved to their history.
//!
//! A package's doctests are one "binary" with the id `<package>::doc`; a doctest's name is
//! rustdoc's (`src/lib.rs - path::Item (line N)`, relative to the workspace root). They run
//! through cargo (`cargo test --doc -p PKG -- FILTERS --test-threads 1`), timed from
//! libtest's streamed lines like batch mode.
//!
//! Filters: cargo hands test arguments to rustdoc, which splits every one of them at
//! whitespace, and doctest names contain spaces. So `--exact NAME` never matches and `NAME`
//! becomes five filters (`src/lib.rs`, `-`, `Item`, `(line`, `N)`) that together select
//! nearly everything. [`selection_args`] therefore works with whitespace-free tokens only: a
//! filter per intended doctest that selects it, then `--skip` tokens that remove every other
//! doctest the filters caught, and never one of the intended ones. Tests that cannot be
//! selected together that way are left for a later batch.

//!
//! Where things are: the listed binary and its start-up model are in
//! [`crate::list::doc_target`]; the filters in `filters.rs`; the learned start-up in
//! `cost.rs`; history across moved lines in `moved.rs`; discovery (which needs cargo and the
//! command line) in `crate::discover::doctests`.

mod cost;
mod filters;
mod moved;

pub use crate::list::doc_target::{
    BATCH_SETUP, DocCost, DocTarget, MERGED_BUILD_PER_DOCTEST, batch_setup,
};
pub use cost::{add_setup_cost, batches_for, learn_costs, learned_cost, setup_costs};
pub use filters::{DocArgs, libtest_selects, selection_args};
pub use moved::moved_history;

use crate::list::TestBinary;
use std::path::Path;

/// Suffixes libtest appends to a doctest's name when it reports its result (`no_run`,
/// `compile_fail` and, in edition 2024, `should_panic` doctests); the listing has none.
pub const RESULT_SUFFIXES: [&str; 3] = [" - compile fail", " - compile", " - should panic"];

/// The package directory of a doctest binary as a working directory (cargo finds the
/// manifest from `--manifest-path` anyway).
pub(crate) fn work_dir(b: &TestBinary) -> &Path {
    crate::list::existing_dir(&b.package_dir)
}

#[cfg(test)]
mod tests {
    use super::moved::parts;
    use super::*;
    use crate::history::TimingStore;
    use crate::id::TestId;
    use std::collections::BTreeSet;

    fn check(batch: &[&str], all: &[&str]) -> DocArgs {
        let a = selection_args(batch, all);
        let mut want: BTreeSet<&str> = a.included.iter().map(|&i| batch[i]).collect();
        assert!(a.extras.is_empty() || a.included.len() == 1, "{a:?}");
        want.extend(a.extras.iter().map(String::as_str));
        let got: BTreeSet<&str> = libtest_selects(all, &a.filters, &a.skips)
            .into_iter()
            .collect();
        assert_eq!(got, want, "{a:?}");
        for f in a.filters.iter().chain(&a.skips) {
            assert!(!f.contains(char::is_whitespace) && !f.starts_with('-'));
        }
        a
    }

    #[test]
    fn line_prefixes_and_name_substrings_select_exactly() {
        let all = [
            "src/lib.rs - a (line 4)",
            "src/lib.rs - a (line 40)",
            "src/lib.rs - a (line 140)",
            "src/lib.rs - b::a (line 4)",
            "src/x/src/lib.rs - a (line 4)",
            "src/lib.rs - (line 1)",
            "src/lib.rs - (line 11)",
        ];
        for i in 0..all.len() {
            let a = check(&[all[i]], &all);
            assert_eq!(a.included, vec![0], "{} alone", all[i]);
            for j in 0..all.len() {
                if i != j {
                    let a = check(&[all[i], all[j]], &all);
                    assert_eq!(a.included.len() + a.deferred.len(), 2);
                }
            }
        }
        let a = check(&all, &all);
        assert!(a.included.len() >= 2, "{a:?}");
    }

    #[test]
    fn every_batch_of_a_generated_suite_is_exact() {
        // Deterministic pseudo-random names with many shared tokens.
        let mut all = Vec::new();
        for f in ["src/lib.rs", "src/a.rs", "src/x/src/lib.rs"] {
            for item in ["a", "b::a", "a::b", "Foo<T>::new"] {
                for line in [1, 4, 11, 40, 41] {
                    all.push(format!("{f} - {item} (line {line})"));
                }
            }
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut seed = 7u64;
        let (mut extras, mut batches) = (0, 0);
        for _ in 0..20 {
            let mut batch = Vec::new();
            for n in &all {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if (seed >> 33).is_multiple_of(5) {
                    batch.push(*n);
                }
            }
            let mut rest: Vec<&str> = batch.clone();
            // Deferred tests always make progress: run the batch until every test ran once.
            let mut ran: Vec<&str> = Vec::new();
            while !rest.is_empty() {
                let a = check(&rest, &all);
                assert!(!a.included.is_empty(), "no progress on {rest:?}");
                ran.extend(a.included.iter().map(|&i| rest[i]));
                extras += a.extras.len();
                rest = a.deferred.iter().map(|&i| rest[i]).collect();
            }
            ran.sort();
            batch.sort();
            assert_eq!(ran, batch);
            batches += 1;
        }
        // Every token in every combination is the worst case: some names can only run
        // with others, but never more of them than names.
        assert!(
            extras <= batches * all.len(),
            "{extras} extra runs in {batches} batches"
        );
    }

    #[test]
    fn a_name_whose_every_piece_is_in_another_runs_with_the_fewest_extras() {
        let all = [
            "src/lib.rs - b::a (line 11)",
            "src/lib.rs - a (line 11)",
            "src/lib.rs - b::a (line 1)",
            "src/lib.rs - c (line 5)",
        ];
        let a = check(&[all[0]], &all);
        assert_eq!(a.included, vec![0]);
        assert_eq!(a.extras.len(), 1, "{a:?}");
        // The others are exact.
        for n in &all[1..] {
            assert!(check(&[n], &all).extras.is_empty(), "{n}");
        }
    }

    #[test]
    fn moved_doctests_take_the_nearest_unused_history_once() {
        use crate::history::{RunStamp, Sample, SampleStatus};
        let mut store = TimingStore::default();
        for (name, ms) in [
            ("p::doc src/lib.rs - f (line 10)", 1000),
            ("p::doc src/lib.rs - f (line 20)", 2000),
            ("p::doc src/lib.rs - g (line 30)", 3000),
            ("q::doc src/lib.rs - f (line 10)", 4000),
        ] {
            store.record(
                name.parse().unwrap(),
                Sample {
                    run: RunStamp {
                        id: "r".into(),
                        at_unix_ms: 1,
                    },
                    duration: std::time::Duration::from_millis(ms),
                    status: SampleStatus::Passed,
                    workers: 1,
                    attributes: Default::default(),
                },
            );
        }
        let id = |s: &str| -> TestId { s.parse().unwrap() };
        // A line was inserted above everything: each doctest moved by one.
        let listed = [
            id("p::doc src/lib.rs - f (line 11)"),
            id("p::doc src/lib.rs - f (line 21)"),
            id("p::doc src/lib.rs - g (line 31)"),
            id("p::doc src/lib.rs - f (line 50)"),
            id("p::doc src/lib.rs - h (line 12)"),
        ];
        let m = moved_history(&listed, &store);
        assert_eq!(m[&listed[0]], id("p::doc src/lib.rs - f (line 10)"));
        assert_eq!(m[&listed[1]], id("p::doc src/lib.rs - f (line 20)"));
        assert_eq!(m[&listed[2]], id("p::doc src/lib.rs - g (line 30)"));
        // No history left for a third `f`, none ever for `h`; other packages never match.
        assert_eq!(m.len(), 3, "{m:?}");
        // A test with its own history keeps it.
        let m = moved_history(&[id("p::doc src/lib.rs - f (line 10)")], &store);
        assert!(m.is_empty());
    }

    #[test]
    fn name_parts() {
        assert_eq!(
            parts("src/lib.rs - a::B (line 7)"),
            Some(("src/lib.rs", "a::B", 7))
        );
        assert_eq!(parts("src/lib.rs - (line 1)"), Some(("src/lib.rs", "", 1)));
        assert_eq!(parts("x"), None);
    }
}
