//! The audit's bookkeeping: a new [`ConfigRun`] record for a configuration, the record of
//! one that was skipped or that ran (with its progress line), and the count of one attempt
//! of a test into its [`Tally`](super::Tally).

use super::auditor::Auditor;
use super::kind::ConfigKind;
use super::report::{ConfigRun, ConfigStatus};
use crate::id::TestId;
use std::time::Duration;

impl Auditor<'_> {
    /// A record for the next configuration, not yet run.
    pub(super) fn new_record(
        &self,
        kind: ConfigKind,
        label: String,
        workers: u32,
        repeat: u32,
    ) -> ConfigRun {
        ConfigRun {
            number: self.configs.len() + 1,
            kind,
            label,
            workers,
            seed: matches!(kind, ConfigKind::Shuffled | ConfigKind::InProcessShuffled)
                .then_some(self.opts.seed),
            only: None,
            repeat,
            status: ConfigStatus::Ran,
            estimate: Duration::ZERO,
            elapsed: Duration::ZERO,
            attempts: 0,
            failures: 0,
        }
    }

    /// Records a configuration that was not started and says so on the progress stream.
    pub(super) fn push_skipped(&mut self, mut record: ConfigRun, reason: String) {
        let _ = writeln!(
            self.progress,
            "       Audit [{:>2}] skipped {}: {reason}",
            record.number, record.label
        );
        record.status = ConfigStatus::Skipped { reason };
        self.configs.push(record);
    }

    /// Records a configuration that ran (or was stopped) and says so on the progress stream.
    pub(super) fn push_done(&mut self, record: ConfigRun) {
        if record.status == ConfigStatus::Ran {
            let e = self.elapsed_by_kind.entry(record.kind).or_default();
            *e = (*e).max(record.elapsed);
        }
        let _ = writeln!(
            self.progress,
            "       Audit [{:>2}] {}: {} runs, {} failed ({:.2}s){}",
            record.number,
            record.label,
            record.attempts,
            record.failures,
            record.elapsed.as_secs_f64(),
            match &record.status {
                ConfigStatus::Stopped { reason } => format!(", stopped: {reason}"),
                _ => String::new(),
            }
        );
        self.configs.push(record);
    }

    /// Counts one attempt of `id` in a configuration of `kind`.
    pub(super) fn tally(
        &mut self,
        id: &TestId,
        kind: ConfigKind,
        number: usize,
        passed: bool,
        tail: &str,
    ) {
        let tally = self
            .tallies
            .entry(id.clone())
            .or_default()
            .entry(kind)
            .or_default();
        tally.runs += 1;
        if !passed {
            tally.failures += 1;
            if !tally.failed_in.contains(&number) {
                tally.failed_in.push(number);
            }
            if tally.output_tail.is_empty() {
                tally.output_tail = tail.to_string();
            }
        }
    }
}
