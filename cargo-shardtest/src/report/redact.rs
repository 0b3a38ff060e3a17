//! Masking secrets in captured test output before any report, log or screen sees it.
//!
//! The values to mask come from the runner's own environment: variables the user names with
//! `--redact-env NAME`, plus every variable whose name looks secret (`*_TOKEN`, `*_PASSWORD`,
//! `*_SECRET`, `*_KEY`, ...). Only values are used; reports never copy the environment.
//! [`Redacting`] wraps the event consumers so every one of them (terminal, JSON, JUnit) sees the
//! masked text, and it also masks the kept full logs on disk.

use crate::console::say;
use crate::event::{AttemptRecord, ConsumerError, EventConsumer, RunEvent};
use std::path::Path;

/// Name suffixes (after an `_`, or the whole name) that mark a variable as secret.
pub const SECRET_SUFFIXES: &[&str] = &[
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "KEY",
    "CREDENTIALS",
    "PAT",
];

/// Automatically detected values shorter than this are not masked (masking `1` or `yes`
/// everywhere would destroy the output and protect nothing).
pub const MIN_AUTO_LEN: usize = 6;

/// Replaces secret values with `[REDACTED:NAME]`.
///
/// ```
/// use shardtest::report::redact::Redactor;
/// let r = Redactor::from_vars(
///     [("API_TOKEN".to_string(), "s3cr3t-value".to_string()), ("HOME".into(), "/root".into())],
///     &[],
/// );
/// assert_eq!(r.redact("auth s3cr3t-value ok /root"), "auth [REDACTED:API_TOKEN] ok /root");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// `(value, name)`, longest value first so a value containing another is masked whole.
    secrets: Vec<(String, String)>,
}

/// True when a variable name looks like it holds a secret.
///
/// ```
/// use shardtest::report::redact::is_secret_name;
/// assert!(is_secret_name("GITHUB_TOKEN"));
/// assert!(is_secret_name("aws_secret_access_key"));
/// assert!(is_secret_name("DB_PASSWORD"));
/// assert!(!is_secret_name("KEYBOARD"));
/// assert!(!is_secret_name("PATH"));
/// ```
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_SUFFIXES.iter().any(|s| {
        upper == *s
            || upper.ends_with(&format!("_{s}"))
            || (*s != "PAT" && upper.contains(&format!("_{s}_")))
    })
}

impl Redactor {
    /// A redactor that masks nothing.
    ///
    /// ```
    /// assert_eq!(shardtest::report::redact::Redactor::none().redact("x"), "x");
    /// ```
    pub fn none() -> Self {
        Redactor::default()
    }

    /// Builds a redactor from `(name, value)` pairs: variables named in `explicit` are masked
    /// whatever their length, others when their name looks secret and the value has at least
    /// [`MIN_AUTO_LEN`] characters.
    ///
    /// ```
    /// use shardtest::report::redact::Redactor;
    /// let r = Redactor::from_vars([("MINE".to_string(), "abc".to_string())], &["MINE".into()]);
    /// assert_eq!(r.redact("x abc y"), "x [REDACTED:MINE] y");
    /// ```
    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, String)>,
        explicit: &[String],
    ) -> Self {
        let mut secrets: Vec<(String, String)> = vars
            .into_iter()
            .filter(|(name, value)| {
                !value.is_empty()
                    && (explicit.iter().any(|e| e == name)
                        || (is_secret_name(name) && value.chars().count() >= MIN_AUTO_LEN))
            })
            .map(|(name, value)| (value, name))
            .collect();
        secrets.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.cmp(b)));
        secrets.dedup_by(|a, b| a.0 == b.0);
        Redactor { secrets }
    }

    /// The redactor for this process's environment plus the `--redact-env` names.
    ///
    /// ```
    /// let r = shardtest::report::redact::Redactor::from_env(&[]);
    /// assert_eq!(r.redact("plain"), "plain");
    /// ```
    pub fn from_env(explicit: &[String]) -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::from_vars(vars, explicit)
    }

    /// True when there is nothing to mask.
    ///
    /// ```
    /// assert!(shardtest::report::redact::Redactor::none().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret value replaced.
    ///
    /// ```
    /// use shardtest::report::redact::Redactor;
    /// let r = Redactor::from_vars([("X_KEY".to_string(), "0123456789".to_string())], &[]);
    /// assert_eq!(r.redact("k=0123456789"), "k=[REDACTED:X_KEY]");
    /// ```
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (value, name) in &self.secrets {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), &format!("[REDACTED:{name}]"));
            }
        }
        out
    }

    /// Masks the secrets in a file in place (atomically); a missing file is left alone.
    ///
    /// ```
    /// use shardtest::report::redact::Redactor;
    /// let dir = tempfile::tempdir().unwrap();
    /// let p = dir.path().join("log");
    /// std::fs::write(&p, "token=abcdefgh\n").unwrap();
    /// let r = Redactor::from_vars([("T".to_string(), "abcdefgh".to_string())], &["T".into()]);
    /// r.redact_file(&p).unwrap();
    /// assert_eq!(std::fs::read_to_string(&p).unwrap(), "token=[REDACTED:T]\n");
    /// ```
    pub fn redact_file(&self, path: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&bytes);
        let masked = self.redact(&text);
        if masked != text {
            crate::fsutil::write_atomic(path, masked.as_bytes())?;
        }
        Ok(())
    }

    /// Masks the secrets in every file directly inside `dir` (e.g. the live capture files).
    ///
    /// ```
    /// use shardtest::report::redact::Redactor;
    /// let r = Redactor::from_vars([("T".to_string(), "abcdefgh".to_string())], &["T".into()]);
    /// r.redact_dir(std::path::Path::new("/nonexistent")).unwrap();
    /// ```
    pub fn redact_dir(&self, dir: &Path) -> std::io::Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        for e in entries {
            let p = e?.path();
            if p.is_file() {
                self.redact_file(&p)?;
            }
        }
        Ok(())
    }

    /// Masks an attempt's output tail and its kept log file.
    pub fn redact_attempt(&self, a: &mut AttemptRecord) {
        if self.is_empty() {
            return;
        }
        a.output_tail = self.redact(&a.output_tail);
        if let Some(log) = &a.log
            && let Err(e) = self.redact_file(log)
        {
            say!(
                "warning: could not mask secrets in {}: {e}; removing it",
                log.display()
            );
            let _ = std::fs::remove_file(log);
        }
    }
}

