//! Template databases: making a run's template once (migrated, marked ready) and cloning
//! the worker's database from it (`CREATE DATABASE .. TEMPLATE ..`), under the set-up lock.

use postgres::Client;

use super::PgError;
use super::error::q;
use super::lifecycle::{create_database, database_exists, drop_database};
use super::meta::{Meta, read_meta, set_comment};
use super::migrations::{Step, run_steps};
use super::naming::Names;
use super::server::Server;
use super::sweep::sweep_before_new_template;

/// With the set-up lock held: makes the template unless a ready one exists, clones the
/// worker's database from it unless it exists, and records the attach (`meta`, refreshed
/// `last_used`; a failure recorded earlier in the run stays) on both.
pub(super) fn prepare(
    server: &Server,
    admin: &mut Client,
    steps: &[Step],
    names: &Names,
    meta: &Meta,
) -> Result<(), PgError> {
    ensure_template(server, admin, steps, names, meta)?;
    if !database_exists(admin, &names.worker)? {
        create_database(server, admin, &names.worker, Some(&names.template))?;
    }
    let failed = read_meta(admin, &names.worker)?.is_some_and(|m| m.failed)
        || read_meta(admin, &names.template)?.is_some_and(|m| m.failed);
    let meta = Meta {
        failed,
        ready: true,
        ..meta.clone()
    };
    set_comment(admin, &names.worker, &meta)?;
    set_comment(admin, &names.template, &meta)
}

/// Makes the run's template and migrates it, unless a ready one exists. A template not
/// marked ready was left by a process that died while making it (we hold the set-up lock):
/// it is dropped and made again. A failed migration drops the template.
fn ensure_template(
    server: &Server,
    admin: &mut Client,
    steps: &[Step],
    names: &Names,
    meta: &Meta,
) -> Result<(), PgError> {
    let template = &names.template;
    let exists = database_exists(admin, template)?;
    let ready = exists && read_meta(admin, template)?.is_some_and(|m| m.ready);
    if ready {
        return Ok(());
    }
    if exists {
        drop_database(admin, template)
            .map_err(q(format!("dropping the unfinished template {template}")))?;
    }
    sweep_before_new_template(admin, &names.run);
    create_database(server, admin, template, None)?;
    set_comment(admin, template, meta)?;
    let migrated = (|| {
        let mut c = server.connect_to(Some(template), None)?;
        run_steps(&mut c, steps, None)
    })();
    if let Err(e) = migrated {
        let _ = drop_database(admin, template);
        return Err(e);
    }
    Ok(())
}
