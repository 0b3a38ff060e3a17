//! Support code for the expansion of the test attributes; not a public API (`shard::__private`).
//!
//! Each attributed test puts one `TestRecord` into the `TESTS` distributed slice (a linker
//! section, so nothing runs to build it) and runs its body through `run` / `run_async`,
//! which enforce the attributes. A constructor function of this module prints the records when
//! a listing asks for them (see `crate::attrs`). Every record holds a pointer to `anchor`,
//! a function of this module, so the object file holding the constructor is always linked into
//! a test binary that uses an attribute (an unreferenced member of the library archive would be
//! dropped by the linker, and its constructor with it).

use std::any::Any;
use std::fmt::Debug;
use std::future::Future;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use crate::attrs::{self, FlakyPolicy};
use crate::lockdir::{self, HeldLock};

#[doc(hidden)]
pub use linkme;

/// Every attributed test of the binary.
#[linkme::distributed_slice]
pub static TESTS: [TestRecord];

/// What `#[shard::group]` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRecord {
    /// Group name (validated by the macro: usable as a file name).
    pub name: &'static str,
    /// Concurrency limit, at least 1.
    pub max: u32,
}

/// What `#[shard::flaky]` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlakyRecord {
    /// Retries after the first failure.
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one.
    pub backoff_ms: u64,
}

/// One attributed test, as the macros register it.
#[derive(Debug)]
pub struct TestRecord {
    /// `module_path!()` at the test (starts with the crate name).
    pub module_path: &'static str,
    /// The function's name.
    pub name: &'static str,
    /// Serial key (`""` is the global set).
    pub serial: Option<&'static str>,
    /// Concurrency group.
    pub group: Option<GroupRecord>,
    /// Retry policy.
    pub flaky: Option<FlakyRecord>,
    /// Failure reported, not fatal.
    pub non_critical: bool,
    /// Worker slots the test takes (`#[shard::threads(N)]`); `u32::MAX` is all of them.
    pub threads: Option<u32>,
    /// Always [`anchor`]: keeps this module's object file (and its constructor) linked.
    pub anchor: fn(),
}

impl TestRecord {
    /// The libtest name: the module path without the crate name, then the function name.
    pub fn test_name(&self) -> String {
        match self.module_path.split_once("::") {
            Some((_crate, rest)) => format!("{rest}::{}", self.name),
            None => self.name.to_owned(),
        }
    }
}

/// Referenced by every [`TestRecord`]; see the module documentation.
#[inline(never)]
pub fn anchor() {}

/// Prints the attribute lines before libtest's `main` when `SHARDTEST_LIST_ATTRIBUTES=1` and
/// the arguments contain `--list`; otherwise does nothing. Runs from the binary's constructor
/// section, so it must not panic.
#[ctor::ctor]
fn print_attributes_on_request() {
    if std::env::var_os(attrs::LIST_ATTRIBUTES_ENV).as_deref() != Some("1".as_ref()) {
        return;
    }
    if !std::env::args_os().any(|a| a == "--list") {
        return;
    }
    let mut text = String::new();
    for line in attrs::attribute_lines() {
        text.push_str(&line);
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// How a test body reports failure without panicking, and what "passed" looks like; the test
/// return types libtest accepts that the attributes support.
#[diagnostic::on_unimplemented(
    message = "shard attributes support tests returning `()` or `Result<(), E: Debug>`, not `{Self}`"
)]
pub trait Outcome: Sized {
    /// `Some(message)` when this value means the test failed.
    fn failure(&self) -> Option<String>;
    /// The value of a passing test.
    fn passed() -> Self;
}

impl Outcome for () {
    fn failure(&self) -> Option<String> {
        None
    }
    fn passed() -> Self {}
}

impl<E: Debug> Outcome for Result<(), E> {
    fn failure(&self) -> Option<String> {
        self.as_ref().err().map(|e| format!("returned Err({e:?})"))
    }
    fn passed() -> Self {
        Ok(())
    }
}

/// A failed attempt.
enum Failure<R> {
    Panicked(Box<dyn Any + Send>),
    Returned(R, String),
}

impl<R> Failure<R> {
    fn message(&self) -> String {
        match self {
            Failure::Panicked(payload) => panic_message(payload.as_ref()),
            Failure::Returned(_, msg) => msg.clone(),
        }
    }

