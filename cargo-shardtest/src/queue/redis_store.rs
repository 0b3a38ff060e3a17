//! [`WorkQueue`] on Redis. Every state change is one Lua script, so it is atomic on the
//! server; time is the server's (`TIME`), so the jobs' clocks do not matter.
//!
//! Keys, all under `shardtest:<run>:` and all expiring after the TTL (default 24 h):
//! `meta` (hash: list fingerprint, total, stop flag, expired-lease count), `queue` (list of
//! test ids, front first), `est` (hash: test -> predicted microseconds), `remaining` (the
//! queued work in microseconds), `leases` (sorted set: lease -> deadline in ms), `lease:<id>`
//! (list of its unfinished tests), `owners` (hash: lease -> job), `done` (hash: test -> its
//! stored result, first one wins), `dups` (hash: test -> duplicate results) and `jobs` (hash:
//! job -> last heartbeat).
//!
//! A single Redis server is assumed (the scripts build key names, which Redis Cluster does not
//! allow).

use super::WorkQueue;
use super::lease::LeasePolicy;
use super::types::*;
use super::url::QueueUrl;
use crate::id::TestId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Lua shared by the scripts that return a lease's tests to the queue (an expired or
/// orphaned lease in LEASE, a released one in RELEASE): the tests not done yet go back to the
/// front of the queue in their order, with their estimates, and the lease is dropped.
macro_rules! give_back_lua {
    () => {
        r#"
local function give_back(p, l, tests)
  for i = #tests, 1, -1 do
    if redis.call('HEXISTS', p..'done', tests[i]) == 0 then
      redis.call('LPUSH', p..'queue', tests[i])
      redis.call('INCRBY', p..'remaining', tonumber(redis.call('HGET', p..'est', tests[i]) or 0))
    end
  end
  redis.call('DEL', p..'lease:'..l)
  redis.call('ZREM', p..'leases', l)
  redis.call('HDEL', p..'owners', l)
end
"#
    };
}

const SEED: &str = r#"
local p = ARGV[1]
local existing = redis.call('HGET', p..'meta', 'fingerprint')
if existing then return {0, existing} end
local n = tonumber(ARGV[4])
local sum = 0
for i = 0, n - 1 do
  local id = ARGV[5 + 2 * i]
  local e = tonumber(ARGV[6 + 2 * i])
  redis.call('RPUSH', p..'queue', id)
  redis.call('HSET', p..'est', id, e)
  sum = sum + e
end
local t = redis.call('TIME')
redis.call('HSET', p..'meta', 'fingerprint', ARGV[2], 'total', n, 'seeded_at', t[1], 'expired', 0)
redis.call('SET', p..'remaining', sum)
for _, k in ipairs({'meta', 'queue', 'est', 'remaining'}) do
  redis.call('EXPIRE', p..k, ARGV[3])
end
return {1, ARGV[2]}
"#;

