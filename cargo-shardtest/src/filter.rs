//! Test selection with `cargo test`'s meaning: substring filters, `--exact`, `--skip`,
//! `--ignored`, `--include-ignored`.

use crate::list::TestCase;

/// What to do with `#[ignore]`d tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IgnoredMode {
    /// Ignored tests are skipped (reported as skipped).
    #[default]
    Skip,
    /// Only ignored tests run (`--ignored`).
    Only,
    /// Ignored tests run too (`--include-ignored`).
    Include,
}

/// The selection a user asked for.
///
/// ```
/// use shardtest::filter::TestFilter;
/// let f = TestFilter { patterns: vec!["orders".into()], skip: vec!["slow".into()], ..Default::default() };
/// assert!(f.matches_name("api::orders::creates"));
/// assert!(!f.matches_name("api::orders::slow_report"));
/// assert!(!f.matches_name("api::users::creates"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestFilter {
    /// Positional filters: a test is selected when any matches (all tests when empty).
    pub patterns: Vec<String>,
    /// Filters and skips must equal the whole name rather than be a substring of it.
    pub exact: bool,
    /// Tests matching any of these are left out.
    pub skip: Vec<String>,
    /// Ignored-test handling.
    pub ignored: IgnoredMode,
    /// When set, only these tests can be selected (`--rerun-failed`); an ignored test in the
    /// set runs, as it failed when it ran before.
    pub only: Option<std::collections::BTreeSet<crate::id::TestId>>,
    /// nextest filtersets (`-E`): a test must match one of them (and the patterns above).
    /// Evaluated by [`crate::filterset`] once the package graph is known, not by [`Self::select`].
    pub expressions: Vec<String>,
    /// `--skip-non-critical`: `#[shard::non_critical]` tests are reported as skipped.
    pub skip_non_critical: bool,
    /// The nextest profile whose overrides apply (`--nextest-profile`, `NEXTEST_PROFILE`).
    pub nextest_profile: Option<String>,
    /// `--ignore-default-filter`: the nextest profile's `default-filter` does not apply.
    pub ignore_default_filter: bool,
}

/// How a selected test is to be treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Not part of this run at all (filtered out).
    Excluded,
    /// Part of the run, reported as skipped (ignored).
    Skip,
    /// Runs.
    Run,
}

impl TestFilter {
    /// The selection in words, for messages: `filters "db", "orders" (exact), skipping "slow"`.
    ///
    /// ```
    /// use shardtest::filter::TestFilter;
    /// let f = TestFilter { patterns: vec!["db".into()], skip: vec!["slow".into()], ..Default::default() };
    /// assert_eq!(f.describe(), "the filter `db`, skipping `slow`");
    /// assert_eq!(TestFilter::default().describe(), "no filter");
    /// ```
    pub fn describe(&self) -> String {
        let quoted = |v: &[String]| {
            v.iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut parts = Vec::new();
        if !self.patterns.is_empty() {
            let noun = if self.patterns.len() == 1 {
                "the filter"
            } else {
                "the filters"
            };
            let exact = if self.exact { " (--exact)" } else { "" };
            parts.push(format!("{noun} {}{exact}", quoted(&self.patterns)));
        }
        if !self.skip.is_empty() {
            parts.push(format!("skipping {}", quoted(&self.skip)));
        }
        match self.ignored {
            IgnoredMode::Only => parts.push("--ignored".into()),
            IgnoredMode::Include => parts.push("--include-ignored".into()),
            IgnoredMode::Skip => {}
        }
        if let Some(only) = &self.only {
            parts.push(format!("the {} failed tests of --rerun-failed", only.len()));
        }
        for e in &self.expressions {
            parts.push(format!("-E `{e}`"));
        }
        if self.skip_non_critical {
            parts.push("--skip-non-critical".into());
        }
        if parts.is_empty() {
            "no filter".into()
        } else {
            parts.join(", ")
        }
    }

    fn hit(&self, pattern: &str, name: &str) -> bool {
        if self.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    }

    /// True when the name passes the positional filters and the skips.
    pub fn matches_name(&self, name: &str) -> bool {
        (self.patterns.is_empty() || self.patterns.iter().any(|p| self.hit(p, name)))
            && !self.skip.iter().any(|s| self.hit(s, name))
    }

    /// How `case` is treated by this filter.
    ///
    /// ```
    /// use shardtest::filter::{IgnoredMode, Selection, TestFilter};
    /// use shardtest::list::TestCase;
    /// let case = TestCase { id: "p slow".parse().unwrap(), ignored: true, attributes: Default::default() };
    /// assert_eq!(TestFilter::default().select(&case), Selection::Skip);
    /// let only = TestFilter { ignored: IgnoredMode::Only, ..Default::default() };
    /// assert_eq!(only.select(&case), Selection::Run);
    /// ```
    pub fn select(&self, case: &TestCase) -> Selection {
        if !self.matches_name(case.id.name.as_str()) {
            return Selection::Excluded;
        }
        if let Some(only) = &self.only {
            return if only.contains(&case.id) {
                Selection::Run
            } else {
                Selection::Excluded
            };
        }
        if self.skip_non_critical && case.attributes.non_critical {
            return Selection::Skip;
        }
        match (self.ignored, case.ignored) {
            (IgnoredMode::Skip, true) => Selection::Skip,
            (IgnoredMode::Only, false) => Selection::Excluded,
            _ => Selection::Run,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_needs_the_whole_name() {
        let f = TestFilter {
            patterns: vec!["a::b".into()],
            exact: true,
            ..Default::default()
        };
        assert!(f.matches_name("a::b"));
        assert!(!f.matches_name("a::bc"));
    }

    #[test]
    fn include_ignored_runs_everything() {
        let f = TestFilter {
            ignored: IgnoredMode::Include,
            ..Default::default()
        };
        let c = TestCase {
            id: "p t".parse().unwrap(),
            ignored: true,
            attributes: Default::default(),
        };
        assert_eq!(f.select(&c), Selection::Run);
        let c = TestCase {
            ignored: false,
            ..c
        };
        assert_eq!(f.select(&c), Selection::Run);
    }
}