    /// Fails the test the way the body did.
    fn rethrow(self) -> R {
        match self {
            Failure::Panicked(payload) => panic::resume_unwind(payload),
            Failure::Returned(r, _) => r,
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

/// Writes a line straight to the process's stderr (not through libtest's capture, which would
/// hide it for a passing test).
fn note(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "shardtest: {msg}");
}

/// What this process does for the record's attributes.
struct Plan {
    name: String,
    /// Total attempts made in this process (1 = no in-process retry).
    attempts: u32,
    policy: FlakyPolicy,
    /// Catch a final failure and pass (non-critical outside our runner).
    forgive: bool,
}

impl Plan {
    fn new(rec: &TestRecord) -> Plan {
        let under_runner = attrs::under_shardtest_runner();
        let policy = FlakyPolicy {
            retries: rec.flaky.map_or(0, |f| f.retries),
            backoff_ms: rec.flaky.map_or(0, |f| f.backoff_ms),
        };
        Plan {
            name: rec.test_name(),
            attempts: if under_runner { 1 } else { policy.retries + 1 },
            policy,
            forgive: rec.non_critical && !under_runner,
        }
    }

    /// Whether the body runs under `catch_unwind` at all.
    fn catches(&self) -> bool {
        self.attempts > 1 || self.forgive
    }

    /// After attempt `attempt` failed: the wait before the next one, or `None` when it was
    /// the last.
    fn retry_after(&self, attempt: u32, failure: &str) -> Option<Duration> {
        if attempt >= self.attempts {
            return None;
        }
        let wait = self.policy.backoff_before(attempt);
        note(&format!(
            "flaky test {} failed attempt {attempt}/{} ({failure}); retrying in {} ms",
            self.name,
            self.attempts,
            wait.as_millis()
        ));
        Some(wait)
    }

    fn passed_on(&self, attempt: u32) {
        if attempt > 1 {
            note(&format!(
                "flaky test {} passed on attempt {attempt}/{}",
                self.name, self.attempts
            ));
        }
    }

    fn finish<R: Outcome>(&self, failure: Failure<R>) -> R {
        if self.forgive {
            note(&format!(
                "non-critical test {} failed: {} (not counted as a failure)",
                self.name,
                failure.message()
            ));
            return R::passed();
        }
        failure.rethrow()
    }
}

fn classify<R: Outcome>(result: std::thread::Result<R>) -> Result<R, Failure<R>> {
    match result {
        Ok(r) => match r.failure() {
            None => Ok(r),
            Some(msg) => Err(Failure::Returned(r, msg)),
        },
        Err(payload) => Err(Failure::Panicked(payload)),
    }
}

/// The locks a test holds while its body runs: the serial lock first, then the group slot
/// (one fixed order for every test, so two tests never wait on each other in a cycle).
struct Held {
    _serial: Option<HeldLock>,
    _group: Option<HeldLock>,
}

fn serial_lock_name(key: &str) -> String {
    if key.is_empty() {
        // `@` cannot occur in a key (keys are Rust identifiers).
        "serial/@global".to_owned()
    } else {
        format!("serial/{key}")
    }
}

/// The group's limit in this binary: the smallest `max` any of its tests declares, so tests
/// that disagree still never exceed any of the limits written.
fn group_limit(group: &GroupRecord) -> u32 {
    TESTS
        .iter()
        .filter_map(|t| t.group)
        .filter(|g| g.name == group.name)
        .map(|g| g.max)
        .fold(group.max, u32::min)
        .max(1)
}

fn acquire_serial(key: &str) -> HeldLock {
    let name = serial_lock_name(key);
    lockdir::lock(&name).unwrap_or_else(|e| {
        panic!(
            "shardtest: cannot take the serial lock `{name}` in {}: {e}",
            lockdir::lock_dir().display()
        )
    })
}

fn acquire_group(group: &GroupRecord) -> HeldLock {
    let pool = format!("group/{}", group.name);
    match lockdir::acquire_slot(&pool, group_limit(group)) {
        Ok((_slot, lock)) => lock,
        Err(e) => panic!(
            "shardtest: cannot take a slot of group `{}` in {}: {e}",
            group.name,
            lockdir::lock_dir().display()
        ),
    }
}

/// Rejects a test that registered the same attribute twice. The macros reject duplicates they
/// can see, but a stack that mixes `#[shard::serial]` with a renamed import (`use
/// shard::serial; #[serial]`) expands twice, and taking one serial key twice on one test
/// would wait on itself forever.
fn check_duplicates(rec: &'static TestRecord) {
    let mut serial = 0;
    let mut group = 0;
    let mut flaky = 0;
    let mut non_critical = 0;
    let mut threads = 0;
    for other in TESTS
        .iter()
        .filter(|o| o.name == rec.name && o.module_path == rec.module_path)
    {
        serial += usize::from(other.serial.is_some());
        group += usize::from(other.group.is_some());
        flaky += usize::from(other.flaky.is_some());
        non_critical += usize::from(other.non_critical);
        threads += usize::from(other.threads.is_some());
    }
    for (count, attr) in [
        (serial, "serial"),
        (group, "group"),
        (flaky, "flaky"),
        (non_critical, "non_critical"),
        (threads, "threads"),
    ] {
        assert!(
            count <= 1,
            "shardtest: test {} carries `#[shard::{attr}]` {count} times (through a renamed \
             import?); write each attribute once",
            rec.test_name()
        );
    }
}

fn acquire(rec: &TestRecord) -> Held {
    let serial = rec.serial.map(acquire_serial);
    let group = rec.group.as_ref().map(acquire_group);
    Held {
        _serial: serial,
        _group: group,
    }
}

/// Runs a synchronous test body under its attributes (see [`crate::attrs`] for the semantics).
pub fn run<R: Outcome>(rec: &'static TestRecord, body: fn() -> R) -> R {
    (rec.anchor)();
    check_duplicates(rec);
    let plan = Plan::new(rec);
    if !plan.catches() {
        let _held = acquire(rec);
        return body();
    }
    let mut attempt = 1;
    loop {
        let result = panic::catch_unwind(|| {
            let _held = acquire(rec);
            body()
        });
        match classify(result) {
            Ok(r) => {
                plan.passed_on(attempt);
                return r;
            }
            Err(failure) => match plan.retry_after(attempt, &failure.message()) {
                Some(wait) => std::thread::sleep(wait),
                None => return plan.finish(failure),
            },
        }
        attempt += 1;
    }
}

/// Runs an `async` test body under its attributes: `body` is called again for every attempt, so
/// each retry awaits a fresh future. Waiting for a lock or a backoff happens on a helper thread,
/// so the executor thread is not blocked.
pub async fn run_async<R, F, Fut>(rec: &'static TestRecord, mut body: F) -> R
where
    R: Outcome,
    F: FnMut() -> Fut,
    Fut: Future<Output = R>,
{
    (rec.anchor)();
    check_duplicates(rec);
    let plan = Plan::new(rec);
    if !plan.catches() {
        let _held = acquire_async(rec).await;
        return body().await;
    }
    let mut attempt = 1;
    loop {
        let result = {
            let held = CatchUnwind(Box::pin(acquire_async(rec))).await;
            match held {
                Ok(_held) => CatchUnwind(Box::pin(body())).await,
                Err(payload) => Err(payload),
            }
        };
        match classify(result) {
            Ok(r) => {
                plan.passed_on(attempt);
                return r;
            }
            Err(failure) => match plan.retry_after(attempt, &failure.message()) {
                Some(wait) => off_thread(move || std::thread::sleep(wait)).await,
                None => return plan.finish(failure),
            },
        }
        attempt += 1;
    }
}

/// [`acquire`] without blocking the executor: on a helper thread when there is anything to
/// wait for.
async fn acquire_async(rec: &'static TestRecord) -> Held {
    if rec.serial.is_none() && rec.group.is_none() {
        return Held {
            _serial: None,
            _group: None,
        };
    }
    off_thread(move || acquire(rec)).await
}

/// Polls a future under `catch_unwind`.
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

struct Shared<T> {
    value: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
}

/// A blocking call run on its own thread, awaited without blocking the executor (works with
/// any async runtime: it needs none).
struct OffThread<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> OffThread<T> {
    let shared = Arc::new(Mutex::new(Shared {
        value: None,
        waker: None,
    }));
    let theirs = Arc::clone(&shared);
    std::thread::spawn(move || {
        let value = panic::catch_unwind(AssertUnwindSafe(f));
        let waker = {
            let mut s = theirs.lock().unwrap_or_else(|p| p.into_inner());
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    });
    OffThread { shared }
}

impl<T> Future for OffThread<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        match s.value.take() {
            Some(Ok(v)) => Poll::Ready(v),
            Some(Err(payload)) => {
                drop(s);
                panic::resume_unwind(payload)
            }
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
