//! Getting this worker's database for the run: [`database()`], [`Setup::database`], the
//! per-process cache of opened databases, and opening one under the set-up lock.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::database::Database;
use super::end_of_run::{drop_at_exit, note_for_end_of_run};
use super::error::q;
use super::meta::Meta;
use super::migrations::{Setup, Step, default_setup, migrations_key};
use super::naming::{Names, advisory_key, run_lock};
use super::server::Server;
use super::{PgError, template};
use crate::lockdir;

/// This worker's database for this run, migrated with the `*.sql` files of
/// `$SHARDTEST_PG_MIGRATIONS`, else of `$CARGO_MANIFEST_DIR/migrations` when that directory
/// exists, else with nothing. Panics with the reason (and the fix) when it cannot be had.
///
/// ```no_run
/// let db = shard::pg::database();
/// let mut schema = db.fresh_schema();
/// schema.batch_execute("CREATE TABLE scratch (x int)").unwrap();
/// ```
pub fn database() -> &'static Database {
    match try_database() {
        Ok(d) => d,
        Err(e) => panic!("shard::pg::database(): {e}"),
    }
}

/// Like [`database()`], returning the error instead of panicking.
///
/// ```no_run
/// if let Err(e) = shard::pg::try_database() {
///     eprintln!("skipping: {e}");
/// }
/// ```
pub fn try_database() -> Result<&'static Database, PgError> {
    default_setup().try_database()
}

impl Setup {
    /// This worker's database for this run, migrated by this setup; panics with the reason
    /// (and the fix) when it cannot be had. See [`Setup::try_database`].
    ///
    /// ```no_run
    /// let db = shard::pg::Setup::new().migrate_sql("1", "CREATE TABLE t (id int)").database();
    /// ```
    pub fn database(&self) -> &'static Database {
        match self.try_database() {
            Ok(d) => d,
            Err(e) => panic!("shard::pg: {e}"),
        }
    }

    /// Like [`Setup::database`], returning the error instead of panicking.
    ///
    /// ```no_run
    /// match shard::pg::Setup::new().try_database() {
    ///     Ok(db) => println!("using {}", db.name()),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// ```
    pub fn try_database(&self) -> Result<&'static Database, PgError> {
        let steps = self.resolve()?;
        let key = migrations_key(&steps);
        static CACHE: OnceLock<Mutex<HashMap<u64, &'static Database>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        // Held across the set-up: threads of this process wait for the first to finish.
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = cache.get(&key) {
            return Ok(db);
        }
        let db: &'static Database = Box::leak(Box::new(open(&steps, key)?));
        cache.insert(key, db);
        if crate::worker::run_id_is_generated() {
            drop_at_exit(db);
        }
        Ok(db)
    }
}

/// Opens the worker's database for migration set `steps` (hashed to `key`): makes the
/// run's template and the worker's clone when missing, one process at a time per run on
/// every machine sharing the server (a server-side advisory lock).
fn open(steps: &[Step], key: u64) -> Result<Database, PgError> {
    let server = Server::from_env()?;
    let run = crate::worker::run_id().to_string();
    let worker = crate::worker::try_worker_id().unwrap_or(0);
    let names = Names::new(&run, key, worker);
    let alive = lockdir::try_lock_shared(&run_lock(&names.run))
        .ok()
        .flatten();
    let meta = Meta::now(&names.run);

    let mut admin = server.connect_to(None, None)?;
    // One set-up at a time per run, on every machine sharing the server.
    let lock_key = advisory_key(&names.template);
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&lock_key])
        .map_err(q("taking the set-up lock"))?;
    let result = template::prepare(&server, &mut admin, steps, &names, &meta);
    let _ = admin.execute("SELECT pg_advisory_unlock($1)", &[&lock_key]);
    result?;
    note_for_end_of_run(&run);
    Ok(Database {
        server,
        name: names.worker,
        template: names.template,
        run: names.run,
        _alive: alive,
        failed: Mutex::new(false),
        clone_script: OnceLock::new(),
    })
}
