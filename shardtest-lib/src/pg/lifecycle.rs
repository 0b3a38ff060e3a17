//! Creating, looking up and dropping one database on the server.

use postgres::Client;
use postgres::error::SqlState;

use super::PgError;
use super::error::q;
use super::server::Server;

/// Whether database `name` exists.
pub(super) fn database_exists(c: &mut Client, name: &str) -> Result<bool, PgError> {
    let rows = c
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(q("looking up a database"))?;
    Ok(!rows.is_empty())
}

/// Creates database `name`, empty or as a copy of `template`; a role without `CREATEDB`
/// gets [`PgError::CannotCreateDatabase`] with the fix.
pub(super) fn create_database(
    server: &Server,
    c: &mut Client,
    name: &str,
    template: Option<&str>,
) -> Result<(), PgError> {
    let sql = match template {
        Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
        None => format!("CREATE DATABASE \"{name}\""),
    };
    c.batch_execute(&sql).map_err(|source| {
        if source.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
            PgError::CannotCreateDatabase {
                role: server.role(),
                source,
            }
        } else {
            PgError::Query {
                what: format!("creating database {name}"),
                source,
            }
        }
    })
}

/// Drops database `name` if it exists (the server refuses while it is in use:
/// [`SqlState::OBJECT_IN_USE`]).
pub(super) fn drop_database(c: &mut Client, name: &str) -> Result<(), postgres::Error> {
    c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
}
