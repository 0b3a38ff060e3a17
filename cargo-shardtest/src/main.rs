//! `cargo-shardtest`: thin entry point; the work is in the `shardtest` library.

/// `eprintln!` that never panics (see `shardtest::console`).
macro_rules! say {
    ($($arg:tt)*) => {
        shardtest::console::line(format_args!($($arg)*))
    };
}

use shardtest::cli::{self, Command};
use shardtest::run::Interrupter;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    // The run's guardian (see `run/guardian.rs`) is this executable in a hidden mode.
    if raw.get(1).map(String::as_str) == Some(shardtest::run::guardian::GUARDIAN_ARG) {
        return shardtest::run::guardian::main(&raw[2..]);
    }
    shardtest::run::guardian::enable();
    // The configuration file and the nextest profile, below the flags and the environment
    // (see `settings.rs`): flag > environment > file > nextest profile > default.
    let env = |k: &str| std::env::var_os(k).map(|v| v.to_string_lossy().into_owned());
    let layers = match shardtest::settings::Layers::load(&raw, &env) {
        Ok(layers) => layers,
        Err(e) => {
            say!("error: {e}");
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    layers.lines().iter().for_each(|l| say!("{l}"));
    layers.export_test_env();
    let cli = match layers.parse(cli::normalize_args(raw)) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                cli::EXIT_USAGE
            } else {
                cli::EXIT_OK
            });
        }
    };
    let interrupter = Interrupter::default();
    let handler = interrupter.clone();
    let interrupts = std::sync::atomic::AtomicU32::new(0);
    if let Err(e) = ctrlc::set_handler(move || {
        let n = interrupts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == 0 {
            say!(
                "\nshardtest: interrupted: stopping running tests and writing reports (press Ctrl-C again to quit at once)"
            );
            handler.interrupt();
        } else {
            std::process::exit(i32::from(cli::EXIT_INTERRUPTED));
        }
    }) {
        say!("warning: could not install the Ctrl-C handler: {e}");
    }
    let result = match cli.command {
        Command::Run(args) => shardtest::commands::run::run_command(*args, &interrupter),
        Command::List(args) => shardtest::commands::list::list_command(*args),
        Command::Archive(args) => shardtest::commands::archive::run(*args),
        Command::Report(args) => shardtest::commands::report::run(args),
        Command::Timeline(args) => shardtest::commands::timeline::run(args),
        Command::Audit(args) => shardtest::commands::audit::run(*args, &interrupter),
        Command::Plan(args) => shardtest::commands::plan::run(*args),
        Command::Timings(args) => shardtest::commands::timings::run(args),
        Command::Verify(args) => shardtest::commands::verify::run(args),
        Command::Clean(args) => shardtest::commands::clean::run(args),
        Command::Queue(args) => shardtest::commands::queue::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // Ctrl-C during the build or listing: cargo was interrupted too; say so, not "failed".
        Err(_) if interrupter.is_interrupted() => {
            say!("shardtest: interrupted before any test ran");
            ExitCode::from(cli::EXIT_INTERRUPTED)
        }
        Err(e) => {
            say!("error: {e:#}");
            ExitCode::from(shardtest::exit::status_of(&e).code())
        }
    }
}
