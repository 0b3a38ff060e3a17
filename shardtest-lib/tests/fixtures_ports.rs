//! Cross-process tests of ports, worker ids and loopback hosts. Child processes are this test
//! binary re-executed with `FIXTURES_CHILD` set, running only `child_entry`.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "FIXTURES_CHILD";
const BOUND: Duration = Duration::from_secs(120);

/// What a child does, chosen by `FIXTURES_CHILD`; a no-op in a normal run.
#[test]
fn child_entry() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out);
    let (what, n) = mode.split_once(':').unwrap_or((mode.as_str(), "0"));
    let n: usize = n.parse().unwrap_or(0);
    match what {
        // Take n ports one by one, report each, then hold them until stdin closes.
        "hold" => {
            let mut held = Vec::new();
            for _ in 0..n {
                let p = shard::port();
                let _ = writeln!(out, "PORT {p}");
                let _ = out.flush();
                held.push(p);
            }
            let _ = writeln!(out, "HELD");
            let _ = out.flush();
            wait_stdin_closed();
        }
        // Take and release ports in a (bounded) loop until killed.
        "churn" => {
            for _ in 0..100_000 {
                let ps = shard::ports(5);
                for p in &ps {
                    let _ = writeln!(out, "PORT {p}");
                }
                let _ = out.flush();
            }
        }
        // Report the worker id, then hold it until stdin closes.
        "worker" => {
            match shard::worker::try_worker_id() {
                Ok(w) => {
                    let _ = writeln!(out, "WORKER {w}");
                }
                Err(e) => {
                    let _ = writeln!(out, "ERROR {e}");
                }
            }
            let _ = out.flush();
            wait_stdin_closed();
        }
        // Hold this test's artifact dir and report it.
        "artifact" => {
            let _ = writeln!(out, "DIR {}", shard::artifact_dir().display());
            let _ = out.flush();
            wait_stdin_closed();
        }
        // A test that fails while holding a temp dir (reported through a channel: this
        // thread holds stdout's lock).
        "tempfail" => {
            let (tx, rx) = mpsc::channel();
            let r = std::thread::spawn(move || {
                let t = shard::temp_dir();
                let _ = tx.send(t.path().display().to_string());
                panic!("the test fails");
            })
            .join();
            for p in rx.try_iter() {
                let _ = writeln!(out, "TEMP {p}");
            }
            let _ = writeln!(out, "JOINED {}", r.is_err());
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn wait_stdin_closed() {
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
}

struct Kid {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

/// The port range of the child processes. They coordinate through a lock dir of their own,
/// so they cannot see the ports this process's tests hold (under the default lock dir) at the
/// same moment; a range of their own keeps the two from taking the same real port (a child
/// holding `0.0.0.0:20001` once made `cluster_nodes_have_distinct_hosts_and_bind` fail).
const KID_PORT_RANGE: &str = "10000-19999";

impl Kid {
    fn spawn(mode: &str, lock_dir: &Path, env: &[(&str, &str)]) -> Kid {
        let exe = std::env::current_exe().expect("current exe");
        let mut cmd = Command::new(exe);
        cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, mode)
            .env("SHARDTEST_LOCK_DIR", lock_dir)
            .env("SHARDTEST_PORT_RANGE", KID_PORT_RANGE)
            .env_remove("SHARDTEST_WORKER_ID")
            .env_remove("NEXTEST_TEST_GLOBAL_SLOT")
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn child");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Kid {
            child,
            stdin,
            lines: rx,
        }
    }

    /// Reads lines until one contains `marker` (bounded); returns the ports seen on the way.
    fn ports_until(&mut self, marker: &str, deadline: Instant, min_ports: usize) -> Vec<u16> {
        let mut ports = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("child did not print {marker:?} in time"));
            if let Some(i) = line.find("PORT ") {
                let p: u16 = line[i + 5..].trim().parse().expect("port number");
                ports.push(p);
                if marker == "PORT" && ports.len() >= min_ports {
                    return ports;
                }
            } else if line.contains(marker) {
                return ports;
            }
        }
    }

    /// Ports printed since the last read, without waiting.
    fn drain_ports(&mut self) -> Vec<u16> {
        self.lines
            .try_iter()
            .filter_map(|l| l.find("PORT ").and_then(|i| l[i + 5..].trim().parse().ok()))
            .collect()
    }

    fn release(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait child");
        assert!(status.success(), "child failed: {status}");
    }
}

