//! Naming the other test of a suspect: the one running beside it when it fails (a *pair*),
//! the earlier one whose presence breaks it (a *polluter*), or the earlier one it needs (a
//! *provider*).
//!
//! This module holds the search logic, free of any test execution: ranking the candidates a
//! run's events point at ([`rank_beside`]), bisecting the tests that ran before a suspect
//! ([`bisect`]), and the replay commands of a finding ([`Replay`]). The auditor
//! ([`crate::audit`]) runs the trials.

use crate::id::TestId;
use crate::list::TestBinary;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// How the other test of a finding relates to the suspect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The suspect fails when the two run at the same time.
    Beside,
    /// The suspect fails when this test ran before it: it leaves something behind.
    Polluter,
    /// The suspect fails unless this test ran before it: it relies on what this one leaves.
    Provider,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Relation::Beside => "runs beside it",
            Relation::Polluter => "runs before it and breaks it",
            Relation::Provider => "runs before it and is needed by it",
        })
    }
}

/// The other test of a suspect, with the replays that show it.
#[derive(Clone, Debug, Serialize)]
pub struct Partner {
    /// The other test.
    pub id: TestId,
    /// How it relates to the suspect.
    pub relation: Relation,
    /// Found with the tests in one process (`cargo test`'s way) rather than one per process.
    pub in_process: bool,
    /// Replays of the suspect with this test.
    pub runs: u32,
    /// Of those, replays where the suspect failed.
    pub failures: u32,
    /// One line of evidence, e.g. "fails when run beside `b` (3 of 3 runs); passes alone (3 of 3)".
    pub evidence: String,
    /// A command that replays the two.
    pub replay: String,
}

/// One attempt of a test in a run: when it started, how long it took, whether it passed.
#[derive(Clone, Debug)]
pub struct Span {
    /// The test.
    pub id: TestId,
    /// Start of the attempt.
    pub start: SystemTime,
    /// Its duration.
    pub duration: Duration,
    /// It passed.
    pub passed: bool,
}

impl Span {
    fn end(&self) -> SystemTime {
        self.start + self.duration
    }

    /// How long `self` and `other` ran at the same time.
    ///
    /// ```
    /// use shardtest::audit::culprit::Span;
    /// use std::time::{Duration, UNIX_EPOCH};
    /// let s = |at: u64, ms: u64| Span { id: "p a".parse().unwrap(), start: UNIX_EPOCH + Duration::from_millis(at), duration: Duration::from_millis(ms), passed: true };
    /// assert_eq!(s(0, 100).overlap(&s(50, 100)), Duration::from_millis(50));
    /// assert_eq!(s(0, 100).overlap(&s(200, 10)), Duration::ZERO);
    /// ```
    pub fn overlap(&self, other: &Span) -> Duration {
        let start = self.start.max(other.start);
        let end = self.end().min(other.end());
        end.duration_since(start).unwrap_or_default()
    }
}

/// A candidate for the test that makes `suspect` fail beside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The candidate test.
    pub id: TestId,
    /// In how many of the suspect's failing runs it was running at the same time.
    pub runs_overlapped: u32,
    /// It ran beside the suspect for at least a tenth of the suspect's failing time.
    pub substantial: bool,
    /// Its recorded duration (what a replay beside it costs).
    pub cost: Duration,
}

/// The tests that were running while `suspect` failed, from the spans of each run it failed
/// in, in the order to try them: those present in the most failing runs first; among those,
/// the ones that ran beside it for a real share of its time before those that only touched
/// its start or end; then the cheapest first (ties by id).
///
/// ```
/// use shardtest::audit::culprit::{rank_beside, Span};
/// use std::time::{Duration, UNIX_EPOCH};
/// let s = |id: &str, at: u64, ms: u64, passed| Span { id: id.parse().unwrap(), start: UNIX_EPOCH + Duration::from_millis(at), duration: Duration::from_millis(ms), passed };
/// let run = vec![s("p victim", 0, 300, false), s("p holder", 0, 300, true), s("p quick", 298, 1, true), s("p later", 400, 5, true)];
/// let ranked = rank_beside(&"p victim".parse().unwrap(), &[run]);
/// let ids: Vec<String> = ranked.iter().map(|c| c.id.to_string()).collect();
/// assert_eq!(ids, ["p holder", "p quick"]);
/// ```
pub fn rank_beside(suspect: &TestId, failing_runs: &[Vec<Span>]) -> Vec<Candidate> {
    struct Acc {
        runs: u32,
        overlap: Duration,
        cost: Duration,
    }
    let mut acc: BTreeMap<TestId, Acc> = BTreeMap::new();
    let mut failing_time = Duration::ZERO;
    for run in failing_runs {
        for failed in run.iter().filter(|s| &s.id == suspect && !s.passed) {
            failing_time += failed.duration;
            let mut seen = std::collections::BTreeSet::new();
            for other in run.iter().filter(|s| &s.id != suspect) {
                let o = failed.overlap(other);
                if o.is_zero() {
                    continue;
                }
                let a = acc.entry(other.id.clone()).or_insert(Acc {
                    runs: 0,
                    overlap: Duration::ZERO,
                    cost: Duration::ZERO,
                });
                if seen.insert(other.id.clone()) {
                    a.runs += 1;
                }
                a.overlap += o;
                a.cost = a.cost.max(other.duration);
            }
        }
    }
    let mut out: Vec<Candidate> = acc
        .into_iter()
        .map(|(id, a)| Candidate {
            id,
            runs_overlapped: a.runs,
            substantial: a.overlap * 10 >= failing_time,
            cost: a.cost,
        })
        .collect();
    out.sort_by(|a, b| {
        b.runs_overlapped
            .cmp(&a.runs_overlapped)
            .then(b.substantial.cmp(&a.substantial))
            .then(a.cost.cmp(&b.cost))
            .then_with(|| a.id.cmp(&b.id))
    });
    out
}

