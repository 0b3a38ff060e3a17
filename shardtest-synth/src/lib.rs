//! Synthetic test suites for benchmarking and testing test runners.
//!
//! A [`Spec`] (seed, count, duration distribution, failure and crash probabilities, ignored
//! and serial fractions, name pattern) deterministically expands into a list of
//! [`SynthTest`]s with [`generate`]. The `shardtest-synth` binary, or any `harness = false`
//! test target whose `main` calls [`harness::main`], turns them into a libtest-compatible
//! test binary (built on `libtest-mimic`): `--list --format terse`, `--ignored`, `--exact`,
//! filters, `--skip` and `--test-threads` behave as with the standard harness, so
//! `cargo test`, `cargo nextest run` and `cargo shardtest run` all see the same tests.
//!
//! ```
//! use shardtest_synth::{generate, Outcome, Spec};
//! let spec = Spec::from_json_str(r#"{"seed": 3, "count": 1000, "fail_probability": 0.1}"#,
//!                                "inline", None).unwrap();
//! let tests = generate(&spec);
//! assert_eq!(tests.len(), 1000);
//! assert!(tests.windows(2).all(|w| w[0].name < w[1].name)); // sorted like libtest lists them
//! let failing = tests.iter().filter(|t| t.outcome == Outcome::Fail).count();
//! assert!((50..150).contains(&failing));
//! assert_eq!(tests, generate(&spec)); // deterministic
//! ```

pub mod harness;
pub mod rng;
pub mod spec;

pub use spec::{DurationDist, NamePattern, Spec, SpecError};

use rng::SplitMix64;
use serde::Serialize;
use std::time::Duration;

/// How a synthetic test spends its duration.
///
/// ```
/// assert_eq!(shardtest_synth::Mode::Sleep.as_str(), "sleep");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `thread::sleep` (an I/O-bound test: costs wall time, not CPU).
    Sleep,
    /// A busy loop (a CPU-bound test: competes for cores with other workers).
    Busy,
}

impl Mode {
    /// The mode's name as used in JSON output.
    ///
    /// ```
    /// assert_eq!(shardtest_synth::Mode::Busy.as_str(), "busy");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sleep => "sleep",
            Mode::Busy => "busy",
        }
    }
}

/// What a synthetic test does once its duration has passed.
///
/// ```
/// assert_eq!(shardtest_synth::Outcome::Crash.as_str(), "crash");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The test passes.
    Pass,
    /// The test fails (returns an error; the process goes on).
    Fail,
    /// The test aborts the whole process (`std::process::abort`, SIGABRT).
    Crash,
}

impl Outcome {
    /// The outcome's name as used in JSON output.
    ///
    /// ```
    /// assert_eq!(shardtest_synth::Outcome::Pass.as_str(), "pass");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Crash => "crash",
        }
    }
}

/// One generated test.
///
/// ```
/// let t = &shardtest_synth::generate(&Default::default())[0];
/// assert_eq!(t.name, "mod_0::case_0000");
/// assert_eq!(t.duration, std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynthTest {
    /// The libtest name (module path without crate name), e.g. `mod_3::case_0042`.
    pub name: String,
    /// The index of the test in generation order (the number in its name).
    pub index: usize,
    /// How long it runs (after `time_scale`, capped at [`spec::MAX_TEST_SECONDS`]).
    #[serde(serialize_with = "serialize_secs")]
    pub duration: Duration,
    /// Sleep or busy loop.
    pub mode: Mode,
    /// Pass, fail or crash.
    pub outcome: Outcome,
    /// Marked `#[ignore]`.
    pub ignored: bool,
    /// A serial test (see [`Spec::serial_fraction`]).
    pub serial: bool,
}

fn serialize_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Expands a spec into its tests, sorted by name (the order libtest lists them in).
///
/// Test `i` draws from its own random stream derived from `(seed, i)`, so growing `count`
/// keeps the first tests unchanged (except a `shuffle`d list, which is permuted as a whole).
/// The spec should come from [`Spec::from_json_str`] / [`Spec::load`] (which load `csv`
/// durations); a hand-built spec whose durations are still `csv` gets zero durations.
///
/// ```
/// use shardtest_synth::{generate, Spec};
/// let tests = generate(&Spec { count: Some(3), ..Spec::default() });
/// let names: Vec<_> = tests.iter().map(|t| t.name.as_str()).collect();
/// assert_eq!(names, ["mod_0::case_0000", "mod_1::case_0001", "mod_2::case_0002"]);
/// ```
pub fn generate(spec: &Spec) -> Vec<SynthTest> {
    let count = spec.effective_count();
    let list_order = list_permutation(&spec.durations, spec.seed);
    let mut tests: Vec<SynthTest> = (0..count)
        .map(|i| generate_one(spec, i, count, list_order.as_deref()))
        .collect();
    tests.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    tests
}

