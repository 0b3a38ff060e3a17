//! Doctests in archives: with the sources and cargo where the archive is unpacked they run
//! through cargo there; otherwise they are taken out of the shard and reported as not run
//! ([`NotRunDoctests`]), each with the reason.

use crate::console::say;
use crate::event::ConsumerError;
use crate::list::{TestBinary, TestCase};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Makes an archive's doctest binaries runnable where it is unpacked: with a source
/// checkout (`--workspace-remap`) and cargo, they run through cargo there; otherwise each
/// is marked [`DocTarget::unavailable`](crate::list::DocTarget::unavailable) with the
/// reason. Returns the binaries and their tests.
pub fn from_archive(
    binaries: Vec<TestBinary>,
    workspace_remap: Option<&Path>,
) -> (Vec<TestBinary>, Vec<TestCase>) {
    let cargo = crate::discover::cargo_command();
    let reason = match workspace_remap {
        None => Some(
            "doctests need the sources and cargo: pass `--workspace-remap DIR` (a checkout of the same commit) on a machine with cargo".to_string(),
        ),
        Some(_) => match Command::new(&cargo)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
        {
            Ok(s) if s.success() => None,
            _ => Some(format!(
                "doctests need cargo, and `{cargo} --version` does not run here"
            )),
        },
    };
    let mut tests = Vec::new();
    let binaries = binaries
        .into_iter()
        .map(|mut b| {
            if let Some(doc) = b.doctest.as_mut() {
                tests.extend(doc.tests(&b.id));
                doc.unavailable = reason.clone();
                if reason.is_none() {
                    doc.cargo_args.extend([
                        "--manifest-path".to_string(),
                        b.package_dir.join("Cargo.toml").display().to_string(),
                    ]);
                }
            }
            b.path = PathBuf::from(&cargo);
            b
        })
        .collect();
    (binaries, tests)
}

/// Takes the doctests that cannot run here out of a shard's tests (ignored ones stay: they
/// are skipped anyway) and prints one line saying how many and why.
pub fn split_unavailable(
    tests: Vec<crate::run::ShardTest>,
) -> (Vec<crate::run::ShardTest>, Vec<TestCase>) {
    let mut not_run = Vec::new();
    let mut reason = None;
    let mut runnable = Vec::with_capacity(tests.len());
    for t in tests {
        match t
            .binary
            .doctest
            .as_ref()
            .and_then(|d| d.unavailable.as_ref())
        {
            Some(r) if !t.skip => {
                reason.get_or_insert_with(|| r.clone());
                not_run.push(t.case);
            }
            _ => runnable.push(t),
        }
    }
    if let Some(r) = reason {
        say!(
            "    Not running {} doctests of this shard (reported as not run): {r}",
            not_run.len()
        );
    }
    (runnable, not_run)
}

/// Wraps an event consumer so that right after the run starts, every doctest that cannot
/// run here (see [`from_archive`]) is reported as not run.
pub struct NotRunDoctests<'a> {
    /// The tests reported as not run.
    pub tests: Vec<TestCase>,
    /// Where events go.
    pub inner: &'a mut dyn crate::event::EventConsumer,
}

impl crate::event::EventConsumer for NotRunDoctests<'_> {
    fn on_event(&mut self, event: &crate::event::RunEvent) -> Result<(), ConsumerError> {
        self.inner.on_event(event)?;
        if matches!(event, crate::event::RunEvent::RunStarted(_)) {
            for t in std::mem::take(&mut self.tests) {
                self.inner.on_event(&crate::event::RunEvent::TestSkipped {
                    id: t.id,
                    status: crate::event::TestStatus::NotRun,
                    attributes: t.attributes,
                })?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConsumerError> {
        self.inner.flush()
    }
}
