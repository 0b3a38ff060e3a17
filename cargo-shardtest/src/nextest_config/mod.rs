//! Reading cargo-nextest's `.config/nextest.toml`, so a workspace that runs nextest today gets
//! its retries, timeouts, test groups and heavy-test settings honoured by `cargo shardtest`
//! without rewriting them.
//!
//! # What is read
//! The profile chosen by `--nextest-profile NAME` (or `NEXTEST_PROFILE`, default `default`) is
//! resolved as nextest resolves it: a setting comes from the profile itself, else from the
//! profiles it `inherits` from (nearest first), else from `[profile.default]`. Overrides
//! (`[[profile.NAME.overrides]]`) are the chosen profile's followed by the default profile's,
//! and for each setting the first override whose `filter` and `platform` match a test wins.
//! nextest's own built-in defaults are *not* applied: where the file says nothing, shardtest's
//! defaults stay.
//!
//! | nextest | shardtest |
//! | --- | --- |
//! | `retries` (count, `backoff`, `delay`) | `--retries` (profile); `#[shard::flaky]`-like retries (override) |
//! | `slow-timeout` `period` | `--slow-timeout` (profile) or per test (override) |
//! | `slow-timeout` `terminate-after` | `--timeout` = period x terminate-after, or per test |
//! | `leak-timeout` | how long a finished test's leftover processes are waited for |
//! | `test-threads` | `-j` |
//! | `fail-fast` (`true`, `{ max-fail = N }`) | `--max-fail N` (1 for `true`) |
//! | `threads-required` | worker slots a test takes (like `#[shard::threads(N)]`) |
//! | `[test-groups]` `max-threads`, override `test-group` | `#[shard::group("name", max = N)]` |
//! | `default-filter` | the tests selected by default (and `default()` in `-E`) |
//!
//! Every other key gives one warning and is otherwise ignored: a nextest config never makes a
//! shardtest run fail, except when it is not TOML at all or the chosen profile does not exist.
//!
//! Precedence: flags > environment > `.config/shardtest.toml` > nextest config > defaults. The
//! profile-level settings are values of the `SHARDTEST_*` variables the flags read (see
//! [`profile_env`]), which become the flags' defaults (see [`crate::settings`]) only where
//! nothing above them set a value; the per-test settings become
//! test attributes (see [`apply`]), only where the test's code does not declare the same
//! attribute.

mod apply;
mod parse;
mod resolve;

use crate::console::say;
pub use apply::{OverrideSummary, apply};
pub use parse::{
    FailFast, NextestConfig, Override, PlatformFilter, ProfileSettings, RetryPolicy, SlowTimeout,
    Threads,
};

use std::path::{Path, PathBuf};

/// The nextest profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";

/// Environment variable that turns reading the nextest config on (`true`) or off (`false`);
/// `nextest-config = true` in `.config/shardtest.toml` sets it.
pub const ENABLE_ENV: &str = crate::config::NEXTEST_CONFIG_ENV;

/// The nextest config file of a workspace: `<root>/.config/nextest.toml`.
///
/// ```
/// let p = shardtest::nextest_config::config_path(std::path::Path::new("/w"));
/// assert_eq!(p, std::path::Path::new("/w/.config/nextest.toml"));
/// ```
pub fn config_path(root: &Path) -> PathBuf {
    root.join(".config").join("nextest.toml")
}

