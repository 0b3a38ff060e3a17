//! Migrations: what a run's template database is migrated with ([`Setup`]: `*.sql` files
//! and callbacks), the hash that names a migration set, and running the steps.

use std::fmt;
use std::path::{Path, PathBuf};

use postgres::Client;

use super::PgError;
use super::error::q;
use crate::dirs::fnv1a;

/// Directory of `*.sql` migrations used by [`database()`](super::database()) (default:
/// `<crate>/migrations`).
pub const MIGRATIONS_ENV: &str = "SHARDTEST_PG_MIGRATIONS";

type MigrateFn = fn(&mut Client) -> Result<(), postgres::Error>;

/// One migration: SQL text (from a file or given) or a callback.
#[derive(Clone)]
pub(super) enum Step {
    Sql { name: String, sql: String },
    Callback { key: String, f: MigrateFn },
}

/// What the template database is migrated with: `*.sql` files of a directory (in file name
/// order) and/or callbacks, in the order added.
///
/// ```no_run
/// fn seed(c: &mut postgres::Client) -> Result<(), postgres::Error> {
///     c.batch_execute("INSERT INTO items (name) VALUES ('seed')")
/// }
/// let db = shard::pg::Setup::new()
///     .migrations_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
///     .migrate_with("seed-v1", seed)
///     .database();
/// ```
#[derive(Clone, Default)]
pub struct Setup {
    steps: Vec<Step>,
    dirs: Vec<PathBuf>,
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup").field("dirs", &self.dirs).finish()
    }
}

impl Setup {
    /// No migrations yet.
    ///
    /// ```
    /// let s = shard::pg::Setup::new();
    /// # let _ = s;
    /// ```
    pub fn new() -> Setup {
        Setup::default()
    }

    /// Adds the `*.sql` files of `dir`, executed in file name order (read when the database
    /// is first asked for).
    ///
    /// ```
    /// let s = shard::pg::Setup::new().migrations_dir("migrations");
    /// # let _ = s;
    /// ```
    pub fn migrations_dir(mut self, dir: impl Into<PathBuf>) -> Setup {
        self.dirs.push(dir.into());
        self
    }

    /// Adds a migration callback. `key` names it in the template's identity: change the key
    /// when the callback changes, so a new template is made.
    ///
    /// ```
    /// let s = shard::pg::Setup::new()
    ///     .migrate_with("v1", |c| c.batch_execute("CREATE TABLE t (id int)"));
    /// # let _ = s;
    /// ```
    pub fn migrate_with(mut self, key: &str, f: MigrateFn) -> Setup {
        self.steps.push(Step::Callback {
            key: key.to_string(),
            f,
        });
        self
    }

    /// Adds one SQL migration given as text.
    ///
    /// ```
    /// let s = shard::pg::Setup::new().migrate_sql("001_items", "CREATE TABLE items (id int)");
    /// # let _ = s;
    /// ```
    pub fn migrate_sql(mut self, name: &str, sql: &str) -> Setup {
        self.steps.push(Step::Sql {
            name: name.to_string(),
            sql: sql.to_string(),
        });
        self
    }

    /// The steps in order: each directory's files (read now), then the added steps.
    pub(super) fn resolve(&self) -> Result<Vec<Step>, PgError> {
        let mut out = Vec::new();
        for dir in &self.dirs {
            out.extend(read_dir_steps(dir)?);
        }
        out.extend(self.steps.iter().cloned());
        Ok(out)
    }
}

/// The setup of [`database()`](super::database()): the `*.sql` files of
/// `$SHARDTEST_PG_MIGRATIONS`, else of `$CARGO_MANIFEST_DIR/migrations` when that directory
/// exists, else nothing.
pub(super) fn default_setup() -> Setup {
    if let Some(dir) = std::env::var_os(MIGRATIONS_ENV).filter(|d| !d.is_empty()) {
        return Setup::new().migrations_dir(dir);
    }
    if let Some(root) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let dir = PathBuf::from(root).join("migrations");
        if dir.is_dir() {
            return Setup::new().migrations_dir(dir);
        }
    }
    Setup::new()
}

/// The `*.sql` files of `dir` as steps, in file name order.
fn read_dir_steps(dir: &Path) -> Result<Vec<Step>, PgError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PgError::Io { path, source }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let sql = std::fs::read_to_string(&p).map_err(io(&p))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Ok(Step::Sql { name, sql })
        })
        .collect()
}

/// A hash of the steps (names, SQL text, callback keys): the identity of a migration set.
pub(super) fn migrations_key(steps: &[Step]) -> u64 {
    let mut bytes = Vec::new();
    for s in steps {
        match s {
            Step::Sql { name, sql } => {
                bytes.extend_from_slice(b"sql\0");
                bytes.extend_from_slice(name.as_bytes());
                bytes.push(0);
                bytes.extend_from_slice(sql.as_bytes());
            }
            Step::Callback { key, .. } => {
                bytes.extend_from_slice(b"fn\0");
                bytes.extend_from_slice(key.as_bytes());
            }
        }
        bytes.push(0);
    }
    fnv1a(&bytes)
}

/// Runs the migrations on `c`; with `schema`, inside that schema (created, `search_path` set).
pub(super) fn run_steps(
    c: &mut Client,
    steps: &[Step],
    schema: Option<&str>,
) -> Result<(), PgError> {
    if let Some(s) = schema {
        c.batch_execute(&format!(
            "CREATE SCHEMA \"{s}\"; SET search_path TO \"{s}\""
        ))
        .map_err(q(format!("creating schema {s}")))?;
    }
    for step in steps {
        match step {
            Step::Sql { name, sql } => {
                c.batch_execute(sql).map_err(|source| PgError::Migration {
                    name: name.clone(),
                    source,
                })?
            }
            Step::Callback { key, f } => f(c).map_err(|source| PgError::Migration {
                name: key.clone(),
                source,
            })?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_key_follows_names_text_and_callback_keys() {
        let key = |s: &Setup| migrations_key(&s.resolve().unwrap());
        let base = Setup::new().migrate_sql("1", "CREATE TABLE t (id int)");
        assert_eq!(key(&base), key(&base.clone()));
        assert_ne!(
            key(&base),
            key(&Setup::new().migrate_sql("1", "CREATE TABLE t (id bigint)"))
        );
        assert_ne!(
            key(&base),
            key(&Setup::new().migrate_sql("2", "CREATE TABLE t (id int)"))
        );
        let with = |k: &str| base.clone().migrate_with(k, |_| Ok(()));
        assert_ne!(key(&with("v1")), key(&with("v2")));
        assert_ne!(key(&base), key(&with("v1")));
    }
}
