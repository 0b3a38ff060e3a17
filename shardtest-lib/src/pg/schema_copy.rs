//! Copying the migrated `public` schema into a per-test schema: introspecting `public`
//! once per process into a SQL script (sequences, tables, defaults, seed rows, sequence
//! positions, foreign keys, views) that [`Database::fresh_schema`] replays.

use postgres::Client;

use super::PgError;
use super::database::Database;
use super::error::q;

/// Stands for the new schema's name in the script.
const SCHEMA_PLACEHOLDER: &str = "\u{1}SCHEMA\u{1}";

impl Database {
    /// The SQL that creates schema `name`, makes it the `search_path`, and copies `public`
    /// into it.
    pub(super) fn fresh_schema_sql(&self, name: &str) -> Result<String, PgError> {
        let script = self.clone_script()?;
        Ok(format!(
            "CREATE SCHEMA \"{name}\"; SET search_path TO \"{name}\";\n{}",
            script.replace(SCHEMA_PLACEHOLDER, name)
        ))
    }

    /// The SQL that copies `public` into the schema `SCHEMA_PLACEHOLDER`, made once.
    fn clone_script(&self) -> Result<String, PgError> {
        let r = self.clone_script.get_or_init(|| {
            (|| {
                let mut c = self.client()?;
                build_clone_script(&mut c)
            })()
            .map_err(|e| e.to_string())
        });
        r.clone().map_err(PgError::Copy)
    }
}

/// Introspects `public` and writes SQL that recreates it in the current `search_path`.
fn build_clone_script(c: &mut Client) -> Result<String, PgError> {
    // Definitions are read with public on the search_path, so they come out unqualified and
    // resolve to the new schema when replayed there.
    c.batch_execute("SET search_path TO public")
        .map_err(q("introspecting public"))?;
    let mut sql = String::new();
    copy_sequences(c, &mut sql)?;
    let tables = copy_tables(c, &mut sql)?;
    copy_sequence_defaults(c, &mut sql)?;
    copy_rows(c, &tables, &mut sql)?;
    copy_sequence_positions(c, &mut sql)?;
    copy_foreign_keys(c, &mut sql)?;
    copy_views(c, &mut sql)?;
    Ok(sql)
}

/// Sequences that are not identity sequences (serial columns, explicit sequences).
fn copy_sequences(c: &mut Client, sql: &mut String) -> Result<(), PgError> {
    for row in c
        .query(
            "SELECT s.relname, sq.seqstart, sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqcycle
               FROM pg_class s JOIN pg_sequence sq ON sq.seqrelid = s.oid
              WHERE s.relnamespace = 'public'::regnamespace AND s.relkind = 'S'
                AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.objid = s.oid AND d.deptype = 'i')
              ORDER BY s.oid",
            &[],
        )
        .map_err(q("listing sequences"))?
    {
        let name: String = row.get(0);
        let (start, inc, min, max): (i64, i64, i64, i64) =
            (row.get(1), row.get(2), row.get(3), row.get(4));
        let cycle: bool = row.get(5);
        sql.push_str(&format!(
            "CREATE SEQUENCE \"{name}\" INCREMENT {inc} MINVALUE {min} MAXVALUE {max} START {start}{};\n",
            if cycle { " CYCLE" } else { "" }
        ));
    }
    Ok(())
}

/// Tables (columns, defaults, constraints, indexes, identity), in creation order; returns
/// their names.
fn copy_tables(c: &mut Client, sql: &mut String) -> Result<Vec<String>, PgError> {
    let tables: Vec<String> = c
        .query(
            "SELECT c.relname FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                AND NOT c.relispartition
              ORDER BY c.oid",
            &[],
        )
        .map_err(q("listing tables"))?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    for t in &tables {
        sql.push_str(&format!(
            "CREATE TABLE \"{t}\" (LIKE public.\"{t}\" INCLUDING ALL);\n"
        ));
    }
    Ok(tables)
}

/// Defaults that use a copied sequence: point them at the copy.
fn copy_sequence_defaults(c: &mut Client, sql: &mut String) -> Result<(), PgError> {
    for row in c
        .query(
            "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid)
               FROM pg_attrdef d
               JOIN pg_class c ON c.oid = d.adrelid
               JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                AND pg_get_expr(d.adbin, d.adrelid) LIKE '%nextval(%'",
            &[],
        )
        .map_err(q("listing defaults"))?
    {
        let (t, col, expr): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        sql.push_str(&format!(
            "ALTER TABLE \"{t}\" ALTER COLUMN \"{col}\" SET DEFAULT {expr};\n"
        ));
    }
    Ok(())
}

/// Rows the migrations inserted (seed data), in table order.
fn copy_rows(c: &mut Client, tables: &[String], sql: &mut String) -> Result<(), PgError> {
    for t in tables {
        let has_rows: bool = c
            .query_one(
                &format!("SELECT EXISTS (SELECT 1 FROM public.\"{t}\")"),
                &[],
            )
            .map_err(q(format!("reading {t}")))?
            .get(0);
        if has_rows {
            sql.push_str(&format!(
                "INSERT INTO \"{t}\" OVERRIDING SYSTEM VALUE SELECT * FROM public.\"{t}\";\n"
            ));
        }
    }
    Ok(())
}

/// Sequence positions after the seed rows.
fn copy_sequence_positions(c: &mut Client, sql: &mut String) -> Result<(), PgError> {
    for row in c
        .query(
            "SELECT s.relname FROM pg_class s
              WHERE s.relnamespace = 'public'::regnamespace AND s.relkind = 'S'
              ORDER BY s.oid",
            &[],
        )
        .map_err(q("listing sequences"))?
    {
        let s: String = row.get(0);
        let r = c
            .query_one(
                &format!("SELECT last_value, is_called FROM public.\"{s}\""),
                &[],
            )
            .map_err(q(format!("reading sequence {s}")))?;
        let (last, called): (i64, bool) = (r.get(0), r.get(1));
        if called {
            sql.push_str(&format!(
                "SELECT setval('\"{SCHEMA_PLACEHOLDER}\".\"{s}\"', {last}, true);\n"
            ));
        }
    }
    Ok(())
}

/// Foreign keys, after every table exists.
fn copy_foreign_keys(c: &mut Client, sql: &mut String) -> Result<(), PgError> {
    for row in c
        .query(
            "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)
               FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
              WHERE k.connamespace = 'public'::regnamespace AND k.contype = 'f'
              ORDER BY k.oid",
            &[],
        )
        .map_err(q("listing foreign keys"))?
    {
        let (t, name, def): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        sql.push_str(&format!(
            "ALTER TABLE \"{t}\" ADD CONSTRAINT \"{name}\" {def};\n"
        ));
    }
    Ok(())
}

/// Views, in creation order.
fn copy_views(c: &mut Client, sql: &mut String) -> Result<(), PgError> {
    for row in c
        .query(
            "SELECT c.relname, pg_get_viewdef(c.oid) FROM pg_class c
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'v'
              ORDER BY c.oid",
            &[],
        )
        .map_err(q("listing views"))?
    {
        let (v, def): (String, String) = (row.get(0), row.get(1));
        let def = def.trim().trim_end_matches(';');
        sql.push_str(&format!("CREATE VIEW \"{v}\" AS {def};\n"));
    }
    Ok(())
}