/// Whether the nextest config of the workspace at `root` is read: as `SHARDTEST_NEXTEST_CONFIG`
/// (or else `nextest-config` in our config) says, else only when the workspace has no
/// `.config/shardtest.toml` of its own.
///
/// ```
/// # use shardtest::nextest_config::enabled;
/// let dir = tempfile::tempdir().unwrap();
/// assert!(enabled(dir.path(), &|_| None));
/// assert!(!enabled(dir.path(), &|_| Some("false".into())));
/// std::fs::create_dir(dir.path().join(".config")).unwrap();
/// std::fs::write(dir.path().join(".config/shardtest.toml"), "").unwrap();
/// assert!(!enabled(dir.path(), &|_| None));
/// assert!(enabled(dir.path(), &|_| Some("true".into())));
/// ```
pub fn enabled(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> bool {
    // The environment, else our configuration file (read here: it is not in the environment).
    let setting =
        env(ENABLE_ENV).or_else(|| crate::config::load(root).ok()?.settings.remove(ENABLE_ENV));
    match setting.as_deref().map(str::trim) {
        Some("true" | "1" | "yes") => true,
        Some(_) => false,
        None => !root.join(".config").join("shardtest.toml").exists(),
    }
}

/// The profile named by `--nextest-profile` among raw arguments (before `--`), else by
/// `NEXTEST_PROFILE`, else `default`.
///
/// ```
/// # use shardtest::nextest_config::profile_arg;
/// let a: Vec<String> = ["x", "run", "--nextest-profile", "ci"].map(String::from).to_vec();
/// assert_eq!(profile_arg(&a, &|_| None), "ci");
/// assert_eq!(profile_arg(&a[..2], &|_| Some("nightly".into())), "nightly");
/// assert_eq!(profile_arg(&a[..2], &|_| None), "default");
/// ```
pub fn profile_arg(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--nextest-profile" {
            if let Some(v) = it.next() {
                return v.clone();
            }
        } else if let Some(v) = a.strip_prefix("--nextest-profile=") {
            return v.to_string();
        }
    }
    env("NEXTEST_PROFILE")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string())
}

/// Loads the workspace's nextest config for `profile` when it is enabled and exists.
///
/// ```
/// # use shardtest::nextest_config::load;
/// let dir = tempfile::tempdir().unwrap();
/// assert!(load(dir.path(), "default", &|_| None).unwrap().is_none());
/// std::fs::create_dir(dir.path().join(".config")).unwrap();
/// std::fs::write(dir.path().join(".config/nextest.toml"), "[profile.default]\nretries = 2\n").unwrap();
/// let c = load(dir.path(), "default", &|_| None).unwrap().unwrap();
/// assert_eq!(c.settings.retries.unwrap().count, 2);
/// ```
pub fn load(
    root: &Path,
    profile: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<NextestConfig>, String> {
    let path = config_path(root);
    if !enabled(root, env) || !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?;
    NextestConfig::parse(&text, &path, profile).map(Some)
}

/// A profile-level setting of the nextest config as the `SHARDTEST_*` variable it becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvSetting {
    /// The variable (`SHARDTEST_RETRIES`, ...).
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// The nextest key it came from, for the run header (`retries`, `slow-timeout`, ...).
    pub key: &'static str,
}

