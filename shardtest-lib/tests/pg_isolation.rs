//! `shard::pg` against a real server (`DATABASE_URL`, e.g. from `scripts/pg.sh start`).
//! Without `DATABASE_URL` every test prints a loud SKIPPED notice and passes.
//! Child processes are this test binary re-executed with `PG_CHILD` set.
#![cfg(feature = "postgres")]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shard::pg::{self, PgError, Setup, SweepOptions};

const CHILD_ENV: &str = "PG_CHILD";
const BOUND: Duration = Duration::from_secs(120);

const MIGRATIONS: &[(&str, &str)] = &[
    (
        "001_accounts.sql",
        "CREATE TABLE accounts (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE,
                                created timestamptz NOT NULL DEFAULT now());
         CREATE INDEX accounts_created ON accounts (created);",
    ),
    (
        "002_items.sql",
        "CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             owner bigint REFERENCES accounts (id) ON DELETE CASCADE,
                             name text NOT NULL CHECK (name <> ''), qty int NOT NULL DEFAULT 1);
         CREATE INDEX items_owner ON items (owner);",
    ),
    (
        "003_orders.sql",
        "CREATE TABLE orders (id serial PRIMARY KEY, item bigint NOT NULL REFERENCES items (id),
                              placed timestamptz DEFAULT now(), note text);
         CREATE TABLE audit (id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), what text);
         CREATE VIEW item_totals AS SELECT owner, sum(qty) AS total FROM items GROUP BY owner;",
    ),
    (
        "004_seed.sql",
        "INSERT INTO accounts (email) VALUES ('seed1@x'), ('seed2@x');
         INSERT INTO items (owner, name) VALUES (1, 'seed-item');",
    ),
    (
        "005_more.sql",
        "CREATE TABLE tags (id serial PRIMARY KEY, label text UNIQUE);
         CREATE TABLE item_tags (item bigint REFERENCES items (id), tag int REFERENCES tags (id),
                                 PRIMARY KEY (item, tag));
         ALTER TABLE accounts ADD COLUMN display text;",
    ),
];

fn setup() -> Setup {
    MIGRATIONS
        .iter()
        .fold(Setup::new(), |s, (name, sql)| s.migrate_sql(name, sql))
}

fn skip() -> bool {
    if pg::available() {
        return false;
    }
    // Straight to stderr, past libtest's capture, so the notice shows on a passing run.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: DATABASE_URL is not set; PostgreSQL tests did not run. \
         Start a server with `eval \"$(scripts/pg.sh start)\"`. ***\n"
    );
    true
}

