//! The suite specification: what tests a synthetic binary contains, read from JSON.
//!
//! Every field has a default, so `{}` is a valid spec (100 instant, passing tests) and
//! `{"count": 5000}` is the usual trivial benchmark suite. Unknown fields are an error, so a
//! typo never silently falls back to a default.
//!
//! ```json
//! {
//!   "seed": 7,
//!   "count": 2000,
//!   "durations": {
//!     "kind": "heavy_tail",
//!     "tail_fraction": 0.02,
//!     "base": { "kind": "log_normal", "mu": -4.6, "sigma": 1.0 },
//!     "tail": { "kind": "log_normal", "mu": 0.0, "sigma": 0.5 }
//!   },
//!   "busy_fraction": 0.25,
//!   "fail_probability": 0.01,
//!   "crash_probability": 0.001,
//!   "ignored_fraction": 0.02,
//!   "serial_fraction": 0.01,
//!   "names": { "modules": 20 }
//! }
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// Largest `count` a spec may ask for (a guard against typos such as `1e9`).
pub const MAX_COUNT: usize = 10_000_000;

/// Largest duration of one synthetic test, in seconds, after scaling; longer draws are capped.
pub const MAX_TEST_SECONDS: f64 = 3600.0;

/// A complete suite specification. See the [module docs](self) for the JSON form.
///
/// ```
/// use shardtest_synth::Spec;
/// let spec = Spec::from_json_str(r#"{"seed": 1, "count": 10}"#, "inline", None).unwrap();
/// assert_eq!(spec.effective_count(), 10);
/// assert_eq!(Spec::default().effective_count(), 100);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Spec {
    /// Seed of every random choice; the same spec and seed give the same suite everywhere.
    pub seed: u64,
    /// Number of tests. When absent: the length of a `list`/`csv` duration distribution, else 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
    /// How long each test takes.
    pub durations: DurationDist,
    /// Multiplies every drawn duration (e.g. `0.1` to replay a recorded suite ten times faster).
    pub time_scale: f64,
    /// Fraction of tests that spin the CPU for their duration instead of sleeping.
    pub busy_fraction: f64,
    /// Probability that a test fails (returns an error after its duration).
    pub fail_probability: f64,
    /// Probability that a test crashes the process (`abort()`) after its duration.
    pub crash_probability: f64,
    /// Fraction of tests marked `#[ignore]`.
    pub ignored_fraction: f64,
    /// Fraction of tests that are serial: their names carry [`NamePattern::serial_prefix`],
    /// they report `serial` through the shardtest attribute protocol, and they hold a
    /// cross-process lock while running.
    pub serial_fraction: f64,
    /// Serial key of the serial tests (`""` is the global serial set).
    pub serial_key: String,
    /// Lines each test prints to stdout (to exercise output capture).
    pub stdout_lines: u32,
    /// How test names are built.
    pub names: NamePattern,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            seed: 0,
            count: None,
            durations: DurationDist::Constant { seconds: 0.0 },
            time_scale: 1.0,
            busy_fraction: 0.0,
            fail_probability: 0.0,
            crash_probability: 0.0,
            ignored_fraction: 0.0,
            serial_fraction: 0.0,
            serial_key: String::new(),
            stdout_lines: 0,
            names: NamePattern::default(),
        }
    }
}

/// How test names are built: test `i` lives in module `i % modules` and is called
/// `{module_prefix}{m}::{case_prefix}{i}` with `i` zero-padded to `pad` digits, e.g.
/// `mod_3::case_0042`; serial tests get `serial_prefix` before the case prefix
/// (`mod_3::serial_case_0042`).
///
/// ```
/// use shardtest_synth::NamePattern;
/// let p = NamePattern::default();
/// assert_eq!(p.name(42, 10, false), "mod_2::case_0042");
/// assert_eq!(p.name(42, 10, true), "mod_2::serial_case_0042");
/// let flat = NamePattern { modules: 0, ..NamePattern::default() };
/// assert_eq!(flat.name(7, 10, false), "case_0007");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NamePattern {
    /// Number of modules the tests are spread over (0: no module path).
    pub modules: u32,
    /// Prefix of a module name.
    pub module_prefix: String,
    /// Prefix of a test function name.
    pub case_prefix: String,
    /// Marker put before `case_prefix` in the names of serial tests.
    pub serial_prefix: String,
    /// Minimum number of digits of the test index (more are used when `count` needs them).
    pub pad: usize,
}