/// The profile-level settings of `config` as environment variables, for every variable that
/// `env` does not already set (flags read these variables; a flag still wins).
///
/// ```
/// # use shardtest::nextest_config::{NextestConfig, profile_env};
/// let toml = "[profile.default]\nretries = 2\nslow-timeout = { period = \"5s\", terminate-after = 3 }\n";
/// let c = NextestConfig::parse(toml, "nextest.toml".as_ref(), "default").unwrap();
/// let vars = profile_env(&c, &|v| (v == "SHARDTEST_RETRIES").then(|| "1".into()));
/// assert!(vars.iter().all(|s| s.var != "SHARDTEST_RETRIES"));
/// assert!(vars.iter().any(|s| s.var == "SHARDTEST_TIMEOUT" && s.value == "15s"));
/// ```
pub fn profile_env(
    config: &NextestConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<EnvSetting> {
    let s = &config.settings;
    let mut out = Vec::new();
    let mut push = |var: &'static str, value: String, key: &'static str| {
        if env(var).is_none() {
            out.push(EnvSetting { var, value, key });
        }
    };
    if let Some(r) = &s.retries {
        push("SHARDTEST_RETRIES", r.count.to_string(), "retries");
        if !r.delay.is_zero() {
            push(
                "SHARDTEST_RETRY_BACKOFF",
                humantime::format_duration(r.delay).to_string(),
                "retries",
            );
        }
    }
    if let Some(t) = &s.slow_timeout {
        push(
            "SHARDTEST_SLOW_TIMEOUT",
            humantime::format_duration(t.period).to_string(),
            "slow-timeout",
        );
        if let Some(hard) = t.terminate() {
            push(
                "SHARDTEST_TIMEOUT",
                humantime::format_duration(hard).to_string(),
                "slow-timeout.terminate-after",
            );
        }
    }
    if let Some(l) = s.leak_timeout {
        push(
            "SHARDTEST_LEAK_TIMEOUT",
            humantime::format_duration(l).to_string(),
            "leak-timeout",
        );
    }
    match s.fail_fast {
        Some(FailFast::Stop(n)) => push("SHARDTEST_MAX_FAIL", n.to_string(), "fail-fast"),
        // nextest's `fail-fast = false` is shardtest's default: run everything.
        Some(FailFast::RunAll) => push("SHARDTEST_MAX_FAIL", "0".into(), "fail-fast"),
        None => {}
    }
    if let Some(t) = &s.test_threads {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as i64);
        let jobs = match *t {
            Threads::Count(n) => n as i64,
            Threads::Relative(d) => (cpus + d).max(1),
            Threads::NumCpus | Threads::NumTestThreads => cpus,
        };
        push("SHARDTEST_JOBS", jobs.to_string(), "test-threads");
    }
    out
}

/// What happens before parsing the command line: reads the nextest config (when enabled) and
/// passes each profile-level variable's value to `set` (the layers, see
/// [`crate::settings`], make them the flags' defaults). Returns the header lines and
/// warnings to print on stderr.
pub fn apply_profile_env(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    set: &mut dyn FnMut(&str, &str),
) -> Result<Vec<String>, String> {
    let root = crate::config::workspace_of_args(args);
    apply_profile_env_in(args, root.as_deref(), env, set)
}

/// [`apply_profile_env`] in the workspace `root` the arguments name (already located, so one
/// question to cargo serves both the config file and the nextest profile; `None`: no
/// workspace, nothing to read).
pub fn apply_profile_env_in(
    args: &[String],
    root: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    set: &mut dyn FnMut(&str, &str),
) -> Result<Vec<String>, String> {
    // Only the commands that run or select tests read it.
    let normalized = crate::cli::normalize_args(args.to_vec());
    if !normalized
        .get(1)
        .is_some_and(|c| matches!(c.as_str(), "run" | "list" | "plan" | "audit"))
    {
        return Ok(Vec::new());
    }
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let profile = profile_arg(args, env);
    let Some(config) = load(root, &profile, env)? else {
        return Ok(Vec::new());
    };
    let mut lines = Vec::new();
    for w in &config.warnings {
        lines.push(format!("warning: {w}"));
    }
    // A flag on the command line wins anyway: do not claim the setting came from nextest.
    let vars: Vec<EnvSetting> = profile_env(&config, env)
        .into_iter()
        .filter(|v| !flag_given(args, v.var))
        .collect();
    for v in &vars {
        set(v.var, &v.value);
    }
    lines.push(header(&config, &vars));
    Ok(lines)
}

/// Whether a flag that reads `var` (as the command-line interface spells it: `--jobs`, `-j`)
/// is among the raw arguments (before `--`).
fn flag_given(args: &[String], var: &str) -> bool {
    let flags = crate::cli::flags_reading(var);
    args.iter().take_while(|a| *a != "--").any(|a| {
        flags.iter().any(|f| {
            if f.starts_with("--") {
                a == f
                    || a.strip_prefix(f.as_str())
                        .is_some_and(|r| r.starts_with('='))
            } else {
                a.starts_with(f.as_str())
            }
        })
    })
}

