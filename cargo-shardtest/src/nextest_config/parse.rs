//! The parts of `.config/nextest.toml` shardtest understands, read leniently: a value of the
//! wrong shape or a key shardtest does not use becomes a warning, never an error.

use std::collections::{BTreeMap, BTreeSet};
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

struct Reader<'a> {
    path: &'a Path,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn warn(&mut self, what: String) {
        self.warnings
            .push(format!("{}: {what}", self.path.display()));
    }

    fn unused(&mut self, key: &str, why: &str) {
        self.warn(format!(
            "`{key}` is not used by cargo shardtest{why} (ignored)"
        ));
    }

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

    fn threads(&mut self, key: &str, v: &toml::Value, negative_ok: bool) -> Option<Threads> {
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

    fn retries(&mut self, key: &str, v: &toml::Value) -> Option<RetryPolicy> {
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

    fn slow_timeout(&mut self, key: &str, v: &toml::Value) -> Option<SlowTimeout> {
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

    fn leak_timeout(&mut self, key: &str, v: &toml::Value) -> Option<Duration> {
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

    fn fail_fast(&mut self, key: &str, v: &toml::Value) -> Option<FailFast> {
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

    fn overrides(&mut self, profile: &str, v: &toml::Value) -> Vec<Override> {
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

impl NextestConfig {
    /// Reads `text` (the contents of `path`) for `profile`. Only TOML that does not parse and a
    /// profile that does not exist are errors.
    ///
    /// ```
    /// # use shardtest::nextest_config::NextestConfig;
    /// let toml = r#"
    /// [profile.default]
    /// slow-timeout = "30s"
    /// status-level = "all"
    /// [profile.ci]
    /// retries = { backoff = "exponential", count = 2, delay = "1s" }
    /// "#;
    /// let c = NextestConfig::parse(toml, "nextest.toml".as_ref(), "ci").unwrap();
    /// assert_eq!(c.settings.retries.as_ref().unwrap().count, 2);
    /// assert_eq!(c.settings.slow_timeout.as_ref().unwrap().period.as_secs(), 30); // from default
    /// assert_eq!(c.warnings.len(), 1); // status-level
    /// assert!(NextestConfig::parse(toml, "nextest.toml".as_ref(), "nope").is_err());
    /// ```
    pub fn parse(text: &str, path: &Path, profile: &str) -> Result<NextestConfig, String> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| format!("{} is not valid TOML: {e}", path.display()))?;
        let mut r = Reader {
            path,
            warnings: Vec::new(),
        };
        let empty = toml::Table::new();
        let profiles = match table.get("profile") {
            Some(toml::Value::Table(t)) => t.clone(),
            Some(_) => {
                r.warn("`profile` must be a table (ignored)".into());
                toml::Table::new()
            }
            None => toml::Table::new(),
        };
        let profile_table = |name: &str| profiles.get(name).and_then(toml::Value::as_table);
        if profile != super::DEFAULT_PROFILE && profile_table(profile).is_none() {
            let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
            return Err(format!(
                "{}: nextest profile `{profile}` not found (profiles: default{}{})",
                path.display(),
                if known.is_empty() { "" } else { ", " },
                known
                    .iter()
                    .filter(|k| **k != super::DEFAULT_PROFILE)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for (k, _) in &table {
            match k.as_str() {
                "profile" | "test-groups" => {}
                // A version requirement on nextest itself: nothing for shardtest to do.
                "nextest-version" => {}
                other => r.unused(other, ""),
            }
        }
        // The chain: the profile, what it inherits from (nearest first), then `default`.
        let mut chain: Vec<String> = vec![profile.to_string()];
        let mut seen: BTreeSet<String> = chain.iter().cloned().collect();
        let mut current = profile.to_string();
        while current != super::DEFAULT_PROFILE {
            let parent = profile_table(&current)
                .and_then(|t| t.get("inherits"))
                .and_then(toml::Value::as_str)
                .map(str::to_string);
            match parent {
                Some(p) if seen.insert(p.clone()) && profile_table(&p).is_some() => {
                    chain.push(p.clone());
                    current = p;
                }
                Some(p) if p != super::DEFAULT_PROFILE => {
                    r.warn(format!(
                        "profile `{current}` inherits from `{p}`, which does not exist or forms a cycle (ignored)"
                    ));
                    break;
                }
                _ => break,
            }
        }
        if chain.last().map(String::as_str) != Some(super::DEFAULT_PROFILE) {
            chain.push(super::DEFAULT_PROFILE.to_string());
        }
        let mut settings = ProfileSettings::default();
        let mut overrides_of: BTreeMap<String, Vec<Override>> = BTreeMap::new();
        for name in &chain {
            let t = profile_table(name).unwrap_or(&empty);
            for (k, v) in t {
                let full = format!("profile.{name}.{k}");
                match k.as_str() {
                    "retries" => {
                        let p = r.retries(&full, v);
                        settings.retries = settings.retries.take().or(p);
                    }
                    "slow-timeout" => {
                        let p = r.slow_timeout(&full, v);
                        settings.slow_timeout = settings.slow_timeout.take().or(p);
                    }
                    "leak-timeout" => {
                        let p = r.leak_timeout(&full, v);
                        settings.leak_timeout = settings.leak_timeout.or(p);
                    }
                    "fail-fast" => {
                        let p = r.fail_fast(&full, v);
                        settings.fail_fast = settings.fail_fast.or(p);
                    }
                    "test-threads" => {
                        let p = r.threads(&full, v, true);
                        settings.test_threads = settings.test_threads.or(p);
                    }
                    "threads-required" => {
                        let p = r.threads(&full, v, false);
                        settings.threads_required = settings.threads_required.or(p);
                    }
                    "overrides" => {
                        let o = r.overrides(name, v);
                        overrides_of.insert(name.clone(), o);
                    }
                    "default-filter" => match v.as_str() {
                        Some(f) => {
                            settings.default_filter = settings
                                .default_filter
                                .take()
                                .or_else(|| Some(f.to_string()))
                        }
                        None => r.warn(format!("`{full}` must be a string (ignored)")),
                    },
                    "inherits" => {}
                    _ => r.unused(&full, ""),
                }
            }
        }
        // nextest applies the chosen profile's overrides, then the default profile's.
        let mut overrides = overrides_of.remove(profile).unwrap_or_default();
        if profile != super::DEFAULT_PROFILE {
            overrides.extend(
                overrides_of
                    .remove(super::DEFAULT_PROFILE)
                    .unwrap_or_default(),
            );
        }
        let mut groups = BTreeMap::new();
        match table.get("test-groups") {
            None => {}
            Some(toml::Value::Table(t)) => {
                for (name, v) in t {
                    let key = format!("test-groups.{name}");
                    let Some(g) = v.as_table() else {
                        r.warn(format!("`{key}` must be a table (ignored)"));
                        continue;
                    };
                    for (k, v) in g {
                        match k.as_str() {
                            "max-threads" => {
                                if let Some(n) = r.threads(&format!("{key}.{k}"), v, true) {
                                    groups.insert(name.clone(), n);
                                }
                            }
                            _ => r.unused(&format!("{key}.{k}"), ""),
                        }
                    }
                    if !groups.contains_key(name) {
                        r.warn(format!("`{key}` has no `max-threads` (ignored)"));
                    }
                }
            }
            Some(_) => r.warn("`test-groups` must be a table (ignored)".into()),
        }
        for o in &mut overrides {
            if let Some(g) = &o.test_group
                && g != "@global"
                && !groups.contains_key(g)
            {
                r.warn(format!(
                    "`{}.test-group` names `{g}`, which is not in [test-groups] (ignored)",
                    o.source
                ));
                o.test_group = None;
            }
        }
        Ok(NextestConfig {
            path: path.to_path_buf(),
            profile: profile.to_string(),
            settings,
            groups,
            overrides,
            warnings: r.warnings,
        })
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