/// The end of a bisection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Bisected {
    /// The one earlier test whose presence gives the suspect's outcome.
    Found(TestId),
    /// No single earlier test does it (it takes several, or the outcome did not repeat).
    NotFound,
    /// A trial could not be made (the budget; the reason).
    Skipped(String),
}

/// Outcome of one bisection trial: did the suspect show the sought outcome?
pub type Trial = Result<bool, String>;

/// Finds the one test among `before` (the tests that ran before the suspect, in that order)
/// whose presence alone gives the suspect the sought outcome, when all of `before` do.
/// `trial(subset)` runs `subset` then the suspect, in that order, and says whether the
/// suspect showed the outcome (`Err(reason)` when the trial was not made). Halves are tried
/// first half first; `log2(n)` to `2 log2(n)` trials.
///
/// ```
/// use shardtest::audit::culprit::{bisect, Bisected};
/// let before: Vec<shardtest::id::TestId> = (0..9).map(|i| format!("p t{i}").parse().unwrap()).collect();
/// let polluter = before[6].clone();
/// let mut trials = 0;
/// let found = bisect(&before, &mut |subset| { trials += 1; Ok(subset.contains(&polluter)) });
/// assert_eq!(found, Bisected::Found(polluter));
/// assert!(trials <= 8, "{trials}");
/// ```
pub fn bisect(before: &[TestId], trial: &mut dyn FnMut(&[TestId]) -> Trial) -> Bisected {
    let mut cands = before.to_vec();
    loop {
        match cands.len() {
            0 => return Bisected::NotFound,
            1 => return Bisected::Found(cands.remove(0)),
            n => {
                let (first, second) = cands.split_at(n / 2);
                match trial(first) {
                    Err(why) => return Bisected::Skipped(why),
                    Ok(true) => {
                        cands = first.to_vec();
                        continue;
                    }
                    Ok(false) => {}
                }
                match trial(second) {
                    Err(why) => return Bisected::Skipped(why),
                    Ok(true) => cands = second.to_vec(),
                    Ok(false) => return Bisected::NotFound,
                }
            }
        }
    }
}

/// The `cargo test` target options that select `binary`, e.g. `-p billing --test api`.
///
/// ```
/// use shardtest::audit::culprit::cargo_selector;
/// let b = shardtest::list::TestBinary::new("billing", "test", "api", "/t/api");
/// assert_eq!(cargo_selector(&b), "-p billing --test api");
/// ```
pub fn cargo_selector(binary: &TestBinary) -> String {
    let target = match binary.kind.as_str() {
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => "--lib".to_string(),
        "test" | "bin" | "example" | "bench" => {
            format!("--{} {}", binary.kind, shell_word(&binary.target_name))
        }
        _ => String::new(),
    };
    format!("-p {} {target}", shell_word(&binary.package_name))
        .trim_end()
        .to_string()
}

/// `s` as one shell word: as is when it is plain, else in single quotes.
///
/// ```
/// use shardtest::audit::culprit::shell_word;
/// assert_eq!(shell_word("tests::a_b"), "tests::a_b");
/// assert_eq!(shell_word("it's"), r"'it'\''s'");
/// ```
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-:./=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Replay commands of a finding, built from the two tests' binaries.
///
/// ```
/// use shardtest::audit::culprit::Replay;
/// let b = shardtest::list::TestBinary::new("demo", "lib", "demo", "/t/demo");
/// let (a, v): (shardtest::id::TestId, shardtest::id::TestId) = ("demo t::a".parse().unwrap(), "demo t::v".parse().unwrap());
/// let r = Replay { other: (&a, &b), suspect: (&v, &b) };
/// assert_eq!(r.in_process(true), "cargo test -p demo --lib -- --exact t::a t::v --test-threads 1");
/// assert_eq!(r.beside(3), "cargo shardtest run -p demo --lib -j 2 --repeat 3 --exact t::a t::v");
/// assert_eq!(r.in_order(), "cargo test -p demo --lib -- --exact t::a ; cargo test -p demo --lib -- --exact t::v");
/// ```
pub struct Replay<'a> {
    /// The other test and its binary.
    pub other: (&'a TestId, &'a TestBinary),
    /// The suspect and its binary.
    pub suspect: (&'a TestId, &'a TestBinary),
}

