//! Reading libtest's human output (`--format pretty`, one test at a time): which test a
//! `test NAME ... RESULT` line is about, and what the result was.
//!
//! libtest prints more than the name before ` ... `: a test mode suffix for
//! `#[should_panic]` tests (`test kmerge - should panic ... ok`) and for doctests
//! (`test src/lib.rs - f (line 3) - compile ... ok`, `- compile fail`), and harnesses such as
//! libtest-mimic pad names to one width. Names themselves may contain spaces (doctests always
//! do). [`parse_test_line`] is the one place that maps such a line back to a known test.

/// What libtest said about a test that finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineResult {
    /// `ok`.
    Ok,
    /// `FAILED`.
    Failed,
    /// `ignored`, or `ignored, REASON` (the reason is kept).
    Ignored(Option<String>),
}

/// The mode suffixes libtest appends after a test's name (`NAME - should panic`), longest
/// first so that `- compile fail` is not taken for `- compile`.
pub const MODE_SUFFIXES: [&str; 3] = [" - should panic", " - compile fail", " - compile"];

/// Maps the text libtest printed for a test's name to a known test: the text as it is (minus
/// padding), else with one known mode suffix removed.
///
/// ```
/// use shardtest::run::libtest_output::resolve_name;
/// let known = |n: &str| ["a::b", "src/lib.rs - f (line 3)"].iter().position(|k| *k == n);
/// assert_eq!(resolve_name("a::b - should panic", known), Some(0));
/// assert_eq!(resolve_name("src/lib.rs - f (line 3) - compile fail", known), Some(1));
/// assert_eq!(resolve_name("a::b   ", known), Some(0));
/// assert_eq!(resolve_name("a::c", known), None);
/// ```
pub fn resolve_name<T>(printed: &str, lookup: impl Fn(&str) -> Option<T>) -> Option<T> {
    let printed = printed.trim_end();
    if let Some(t) = lookup(printed) {
        return Some(t);
    }
    MODE_SUFFIXES.iter().find_map(|suffix| {
        printed
            .strip_suffix(suffix)
            .and_then(|name| lookup(name.trim_end()))
    })
}

fn parse_result(text: &str) -> Option<LineResult> {
    let text = text.trim_end();
    match text {
        "ok" => Some(LineResult::Ok),
        "FAILED" => Some(LineResult::Failed),
        "ignored" => Some(LineResult::Ignored(None)),
        _ => text
            .strip_prefix("ignored, ")
            .map(|reason| LineResult::Ignored(Some(reason.to_string()))),
    }
}

/// Parses a whole line `test NAME[ - MODE] ... RESULT` into the test it is about and its
/// result. `lookup` maps an exact test name to the caller's handle for it; a line about a
/// test `lookup` does not know, or whose result is not one of libtest's, is `None` (it is
/// output of the test itself).
///
/// Every ` ... ` of the line is tried as the separator, so names containing ` ... ` and
/// `ignored` reasons containing it both work.
///
/// ```
/// use shardtest::run::libtest_output::{parse_test_line, LineResult};
/// let known = |n: &str| ["kmerge", "name with spaces", "t"].iter().position(|k| *k == n);
/// assert_eq!(parse_test_line("test kmerge - should panic ... ok", known), Some((0, LineResult::Ok)));
/// assert_eq!(parse_test_line("test name with spaces ... FAILED", known), Some((1, LineResult::Failed)));
/// assert_eq!(
///     parse_test_line("test t ... ignored, needs a db ... really", known),
///     Some((2, LineResult::Ignored(Some("needs a db ... really".into())))),
/// );
/// assert_eq!(parse_test_line("test t ... hello from a child process", known), None);
/// assert_eq!(parse_test_line("test unknown ... ok", known), None);
/// ```
pub fn parse_test_line<T>(
    line: &str,
    lookup: impl Fn(&str) -> Option<T>,
) -> Option<(T, LineResult)> {
    let rest = line.strip_prefix("test ")?;
    let mut from = 0;
    while let Some(at) = rest[from..].find(" ... ") {
        let split = from + at;
        let (name, result) = (&rest[..split], &rest[split + 5..]);
        if let Some(result) = parse_result(result)
            && let Some(t) = resolve_name(name, &lookup)
        {
            return Some((t, result));
        }
        from = split + 1;
    }
    None
}

/// Parses the start of a line, `test NAME[ - MODE] ... ` with nothing after it yet: libtest
/// prints it when the test begins (with one test thread), the result comes when it ends.
///
/// ```
/// use shardtest::run::libtest_output::parse_test_started;
/// let known = |n: &str| (n == "slow").then_some(7);
/// assert_eq!(parse_test_started("test slow - should panic ... ", known), Some(7));
/// assert_eq!(parse_test_started("test slow ... ok", known), None);
/// ```
pub fn parse_test_started<T>(partial: &str, lookup: impl Fn(&str) -> Option<T>) -> Option<T> {
    let name = partial.strip_prefix("test ")?.strip_suffix(" ... ")?;
    resolve_name(name, lookup)
}

/// The test a `---- NAME stdout ----` header of libtest's `failures:` section (or
/// libtest-mimic's `---- NAME ----`) introduces.
///
/// ```
/// use shardtest::run::libtest_output::parse_failure_header;
/// let known = |n: &str| (n == "a b").then_some(1);
/// assert_eq!(parse_failure_header("---- a b stdout ----", known), Some(1));
/// assert_eq!(parse_failure_header("---- a b ----", known), Some(1));
/// ```
pub fn parse_failure_header<T>(line: &str, lookup: impl Fn(&str) -> Option<T>) -> Option<T> {
    let inner = line.strip_prefix("---- ")?;
    if let Some(name) = inner.strip_suffix(" stdout ----")
        && let Some(t) = resolve_name(name, &lookup)
    {
        return Some(t);
    }
    resolve_name(inner.strip_suffix(" ----")?, lookup)
}
