//! Resolving a whole `.config/nextest.toml` for one profile ([`NextestConfig::parse`]): the
//! profile's inheritance chain, its settings (nearest profile first), its overrides in
//! priority order, and the test groups they name.

use super::DEFAULT_PROFILE;
use super::parse::{NextestConfig, Override, ProfileSettings, Reader, Threads};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

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
        let profiles = profiles(&table, &mut r);
        if profile != DEFAULT_PROFILE && profile_table(&profiles, profile).is_none() {
            return Err(profile_not_found(path, profile, &profiles));
        }
        warn_unused_top_level(&table, &mut r);
        let chain = inheritance_chain(&profiles, profile, &mut r);
        let (settings, mut overrides_of) = chain_settings(&profiles, &chain, &mut r);
        // nextest applies the chosen profile's overrides, then the default profile's.
        let mut overrides = overrides_of.remove(profile).unwrap_or_default();
        if profile != DEFAULT_PROFILE {
            overrides.extend(overrides_of.remove(DEFAULT_PROFILE).unwrap_or_default());
        }
        let groups = test_groups(&table, &mut r);
        drop_unknown_groups(&mut overrides, &groups, &mut r);
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

/// The `[profile]` table (empty when missing, or with a warning when not a table).
fn profiles(table: &toml::Table, r: &mut Reader<'_>) -> toml::Table {
    match table.get("profile") {
        Some(toml::Value::Table(t)) => t.clone(),
        Some(_) => {
            r.warn("`profile` must be a table (ignored)".into());
            toml::Table::new()
        }
        None => toml::Table::new(),
    }
}

/// The table of the profile `name`, if there is one.
fn profile_table<'a>(profiles: &'a toml::Table, name: &str) -> Option<&'a toml::Table> {
    profiles.get(name).and_then(toml::Value::as_table)
}