/// One "test" of the suite: writes `n` rows in its own schema and in a rolled-back
/// transaction, and checks the counts are exactly its own.
fn suite_test(n: i64) -> Result<(), String> {
    let db = setup().try_database().map_err(|e| e.to_string())?;
    let mut s = db.try_fresh_schema().map_err(|e| e.to_string())?;
    let seeded: i64 = s
        .query_one("SELECT count(*) FROM items", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if seeded != 1 {
        return Err(format!(
            "schema starts with {seeded} items, expected the 1 seed row"
        ));
    }
    for i in 0..n {
        s.execute(
            "INSERT INTO items (owner, name, qty) VALUES (1, $1, 2)",
            &[&format!("i{i}")],
        )
        .map_err(|e| e.to_string())?;
    }
    s.execute("INSERT INTO orders (item) SELECT id FROM items", &[])
        .map_err(|e| e.to_string())?;
    let items: i64 = s
        .query_one("SELECT count(*) FROM items", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let orders: i64 = s
        .query_one("SELECT count(*) FROM orders", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    let total: i64 = s
        .query_one("SELECT total FROM item_totals WHERE owner = 1", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if items != n + 1 || orders != n + 1 || total != 2 * n + 1 {
        return Err(format!(
            "schema {}: items {items} orders {orders} total {total}, expected {} {} {}",
            s.name(),
            n + 1,
            n + 1,
            2 * n + 1
        ));
    }
    // Foreign keys were copied: an order for a missing item is refused.
    if s.execute("INSERT INTO orders (item) VALUES (999999)", &[])
        .is_ok()
    {
        return Err("foreign key not copied".into());
    }
    drop(s);
    let mut tx = db.transaction();
    for _ in 0..n {
        tx.execute("INSERT INTO audit (what) VALUES ('x')", &[])
            .map_err(|e| e.to_string())?;
    }
    let audit: i64 = tx
        .query_one("SELECT count(*) FROM audit", &[])
        .map_err(|e| e.to_string())?
        .get(0);
    if audit != n {
        return Err(format!("transaction sees {audit} audit rows, expected {n}"));
    }
    Ok(())
}

/// A migration that, with `PG_BLOCK=1`, reports and then blocks until killed.
fn maybe_block(_: &mut postgres::Client) -> Result<(), postgres::Error> {
    if std::env::var_os("PG_BLOCK").is_some() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "MIGRATING");
        let _ = out.flush();
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    }
    Ok(())
}

fn blocking_setup() -> Setup {
    setup().migrate_with("maybe-block", maybe_block)
}

/// What a child does, chosen by `PG_CHILD`; a no-op in a normal run.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    match mode.as_str() {
        // A test process of a run: several tests at once on threads (like cargo test).
        "suite" => {
            let results: Vec<Result<(), String>> = std::thread::scope(|sc| {
                let hs: Vec<_> = (0..4)
                    .map(|t| sc.spawn(move || suite_test(5 + t * 3)))
                    .collect();
                hs.into_iter()
                    .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                    .collect()
            });
            let db = setup().try_database().map(|d| d.name().to_string());
            for r in &results {
                match r {
                    Ok(()) => {
                        let _ = writeln!(out, "SUITE OK {}", db.as_deref().unwrap_or("?"));
                    }
                    Err(e) => {
                        let _ = writeln!(out, "SUITE FAIL {e}");
                    }
                }
            }
        }
        // Attach the run's databases, report their names, and wait to be killed.
        "hold" | "hold-blocking" => match if mode == "hold" {
            setup()
        } else {
            blocking_setup()
        }
        .try_database()
        {
            Ok(db) => {
                let s = db.fresh_schema();
                let _ = writeln!(out, "READY {} {}", db.name(), db.template_name());
                let _ = out.flush();
                let mut sink = Vec::new();
                let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
                drop(s);
            }
            Err(e) => {
                let _ = writeln!(out, "ERROR {e}");
            }
        },
        // A test that fails while holding a schema: the schema is kept.
        "fail" => {
            // (This thread holds stdout's lock: the failing test reports through a channel.)
            let (tx, rx) = mpsc::channel();
            let r = std::thread::spawn(move || {
                let mut s = setup().database().fresh_schema();
                s.execute(
                    "INSERT INTO items (owner, name) VALUES (1, 'evidence')",
                    &[],
                )
                .expect("insert");
                let _ = tx.send(format!("SCHEMA {} {}", s.database().name(), s.name()));
                panic!("the test fails");
            })
            .join();
            for line in rx.try_iter() {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "JOINED {}", r.is_err());
        }
        // Report the error `database()` gives.
        "error" => match setup().try_database() {
            Ok(db) => {
                let _ = writeln!(out, "UNEXPECTED OK {}", db.name());
            }
            Err(e) => {
                let kind = match e {
                    PgError::Unreachable { .. } => "Unreachable",
                    PgError::CannotCreateDatabase { .. } => "CannotCreateDatabase",
                    PgError::NoUrl => "NoUrl",
                    _ => "Other",
                };
                let _ = writeln!(out, "ERROR {kind} {e}");
            }
        },
        other => panic!("unknown child mode {other}"),
    }
    let _ = out.flush();
}

