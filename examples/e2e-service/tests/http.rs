//! Each test boots its own service on `shard::port()`: no test shares a port with any other
//! test running on the machine, under cargo test, nextest or cargo shardtest.

use std::net::SocketAddr;
use std::sync::Arc;

use e2e_service::{MemoryStore, NodeInfo, request, serve};

fn boot() -> (shard::Port, e2e_service::Service) {
    let port = shard::port();
    let addr = SocketAddr::from(([127, 0, 0, 1], *port));
    let svc = serve(addr, NodeInfo::default(), Arc::new(MemoryStore::default()))
        .unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    (port, svc)
}

#[test]
fn health_answers() {
    let (_port, svc) = boot();
    assert_eq!(
        request(svc.addr(), "GET", "/health", "").unwrap(),
        (200, "ok".into())
    );
}

#[test]
fn items_are_counted_exactly() {
    let (_port, svc) = boot();
    for i in 1..=20u64 {
        let (status, n) = request(svc.addr(), "POST", "/items", &format!("item{i}")).unwrap();
        assert_eq!((status, n), (201, i.to_string()));
    }
    assert_eq!(
        request(svc.addr(), "GET", "/items/count", "").unwrap().1,
        "20"
    );
}

#[test]
fn empty_names_are_refused() {
    let (_port, svc) = boot();
    assert_eq!(request(svc.addr(), "POST", "/items", "").unwrap().0, 400);
    assert_eq!(request(svc.addr(), "GET", "/nope", "").unwrap().0, 404);
}

#[test]
fn artifacts_and_temp_dirs_are_per_test() {
    let (port, svc) = boot();
    let log = shard::artifact_dir().join("requests.log");
    std::fs::write(&log, format!("served on {}:{port}\n", svc.addr().ip())).unwrap();
    let tmp = shard::temp_dir();
    std::fs::write(tmp.join("scratch"), "x").unwrap();
    assert!(log.is_file());
    eprintln!("worker {} wrote {}", shard::worker_id(), log.display());
}

/// Many tests at once in one process: every port distinct, every service its own.
#[test]
fn eight_services_in_parallel() {
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let (_port, svc) = boot();
                for _ in 0..=i {
                    request(svc.addr(), "POST", "/items", "x").unwrap();
                }
                request(svc.addr(), "GET", "/items/count", "").unwrap().1
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), (i + 1).to_string());
    }
}