/// The run header line naming what came from the nextest config.
fn header(config: &NextestConfig, vars: &[EnvSetting]) -> String {
    let mut used: Vec<String> = vars
        .iter()
        .map(|v| format!("{} ({}={})", v.key, v.var, v.value))
        .collect();
    if let Some(t) = config.settings.threads_required {
        used.push(format!("threads-required = {t} for every test"));
    }
    if let Some(f) = &config.settings.default_filter {
        used.push(format!("default-filter `{f}`"));
    }
    if !config.groups.is_empty() {
        used.push(format!("{} test groups", config.groups.len()));
    }
    if !config.overrides.is_empty() {
        used.push(format!("{} overrides", config.overrides.len()));
    }
    let what = if used.is_empty() {
        "nothing that applies".to_string()
    } else {
        used.join(", ")
    };
    format!(
        "    Nextest config {} profile `{}`: {what}",
        config.path.display(),
        config.profile
    )
}

/// After listing: applies the nextest config's overrides to the tests' attributes (when the
/// config is read), and evaluates `-E` filtersets. Returns, when `-E` was given, whether each
/// test of `list` matches one of them. Builds the package graph (a full `cargo metadata`) only
/// when an expression or an override filter needs it. Bad `-E` expressions are usage errors;
/// problems in the config are warnings.
pub fn configure_list(
    build: &crate::cli::BuildArgs,
    root: &Path,
    filter: &crate::filter::TestFilter,
    list: &mut crate::list::TestList,
    workers: u32,
) -> anyhow::Result<Option<Vec<bool>>> {
    let env = |k: &str| std::env::var(k).ok();
    let profile = filter
        .nextest_profile
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_PROFILE.to_string());
    let config = load(root, &profile, &env).map_err(crate::exit::UsageError)?;
    // nextest's `default-filter` (`all()` means no filter at all). `--ignore-default-filter`
    // stops applying it; `default()` in `-E` still means it, as in nextest.
    let default_filter = config
        .as_ref()
        .and_then(|c| c.settings.default_filter.clone())
        .filter(|f| f.trim() != "all()");
    let apply_default = default_filter.is_some() && !filter.ignore_default_filter;
    if !apply::needs_graph(config.as_ref(), &filter.expressions) && !apply_default {
        if let Some(c) = &config {
            report(&apply(c, None, list, workers, build.target.as_deref()));
        }
        return Ok(None);
    }
    let manifest = build
        .manifest_path
        .clone()
        .unwrap_or_else(|| root.join("Cargo.toml"));
    let graph =
        crate::filterset::PackageGraphSource::load(Some(&manifest), build.target.as_deref())
            .map_err(|e| {
                crate::exit::UsageError(format!(
                    "filtersets need the workspace's package graph: {e}"
                ))
            })?;
    if let Some(c) = &config {
        report(&apply(
            c,
            Some(&graph),
            list,
            workers,
            build.target.as_deref(),
        ));
    }
    let default = match &default_filter {
        Some(f) => Some(
            crate::filterset::Filtersets::compile(
                &graph,
                std::slice::from_ref(f),
                nextest_filtering::FiltersetKind::DefaultFilter,
            )
            .map_err(|e| {
                crate::exit::UsageError(format!(
                    "the nextest profile's default-filter: {e} (pass --ignore-default-filter to run without it)"
                ))
            })?,
        ),
        None => None,
    };
    if filter.expressions.is_empty() && !apply_default {
        return Ok(None);
    }
    let mut sets = crate::filterset::Filtersets::compile(
        &graph,
        &filter.expressions,
        nextest_filtering::FiltersetKind::Test,
    )
    .map_err(crate::exit::UsageError)?;
    if let Some(d) = &default {
        sets = sets.with_default(d);
    }
    let binaries: std::collections::BTreeMap<_, _> =
        list.binaries.iter().map(|b| (&b.id, b)).collect();
    Ok(Some(
        list.tests
            .iter()
            .map(|t| {
                let binary = binaries.get(&t.id.binary);
                let name = t.id.name.as_str();
                // As in nextest: the expressions (OR-ed) and the default filter must match.
                let q = binary.and_then(|b| sets.query(b));
                let by_default = !apply_default
                    || default.as_ref().is_none_or(|d| {
                        let q = binary.and_then(|b| d.query(b));
                        d.matches(q.as_ref(), name)
                    });
                by_default && sets.matches(q.as_ref(), name)
            })
            .collect(),
    ))
}

