//! `--shard auto`: the shard index and total from the CI environment.
//!
//! | source | index | total | base |
//! | --- | --- | --- | --- |
//! | shardtest | `SHARDTEST_SHARD=K/N` | (same) | 1 |
//! | GitLab CI (only when `GITLAB_CI` is set) | `CI_NODE_INDEX` | `CI_NODE_TOTAL` | 1 |
//! | CircleCI | `CIRCLE_NODE_INDEX` | `CIRCLE_NODE_TOTAL` | 0 |
//! | Buildkite | `BUILDKITE_PARALLEL_JOB` | `BUILDKITE_PARALLEL_JOB_COUNT` | 0 |
//! | Azure Pipelines | `SYSTEM_JOBPOSITIONINPHASE` | `SYSTEM_TOTALJOBSINPHASE` | 1 |
//! | Semaphore | `SEMAPHORE_JOB_INDEX` | `SEMAPHORE_JOB_COUNT` | 1 |
//! | Kubernetes Indexed Job | `JOB_COMPLETION_INDEX` | `--shard-total` or `SHARDTEST_SHARD_TOTAL` | 0 |
//!
//! Sources are tried in this order; the first whose index variable is set decides. GitHub
//! Actions has no job index: use a matrix (the error without any source shows one).

use crate::shard::{ShardSpec, ShardSpecError};

/// Variable with our own `K/N`.
pub const SHARD_ENV: &str = "SHARDTEST_SHARD";
/// Variable with the total for Kubernetes Indexed Jobs.
pub const SHARD_TOTAL_ENV: &str = "SHARDTEST_SHARD_TOTAL";

/// The GitHub Actions matrix a user can copy when no CI source is found.
pub const GITHUB_ACTIONS_SNIPPET: &str = "\
jobs:
  test:
    strategy:
      matrix:
        shard: [1, 2, 3, 4]
    steps:
      - run: cargo shardtest --shard ${{ matrix.shard }}/4";

/// Why the shard could not be read from the environment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CiError {
    /// No known CI variable is set.
    #[error(
        "--shard auto found no CI job index (looked for {SHARD_ENV}, GitLab CI_NODE_INDEX, CircleCI CIRCLE_NODE_INDEX, Buildkite BUILDKITE_PARALLEL_JOB, Azure SYSTEM_JOBPOSITIONINPHASE, Semaphore SEMAPHORE_JOB_INDEX, Kubernetes JOB_COMPLETION_INDEX).\nGitHub Actions has no job index: use a matrix and pass the shard explicitly, e.g.\n\n{GITHUB_ACTIONS_SNIPPET}\n\nor set {SHARD_ENV}=K/N."
    )]
    NotDetected,
    /// A source's index variable is set, but not the variable that says the job runs on that
    /// CI system (GitLab's `CI_NODE_INDEX` is read only when `GITLAB_CI` is set).
    #[error(
        "--shard auto found {index_var}={value} but not {guard}: {index_var} is read as {source_name}'s job index only when {guard} is set (as {source_name} sets it). Set {guard}=true, or pass the shard explicitly: --shard K/N or {SHARD_ENV}=K/N"
    )]
    NotThisCi {
        /// The index variable found.
        index_var: &'static str,
        /// Its value.
        value: String,
        /// The variable that is missing.
        guard: &'static str,
        /// The CI system.
        source_name: &'static str,
    },
    /// A variable is not a number (or `K/N`).
    #[error(
        "{var}={value:?} is not {expected} ({source_name}); fix the CI configuration or pass --shard K/N"
    )]
    Malformed {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
        /// The CI system.
        source_name: &'static str,
    },
    /// The index variable is set but the total is not.
    #[error("{index_var} is set but {total_var} is not ({source_name}): {hint}")]
    MissingTotal {
        /// The index variable.
        index_var: &'static str,
        /// The total variable(s).
        total_var: &'static str,
        /// The CI system.
        source_name: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// The index is outside the total.
    #[error(
        "{var} gives shard {index}/{total} ({source_name}, {base}-based index {raw}), which does not exist: {source}"
    )]
    OutOfRange {
        /// The index variable.
        var: &'static str,
        /// The raw index value.
        raw: u32,
        /// 0 or 1.
        base: u32,
        /// The 1-based index computed.
        index: u32,
        /// The total.
        total: u32,
        /// The CI system.
        source_name: &'static str,
        /// The spec error.
        source: ShardSpecError,
    },
    /// `--shard-total` disagrees with the CI system's total.
    #[error(
        "--shard-total {flag} disagrees with {var}={total} ({source_name}): drop --shard-total or make them equal"
    )]
    ConflictingTotal {
        /// The flag value.
        flag: u32,
        /// The CI total variable.
        var: &'static str,
        /// Its value.
        total: u32,
        /// The CI system.
        source_name: &'static str,
    },
}

