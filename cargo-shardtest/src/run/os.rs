//! OS process control for the runner itself: becoming the subreaper of the processes tests
//! leave behind.

/// On Linux, make this process the reaper of orphaned descendants so the processes a test
/// leaves behind can be found (and zombies reaped) by process group.
pub(super) fn become_subreaper() {
    // Best effort, as before: without it, leftovers that are re-parented away are simply
    // not found by process group.
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}
