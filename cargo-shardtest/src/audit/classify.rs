//! The verdict on one test: its runs and failures per kind of configuration ([`Tally`]) and
//! the likely cause read from them ([`classify`] gives a [`CauseClass`] and the evidence in
//! one line). Each class is one step, tried from the most specific to the fallback.

use super::kind::ConfigKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// The likely cause of a suspect test's behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CauseClass {
    /// Fails only in some orders (needs, or is broken by, a test that runs before it).
    OrderDependent,
    /// Fails beside other tests in parallel; passes alone and at `-j 1`.
    SharedState,
    /// Passes in its own process but fails with other tests in one process (a `static`, a
    /// `OnceLock`, a process-wide variable): what `cargo test` exposes and the default
    /// process-per-test isolation hides.
    InProcessSharedState,
    /// Fails intermittently in identical configurations.
    TimingFlaky,
    /// Fails in every configuration: broken, not a determinism problem.
    AlwaysFails,
}

impl fmt::Display for CauseClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CauseClass::OrderDependent => "order-dependent",
            CauseClass::SharedState => "isolation/shared state",
            CauseClass::InProcessSharedState => "in-process shared state",
            CauseClass::TimingFlaky => "timing/flaky",
            CauseClass::AlwaysFails => "always fails",
        })
    }
}

/// Runs and failures of one test in one kind of configuration.
///
/// ```
/// use shardtest::audit::Tally;
/// let t = Tally { runs: 3, failures: 3, ..Default::default() };
/// assert!(t.reproducible() && t.mostly_fails());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Attempts that ran to an end (interrupted ones do not count).
    pub runs: u32,
    /// Of those, attempts that did not pass.
    pub failures: u32,
    /// Numbers (1-based, as in the configuration list) of the runs where it failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed_in: Vec<usize>,
    /// Output tail of the first failure.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub output_tail: String,
}

impl Tally {
    /// Failed every time, at least twice.
    pub fn reproducible(&self) -> bool {
        self.runs >= 2 && self.failures == self.runs
    }
    /// Failed at least twice and in most runs.
    pub fn mostly_fails(&self) -> bool {
        self.failures >= 2 && self.failures * 2 > self.runs
    }
    fn passes(&self) -> bool {
        self.runs > 0 && self.failures == 0
    }
}

/// A class and its one-line explanation.
type Verdict = (CauseClass, String);

/// Classifies one test from its tallies per kind of configuration; `None` when it never
/// failed. Returns the class and a one-line explanation.
///
/// ```
/// use shardtest::audit::{classify, CauseClass, ConfigKind, Tally};
/// use std::collections::BTreeMap;
/// let t = |runs, failures| Tally { runs, failures, ..Default::default() };
/// let mut m = BTreeMap::new();
/// m.insert(ConfigKind::Parallel, t(3, 3));
/// m.insert(ConfigKind::Serial, t(1, 0));
/// m.insert(ConfigKind::Alone, t(3, 0));
/// assert_eq!(classify(&m, 4).unwrap().0, CauseClass::SharedState);
/// m.insert(ConfigKind::Parallel, t(3, 1));
/// assert_eq!(classify(&m, 4).unwrap().0, CauseClass::TimingFlaky);
/// ```
pub fn classify(
    tallies: &BTreeMap<ConfigKind, Tally>,
    max_workers: u32,
) -> Option<(CauseClass, String)> {
    if !tallies.values().any(|t| t.failures > 0) {
        return None;
    }
    always_fails(tallies)
        .or_else(|| order_dependent(tallies, max_workers))
        .or_else(|| shared_state(tallies, max_workers))
        .or_else(|| in_process_shared_state(tallies, max_workers))
        .or_else(|| Some(timing_flaky(tallies, max_workers)))
}

/// The tally of `kind`, empty when it did not run.
fn get(tallies: &BTreeMap<ConfigKind, Tally>, kind: ConfigKind) -> Tally {
    tallies.get(&kind).cloned().unwrap_or_default()
}

/// A kind's description without a seed, for the explanations.
fn short_name(kind: ConfigKind, max_workers: u32) -> String {
    kind.describe(max_workers, 0).replace(" (seed 0)", "")
}

