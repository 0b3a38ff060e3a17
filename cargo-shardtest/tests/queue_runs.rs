//! `run --queue` end to end: jobs as separate processes, in separate directories, running
//! from one archive against a real redis-server, pulling tests until the queue is empty.

mod common;

use common::redis_server::RedisServer;
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// All tests of the fixture: 40 sleeping ones, `slow` and `fails_when_asked`.
const ALL: usize = 42;

/// The fixture, archived once for every test here ("the build job").
fn archive() -> &'static Path {
    static ARCHIVE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ARCHIVE
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("tests.tar.zst");
            let o = run(shardtest()
                .args(["archive", "--manifest-path"])
                .arg(fixture("queue-suite"))
                .arg("-o")
                .arg(&path));
            assert!(o.status.success(), "{}", text(&o));
            (dir, path)
        })
        .1
}

/// A CI job: its own directory with a copy of the archive, `cargo shardtest run --archive
/// --queue`, its JSON report in `<dir>/report.json`.
fn job(ci: &Path, name: &str, server: &RedisServer, run_id: &str, out: &Path) -> Command {
    let dir = ci.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(archive(), dir.join("tests.tar.zst")).unwrap();
    let mut c = shardtest();
    c.current_dir(&dir)
        .env("FIXTURE_OUT", out)
        .env("CI", "true")
        .args(["run", "--archive", "tests.tar.zst", "--queue"])
        .arg(server.url())
        .args(["--queue-run", run_id, "--json", "report.json"]);
    c
}

fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn report_of(ci: &Path, name: &str) -> serde_json::Value {
    read_json(&ci.join(name).join("report.json"))
}

/// Tests a job's report says it ran (anything but skipped or not run).
fn ran(r: &serde_json::Value) -> Vec<String> {
    statuses(r)
        .into_iter()
        .filter(|(_, s)| s != "skipped" && s != "not_run")
        .map(|(id, _)| id)
        .collect()
}

fn queue_report(server: &RedisServer, run_id: &str, dir: &Path) -> std::process::Output {
    run(shardtest()
        .args(["queue", "report", "--queue"])
        .arg(server.url())
        .args(["--queue-run", run_id, "--wait", "60s", "--json"])
        .arg(dir.join("all.json"))
        .arg("--junit")
        .arg(dir.join("all.xml")))
}

#[test]
fn four_jobs_from_one_archive_run_every_test_exactly_once() {
    let server = RedisServer::start("four-jobs");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let jobs: Vec<Child> = (1..=4)
        .map(|k| {
            let mut c = job(ci.path(), &format!("job-{k}"), &server, "four", out.path());
            c.args(["-j", "2"]);
            // Half the jobs batch their tests: isolation is a job's own business.
            if k > 2 {
                c.args(["--isolation", "batch"]);
            }
            spawn(c)
        })
        .collect();
    let mut per_job = Vec::new();
    for (k, child) in jobs.into_iter().enumerate() {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "job {}: {}", k + 1, text(&o));
        per_job.push(ran(&report_of(ci.path(), &format!("job-{}", k + 1))));
    }
    // Each test ran once, in exactly one job.
    let log = runs(out.path());
    assert_eq!(log.len(), ALL, "{log:?}");
    assert!(log.values().all(|n| *n == 1), "{log:?}");
    let mut union: Vec<&String> = per_job.iter().flatten().collect();
    union.sort();
    let n = union.len();
    union.dedup();
    assert_eq!((n, union.len()), (ALL, ALL), "{per_job:?}");
    assert!(
        per_job.iter().filter(|r| !r.is_empty()).count() >= 2,
        "work was shared: {per_job:?}"
    );

    // The final job: the merged report and the proof agree.
    let o = queue_report(&server, "four", ci.path());
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("exactly one result"),
        "{}",
        text(&o)
    );
    let all = read_json(&ci.path().join("all.json"));
    assert_eq!(statuses(&all).len(), ALL);
    assert_eq!(all["counts"]["passed"], ALL as u64);
    let o = run(shardtest().arg("verify").arg(ci.path().join("all.json")));
    assert!(o.status.success(), "{}", text(&o));
    let xml = std::fs::read_to_string(ci.path().join("all.xml")).unwrap();
    assert_eq!(xml.matches("<testcase ").count(), ALL, "{xml}");
}

