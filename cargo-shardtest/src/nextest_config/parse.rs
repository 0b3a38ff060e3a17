//! The parts of `.config/nextest.toml` shardtest understands, read leniently: a value of the
//! wrong shape or a key shardtest does not use becomes a warning, never an error.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A thread count as nextest writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// A positive number.
    Count(u32),
    /// A negative number: the CPU count minus this much (`test-threads`, `max-threads`).
    Relative(i64),
    /// `"num-cpus"`.
    NumCpus,
    /// `"num-test-threads"` (`threads-required` only).
    NumTestThreads,
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threads::Count(n) => write!(f, "{n}"),
            Threads::Relative(n) => write!(f, "{n}"),
            Threads::NumCpus => f.write_str("\"num-cpus\""),
            Threads::NumTestThreads => f.write_str("\"num-test-threads\""),
        }
    }
}

impl Threads {
    /// The count with `workers` workers: named values and counts above it mean all of them,
    /// a negative value is relative to the CPU count; never below 1.
    ///
    /// ```
    /// # use shardtest::nextest_config::Threads;
    /// assert_eq!(Threads::Count(2).resolve(4), 2);
    /// assert_eq!(Threads::NumCpus.resolve(4), 4);
    /// assert_eq!(Threads::Count(9).resolve(4), 4);
    /// ```
    pub fn resolve(self, workers: u32) -> u32 {
        let workers = workers.max(1);
        match self {
            Threads::Count(n) => n.clamp(1, workers),
            Threads::NumCpus | Threads::NumTestThreads => workers,
            Threads::Relative(d) => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
                ((cpus + d).max(1) as u32).min(workers)
            }
        }
    }
}

/// nextest's retry policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub count: u32,
    /// Wait before a retry (the first one, when exponential).
    pub delay: Duration,
    /// `backoff = "exponential"`: the wait doubles with each retry.
    pub exponential: bool,
}

/// nextest's `slow-timeout`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlowTimeout {
    /// A test is reported slow after each period.
    pub period: Duration,
    /// Killed after this many periods.
    pub terminate_after: Option<u32>,
}

impl SlowTimeout {
    /// The hard timeout: `period * terminate-after`.
    ///
    /// ```
    /// # use shardtest::nextest_config::SlowTimeout;
    /// use std::time::Duration;
    /// let t = SlowTimeout { period: Duration::from_secs(2), terminate_after: Some(3) };
    /// assert_eq!(t.terminate(), Some(Duration::from_secs(6)));
    /// ```
    pub fn terminate(&self) -> Option<Duration> {
        self.terminate_after.map(|n| self.period * n)
    }
}

/// nextest's `fail-fast`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailFast {
    /// `true`, or `{ max-fail = N }`.
    Stop(u32),
    /// `false` / `{ max-fail = "all" }`.
    RunAll,
}

/// `platform = ...` of an override: the host and/or target platform (a triple or `cfg(...)`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlatformFilter {
    /// Host platform spec.
    pub host: Option<String>,
    /// Target platform spec (a plain string means this).
    pub target: Option<String>,
}

/// One `[[profile.NAME.overrides]]` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Override {
    /// Where it is, for messages: `profile.ci.overrides[0]`.
    pub source: String,
    /// The filterset selecting its tests (none: every test on the platform).
    pub filter: Option<String>,
    /// The platforms it applies on.
    pub platform: Option<PlatformFilter>,
    /// `test-group`.
    pub test_group: Option<String>,
    /// `threads-required`.
    pub threads_required: Option<Threads>,
    /// `retries`.
    pub retries: Option<RetryPolicy>,
    /// `slow-timeout`.
    pub slow_timeout: Option<SlowTimeout>,
}

/// The settings of the chosen profile, after inheritance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileSettings {
    /// `retries`.
    pub retries: Option<RetryPolicy>,
    /// `slow-timeout`.
    pub slow_timeout: Option<SlowTimeout>,
    /// `leak-timeout` (its period).
    pub leak_timeout: Option<Duration>,
    /// `fail-fast`.
    pub fail_fast: Option<FailFast>,
    /// `test-threads`.
    pub test_threads: Option<Threads>,
    /// `threads-required` (for every test).
    pub threads_required: Option<Threads>,
    /// `default-filter`: the tests a run selects by default (a filterset).
    pub default_filter: Option<String>,
}