/// The error for a chosen profile the file does not define, listing the ones it does.
fn profile_not_found(path: &Path, profile: &str, profiles: &toml::Table) -> String {
    let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
    format!(
        "{}: nextest profile `{profile}` not found (profiles: default{}{})",
        path.display(),
        if known.is_empty() { "" } else { ", " },
        known
            .iter()
            .filter(|k| **k != DEFAULT_PROFILE)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Warns about each top-level key other than `profile`, `test-groups` and `nextest-version`.
fn warn_unused_top_level(table: &toml::Table, r: &mut Reader<'_>) {
    for (k, _) in table {
        match k.as_str() {
            "profile" | "test-groups" => {}
            // A version requirement on nextest itself: nothing for shardtest to do.
            "nextest-version" => {}
            other => r.unused(other, ""),
        }
    }
}

/// The chain: the profile, what it inherits from (nearest first), then `default`. A parent
/// that does not exist or closes a cycle ends the chain with a warning.
fn inheritance_chain(profiles: &toml::Table, profile: &str, r: &mut Reader<'_>) -> Vec<String> {
    let mut chain: Vec<String> = vec![profile.to_string()];
    let mut seen: BTreeSet<String> = chain.iter().cloned().collect();
    let mut current = profile.to_string();
    while current != DEFAULT_PROFILE {
        let parent = profile_table(profiles, &current)
            .and_then(|t| t.get("inherits"))
            .and_then(toml::Value::as_str)
            .map(str::to_string);
        match parent {
            Some(p) if seen.insert(p.clone()) && profile_table(profiles, &p).is_some() => {
                chain.push(p.clone());
                current = p;
            }
            Some(p) if p != DEFAULT_PROFILE => {
                r.warn(format!(
                    "profile `{current}` inherits from `{p}`, which does not exist or forms a cycle (ignored)"
                ));
                break;
            }
            _ => break,
        }
    }
    if chain.last().map(String::as_str) != Some(DEFAULT_PROFILE) {
        chain.push(DEFAULT_PROFILE.to_string());
    }
    chain
}

/// The settings of the chain's profiles, each taken from the first profile that sets it, and
/// each profile's overrides by profile name.
fn chain_settings(
    profiles: &toml::Table,
    chain: &[String],
    r: &mut Reader<'_>,
) -> (ProfileSettings, BTreeMap<String, Vec<Override>>) {
    let empty = toml::Table::new();
    let mut settings = ProfileSettings::default();
    let mut overrides_of: BTreeMap<String, Vec<Override>> = BTreeMap::new();
    for name in chain {
        let t = profile_table(profiles, name).unwrap_or(&empty);
        for (k, v) in t {
            let full = format!("profile.{name}.{k}");
            match k.as_str() {
                "overrides" => {
                    let o = r.overrides(name, v);
                    overrides_of.insert(name.clone(), o);
                }
                _ => profile_setting(&mut settings, k, &full, v, r),
            }
        }
    }
    (settings, overrides_of)
}

/// Reads the profile key `k` (spelled `full` in messages) into `settings` unless a nearer
/// profile already set it; keys shardtest does not use are warnings.
fn profile_setting(
    settings: &mut ProfileSettings,
    k: &str,
    full: &str,
    v: &toml::Value,
    r: &mut Reader<'_>,
) {
    match k {
        "retries" => {
            let p = r.retries(full, v);
            settings.retries = settings.retries.take().or(p);
        }
        "slow-timeout" => {
            let p = r.slow_timeout(full, v);
            settings.slow_timeout = settings.slow_timeout.take().or(p);
        }
        "leak-timeout" => {
            let p = r.leak_timeout(full, v);
            settings.leak_timeout = settings.leak_timeout.or(p);
        }
        "fail-fast" => {
            let p = r.fail_fast(full, v);
            settings.fail_fast = settings.fail_fast.or(p);
        }
        "test-threads" => {
            let p = r.threads(full, v, true);
            settings.test_threads = settings.test_threads.or(p);
        }
        "threads-required" => {
            let p = r.threads(full, v, false);
            settings.threads_required = settings.threads_required.or(p);
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
        _ => r.unused(full, ""),
    }
}

/// `[test-groups]`: each group's `max-threads`; a group without one is a warning.
fn test_groups(table: &toml::Table, r: &mut Reader<'_>) -> BTreeMap<String, Threads> {
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
    groups
}

/// Unsets (with a warning) each override's `test-group` that `[test-groups]` does not define
/// (`@global` always exists).
fn drop_unknown_groups(
    overrides: &mut [Override],
    groups: &BTreeMap<String, Threads>,
    r: &mut Reader<'_>,
) {
    for o in overrides {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, profile: &str) -> NextestConfig {
        NextestConfig::parse(text, Path::new("nextest.toml"), profile).unwrap()
    }

    #[test]
    fn a_missing_or_cyclic_parent_ends_the_chain_at_default_with_a_warning() {
        let text = r#"
[profile.default]
retries = 1
[profile.a]
inherits = "b"
test-threads = 2
[profile.b]
inherits = "a"
slow-timeout = "3s"
[profile.c]
inherits = "gone"
"#;
        let c = parse(text, "a");
        assert_eq!(c.settings.test_threads, Some(Threads::Count(2)));
        assert_eq!(
            c.settings.slow_timeout.as_ref().unwrap().period.as_secs(),
            3
        );
        assert_eq!(c.settings.retries.as_ref().unwrap().count, 1);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("profile `b` inherits from `a`"));
        let c = parse(text, "c");
        assert_eq!(c.settings.retries.as_ref().unwrap().count, 1);
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("`gone`, which does not exist"));
        let c = parse("[profile.x]\ninherits = \"default\"\n", "x");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn an_unknown_profile_is_an_error_naming_the_known_ones() {
        let e = NextestConfig::parse("[profile.ci]\n", Path::new("n.toml"), "nope").unwrap_err();
        assert_eq!(
            e,
            "n.toml: nextest profile `nope` not found (profiles: default, ci)"
        );
        let e = NextestConfig::parse("", Path::new("n.toml"), "nope").unwrap_err();
        assert_eq!(
            e,
            "n.toml: nextest profile `nope` not found (profiles: default)"
        );
        // `default` always exists, even when the file does not define it.
        assert!(NextestConfig::parse("", Path::new("n.toml"), "default").is_ok());
    }
}