#[test]
fn a_job_killed_mid_test_has_its_test_run_by_another_and_counted_once() {
    let server = RedisServer::start("kill");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Job A alone, one worker, a 2-second `slow` test; killed with SIGKILL while `slow` runs.
    let mut a = job(ci.path(), "a", &server, "kill", out.path());
    a.env("FIXTURE_SLOW_MS", "2000")
        .args(["-j", "1", "--lease-timeout", "1s", "slow", "short_0"]);
    let a = spawn(a);
    let started = |out: &Path| {
        std::fs::read_dir(out)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("slow-started-"))
            })
            .unwrap_or(false)
    };
    wait_until(
        "job A to start the slow test",
        Duration::from_secs(60),
        || started(out.path()),
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(a.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let o = a.wait_with_output().unwrap();
    assert_eq!(o.status.code(), None, "killed by a signal");

    // Job B takes over once A's lease expires, and finishes the run.
    let mut b = job(ci.path(), "b", &server, "kill", out.path());
    b.env("FIXTURE_SLOW_MS", "10")
        .args(["-j", "2", "--lease-timeout", "1s", "slow", "short_0"]);
    let o = run(&mut b);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        ran(&report_of(ci.path(), "b"))
            .iter()
            .any(|t| t.ends_with("tests::slow"))
    );
    let o = queue_report(&server, "kill", ci.path());
    assert!(o.status.success(), "{}", text(&o));
    let all = read_json(&ci.path().join("all.json"));
    let st = statuses(&all);
    assert_eq!(st.len(), 11, "slow + short_00..09: {st:?}");
    assert!(st.values().all(|s| s == "passed"), "{st:?}");
    // `slow` started twice (the killed attempt and B's), and is counted once.
    assert_eq!(runs(out.path()).get("tests::slow"), Some(&2));
}

#[test]
fn a_job_that_joins_late_gets_work() {
    let server = RedisServer::start("late");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut first = job(ci.path(), "first", &server, "late", out.path());
    first.args(["-j", "1"]);
    let first = spawn(first);
    wait_until("half the work to be done", Duration::from_secs(60), || {
        runs(out.path()).len() >= ALL / 2
    });
    let o = run(job(ci.path(), "late", &server, "late", out.path()).args(["-j", "1"]));
    assert!(o.status.success(), "{}", text(&o));
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let late = ran(&report_of(ci.path(), "late"));
    assert!(!late.is_empty(), "the late job got no work");
    let log = runs(out.path());
    assert_eq!(log.len(), ALL);
    assert!(log.values().all(|n| *n == 1), "{log:?}");
}

/// A timings file that gets the suite badly wrong: one 50 ms test recorded as 10 s, the
/// 300 ms tests as 1 ms, the other 50 ms tests as 20 ms.
fn wrong_timings(path: &Path) {
    use shardtest::history::*;
    let mut store = TimingStore::default();
    let mut put = |name: String, ms: u64| {
        for run in ["r1", "r2"] {
            store.record(
                format!("queue-suite {name}").parse().unwrap(),
                Sample {
                    run: RunStamp {
                        id: run.into(),
                        at_unix_ms: 0,
                    },
                    duration: Duration::from_millis(ms),
                    status: SampleStatus::Passed,
                    workers: 2,
                    attributes: Default::default(),
                },
            );
        }
    };
    for i in 0..8 {
        put(format!("tests::long_{i}"), 1);
    }
    for i in 0..32 {
        put(
            format!("tests::short_{i:02}"),
            if i == 0 { 10_000 } else { 20 },
        );
    }
    put("tests::slow".into(), 1);
    put("tests::fails_when_asked".into(), 1);
    store.save(path).unwrap();
}

/// The first test start to the last test end over the jobs' reports.
fn makespan(reports: &[serde_json::Value]) -> f64 {
    let mut first = f64::MAX;
    let mut last: f64 = 0.0;
    for r in reports {
        for t in r["tests"].as_array().unwrap() {
            for a in t["attempts"].as_array().unwrap() {
                let at = a["started_at"]["secs_since_epoch"].as_f64().unwrap()
                    + a["started_at"]["nanos_since_epoch"].as_f64().unwrap() / 1e9;
                first = first.min(at);
                last = last.max(at + a["duration"].as_f64().unwrap());
            }
        }
    }
    last - first
}

