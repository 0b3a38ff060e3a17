//! Multi-node topologies on one machine: each node gets its own loopback host and port.
//!
//! ```
//! let cluster = shard::cluster(3);
//! let seeds = cluster.seeds();              // every node's address, by node index
//! for node in cluster.nodes() {
//!     let listener = std::net::TcpListener::bind(node.addr()).unwrap();
//!     // start_node(node.index(), listener, &seeds) ...
//! #   drop(listener);
//! }
//! assert_eq!(seeds.len(), 3);
//! ```
//!
//! Hosts come from an allocator over `127.0.1.1`-`127.0.255.254` (never `127.0.0.1`, never
//! an address of the [registry](mod@crate::hosts), never `.0`/`.255`), each held with a lock in
//! the lock directory for the life of the [`Cluster`], so concurrent tests on the machine
//! never share a node host; [`cluster_on`] uses registry hosts instead.
//!
//! Linux routes all of 127.0.0.0/8 to the loopback interface, so these addresses bind with no
//! setup. macOS configures only `127.0.0.1`: add aliases first (once per boot), e.g.
//! `for i in $(seq 1 16); do sudo ifconfig lo0 alias 127.0.1.$i up; done`, or use
//! [`cluster_on`] with registry hosts you aliased.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Index;

use crate::hosts::Host;
use crate::lockdir::{self, HeldLock};
use crate::port::{Port, PortError};

/// Why a cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A node's port could not be had.
    #[error("cluster node {index}: {source}")]
    Port {
        /// The node index.
        index: usize,
        /// The cause.
        source: PortError,
    },
    /// Every allocatable loopback host is held by a running test.
    #[error("no free loopback host in 127.0.1.1-127.0.255.254")]
    NoHost,
    /// The lock directory cannot be used.
    #[error("lock directory {dir}: {source}")]
    LockDir {
        /// The lock directory.
        dir: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One node of a [`Cluster`].
///
/// ```
/// let c = shard::cluster(2);
/// let n = &c[1];
/// assert_eq!(n.index(), 1);
/// assert_eq!(n.addr(), std::net::SocketAddr::from((n.ip(), n.port())));
/// ```
#[derive(Debug)]
pub struct Node {
    index: usize,
    ip: Ipv4Addr,
    host: Option<Host>,
    port: Port,
    _host_lock: Option<HeldLock>,
}

impl Node {
    /// The node's stable index, 0..n, in declaration order.
    ///
    /// ```
    /// assert_eq!(shard::cluster(1)[0].index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// The node's loopback address.
    ///
    /// ```
    /// assert!(shard::cluster(1)[0].ip().is_loopback());
    /// ```
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The node's port number (held for the life of the cluster).
    ///
    /// ```
    /// assert!(shard::cluster(1)[0].port() > 0);
    /// ```
    pub fn port(&self) -> u16 {
        *self.port
    }

    /// `ip:port`, ready to bind.
    ///
    /// ```
    /// let c = shard::cluster(1);
    /// let _l = std::net::TcpListener::bind(c[0].addr()).unwrap();
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, *self.port))
    }

    /// The registry host, for a node of [`cluster_on`].
    ///
    /// ```
    /// assert!(shard::cluster(1)[0].host().is_none());
    /// ```
    pub fn host(&self) -> Option<Host> {
        self.host
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node {} at {}", self.index, self.addr())
    }
}

/// A set of nodes, each with its own host and port. Dropping it releases them.
///
/// ```
/// let c = shard::cluster(3);
/// assert_eq!(c.len(), 3);
/// assert_eq!(c.seeds_string().split(',').count(), 3);
/// ```
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Node>,
}

impl Cluster {
    /// The nodes, by index.
    ///
    /// ```
    /// let c = shard::cluster(2);
    /// assert_eq!(c.nodes().iter().map(|n| n.index()).collect::<Vec<_>>(), vec![0, 1]);
    /// ```
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The number of nodes.
    ///
    /// ```
    /// assert_eq!(shard::cluster(2).len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no node.
    ///
    /// ```
    /// assert!(shard::cluster(0).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node's address, by node index: the seed list each node is given.
    ///
    /// ```
    /// let c = shard::cluster(3);
    /// assert_eq!(c.seeds()[2], c[2].addr());
    /// ```
    pub fn seeds(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(Node::addr).collect()
    }