impl Replay<'_> {
    /// Both at once, in separate processes, several times: `cargo shardtest run ... -j 2`.
    pub fn beside(&self, repeat: u32) -> String {
        let mut sel = cargo_selector(self.suspect.1);
        if self.other.1.id != self.suspect.1.id {
            // Two targets: name both packages and leave the targets to the filters.
            sel = format!(
                "-p {} -p {}",
                shell_word(&self.suspect.1.package_name),
                shell_word(&self.other.1.package_name)
            );
        }
        format!(
            "cargo shardtest run {sel} -j 2 --repeat {repeat} --exact {} {}",
            shell_word(self.other.0.name.as_str()),
            shell_word(self.suspect.0.name.as_str())
        )
    }

    /// The other test then the suspect, each in its own process, in that order.
    pub fn in_order(&self) -> String {
        format!(
            "cargo test {} -- --exact {} ; cargo test {} -- --exact {}",
            cargo_selector(self.other.1),
            shell_word(self.other.0.name.as_str()),
            cargo_selector(self.suspect.1),
            shell_word(self.suspect.0.name.as_str())
        )
    }

    /// Both in one process, as `cargo test` runs them: one thread (libtest runs them in name
    /// order, which is the order they ran in) or the default thread count.
    pub fn in_process(&self, one_thread: bool) -> String {
        format!(
            "cargo test {} -- --exact {} {}{}",
            cargo_selector(self.suspect.1),
            shell_word(self.other.0.name.as_str()),
            shell_word(self.suspect.0.name.as_str()),
            if one_thread { " --test-threads 1" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<TestId> {
        (0..n)
            .map(|i| format!("p t{i:02}").parse().unwrap())
            .collect()
    }

    fn span(id: &str, at: u64, ms: u64, passed: bool) -> Span {
        Span {
            id: id.parse().unwrap(),
            start: std::time::UNIX_EPOCH + Duration::from_millis(at),
            duration: Duration::from_millis(ms),
            passed,
        }
    }

    #[test]
    fn the_test_beside_every_failure_comes_before_cheaper_bystanders() {
        let v: TestId = "p victim".parse().unwrap();
        let runs = vec![
            vec![
                span("p victim", 0, 300, false),
                span("p holder", 0, 290, true),
                span("p tick", 299, 2, true),
            ],
            vec![
                span("p victim", 1000, 300, false),
                span("p holder", 1010, 290, true),
                span("p tick", 1299, 2, true),
                span("p once", 1100, 1, true),
            ],
            // A run where it passed says nothing about who was beside it.
            vec![
                span("p victim", 2000, 300, true),
                span("p other", 2000, 300, true),
            ],
        ];
        let ranked: Vec<String> = rank_beside(&v, &runs)
            .into_iter()
            .map(|c| c.id.to_string())
            .collect();
        assert_eq!(ranked, ["p holder", "p tick", "p once"]);
    }

    #[test]
    fn replay_commands_quote_odd_names_and_name_both_packages() {
        let bin = |pkg: &str, kind: &str, target: &str| TestBinary {
            package_version: "1.0.0".into(),
            package_dir: "/w".into(),
            ..TestBinary::new(pkg, kind, target, "/t/x")
        };
        let (a, b) = (bin("api", "test", "it"), bin("db", "lib", "db"));
        let other: TestId = "api::it case with space".parse().unwrap();
        let victim: TestId = "db t::v".parse().unwrap();
        let r = Replay {
            other: (&other, &a),
            suspect: (&victim, &b),
        };
        assert_eq!(
            r.beside(2),
            "cargo shardtest run -p db -p api -j 2 --repeat 2 --exact 'case with space' t::v"
        );
        assert_eq!(
            r.in_order(),
            "cargo test -p api --test it -- --exact 'case with space' ; cargo test -p db --lib -- --exact t::v"
        );
    }

    #[test]
    fn bisect_finds_every_position() {
        for n in 1..20 {
            let before = ids(n);
            for p in 0..n {
                let target = before[p].clone();
                let found = bisect(&before, &mut |s| Ok(s.contains(&target)));
                assert_eq!(found, Bisected::Found(target), "n={n} p={p}");
            }
        }
    }

    #[test]
    fn bisect_gives_up_when_it_takes_two() {
        let before = ids(8);
        let (a, b) = (before[1].clone(), before[6].clone());
        let found = bisect(&before, &mut |s| Ok(s.contains(&a) && s.contains(&b)));
        assert_eq!(found, Bisected::NotFound);
    }

    #[test]
    fn bisect_reports_a_skipped_trial() {
        let found = bisect(&ids(4), &mut |_| Err("budget".into()));
        assert_eq!(found, Bisected::Skipped("budget".into()));
    }
}