/// The test called `name`, without generating the whole suite when the name follows the
/// spec's pattern (its index is read from the trailing digits): a process-per-test runner starts
/// the binary once per test, and each start must not cost O(count).
///
/// ```
/// use shardtest_synth::{find, generate, Spec};
/// let spec = Spec { count: Some(50_000), ..Spec::default() };
/// let t = find(&spec, "mod_7::case_00017").unwrap();
/// assert_eq!(t, generate(&spec).into_iter().find(|x| x.name == "mod_7::case_00017").unwrap());
/// assert!(find(&spec, "mod_7::case_00018").is_none()); // 18 lives in mod_8
/// ```
pub fn find(spec: &Spec, name: &str) -> Option<SynthTest> {
    let count = spec.effective_count();
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let index: usize = name[name.len() - digits..].parse().ok()?;
    if index >= count {
        return None;
    }
    let list_order = list_permutation(&spec.durations, spec.seed);
    let t = generate_one(spec, index, count, list_order.as_deref());
    (t.name == name).then_some(t)
}

/// For a top-level `list` with `shuffle`, the seeded permutation of its indices.
fn list_permutation(d: &DurationDist, seed: u64) -> Option<Vec<usize>> {
    match d {
        DurationDist::List {
            seconds,
            shuffle: true,
            ..
        } => {
            let mut order: Vec<usize> = (0..seconds.len()).collect();
            let mut rng = SplitMix64::new(rng::mix64(seed ^ 0x5EED_5A1F));
            for i in (1..order.len()).rev() {
                let j = rng.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
            Some(order)
        }
        _ => None,
    }
}

fn generate_one(spec: &Spec, i: usize, count: usize, list_order: Option<&[usize]>) -> SynthTest {
    let mut rng = SplitMix64::for_item(spec.seed, i as u64);
    // A fixed number of draws per decision keeps the streams aligned across spec changes.
    let u_mode = rng.next_f64();
    let u_outcome = rng.next_f64();
    let u_ignored = rng.next_f64();
    let u_serial = rng.next_f64();
    let secs = sample(&spec.durations, &mut rng, i, list_order) * spec.time_scale;
    let secs = if secs.is_finite() {
        secs.clamp(0.0, spec::MAX_TEST_SECONDS)
    } else {
        spec::MAX_TEST_SECONDS
    };
    let outcome = if u_outcome < spec.crash_probability {
        Outcome::Crash
    } else if u_outcome < spec.crash_probability + spec.fail_probability {
        Outcome::Fail
    } else {
        Outcome::Pass
    };
    let serial = u_serial < spec.serial_fraction;
    SynthTest {
        name: spec.names.name(i, count, serial),
        index: i,
        duration: Duration::from_secs_f64(secs),
        mode: if u_mode < spec.busy_fraction {
            Mode::Busy
        } else {
            Mode::Sleep
        },
        outcome,
        ignored: u_ignored < spec.ignored_fraction,
        serial,
    }
}

/// Draws a duration in seconds. `list_order` applies to a top-level list only; a list nested
/// in a heavy tail is sampled uniformly.
fn sample(d: &DurationDist, rng: &mut SplitMix64, i: usize, list_order: Option<&[usize]>) -> f64 {
    match d {
        DurationDist::Constant { seconds } => *seconds,
        DurationDist::LogNormal { mu, sigma } => (mu + sigma * rng.standard_normal()).exp(),
        DurationDist::HeavyTail {
            tail_fraction,
            base,
            tail,
        } => {
            if rng.next_f64() < *tail_fraction {
                sample(tail, rng, i, None)
            } else {
                sample(base, rng, i, None)
            }
        }
        DurationDist::List { seconds, .. } if seconds.is_empty() => 0.0,
        DurationDist::List { seconds, .. } => match list_order {
            Some(order) => seconds[order[i % order.len()]],
            None => seconds[i % seconds.len()],
        },
        DurationDist::Csv { .. } => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        Spec::from_json_str(json, "test", None).unwrap()
    }

    #[test]
    fn same_seed_same_suite_other_seed_other_suite() {
        let a = spec(
            r#"{"seed": 1, "count": 500, "durations": {"kind": "log_normal", "mu": -3, "sigma": 1},
                "fail_probability": 0.1, "busy_fraction": 0.5, "ignored_fraction": 0.1}"#,
        );
        let b = Spec {
            seed: 2,
            ..a.clone()
        };
        assert_eq!(generate(&a), generate(&a));
        assert_ne!(generate(&a), generate(&b));
    }

    #[test]
    fn growing_count_keeps_the_first_tests() {
        let small = spec(
            r#"{"seed": 9, "count": 100, "durations": {"kind": "log_normal", "mu": -3, "sigma": 1}}"#,
        );
        let big = Spec {
            count: Some(1000),
            ..small.clone()
        };
        let mut a = generate(&small);
        let mut b = generate(&big);
        a.sort_by_key(|t| t.index);
        b.sort_by_key(|t| t.index);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (x.duration, x.outcome, x.mode),
                (y.duration, y.outcome, y.mode)
            );
        }
    }

    #[test]
    fn log_normal_median_and_spread_match_parameters() {
        let mu = -3.0_f64;
        let sigma = 0.8_f64;
        let s = spec(&format!(
            r#"{{"count": 20000, "durations": {{"kind": "log_normal", "mu": {mu}, "sigma": {sigma}}}}}"#
        ));
        let mut logs: Vec<f64> = generate(&s)
            .iter()
            .map(|t| t.duration.as_secs_f64().ln())
            .collect();
        logs.sort_by(f64::total_cmp);
        let n = logs.len() as f64;
        let mean = logs.iter().sum::<f64>() / n;
        let sd = (logs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        assert!((mean - mu).abs() < 0.03, "mean of logs {mean}");
        assert!((sd - sigma).abs() < 0.03, "sd of logs {sd}");
        assert!((logs[logs.len() / 2] - mu).abs() < 0.05);
    }

    #[test]
    fn heavy_tail_fraction_and_fractions_are_respected() {
        let s = spec(
            r#"{"count": 20000, "busy_fraction": 0.3, "fail_probability": 0.05,
                "crash_probability": 0.01, "ignored_fraction": 0.2, "serial_fraction": 0.1,
                "durations": {"kind": "heavy_tail", "tail_fraction": 0.05,
                  "base": {"kind": "constant", "seconds": 0.001},
                  "tail": {"kind": "constant", "seconds": 1.0}}}"#,
        );
        let t = generate(&s);
        let frac =
            |f: &dyn Fn(&SynthTest) -> bool| t.iter().filter(|x| f(x)).count() as f64 / 20000.0;
        let near = |x: f64, want: f64| (x - want).abs() < 0.01 + want * 0.1;
        assert!(near(frac(&|x| x.duration == Duration::from_secs(1)), 0.05));
        assert!(near(frac(&|x| x.mode == Mode::Busy), 0.3));
        assert!(near(frac(&|x| x.outcome == Outcome::Fail), 0.05));
        assert!(near(frac(&|x| x.outcome == Outcome::Crash), 0.01));
        assert!(near(frac(&|x| x.ignored), 0.2));
        assert!(near(frac(&|x| x.serial), 0.1));
        assert!(
            t.iter()
                .filter(|x| x.serial)
                .all(|x| x.name.contains("::serial_case_"))
        );
    }

    #[test]
    fn list_replays_in_order_and_shuffle_is_a_seeded_permutation() {
        let s = spec(
            r#"{"durations": {"kind": "list", "seconds": [0.5, 1, 2]}, "names": {"modules": 0}}"#,
        );
        let t = generate(&s);
        let d: Vec<f64> = t.iter().map(|x| x.duration.as_secs_f64()).collect();
        assert_eq!(d, vec![0.5, 1.0, 2.0]);
        let list: Vec<f64> = (0..50).map(f64::from).collect();
        let shuffled = Spec {
            durations: DurationDist::List {
                seconds: list.clone(),
                shuffle: true,
                source: None,
            },
            ..Spec::default()
        };
        let mut got: Vec<f64> = generate(&shuffled)
            .iter()
            .map(|x| x.duration.as_secs_f64())
            .collect();
        assert_eq!(
            got,
            generate(&shuffled)
                .iter()
                .map(|x| x.duration.as_secs_f64())
                .collect::<Vec<_>>()
        );
        got.sort_by(f64::total_cmp);
        assert_eq!(got, list);
    }

    #[test]
    fn names_are_unique_and_padded_for_large_counts() {
        let t = generate(&Spec {
            count: Some(100_000),
            ..Spec::default()
        });
        assert_eq!(t.len(), 100_000);
        assert!(t.windows(2).all(|w| w[0].name < w[1].name));
        assert!(t.iter().any(|x| x.name == "mod_3::case_00003"));
    }

    #[test]
    fn time_scale_and_cap_apply() {
        let s = spec(
            r#"{"count": 2, "time_scale": 0.5, "durations": {"kind": "constant", "seconds": 4}}"#,
        );
        assert!(
            generate(&s)
                .iter()
                .all(|t| t.duration == Duration::from_secs(2))
        );
        let s = spec(r#"{"count": 2, "durations": {"kind": "constant", "seconds": 1e12}}"#);
        assert!(
            generate(&s)
                .iter()
                .all(|t| t.duration.as_secs_f64() == spec::MAX_TEST_SECONDS)
        );
    }
}
