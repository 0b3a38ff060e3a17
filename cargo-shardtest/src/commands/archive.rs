//! `cargo shardtest archive -o tests.tar.zst [--include PATH]... [BUILD OPTIONS]`.

use crate::archive::{self, ArchiveError};
pub use crate::cli::archive::ArchiveArgs;
use crate::cli::{self};
use crate::console::say;
use crate::exit::UsageError;
use anyhow::Context;

/// Runs `archive`.
///
/// ```no_run
/// use shardtest::commands::archive::{run, ArchiveArgs};
/// let code = run(ArchiveArgs { build: Default::default(), output: "t.tar.zst".into(), include: vec![] })?;
/// assert_eq!(code, 0);
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: ArchiveArgs) -> anyhow::Result<u8> {
    let mut out = crate::pipeline::build_tests(&args.build)?;
    // Doctests are recorded (they run through cargo in a checkout: `--workspace-remap`).
    if crate::discover::doctests::selection(&args.build)
        != crate::discover::doctests::DocSelection::None
    {
        let (docs, tests) = crate::discover::doctests::discover(&args.build)
            .map_err(|e| crate::exit::BuildError(e.to_string()))?;
        if !docs.is_empty() {
            say!(
                "    Recorded {} doctests of {} packages (they run with `run --archive FILE --workspace-remap CHECKOUT` where cargo is installed)",
                tests.len(),
                docs.len()
            );
        }
        out.binaries.extend(docs);
    }
    let summary = archive::create(&out, &args.include, &args.output)
        .map_err(|e| match e {
            e @ (ArchiveError::OutsideWorkspace { .. } | ArchiveError::MissingInclude(_)) => {
                anyhow::Error::new(UsageError(e.to_string()))
            }
            other => anyhow::Error::new(other),
        })
        .with_context(|| format!("writing the archive {}", args.output.display()))?;
    say!(
        "    Archived {} test binaries, {} other binaries and {} workspace files into {} ({:.1} MiB)",
        summary.binaries,
        summary.bin_exes,
        summary.files,
        args.output.display(),
        summary.bytes as f64 / (1024.0 * 1024.0)
    );
    say!(
        "    Run a shard anywhere with: cargo shardtest run --archive {} --shard K/N",
        args.output.display()
    );
    Ok(cli::EXIT_OK)
}
