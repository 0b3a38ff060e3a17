//! TCP ports that no other concurrently running test on the machine holds.
//!
//! A port is handed out only when both hold at that moment:
//!
//! 1. this process took an OS file lock on `port/<number>` in the shared
//!    [lock directory](crate::lockdir) (so every cooperating test process on the machine, under
//!    `cargo shardtest`, `cargo nextest` or plain `cargo test`, in any shard, skips it), and
//! 2. the port can be bound right now on `127.0.0.1` and on the wildcard address (so a port in
//!    use by something that does not take our locks is skipped too).
//!
//! The lock is held by the returned [`Port`] guard until it is dropped; a crashed or killed
//! test releases it because the OS drops file locks of dead processes.
//!
//! Ports come from [`DEFAULT_RANGE`] (20000-31999, below the Linux ephemeral range
//! 32768-60999, so the kernel never hands them out for outgoing connections), or from
//! `SHARDTEST_PORT_RANGE=LO-HI` (inclusive). The search starts at an offset derived from
//! [`worker_id`](crate::worker_id) (a fast path: concurrent workers mostly search disjoint
//! blocks) and wraps over the whole range, so a collision of worker ids costs a few extra lock
//! attempts, never a shared port.
//!
//! Ports of a [registry host](mod@crate::hosts) (`API.port()`) are keyed by host and number:
//! two loopback hosts may hold the same number at once, but never together with a plain
//! [`port()`], which may be bound on the wildcard address.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::lockdir::{self, HeldLock};

/// Environment variable with the port range, `LO-HI` (inclusive), e.g. `20000-31999`.
pub const PORT_RANGE_ENV: &str = "SHARDTEST_PORT_RANGE";

/// The default port range (inclusive): below the Linux ephemeral range (32768-60999).
pub const DEFAULT_RANGE: (u16, u16) = (20000, 31999);

/// Size of the block of ports each worker starts its search in (the fast path).
const WORKER_BLOCK: u32 = 256;

/// Why no port could be handed out.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// `SHARDTEST_PORT_RANGE` is not of the form `LO-HI` with `0 < LO <= HI`.
    #[error("{PORT_RANGE_ENV}={value:?} is not a port range: write it as LO-HI, e.g. 20000-31999")]
    BadRange {
        /// The value found in the environment.
        value: String,
    },
    /// Every port of the range is locked by a live test or bound by some process.
    #[error(
        "no free port in {lo}-{hi}: all are held by running tests or bound by other processes \
         (widen the range with {PORT_RANGE_ENV}=LO-HI)"
    )]
    Exhausted {
        /// First port of the range.
        lo: u16,
        /// Last port of the range.
        hi: u16,
    },
    /// The address cannot be bound at all on this machine (e.g. `127.0.0.2` on macOS).
    #[error(
        "cannot bind {ip}: {source}. On Linux all of 127.0.0.0/8 is routed to loopback; on \
         macOS add the alias first: `sudo ifconfig lo0 alias {ip} up`"
    )]
    HostUnavailable {
        /// The address that cannot be bound.
        ip: Ipv4Addr,
        /// The OS error.
        source: io::Error,
    },
    /// The lock directory cannot be used.
    #[error("lock directory {dir}: {source}")]
    LockDir {
        /// The lock directory.
        dir: PathBuf,
        /// The OS error.
        source: io::Error,
    },
}

/// A TCP port held for this test until the guard is dropped. Dereferences to the number and
/// displays as it.
///
/// ```
/// let port = shard::port();
/// let listener = std::net::TcpListener::bind(("127.0.0.1", *port)).unwrap();
/// assert_eq!(listener.local_addr().unwrap().port(), *port);
/// println!("listening on 127.0.0.1:{port}");
/// ```
#[derive(Debug)]
pub struct Port {
    port: u16,
    ip: Ipv4Addr,
    _locks: Vec<HeldLock>,
}

