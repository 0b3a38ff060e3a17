//! The Redis queue's protocol against a real redis-server: seeding once, leases and their
//! sizes, expiry and re-queueing, duplicates counted once, fail-fast, mismatched lists,
//! wrong passwords, a lost server, the TTL and deletion.

mod common;

use common::redis_server::RedisServer;
use shardtest::event::TestStatus;
use shardtest::id::TestId;
use shardtest::queue::redis_store::{RedisOptions, RedisQueue};
use shardtest::queue::*;
use std::collections::BTreeSet;
use std::time::Duration;

fn tests(n: usize, ms: impl Fn(usize) -> u64) -> Vec<(TestId, Duration)> {
    (0..n)
        .map(|i| {
            (
                format!("pkg t{i:03}").parse().unwrap(),
                Duration::from_millis(ms(i)),
            )
        })
        .collect()
}

fn queue(server: &RedisServer, run: &str, policy: LeasePolicy) -> RedisQueue {
    let url: QueueUrl = server.url().parse().unwrap();
    RedisQueue::connect(
        &url,
        &QueueRunId::new(run).unwrap(),
        RedisOptions { policy },
    )
    .unwrap()
}

fn result(job: &JobId, id: &TestId) -> StoredResult {
    StoredResult {
        job: job.clone(),
        record: shardtest::report::json::TestRecord {
            id: id.clone(),
            status: TestStatus::Passed,
            attributes: Default::default(),
            attempts: vec![],
        },
    }
}

