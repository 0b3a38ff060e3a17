//! OS process control for the runner itself: becoming the subreaper of the processes tests
//! leave behind, and killing a process group outright.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// On Linux, make this process the reaper of orphaned descendants so the processes a test
/// leaves behind can be found (and zombies reaped) by process group.
pub(super) fn become_subreaper() {
    // Best effort, as before: without it, leftovers that are re-parented away are simply
    // not found by process group.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Sends `signal` to every process of the group `pgid`. A group already gone is fine (the
/// processes ended by themselves), and nothing else can fail for a group this runner made.
pub(crate) fn signal_group(pgid: i32, signal: Signal) {
    killpg(Pid::from_raw(pgid), signal).unwrap_or(());
}

/// Kills every process of the group `pgid` with `SIGKILL`; a group already gone is fine.
pub(crate) fn kill_group(pgid: i32) {
    signal_group(pgid, Signal::SIGKILL);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    #[test]
    fn killing_a_group_kills_its_processes_and_a_gone_group_is_fine() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .expect("sleep starts");
        let pgid = child.id() as i32;
        kill_group(pgid);
        let status = child.wait().expect("sleep is waited for");
        assert_eq!(status.signal(), Some(Signal::SIGKILL as i32));
        kill_group(pgid);
    }
}