fn report(summary: &OverrideSummary) {
    for w in &summary.warnings {
        say!("warning: {w}");
    }
    for l in &summary.lines {
        say!("    Nextest override {l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace(nextest: &str, shardtest: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
        std::fs::create_dir(dir.path().join(".config")).unwrap();
        std::fs::write(dir.path().join(".config/nextest.toml"), nextest).unwrap();
        if let Some(s) = shardtest {
            std::fs::write(dir.path().join(".config/shardtest.toml"), s).unwrap();
        }
        dir
    }

    fn run_args(dir: &Path, extra: &[&str]) -> Vec<String> {
        let mut a: Vec<String> = vec!["cargo-shardtest".into(), "shardtest".into(), "run".into()];
        a.push("--manifest-path".into());
        a.push(dir.join("Cargo.toml").display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    }

    #[test]
    fn precedence_env_and_shardtest_config_win_and_gate_reading() {
        let nextest =
            "[profile.default]\nretries = 3\ntest-threads = 2\n[profile.ci]\nretries = 4\n";
        // No shardtest.toml: read; the environment wins where it sets a variable.
        let dir = workspace(nextest, None);
        let mut set = Vec::new();
        let env = |k: &str| (k == "SHARDTEST_JOBS").then(|| "7".to_string());
        let lines = apply_profile_env(&run_args(dir.path(), &[]), &env, &mut |k, v| {
            set.push((k.to_string(), v.to_string()))
        })
        .unwrap();
        assert_eq!(set, [("SHARDTEST_RETRIES".to_string(), "3".to_string())]);
        assert!(
            lines
                .last()
                .unwrap()
                .contains("retries (SHARDTEST_RETRIES=3)")
        );
        // --nextest-profile picks the profile.
        let mut set = Vec::new();
        apply_profile_env(
            &run_args(dir.path(), &["--nextest-profile", "ci"]),
            &|_| None,
            &mut |k, v| set.push((k.to_string(), v.to_string())),
        )
        .unwrap();
        assert!(set.contains(&("SHARDTEST_RETRIES".to_string(), "4".to_string())));
        // A shardtest.toml without `nextest-config = true`: not read at all.
        let dir = workspace(nextest, Some("jobs = 3\n"));
        let mut set = Vec::new();
        let lines = apply_profile_env(&run_args(dir.path(), &[]), &|_| None, &mut |k, v| {
            set.push((k.to_string(), v.to_string()))
        })
        .unwrap();
        assert!(set.is_empty() && lines.is_empty());
        // With it (main applies our file first, as environment variables): read, below ours.
        let env = |k: &str| match k {
            ENABLE_ENV => Some("true".to_string()),
            "SHARDTEST_RETRIES" => Some("1".to_string()),
            _ => None,
        };
        let mut set = Vec::new();
        apply_profile_env(&run_args(dir.path(), &[]), &env, &mut |k, v| {
            set.push((k.to_string(), v.to_string()))
        })
        .unwrap();
        assert_eq!(set, [("SHARDTEST_JOBS".to_string(), "2".to_string())]);
        // A flag wins: the variable is not set, and the header does not claim it.
        let mut set = Vec::new();
        apply_profile_env(&run_args(dir.path(), &["-j3"]), &env, &mut |k, v| {
            set.push((k.to_string(), v.to_string()))
        })
        .unwrap();
        assert!(set.is_empty(), "{set:?}");
        // Other commands never read it.
        let mut args = run_args(dir.path(), &[]);
        args[2] = "timings".into();
        assert!(
            apply_profile_env(&args, &env, &mut |_, _| panic!())
                .unwrap()
                .is_empty()
        );
    }
}
