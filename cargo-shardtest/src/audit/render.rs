//! The human form of an [`AuditReport`]: the table of configurations, each suspect with its
//! evidence, failure lines, other test and replay commands, the culprits, and the summary
//! lines. [`key_lines`] picks the lines of a failure's output worth showing.

use super::classify::CauseClass;
use super::culprit::Relation;
use super::kind::ConfigKind;
use super::report::{AuditReport, ConfigStatus, Culprit, Suspect};
use std::collections::BTreeMap;
use std::fmt;

/// The lines of a failure's output worth showing in a table: the panic line and its message
/// (or the last lines), at most `max` lines.
///
/// ```
/// let tail = "running 1 test\nthread 't' panicked at src/lib.rs:3:5:\nboom\nnote: run with `RUST_BACKTRACE=1`\n";
/// assert_eq!(shardtest::audit::key_lines(tail, 2), vec!["thread 't' panicked at src/lib.rs:3:5:", "boom"]);
/// ```
pub fn key_lines(tail: &str, max: usize) -> Vec<String> {
    let lines: Vec<&str> = tail
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect();
    if let Some(p) = lines.iter().position(|l| l.contains("panicked at")) {
        return lines[p..]
            .iter()
            .take_while(|l| !l.starts_with("note:") && !l.starts_with("stack backtrace:"))
            .take(max)
            .map(|l| l.to_string())
            .collect();
    }
    let keep: Vec<&str> = lines
        .into_iter()
        .filter(|l| {
            !l.starts_with("note:") && !l.starts_with("test result:") && !l.starts_with("failures:")
        })
        .collect();
    keep[keep.len().saturating_sub(max)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_configs(f)?;
        writeln!(f)?;
        if self.suspects.is_empty() {
            writeln!(
                f,
                "No suspect tests: every test had the same outcome in every configuration."
            )?;
        } else {
            self.write_suspects(f)?;
        }
        self.write_closing_notes(f)
    }
}

