//! A package's doctests as a listed binary: how cargo runs them ([`DocTarget`]) and what
//! starting a batch of them costs ([`DocCost`], [`batch_setup`]).

use crate::id::{BinaryId, TestId, TestName};
use crate::list::TestCase;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// How to run one package's doctests: recorded on its [`TestBinary`](super::TestBinary).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocTarget {
    /// Arguments after `cargo test --doc`: the package and the user's build options
    /// (features, profile, target, manifest path).
    pub cargo_args: Vec<String>,
    /// Every doctest of the package, ignored ones included: the filters of a batch are
    /// chosen against this whole list so that no other doctest runs.
    pub names: Vec<String>,
    /// The `#[ignore]`d (```` ```ignore ````) ones among `names` (archives rebuild the
    /// listing from these two).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
    /// Why these doctests cannot run here (an archive run without sources or cargo): each
    /// is reported as not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// The library's edition (`2021`, `2024`, ...): from 2024 rustdoc merges doctests.
    #[serde(default)]
    pub edition: String,
    /// What a batch of these doctests costs to start, learned from the timings history
    /// ([`learn_costs`](crate::doctest::learn_costs)); `None`: the defaults ([`BATCH_SETUP`], [`MERGED_BUILD_PER_DOCTEST`]).
    /// Not part of the listing (an archive's doctests learn it from the history they plan
    /// with).
    #[serde(skip)]
    pub cost: Option<DocCost>,
}

/// The model of a doctest batch's start-up: `fixed + per_doctest x doctests of the package`
/// (`per_doctest` is zero before edition 2024, where rustdoc compiles each doctest as part of
/// its own run).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DocCost {
    /// Paid by every batch: cargo's start-up and freshness check, rustdoc collecting.
    pub fixed: Duration,
    /// Per doctest of the package (edition 2024 and later: the merged build).
    pub per_doctest: Duration,
}

impl DocCost {
    /// The defaults, before any batch of the package was measured.
    ///
    /// ```
    /// use shardtest::doctest::DocCost;
    /// assert_eq!(DocCost::default_for(false).per_doctest, std::time::Duration::ZERO);
    /// assert!(DocCost::default_for(true).per_doctest > std::time::Duration::ZERO);
    /// ```
    pub fn default_for(merged: bool) -> DocCost {
        DocCost {
            fixed: BATCH_SETUP,
            per_doctest: if merged {
                MERGED_BUILD_PER_DOCTEST
            } else {
                Duration::ZERO
            },
        }
    }

    /// The start-up of a batch of a package with `doctests` doctests.
    pub fn for_doctests(&self, doctests: usize) -> Duration {
        self.fixed + self.per_doctest * u32::try_from(doctests).unwrap_or(u32::MAX)
    }
}

/// Whether rustdoc merges the doctests of a crate of this edition into one binary.
pub(crate) fn merged(edition: &str) -> bool {
    edition.parse::<u32>().is_ok_and(|e| e >= 2024)
}

impl DocTarget {
    /// The arguments without the build machine's paths (`--manifest-path`, `--target-dir`),
    /// for an archive.
    ///
    /// ```
    /// # use shardtest::doctest::DocTarget;
    /// let d = DocTarget { cargo_args: ["-p", "a@1.0.0", "--release", "--manifest-path", "/w/Cargo.toml"]
    ///     .map(String::from).to_vec(), names: vec![], ignored: vec![], unavailable: None,
    ///     edition: "2021".into(), cost: None };
    /// assert_eq!(d.portable().cargo_args, ["-p", "a@1.0.0", "--release"]);
    /// ```
    pub fn portable(&self) -> DocTarget {
        let mut args = Vec::new();
        let mut it = self.cargo_args.iter();
        while let Some(a) = it.next() {
            if a == "--manifest-path" || a == "--target-dir" {
                it.next();
            } else {
                args.push(a.clone());
            }
        }
        DocTarget {
            cargo_args: args,
            ..self.clone()
        }
    }

    /// The tests of a package's doctest binary, rebuilt from the recorded names.
    pub fn tests(&self, binary: &BinaryId) -> Vec<TestCase> {
        let ignored: BTreeSet<&str> = self.ignored.iter().map(String::as_str).collect();
        self.names
            .iter()
            .map(|n| TestCase {
                id: TestId::new(binary.clone(), TestName::new(n.clone())),
                ignored: ignored.contains(n.as_str()),
                attributes: Default::default(),
            })
            .collect()
    }
}

/// What starting any doctest batch costs before its first doctest runs: cargo's start-up and
/// freshness check and rustdoc collecting the doctests (0.4 s measured on a quiet 2-core
/// machine for `cargo test --doc -- --list`; see BENCHMARKS.md). The default until a
/// package's batches were measured ([`learned_cost`](crate::doctest::learned_cost)); a doctest's own recorded time starts
/// when libtest starts it and holds none of this.
pub const BATCH_SETUP: Duration = Duration::from_millis(500);

/// In edition 2024 and later, what building the merged doctest binary adds to every batch,
/// per doctest of the package (1.3 s measured for 100 trivial doctests).
pub const MERGED_BUILD_PER_DOCTEST: Duration = Duration::from_millis(13);

/// The fixed cost of one batch of `doc`'s doctests: its learned [`DocTarget::cost`], or by
/// default [`BATCH_SETUP`] plus, in edition 2024 and later, [`MERGED_BUILD_PER_DOCTEST`] per
/// doctest of the package (rustdoc builds the merged binary of all of them).
///
/// ```
/// use shardtest::doctest::{batch_setup, DocCost, DocTarget};
/// use std::time::Duration;
/// let mut d = DocTarget { cargo_args: vec![], names: vec!["a".into(); 100], ignored: vec![],
///     unavailable: None, edition: "2021".into(), cost: None };
/// assert_eq!(batch_setup(&d), Duration::from_millis(500));
/// d.edition = "2024".into();
/// assert_eq!(batch_setup(&d), Duration::from_millis(1800));
/// d.cost = Some(DocCost { fixed: Duration::from_millis(300), per_doctest: Duration::from_millis(2) });
/// assert_eq!(batch_setup(&d), Duration::from_millis(500));
/// ```
pub fn batch_setup(doc: &DocTarget) -> Duration {
    doc.cost
        .unwrap_or_else(|| DocCost::default_for(merged(&doc.edition)))
        .for_doctests(doc.names.len())
}