/// Drains the queue as one job, completing every leased test; returns the leases' sizes.
fn drain(q: &mut RedisQueue, job: &JobId, workers: u32) -> Vec<Vec<TestId>> {
    let mut leases = Vec::new();
    loop {
        match q.lease(job, workers, &[]).unwrap() {
            LeaseGrant::Tests { lease, tests } => {
                for t in &tests {
                    assert_eq!(
                        q.complete(&lease, &result(job, t)).unwrap(),
                        Completion::First
                    );
                }
                leases.push(tests);
            }
            LeaseGrant::Done => return leases,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn the_first_job_seeds_and_every_test_is_leased_exactly_once() {
    let server = RedisServer::start("pw-seed");
    // Three long tests and many short ones.
    let list = tests(60, |i| if i % 20 == 0 { 5_000 } else { 10 });
    let mut a = queue(&server, "seed", LeasePolicy::default());
    let mut b = queue(&server, "seed", LeasePolicy::default());
    assert_eq!(a.seed(&list).unwrap(), Seeded::ByThisJob);
    assert_eq!(b.seed(&list).unwrap(), Seeded::Joined);
    let (ja, jb) = (JobId::generate(), JobId::generate());
    // The first leases are the long tests, each alone.
    for _ in 0..3 {
        match a.lease(&ja, 2, &[]).unwrap() {
            LeaseGrant::Tests { lease, tests } => {
                assert_eq!(tests.len(), 1, "a long test is leased alone: {tests:?}");
                a.complete(&lease, &result(&ja, &tests[0])).unwrap();
            }
            other => panic!("{other:?}"),
        }
    }
    let mut seen: Vec<TestId> = Vec::new();
    let la = drain(&mut a, &ja, 2);
    let lb = drain(&mut b, &jb, 2);
    for l in la.iter().chain(&lb) {
        seen.extend(l.iter().cloned());
    }
    assert!(
        la.iter().any(|l| l.len() > 1),
        "short tests are batched: {la:?}"
    );
    assert_eq!(seen.len(), 57);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 57);
    let status = a.status().unwrap();
    assert_eq!(
        (status.total, status.done, status.queued, status.duplicates),
        (60, 60, 0, 0)
    );
    assert_eq!(a.results().unwrap().len(), 60);
}

#[test]
fn an_expired_lease_goes_back_and_a_late_result_counts_once() {
    let server = RedisServer::start("pw-expire");
    let policy = LeasePolicy {
        lease_timeout: Duration::from_millis(300),
        ..LeasePolicy::default()
    };
    let list = tests(3, |_| 2_000);
    let mut dead = queue(&server, "expire", policy.clone());
    let mut live = queue(&server, "expire", policy);
    dead.seed(&list).unwrap();
    live.seed(&list).unwrap();
    let (jd, jl) = (JobId::generate(), JobId::generate());
    let LeaseGrant::Tests {
        lease: lost,
        tests: held,
    } = dead.lease(&jd, 1, &[]).unwrap()
    else {
        panic!()
    };
    // The dead job never heartbeats: once its lease expires, the live job gets its test.
    let mut got = Vec::new();
    let start = std::time::Instant::now();
    while got.len() < 3 {
        match live.lease(&jl, 1, &[]).unwrap() {
            LeaseGrant::Tests { lease, tests } => {
                for t in &tests {
                    live.complete(&lease, &result(&jl, t)).unwrap();
                }
                got.extend(tests);
            }
            LeaseGrant::Wait => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "the lease never expired"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(got.contains(&held[0]), "the dead job's test was re-run");
    // The "dead" job was only slow: its result arrives late and is a duplicate.
    let mut late = result(&jd, &held[0]);
    late.record.status = TestStatus::Failed;
    assert_eq!(dead.complete(&lost, &late).unwrap(), Completion::Duplicate);
    let status = live.status().unwrap();
    assert_eq!(
        (status.done, status.duplicates, status.expired_leases),
        (3, 1, 1)
    );
    assert_eq!(live.lease(&jl, 1, &[]).unwrap(), LeaseGrant::Done);
    // The first result stands.
    let r = live.results().unwrap();
    assert!(r.iter().all(|r| r.record.status == TestStatus::Passed));
    // Heartbeats report the lost lease.
    assert_eq!(
        dead.heartbeat(&jd, std::slice::from_ref(&lost)).unwrap(),
        vec![lost]
    );
}

#[test]
fn a_different_list_is_refused_with_the_difference_named() {
    let server = RedisServer::start("pw-list");
    let mut a = queue(&server, "list", LeasePolicy::default());
    let mut b = queue(&server, "list", LeasePolicy::default());
    a.seed(&tests(5, |_| 1)).unwrap();
    let err = b.seed(&tests(6, |_| 1)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, QueueError::ListMismatch { .. }), "{msg}");
    assert!(
        msg.contains("1 only in this job") && msg.contains("pkg t005"),
        "{msg}"
    );
}

#[test]
fn fail_fast_stops_every_job_from_taking_work() {
    let server = RedisServer::start("pw-stop");
    let mut a = queue(&server, "stop", LeasePolicy::default());
    a.seed(&tests(10, |_| 1_000)).unwrap();
    let j = JobId::generate();
    assert!(matches!(
        a.lease(&j, 1, &[]).unwrap(),
        LeaseGrant::Tests { .. }
    ));
    a.stop().unwrap();
    assert_eq!(a.lease(&j, 1, &[]).unwrap(), LeaseGrant::Stopped);
    assert!(a.status().unwrap().stopped);
}

#[test]
fn a_wrong_password_and_a_lost_server_are_named_without_the_password() {
    let mut server = RedisServer::start("right-password");
    let bad: QueueUrl = format!("redis://:wrong-password@127.0.0.1:{}/0", server.port)
        .parse()
        .unwrap();
    let err = RedisQueue::connect(&bad, &QueueRunId::new("auth").unwrap(), Default::default())
        .err()
        .expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, QueueError::Auth { .. }), "{msg}");
    assert!(!msg.contains("wrong-password"), "{msg}");

    let policy = LeasePolicy {
        retry_for: Duration::from_millis(600),
        ..LeasePolicy::default()
    };
    let mut q = queue(&server, "lost", policy);
    q.seed(&tests(4, |_| 1)).unwrap();
    server.kill();
    let err = q.lease(&JobId::generate(), 1, &[]).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, QueueError::Unavailable { .. }), "{msg}");
    assert!(
        !msg.contains("right-password") && msg.contains(":***@"),
        "{msg}"
    );
    // Back, but empty (no persistence): the run is lost, never "done".
    server.restart();
    let err = q.lease(&JobId::generate(), 1, &[]).unwrap_err();
    assert!(matches!(err, QueueError::RunLost { .. }), "{err}");
}