struct Source {
    name: &'static str,
    index: &'static str,
    total: &'static str,
    zero_based: bool,
    only_if: Option<&'static str>,
}

const SOURCES: &[Source] = &[
    Source {
        name: "GitLab CI",
        index: "CI_NODE_INDEX",
        total: "CI_NODE_TOTAL",
        zero_based: false,
        only_if: Some("GITLAB_CI"),
    },
    Source {
        name: "CircleCI",
        index: "CIRCLE_NODE_INDEX",
        total: "CIRCLE_NODE_TOTAL",
        zero_based: true,
        only_if: None,
    },
    Source {
        name: "Buildkite",
        index: "BUILDKITE_PARALLEL_JOB",
        total: "BUILDKITE_PARALLEL_JOB_COUNT",
        zero_based: true,
        only_if: None,
    },
    Source {
        name: "Azure Pipelines",
        index: "SYSTEM_JOBPOSITIONINPHASE",
        total: "SYSTEM_TOTALJOBSINPHASE",
        zero_based: false,
        only_if: None,
    },
    Source {
        name: "Semaphore",
        index: "SEMAPHORE_JOB_INDEX",
        total: "SEMAPHORE_JOB_COUNT",
        zero_based: false,
        only_if: None,
    },
];

fn number(var: &'static str, value: &str, source_name: &'static str) -> Result<u32, CiError> {
    value.trim().parse().map_err(|_| CiError::Malformed {
        var,
        value: value.to_string(),
        expected: "a non-negative integer",
        source_name,
    })
}

fn spec(
    var: &'static str,
    raw: u32,
    zero_based: bool,
    total: u32,
    source_name: &'static str,
) -> Result<ShardSpec, CiError> {
    let index = if zero_based {
        raw.saturating_add(1)
    } else {
        raw
    };
    ShardSpec::new(index, total).map_err(|source| CiError::OutOfRange {
        var,
        raw,
        base: u32::from(!zero_based),
        index,
        total,
        source_name,
        source,
    })
}

/// Reads the shard from the environment. `env` looks a variable up (pass
/// `&|k| std::env::var(k).ok()`); `shard_total_flag` is `--shard-total`, used as the total of a
/// Kubernetes Indexed Job and checked against the total of other sources. Returns the spec and
/// a description of the source for the "using shard K/N from ..." line.
///
/// ```
/// use shardtest::ci::detect_shard;
/// use shardtest::plan::ShardSpec;
/// let env = |k: &str| match k {
///     "CIRCLE_NODE_INDEX" => Some("0".to_string()),
///     "CIRCLE_NODE_TOTAL" => Some("4".to_string()),
///     _ => None,
/// };
/// let (spec, source) = detect_shard(&env, None).unwrap();
/// assert_eq!(spec, ShardSpec::new(1, 4).unwrap());
/// assert_eq!(source, "CircleCI (CIRCLE_NODE_INDEX=0, 0-based, CIRCLE_NODE_TOTAL=4)");
/// assert!(detect_shard(&|_| None, None).unwrap_err().to_string().contains("matrix.shard"));
/// ```
pub fn detect_shard(
    env: &dyn Fn(&str) -> Option<String>,
    shard_total_flag: Option<u32>,
) -> Result<(ShardSpec, String), CiError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(v) = get(SHARD_ENV) {
        let s: ShardSpec = v.parse().map_err(|_| CiError::Malformed {
            var: SHARD_ENV,
            value: v.clone(),
            expected: "K/N with 1 <= K <= N",
            source_name: "shardtest",
        })?;
        check_total(shard_total_flag, SHARD_ENV, s.total, "shardtest")?;
        return Ok((s, format!("{SHARD_ENV}={}", v.trim())));
    }
    for src in SOURCES {
        if src.only_if.is_some_and(|g| get(g).is_none()) {
            continue;
        }
        let Some(iv) = get(src.index) else { continue };
        let raw = number(src.index, &iv, src.name)?;
        let Some(tv) = get(src.total) else {
            return Err(CiError::MissingTotal {
                index_var: src.index,
                total_var: src.total,
                source_name: src.name,
                hint: "is parallelism enabled for this job? Otherwise pass --shard K/N",
            });
        };
        let total = number(src.total, &tv, src.name)?;
        check_total(shard_total_flag, src.total, total, src.name)?;
        let s = spec(src.index, raw, src.zero_based, total, src.name)?;
        let base = if src.zero_based { "0-based" } else { "1-based" };
        return Ok((
            s,
            format!(
                "{} ({}={}, {base}, {}={})",
                src.name,
                src.index,
                iv.trim(),
                src.total,
                tv.trim()
            ),
        ));
    }
    if let Some(iv) = get("JOB_COMPLETION_INDEX") {
        let name = "Kubernetes Indexed Job";
        let raw = number("JOB_COMPLETION_INDEX", &iv, name)?;
        let (total, from) = match (shard_total_flag, get(SHARD_TOTAL_ENV)) {
            (Some(t), _) => (t, "--shard-total".to_string()),
            (None, Some(t)) => (
                number(SHARD_TOTAL_ENV, &t, name)?,
                format!("{SHARD_TOTAL_ENV}={}", t.trim()),
            ),
            (None, None) => {
                return Err(CiError::MissingTotal {
                    index_var: "JOB_COMPLETION_INDEX",
                    total_var: "--shard-total / SHARDTEST_SHARD_TOTAL",
                    source_name: name,
                    hint: "pass --shard-total N (the Job's .spec.completions) or set SHARDTEST_SHARD_TOTAL",
                });
            }
        };
        let s = spec("JOB_COMPLETION_INDEX", raw, true, total, name)?;
        return Ok((
            s,
            format!(
                "{name} (JOB_COMPLETION_INDEX={}, 0-based, {from})",
                iv.trim()
            ),
        ));
    }
    for src in SOURCES {
        if let (Some(guard), Some(value)) = (src.only_if, get(src.index)) {
            return Err(CiError::NotThisCi {
                index_var: src.index,
                value: value.trim().to_string(),
                guard,
                source_name: src.name,
            });
        }
    }
    Err(CiError::NotDetected)
}

