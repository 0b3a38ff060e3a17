//! Messages to the user on stderr outside the event stream: what the build and the history
//! are doing, warnings, errors. `say!` (crate-internal) writes one line like
//! `eprintln!`, except that a line that cannot be written (stderr closed, or on a full disk)
//! does not panic: the run goes on, the tests' processes are still cleaned up, and the
//! outputs that matter (the terminal report, JSON, JUnit) report their own failures through
//! the event stream and the exit status.

use std::io::Write;

/// Writes `args` and a newline to stderr; a failed write is dropped (see the module doc).
///
/// ```
/// shardtest::console::line(format_args!("    Building {} binaries", 3));
/// ```
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let written = err.write_fmt(args).and_then(|()| err.write_all(b"\n"));
    // Nothing useful can be done when stderr itself is gone; the exit status still tells.
    written.unwrap_or(());
}

/// `eprintln!` that never panics: formats its arguments and hands them to [`line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::line(format_args!($($arg)*))
    };
}
pub(crate) use say;
