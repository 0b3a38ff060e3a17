//! A 3-node cluster: each node on its own loopback host and port, given the seed list.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_service::{MemoryStore, NodeInfo, Service, request, serve};

/// One service per node of `cluster`, each told the whole seed list.
fn serve_cluster(cluster: &shard::Cluster) -> Vec<Service> {
    let seeds = cluster.seeds();
    cluster
        .nodes()
        .iter()
        .map(|n| {
            let info = NodeInfo {
                index: n.index(),
                seeds: seeds.clone(),
            };
            serve(n.addr(), info, Arc::new(MemoryStore::default()))
                .unwrap_or_else(|e| panic!("{n}: {e}"))
        })
        .collect()
}

#[test]
fn three_nodes_see_each_other() {
    let cluster = shard::cluster(3);
    let services = serve_cluster(&cluster);
    // Every node reaches all three (itself included); bounded wait for the listeners.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (i, svc) in services.iter().enumerate() {
        assert_eq!(
            request(svc.addr(), "GET", "/node", "").unwrap().1,
            i.to_string()
        );
        loop {
            let up = request(svc.addr(), "GET", "/peers", "").unwrap().1;
            if up == "3" {
                break;
            }
            assert!(Instant::now() < deadline, "node {i} sees {up} of 3");
            std::thread::yield_now();
        }
    }
    // Distinct hosts, none of them 127.0.0.1.
    let ips: std::collections::BTreeSet<_> = cluster.nodes().iter().map(|n| n.ip()).collect();
    assert_eq!(ips.len(), 3);
    assert!(!ips.contains(&std::net::Ipv4Addr::LOCALHOST));
}

shard::hosts! {
    pub NODE_A = "127.0.0.11",
    pub NODE_B = "127.0.0.12",
    pub NODE_C = "127.0.0.13",
}

#[test]
fn cluster_on_registry_hosts() {
    let cluster = shard::cluster_on(&[NODE_A, NODE_B, NODE_C]);
    let services = serve_cluster(&cluster);
    assert_eq!(services[1].addr().ip(), NODE_B.ip());
    assert_eq!(
        request(services[2].addr(), "GET", "/peers", "").unwrap().1,
        "3"
    );
    assert_eq!(shard::hosts::all().len(), 3);
}