/// Fails in every configuration it ran in.
fn always_fails(tallies: &BTreeMap<ConfigKind, Tally>) -> Option<Verdict> {
    let ran: Vec<_> = tallies.iter().filter(|(_, t)| t.runs > 0).collect();
    ran.iter().all(|(_, t)| t.failures == t.runs).then(|| {
        (
            CauseClass::AlwaysFails,
            "fails in every configuration it ran in: broken, not a determinism problem".into(),
        )
    })
}

/// Fails every time in some `-j1` order and passes in another, or fails every time alone
/// and passes inside a full run.
fn order_dependent(tallies: &BTreeMap<ConfigKind, Tally>, max_workers: u32) -> Option<Verdict> {
    let alone = get(tallies, ConfigKind::Alone);
    let alone_note = if alone.reproducible() {
        format!(
            "; fails alone too ({} of {}): it needs a test that runs before it",
            alone.failures, alone.runs
        )
    } else if alone.passes() {
        format!(
            "; passes alone ({} runs): a test that runs before it breaks it",
            alone.runs
        )
    } else {
        String::new()
    };
    let orders = |keep: fn(&Tally) -> bool| -> Vec<ConfigKind> {
        ConfigKind::SERIAL_ORDERS
            .into_iter()
            .filter(|k| keep(&get(tallies, *k)))
            .collect()
    };
    let failing_orders = orders(Tally::reproducible);
    let passing_orders = orders(Tally::passes);
    let names = |ks: &[ConfigKind]| {
        ks.iter()
            .map(|k| short_name(*k, max_workers))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !failing_orders.is_empty() && !passing_orders.is_empty() {
        return Some((
            CauseClass::OrderDependent,
            format!(
                "fails every time in {} order, passes in {}{alone_note}",
                names(&failing_orders),
                names(&passing_orders)
            ),
        ));
    }
    let full_pass = tallies
        .iter()
        .any(|(k, t)| *k != ConfigKind::Alone && t.passes());
    (alone.reproducible() && full_pass).then(|| {
        (
            CauseClass::OrderDependent,
            format!(
                "fails every time alone ({} of {}), passes inside the full run: it needs a test that runs before it",
                alone.failures, alone.runs
            ),
        )
    })
}

/// Fails in most runs at `-j max`, never at `-j1` nor alone.
fn shared_state(tallies: &BTreeMap<ConfigKind, Tally>, max_workers: u32) -> Option<Verdict> {
    let parallel = get(tallies, ConfigKind::Parallel);
    let calm_ok = ConfigKind::SERIAL_ORDERS
        .into_iter()
        .chain([ConfigKind::Alone])
        .all(|k| get(tallies, k).failures == 0);
    (parallel.mostly_fails() && calm_ok).then(|| {
        (
            CauseClass::SharedState,
            format!(
                "fails at -j{max_workers} beside other tests ({} of {} runs), passes at -j1 in every order and alone",
                parallel.failures, parallel.runs
            ),
        )
    })
}

/// Never fails in its own process, fails at least twice with other tests in one process.
fn in_process_shared_state(
    tallies: &BTreeMap<ConfigKind, Tally>,
    max_workers: u32,
) -> Option<Verdict> {
    let own = ConfigKind::OWN_PROCESS.map(|k| get(tallies, k));
    let own_runs: u32 = own.iter().map(|t| t.runs).sum();
    let own_failures: u32 = own.iter().map(|t| t.failures).sum();
    let shared: Vec<(ConfigKind, Tally)> = ConfigKind::IN_PROCESS
        .into_iter()
        .map(|k| (k, get(tallies, k)))
        .filter(|(_, t)| t.failures > 0)
        .collect();
    let shared_failures: u32 = shared.iter().map(|(_, t)| t.failures).sum();
    if own_runs == 0 || own_failures != 0 || shared_failures < 2 {
        return None;
    }
    let how: Vec<String> = shared
        .iter()
        .map(|(k, t)| {
            format!(
                "{} ({} of {})",
                short_name(*k, max_workers),
                t.failures,
                t.runs
            )
        })
        .collect();
    Some((
        CauseClass::InProcessSharedState,
        format!(
            "passes in its own process ({own_runs} of {own_runs} runs), fails with other tests in one process: {}",
            how.join(", ")
        ),
    ))
}

/// The fallback: passes and fails in identical configurations (unconfirmed when no failing
/// configuration ran twice).
fn timing_flaky(tallies: &BTreeMap<ConfigKind, Tally>, max_workers: u32) -> Verdict {
    let mixed: Vec<String> = tallies
        .iter()
        .filter(|(_, t)| t.failures > 0)
        .map(|(k, t)| {
            format!(
                "{}: {} of {}",
                short_name(*k, max_workers),
                t.failures,
                t.runs
            )
        })
        .collect();
    let confirmed = tallies.values().any(|t| t.failures > 0 && t.runs >= 2);
    let caveat = if confirmed {
        ""
    } else {
        " (seen once and not replayed: unconfirmed)"
    };
    (
        CauseClass::TimingFlaky,
        format!(
            "fails intermittently in identical configurations ({}){caveat}",
            mixed.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    fn t(runs: u32, failures: u32) -> Tally {
        Tally {
            runs,
            failures,
            ..Default::default()
        }
    }

    fn tallies(entries: &[(ConfigKind, u32, u32)]) -> BTreeMap<ConfigKind, Tally> {
        entries.iter().map(|(k, r, f)| (*k, t(*r, *f))).collect()
    }

    use ConfigKind::*;

    #[test]
    fn a_clean_test_is_not_a_suspect() {
        assert!(classify(&tallies(&[(Parallel, 3, 0), (Serial, 1, 0)]), 2).is_none());
    }

    #[test]
    fn a_test_needing_a_predecessor_is_order_dependent() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Reversed, 2, 2),
            (Alone, 3, 3),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::OrderDependent);
        assert!(why.contains("needs a test that runs before it"), "{why}");
    }

    #[test]
    fn a_test_broken_by_a_predecessor_is_order_dependent() {
        let m = tallies(&[
            (Parallel, 3, 3),
            (Serial, 2, 2),
            (Reversed, 1, 0),
            (Alone, 3, 0),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::OrderDependent);
        assert!(why.contains("passes alone"), "{why}");
    }

    #[test]
    fn failing_only_in_parallel_is_shared_state() {
        let m = tallies(&[
            (Parallel, 3, 3),
            (Serial, 1, 0),
            (Reversed, 2, 0),
            (Batched, 2, 0),
            (Alone, 3, 0),
        ]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::SharedState);
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Batched, 2, 2),
            (Alone, 3, 0),
        ]);
        // Failing only batched (many tests in one process) is in-process shared state.
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::InProcessSharedState);
        assert!(why.contains("batched"), "{why}");
    }

    #[test]
    fn intermittent_failures_are_timing() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 1, 0),
            (Batched, 2, 1),
            (Alone, 3, 1),
        ]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::TimingFlaky);
        let m = tallies(&[(Parallel, 3, 0), (Reversed, 1, 1), (Serial, 1, 0)]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::TimingFlaky);
        assert!(why.contains("unconfirmed"), "{why}");
    }

    #[test]
    fn failing_everywhere_is_not_a_determinism_problem() {
        let m = tallies(&[(Parallel, 3, 3), (Serial, 1, 1), (Alone, 3, 3)]);
        assert_eq!(classify(&m, 2).unwrap().0, CauseClass::AlwaysFails);
    }

    #[test]
    fn in_process_failures_only_are_in_process_shared_state() {
        let m = tallies(&[
            (Parallel, 3, 0),
            (Serial, 2, 0),
            (Alone, 3, 0),
            (InProcessSerial, 2, 2),
            (InProcess, 2, 1),
        ]);
        let (c, why) = classify(&m, 2).unwrap();
        assert_eq!(c, CauseClass::InProcessSharedState);
        assert!(
            why.contains("passes in its own process (8 of 8 runs)"),
            "{why}"
        );
        // A failure in its own process as well is not in-process shared state.
        let m = tallies(&[(Parallel, 3, 1), (Alone, 3, 0), (InProcessSerial, 2, 2)]);
        assert_ne!(classify(&m, 2).unwrap().0, CauseClass::InProcessSharedState);
    }
}