fn spawn(env: &[(&str, &str)], mode: &str) -> (Child, mpsc::Receiver<String>) {
    let exe = std::env::current_exe().expect("current exe");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env_remove("SHARDTEST_RUN_ID")
        .env_remove("SHARDTEST_SHARD")
        .env_remove("NEXTEST_RUN_ID")
        .env_remove("SHARDTEST_WORKER_ID")
        .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
        .env("SHARDTEST_PG_SWEEP", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn lines_with(rx: &mpsc::Receiver<String>, prefix: &str, want: usize) -> Vec<String> {
    let deadline = Instant::now() + BOUND;
    let mut got = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!("child did not print {want} {prefix:?} lines in time: {got:?}")
        });
        if let Some(i) = line.find(prefix) {
            got.push(line[i..].to_string());
        } else if let Some(i) = line.find("SUITE FAIL").or_else(|| line.find("ERROR")) {
            panic!("child: {}", &line[i..]);
        }
    }
    got
}

fn nonce() -> String {
    format!(
        "{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    )
}

fn admin() -> postgres::Client {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    postgres::Client::connect(&url, postgres::NoTls).expect("connect to DATABASE_URL")
}

fn databases_of(run: &str) -> BTreeSet<String> {
    let pat = format!("st_{}\\_%", run.replace('-', "_"));
    admin()
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE $1",
            &[&pat],
        )
        .expect("list databases")
        .into_iter()
        .map(|r| r.get(0))
        .collect()
}

