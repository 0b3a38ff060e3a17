//! The guards a test holds: [`Schema`] (a per-test schema, dropped afterwards or kept when
//! the test panicked) and [`TestTransaction`] (rolled back afterwards). Both dereference to
//! the [`postgres::Client`].

use std::fmt;
use std::ops::{Deref, DerefMut};

use postgres::{Client, Config};

use super::database::Database;
use super::server::url_with;

/// A per-test schema on its own connection (`search_path` set to it). Dereferences to the
/// [`postgres::Client`]. Dropped with the guard; kept, with its name printed, when the test
/// panicked.
///
/// ```no_run
/// let db = shard::pg::database();
/// let mut s = db.fresh_schema();
/// s.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)").unwrap();
/// let app_url = s.url(); // hand this to the code under test
/// ```
pub struct Schema {
    pub(super) client: Client,
    pub(super) name: String,
    pub(super) db: &'static Database,
}

impl fmt::Debug for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.name)
            .field("database", &self.db.name)
            .finish()
    }
}

impl Schema {
    /// The schema's name.
    ///
    /// ```no_run
    /// let s = shard::pg::database().fresh_schema();
    /// assert!(s.name().starts_with('t'));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database holding the schema.
    ///
    /// ```no_run
    /// let s = shard::pg::database().fresh_schema();
    /// assert_eq!(s.database().name(), shard::pg::database().name());
    /// ```
    pub fn database(&self) -> &'static Database {
        self.db
    }

    /// A connection config whose sessions use this schema (`options=-c search_path=..`).
    ///
    /// ```no_run
    /// let s = shard::pg::database().fresh_schema();
    /// let mut app = s.config().connect(postgres::NoTls).unwrap();
    /// ```
    pub fn config(&self) -> Config {
        let mut c = self.db.config();
        c.options(&format!("-c search_path={}", self.name));
        c
    }

    /// A connection string whose sessions use this schema.
    ///
    /// ```no_run
    /// let s = shard::pg::database().fresh_schema();
    /// assert!(s.url().contains("search_path"));
    /// ```
    pub fn url(&self) -> String {
        url_with(
            &self.db.server.url,
            &self.db.name,
            Some(&format!("-c search_path={}", self.name)),
        )
    }
}

impl Deref for Schema {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for Schema {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.db.mark_failed(&mut self.client);
            eprintln!(
                "shard::pg: test failed; keeping schema {} in database {} for inspection \
                 (psql \"{}\")",
                self.name,
                self.db.name,
                self.db.url()
            );
            return;
        }
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
    }
}

/// A connection inside a transaction that is rolled back when the guard is dropped.
/// Dereferences to the [`postgres::Client`].
///
/// ```no_run
/// let mut tx = shard::pg::database().transaction();
/// let n: i64 = tx.query_one("SELECT count(*) FROM pg_class", &[]).unwrap().get(0);
/// ```
pub struct TestTransaction {
    pub(super) client: Client,
}

impl fmt::Debug for TestTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TestTransaction")
    }
}

impl Deref for TestTransaction {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for TestTransaction {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

impl Drop for TestTransaction {
    fn drop(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK");
    }
}
