//! A tiny item service over HTTP/1.1 (std only), shaped like the services our users test
//! end to end: a listener, a store behind a trait, and cluster peers it can reach.
//!
//! Routes: `GET /health`, `POST /items` (body: the name; answers the new count),
//! `GET /items/count`, `GET /node` (node index), `GET /peers` (how many seeds answer
//! `/health`, itself included).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Where the service keeps its items.
pub trait Store: Send + Sync + 'static {
    /// Adds an item; returns the number of items afterwards.
    fn add(&self, name: &str) -> Result<u64, String>;
    /// The number of items.
    fn count(&self) -> Result<u64, String>;
}

/// Items in memory.
#[derive(Default)]
pub struct MemoryStore(Mutex<Vec<String>>);

impl Store for MemoryStore {
    fn add(&self, name: &str) -> Result<u64, String> {
        let mut v = self.0.lock().map_err(|e| e.to_string())?;
        v.push(name.to_string());
        Ok(v.len() as u64)
    }
    fn count(&self) -> Result<u64, String> {
        Ok(self.0.lock().map_err(|e| e.to_string())?.len() as u64)
    }
}

/// A node's place in its cluster.
#[derive(Clone, Debug, Default)]
pub struct NodeInfo {
    /// Index of this node.
    pub index: usize,
    /// Every node's address (this one included).
    pub seeds: Vec<SocketAddr>,
}

/// A running service; stopped when dropped.
pub struct Service {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Service {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Starts serving on `addr` (bind errors are returned).
pub fn serve(addr: SocketAddr, node: NodeInfo, store: Arc<dyn Store>) -> io::Result<Service> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let node = Arc::new(node);
    let thread = std::thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::SeqCst) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let (store, node) = (Arc::clone(&store), Arc::clone(&node));
            std::thread::spawn(move || {
                let _ = handle(conn, &*store, &node);
            });
        }
    });
    Ok(Service {
        addr,
        stop,
        thread: Some(thread),
    })
}

fn handle(mut conn: TcpStream, store: &dyn Store, node: &NodeInfo) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).into_owned();
    let (status, text) = match (method, path) {
        ("GET", "/health") => (200, "ok".to_string()),
        ("GET", "/node") => (200, node.index.to_string()),
        ("GET", "/items/count") => match store.count() {
            Ok(n) => (200, n.to_string()),
            Err(e) => (500, e),
        },
        ("POST", "/items") if !body.is_empty() => match store.add(&body) {
            Ok(n) => (201, n.to_string()),
            Err(e) => (500, e),
        },
        ("POST", "/items") => (400, "empty name".to_string()),
        ("GET", "/peers") => {
            let up = node
                .seeds
                .iter()
                .filter(|s| matches!(request(**s, "GET", "/health", ""), Ok((200, _))))
                .count();
            (200, up.to_string())
        }
        _ => (404, "not found".to_string()),
    };
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    conn.flush()?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

/// A minimal HTTP/1.1 client: returns the status and the body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