/// Sweeps the given runs until their databases are gone (the server may take a moment to
/// end a killed client's session), bounded.
fn sweep_runs(runs: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dropped = Vec::new();
    loop {
        let opts = SweepOptions {
            grace: Duration::ZERO,
            runs: Some(runs.iter().map(|r| r.to_string()).collect()),
            ..SweepOptions::default()
        };
        dropped.extend(pg::sweep_stale(&opts).expect("sweep"));
        if runs.iter().all(|r| databases_of(r).is_empty()) || Instant::now() > deadline {
            return dropped;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Two runs of the same suite at once against one server, each with 3 worker processes of
/// 4 concurrent tests: every count each test checks is exact, and each run has its own
/// databases (named by run and worker).
#[test]
fn concurrent_runs_do_not_interfere() {
    if skip() {
        return;
    }
    let n = nonce();
    let runs = [format!("runa{n}"), format!("runb{n}")];
    let mut kids = Vec::new();
    for run in &runs {
        for w in 0..3 {
            let w = w.to_string();
            kids.push(spawn(
                &[("SHARDTEST_RUN_ID", run), ("SHARDTEST_WORKER_ID", &w)],
                "suite",
            ));
        }
    }
    let mut names = BTreeSet::new();
    for (_, rx) in &kids {
        for line in lines_with(rx, "SUITE OK", 4) {
            names.insert(line["SUITE OK ".len()..].to_string());
        }
    }
    for (mut c, _) in kids {
        assert!(c.wait().expect("wait").success());
    }
    assert_eq!(names.len(), 6, "one database per (run, worker): {names:?}");
    for run in &runs {
        let dbs = databases_of(run);
        assert_eq!(
            dbs.len(),
            4,
            "3 worker databases + 1 template for {run}: {dbs:?}"
        );
        assert!(dbs.iter().any(|d| d.ends_with("_tpl")));
    }
    // A second process of worker 0 reuses its database (created once per run and worker).
    let (mut c, rx) = spawn(
        &[("SHARDTEST_RUN_ID", &runs[0]), ("SHARDTEST_WORKER_ID", "0")],
        "suite",
    );
    lines_with(&rx, "SUITE OK", 4);
    assert!(c.wait().expect("wait").success());
    assert_eq!(databases_of(&runs[0]).len(), 4);
    // Finished runs are swept.
    let dropped = sweep_runs(&[&runs[0], &runs[1]]);
    assert_eq!(dropped.len(), 8, "{dropped:?}");
}

/// A run killed mid-test leaves its databases; the sweeper drops them once no process of
/// the run is alive (and not while one is).
#[test]
fn killed_run_is_swept() {
    if skip() {
        return;
    }
    let run = format!("killed{}", nonce());
    let (mut child, rx) = spawn(
        &[("SHARDTEST_RUN_ID", &run), ("SHARDTEST_WORKER_ID", "1")],
        "hold",
    );
    let ready = lines_with(&rx, "READY", 1);
    assert_eq!(databases_of(&run).len(), 2, "{ready:?}");
    // Alive: not swept, even with no grace.
    let opts = SweepOptions {
        grace: Duration::ZERO,
        runs: Some(vec![run.clone()]),
        ..SweepOptions::default()
    };
    assert!(pg::sweep_stale(&opts).expect("sweep").is_empty());
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // Dead but within the default grace (runner ids): still left alone.
    let within_grace = SweepOptions {
        runs: Some(vec![run.clone()]),
        ..SweepOptions::default()
    };
    assert!(pg::sweep_stale(&within_grace).expect("sweep").is_empty());
    let dropped = sweep_runs(&[&run]);
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(databases_of(&run).is_empty());
}

/// A process killed while migrating the template leaves it unfinished; the next process of
/// the run makes it again instead of using it.
#[test]
fn template_left_unfinished_is_made_again() {
    if skip() {
        return;
    }
    let run = format!("halfmig{}", nonce());
    let env = [
        ("SHARDTEST_RUN_ID", run.as_str()),
        ("SHARDTEST_WORKER_ID", "0"),
    ];
    let (mut child, rx) = spawn(&[env[0], env[1], ("PG_BLOCK", "1")], "hold-blocking");
    lines_with(&rx, "MIGRATING", 1);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let (mut child, rx) = spawn(&env, "hold-blocking");
    let ready = lines_with(&rx, "READY", 1);
    assert!(ready[0].contains(&format!("st_{run}")), "{ready:?}");
    drop(child.stdin.take());
    assert!(child.wait().expect("wait").success());
    let dropped = sweep_runs(&[&run]);
    assert_eq!(dropped.len(), 2, "{dropped:?}");
}

/// A failing test's schema is kept (with its rows) and its run's databases survive a
/// normal sweep; `include_failed` drops them.
#[test]
fn failed_test_keeps_its_schema() {
    if skip() {
        return;
    }
    let run = format!("failed{}", nonce());
    let (mut child, rx) = spawn(
        &[("SHARDTEST_RUN_ID", &run), ("SHARDTEST_WORKER_ID", "0")],
        "fail",
    );
    let line = lines_with(&rx, "SCHEMA", 1).remove(0);
    let joined = lines_with(&rx, "JOINED", 1).remove(0);
    assert_eq!(joined, "JOINED true");
    assert!(child.wait().expect("wait").success());
    let mut parts = line.split_whitespace().skip(1);
    let (db, schema) = (parts.next().expect("db"), parts.next().expect("schema"));
    let mut cfg: postgres::Config = std::env::var("DATABASE_URL")
        .expect("url")
        .parse()
        .expect("parse url");
    let mut c = cfg
        .dbname(db)
        .connect(postgres::NoTls)
        .expect("connect to kept db");
    let n: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".items WHERE name = 'evidence'"),
            &[],
        )
        .expect("kept schema")
        .get(0);
    assert_eq!(n, 1);
    drop(c);
    let opts = SweepOptions {
        grace: Duration::ZERO,
        runs: Some(vec![run.clone()]),
        ..SweepOptions::default()
    };
    assert!(
        pg::sweep_stale(&opts).expect("sweep").is_empty(),
        "a failed run was swept"
    );
    let opts = SweepOptions {
        include_failed: true,
        ..opts
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !databases_of(&run).is_empty() {
        assert!(
            Instant::now() < deadline,
            "failed run not swept with include_failed"
        );
        pg::sweep_stale(&opts).expect("sweep");
        // The killed session may take a moment to end; poll the condition, bounded above.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Clear, typed errors: unreachable server, role without CREATEDB.
#[test]
fn errors_name_the_fix() {
    if skip() {
        return;
    }
    let (mut c, rx) = spawn(
        &[("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/postgres")],
        "error",
    );
    let line = lines_with(&rx, "ERROR", 1).remove(0);
    c.wait().expect("wait");
    assert!(
        line.starts_with("ERROR Unreachable") && line.contains("127.0.0.1:1"),
        "{line}"
    );

    let mut a = admin();
    a.batch_execute(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'st_nocreatedb')
         THEN CREATE ROLE st_nocreatedb LOGIN NOCREATEDB; END IF; END $$",
    )
    .expect("create role");
    let url =
        std::env::var("DATABASE_URL")
            .expect("url")
            .replacen("postgres@", "st_nocreatedb@", 1);
    let (mut c, rx) = spawn(
        &[("DATABASE_URL", &url), ("SHARDTEST_RUN_ID", "nocreate")],
        "error",
    );
    let line = lines_with(&rx, "ERROR", 1).remove(0);
    c.wait().expect("wait");
    assert!(
        line.starts_with("ERROR CannotCreateDatabase") && line.contains("ALTER ROLE"),
        "{line}"
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A migration history like a real project's: tables created, altered, indexed and
/// backfilled over many files (the final schema is small, the history is long).
fn history_setup() -> Setup {
    let mut s = Setup::new();
    for t in 0..6 {
        s = s.migrate_sql(
            &format!("h{t:02}_create"),
            &format!(
                "CREATE TABLE h{t} (id bigserial PRIMARY KEY, a text NOT NULL, b int);
                 INSERT INTO h{t} (a, b) SELECT 'row' || g, g FROM generate_series(1, 500) g;"
            ),
        );
    }
    for step in 0..5 {
        for t in 0..6 {
            s = s.migrate_sql(
                &format!("h{t:02}_step{step}"),
                &format!(
                    "ALTER TABLE h{t} ADD COLUMN c{step} int;
                     UPDATE h{t} SET c{step} = b * {step};
                     CREATE INDEX h{t}_c{step} ON h{t} (c{step});"
                ),
            );
        }
    }
    s
}

fn measure(label: &str, setup: &Setup, migrations: usize) -> String {
    let t0 = Instant::now();
    let db = setup.database();
    let first = t0.elapsed();
    const N: usize = 7;
    let (mut connect, mut copy, mut migrate, mut tx) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..N {
        let t = Instant::now();
        drop(db.client().expect("connect"));
        connect.push(t.elapsed());

        let t = Instant::now();
        let s = db.fresh_schema();
        drop(s);
        copy.push(t.elapsed());

        let t = Instant::now();
        drop(db.transaction());
        tx.push(t.elapsed());

        let t = Instant::now();
        let s = db.migrated_schema(setup);
        drop(s);
        migrate.push(t.elapsed());
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (k, c, m, x) = (median(connect), median(copy), median(migrate), median(tx));
    format!(
        "pg timing [{label}: {migrations} migrations] median of {N}, per test (connect + \
         create + drop): fresh schema copied from the template {:.1} ms, migrations run per \
         test {:.1} ms, rolled-back transaction {:.1} ms (connection alone {:.1} ms); once per process: template + worker \
         database {:.0} ms",
        ms(c),
        ms(m),
        ms(x),
        ms(k),
        ms(first)
    )
}

/// Template reuse, measured: a fresh per-test schema copied from the migrated template
/// versus running the migrations per test, for a short and a long migration history.
/// Prints the figures. Also checks the copy's contents.
#[test]
fn measure_fresh_schema_vs_migrations_per_test() {
    if skip() {
        return;
    }
    let short = measure("short", &setup(), MIGRATIONS.len());
    let long = measure("long", &history_setup(), 36);
    let db = history_setup().database();
    let mut s = db.fresh_schema();
    let n: i64 = s
        .query_one("SELECT count(c4) FROM h5", &[])
        .expect("count")
        .get(0);
    assert_eq!(n, 500);
    s.execute("INSERT INTO h5 (a) VALUES ('new')", &[])
        .expect("insert");
    let id: i64 = s
        .query_one("SELECT max(id) FROM h5", &[])
        .expect("max")
        .get(0);
    assert_eq!(
        id, 501,
        "the serial sequence continues after the copied rows"
    );
    drop(s);
    for line in [short, long] {
        eprintln!("{line}");
        println!("{line}");
    }
}
