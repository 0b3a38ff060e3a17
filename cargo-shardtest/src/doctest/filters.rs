//! Libtest filters that select exactly the doctests of a batch (see the module doc of
//! [`crate::doctest`] for why names cannot be passed whole).

use std::collections::BTreeSet;

/// The libtest arguments that run exactly a batch of doctests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DocArgs {
    /// Filters (whitespace-free substrings), one or more per included doctest.
    pub filters: Vec<String>,
    /// `--skip` values (whitespace-free) that remove every other doctest the filters catch.
    pub skips: Vec<String>,
    /// The intended doctests these arguments select (indexes into the batch).
    pub included: Vec<usize>,
    /// Intended doctests left out: they cannot be selected together with the included
    /// ones; run them in another batch.
    pub deferred: Vec<usize>,
    /// Other doctests these arguments run too, because no filter can leave them out (every
    /// piece of their name is in the intended doctest's name, e.g. `a (line 11)` beside
    /// `b::a (line 11)` and `b::a (line 1)`). Only ever for a batch of one; their results
    /// are ignored.
    pub extras: Vec<String>,
}

/// What libtest runs given `filters` and `skips` (substring matches, as rustdoc passes
/// them): the reference the filter choice is tested against.
///
/// ```
/// let all = ["src/lib.rs - a (line 4)", "src/lib.rs - a (line 40)"];
/// let run = shardtest::doctest::libtest_selects(&all, &["4)".into()], &[]);
/// assert_eq!(run, vec!["src/lib.rs - a (line 4)"]);
/// ```
pub fn libtest_selects<'a>(all: &[&'a str], filters: &[String], skips: &[String]) -> Vec<&'a str> {
    all.iter()
        .copied()
        .filter(|n| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .filter(|n| !skips.iter().any(|s| n.contains(s.as_str())))
        .collect()
}

/// Whitespace-free pieces of a name usable as a filter or `--skip` (not `-`, which libtest
/// would read as an option).
fn tokens(name: &str) -> impl Iterator<Item = &str> {
    name.split_whitespace().filter(|t| !t.starts_with('-'))
}

/// Chooses filters and skips selecting exactly `batch` (names) out of `all` (every doctest
/// of the package). Tests that cannot join the others are [`DocArgs::deferred`]; a test that
/// cannot be selected even alone is deferred too (callers report it).
///
/// ```
/// let all = ["p.rs - f (line 1)", "p.rs - f (line 11)", "p.rs - g (line 3)"];
/// let a = shardtest::doctest::selection_args(&["p.rs - f (line 1)"], &all);
/// assert_eq!(shardtest::doctest::libtest_selects(&all, &a.filters, &a.skips), vec!["p.rs - f (line 1)"]);
/// ```
pub fn selection_args(batch: &[&str], all: &[&str]) -> DocArgs {
    let mut args = DocArgs::default();
    // The usual case: the whole batch at once.
    if let Some((filters, skips, _)) = solve(batch, all, false) {
        args.included = (0..batch.len()).collect();
        (args.filters, args.skips) = (filters, skips);
        return args;
    }
    // A big batch is halved (the other half runs later) before the greedy search below,
    // which costs a solve per test.
    if batch.len() > 32 {
        let half = batch.len() / 2;
        let mut first = selection_args(&batch[..half], all);
        first.deferred.extend(half..batch.len());
        return first;
    }
    let mut chosen: Vec<&str> = Vec::new();
    for (i, name) in batch.iter().enumerate() {
        let mut candidate = chosen.clone();
        candidate.push(name);
        match solve(&candidate, all, false) {
            Some((f, s, _)) => {
                chosen = candidate;
                args.included.push(i);
                (args.filters, args.skips) = (f, s);
            }
            None => args.deferred.push(i),
        }
    }
    if args.included.is_empty() && !batch.is_empty() {
        // Not even the first test can be selected alone: run it with the fewest others.
        if let Some((f, s, extras)) = solve(&batch[..1], all, true) {
            (args.filters, args.skips, args.extras) = (f, s, extras);
            args.included = vec![0];
            args.deferred = (1..batch.len()).collect();
        }
    }
    args
}

/// Filters and skips selecting exactly `want` from `all`, if this greedy choice finds them;
/// with `allow_extras`, the other doctests no skip can remove run too (returned).
fn solve(
    want: &[&str],
    all: &[&str],
    allow_extras: bool,
) -> Option<(Vec<String>, Vec<String>, Vec<String>)> {
    let wanted: BTreeSet<&str> = want.iter().copied().collect();
    // Some piece of the name of an unwanted test that no wanted name contains.
    let skippable = |n: &str| tokens(n).any(|t| !wanted.iter().any(|w| w.contains(t)));
    let mut filters: Vec<String> = Vec::new();
    for name in want {
        // The token catching the fewest other names that cannot be skipped, then the fewest
        // other names (line tokens like `12)` usually win).
        let best = tokens(name).min_by_key(|t| {
            let caught = all
                .iter()
                .filter(|n| !wanted.contains(**n) && n.contains(*t));
            (
                caught.clone().filter(|n| !skippable(n)).count(),
                caught.count(),
                std::cmp::Reverse(t.len()),
            )
        })?;
        if !filters.iter().any(|f| f == best) {
            filters.push(best.to_string());
        }
    }
    let mut skips: Vec<String> = Vec::new();
    let mut extras: Vec<String> = Vec::new();
    for extra in libtest_selects(all, &filters, &[]) {
        if wanted.contains(extra) || skips.iter().any(|s| extra.contains(s.as_str())) {
            continue;
        }
        // Longest token of the extra that no wanted name contains.
        match tokens(extra)
            .filter(|t| !wanted.iter().any(|w| w.contains(t)))
            .max_by_key(|t| t.len())
        {
            Some(skip) => skips.push(skip.to_string()),
            None if allow_extras => extras.push(extra.to_string()),
            None => return None,
        }
    }
    let got: BTreeSet<&str> = libtest_selects(all, &filters, &skips).into_iter().collect();
    let mut expected = wanted.clone();
    expected.extend(extras.iter().map(String::as_str));
    (got == expected).then_some((filters, skips, extras))
}