impl Default for NamePattern {
    fn default() -> Self {
        Self {
            modules: 10,
            module_prefix: "mod_".into(),
            case_prefix: "case_".into(),
            serial_prefix: "serial_".into(),
            pad: 4,
        }
    }
}

impl NamePattern {
    /// The name of test `index` in a suite of `count` tests.
    ///
    /// ```
    /// let p = shardtest_synth::NamePattern::default();
    /// assert_eq!(p.name(5, 100_000, false), "mod_5::case_00005");
    /// ```
    pub fn name(&self, index: usize, count: usize, serial: bool) -> String {
        let digits = count.saturating_sub(1).max(1).ilog10() as usize + 1;
        let width = self.pad.max(digits);
        let serial = if serial {
            self.serial_prefix.as_str()
        } else {
            ""
        };
        if self.modules == 0 {
            format!("{serial}{}{index:0width$}", self.case_prefix)
        } else {
            let m = index % self.modules as usize;
            format!(
                "{}{m}::{serial}{}{index:0width$}",
                self.module_prefix, self.case_prefix
            )
        }
    }
}

/// A distribution of test durations, in seconds.
///
/// ```
/// use shardtest_synth::DurationDist;
/// let d: DurationDist = serde_json::from_str(r#"{"kind":"log_normal","mu":-3.0,"sigma":1.0}"#).unwrap();
/// assert_eq!(d, DurationDist::LogNormal { mu: -3.0, sigma: 1.0 });
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum DurationDist {
    /// Every test takes the same time.
    Constant {
        /// Duration in seconds (`0` for trivial tests: no sleep at all).
        seconds: f64,
    },
    /// `exp(N(mu, sigma^2))` seconds: `mu` is the log of the median (e.g. `-4.6` ≈ 10 ms).
    LogNormal {
        /// Mean of the log of the duration in seconds.
        mu: f64,
        /// Standard deviation of the log of the duration.
        sigma: f64,
    },
    /// A mixture: with probability `tail_fraction` a test draws from `tail`, else from `base`.
    HeavyTail {
        /// Fraction of tests drawn from `tail`.
        tail_fraction: f64,
        /// The distribution of most tests.
        base: Box<DurationDist>,
        /// The distribution of the slow tests.
        tail: Box<DurationDist>,
    },
    /// Explicit durations: test `i` takes `seconds[i % len]` (after a seeded shuffle if
    /// `shuffle`).
    List {
        /// The durations in seconds.
        seconds: Vec<f64>,
        /// Shuffle the list (seeded) before assigning it to tests.
        #[serde(default)]
        shuffle: bool,
        /// Where the list came from (set when a `csv` distribution is loaded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// Durations replayed from a CSV file with a header naming a `seconds` column and
    /// optionally `suite` and `binary` columns (like `real-durations.csv`). A relative path is
    /// relative to the spec file's directory. Loading a spec turns this into a `List`.
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// Keep only rows whose `suite` column equals this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        suite: Option<String>,
        /// Keep only rows whose `binary` column equals this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        binary: Option<String>,
        /// Shuffle the durations (seeded) before assigning them to tests.
        #[serde(default)]
        shuffle: bool,
    },
}