impl AuditReport {
    /// The headline and one line per configuration.
    fn write_configs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ran = self
            .configs
            .iter()
            .filter(|c| c.status == ConfigStatus::Ran)
            .count();
        writeln!(
            f,
            "Audit of {} tests: {ran} configurations run, {} skipped or stopped, {:.1}s (seed {}, repeat {}, -j max = {})",
            self.tests,
            self.incomplete(),
            self.elapsed.as_secs_f64(),
            self.seed,
            self.repeat,
            self.max_workers
        )?;
        for c in &self.configs {
            let state = match &c.status {
                ConfigStatus::Ran => format!("{} of {} runs failed", c.failures, c.attempts),
                ConfigStatus::Skipped { reason } => format!("SKIPPED: {reason}"),
                ConfigStatus::Stopped { reason } => format!("STOPPED: {reason}"),
            };
            writeln!(
                f,
                "  [{:>2}] {:<48} {:>7.2}s  {state}",
                c.number,
                c.label,
                c.elapsed.as_secs_f64()
            )?;
        }
        Ok(())
    }

    /// The suspects' table, the culprits' lines and the summary.
    fn write_suspects(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Suspect tests ({}):", self.suspects.len())?;
        let w = self
            .suspects
            .iter()
            .map(|s| s.id.to_string().len())
            .chain(self.culprits.iter().map(|c| c.id.to_string().len()))
            .max()
            .unwrap_or(4)
            .max(4);
        writeln!(f, "  {:<24} {:<w$}  EVIDENCE", "CLASS", "TEST")?;
        for s in &self.suspects {
            self.write_suspect(f, s, w)?;
        }
        for c in &self.culprits {
            write_culprit(f, c, w)?;
        }
        self.write_summary(f)
    }

    /// One suspect: its class and evidence, where it failed, the key lines of its failure,
    /// the other test (or why none was named) and the replay of a shuffled failure.
    fn write_suspect(&self, f: &mut fmt::Formatter<'_>, s: &Suspect, w: usize) -> fmt::Result {
        writeln!(
            f,
            "  {:<24} {:<w$}  {}",
            s.class.to_string(),
            s.id.to_string(),
            s.reason
        )?;
        let mut failed_in: Vec<usize> = s
            .tallies
            .values()
            .flat_map(|t| t.failed_in.iter().copied())
            .collect();
        failed_in.sort();
        let labels: Vec<String> = failed_in
            .iter()
            .filter_map(|n| self.configs.get(n - 1))
            .map(|c| format!("[{}] {}", c.number, c.label))
            .collect();
        writeln!(f, "  {:<24} failed in: {}", "", labels.join("; "))?;
        if let Some(t) = s.tallies.values().find(|t| !t.output_tail.is_empty()) {
            for l in key_lines(&t.output_tail, 2) {
                writeln!(f, "  {:<24} | {l}", "")?;
            }
        }
        if let Some(p) = &s.partner {
            writeln!(f, "  {:<24} with: {} ({})", "", p.id, p.relation)?;
            writeln!(f, "  {:<24}       {}", "", p.evidence)?;
            if !p.replay.is_empty() {
                writeln!(f, "  {:<24} replay the two: {}", "", p.replay)?;
            }
        } else if let Some(note) = &s.search {
            writeln!(f, "  {:<24} other test: not named: {note}", "")?;
        }
        if s.tallies
            .get(&ConfigKind::Shuffled)
            .is_some_and(|t| t.failures > 0)
        {
            writeln!(
                f,
                "  {:<24} replay: cargo shardtest run -j 1 --shuffle {}",
                "", self.seed
            )?;
        }
        Ok(())
    }

    /// The count of suspects by class and of culprits, and a hint when searches were skipped.
    fn write_summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut by_class: BTreeMap<CauseClass, usize> = BTreeMap::new();
        for s in &self.suspects {
            *by_class.entry(s.class).or_default() += 1;
        }
        let parts: Vec<String> = by_class.iter().map(|(c, n)| format!("{n} {c}")).collect();
        writeln!(f)?;
        writeln!(
            f,
            "{} suspect tests: {}{}",
            self.suspects.len(),
            parts.join(", "),
            match self.culprits.len() {
                0 => String::new(),
                1 => "; 1 culprit named".to_string(),
                n => format!("; {n} culprits named"),
            }
        )?;
        let unsearched = self
            .suspects
            .iter()
            .filter(|s| s.search.as_deref().is_some_and(|n| n.contains("skipped")))
            .count();
        if unsearched > 0 {
            writeln!(
                f,
                "The search for the other test was skipped for {unsearched} suspect(s) (budget or interrupt): raise --budget to name them."
            )?;
        }
        Ok(())
    }

    /// Whether the budget was too small for even the baseline, and whether the findings are
    /// partial (interrupted) or incomplete (configurations skipped or stopped).
    fn write_closing_notes(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(b), Some(first)) = (self.budget, self.configs.first())
            && first.elapsed > b
        {
            writeln!(
                f,
                "The first full run alone took {:.1}s, more than the budget of {:.1}s.",
                first.elapsed.as_secs_f64(),
                b.as_secs_f64()
            )?;
        }
        if self.interrupted {
            writeln!(f, "Interrupted: these findings are partial.")?;
        } else if self.incomplete() > 0 {
            writeln!(
                f,
                "{} configurations were skipped or stopped: the audit is incomplete (raise --budget to run them).",
                self.incomplete()
            )?;
        }
        Ok(())
    }
}

/// One culprit: what it does to its suspects.
fn write_culprit(f: &mut fmt::Formatter<'_>, c: &Culprit, w: usize) -> fmt::Result {
    let victims: Vec<String> = c.suspects.iter().map(|v| v.to_string()).collect();
    let victims = victims.join(", ");
    let place = if c.in_process { " in one process" } else { "" };
    let what = match c.relation {
        Relation::Beside => format!("makes {victims} fail when run beside it{place}"),
        Relation::Polluter => format!("breaks {victims} when run before it{place}"),
        Relation::Provider => {
            format!("is needed by {victims}: it passes only after this one{place}")
        }
    };
    writeln!(f, "  {:<24} {:<w$}  {what}", "culprit", c.id.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::sample::sample_report;
    use super::*;

    /// The human report, compared with `snapshots/report.txt`. After a deliberate change of
    /// the output, rewrite the file with `UPDATE_SNAPSHOTS=1 cargo test -p cargo-shardtest
    /// --lib audit::render::tests::human_report_snapshot` and review the diff.
    #[test]
    fn human_report_snapshot() {
        let got = sample_report().to_string();
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/audit/snapshots/report.txt");
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            got == want,
            "the human report changed; if on purpose, rerun with UPDATE_SNAPSHOTS=1\n--- want\n{want}\n--- got\n{got}"
        );
    }

    #[test]
    fn key_lines_fall_back_to_the_last_lines() {
        assert_eq!(
            key_lines("a\nb\nc\ntest result: FAILED\n", 2),
            vec!["b", "c"]
        );
    }
}