fn port_lock_free(lock_dir: &Path, port: u16) -> bool {
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_dir.join(format!("port/{port}.lock")))
        .expect("open port lock");
    f.try_lock().is_ok()
}

fn assert_unique(ports: &[u16], what: &str) -> HashSet<u16> {
    let set: HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(
        set.len(),
        ports.len(),
        "{what}: a port was handed out twice"
    );
    set
}

/// 32 processes each take 50 ports at once and hold them: no port is handed out twice.
/// Repeated, with and without a shared fast-path start (same worker id everywhere forces
/// every process through the fallback search).
#[test]
fn stress_32_processes_50_ports_no_collision() {
    for round in 0..4 {
        let locks = tempfile::tempdir().expect("lock dir");
        let same_worker = [("SHARDTEST_WORKER_ID", "0")];
        let env: &[(&str, &str)] = if round % 2 == 1 { &same_worker } else { &[] };
        let mut kids: Vec<Kid> = (0..32)
            .map(|_| Kid::spawn("hold:50", locks.path(), env))
            .collect();
        let deadline = Instant::now() + BOUND;
        let mut all = Vec::new();
        for k in &mut kids {
            let ports = k.ports_until("HELD", deadline, 0);
            assert_eq!(ports.len(), 50);
            all.extend(ports);
        }
        let set = assert_unique(&all, &format!("round {round}"));
        assert_eq!(set.len(), 32 * 50);
        // Every one of them is still held by its process.
        for p in set.iter().take(64) {
            assert!(!port_lock_free(locks.path(), *p), "port {p} not held");
        }
        for k in kids {
            k.release();
        }
        // All released with their processes.
        for p in set.iter().take(64) {
            assert!(port_lock_free(locks.path(), *p), "port {p} still held");
        }
    }
}

/// The same with processes SIGKILLed midway: their ports become free again at once, and
/// processes started afterwards never get a port a live process holds.
#[test]
fn stress_killed_processes_release_their_ports() {
    for round in 0..2 {
        let locks = tempfile::tempdir().expect("lock dir");
        let deadline = Instant::now() + BOUND;
        let mut holders: Vec<Kid> = (0..24)
            .map(|_| Kid::spawn("hold:50", locks.path(), &[]))
            .collect();
        let mut churners: Vec<Kid> = (0..8)
            .map(|_| Kid::spawn("churn", locks.path(), &[]))
            .collect();
        let mut held = Vec::new();
        for k in &mut holders {
            held.extend(k.ports_until("HELD", deadline, 0));
        }
        let held = assert_unique(&held, "holders");
        assert_eq!(held.len(), 24 * 50);
        // Kill the churners midway (each has taken ports and is still taking more).
        let mut churned = BTreeSet::new();
        for k in &mut churners {
            churned.extend(k.ports_until("PORT", deadline, 10));
        }
        for mut k in churners {
            k.child.kill().expect("SIGKILL churner");
            k.child.wait().expect("reap churner");
            churned.extend(k.drain_ports());
        }
        // Whatever a killed process held is free now (and was never a holder's port).
        for p in &churned {
            if !held.contains(p) {
                assert!(
                    port_lock_free(locks.path(), *p),
                    "round {round}: port {p} of a killed process still locked"
                );
            }
        }
        // New processes while the holders still hold: disjoint from the holders.
        let mut late: Vec<Kid> = (0..8)
            .map(|_| Kid::spawn("hold:50", locks.path(), &[]))
            .collect();
        let mut fresh = Vec::new();
        for k in &mut late {
            fresh.extend(k.ports_until("HELD", deadline, 0));
        }
        let fresh = assert_unique(&fresh, "late processes");
        assert!(
            fresh.is_disjoint(&held),
            "a live holder's port was handed out again"
        );
        for k in holders.into_iter().chain(late) {
            k.release();
        }
    }
}