/// A spec that could not be read or is not valid: names where it came from and the field.
///
/// ```
/// use shardtest_synth::Spec;
/// let err = Spec::from_json_str(r#"{"fail_probability": 2}"#, "my.json", None).unwrap_err();
/// assert!(err.to_string().contains("my.json"));
/// assert!(err.to_string().contains("fail_probability"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    /// Where the spec came from (a file path, or a description of the source).
    pub origin: String,
    /// The offending field (a dotted path), if known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid synthetic suite spec {}", self.origin)?;
        if let Some(field) = &self.field {
            write!(f, ", field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for SpecError {}

impl Spec {
    /// Parses and validates a spec; `origin` names the source in errors, `base_dir` resolves a
    /// relative `csv` path (the current directory when `None`). `csv` distributions are loaded.
    ///
    /// ```
    /// use shardtest_synth::Spec;
    /// assert!(Spec::from_json_str("{}", "inline", None).is_ok());
    /// let err = Spec::from_json_str(r#"{"cont": 5}"#, "x.json", None).unwrap_err();
    /// assert!(err.to_string().contains("unknown field `cont`"));
    /// ```
    pub fn from_json_str(
        text: &str,
        origin: &str,
        base_dir: Option<&Path>,
    ) -> Result<Spec, SpecError> {
        let mut spec: Spec = serde_json::from_str(text).map_err(|e| SpecError {
            origin: origin.to_string(),
            field: field_before(text, e.line(), e.column()),
            message: e.to_string(),
        })?;
        spec.resolve(origin, base_dir)?;
        spec.validate(origin)?;
        Ok(spec)
    }

    /// Reads, parses and validates a spec file.
    ///
    /// ```no_run
    /// let spec = shardtest_synth::Spec::load("synth-spec.json".as_ref()).unwrap();
    /// ```
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            origin: origin.clone(),
            field: None,
            message: format!("cannot read the file: {e}"),
        })?;
        Spec::from_json_str(&text, &origin, path.parent())
    }

    /// The number of tests this spec generates.
    ///
    /// ```
    /// use shardtest_synth::{DurationDist, Spec};
    /// let spec = Spec {
    ///     durations: DurationDist::List { seconds: vec![0.1, 0.2], shuffle: false, source: None },
    ///     ..Spec::default()
    /// };
    /// assert_eq!(spec.effective_count(), 2);
    /// ```
    pub fn effective_count(&self) -> usize {
        match (self.count, &self.durations) {
            (Some(n), _) => n,
            (None, DurationDist::List { seconds, .. }) => seconds.len(),
            (None, _) => 100,
        }
    }

    /// Loads every `csv` distribution into a `list`, so that [`crate::generate`] needs no I/O.
    ///
    /// ```
    /// let mut spec = shardtest_synth::Spec::default();
    /// spec.resolve("inline", None).unwrap();
    /// ```
    pub fn resolve(&mut self, origin: &str, base_dir: Option<&Path>) -> Result<(), SpecError> {
        resolve_dist(&mut self.durations, "durations", origin, base_dir)
    }

    /// Checks ranges: probabilities in `[0, 1]`, finite non-negative durations, and so on.
    ///
    /// ```
    /// let spec = shardtest_synth::Spec { busy_fraction: -1.0, ..Default::default() };
    /// assert!(spec.validate("inline").is_err());
    /// ```
    pub fn validate(&self, origin: &str) -> Result<(), SpecError> {
        let err = |field: &str, message: String| SpecError {
            origin: origin.to_string(),
            field: Some(field.to_string()),
            message,
        };
        for (field, p) in [
            ("busy_fraction", self.busy_fraction),
            ("fail_probability", self.fail_probability),
            ("crash_probability", self.crash_probability),
            ("ignored_fraction", self.ignored_fraction),
            ("serial_fraction", self.serial_fraction),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(err(field, format!("must be between 0 and 1, got {p}")));
            }
        }
        if self.fail_probability + self.crash_probability > 1.0 {
            return Err(err(
                "crash_probability",
                "fail_probability + crash_probability must not exceed 1".into(),
            ));
        }
        if !(self.time_scale.is_finite() && self.time_scale >= 0.0) {
            return Err(err(
                "time_scale",
                format!("must be a finite number >= 0, got {}", self.time_scale),
            ));
        }
        if let Some(n) = self.count
            && n > MAX_COUNT
        {
            return Err(err(
                "count",
                format!("must be at most {MAX_COUNT}, got {n}"),
            ));
        }
        if self.effective_count() > 0
            && let DurationDist::List { seconds, .. } = &self.durations
            && seconds.is_empty()
        {
            return Err(err("durations.seconds", "the list is empty".into()));
        }
        validate_dist(&self.durations, "durations", &err)
    }
}

