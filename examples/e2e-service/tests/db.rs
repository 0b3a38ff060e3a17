//! The service backed by PostgreSQL through `shard::pg`: each test gets a fresh schema in
//! its worker's database (migrated once per run from `migrations/`), so the counts each test
//! sees are exactly its own. Skipped, with a notice, when DATABASE_URL is not set.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use e2e_service::{NodeInfo, Store, request, serve};
use shard::pg::postgres::{Client, NoTls};

struct PgStore(Mutex<Client>);

impl Store for PgStore {
    fn add(&self, name: &str) -> Result<u64, String> {
        let mut c = self.0.lock().map_err(|e| e.to_string())?;
        c.execute("INSERT INTO items (name) VALUES ($1)", &[&name])
            .map_err(|e| e.to_string())?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM items", &[])
            .map_err(|e| e.to_string())?
            .get(0);
        Ok(n as u64)
    }
    fn count(&self) -> Result<u64, String> {
        let mut c = self.0.lock().map_err(|e| e.to_string())?;
        let n: i64 = c
            .query_one("SELECT count(*) FROM items", &[])
            .map_err(|e| e.to_string())?
            .get(0);
        Ok(n as u64)
    }
}

fn skip() -> bool {
    if shard::pg::available() {
        return false;
    }
    // Straight to stderr, past libtest's capture, so the notice shows on a passing run.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"SKIPPED: DATABASE_URL is not set; run under `scripts/pg.sh run -- ...` to include the database tests\n",
    );
    true
}

fn boot_with_items(n: usize) -> u64 {
    let schema = shard::pg::database().fresh_schema();
    // The service connects on its own, to the test's schema.
    let client = schema.config().connect(NoTls).expect("service connects");
    let port = shard::port();
    let svc = serve(
        SocketAddr::from(([127, 0, 0, 1], *port)),
        NodeInfo::default(),
        Arc::new(PgStore(Mutex::new(client))),
    )
    .unwrap();
    for i in 0..n {
        assert_eq!(
            request(svc.addr(), "POST", "/items", &format!("i{i}"))
                .unwrap()
                .0,
            201
        );
    }
    request(svc.addr(), "GET", "/items/count", "")
        .unwrap()
        .1
        .parse()
        .unwrap()
}

#[test]
fn db_counts_are_exact_3() {
    if skip() {
        return;
    }
    assert_eq!(boot_with_items(3), 3);
}

#[test]
fn db_counts_are_exact_7() {
    if skip() {
        return;
    }
    assert_eq!(boot_with_items(7), 7);
}

#[test]
fn db_counts_are_exact_12() {
    if skip() {
        return;
    }
    assert_eq!(boot_with_items(12), 12);
}

#[test]
fn seed_rows_come_from_the_template() {
    if skip() {
        return;
    }
    let mut s = shard::pg::database().fresh_schema();
    let v: String = s
        .query_one("SELECT value FROM settings WHERE key = 'greeting'", &[])
        .unwrap()
        .get(0);
    assert_eq!(v, "hello");
}

#[test]
fn transaction_is_rolled_back() {
    if skip() {
        return;
    }
    let db = shard::pg::database();
    {
        let mut tx = db.transaction();
        tx.execute("INSERT INTO settings VALUES ('temp', 'x')", &[])
            .unwrap();
        let n: i64 = tx
            .query_one("SELECT count(*) FROM settings", &[])
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
    }
    let mut c = db.client().unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM settings WHERE key = 'temp'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}
