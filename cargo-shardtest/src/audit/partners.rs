//! Naming the other test of every suspect: which search each class gets (a pair for a test
//! that fails beside others, a bisection for an order-dependent one, either for in-process
//! shared state), and the pieces every search's finding is written with (the suspect's own
//! evidence, the replay command, the note when none was named).

use super::auditor::Auditor;
use super::classify::{CauseClass, classify};
use super::culprit::{Relation, Replay};
use super::error::AuditError;
use super::inproc;
use super::kind::ConfigKind;
use super::trial::TrialRun;
use crate::id::TestId;
use std::sync::Arc;
use std::time::Duration;

impl Auditor<'_> {
    /// Searches the other test of every suspect it can: a pair for tests that fail beside
    /// others, a polluter or provider for order-dependent ones, either for in-process ones.
    pub(super) fn find_partners(&mut self) -> Result<(), AuditError> {
        let max_workers = self.opts.max_workers.max(2);
        let mut suspects: Vec<(Duration, TestId, CauseClass)> = self
            .tallies
            .iter()
            .filter_map(|(id, t)| classify(t, max_workers).map(|(c, _)| (id, t, c)))
            .map(|(id, _, c)| (self.duration(id), id.clone(), c))
            .collect();
        suspects.sort();
        for (_, id, class) in suspects {
            if self.partners.contains_key(&id) {
                continue; // named by the search of its pair
            }
            let tallies = self.tallies.get(&id).cloned().unwrap_or_default();
            let get = |k: ConfigKind| tallies.get(&k).cloned().unwrap_or_default();
            let failed_beside = get(ConfigKind::Parallel).failures > 0
                && ConfigKind::SERIAL_ORDERS
                    .into_iter()
                    .chain([ConfigKind::Alone])
                    .all(|k| get(k).failures == 0);
            match class {
                CauseClass::OrderDependent => self.search_order(&id)?,
                CauseClass::InProcessSharedState => self.search_in_process(&id)?,
                // Only parallel runs failed (and, under a tight budget, perhaps nothing else
                // ran, which makes it look like it always fails): look for the pair.
                CauseClass::SharedState | CauseClass::TimingFlaky | CauseClass::AlwaysFails
                    if failed_beside =>
                {
                    self.search_beside(&id)?
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Search for a test that passes in its own process but fails in one process with others:
    /// bisect the tests before it in name order when it failed at one thread, else replay it
    /// beside each test of its binary (in one process, default threads).
    fn search_in_process(&mut self, id: &TestId) -> Result<(), AuditError> {
        let Some(binary) = self.binary_of(id).filter(|b| inproc::runs_in_process(b)) else {
            return Ok(());
        };
        let tallies = self.tallies.get(id).cloned().unwrap_or_default();
        let one_thread_failed = [
            ConfigKind::InProcessSerial,
            ConfigKind::Batched,
            ConfigKind::BatchedReversed,
        ]
        .iter()
        .any(|k| tallies.get(k).is_some_and(|t| t.failures > 0));
        let same_binary: Vec<TestId> = self
            .tests
            .iter()
            .filter(|t| !t.skip && t.binary.id == binary.id && &t.case.id != id)
            .map(|t| t.case.id.clone())
            .collect();
        if !one_thread_failed {
            return self.search_in_process_pair(id, binary, same_binary);
        }
        // libtest runs one thread's tests in name order: the tests before it are those
        // whose names sort first.
        let before: Vec<TestId> = same_binary
            .iter()
            .filter(|t| t.name < id.name)
            .cloned()
            .collect();
        let make = |subset: &[TestId]| {
            let mut names = subset.to_vec();
            names.push(id.clone());
            TrialRun::InProcess {
                binary: Arc::clone(&binary),
                names,
                threads: Some(1),
            }
        };
        self.bisect_and_verify(id, &before, Relation::Polluter, true, &make)
    }

    /// Records why the search for `id`'s other test named none, and says so on the progress
    /// stream.
    pub(super) fn note(&mut self, id: &TestId, note: String) {
        let _ = writeln!(self.progress, "       Audit: {id}: {note}");
        self.notes.insert(id.clone(), note);
    }

    /// How the suspect did in its own process, for the evidence: "passes alone (3 of 3)".
    pub(super) fn alone_evidence(&self, id: &TestId) -> String {
        let t = self
            .tallies
            .get(id)
            .and_then(|t| t.get(&ConfigKind::Alone))
            .cloned()
            .unwrap_or_default();
        if t.runs == 0 {
            "not run alone".into()
        } else if t.failures == 0 {
            format!("passes alone ({} of {})", t.runs, t.runs)
        } else {
            format!("fails alone ({} of {})", t.failures, t.runs)
        }
    }

    /// How an in-process suspect did with a process per test, for the evidence: "passes in
    /// its own process (8 of 8)".
    pub(super) fn own_process_evidence(&self, id: &TestId) -> String {
        let runs: u32 = self
            .tallies
            .get(id)
            .map(|t| {
                ConfigKind::OWN_PROCESS
                    .iter()
                    .filter_map(|k| t.get(k))
                    .map(|t| t.runs)
                    .sum()
            })
            .unwrap_or(0);
        format!("passes in its own process ({runs} of {runs})")
    }

    /// The replay command `f` writes for `other` and `suspect`, empty when a binary is
    /// unknown.
    pub(super) fn replay<'b>(
        &self,
        other: &'b TestId,
        suspect: &'b TestId,
        f: impl FnOnce(&Replay<'_>) -> String,
    ) -> String {
        match (self.binary_of(other), self.binary_of(suspect)) {
            (Some(ob), Some(sb)) => f(&Replay {
                other: (other, &ob),
                suspect: (suspect, &sb),
            }),
            _ => String::new(),
        }
    }
}
