//! Sweeping: dropping the databases of dead runs (killed runs, runs under runners with no
//! end-of-run hook), by [`sweep_stale`] or automatically when a run creates its template.

use std::time::Duration;

use postgres::Client;
use postgres::error::SqlState;

use super::PgError;
use super::error::q;
use super::lifecycle::drop_database;
use super::meta::{Meta, hostname, now_secs};
use super::naming::{run_lock, sanitize_run};
use super::server::Server;
use crate::lockdir;

/// Set to `0` to stop [`sweep_stale`] running when a run creates its template.
pub const SWEEP_ENV: &str = "SHARDTEST_PG_SWEEP";

/// When [`sweep_stale`] considers a run dead (see the [module docs](crate::pg)).
///
/// ```
/// let o = shard::pg::SweepOptions { grace: std::time::Duration::ZERO, ..Default::default() };
/// assert!(o.max_age > o.grace);
/// ```
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// For runs made on this host by a runner (ids not generated per process): how long
    /// after its last attach a run with no live process is still left alone (default 60 s).
    pub grace: Duration,
    /// Any database not attached for this long is dropped, from any host, failed or not
    /// (default 24 h).
    pub max_age: Duration,
    /// Also drop databases of dead runs that had a failing test (default: keep them until
    /// `max_age`).
    pub include_failed: bool,
    /// Only report what would be dropped.
    pub dry_run: bool,
    /// Only consider these runs (run ids as given to the runner); `None`: every run.
    pub runs: Option<Vec<String>>,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            grace: Duration::from_secs(60),
            max_age: Duration::from_secs(24 * 3600),
            include_failed: false,
            dry_run: false,
            runs: None,
        }
    }
}

/// Drops the databases of dead runs on the `DATABASE_URL` server (never the current run's)
/// and returns their names. Databases still in use are skipped.
///
/// ```no_run
/// let dropped = shard::pg::sweep_stale(&shard::pg::SweepOptions::default())?;
/// for name in dropped { println!("dropped {name}"); }
/// # Ok::<(), shard::pg::PgError>(())
/// ```
pub fn sweep_stale(opts: &SweepOptions) -> Result<Vec<String>, PgError> {
    let server = Server::from_env()?;
    let mut admin = server.connect_to(None, None)?;
    let current = sanitize_run(crate::worker::run_id());
    sweep_with(&mut admin, opts, &current)
}

/// Before a new template is made: sweeps with the default options unless
/// `SHARDTEST_PG_SWEEP=0`. Best effort: a failing sweep must not fail the test.
pub(super) fn sweep_before_new_template(admin: &mut Client, current_run: &str) {
    if std::env::var(SWEEP_ENV).map(|v| v != "0").unwrap_or(true)
        && let Err(e) = sweep_with(admin, &SweepOptions::default(), current_run)
    {
        eprintln!("shard::pg: sweeping stale databases failed: {e}");
    }
}

/// Drops (or, with `dry_run`, lists) the databases of dead runs other than `current_run`
/// (sanitized): worker databases before templates; those in use are skipped.
fn sweep_with(
    admin: &mut Client,
    opts: &SweepOptions,
    current_run: &str,
) -> Result<Vec<String>, PgError> {
    let mut candidates = dead_databases(admin, opts, current_run)?;
    candidates.sort_by_key(|n| n.ends_with("_tpl"));
    let mut dropped = Vec::new();
    for name in candidates {
        if opts.dry_run {
            dropped.push(name);
            continue;
        }
        match drop_database(admin, &name) {
            Ok(()) => dropped.push(name),
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => {}
            Err(e) => eprintln!("shard::pg: could not drop stale database {name}: {e}"),
        }
    }
    Ok(dropped)
}

/// The databases this module made for runs other than `current_run` that `opts` allows
/// and that are dead, in name order.
fn dead_databases(
    admin: &mut Client,
    opts: &SweepOptions,
    current_run: &str,
) -> Result<Vec<String>, PgError> {
    let rows = admin
        .query(
            "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database
              WHERE datname LIKE 'st\\_%' ORDER BY datname",
            &[],
        )
        .map_err(q("listing databases"))?;
    let host = hostname();
    let now = now_secs();
    let mut dead = Vec::new();
    for row in rows {
        let name: String = row.get(0);
        let comment: Option<String> = row.get(1);
        let Some(meta) = comment.as_deref().and_then(Meta::from_comment) else {
            continue; // not ours, or being created right now
        };
        if meta.run == current_run {
            continue;
        }
        if let Some(runs) = &opts.runs
            && !runs.iter().any(|r| sanitize_run(r) == meta.run)
        {
            continue;
        }
        if is_dead(&meta, opts, &host, now) {
            dead.push(name);
        }
    }
    Ok(dead)
}

/// Whether the run that made a database with `meta` is dead, seen from `host` at `now`
/// (see [When is a run dead](crate::pg#when-is-a-run-dead)).
fn is_dead(meta: &Meta, opts: &SweepOptions, host: &str, now: u64) -> bool {
    let age = Duration::from_secs(now.saturating_sub(meta.last_used));
    if age > opts.max_age {
        true
    } else if meta.host == host {
        let grace = if meta.kind == "process" {
            Duration::ZERO
        } else {
            opts.grace
        };
        let held = lockdir::is_held(&run_lock(&meta.run)).unwrap_or(true);
        !held && age >= grace && (!meta.failed || opts.include_failed)
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(host: &str, last_used: u64, failed: bool) -> Meta {
        Meta {
            run: "r".to_string(),
            host: host.to_string(),
            kind: "runner".to_string(),
            last_used,
            failed,
            ready: true,
        }
    }

    #[test]
    fn runs_of_other_hosts_are_dead_only_after_max_age() {
        let opts = SweepOptions::default();
        let max = opts.max_age.as_secs();
        let now = 10 * max;
        assert!(!is_dead(
            &meta("elsewhere", now - 1, false),
            &opts,
            "here",
            now
        ));
        assert!(!is_dead(
            &meta("elsewhere", now - max, false),
            &opts,
            "here",
            now
        ));
        assert!(is_dead(
            &meta("elsewhere", now - max - 1, false),
            &opts,
            "here",
            now
        ));
        assert!(is_dead(
            &meta("here", now - max - 1, true),
            &opts,
            "here",
            now
        ));
    }
}