/// The last object key that starts before line `line`, column `column` of `text`: the field a
/// serde error at that position is most likely about (serde_json reports positions, not paths).
fn field_before(text: &str, line: usize, column: usize) -> Option<String> {
    if line == 0 {
        return None;
    }
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset += column.min(l.len());
            break;
        }
        offset += l.len();
    }
    let prefix = text.get(..offset)?;
    // Walk back over `"key"` tokens followed by `:`.
    let bytes = prefix.as_bytes();
    let mut end = bytes.len();
    while let Some(colon) = prefix[..end].rfind(':') {
        let before = prefix[..colon].trim_end();
        if let Some(key_body) = before.strip_suffix('"')
            && let Some(open) = key_body.rfind('"')
        {
            let key = &key_body[open + 1..];
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Some(key.to_string());
            }
        }
        end = colon;
    }
    None
}

fn validate_dist(
    d: &DurationDist,
    field: &str,
    err: &dyn Fn(&str, String) -> SpecError,
) -> Result<(), SpecError> {
    let non_negative = |name: &str, x: f64| {
        if x.is_finite() && x >= 0.0 {
            Ok(())
        } else {
            Err(err(
                &format!("{field}.{name}"),
                format!("must be a finite number >= 0, got {x}"),
            ))
        }
    };
    match d {
        DurationDist::Constant { seconds } => non_negative("seconds", *seconds),
        DurationDist::LogNormal { mu, sigma } => {
            if !mu.is_finite() {
                return Err(err(
                    &format!("{field}.mu"),
                    format!("must be finite, got {mu}"),
                ));
            }
            non_negative("sigma", *sigma)
        }
        DurationDist::HeavyTail {
            tail_fraction,
            base,
            tail,
        } => {
            if !(0.0..=1.0).contains(tail_fraction) {
                return Err(err(
                    &format!("{field}.tail_fraction"),
                    format!("must be between 0 and 1, got {tail_fraction}"),
                ));
            }
            validate_dist(base, &format!("{field}.base"), err)?;
            validate_dist(tail, &format!("{field}.tail"), err)
        }
        DurationDist::List { seconds, .. } => {
            for (i, s) in seconds.iter().enumerate() {
                non_negative(&format!("seconds[{i}]"), *s)?;
            }
            Ok(())
        }
        // `resolve` runs first, so this only happens for a hand-built, unresolved spec.
        DurationDist::Csv { .. } => Err(err(
            field,
            "a `csv` distribution must be resolved (Spec::resolve) before use".into(),
        )),
    }
}