/// Wraps a consumer so it only ever sees redacted output.
///
/// ```
/// use shardtest::event::{EventConsumer, RunEvent};
/// use shardtest::report::redact::{Redacting, Redactor};
/// struct Sink(usize);
/// impl EventConsumer for Sink {
///     fn on_event(&mut self, _: &RunEvent) -> Result<(), shardtest::event::ConsumerError> {
///         self.0 += 1;
///         Ok(())
///     }
/// }
/// let mut sink = Sink(0);
/// let mut r = Redacting::new(Redactor::none(), &mut sink);
/// r.on_event(&RunEvent::RunFinished { elapsed: Default::default(), interrupted: false }).unwrap();
/// assert_eq!(sink.0, 1);
/// ```
pub struct Redacting<'a> {
    redactor: Redactor,
    inner: &'a mut dyn EventConsumer,
}

impl<'a> Redacting<'a> {
    /// Redacts events with `redactor` before passing them to `inner`.
    pub fn new(redactor: Redactor, inner: &'a mut dyn EventConsumer) -> Self {
        Redacting { redactor, inner }
    }
}

impl EventConsumer for Redacting<'_> {
    fn on_event(&mut self, event: &RunEvent) -> Result<(), ConsumerError> {
        if self.redactor.is_empty() {
            return self.inner.on_event(event);
        }
        match event {
            RunEvent::TestRetrying {
                id,
                failed,
                backoff,
            } => {
                let mut failed = failed.clone();
                self.redactor.redact_attempt(&mut failed);
                self.inner.on_event(&RunEvent::TestRetrying {
                    id: id.clone(),
                    failed,
                    backoff: *backoff,
                })
            }
            RunEvent::TestFinished {
                id,
                status,
                attempts,
                attributes,
            } => {
                let mut attempts = attempts.clone();
                for a in &mut attempts {
                    self.redactor.redact_attempt(a);
                }
                self.inner.on_event(&RunEvent::TestFinished {
                    id: id.clone(),
                    status: *status,
                    attempts,
                    attributes: attributes.clone(),
                })
            }
            other => self.inner.on_event(other),
        }
    }

    fn flush(&mut self) -> Result<(), ConsumerError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_auto_values_are_kept_but_explicit_ones_are_masked() {
        let r = Redactor::from_vars(
            [
                ("FEATURE_KEY".to_string(), "1".to_string()),
                ("DB_PASSWORD".to_string(), "hunter22".to_string()),
            ],
            &[],
        );
        assert_eq!(r.redact("1 hunter22"), "1 [REDACTED:DB_PASSWORD]");
    }

    #[test]
    fn longer_values_win() {
        let r = Redactor::from_vars(
            [
                ("A_TOKEN".to_string(), "abcdef".to_string()),
                ("B_TOKEN".to_string(), "abcdefghij".to_string()),
            ],
            &[],
        );
        assert_eq!(r.redact("abcdefghij"), "[REDACTED:B_TOKEN]");
    }
}
