//! Turning a nextest config's overrides and test groups into per-test attributes, and
//! evaluating `-E` filtersets, once the tests are listed.

use super::{NextestConfig, Override, Threads};
use crate::attrs::{FlakyPolicy, GroupLimit, TestAttributes, ThreadsRequired};
use crate::filterset::{Filtersets, PackageGraphSource};
use crate::list::TestList;
use nextest_filtering::FiltersetKind;

/// What [`apply`] did, for the run header: one line per override that matched tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverrideSummary {
    /// `profile.ci.overrides[0] (test-group = "db"): 3 tests`.
    pub lines: Vec<String>,
    /// Overrides that could not be used (bad filter or platform), one line each.
    pub warnings: Vec<String>,
}

fn threads_of(t: Threads, workers: u32) -> ThreadsRequired {
    match t {
        Threads::NumCpus | Threads::NumTestThreads => ThreadsRequired::all(),
        other => ThreadsRequired::Count(other.resolve(workers)),
    }
}

fn platform_matches(o: &Override, target: Option<&str>) -> Result<bool, String> {
    let Some(p) = &o.platform else {
        return Ok(true);
    };
    let host = target_spec::Platform::build_target()
        .map_err(|e| format!("`{}.platform`: {e}", o.source))?;
    let target_platform = match target {
        Some(t) => target_spec::Platform::new(t.to_string(), target_spec::TargetFeatures::Unknown)
            .map_err(|e| format!("`{}.platform`: {e}", o.source))?,
        None => host.clone(),
    };
    let eval = |spec: &str, platform: &target_spec::Platform| -> Result<bool, String> {
        let spec = target_spec::TargetSpec::new(spec.to_string())
            .map_err(|e| format!("`{}.platform` `{spec}`: {e}", o.source))?;
        // Unknown target features count as not matching.
        Ok(spec.eval(platform).unwrap_or(false))
    };
    let host_ok = match &p.host {
        Some(s) => eval(s, &host)?,
        None => true,
    };
    let target_ok = match &p.target {
        Some(s) => eval(s, &target_platform)?,
        None => true,
    };
    Ok(host_ok && target_ok)
}

fn describe(o: &Override) -> String {
    let mut parts = Vec::new();
    if let Some(g) = &o.test_group {
        parts.push(format!("test-group = \"{g}\""));
    }
    if let Some(t) = &o.threads_required {
        parts.push(format!("threads-required = {t}"));
    }
    if let Some(r) = &o.retries {
        parts.push(format!("retries = {}", r.count));
    }
    if let Some(s) = &o.slow_timeout {
        let mut t = format!("slow-timeout = {}", humantime::format_duration(s.period));
        if let Some(n) = s.terminate_after {
            t.push_str(&format!(" x {n}"));
        }
        parts.push(t);
    }
    parts.join(", ")
}

/// Sets the attributes the config's overrides (and its profile-wide `threads-required`) give
/// each test of `list`. A test's own attributes (from `#[shard::...]` in its code) win over
/// the config's for the same setting. `graph` must be given when any override has a filter.
///
/// For each setting the first override (in [`NextestConfig::overrides`] order) that matches the
/// test and sets it wins, as in nextest.
pub fn apply(
    config: &NextestConfig,
    graph: Option<&PackageGraphSource>,
    list: &mut TestList,
    workers: u32,
    target: Option<&str>,
) -> OverrideSummary {
    let mut summary = OverrideSummary::default();
    // Which overrides are usable here, and their compiled filters.
    let mut usable: Vec<(usize, Option<Filtersets<'_>>)> = Vec::new();
    for (i, o) in config.overrides.iter().enumerate() {
        match platform_matches(o, target) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                summary.warnings.push(format!("{e} (override ignored)"));
                continue;
            }
        }
        let compiled = match (&o.filter, graph) {
            (None, _) => None,
            (Some(f), Some(g)) => {
                match Filtersets::compile(g, std::slice::from_ref(f), FiltersetKind::OverrideFilter)
                {
                    Ok(c) => Some(c),
                    Err(e) => {
                        summary
                            .warnings
                            .push(format!("`{}.filter`: {e} (override ignored)", o.source));
                        continue;
                    }
                }
            }
            (Some(_), None) => {
                summary.warnings.push(format!(
                    "`{}.filter` needs the package graph, which is not available here (override ignored)",
                    o.source
                ));
                continue;
            }
        };
        usable.push((i, compiled));
    }
    let binaries: std::collections::BTreeMap<_, _> =
        list.binaries.iter().map(|b| (b.id.clone(), b)).collect();
    let mut counts = vec![0usize; config.overrides.len()];
    for test in &mut list.tests {
        let Some(binary) = binaries.get(&test.id.binary) else {
            continue;
        };
        let own = test.attributes.clone();
        let mut set = TestAttributes::default();
        let (mut group, mut threads, mut retries, mut slow) = (false, false, false, false);
        for (i, compiled) in &usable {
            let o = &config.overrides[*i];
            let hit = match compiled {
                None => true,
                Some(c) => {
                    let q = c.query(binary);
                    c.matches(q.as_ref(), test.id.name.as_str())
                }
            };
            if !hit {
                continue;
            }
            counts[*i] += 1;
            if !group && let Some(g) = &o.test_group {
                group = true;
                if g != nextest_metadata::GLOBAL_TEST_GROUP
                    && let Some(max) = config.groups.get(g)
                {
                    set.group = Some(GroupLimit {
                        name: format!("nextest:{g}"),
                        max: max.resolve(workers),
                    });
                }
            }
            if !threads && let Some(t) = o.threads_required {
                threads = true;
                set.threads = Some(threads_of(t, workers));
            }
            if !retries && let Some(r) = &o.retries {
                retries = true;
                set.flaky = Some(FlakyPolicy {
                    retries: r.count,
                    backoff_ms: r.delay.as_millis().min(u128::from(u64::MAX)) as u64,
                });
            }
            if !slow && let Some(s) = &o.slow_timeout {
                slow = true;
                set.slow_ms = Some(s.period.as_millis() as u64);
                set.timeout_ms = s.terminate().map(|d| d.as_millis() as u64);
            }
        }
        if !threads && let Some(t) = config.settings.threads_required {
            set.threads = Some(threads_of(t, workers));
        }
        // A count of 1 is what a test takes anyway: keep the attributes plain.
        if set.threads == Some(ThreadsRequired::Count(1)) {
            set.threads = None;
        }
        let a = &mut test.attributes;
        if own.group.is_none() && own.serial.is_none() {
            a.group = set.group;
        }
        if own.threads.is_none() {
            a.threads = set.threads;
        }
        if own.flaky.is_none() && set.flaky.as_ref().is_some_and(|f| f.retries > 0) {
            a.flaky = set.flaky;
        }
        if own.slow_ms.is_none() {
            a.slow_ms = set.slow_ms;
        }
        if own.timeout_ms.is_none() {
            a.timeout_ms = set.timeout_ms;
        }
    }
    for (i, n) in counts.iter().enumerate() {
        if *n > 0 {
            let o = &config.overrides[i];
            summary.lines.push(format!(
                "{} ({}): {n} test{}",
                o.source,
                describe(o),
                if *n == 1 { "" } else { "s" }
            ));
        }
    }
    summary
}