fn resolve_dist(
    d: &mut DurationDist,
    field: &str,
    origin: &str,
    base_dir: Option<&Path>,
) -> Result<(), SpecError> {
    match d {
        DurationDist::HeavyTail { base, tail, .. } => {
            resolve_dist(base, &format!("{field}.base"), origin, base_dir)?;
            resolve_dist(tail, &format!("{field}.tail"), origin, base_dir)
        }
        DurationDist::Csv {
            path,
            suite,
            binary,
            shuffle,
        } => {
            let full = match base_dir {
                Some(dir) if path.is_relative() => dir.join(&*path),
                _ => path.clone(),
            };
            let err = |message: String| SpecError {
                origin: origin.to_string(),
                field: Some(format!("{field}.path")),
                message,
            };
            let text = std::fs::read_to_string(&full)
                .map_err(|e| err(format!("cannot read {}: {e}", full.display())))?;
            let seconds = parse_csv(&text, suite.as_deref(), binary.as_deref())
                .map_err(|m| err(format!("{}: {m}", full.display())))?;
            if seconds.is_empty() {
                return Err(err(format!(
                    "{}: no rows match suite={suite:?} binary={binary:?}",
                    full.display()
                )));
            }
            let mut source = full.display().to_string();
            if let Some(s) = suite {
                source.push_str(&format!(" suite={s}"));
            }
            if let Some(b) = binary {
                source.push_str(&format!(" binary={b}"));
            }
            *d = DurationDist::List {
                seconds,
                shuffle: *shuffle,
                source: Some(source),
            };
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Reads the `seconds` column of a CSV with a header, keeping rows that match the filters.
fn parse_csv(text: &str, suite: Option<&str>, binary: Option<&str>) -> Result<Vec<f64>, String> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next().ok_or("the file is empty")?;
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let seconds_col = col("seconds").ok_or("the header has no `seconds` column")?;
    let suite_col = col("suite");
    let binary_col = col("binary");
    if suite.is_some() && suite_col.is_none() {
        return Err("`suite` is set but the header has no `suite` column".into());
    }
    if binary.is_some() && binary_col.is_none() {
        return Err("`binary` is set but the header has no `binary` column".into());
    }
    let mut out = Vec::new();
    for (lineno, line) in lines {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let matches = |want: Option<&str>, c: Option<usize>| match (want, c) {
            (Some(w), Some(c)) => fields.get(c) == Some(&w),
            _ => true,
        };
        if !matches(suite, suite_col) || !matches(binary, binary_col) {
            continue;
        }
        let raw = fields
            .get(seconds_col)
            .ok_or_else(|| format!("line {}: missing `seconds` field", lineno + 1))?;
        let s: f64 = raw
            .parse()
            .map_err(|_| format!("line {}: `{raw}` is not a number", lineno + 1))?;
        if !(s.is_finite() && s >= 0.0) {
            return Err(format!(
                "line {}: negative or non-finite duration {s}",
                lineno + 1
            ));
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_filters_and_errors() {
        let csv = "suite,binary,seconds\nA,b0,1.5\nA,b1,0.25\nB,b0,3\n";
        assert_eq!(parse_csv(csv, None, None).unwrap(), vec![1.5, 0.25, 3.0]);
        assert_eq!(parse_csv(csv, Some("A"), None).unwrap(), vec![1.5, 0.25]);
        assert_eq!(parse_csv(csv, Some("A"), Some("b1")).unwrap(), vec![0.25]);
        let bad = parse_csv("suite,seconds\nA,x\n", None, None).unwrap_err();
        assert!(bad.contains("line 2"), "{bad}");
        assert!(parse_csv("a,b\n1,2\n", None, None).is_err());
    }

    #[test]
    fn csv_spec_resolves_relative_to_the_spec_file() {
        let dir = std::env::temp_dir().join(format!("synth-spec-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("d.csv"), "suite,binary,seconds\nA,b,0.5\nA,b,2\n").unwrap();
        let spec_path = dir.join("spec.json");
        std::fs::write(
            &spec_path,
            r#"{"durations": {"kind": "csv", "path": "d.csv", "suite": "A"}}"#,
        )
        .unwrap();
        let spec = Spec::load(&spec_path).unwrap();
        assert_eq!(spec.effective_count(), 2);
        match &spec.durations {
            DurationDist::List { seconds, .. } => assert_eq!(seconds, &vec![0.5, 2.0]),
            other => panic!("not resolved: {other:?}"),
        }
        std::fs::write(
            &spec_path,
            r#"{"durations": {"kind": "csv", "path": "nope.csv"}}"#,
        )
        .unwrap();
        let err = Spec::load(&spec_path).unwrap_err().to_string();
        assert!(
            err.contains("spec.json") && err.contains("durations.path"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let e = Spec::from_json_str(
            r#"{"durations": {"kind": "heavy_tail", "tail_fraction": 1.5,
                "base": {"kind": "constant", "seconds": 0}, "tail": {"kind": "constant", "seconds": 1}}}"#,
            "f.json",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("durations.tail_fraction"));
        let e = Spec::from_json_str(
            r#"{"durations": {"kind": "log_normal", "mu": 0, "sigma": -1}}"#,
            "f.json",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("durations.sigma"));
        let e = Spec::from_json_str(r#"{"seed": 1, "count": "many"}"#, "f.json", None).unwrap_err();
        assert!(
            e.to_string().contains("f.json") && e.message.contains("line 1"),
            "{e}"
        );
        assert_eq!(e.field.as_deref(), Some("count"));
        let e =
            Spec::from_json_str("{\n \"names\": {\"modules\": -1}\n}", "f.json", None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("modules"), "{e}");
        let e = Spec::from_json_str(
            r#"{"fail_probability": 0.6, "crash_probability": 0.6}"#,
            "f.json",
            None,
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("crash_probability"));
    }
}