/// Under plain `cargo test` (no runner variables) concurrent processes get distinct worker
/// ids from the lock pool (0..n), and a killed process's id is reused; the runners'
/// variables win when set, and a bad value is a clear error.
#[test]
fn worker_ids_are_unique_among_concurrent_processes() {
    let locks = tempfile::tempdir().expect("lock dir");
    let deadline = Instant::now() + BOUND;
    let read_id = |k: &mut Kid| -> String {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = k
                .lines
                .recv_timeout(left)
                .expect("child reports its worker id");
            if let Some(i) = line.find("WORKER ").or_else(|| line.find("ERROR ")) {
                return line[i..].to_string();
            }
        }
    };
    // cargo test: the lock pool.
    let mut kids: Vec<Kid> = (0..16)
        .map(|_| Kid::spawn("worker", locks.path(), &[]))
        .collect();
    let per_kid: Vec<String> = kids.iter_mut().map(read_id).collect();
    let mut ids = per_kid.clone();
    ids.sort_by_key(|s| s[7..].parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..16).map(|i| format!("WORKER {i}")).collect();
    assert_eq!(ids, expected);
    // Kill one: its slot (the only free one below 16) goes to the next process.
    let mut victim = kids.remove(5);
    victim.child.kill().expect("kill");
    victim.child.wait().expect("reap");
    let mut next = Kid::spawn("worker", locks.path(), &[]);
    assert_eq!(read_id(&mut next), per_kid[5]);
    next.release();
    for k in kids {
        k.release();
    }

    // nextest: the global slot; shardtest: its worker id, which wins over nextest's.
    let mut k = Kid::spawn("worker", locks.path(), &[("NEXTEST_TEST_GLOBAL_SLOT", "7")]);
    assert_eq!(read_id(&mut k), "WORKER 7");
    k.release();
    let mut k = Kid::spawn(
        "worker",
        locks.path(),
        &[
            ("SHARDTEST_WORKER_ID", "3"),
            ("NEXTEST_TEST_GLOBAL_SLOT", "7"),
        ],
    );
    assert_eq!(read_id(&mut k), "WORKER 3");
    k.release();
    let mut k = Kid::spawn("worker", locks.path(), &[("SHARDTEST_WORKER_ID", "x")]);
    let err = read_id(&mut k);
    assert!(
        err.contains("SHARDTEST_WORKER_ID") && err.contains("not a worker id"),
        "{err}"
    );
    k.release();
}

/// Linux routes all of 127.0.0.0/8 to loopback: binding 127.0.0.x needs no setup.
#[test]
fn loopback_hosts_bind_without_setup() {
    for ip in [
        Ipv4Addr::new(127, 0, 0, 2),
        Ipv4Addr::new(127, 0, 0, 3),
        Ipv4Addr::new(127, 0, 7, 9),
        Ipv4Addr::new(127, 1, 2, 3),
    ] {
        let l = TcpListener::bind((ip, 0)).unwrap_or_else(|e| panic!("bind {ip}: {e}"));
        let addr = l.local_addr().expect("local addr");
        std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    }
}

#[test]
fn cluster_nodes_have_distinct_hosts_and_bind() {
    let c = shard::cluster(5);
    let ips: HashSet<Ipv4Addr> = c.nodes().iter().map(|n| n.ip()).collect();
    assert_eq!(ips.len(), 5);
    assert!(!ips.contains(&Ipv4Addr::LOCALHOST));
    let listeners: Vec<TcpListener> = c
        .nodes()
        .iter()
        .map(|n| TcpListener::bind(n.addr()).unwrap_or_else(|e| panic!("{n}: {e}")))
        .collect();
    assert_eq!(listeners.len(), 5);
    assert_eq!(c.seeds().len(), 5);
    for (i, n) in c.nodes().iter().enumerate() {
        assert_eq!(n.index(), i);
        assert_eq!(c.seeds()[i], n.addr());
        assert_eq!(c.peers_of(i).len(), 4);
    }
    // A second cluster at the same time never reuses a node host.
    let d = shard::cluster(3);
    assert!(d.nodes().iter().all(|n| !ips.contains(&n.ip())));
}

