//! Finding what a test left behind: members of its process group, and daemonised
//! descendants (`setsid`, double fork) that left the group.
//!
//! The runner is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so a process whose parent
//! exits is handed to the runner rather than to PID 1. After a test's process exits, the
//! runner's children that are not test processes are such orphans. Each is attributed to
//! the test through its environment: every test process (and whatever it starts, unless it
//! clears its environment) carries `SHARDTEST_RUN_ID` and `SHARDTEST_WORKER_ID`, and a worker
//! slot runs one test process at a time, so an orphan with this run's id and this slot's
//! number came from the test that just ended on that slot.
//!
//! Limits: a descendant that clears or replaces its environment cannot be attributed (nor
//! found by the guardian, [`super::guardian`]); it is killed only if it stays in its test's
//! process group. Reading `/proc` makes this Linux-only; elsewhere only the process group is
//! checked.

use super::os::signal_group;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn group_alive(pgid: i32) -> bool {
    // Reap members that became our children (we are a subreaper) and have exited, so
    // zombies do not count as alive.
    while let Ok(status) = waitpid(Pid::from_raw(-pgid), Some(WaitPidFlag::WNOHANG)) {
        if status == nix::sys::wait::WaitStatus::StillAlive {
            break;
        }
    }
    killpg(Pid::from_raw(pgid), None::<Signal>) != Err(Errno::ESRCH)
}

/// The runner's children (all threads') that carry `run_id` and `slot` in their environment:
/// processes of the test that just ended on `slot` that were handed to the runner.
///
/// A process in the middle of `execve` shows an empty environment for a moment: when a live
/// child shows none, look again shortly (a few times) rather than miss it.
fn orphans(run_id: &str, slot: u32) -> Vec<i32> {
    let me = std::process::id() as i32;
    for _ in 0..10 {
        let (found, unsure) = matching(&children_of(me), run_id, slot);
        if !found.is_empty() || !unsure {
            return found;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Vec::new()
}

/// One look at the orphans from `run_id` and `slot` handed to the runner (no second look at
/// processes caught mid-`execve`): cheap enough to run after every test of a batch.
pub(super) fn orphans_now(run_id: &str, slot: u32) -> Vec<i32> {
    matching(&children_of(std::process::id() as i32), run_id, slot).0
}

/// Of `pids`, those whose environment carries `run_id` and `slot`; and whether a live one
/// showed no environment at all (caught mid-`execve`).
fn matching(pids: &[i32], run_id: &str, slot: u32) -> (Vec<i32>, bool) {
    let mut found = Vec::new();
    let mut unsure = false;
    let run_marker = format!("{}={run_id}", shardtest_protocol::env::RUN_ID);
    let slot_marker = format!("{}={slot}", shardtest_protocol::env::WORKER_ID);
    for &pid in pids {
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.is_empty() {
            unsure |= is_alive(pid);
            continue;
        }
        let mut run = false;
        let mut slot_ok = false;
        for kv in env.split(|b| *b == 0) {
            run |= kv == run_marker.as_bytes();
            slot_ok |= kv == slot_marker.as_bytes();
        }
        if run && slot_ok {
            found.push(pid);
        }
    }
    (found, unsure)
}

/// The process ids listed in a `/proc/.../children` file (none when it cannot be read).
fn children_in(path: &str) -> Vec<i32> {
    std::fs::read_to_string(path)
        .map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Reaps the orphans seen so far that have exited (they are our children now).
fn reap(seen: &BTreeSet<i32>) {
    for &pid in seen {
        let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    }
}

/// After the test's main process exited: true when processes it started were still alive
/// after `grace`, in its process group or daemonised (they are killed, with their own
/// process groups, and waited for, bounded).
pub(super) fn reap_leftovers(pgid: i32, run_id: &str, slot: u32, grace: Duration) -> bool {
    let mut seen = BTreeSet::new();
    let mut alive = || {
        let group = group_alive(pgid);
        reap(&seen);
        let o = orphans(run_id, slot);
        seen.extend(o.iter().copied());
        group || !o.is_empty()
    };
    if !alive() {
        return false;
    }
    let deadline = Instant::now() + grace;
    let mut wait = Duration::from_millis(1);
    while Instant::now() < deadline {
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(10));
        if !alive() {
            return false;
        }
    }
    // Kill, bounded: killing a process hands its children to us, so look again until
    // nothing of the test is left.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        signal_group(pgid, Signal::SIGKILL);
        for pid in orphans(run_id, slot) {
            seen.insert(pid);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            // A daemon that made itself a group leader takes its group with it.
            if nix::unistd::getpgid(Some(Pid::from_raw(pid))) == Ok(Pid::from_raw(pid)) {
                signal_group(pid, Signal::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(2));
        reap(&seen);
        if !group_alive(pgid) && orphans(run_id, slot).is_empty() || Instant::now() > deadline {
            break;
        }
    }
    true
}

/// The live children of process `pid` (of all its threads), from `/proc`.
///
/// A child is listed under the thread that forked it. When that thread exits (libtest runs
/// each test on a thread of its own), its children move to another thread of the process;
/// a scan that reads the exiting thread after the move and the other thread before it sees
/// the child nowhere. So the scan is repeated, bounded, until no thread came or went while
/// it ran.
pub(super) fn children_of(pid: i32) -> Vec<i32> {
    let tasks = || -> BTreeSet<String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut found = BTreeSet::new();
    for _ in 0..8 {
        let before = tasks();
        for task in &before {
            found.extend(children_in(&format!("/proc/{pid}/task/{task}/children")));
        }
        if tasks() == before {
            break;
        }
    }
    found.into_iter().collect()
}

/// Whether process `pid` exists and is not a zombie.
pub(super) fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
    })
}