/// Requeues expired leases, then takes a lease. Returns `{'gone'}`, `{'stopped'}`,
/// `{'done'}`, `{'wait'}` or `{'lease', id, tests...}`.
const LEASE: &str = concat!(
    give_back_lua!(),
    r#"
local p = ARGV[1]
local job, workers, lease_ms = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local max_work, max_tests, ttl = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('EXISTS', p..'meta') == 0 then return {'gone'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', p..'jobs', job, now)
local expired = redis.call('ZRANGEBYSCORE', p..'leases', '-inf', now)
-- A lease this job owns but no longer holds (ARGV[8..] lists what it holds) is orphaned:
-- it goes back at once rather than when it expires.
local held = {}
for i = 8, #ARGV do held[ARGV[i]] = true end
local owners = redis.call('HGETALL', p..'owners')
for i = 1, #owners, 2 do
  if owners[i + 1] == job and not held[owners[i]] then table.insert(expired, owners[i]) end
end
for _, l in ipairs(expired) do
  give_back(p, l, redis.call('LRANGE', p..'lease:'..l, 0, -1))
  redis.call('HINCRBY', p..'meta', 'expired', 1)
end
if redis.call('HGET', p..'meta', 'stop') == '1' then return {'stopped'} end
-- Live jobs: seen within three lease timeouts.
local live = 0
local jobs = redis.call('HGETALL', p..'jobs')
for i = 1, #jobs, 2 do
  if now - tonumber(jobs[i + 1]) < 3 * lease_ms then live = live + 1 end
end
if live < 1 then live = 1 end
local remaining = tonumber(redis.call('GET', p..'remaining') or 0)
local cap = math.floor(remaining / (4 * live * workers))
if cap > max_work then cap = max_work end
-- At least a share of the queued tests by count (an eighth of a worker's fair share), so a
-- suite whose estimates are guesses still gets leases worth a process start; it shrinks to
-- one near the end.
local min_tests = math.ceil(redis.call('LLEN', p..'queue') / (8 * live * workers))
local taken, work = {}, 0
while #taken < max_tests do
  local id = redis.call('LPOP', p..'queue')
  if not id then break end
  if redis.call('HEXISTS', p..'done', id) == 0 then
    local e = tonumber(redis.call('HGET', p..'est', id) or 0)
    if #taken > 0 and (e > cap or (work + e > cap and #taken >= min_tests)) then
      redis.call('LPUSH', p..'queue', id)
      break
    end
    table.insert(taken, id)
    work = work + e
    -- A long test is leased alone.
    if e > cap then break end
  end
end
if #taken == 0 then
  if redis.call('ZCARD', p..'leases') > 0 then return {'wait'} end
  return {'done'}
end
local seq = redis.call('HINCRBY', p..'meta', 'leases', 1)
local lid = job..':'..seq
redis.call('RPUSH', p..'lease:'..lid, unpack(taken))
redis.call('ZADD', p..'leases', now + lease_ms, lid)
redis.call('HSET', p..'owners', lid, job)
redis.call('DECRBY', p..'remaining', work)
for _, k in ipairs({'lease:'..lid, 'leases', 'owners', 'jobs'}) do
  redis.call('EXPIRE', p..k, ttl)
end
local out = {'lease', lid}
for _, id in ipairs(taken) do table.insert(out, id) end
return out
"#
);

/// Extends the given leases; returns those that no longer exist.
const HEARTBEAT: &str = r#"
local p = ARGV[1]
if redis.call('EXISTS', p..'meta') == 0 then return {'gone'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', p..'jobs', ARGV[2], now)
local lost = {'ok'}
for i = 4, #ARGV do
  if redis.call('ZADD', p..'leases', 'XX', 'CH', now + tonumber(ARGV[3]), ARGV[i]) == 0
     and redis.call('ZSCORE', p..'leases', ARGV[i]) == false then
    table.insert(lost, ARGV[i])
  end
end
return lost
"#;

/// Stores results, `(lease, test, result)` triples after the prefix and TTL: the first
/// result of a test wins (an identical repeat is not a duplicate), and each test leaves its
/// lease. Returns `first` or `duplicate` per triple, or `{'gone'}`.
const COMPLETE: &str = r#"
local p, ttl = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p..'meta') == 0 then return {'gone'} end
local out = {}
for i = 3, #ARGV, 3 do
  local lid, id, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local outcome = 'first'
  if redis.call('HSETNX', p..'done', id, result) == 0 then
    if redis.call('HGET', p..'done', id) ~= result then
      redis.call('HINCRBY', p..'dups', id, 1)
      redis.call('EXPIRE', p..'dups', ttl)
      outcome = 'duplicate'
    end
  end
  redis.call('LREM', p..'lease:'..lid, 0, id)
  if redis.call('LLEN', p..'lease:'..lid) == 0 then
    redis.call('ZREM', p..'leases', lid)
    redis.call('HDEL', p..'owners', lid)
  end
  table.insert(out, outcome)
end
redis.call('EXPIRE', p..'done', ttl)
return out
"#;

/// Puts unstarted tests of a lease back at the front of the queue and drops the lease.
const RELEASE: &str = concat!(
    give_back_lua!(),
    r#"
local p = ARGV[1]
local lid = ARGV[2]
if redis.call('EXISTS', p..'meta') == 0 then return 'gone' end
give_back(p, lid, {unpack(ARGV, 3)})
return 'ok'
"#
);

/// Options of a Redis queue connection.
#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// Lease sizes, timeouts and the TTL.
    pub policy: LeasePolicy,
}

/// A connection to one queue run on a Redis server.
pub struct RedisQueue {
    url: QueueUrl,
    run: QueueRunId,
    prefix: String,
    policy: LeasePolicy,
    client: redis::Client,
    con: Option<redis::Connection>,
    fingerprint: Option<String>,
}

impl RedisQueue {
    /// Connects (retrying with backoff for the policy's `retry_for`) to the run `run` at
    /// `url`. A refused password is reported at once.
    pub fn connect(
        url: &QueueUrl,
        run: &QueueRunId,
        options: RedisOptions,
    ) -> Result<Self, QueueError> {
        let client = redis::Client::open(url.secret()).map_err(|e| {
            QueueError::BadUrl(format!(
                "`{url}` is not a usable Redis URL: {}",
                scrub(&e.to_string(), url)
            ))
        })?;
        let mut q = RedisQueue {
            url: url.clone(),
            prefix: format!("shardtest:{run}:"),
            run: run.clone(),
            policy: options.policy,
            client,
            con: None,
            fingerprint: None,
        };
        q.with_retry(|con| redis::cmd("PING").query::<String>(con))?;
        Ok(q)
    }

    /// The run's key prefix (`shardtest:<run>:`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The lease policy in use.
    pub fn policy(&self) -> &LeasePolicy {
        &self.policy
    }

    /// Runs `op` on a connection, reconnecting with exponential backoff (50 ms doubling to
    /// 2 s) on I/O errors for at most the policy's `retry_for`.
    fn with_retry<T>(
        &mut self,
        mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, QueueError> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let attempt = match self.con.as_mut() {
                Some(con) => op(con),
                None => match self
                    .client
                    .get_connection_with_timeout(Duration::from_secs(5))
                {
                    Ok(mut con) => {
                        let _ = con.set_read_timeout(Some(Duration::from_secs(20)));
                        let _ = con.set_write_timeout(Some(Duration::from_secs(20)));
                        let r = op(&mut con);
                        self.con = Some(con);
                        r
                    }
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(v) => return Ok(v),
                Err(e) if is_auth(&e) => {
                    return Err(QueueError::Auth {
                        url: self.url.to_string(),
                        message: scrub(&e.to_string(), &self.url),
                    });
                }
                Err(e) if is_transient(&e) => {
                    self.con = None;
                    if start.elapsed() >= self.policy.retry_for {
                        return Err(QueueError::Unavailable {
                            url: self.url.to_string(),
                            message: scrub(&e.to_string(), &self.url),
                            retried: start.elapsed(),
                        });
                    }
                    std::thread::sleep(
                        pause.min(self.policy.retry_for.saturating_sub(start.elapsed())),
                    );
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return Err(QueueError::Server {
                        url: self.url.to_string(),
                        message: scrub(&e.to_string(), &self.url),
                    });
                }
            }
        }
    }

    fn gone(&self) -> QueueError {
        QueueError::RunLost {
            url: self.url.to_string(),
            run: self.run.to_string(),
        }
    }

    fn ttl_secs(&self) -> u64 {
        self.policy.ttl.as_secs().max(1)
    }
}

/// `HGETALL meta`, `LLEN queue`, `HLEN done`, `HGETALL dups`, `HGETALL owners`.
type StatusReply = (
    BTreeMap<String, String>,
    usize,
    usize,
    BTreeMap<String, usize>,
    BTreeMap<String, String>,
);

fn is_auth(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || text.contains("WRONGPASS")
        || text.contains("NOAUTH")
        || text.contains("invalid password")
}

fn is_transient(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.to_string().contains("LOADING")
}

/// An error's text with the password masked, whatever the client put in it.
fn scrub(text: &str, url: &QueueUrl) -> String {
    let mut t = text.replace(url.secret(), &url.to_string());
    if let Some(pw) = url.password() {
        t = t.replace(pw, "***");
    }
    t
}

fn script(src: &'static str) -> redis::Script {
    redis::Script::new(src)
}

impl WorkQueue for RedisQueue {
    fn seed(&mut self, tests: &[(TestId, Duration)]) -> Result<Seeded, QueueError> {
        let ids: Vec<TestId> = tests.iter().map(|(id, _)| id.clone()).collect();
        let fingerprint = list_fingerprint(&ids);
        // Longest predicted first, ties by id: the order every job would compute.
        let mut ordered: Vec<&(TestId, Duration)> = tests.iter().collect();
        ordered.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ordered.dedup_by(|a, b| a.0 == b.0);
        let s = script(SEED);
        let prefix = self.prefix.clone();
        let ttl = self.ttl_secs();
        let (fp_for_call, n) = (fingerprint.clone(), ordered.len());
        let (seeded, theirs): (i64, String) = self.with_retry(|con| {
            let mut inv = s.prepare_invoke();
            inv.arg(&prefix).arg(&fp_for_call).arg(ttl).arg(n);
            for (id, est) in &ordered {
                inv.arg(id.to_string())
                    .arg(est.as_micros().min(u64::MAX as u128) as u64);
            }
            inv.invoke(con)
        })?;
        if theirs != fingerprint {
            let queued = self.seeded_tests()?;
            let here: std::collections::BTreeSet<String> =
                ids.iter().map(|t| t.to_string()).collect();
            let there: std::collections::BTreeSet<String> =
                queued.iter().map(|t| t.to_string()).collect();
            return Err(QueueError::ListMismatch {
                run: self.run.to_string(),
                ours: fingerprint,
                theirs,
                only_here: here.difference(&there).cloned().collect(),
                only_there: there.difference(&here).cloned().collect(),
            });
        }
        self.fingerprint = Some(fingerprint);
        Ok(if seeded == 1 {
            Seeded::ByThisJob
        } else {
            Seeded::Joined
        })
    }

    fn lease(
        &mut self,
        job: &JobId,
        workers: u32,
        held: &[LeaseId],
    ) -> Result<LeaseGrant, QueueError> {
        let s = script(LEASE);
        let (prefix, ttl) = (self.prefix.clone(), self.ttl_secs());
        let p = self.policy.clone();
        let held = held.to_vec();
        let reply: Vec<String> = self.with_retry(|con| {
            let mut inv = s.prepare_invoke();
            inv.arg(&prefix)
                .arg(&job.0)
                .arg(workers.max(1))
                .arg(p.lease_timeout.as_millis() as u64)
                .arg(p.max_work.as_micros() as u64)
                .arg(p.max_tests.max(1))
                .arg(ttl);
            for l in &held {
                inv.arg(&l.0);
            }
            inv.invoke(con)
        })?;
        match reply.first().map(String::as_str) {
            Some("gone") => Err(self.gone()),
            Some("stopped") => Ok(LeaseGrant::Stopped),
            Some("done") => Ok(LeaseGrant::Done),
            Some("wait") => Ok(LeaseGrant::Wait),
            Some("lease") if reply.len() >= 3 => {
                let mut tests = Vec::with_capacity(reply.len() - 2);
                for t in &reply[2..] {
                    tests.push(t.parse::<TestId>().map_err(|e| QueueError::Server {
                        url: self.url.to_string(),
                        message: format!("the queue holds an id that is not a test id: {t}: {e}"),
                    })?);
                }
                Ok(LeaseGrant::Tests {
                    lease: LeaseId(reply[1].clone()),
                    tests,
                })
            }
            other => Err(QueueError::Server {
                url: self.url.to_string(),
                message: format!("unexpected reply to a lease: {other:?}"),
            }),
        }
    }

    fn heartbeat(&mut self, job: &JobId, leases: &[LeaseId]) -> Result<Vec<LeaseId>, QueueError> {
        let s = script(HEARTBEAT);
        let prefix = self.prefix.clone();
        let ms = self.policy.lease_timeout.as_millis() as u64;
        let reply: Vec<String> = self.with_retry(|con| {
            let mut inv = s.prepare_invoke();
            inv.arg(&prefix).arg(&job.0).arg(ms);
            for l in leases {
                inv.arg(&l.0);
            }
            inv.invoke(con)
        })?;
        if reply.first().map(String::as_str) == Some("gone") {
            return Err(self.gone());
        }
        Ok(reply.into_iter().skip(1).map(LeaseId).collect())
    }

    fn complete(
        &mut self,
        lease: &LeaseId,
        result: &StoredResult,
    ) -> Result<Completion, QueueError> {
        let mut out = self.complete_many(&[(lease.clone(), result.clone())])?;
        Ok(out.pop().unwrap_or(Completion::First))
    }

    fn complete_many(
        &mut self,
        results: &[(LeaseId, StoredResult)],
    ) -> Result<Vec<Completion>, QueueError> {
        if results.is_empty() {
            return Ok(Vec::new());
        }
        let s = script(COMPLETE);
        let (prefix, ttl) = (self.prefix.clone(), self.ttl_secs());
        let mut triples = Vec::with_capacity(results.len());
        for (lease, r) in results {
            let json = serde_json::to_string(r).map_err(|e| QueueError::Server {
                url: self.url.to_string(),
                message: format!("encoding a result: {e}"),
            })?;
            triples.push((lease.0.clone(), r.record.id.to_string(), json));
        }
        let reply: Vec<String> = self.with_retry(|con| {
            let mut inv = s.prepare_invoke();
            inv.arg(&prefix).arg(ttl);
            for (lease, id, json) in &triples {
                inv.arg(lease).arg(id).arg(json);
            }
            inv.invoke(con)
        })?;
        if reply.first().map(String::as_str) == Some("gone") {
            return Err(self.gone());
        }
        Ok(reply
            .iter()
            .map(|r| {
                if r == "duplicate" {
                    Completion::Duplicate
                } else {
                    Completion::First
                }
            })
            .collect())
    }

    fn release(&mut self, lease: &LeaseId, unstarted: &[TestId]) -> Result<(), QueueError> {
        let s = script(RELEASE);
        let prefix = self.prefix.clone();
        let reply: String = self.with_retry(|con| {
            let mut inv = s.prepare_invoke();
            inv.arg(&prefix).arg(&lease.0);
            for t in unstarted {
                inv.arg(t.to_string());
            }
            inv.invoke(con)
        })?;
        if reply == "gone" {
            return Err(self.gone());
        }
        Ok(())
    }

    fn stop(&mut self) -> Result<(), QueueError> {
        let key = format!("{}meta", self.prefix);
        self.with_retry(|con| {
            redis::cmd("HSET")
                .arg(&key)
                .arg("stop")
                .arg("1")
                .query::<i64>(con)
        })?;
        Ok(())
    }

    fn status(&mut self) -> Result<QueueStatus, QueueError> {
        let p = self.prefix.clone();
        let (meta, queued, done, dups, owners): StatusReply = self.with_retry(|con| {
            redis::pipe()
                .cmd("HGETALL")
                .arg(format!("{p}meta"))
                .cmd("LLEN")
                .arg(format!("{p}queue"))
                .cmd("HLEN")
                .arg(format!("{p}done"))
                .cmd("HGETALL")
                .arg(format!("{p}dups"))
                .cmd("HGETALL")
                .arg(format!("{p}owners"))
                .query(con)
        })?;
        let mut leased: BTreeMap<String, usize> = BTreeMap::new();
        for (lid, job) in owners {
            let key = format!("{p}lease:{lid}");
            let n: usize = self.with_retry(|con| redis::cmd("LLEN").arg(&key).query(con))?;
            if n > 0 {
                *leased.entry(job).or_default() += n;
            }
        }
        Ok(QueueStatus {
            exists: !meta.is_empty(),
            total: meta.get("total").and_then(|v| v.parse().ok()).unwrap_or(0),
            queued,
            leased,
            done,
            duplicates: dups.values().sum(),
            expired_leases: meta
                .get("expired")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            stopped: meta.get("stop").is_some_and(|v| v == "1"),
            fingerprint: meta.get("fingerprint").cloned(),
        })
    }

    fn results(&mut self) -> Result<Vec<StoredResult>, QueueError> {
        let key = format!("{}done", self.prefix);
        let all: BTreeMap<String, String> =
            self.with_retry(|con| redis::cmd("HGETALL").arg(&key).query(con))?;
        let mut out = Vec::with_capacity(all.len());
        for (id, json) in all {
            let r: StoredResult = serde_json::from_str(&json).map_err(|e| QueueError::Server {
                url: self.url.to_string(),
                message: format!("the stored result of {id} is not readable: {e}"),
            })?;
            out.push(r);
        }
        out.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(out)
    }

    fn seeded_tests(&mut self) -> Result<Vec<TestId>, QueueError> {
        let key = format!("{}est", self.prefix);
        let ids: Vec<String> = self.with_retry(|con| redis::cmd("HKEYS").arg(&key).query(con))?;
        let mut out: Vec<TestId> = ids.iter().filter_map(|i| i.parse().ok()).collect();
        out.sort();
        Ok(out)
    }

    fn delete(&mut self) -> Result<usize, QueueError> {
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = self.with_retry(|con| {
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(con)?;
                keys.extend(batch);
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })?;
        if keys.is_empty() {
            return Ok(0);
        }
        let n: usize = self.with_retry(|con| redis::cmd("DEL").arg(&keys).query(con))?;
        Ok(n)
    }
}
