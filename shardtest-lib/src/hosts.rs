//! The central host registry declared with [`hosts!`](crate::hosts!), inspectable at run time.
//!
//! ```
//! shard::hosts! {
//!     /// The API under test.
//!     pub API = "127.0.0.2",
//!     pub DB = "127.0.0.3",
//!     /// A sandbox outside the machine: must be marked `external`.
//!     pub external SANDBOX = "10.1.2.3",
//! }
//!
//! assert_eq!(API.ip(), std::net::Ipv4Addr::new(127, 0, 0, 2));
//! assert!(SANDBOX.is_external());
//! assert!(shard::hosts::all().iter().any(|h| h.name() == "DB"));
//! let port = API.port(); // unique for API; DB may hold the same number at once
//! let _server = std::net::TcpListener::bind(port.addr()).unwrap();
//! ```
//!
//! Checked at compile time, each a compile error at the offending entries:
//! - a duplicate name or a duplicate address (the error points at both entries),
//! - an address that does not parse as IPv4,
//! - an address outside the loopback range 127.0.0.0/8 not marked `external`.
//!
//! On Linux every address of 127.0.0.0/8 can be bound without any setup. On macOS only
//! `127.0.0.1` exists until an alias is added, once per boot:
//! `sudo ifconfig lo0 alias 127.0.0.2 up` (one line per registry host).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};

use crate::port::Port;

/// A host of the registry.
///
/// ```
/// shard::hosts! { pub CACHE = "127.0.0.9" }
/// assert_eq!(CACHE.name(), "CACHE");
/// assert_eq!(CACHE.to_string(), "127.0.0.9");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Host {
    name: &'static str,
    ip: Ipv4Addr,
    external: bool,
}

impl Host {
    #[doc(hidden)]
    pub const fn __new(name: &'static str, octets: [u8; 4], external: bool) -> Host {
        Host {
            name,
            ip: Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]),
            external,
        }
    }

    /// The name given in `hosts!`.
    ///
    /// ```
    /// shard::hosts! { W = "127.0.0.20" }
    /// assert_eq!(W.name(), "W");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The address.
    ///
    /// ```
    /// shard::hosts! { W = "127.0.0.21" }
    /// assert!(W.ip().is_loopback());
    /// ```
    pub const fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Whether the entry was marked `external` (outside the machine).
    ///
    /// ```
    /// shard::hosts! { external REMOTE = "192.0.2.1" }
    /// assert!(REMOTE.is_external());
    /// ```
    pub const fn is_external(&self) -> bool {
        self.external
    }

    /// `ip:port`.
    ///
    /// ```
    /// shard::hosts! { W = "127.0.0.22" }
    /// assert_eq!(W.addr(80).to_string(), "127.0.0.22:80");
    /// ```
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }

    /// A port unique for this host (see [`crate::port::try_port_on`]): no concurrently
    /// running test holds it on this host, nor as a plain [`crate::port()`]. For an external
    /// host it is a plain [`crate::port()`]. Panics when none can be had.
    ///
    /// ```
    /// shard::hosts! { W = "127.0.0.23" }
    /// let p = W.port();
    /// let _l = std::net::TcpListener::bind(p.addr()).unwrap();
    /// ```
    pub fn port(&self) -> Port {
        match crate::port::try_port_on(self.ip) {
            Ok(p) => p,
            Err(e) => panic!("{}.port(): {e}", self.name),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.ip, f)
    }
}

/// Every host declared by `hosts!` in this binary (filled at link time).
#[linkme::distributed_slice]
pub static HOSTS: [Host];

#[doc(hidden)]
pub mod __private {
    pub use linkme;
}

/// Every host declared with `hosts!` in this binary, sorted by name.
///
/// ```
/// shard::hosts! { ALL_DOC = "127.0.0.24" }
/// assert!(shard::hosts::all().contains(&ALL_DOC));
/// ```
pub fn all() -> Vec<Host> {
    let mut v: Vec<Host> = HOSTS.iter().copied().collect();
    v.sort();
    v.dedup();
    v
}

/// The registry host with this name.
///
/// ```
/// shard::hosts! { BY_NAME = "127.0.0.25" }
/// assert_eq!(shard::hosts::get("BY_NAME"), Some(BY_NAME));
/// assert_eq!(shard::hosts::get("NOPE"), None);
/// ```
pub fn get(name: &str) -> Option<Host> {
    HOSTS.iter().copied().find(|h| h.name == name)
}

/// Whether a registry host uses this address (the cluster allocator avoids them).
///
/// ```
/// shard::hosts! { USED = "127.0.0.26" }
/// assert!(shard::hosts::is_registered("127.0.0.26".parse().unwrap()));
/// ```
pub fn is_registered(ip: Ipv4Addr) -> bool {
    HOSTS.iter().any(|h| h.ip == ip)
}

/// Pairs of registered hosts that share a name or an address. One `hosts!` invocation is
/// checked at compile time; this finds clashes between invocations linked into one binary
/// (for instance a registry in a helper crate and another in the test crate).
///
/// ```
/// shard::hosts! { CLASH_DOC = "127.0.0.27" }
/// assert!(shard::hosts::conflicts().iter().all(|(a, b)| a.ip() == b.ip() || a.name() == b.name()));
/// ```
pub fn conflicts() -> Vec<(Host, Host)> {
    let all = all();
    let mut out = Vec::new();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.ip == b.ip || a.name == b.name {
                out.push((*a, *b));
            }
        }
    }
    out
}
