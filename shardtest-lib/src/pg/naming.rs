//! Names: of a run's databases (`st_<run>_<migrations>_tpl` and `_w<worker>`), of the
//! lock that shows a run is alive, of the set-up advisory lock, and of per-test schemas.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::dirs::fnv1a;

/// Prefix of every database this module creates.
pub(super) const PREFIX: &str = "st_";

/// The databases of one (run, migration set, worker).
pub(super) struct Names {
    /// The run id as it appears in names (see [`sanitize_run`]).
    pub(super) run: String,
    /// The run's template for the migration set: `st_<run>_<mig>_tpl`.
    pub(super) template: String,
    /// The worker's database: `st_<run>_<mig>_w<worker>`.
    pub(super) worker: String,
}

impl Names {
    /// Names for run id `run` (as given), migrations hashed to `key`, and `worker`.
    pub(super) fn new(run: &str, key: u64, worker: u32) -> Names {
        let srun = sanitize_run(run);
        let mig = format!("{:08x}", key & 0xffff_ffff);
        Names {
            template: format!("{PREFIX}{srun}_{mig}_tpl"),
            worker: format!("{PREFIX}{srun}_{mig}_w{worker}"),
            run: srun,
        }
    }
}

/// A character as it may stand in a PostgreSQL identifier we make: ASCII letters and digits,
/// lower-cased; anything else becomes `_`.
fn identifier_char(c: char) -> char {
    if c.is_ascii_alphanumeric() {
        c.to_ascii_lowercase()
    } else {
        '_'
    }
}

/// `[a-z0-9_]` only, at most 24 characters (long ids keep a prefix and a hash).
pub(super) fn sanitize_run(run: &str) -> String {
    let s: String = run.chars().map(identifier_char).collect();
    if s.len() <= 24 {
        s
    } else {
        format!(
            "{}_{:012x}",
            &s[..11],
            fnv1a(run.as_bytes()) & 0xffff_ffff_ffff
        )
    }
}

/// The [lock directory](crate::lockdir) lock a live process of run `srun` (sanitized) holds.
pub(super) fn run_lock(srun: &str) -> String {
    format!("pg-run/{srun}")
}

/// The server-side advisory lock key for setting up `name`.
pub(super) fn advisory_key(name: &str) -> i64 {
    i64::from_ne_bytes(fnv1a(name.as_bytes()).to_ne_bytes())
}

static SCHEMA_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new schema name for the current test: `t<pid>_<seq>_<test name>`.
pub(super) fn next_schema_name() -> String {
    let n = SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed);
    let test: String = crate::dirs::test_name()
        .rsplit("::")
        .next()
        .unwrap_or("test")
        .chars()
        .map(identifier_char)
        .take(32)
        .collect();
    format!("t{}_{n}_{test}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_become_short_identifiers() {
        assert_eq!(sanitize_run("p123-456"), "p123_456");
        let long = sanitize_run("0190b6f2-7a3c-7def-8e1a-1234567890ab-s3");
        assert!(long.len() <= 24, "{long}");
        assert!(long.starts_with("0190b6f2_7a"));
        assert_ne!(
            long,
            sanitize_run("0190b6f2-7a3c-7def-8e1a-1234567890ab-s4")
        );
    }
}