shard::hosts! {
    pub API = "127.0.0.2",
    pub DB = "127.0.0.3",
    external SANDBOX = "192.0.2.10",
}

#[test]
fn registry_is_inspectable_and_hosts_get_their_own_ports() {
    let all = shard::hosts::all();
    assert!(all.contains(&API) && all.contains(&DB) && all.contains(&SANDBOX));
    assert_eq!(shard::hosts::get("DB"), Some(DB));
    assert!(SANDBOX.is_external() && !API.is_external());
    assert!(shard::hosts::conflicts().is_empty());
    let a = API.port();
    let d = DB.port();
    let _la = TcpListener::bind(a.addr()).expect("bind API port");
    let _ld = TcpListener::bind(d.addr()).expect("bind DB port");
    assert_eq!(a.ip(), API.ip());
    // The allocator never hands out registry hosts.
    let c = shard::cluster(3);
    assert!(
        c.nodes()
            .iter()
            .all(|n| n.ip() != API.ip() && n.ip() != DB.ip())
    );
    let on = shard::cluster_on(&[API, DB]);
    assert_eq!(on[0].ip(), API.ip());
    assert_eq!(on[1].host(), Some(DB));
}

fn line_with(k: &mut Kid, prefix: &str) -> String {
    let deadline = Instant::now() + BOUND;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = k.lines.recv_timeout(left).expect("child reports in time");
        if let Some(i) = line.find(prefix) {
            return line[i + prefix.len()..].trim().to_string();
        }
    }
}

/// Two processes running the same test at once get distinct artifact dirs; a failing
/// test's temp dir is kept (and printed) under our runner, removed otherwise.
#[test]
fn dirs_across_processes() {
    let locks = tempfile::tempdir().expect("lock dir");
    let mut a = Kid::spawn("artifact", locks.path(), &[]);
    let mut b = Kid::spawn("artifact", locks.path(), &[]);
    let (da, db) = (line_with(&mut a, "DIR "), line_with(&mut b, "DIR "));
    assert_ne!(da, db);
    assert!(
        da.ends_with("child_entry") || db.ends_with("child_entry"),
        "{da} {db}"
    );
    a.release();
    b.release();

    for (runner, kept) in [(true, true), (false, false)] {
        let env: &[(&str, &str)] = if runner {
            &[("SHARDTEST_RUN_ID", "dirs-test")]
        } else {
            &[]
        };
        let mut k = Kid::spawn("tempfail", locks.path(), env);
        let path = line_with(&mut k, "TEMP ");
        assert_eq!(line_with(&mut k, "JOINED "), "true");
        k.release();
        let path = Path::new(&path);
        assert_eq!(path.exists(), kept, "runner={runner}: {}", path.display());
        if kept {
            std::fs::remove_dir_all(path).expect("clean up the kept dir");
        }
    }
}

#[test]
fn temp_and_artifact_dirs() {
    let t = shard::temp_dir();
    std::fs::write(t.join("f"), "x").expect("write");
    let path = t.path().to_path_buf();
    drop(t);
    assert!(!path.exists());

    let a = shard::artifact_dir();
    assert!(a.is_dir());
    assert!(
        a.ends_with("temp_and_artifact_dirs")
            || std::env::var_os("SHARDTEST_ARTIFACT_DIR").is_some(),
        "{}",
        a.display()
    );
    // Concurrent tests get their own.
    let b = std::thread::Builder::new()
        .name("some::other_test".into())
        .spawn(shard::artifact_dir)
        .expect("spawn")
        .join()
        .expect("join");
    assert_ne!(a, b);
}
