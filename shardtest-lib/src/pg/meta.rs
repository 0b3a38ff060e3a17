//! The record each database carries in its comment ([`Meta`]: run, host, kind of run id,
//! last attach, failed, ready), which the sweeper reads to tell dead runs from live ones.

use std::time::{SystemTime, UNIX_EPOCH};

use postgres::Client;

use super::PgError;
use super::error::q;

/// Marker at the start of the comment of every database this module creates.
const COMMENT_TAG: &str = "shardtest ";

/// Comment stored on each database: who made it, for the sweeper.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Meta {
    pub(super) run: String,
    pub(super) host: String,
    /// `process` (run id generated per process) or `runner`.
    pub(super) kind: String,
    pub(super) last_used: u64,
    #[serde(default)]
    pub(super) failed: bool,
    /// The template's migrations completed (a template without it was left by a process
    /// that died while migrating, and is made again).
    #[serde(default)]
    pub(super) ready: bool,
}

impl Meta {
    /// Run `srun` (sanitized), attached now from this host by this process; not failed,
    /// not ready.
    pub(super) fn now(srun: &str) -> Meta {
        let kind = if crate::worker::run_id_is_generated() {
            "process"
        } else {
            "runner"
        };
        Meta {
            run: srun.to_string(),
            host: hostname(),
            kind: kind.to_string(),
            last_used: now_secs(),
            failed: false,
            ready: false,
        }
    }

    /// The record in a database comment; `None` for a comment this module did not write.
    pub(super) fn from_comment(comment: &str) -> Option<Meta> {
        comment
            .strip_prefix(COMMENT_TAG)
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

/// Seconds since the Unix epoch (0 when the clock is before it).
pub(super) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// This machine's host name (`unknown` when it cannot be read).
pub(super) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The record on database `db`; `None` when it has none (or is not there).
pub(super) fn read_meta(c: &mut Client, db: &str) -> Result<Option<Meta>, PgError> {
    let rows = c
        .query(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&db],
        )
        .map_err(q(format!("reading the comment of {db}")))?;
    Ok(rows
        .first()
        .and_then(|r| r.get::<_, Option<String>>(0))
        .and_then(|c| Meta::from_comment(&c)))
}

/// Writes `meta` as the comment of database `db`.
pub(super) fn set_comment(c: &mut Client, db: &str, meta: &Meta) -> Result<(), PgError> {
    let json = serde_json::to_string(meta).unwrap_or_default();
    let text = format!("{COMMENT_TAG}{json}").replace('\'', "''");
    c.batch_execute(&format!("COMMENT ON DATABASE \"{db}\" IS '{text}'"))
        .map_err(q(format!("commenting database {db}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_of_other_tools_are_not_records() {
        assert!(Meta::from_comment("a database someone else made").is_none());
        assert!(Meta::from_comment("shardtest not json").is_none());
        let meta = Meta::from_comment(
            r#"shardtest {"run":"r1","host":"h","kind":"runner","last_used":7}"#,
        )
        .expect("a record");
        assert_eq!((meta.run.as_str(), meta.last_used), ("r1", 7));
        assert!(!meta.failed && !meta.ready, "old records default to false");
    }
}