#[test]
fn wrong_timings_cost_a_static_plan_far_more_than_the_queue() {
    let server = RedisServer::start("wrong");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let timings = ci.path().join("wrong.json");
    wrong_timings(&timings);
    // 4.0 s of work on 2 jobs x 2 workers; the longest test is 0.3 s.
    let bound = 4.0_f64 / 4.0;

    let mut statics = Vec::new();
    let shards: Vec<Child> = (1..=2)
        .map(|k| {
            let dir = ci.path().join(format!("static-{k}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut c = shardtest();
            c.current_dir(&dir)
                .env("FIXTURE_OUT", out.path())
                .args(["run", "--archive"])
                .arg(archive())
                .args([
                    "-j",
                    "2",
                    "--no-record-timings",
                    "--shard",
                    &format!("{k}/2"),
                    "--timings",
                ])
                .arg(&timings)
                .args(["--json", "report.json"]);
            spawn(c)
        })
        .collect();
    for (k, s) in shards.into_iter().enumerate() {
        let o = s.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        statics.push(read_json(
            &ci.path().join(format!("static-{}/report.json", k + 1)),
        ));
    }
    let jobs: Vec<Child> = (1..=2)
        .map(|k| {
            let mut c = job(ci.path(), &format!("q-{k}"), &server, "wrong", out.path());
            c.args(["-j", "2", "--no-record-timings", "--timings"])
                .arg(&timings);
            spawn(c)
        })
        .collect();
    let mut queued = Vec::new();
    for (k, j) in jobs.into_iter().enumerate() {
        let o = j.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        queued.push(report_of(ci.path(), &format!("q-{}", k + 1)));
    }
    let (stat, queue) = (makespan(&statics), makespan(&queued));
    eprintln!(
        "wrong timings, 2 jobs x 2 workers, lower bound {bound:.2}s: static plan {stat:.2}s ({:.2}x), queue {queue:.2}s ({:.2}x)",
        stat / bound,
        queue / bound
    );
    assert!(
        queue < stat * 0.8,
        "the queue should beat the static plan: {queue:.2}s vs {stat:.2}s"
    );
    assert!(
        queue <= bound * 1.35,
        "queue {queue:.2}s vs bound {bound:.2}s"
    );
}

#[test]
fn failures_mismatches_bad_passwords_and_a_lost_server_never_pass() {
    let mut server = RedisServer::start("faults");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // --fail-fast: the planted failure stops every job; the report is incomplete, not green.
    let jobs: Vec<Child> = (1..=2)
        .map(|k| {
            let mut c = job(ci.path(), &format!("ff-{k}"), &server, "ff", out.path());
            c.env("FIXTURE_FAIL", "1").args(["-j", "1", "--fail-fast"]);
            spawn(c)
        })
        .collect();
    for j in jobs {
        let o = j.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(100), "{}", text(&o));
    }
    let o = queue_report(&server, "ff", ci.path());
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("stopped by --fail-fast"),
        "{}",
        text(&o)
    );

    // A job with another test list is refused, naming the difference.
    let o = run(job(ci.path(), "m1", &server, "mismatch", out.path()).arg("long_"));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(job(ci.path(), "m2", &server, "mismatch", out.path()).arg("short_0"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("differs from the one queue run `mismatch` was seeded with"),
        "{err}"
    );
    assert!(err.contains("queue-suite tests::short_00"), "{err}");

    // A wrong password: exit 2, and the password is never printed.
    let mut c = shardtest();
    c.current_dir(ci.path())
        .args(["run", "--archive"])
        .arg(archive())
        .args([
            "--queue",
            &format!("redis://:not-the-password@127.0.0.1:{}/0", server.port),
        ])
        .args(["--queue-run", "pw"]);
    let o = run(&mut c);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(!text(&o).contains("not-the-password"), "{}", text(&o));
    assert!(text(&o).contains("refused the credentials"), "{}", text(&o));

    // Redis killed mid-run: the job retries, then fails loudly with 105; never "passed".
    let mut c = job(ci.path(), "lost", &server, "lost", out.path());
    c.args(["-j", "1", "--queue-retry", "1s"]);
    let lost = spawn(c);
    wait_until(
        "the lost job to run some tests",
        Duration::from_secs(60),
        || {
            runs(out.path())
                .keys()
                .filter(|k| k.contains("short"))
                .count()
                >= 3
        },
    );
    server.kill();
    let o = lost.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(105), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unreachable") && err.contains(":***@"),
        "{err}"
    );
    assert!(!err.contains(&server.password), "{err}");
}

#[test]
fn a_runs_keys_expire_after_the_ttl() {
    let server = RedisServer::start("ttl");
    let (ci, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let o =
        run(job(ci.path(), "j", &server, "ttl", out.path()).args(["--queue-ttl", "2s", "short_0"]));
    assert!(o.status.success(), "{}", text(&o));
    let mut con = server.connection();
    let keys = |con: &mut redis::Connection| -> BTreeMap<String, i64> {
        let names: Vec<String> = redis::cmd("KEYS")
            .arg("shardtest:ttl:*")
            .query(con)
            .unwrap();
        names
            .into_iter()
            .map(|k| {
                let ttl: i64 = redis::cmd("TTL").arg(&k).query(con).unwrap();
                (k, ttl)
            })
            .collect()
    };
    let now = keys(&mut con);
    assert!(!now.is_empty());
    assert!(now.values().all(|t| *t > 0), "every key has a TTL: {now:?}");
    let start = Instant::now();
    while !keys(&mut con).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "left: {:?}",
            keys(&mut con)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
