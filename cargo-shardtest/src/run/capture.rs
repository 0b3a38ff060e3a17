//! How a test's output is captured, and why.
//!
//! Measured (see BENCHMARKS.md, "Output capture"): a test that prints a lot is cheapest when
//! libtest's own capture holds its `print!` output in memory and throws it away when the
//! test passes, as under `cargo test`. Passing `--nocapture` and writing everything into a
//! file or a pipe costs 10-20x more for a chatty test, because every line becomes a `write`
//! system call on an unbuffered stdout.
//!
//! So the runner never passes `--nocapture` (unless the user does, after `--`):
//!
//! - **Process mode**: stdout and stderr of the test process go to one file per worker slot
//!   (`live/slot-N.log`). libtest writes a failing test's captured output into it (its
//!   `failures:` section); what libtest cannot capture (child processes, raw file descriptors,
//!   `eprint!` from threads without the capture) goes into the same file directly, in order.
//!   A failure's file is copied to the test's artifact directory; a pass's is overwritten by
//!   the next test on that slot, and the `live/` directory is removed when the run ends.
//! - **Batch mode**: stdout and stderr share one pipe that the worker drains in large reads
//!   (256 KiB) as libtest streams its `test NAME ... ok` lines; what a test prints outside the
//!   capture arrives between its start and its result and is kept, with its `failures:`
//!   section, only if it fails.
//!
//! The trade-off: with libtest's capture, a failing test's own output and its children's
//! output are two blocks in the log instead of one interleaved stream (the children's output
//! first, then libtest's `---- NAME stdout ----` section).

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::{PipeReader, Read};
use std::os::fd::AsFd;
use std::process::Child;
use std::time::{Duration, Instant};

/// Bytes read from an output pipe at once.
const READ_SIZE: usize = 256 * 1024;

/// After the test process exited, how long to keep reading a pipe that processes it left
/// behind still hold open (they are found and killed afterwards).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(200);

/// Reads `reader` line by line until it ends, or until `child` has exited and the pipe has
/// had nothing more to say for a moment (a leftover process that inherited the pipe must
/// not hold the worker). `on` gets each complete line (without its `\n`, `true`) and, after
/// each read, the unfinished last line if there is one (`false`).
pub(super) fn read_until_exit(
    mut reader: PipeReader,
    child: &mut Child,
    mut on: impl FnMut(&[u8], bool),
) {
    let mut buf = vec![0u8; READ_SIZE];
    let mut pending: Vec<u8> = Vec::new();
    let mut exited: Option<Instant> = None;
    let mut checked = Instant::now();
    loop {
        // A process left behind may keep the pipe busy after the test exited: look at the
        // test process now and then even while output flows.
        if exited.is_none() && checked.elapsed() > Duration::from_millis(100) {
            checked = Instant::now();
            if let Ok(Some(_)) = child.try_wait() {
                exited = Some(Instant::now());
            }
        }
        let wait = if exited.is_some() {
            PollTimeout::from(20u16)
        } else {
            PollTimeout::from(100u16)
        };
        let ready = {
            let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => true, // let read report it
            }
        };
        if !ready {
            match exited {
                Some(_) => break,
                None => {
                    if let Ok(Some(_)) = child.try_wait() {
                        exited = Some(Instant::now());
                    }
                    continue;
                }
            }
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        let mut start_of_line = 0;
        while let Some(nl) = memchr::memchr(b'\n', &pending[start_of_line..]) {
            on(&pending[start_of_line..start_of_line + nl], true);
            start_of_line += nl + 1;
        }
        pending.drain(..start_of_line);
        if !pending.is_empty() {
            on(&pending, false);
        }
        if exited.is_some_and(|at| at.elapsed() > DRAIN_AFTER_EXIT) {
            break;
        }
    }
}