/// A nextest config as shardtest uses it, resolved for one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextestConfig {
    /// The file.
    pub path: PathBuf,
    /// The profile it was resolved for.
    pub profile: String,
    /// The profile's settings.
    pub settings: ProfileSettings,
    /// `[test-groups]`: name -> `max-threads`.
    pub groups: BTreeMap<String, Threads>,
    /// The overrides in priority order (the profile's, then the default profile's).
    pub overrides: Vec<Override>,
    /// One line per key or value shardtest does not use.
    pub warnings: Vec<String>,
}

/// Reads values of one config file leniently, collecting a warning for each one it cannot use.
pub(super) struct Reader<'a> {
    /// The file, named in every warning.
    pub(super) path: &'a Path,
    /// The warnings so far.
    pub(super) warnings: Vec<String>,
}

impl Reader<'_> {
    /// Records a warning about the file.
    pub(super) fn warn(&mut self, what: String) {
        self.warnings
            .push(format!("{}: {what}", self.path.display()));
    }

    /// Warns that `key` is not used (`why`, when given, says why).
    pub(super) fn unused(&mut self, key: &str, why: &str) {
        self.warn(format!(
            "`{key}` is not used by cargo shardtest{why} (ignored)"
        ));
    }

    /// A duration such as `"60s"`.
    fn duration(&mut self, key: &str, v: &toml::Value) -> Option<Duration> {
        match v.as_str().map(shardtest_protocol::duration::parse) {
            Some(Ok(d)) => Some(d),
            _ => {
                self.warn(format!(
                    "`{key}` must be a duration such as \"60s\", not `{v}` (ignored)"
                ));
                None
            }
        }
    }

    /// A thread count (a negative one only when `negative_ok`).
    pub(super) fn threads(
        &mut self,
        key: &str,
        v: &toml::Value,
        negative_ok: bool,
    ) -> Option<Threads> {
        match v {
            toml::Value::Integer(n) if *n > 0 => {
                Some(Threads::Count((*n).min(u32::MAX as i64) as u32))
            }
            toml::Value::Integer(n) if *n < 0 && negative_ok => Some(Threads::Relative(*n)),
            toml::Value::String(s) if s == "num-cpus" => Some(Threads::NumCpus),
            toml::Value::String(s) if s == "num-test-threads" && !negative_ok => {
                Some(Threads::NumTestThreads)
            }
            other => {
                self.warn(format!(
                    "`{key}` must be a positive number or \"num-cpus\", not `{other}` (ignored)"
                ));
                None
            }
        }
    }

    /// `retries`: a count or a table with `count`, `backoff` and `delay`.
    pub(super) fn retries(&mut self, key: &str, v: &toml::Value) -> Option<RetryPolicy> {
        match v {
            toml::Value::Integer(n) if *n >= 0 => Some(RetryPolicy {
                count: (*n).min(u32::MAX as i64) as u32,
                delay: Duration::ZERO,
                exponential: false,
            }),
            toml::Value::Table(t) => {
                let mut policy = RetryPolicy {
                    count: 0,
                    delay: Duration::ZERO,
                    exponential: false,
                };
                for (k, v) in t {
                    let full = format!("{key}.{k}");
                    match k.as_str() {
                        "count" => match v.as_integer() {
                            Some(n) if n >= 0 => policy.count = n.min(u32::MAX as i64) as u32,
                            _ => self.warn(format!("`{full}` must be a whole number (ignored)")),
                        },
                        "backoff" => match v.as_str() {
                            Some("fixed") => policy.exponential = false,
                            Some("exponential") => policy.exponential = true,
                            _ => self.warn(format!(
                                "`{full}` must be \"fixed\" or \"exponential\" (ignored)"
                            )),
                        },
                        "delay" => {
                            if let Some(d) = self.duration(&full, v) {
                                policy.delay = d;
                            }
                        }
                        "jitter" | "max-delay" => self.unused(
                            &full,
                            " (shardtest's backoff has no jitter and caps at 60s)",
                        ),
                        _ => self.unused(&full, ""),
                    }
                }
                Some(policy)
            }
            other => {
                self.warn(format!(
                    "`{key}` must be a number or a table such as {{ backoff = \"fixed\", count = 2 }}, not `{other}` (ignored)"
                ));
                None
            }
        }
    }

    /// `slow-timeout`: a period or a table with `period` and `terminate-after`.
    pub(super) fn slow_timeout(&mut self, key: &str, v: &toml::Value) -> Option<SlowTimeout> {
        match v {
            toml::Value::String(_) => self.duration(key, v).map(|period| SlowTimeout {
                period,
                terminate_after: None,
            }),
            toml::Value::Table(t) => {
                let mut period = None;
                let mut terminate_after = None;
                for (k, v) in t {
                    let full = format!("{key}.{k}");
                    match k.as_str() {
                        "period" => period = self.duration(&full, v),
                        "terminate-after" => match v.as_integer() {
                            Some(n) if n > 0 => {
                                terminate_after = Some(n.min(u32::MAX as i64) as u32)
                            }
                            _ => self.warn(format!(
                                "`{full}` must be a positive whole number (ignored)"
                            )),
                        },
                        "grace-period" => self.unused(
                            &full,
                            " (a timed-out test's process group is killed at once)",
                        ),
                        _ => self.unused(&full, ""),
                    }
                }
                match period {
                    Some(period) => Some(SlowTimeout {
                        period,
                        terminate_after,
                    }),
                    None => {
                        self.warn(format!("`{key}` has no `period` (ignored)"));
                        None
                    }
                }
            }
            other => {
                self.warn(format!(
                    "`{key}` must be a duration or a table such as {{ period = \"60s\", terminate-after = 2 }}, not `{other}` (ignored)"
                ));
                None
            }
        }
    }

    /// `leak-timeout`: a period or a table with `period`.
    pub(super) fn leak_timeout(&mut self, key: &str, v: &toml::Value) -> Option<Duration> {
        match v {
            toml::Value::Table(t) => {
                let mut period = None;
                for (k, v) in t {
                    let full = format!("{key}.{k}");
                    match k.as_str() {
                        "period" => period = self.duration(&full, v),
                        _ => self.unused(&full, " (a leak is reported, never a failure)"),
                    }
                }
                period
            }
            _ => self.duration(key, v),
        }
    }

    /// `fail-fast`: a bool or `{ max-fail = N }`.
    pub(super) fn fail_fast(&mut self, key: &str, v: &toml::Value) -> Option<FailFast> {
        if let toml::Value::Table(t) = v {
            for k in t.keys().filter(|k| *k != "max-fail") {
                let why = if k == "terminate" {
                    " (running tests always finish)"
                } else {
                    ""
                };
                self.unused(&format!("{key}.{k}"), why);
            }
        }
        match v {
            toml::Value::Boolean(true) => Some(FailFast::Stop(1)),
            toml::Value::Boolean(false) => Some(FailFast::RunAll),
            toml::Value::Table(t) => match t.get("max-fail") {
                Some(toml::Value::Integer(n)) if *n > 0 => {
                    Some(FailFast::Stop((*n).min(u32::MAX as i64) as u32))
                }
                Some(toml::Value::String(s)) if s == "all" => Some(FailFast::RunAll),
                _ => {
                    self.warn(format!(
                        "`{key}` must be a bool or {{ max-fail = N }} (ignored)"
                    ));
                    None
                }
            },
            _ => {
                self.warn(format!(
                    "`{key}` must be a bool or {{ max-fail = N }} (ignored)"
                ));
                None
            }
        }
    }

    /// An override's `platform`: a target spec or `{ host = .., target = .. }`.
    fn platform(&mut self, key: &str, v: &toml::Value) -> Option<PlatformFilter> {
        match v {
            toml::Value::String(s) => Some(PlatformFilter {
                host: None,
                target: Some(s.clone()),
            }),
            toml::Value::Table(t) => {
                let mut p = PlatformFilter::default();
                for (k, v) in t {
                    match (k.as_str(), v.as_str()) {
                        ("host", Some(s)) => p.host = Some(s.to_string()),
                        ("target", Some(s)) => p.target = Some(s.to_string()),
                        _ => self.unused(&format!("{key}.{k}"), ""),
                    }
                }
                Some(p)
            }
            other => {
                self.warn(format!(
                    "`{key}` must be a string or {{ host = .., target = .. }}, not `{other}` (ignored)"
                ));
                None
            }
        }
    }

    /// The `overrides` array of the profile `profile`; entries that cannot be used are warnings.
    pub(super) fn overrides(&mut self, profile: &str, v: &toml::Value) -> Vec<Override> {
        let Some(list) = v.as_array() else {
            self.warn(format!(
                "`profile.{profile}.overrides` must be an array of tables (ignored)"
            ));
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let source = format!("profile.{profile}.overrides[{i}]");
            let Some(t) = item.as_table() else {
                self.warn(format!("`{source}` must be a table (ignored)"));
                continue;
            };
            let mut o = Override {
                source: source.clone(),
                ..Default::default()
            };
            for (k, v) in t {
                let full = format!("{source}.{k}");
                match k.as_str() {
                    "filter" => match v.as_str() {
                        Some(f) => o.filter = Some(f.to_string()),
                        None => self.warn(format!("`{full}` must be a string (ignored)")),
                    },
                    "platform" => o.platform = self.platform(&full, v),
                    "test-group" => match v.as_str() {
                        Some(g) => o.test_group = Some(g.to_string()),
                        None => self.warn(format!("`{full}` must be a string (ignored)")),
                    },
                    "threads-required" => o.threads_required = self.threads(&full, v, false),
                    "retries" => o.retries = self.retries(&full, v),
                    "slow-timeout" => o.slow_timeout = self.slow_timeout(&full, v),
                    "leak-timeout" => self.unused(
                        &full,
                        " per test (the profile's leak-timeout applies to every test)",
                    ),
                    _ => self.unused(&full, ""),
                }
            }
            if o.filter.is_none() && o.platform.is_none() {
                self.warn(format!(
                    "`{source}` has neither `filter` nor `platform` (ignored, as nextest rejects it)"
                ));
                continue;
            }
            out.push(o);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, profile: &str) -> NextestConfig {
        NextestConfig::parse(text, Path::new("nextest.toml"), profile).unwrap()
    }

    #[test]
    fn profile_inherits_then_default() {
        let c = parse(
            r#"
[profile.default]
retries = 1
test-threads = 3
leak-timeout = { period = "500ms", result = "fail" }
[profile.base]
retries = 4
slow-timeout = { period = "2s", terminate-after = 5 }
[profile.ci]
inherits = "base"
threads-required = 2
"#,
            "ci",
        );
        assert_eq!(c.settings.retries.as_ref().unwrap().count, 4);
        assert_eq!(
            c.settings.slow_timeout.as_ref().unwrap().terminate(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(c.settings.test_threads, Some(Threads::Count(3)));
        assert_eq!(c.settings.threads_required, Some(Threads::Count(2)));
        assert_eq!(c.settings.leak_timeout, Some(Duration::from_millis(500)));
        // `result = "fail"` is one warning.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    }

    #[test]
    fn overrides_profile_first_then_default_and_unknown_groups_warn() {
        let c = parse(
            r#"
[test-groups]
db = { max-threads = 1 }
[[profile.default.overrides]]
filter = "test(a)"
retries = 1
[[profile.ci.overrides]]
filter = "test(b)"
test-group = "db"
[[profile.ci.overrides]]
filter = "test(c)"
test-group = "nope"
success-output = "final"
[[profile.ci.overrides]]
threads-required = 2
"#,
            "ci",
        );
        let filters: Vec<_> = c
            .overrides
            .iter()
            .map(|o| o.filter.clone().unwrap())
            .collect();
        assert_eq!(filters, ["test(b)", "test(c)", "test(a)"]);
        assert_eq!(c.overrides[1].test_group, None);
        assert_eq!(c.groups["db"], Threads::Count(1));
        // success-output, the unknown group, the override without filter.
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
    }

    #[test]
    fn bad_values_warn_and_bad_toml_fails() {
        let c = parse(
            "[profile.default]\nretries = \"x\"\nslow-timeout = \"soon\"\nfail-fast = { max-fail = 0 }\n",
            "default",
        );
        assert_eq!(c.settings.retries, None);
        assert_eq!(c.warnings.len(), 3, "{:?}", c.warnings);
        let c = parse(
            "[profile.default]\nfail-fast = { max-fail = 2, terminate = \"immediate\" }\n",
            "default",
        );
        assert_eq!(c.settings.fail_fast, Some(FailFast::Stop(2)));
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(NextestConfig::parse("[profile", Path::new("n"), "default").is_err());
    }
}