    /// The seeds as `ip:port,ip:port,...`, the form most servers take on a command line.
    ///
    /// ```
    /// let c = shard::cluster(2);
    /// assert_eq!(c.seeds_string(), format!("{},{}", c[0].addr(), c[1].addr()));
    /// ```
    pub fn seeds_string(&self) -> String {
        self.seeds()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The seeds of every node except `index` (for servers that must not list themselves).
    ///
    /// ```
    /// let c = shard::cluster(3);
    /// assert_eq!(c.peers_of(0), vec![c[1].addr(), c[2].addr()]);
    /// ```
    pub fn peers_of(&self, index: usize) -> Vec<SocketAddr> {
        self.nodes
            .iter()
            .filter(|n| n.index != index)
            .map(Node::addr)
            .collect()
    }
}

impl Index<usize> for Cluster {
    type Output = Node;
    fn index(&self, i: usize) -> &Node {
        &self.nodes[i]
    }
}

/// `n` nodes, each on its own allocated loopback host with its own port; panics when they
/// cannot be had (see [`try_cluster`]).
///
/// ```
/// let c = shard::cluster(3);
/// let ips: std::collections::BTreeSet<_> = c.nodes().iter().map(|n| n.ip()).collect();
/// assert_eq!(ips.len(), 3);
/// ```
pub fn cluster(n: usize) -> Cluster {
    match try_cluster(n) {
        Ok(c) => c,
        Err(e) => panic!("shard::cluster({n}): {e}"),
    }
}

/// Like [`cluster`], returning the error instead of panicking.
///
/// ```
/// let c = shard::cluster::try_cluster(5)?;
/// assert_eq!(c.len(), 5);
/// # Ok::<(), shard::cluster::ClusterError>(())
/// ```
pub fn try_cluster(n: usize) -> Result<Cluster, ClusterError> {
    let mut nodes = Vec::with_capacity(n);
    let mut cursor = start_cursor();
    for index in 0..n {
        let (ip, lock) = allocate_host(&mut cursor)?;
        let port =
            crate::port::try_port_on(ip).map_err(|source| ClusterError::Port { index, source })?;
        nodes.push(Node {
            index,
            ip,
            host: None,
            port,
            _host_lock: Some(lock),
        });
    }
    Ok(Cluster { nodes })
}

/// One node per registry host, in the given order, each with a port unique for its host;
/// panics when a port cannot be had (see [`try_cluster_on`]).
///
/// ```
/// shard::hosts! { N1 = "127.0.0.31", N2 = "127.0.0.32", N3 = "127.0.0.33" }
/// let c = shard::cluster_on(&[N1, N2, N3]);
/// assert_eq!(c[1].ip(), N2.ip());
/// assert_eq!(c[1].host(), Some(N2));
/// ```
pub fn cluster_on(hosts: &[Host]) -> Cluster {
    match try_cluster_on(hosts) {
        Ok(c) => c,
        Err(e) => panic!("shard::cluster_on(..): {e}"),
    }
}

/// Like [`cluster_on`], returning the error instead of panicking.
///
/// ```
/// shard::hosts! { M1 = "127.0.0.34" }
/// let c = shard::cluster::try_cluster_on(&[M1])?;
/// assert_eq!(c.len(), 1);
/// # Ok::<(), shard::cluster::ClusterError>(())
/// ```
pub fn try_cluster_on(hosts: &[Host]) -> Result<Cluster, ClusterError> {
    let mut nodes = Vec::with_capacity(hosts.len());
    for (index, host) in hosts.iter().enumerate() {
        let port = crate::port::try_port_on(host.ip())
            .map_err(|source| ClusterError::Port { index, source })?;
        nodes.push(Node {
            index,
            ip: host.ip(),
            host: Some(*host),
            port,
            _host_lock: None,
        });
    }
    Ok(Cluster { nodes })
}

/// Allocatable hosts: 127.0.b.c with b in 1..=255, c in 1..=254.
const HOSTS_PER_B: u32 = 254;
const SPACE: u32 = 255 * HOSTS_PER_B;

fn host_at(i: u32) -> Ipv4Addr {
    let i = i % SPACE;
    let b = (i / HOSTS_PER_B + 1) as u8;
    let c = (i % HOSTS_PER_B + 1) as u8;
    Ipv4Addr::new(127, 0, b, c)
}

fn start_cursor() -> u32 {
    // Fast path: each worker starts in its own block of 64 hosts.
    let w = crate::worker::try_worker_id().unwrap_or(0);
    w.wrapping_mul(64) % SPACE
}

fn allocate_host(cursor: &mut u32) -> Result<(Ipv4Addr, HeldLock), ClusterError> {
    for _ in 0..SPACE {
        let ip = host_at(*cursor);
        *cursor = (*cursor + 1) % SPACE;
        if crate::hosts::is_registered(ip) {
            continue;
        }
        match lockdir::try_lock(&format!("host/{ip}")) {
            Ok(Some(l)) => return Ok((ip, l)),
            Ok(None) => continue,
            Err(source) => {
                return Err(ClusterError::LockDir {
                    dir: lockdir::lock_dir(),
                    source,
                });
            }
        }
    }
    Err(ClusterError::NoHost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_space_avoids_localhost_and_edges() {
        for i in [0, 1, 253, 254, 255, SPACE - 1, SPACE, SPACE + 7] {
            let ip = host_at(i);
            let [a, zero, b, d] = ip.octets();
            assert_eq!((a, zero), (127, 0));
            assert!(b >= 1, "{ip}");
            assert!((1..=254).contains(&d), "{ip}");
        }
        assert_eq!(host_at(0), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(host_at(254), Ipv4Addr::new(127, 0, 2, 1));
    }
}
