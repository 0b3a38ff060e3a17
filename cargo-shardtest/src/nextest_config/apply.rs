//! Turning a nextest config's overrides and test groups into per-test attributes, and
//! evaluating `-E` filtersets, once the tests are listed.

use super::{NextestConfig, Override, Threads};
use crate::attrs::{FlakyPolicy, GroupLimit, TestAttributes, ThreadsRequired};
use crate::filterset::{Filtersets, PackageGraphSource};
use crate::list::{TestBinary, TestList};
use nextest_filtering::FiltersetKind;

/// What [`apply`] did, for the run header: one line per override that matched tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverrideSummary {
    /// `profile.ci.overrides[0] (test-group = "db"): 3 tests`.
    pub lines: Vec<String>,
    /// Overrides that could not be used (bad filter or platform), one line each.
    pub warnings: Vec<String>,
}

/// The worker slots a nextest thread count takes with `workers` workers.
fn threads_of(t: Threads, workers: u32) -> ThreadsRequired {
    match t {
        Threads::NumCpus | Threads::NumTestThreads => ThreadsRequired::all(),
        other => ThreadsRequired::Count(other.resolve(workers)),
    }
}

/// Whether the override's `platform` (none: any) matches the host and the build target
/// (`target`, else the host).
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

/// What an override sets, for its summary line: `test-group = "db", retries = 2`.
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
    let usable = usable_overrides(config, graph, target, &mut summary.warnings);
    let binaries: std::collections::BTreeMap<_, _> =
        list.binaries.iter().map(|b| (b.id.clone(), b)).collect();
    let mut counts = vec![0usize; config.overrides.len()];
    for test in &mut list.tests {
        let Some(binary) = binaries.get(&test.id.binary) else {
            continue;
        };
        let mut set = TestAttributes::default();
        let mut taken = Taken::default();
        for (i, compiled) in &usable {
            if !override_matches(compiled.as_ref(), binary, test.id.name.as_str()) {
                continue;
            }
            counts[*i] += 1;
            taken.take(&config.overrides[*i], config, workers, &mut set);
        }
        if !taken.threads
            && let Some(t) = config.settings.threads_required
        {
            set.threads = Some(threads_of(t, workers));
        }
        // A count of 1 is what a test takes anyway: keep the attributes plain.
        if set.threads == Some(ThreadsRequired::Count(1)) {
            set.threads = None;
        }
        keep_own(&mut test.attributes, set);
    }
    summary.lines = matched_lines(config, &counts);
    summary
}

/// The overrides that apply on this platform, by index, with their compiled filters (none:
/// every test); the ones that cannot be used become warnings.
fn usable_overrides<'g>(
    config: &NextestConfig,
    graph: Option<&'g PackageGraphSource>,
    target: Option<&str>,
    warnings: &mut Vec<String>,
) -> Vec<(usize, Option<Filtersets<'g>>)> {
    let mut usable = Vec::new();
    for (i, o) in config.overrides.iter().enumerate() {
        match platform_matches(o, target) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                warnings.push(format!("{e} (override ignored)"));
                continue;
            }
        }
        match compile_filter(o, graph) {
            Ok(compiled) => usable.push((i, compiled)),
            Err(e) => warnings.push(e),
        }
    }
    usable
}

/// The override's filter compiled against `graph` (none without a filter), or the warning
/// saying why the override is ignored.
fn compile_filter<'g>(
    o: &Override,
    graph: Option<&'g PackageGraphSource>,
) -> Result<Option<Filtersets<'g>>, String> {
    match (&o.filter, graph) {
        (None, _) => Ok(None),
        (Some(f), Some(g)) => {
            Filtersets::compile(g, std::slice::from_ref(f), FiltersetKind::OverrideFilter)
                .map(Some)
                .map_err(|e| format!("`{}.filter`: {e} (override ignored)", o.source))
        }
        (Some(_), None) => Err(format!(
            "`{}.filter` needs the package graph, which is not available here (override ignored)",
            o.source
        )),
    }
}

/// Whether an override with this compiled filter (none: every test) selects the test `name`
/// of `binary`.
fn override_matches(compiled: Option<&Filtersets<'_>>, binary: &TestBinary, name: &str) -> bool {
    match compiled {
        None => true,
        Some(c) => {
            let q = c.query(binary);
            c.matches(q.as_ref(), name)
        }
    }
}

/// Which settings an earlier matching override already decided for a test (first one wins,
/// even when what it says leaves the attribute unset, as `test-group = "@global"` does).
#[derive(Default)]
struct Taken {
    group: bool,
    threads: bool,
    retries: bool,
    slow: bool,
}

impl Taken {
    /// Sets in `set` what the matching override `o` says about the settings not yet taken.
    fn take(
        &mut self,
        o: &Override,
        config: &NextestConfig,
        workers: u32,
        set: &mut TestAttributes,
    ) {
        if !self.group
            && let Some(g) = &o.test_group
        {
            self.group = true;
            if g != nextest_metadata::GLOBAL_TEST_GROUP
                && let Some(max) = config.groups.get(g)
            {
                set.group = Some(GroupLimit {
                    name: format!("nextest:{g}"),
                    max: max.resolve(workers),
                });
            }
        }
        if !self.threads
            && let Some(t) = o.threads_required
        {
            self.threads = true;
            set.threads = Some(threads_of(t, workers));
        }
        if !self.retries
            && let Some(r) = &o.retries
        {
            self.retries = true;
            set.flaky = Some(FlakyPolicy {
                retries: r.count,
                backoff_ms: r.delay.as_millis().min(u128::from(u64::MAX)) as u64,
            });
        }
        if !self.slow
            && let Some(s) = &o.slow_timeout
        {
            self.slow = true;
            set.slow_ms = Some(s.period.as_millis() as u64);
            set.timeout_ms = s.terminate().map(|d| d.as_millis() as u64);
        }
    }
}

/// Gives a test the config's attributes `set` where its own code declares nothing for the
/// same setting (a serial key counts as a group; a flaky policy without retries is dropped).
fn keep_own(a: &mut TestAttributes, set: TestAttributes) {
    if a.group.is_none() && a.serial.is_none() {
        a.group = set.group;
    }
    if a.threads.is_none() {
        a.threads = set.threads;
    }
    if a.flaky.is_none() && set.flaky.as_ref().is_some_and(|f| f.retries > 0) {
        a.flaky = set.flaky;
    }
    if a.slow_ms.is_none() {
        a.slow_ms = set.slow_ms;
    }
    if a.timeout_ms.is_none() {
        a.timeout_ms = set.timeout_ms;
    }
}

/// One summary line per override that matched tests, given how many each matched.
fn matched_lines(config: &NextestConfig, counts: &[usize]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, n) in counts.iter().enumerate() {
        if *n > 0 {
            let o = &config.overrides[i];
            lines.push(format!(
                "{} ({}): {n} test{}",
                o.source,
                describe(o),
                if *n == 1 { "" } else { "s" }
            ));
        }
    }
    lines
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
            package_dir: "/w".into(),
            ..TestBinary::new("p", "lib", "p", "/x")
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
