//! Attribute and function-like macros of shardtest, re-exported by `shardtest-lib` as
//! `shard::serial`, `shard::group`, `shard::flaky`, `shard::non_critical`, `shard::threads`
//! and `shard::hosts!`.
//! Use them through `shardtest-lib`; this crate's items expand to paths under `::shard`.

use proc_macro::TokenStream;

mod attrs;
mod hosts;

/// `#[shard::serial]` / `#[shard::serial(key)]`: the test never overlaps another test of the
/// same serial key (no key is the key `""`, a set of its own), under any runner.
///
/// - `cargo test` and `cargo nextest run`: the body runs while holding the exclusive OS file
///   lock `serial/<key>` of the lock directory (`$SHARDTEST_LOCK_DIR`, default per user and
///   machine), which excludes threads of one process and other processes alike, and is
///   released by the OS if the process dies.
/// - `cargo shardtest`: the scheduler never starts two tests of one key together; the lock is
///   still taken (uncontended) and also excludes other runs on the machine.
///
/// Works on `#[test] fn` and on `async fn` tests (`#[tokio::test]` above or below it), and
/// stacks with the other shard attributes. The key is a plain name; a second key, a string,
/// or a second `#[shard::serial]` on the test is a compile error.
///
/// ```ignore
/// #[test]
/// #[shard::serial(redis)]
/// fn flushes_redis() { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn serial(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::serial(args.into(), item.into()).into()
}

/// `#[shard::group("name", max = N)]`: at most N tests of the group run at once, under any
/// runner.
///
/// - `cargo test` and `cargo nextest run`: the body runs while holding one of N slot locks
///   `group/<name>/<i>` (a cross-process counting semaphore of OS file locks).
/// - `cargo shardtest`: the scheduler starts at most N members at once; the slot is still
///   taken.
///
/// The name is 1-100 characters of `A-Z a-z 0-9 _ - .`; `max` is an integer of at least 1.
/// When tests of one group disagree on `max`, the smallest applies. A test with a serial key
/// and a group takes the serial lock first.
///
/// ```ignore
/// #[test]
/// #[shard::group("browser", max = 2)]
/// fn checkout_flow() { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn group(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::group(args.into(), item.into()).into()
}

/// `#[shard::flaky(retries = N, backoff = "200ms")]`: a failed test (a panic or a returned
/// `Err`) is run again, up to N more times, waiting `backoff`, then twice that, and so on
/// (each wait capped at 60 s). `backoff` is optional (default none), written like `"200ms"`,
/// `"2s"`, `"1m"` or `"1s 500ms"`; `retries` is 1 to 100.
///
/// - `cargo test` and `cargo nextest run`: retried inside the test (an `async` test awaits a
///   new future for each attempt); each failed attempt and a final pass are written to stderr
///   as `shardtest: flaky test NAME ...`.
/// - `cargo shardtest` (`SHARDTEST_RUN_ID` set): the body runs once; the runner retries the
///   test in a fresh process with the same backoff and reports it as FLAKY if a retry passes.
///
/// Cannot be combined with `#[should_panic]`.
///
/// ```ignore
/// #[test]
/// #[shard::flaky(retries = 3, backoff = "200ms")]
/// fn talks_to_a_slow_service() { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn flaky(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::flaky(args.into(), item.into()).into()
}

/// `#[shard::threads(N)]`: the test needs N cores (rayon, compression, a 3-node cluster) and
/// takes N of the W worker slots; `#[shard::threads("num-cpus")]` takes all of them.
///
/// - `cargo shardtest`: the scheduler never runs more than W slots' worth of tests at once,
///   and the heavy test gets its slots within a bounded wait (light tests stop starting while
///   it waits at the head of the queue); the planner counts it as N times its duration.
/// - `cargo test` and `cargo nextest run`: informational only (nothing is reserved). Under
///   nextest, say the same with a `threads-required = N` override in `.config/nextest.toml`.
///
/// N is 1 to 1024 (more than W means W). Stacks with the other shard attributes.
///
/// ```ignore
/// #[test]
/// #[shard::threads(4)]
/// fn builds_the_index() { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn threads(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::threads(args.into(), item.into()).into()
}

/// `#[shard::non_critical]`: a failure is reported but does not fail the run.
///
/// - `cargo test` and `cargo nextest run`: a panic or returned `Err` is caught, the line
///   `shardtest: non-critical test NAME failed: ...` is written to stderr (under nextest it is
///   part of the test's captured output), and the test passes. With `#[shard::flaky]`, the
///   retries come first.
/// - `cargo shardtest` (`SHARDTEST_RUN_ID` set): the test fails normally; the runner lists it
///   as a non-critical failure in the summary and reports, and the exit status stays 0.
///
/// Takes no arguments; cannot be combined with `#[should_panic]`.
///
/// ```ignore
/// #[test]
/// #[shard::non_critical]
/// fn charges_the_sandbox_card() { /* ... */ }
/// ```
#[proc_macro_attribute]
pub fn non_critical(args: TokenStream, item: TokenStream) -> TokenStream {
    attrs::non_critical(args.into(), item.into()).into()
}

/// `shard::hosts! { pub API = "127.0.0.2", pub external SANDBOX = "10.1.2.3", ... }`: the
/// central host registry. Each entry `[attrs] [vis] [external] NAME = "a.b.c.d"` becomes a
/// `const NAME: shard::hosts::Host` registered for `shard::hosts::all()`. Compile errors: a
/// duplicate name or address (pointing at both entries), an address that is not IPv4, and
/// an address outside 127.0.0.0/8 not marked `external`. See `shard::hosts`.
#[proc_macro]
pub fn hosts(input: TokenStream) -> TokenStream {
    hosts::hosts(input.into()).into()
}