/// The package graph is needed when `-E` is given or an override has a filter.
pub(crate) fn needs_graph(config: Option<&NextestConfig>, expressions: &[String]) -> bool {
    !expressions.is_empty()
        || config.is_some_and(|c| c.overrides.iter().any(|o| o.filter.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{TestBinary, TestCase};

    fn list() -> TestList {
        let binary = TestBinary {
            id: crate::id::BinaryId::new("p"),
            path: "/x".into(),
            package_name: "p".into(),
            package_version: "0.1.0".into(),
            package_dir: "/w".into(),
            kind: "lib".into(),
            target_name: "p".into(),
            bin_exes: Default::default(),
            out_dir: None,
            custom_harness: false,
            doctest: None,
        };
        let case = |name: &str, attributes: TestAttributes| TestCase {
            id: format!("p {name}").parse().unwrap(),
            ignored: false,
            attributes,
        };
        TestList {
            binaries: vec![binary],
            tests: vec![
                case("plain", TestAttributes::default()),
                case(
                    "own_group",
                    TestAttributes {
                        group: Some(GroupLimit {
                            name: "mine".into(),
                            max: 3,
                        }),
                        ..Default::default()
                    },
                ),
            ],
            warnings: Vec::new(),
        }
    }

    #[test]
    fn platform_overrides_apply_on_their_platform_only_and_code_wins() {
        let toml = r#"
[test-groups]
g = { max-threads = 2 }
[profile.default]
threads-required = 1
[[profile.default.overrides]]
platform = "cfg(any())"
retries = 5
[[profile.default.overrides]]
platform = "cfg(all())"
retries = 1
test-group = "g"
slow-timeout = { period = "1s", terminate-after = 2 }
[[profile.default.overrides]]
platform = { host = "cfg(all())" }
retries = 9
threads-required = "num-cpus"
"#;
        let c = NextestConfig::parse(toml, std::path::Path::new("n.toml"), "default").unwrap();
        let mut l = list();
        let summary = apply(&c, None, &mut l, 4, None);
        assert!(summary.warnings.is_empty(), "{:?}", summary.warnings);
        let plain = &l.tests[0].attributes;
        // The never-matching override is skipped; the first matching one wins per setting.
        assert_eq!(plain.flaky.as_ref().unwrap().retries, 1);
        assert_eq!(plain.group.as_ref().unwrap().max, 2);
        assert_eq!(plain.timeout_ms, Some(2000));
        assert_eq!(plain.slow_ms, Some(1000));
        assert_eq!(plain.threads, Some(ThreadsRequired::all()));
        // The test's own group (from its code) wins over the config's.
        assert_eq!(l.tests[1].attributes.group.as_ref().unwrap().name, "mine");
        assert_eq!(summary.lines.len(), 2, "{:?}", summary.lines);
    }

    #[test]
    fn a_filter_without_a_graph_is_a_warning_not_a_failure() {
        let toml = "[[profile.default.overrides]]\nfilter = \"test(x)\"\nretries = 1\n";
        let c = NextestConfig::parse(toml, std::path::Path::new("n.toml"), "default").unwrap();
        let mut l = list();
        let summary = apply(&c, None, &mut l, 2, None);
        assert_eq!(summary.warnings.len(), 1);
        assert!(l.tests[0].attributes.is_plain());
    }
}