impl Port {
    /// The port number.
    ///
    /// ```
    /// let port = shard::port();
    /// assert_eq!(port.get(), *port);
    /// ```
    pub fn get(&self) -> u16 {
        self.port
    }

    /// The address the port was checked on: `127.0.0.1` for [`port()`], the host's address for
    /// a registry host's port.
    ///
    /// ```
    /// let port = shard::port();
    /// assert_eq!(port.ip(), std::net::Ipv4Addr::LOCALHOST);
    /// ```
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `ip:port` as a socket address, ready for `TcpListener::bind`.
    ///
    /// ```
    /// let port = shard::port();
    /// let l = std::net::TcpListener::bind(port.addr()).unwrap();
    /// assert_eq!(l.local_addr().unwrap(), port.addr());
    /// ```
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((self.ip, self.port))
    }
}

impl Deref for Port {
    type Target = u16;
    fn deref(&self) -> &u16 {
        &self.port
    }
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.port, f)
    }
}

/// A port no other concurrently running test on the machine holds; panics with the reason
/// when none can be had (see [`try_port`]).
///
/// ```
/// let a = shard::port();
/// let b = shard::port();
/// assert_ne!(*a, *b);
/// ```
pub fn port() -> Port {
    match try_port() {
        Ok(p) => p,
        Err(e) => panic!("shard::port(): {e}"),
    }
}

/// Like [`port()`], returning the error instead of panicking.
///
/// ```
/// let port = shard::port::try_port()?;
/// assert!(*port > 0);
/// # Ok::<(), shard::port::PortError>(())
/// ```
pub fn try_port() -> Result<Port, PortError> {
    acquire(None)
}

/// `n` distinct ports (see [`port()`]); panics when they cannot be had.
///
/// ```
/// let ps = shard::ports(3);
/// assert_eq!(ps.len(), 3);
/// assert!(*ps[0] != *ps[1] && *ps[1] != *ps[2] && *ps[0] != *ps[2]);
/// ```
pub fn ports(n: usize) -> Vec<Port> {
    (0..n).map(|_| port()).collect()
}

/// A port unique for the loopback host `ip`: no other test holds `ip:port`, and no plain
/// [`port()`] holder has the same number. Another host may hold the same number at the same
/// time. For `127.0.0.1` (and the unspecified address) this is the same as [`try_port`].
///
/// ```
/// let p = shard::port::try_port_on("127.0.0.7".parse().unwrap())?;
/// let l = std::net::TcpListener::bind(p.addr()).unwrap();
/// # drop(l);
/// # Ok::<(), shard::port::PortError>(())
/// ```
pub fn try_port_on(ip: Ipv4Addr) -> Result<Port, PortError> {
    if ip.is_loopback() && ip != Ipv4Addr::LOCALHOST {
        acquire(Some(ip))
    } else {
        acquire(None)
    }
}

/// The configured range (inclusive).
///
/// ```
/// let (lo, hi) = shard::port::range()?;
/// assert!(lo <= hi);
/// # Ok::<(), shard::port::PortError>(())
/// ```
pub fn range() -> Result<(u16, u16), PortError> {
    match std::env::var(PORT_RANGE_ENV) {
        Ok(v) if !v.trim().is_empty() => parse_range(&v),
        _ => Ok(DEFAULT_RANGE),
    }
}

fn parse_range(v: &str) -> Result<(u16, u16), PortError> {
    let bad = || PortError::BadRange {
        value: v.to_string(),
    };
    let (lo, hi) = v.trim().split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok((lo, hi))
}

/// Where this process continues its search (0: not started yet).
static CURSOR: AtomicU32 = AtomicU32::new(0);

fn start_offset(len: u32) -> u32 {
    let c = CURSOR.load(Ordering::Relaxed);
    if c != 0 {
        return (c - 1) % len;
    }
    // Fast path: each worker starts in its own block. A failure to learn the worker id only
    // costs speed, never uniqueness.
    let w = crate::worker::try_worker_id().unwrap_or(0);
    (w.wrapping_mul(WORKER_BLOCK)) % len
}

