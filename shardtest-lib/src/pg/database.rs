//! [`Database`], the handle on one worker's database for the run: its names, connection
//! settings, and the per-test guards it hands out (fresh schema, migrated schema,
//! transaction), and recording that a test failed while holding one.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use postgres::{Client, Config};

use super::PgError;
use super::error::q;
use super::guards::{Schema, TestTransaction};
use super::meta::{Meta, set_comment};
use super::migrations::{Setup, run_steps};
use super::naming::next_schema_name;
use super::server::{Server, url_with};
use crate::lockdir::HeldLock;

/// One worker's database for the run (see the [module docs](crate::pg)).
pub struct Database {
    pub(super) server: Server,
    pub(super) name: String,
    pub(super) template: String,
    /// The run id as it appears in names.
    pub(super) run: String,
    /// Shows the run alive to sweepers on this host while the process lives.
    pub(super) _alive: Option<HeldLock>,
    /// A test failed holding a schema of this database: it is kept for inspection.
    pub(super) failed: Mutex<bool>,
    /// The SQL that copies `public` into a new schema (see `schema_copy`), made once.
    pub(super) clone_script: OnceLock<Result<String, String>>,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("name", &self.name)
            .field("template", &self.template)
            .finish()
    }
}

impl Database {
    /// The database's name (`st_<run>_<migrations>_w<worker>`).
    ///
    /// ```no_run
    /// assert!(shard::pg::database().name().starts_with("st_"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run's template database.
    ///
    /// ```no_run
    /// assert!(shard::pg::database().template_name().ends_with("_tpl"));
    /// ```
    pub fn template_name(&self) -> &str {
        &self.template
    }

    /// A connection config for this database (for the code under test).
    ///
    /// ```no_run
    /// let cfg = shard::pg::database().config();
    /// let mut client = cfg.connect(postgres::NoTls).unwrap();
    /// ```
    pub fn config(&self) -> Config {
        let mut c = self.server.config.clone();
        c.dbname(&self.name);
        c
    }

    /// A connection string for this database: `DATABASE_URL` with the database replaced.
    ///
    /// ```no_run
    /// let url = shard::pg::database().url();
    /// assert!(url.contains(shard::pg::database().name()));
    /// ```
    pub fn url(&self) -> String {
        url_with(&self.server.url, &self.name, None)
    }

    /// A new connection to this database (on the migrated `public` schema: rows written
    /// here are seen by the other tests of this worker; prefer [`Database::fresh_schema`] or
    /// [`Database::transaction`]).
    ///
    /// ```no_run
    /// let mut c = shard::pg::database().client().unwrap();
    /// c.simple_query("SELECT 1").unwrap();
    /// ```
    pub fn client(&self) -> Result<Client, PgError> {
        self.server.connect_to(Some(&self.name), None)
    }

    /// A new schema holding a copy of the migrated tables (see the
    /// [module docs](crate::pg)), on a connection whose `search_path` is that schema; dropped
    /// with the guard, kept (and its name printed) when the test panicked. Panics when it
    /// cannot be made.
    ///
    /// ```no_run
    /// let mut s = shard::pg::database().fresh_schema();
    /// s.batch_execute("CREATE TABLE only_mine (x int)").unwrap();
    /// println!("{}", s.name());
    /// ```
    pub fn fresh_schema(&'static self) -> Schema {
        match self.try_fresh_schema() {
            Ok(s) => s,
            Err(e) => panic!("shard::pg fresh_schema(): {e}"),
        }
    }

    /// Like [`Database::fresh_schema`], returning the error instead of panicking.
    ///
    /// ```no_run
    /// let s = shard::pg::database().try_fresh_schema()?;
    /// # Ok::<(), shard::pg::PgError>(())
    /// ```
    pub fn try_fresh_schema(&'static self) -> Result<Schema, PgError> {
        let name = next_schema_name();
        let sql = self.fresh_schema_sql(&name)?;
        let mut client = self.server.connect_to(Some(&self.name), None)?;
        client
            .batch_execute(&sql)
            .map_err(q(format!("creating schema {name} in {}", self.name)))?;
        Ok(Schema {
            client,
            name,
            db: self,
        })
    }

    /// A schema made by running the migrations in it, instead of copying the migrated
    /// tables: the slow way [`Database::fresh_schema`] avoids (kept for measuring, and for
    /// migrations whose objects cannot be copied). Panics when it cannot be made.
    ///
    /// ```no_run
    /// let steps = shard::pg::Setup::new().migrations_dir("migrations");
    /// let s = shard::pg::database().migrated_schema(&steps);
    /// ```
    pub fn migrated_schema(&'static self, setup: &Setup) -> Schema {
        let r = (|| {
            let steps = setup.resolve()?;
            let name = next_schema_name();
            let mut client = self.server.connect_to(Some(&self.name), None)?;
            run_steps(&mut client, &steps, Some(&name))?;
            Ok::<_, PgError>(Schema {
                client,
                name,
                db: self,
            })
        })();
        match r {
            Ok(s) => s,
            Err(e) => panic!("shard::pg migrated_schema(): {e}"),
        }
    }

    /// A connection inside a transaction on the migrated `public` schema, rolled back when
    /// the guard is dropped (whatever the test did, unless it committed explicitly). Panics
    /// when it cannot be opened.
    ///
    /// ```no_run
    /// let mut tx = shard::pg::database().transaction();
    /// tx.execute("INSERT INTO items (name) VALUES ('gone afterwards')", &[]).unwrap();
    /// ```
    pub fn transaction(&self) -> TestTransaction {
        let r = (|| {
            let mut client = self.client()?;
            client.batch_execute("BEGIN").map_err(q("BEGIN"))?;
            Ok::<_, PgError>(client)
        })();
        match r {
            Ok(client) => TestTransaction { client },
            Err(e) => panic!("shard::pg transaction(): {e}"),
        }
    }

    /// Records that a test failed holding a schema of this database (once): the worker's
    /// database and the template are then kept, for inspection, until a sweep with
    /// `include_failed` or `max_age`.
    pub(super) fn mark_failed(&self, c: &mut Client) {
        let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
        if *failed {
            return;
        }
        *failed = true;
        let meta = Meta {
            failed: true,
            ready: true,
            ..Meta::now(&self.run)
        };
        for db in [&self.name, &self.template] {
            let _ = set_comment(c, db, &meta);
        }
    }
}
