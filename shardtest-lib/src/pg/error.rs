//! The module's error type, [`PgError`], and the shorthand that wraps a server error with
//! what was being done.

use std::io;
use std::path::PathBuf;

/// What went wrong, with the fix where there is one.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// `DATABASE_URL` is not set.
    #[error(
        "DATABASE_URL is not set: start a throwaway server with `eval \"$(scripts/pg.sh start)\"` \
         (or point DATABASE_URL at a server whose role may create databases)"
    )]
    NoUrl,
    /// `DATABASE_URL` cannot be parsed.
    #[error("DATABASE_URL is not a PostgreSQL connection string: {source}")]
    BadUrl {
        /// The parse error.
        source: postgres::Error,
    },
    /// The server cannot be reached.
    #[error(
        "cannot reach PostgreSQL at {target}: {source}. Is the server running and is \
         DATABASE_URL right? (`scripts/pg.sh start` starts one)"
    )]
    Unreachable {
        /// Host and port from the URL (no password).
        target: String,
        /// The cause.
        source: postgres::Error,
    },
    /// The server refused the connection (authentication, unknown database, ...).
    #[error("PostgreSQL at {target} refused the connection: {source}")]
    Refused {
        /// Host and port from the URL (no password).
        target: String,
        /// The cause.
        source: postgres::Error,
    },
    /// The role may not create databases.
    #[error(
        "role `{role}` may not create databases: run `ALTER ROLE \"{role}\" CREATEDB;` as a \
         superuser, or use a role with CREATEDB in DATABASE_URL ({source})"
    )]
    CannotCreateDatabase {
        /// The role.
        role: String,
        /// The server's error.
        source: postgres::Error,
    },
    /// A migration failed; the template is dropped so the next run tries again.
    #[error("migration {name} failed: {source}")]
    Migration {
        /// The migration (file name or callback key).
        name: String,
        /// The server's error.
        source: postgres::Error,
    },
    /// A migration file could not be read.
    #[error("reading migrations {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The migrated schema could not be read for copying.
    #[error("reading the migrated schema to copy it: {0}")]
    Copy(String),
    /// Any other server error.
    #[error("{what}: {source}")]
    Query {
        /// What was being done.
        what: String,
        /// The server's error.
        source: postgres::Error,
    },
}

/// Maps a server error to [`PgError::Query`] saying `what` was being done.
pub(super) fn q(what: impl Into<String>) -> impl FnOnce(postgres::Error) -> PgError {
    let what = what.into();
    move |source| PgError::Query { what, source }
}