fn lock_err(source: io::Error) -> PortError {
    PortError::LockDir {
        dir: lockdir::lock_dir(),
        source,
    }
}

fn acquire(host: Option<Ipv4Addr>) -> Result<Port, PortError> {
    let (lo, hi) = range()?;
    let len = u32::from(hi) - u32::from(lo) + 1;
    let start = start_offset(len);
    if let Some(ip) = host {
        // Fail early and clearly when the host address does not exist here (macOS).
        if let Err(e) = TcpListener::bind((ip, 0))
            && e.kind() == io::ErrorKind::AddrNotAvailable
        {
            return Err(PortError::HostUnavailable { ip, source: e });
        }
    }
    for i in 0..len {
        let off = (start + i) % len;
        let Ok(port) = u16::try_from(u32::from(lo) + off) else {
            continue;
        };
        let locks = match host {
            None => match lockdir::try_lock(&format!("port/{port}")).map_err(lock_err)? {
                Some(l) => vec![l],
                None => continue,
            },
            Some(ip) => {
                // Shared on the number (excludes plain `port()` holders, who may bind the
                // wildcard address), exclusive on host+number.
                let Some(shared) =
                    lockdir::try_lock_shared(&format!("port/{port}")).map_err(lock_err)?
                else {
                    continue;
                };
                match lockdir::try_lock(&format!("port/{ip}/{port}")).map_err(lock_err)? {
                    Some(l) => vec![shared, l],
                    None => continue,
                }
            }
        };
        if bindable(host, port) {
            CURSOR.store(off + 2, Ordering::Relaxed);
            return Ok(Port {
                port,
                ip: host.unwrap_or(Ipv4Addr::LOCALHOST),
                _locks: locks,
            });
        }
    }
    Err(PortError::Exhausted { lo, hi })
}

/// Whether the port can be bound right now where its holder may bind it.
fn bindable(host: Option<Ipv4Addr>, port: u16) -> bool {
    match host {
        Some(ip) => TcpListener::bind((ip, port)).is_ok(),
        None => {
            TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
                && TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)).is_ok()
                && match TcpListener::bind((Ipv6Addr::LOCALHOST, port)) {
                    Ok(_) => true,
                    // Any other error means no IPv6 loopback here (disabled, not configured):
                    // nothing can hold the port there either.
                    Err(e) => e.kind() != io::ErrorKind::AddrInUse,
                }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_parsing() {
        assert_eq!(parse_range("20000-20010").ok(), Some((20000, 20010)));
        assert_eq!(parse_range(" 5 - 5 ").ok(), Some((5, 5)));
        for bad in ["", "x", "10", "0-5", "9-8", "1-70000", "a-b"] {
            assert!(
                matches!(parse_range(bad), Err(PortError::BadRange { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn held_port_is_skipped_and_bindable() {
        let a = port();
        let b = port();
        assert_ne!(*a, *b);
        let _l = TcpListener::bind(("127.0.0.1", *a)).expect("bind the handed-out port");
    }

    #[test]
    fn host_ports_share_numbers_but_not_with_plain_ports() {
        let a = try_port_on(Ipv4Addr::new(127, 0, 3, 1)).expect("host port");
        let b = try_port_on(Ipv4Addr::new(127, 0, 3, 2)).expect("host port");
        let plain = port();
        assert_ne!(*plain, *a);
        assert_ne!(*plain, *b);
        // The number of `a` is free on another host.
        let other = lockdir::try_lock(&format!("port/127.0.3.9/{}", *a)).expect("lock dir");
        assert!(other.is_some());
        // But not for a plain port (shared lock held by `a`).
        assert!(
            lockdir::try_lock(&format!("port/{}", *a))
                .expect("lock dir")
                .is_none()
        );
    }
}