#[test]
fn keys_expire_after_the_ttl_and_delete_removes_them() {
    let server = RedisServer::start("pw-ttl");
    let policy = LeasePolicy {
        ttl: Duration::from_secs(1),
        ..LeasePolicy::default()
    };
    let mut q = queue(&server, "ttl", policy);
    q.seed(&tests(4, |_| 1)).unwrap();
    let j = JobId::generate();
    drain(&mut q, &j, 1);
    let mut con = server.connection();
    let keys = |con: &mut redis::Connection| -> Vec<String> {
        redis::cmd("KEYS")
            .arg("shardtest:ttl:*")
            .query(con)
            .unwrap()
    };
    assert!(!keys(&mut con).is_empty());
    let start = std::time::Instant::now();
    while !keys(&mut con).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "keys left: {:?}",
            keys(&mut con)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // And `delete` removes a run at once.
    let mut q2 = queue(&server, "del", LeasePolicy::default());
    q2.seed(&tests(4, |_| 1)).unwrap();
    assert!(q2.delete().unwrap() >= 3);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg("shardtest:del:*")
        .query(&mut con)
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_acl_user_works_and_its_password_never_shows() {
    let server = RedisServer::start("pw-admin");
    let mut admin = server.connection();
    let _: String = redis::cmd("ACL")
        .arg(&["SETUSER", "ci", "on", ">ci-secret", "~shardtest:*", "+@all"])
        .query(&mut admin)
        .unwrap();
    let url: QueueUrl = format!("redis://ci:ci-secret@127.0.0.1:{}/0", server.port)
        .parse()
        .unwrap();
    assert_eq!(
        url.to_string(),
        format!("redis://ci:***@127.0.0.1:{}/0", server.port)
    );
    let mut q =
        RedisQueue::connect(&url, &QueueRunId::new("acl").unwrap(), Default::default()).unwrap();
    q.seed(&tests(3, |_| 1)).unwrap();
    assert_eq!(drain(&mut q, &JobId::generate(), 1).concat().len(), 3);
    // The same user with a wrong password is refused, naming the user but not the password.
    let bad: QueueUrl = format!("redis://ci:nope-secret@127.0.0.1:{}/0", server.port)
        .parse()
        .unwrap();
    let err = RedisQueue::connect(&bad, &QueueRunId::new("acl").unwrap(), Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("redis://ci:***@") && !err.contains("nope-secret"),
        "{err}"
    );
}

/// A redis-server that speaks only TLS, with a self-signed certificate made here.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tls_server(password: &str) -> TlsServer {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl makes a certificate");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
        ])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .arg("--tls-ca-cert-file")
        .arg(&cert)
        .args([
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--requirepass", password])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let server = TlsServer {
        child,
        port,
        _dir: dir,
    };
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "no TLS port");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

#[test]
fn tls_works_with_rediss_urls() {
    let server = tls_server("tls-secret");
    // A self-signed certificate: `#insecure` skips its verification (documented).
    let url: QueueUrl = format!("rediss://:tls-secret@127.0.0.1:{}/0#insecure", server.port)
        .parse()
        .unwrap();
    let mut q =
        RedisQueue::connect(&url, &QueueRunId::new("tls").unwrap(), Default::default()).unwrap();
    q.seed(&tests(3, |_| 1)).unwrap();
    assert_eq!(drain(&mut q, &JobId::generate(), 1).concat().len(), 3);
    assert!(q.status().unwrap().done == 3);
}

#[test]
fn a_lease_its_job_does_not_know_it_holds_comes_back_at_once() {
    let server = RedisServer::start("pw-orphan");
    let mut q = queue(&server, "orphan", LeasePolicy::default());
    q.seed(&tests(3, |_| 2_000)).unwrap();
    let j = JobId::generate();
    let LeaseGrant::Tests {
        lease,
        tests: first,
    } = q.lease(&j, 1, &[]).unwrap()
    else {
        panic!()
    };
    // Holding it, the job gets the next test; not holding it (the grant never reached it),
    // the orphaned lease's test comes back first, with no lease timeout to wait out.
    let LeaseGrant::Tests {
        lease: lease2,
        tests: second,
    } = q.lease(&j, 1, std::slice::from_ref(&lease)).unwrap()
    else {
        panic!()
    };
    assert_ne!(second, first);
    let LeaseGrant::Tests { tests: again, .. } = q.lease(&j, 1, &[lease2]).unwrap() else {
        panic!()
    };
    assert_eq!(
        again, first,
        "the orphaned lease's test is leased again at once"
    );
}