fn check_total(
    flag: Option<u32>,
    var: &'static str,
    total: u32,
    source_name: &'static str,
) -> Result<(), CiError> {
    match flag {
        Some(f) if f != total => Err(CiError::ConflictingTotal {
            flag: f,
            var,
            total,
            source_name,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Vars<'a> = &'a [(&'a str, &'a str)];
    /// Variables, `--shard-total`, expected `(K, N)`, a word of the source description.
    type Case<'a> = (Vars<'a>, Option<u32>, (u32, u32), &'a str);

    fn run(vars: Vars<'_>, flag: Option<u32>) -> Result<(ShardSpec, String), CiError> {
        let owned: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect_shard(
            &move |k: &str| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            flag,
        )
    }

    /// Environments `detect_shard` reads: variables, `--shard-total`, the shard, a word of
    /// the source description.
    const DETECTED: &[Case<'static>] = &[
        (
            &[("SHARDTEST_SHARD", "3/8")],
            None,
            (3, 8),
            "SHARDTEST_SHARD=3/8",
        ),
        (
            &[
                ("GITLAB_CI", "true"),
                ("CI_NODE_INDEX", "1"),
                ("CI_NODE_TOTAL", "4"),
            ],
            None,
            (1, 4),
            "GitLab CI",
        ),
        (
            &[("CIRCLE_NODE_INDEX", "3"), ("CIRCLE_NODE_TOTAL", "4")],
            None,
            (4, 4),
            "CircleCI",
        ),
        (
            &[
                ("BUILDKITE_PARALLEL_JOB", "0"),
                ("BUILDKITE_PARALLEL_JOB_COUNT", "2"),
            ],
            None,
            (1, 2),
            "Buildkite",
        ),
        (
            &[
                ("SYSTEM_JOBPOSITIONINPHASE", "2"),
                ("SYSTEM_TOTALJOBSINPHASE", "3"),
            ],
            None,
            (2, 3),
            "Azure Pipelines",
        ),
        (
            &[("SEMAPHORE_JOB_INDEX", "5"), ("SEMAPHORE_JOB_COUNT", "5")],
            None,
            (5, 5),
            "Semaphore",
        ),
        (
            &[("JOB_COMPLETION_INDEX", "0")],
            Some(6),
            (1, 6),
            "Kubernetes",
        ),
        (
            &[
                ("JOB_COMPLETION_INDEX", "5"),
                ("SHARDTEST_SHARD_TOTAL", "6"),
            ],
            None,
            (6, 6),
            "SHARDTEST_SHARD_TOTAL=6",
        ),
        // Our own variable wins over a CI system's.
        (
            &[
                ("SHARDTEST_SHARD", "2/2"),
                ("CIRCLE_NODE_INDEX", "0"),
                ("CIRCLE_NODE_TOTAL", "2"),
            ],
            None,
            (2, 2),
            "SHARDTEST_SHARD",
        ),
        // CI_NODE_* without GITLAB_CI is not GitLab; CircleCI is used instead.
        (
            &[
                ("CI_NODE_INDEX", "1"),
                ("CI_NODE_TOTAL", "9"),
                ("CIRCLE_NODE_INDEX", "1"),
                ("CIRCLE_NODE_TOTAL", "2"),
            ],
            None,
            (2, 2),
            "CircleCI",
        ),
    ];

    /// Environments `detect_shard` rejects: variables, `--shard-total`, a word of the error.
    const REJECTED: &[(Vars<'static>, Option<u32>, &str)] = &[
        (&[], None, "matrix"),
        (
            &[("CI_NODE_INDEX", "1"), ("CI_NODE_TOTAL", "2")],
            None,
            "but not GITLAB_CI",
        ),
        (&[("SHARDTEST_SHARD", "9/8")], None, "SHARDTEST_SHARD"),
        (&[("SHARDTEST_SHARD", "x")], None, "SHARDTEST_SHARD"),
        (
            &[("CIRCLE_NODE_INDEX", "one"), ("CIRCLE_NODE_TOTAL", "2")],
            None,
            "CIRCLE_NODE_INDEX",
        ),
        (
            &[("CIRCLE_NODE_INDEX", "0"), ("CIRCLE_NODE_TOTAL", "-2")],
            None,
            "CIRCLE_NODE_TOTAL",
        ),
        (
            &[("CIRCLE_NODE_INDEX", "2"), ("CIRCLE_NODE_TOTAL", "2")],
            None,
            "CIRCLE_NODE_INDEX",
        ),
        (
            &[
                ("SYSTEM_JOBPOSITIONINPHASE", "0"),
                ("SYSTEM_TOTALJOBSINPHASE", "2"),
            ],
            None,
            "1-based",
        ),
        (
            &[("BUILDKITE_PARALLEL_JOB", "0")],
            None,
            "BUILDKITE_PARALLEL_JOB_COUNT",
        ),
        (
            &[
                ("GITLAB_CI", "1"),
                ("CI_NODE_INDEX", "1"),
                ("CI_NODE_TOTAL", "0"),
            ],
            None,
            "at least one shard",
        ),
        (&[("JOB_COMPLETION_INDEX", "0")], None, "--shard-total"),
        (
            &[("JOB_COMPLETION_INDEX", "4")],
            Some(4),
            "JOB_COMPLETION_INDEX",
        ),
        (
            &[("SEMAPHORE_JOB_INDEX", "1"), ("SEMAPHORE_JOB_COUNT", "4")],
            Some(3),
            "disagrees",
        ),
    ];

    #[test]
    fn table() {
        for (vars, flag, (k, n), source) in DETECTED {
            let (spec, desc) = run(vars, *flag).unwrap_or_else(|e| panic!("{vars:?}: {e}"));
            assert_eq!((spec.index, spec.total), (*k, *n), "{vars:?}");
            assert!(desc.contains(source), "{vars:?}: {desc}");
        }

        for (vars, flag, needle) in REJECTED {
            let err = run(vars, *flag).expect_err(&format!("{vars:?} should fail"));
            let msg = err.to_string();
            assert!(msg.contains(needle), "{vars:?}: {msg}");
        }
    }

    #[test]
    fn not_detected_shows_the_github_matrix() {
        let msg = CiError::NotDetected.to_string();
        assert!(msg.contains("shard: [1, 2, 3, 4]"));
        assert!(msg.contains("--shard ${{ matrix.shard }}/4"));
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn gitlab_variables_without_gitlab_ci_name_both_variables() {
        let env = |k: &str| match k {
            "CI_NODE_INDEX" => Some("2".to_string()),
            "CI_NODE_TOTAL" => Some("4".to_string()),
            _ => None,
        };
        let msg = detect_shard(&env, None).unwrap_err().to_string();
        assert!(
            msg.contains("found CI_NODE_INDEX=2 but not GITLAB_CI"),
            "{msg}"
        );
        assert!(msg.contains("--shard K/N"), "{msg}");
        let with_guard = |k: &str| {
            if k == "GITLAB_CI" {
                Some("true".into())
            } else {
                env(k)
            }
        };
        let (spec, source) = detect_shard(&with_guard, None).unwrap();
        assert_eq!(spec, ShardSpec::new(2, 4).unwrap());
        assert!(source.contains("CI_NODE_INDEX=2"), "{source}");
    }
}
