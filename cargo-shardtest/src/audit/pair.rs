//! The pair search: the suspect replayed beside one candidate at a time, `--repeat` times,
//! until one makes it fail in most replays. One routine ([`Auditor::search_pair`]) serves
//! both places a pair can meet ([`PairPlace`]): two processes at once, for a test that fails
//! beside others at `-jN` (candidates: the tests running while it failed), and one process
//! of its binary, for in-process shared state (candidates: the other tests of the binary).
//! The same replays show whether the candidate failed too, so a pair of suspects is
//! searched once.

use super::auditor::Auditor;
use super::classify::{CauseClass, classify};
use super::culprit::{self, Partner, Relation, Span};
use super::error::AuditError;
use super::kind::ConfigKind;
use super::trial::{TrialPlan, TrialRun};
use crate::id::TestId;
use crate::list::TestBinary;
use std::sync::Arc;
use std::time::Duration;

/// Most candidates a pair search tries for one suspect.
const MAX_PAIR_CANDIDATES: usize = 8;

/// Where a pair search replays the suspect beside a candidate.
pub(super) enum PairPlace {
    /// Each in its own process, both at once (`-j2`).
    Processes,
    /// Both in one process of their binary, libtest's default threads.
    InProcess(Arc<TestBinary>),
}

impl PairPlace {
    /// What one replay of `suspect` beside `other` runs.
    fn trial_run(&self, other: &TestId, suspect: &TestId) -> TrialRun {
        let names = vec![other.clone(), suspect.clone()];
        match self {
            PairPlace::Processes => TrialRun::Process {
                order: names,
                workers: 2,
            },
            PairPlace::InProcess(binary) => TrialRun::InProcess {
                binary: Arc::clone(binary),
                names,
                threads: None,
            },
        }
    }

    /// Processes started per replay (their start cost is counted in the estimate).
    fn processes(&self) -> u32 {
        match self {
            PairPlace::Processes => 2,
            PairPlace::InProcess(_) => 1,
        }
    }

    /// How the search's trials are labelled.
    fn label(&self, repeat: u32, suspect: &TestId, other: &TestId) -> String {
        let place = match self {
            PairPlace::Processes => "",
            PairPlace::InProcess(_) => "in-process ",
        };
        format!("{place}beside x{repeat}: {suspect} + {}", other.name)
    }

    /// The note when no candidate reproduced the failure, after `total` candidates.
    fn exhausted(&self, total: usize) -> String {
        let tried = total.min(MAX_PAIR_CANDIDATES);
        match self {
            PairPlace::Processes => {
                let more = total.saturating_sub(MAX_PAIR_CANDIDATES);
                format!(
                    "no single test reproduces it beside it (tried {tried} of the tests running while it failed{})",
                    if more > 0 {
                        format!("; {more} more not tried")
                    } else {
                        String::new()
                    }
                )
            }
            PairPlace::InProcess(_) => format!(
                "no single test of its binary reproduces it in one process (tried {tried} of {total})"
            ),
        }
    }
}

impl Auditor<'_> {
    /// Pair search for a test that failed beside others at `-jN`: the tests that were
    /// running while it failed, each replayed beside it.
    pub(super) fn search_beside(&mut self, id: &TestId) -> Result<(), AuditError> {
        let failing: Vec<Vec<Span>> = self
            .spans
            .iter()
            .filter(|(_, s)| s.iter().any(|x| &x.id == id && !x.passed))
            .map(|(_, s)| s.clone())
            .collect();
        let mut cands = culprit::rank_beside(id, &failing);
        // A partner already found for another suspect is tried first (pairs are symmetric).
        if let Some(pos) = cands.iter().position(|c| {
            self.partners
                .get(&c.id)
                .is_some_and(|p| &p.id == id && p.relation == Relation::Beside)
        }) {
            let c = cands.remove(pos);
            cands.insert(0, c);
        }
        if cands.is_empty() {
            self.note(id, "no other test was running while it failed".into());
            return Ok(());
        }
        let cands = cands.into_iter().map(|c| (c.id, c.cost)).collect();
        self.search_pair(id, &PairPlace::Processes, cands)
    }

    /// Pair search in one process: each other test of the suspect's binary replayed beside
    /// it. No start times in one process: the tests that failed there too come first (the
    /// other side of a race usually fails as well), then the cheapest.
    pub(super) fn search_in_process_pair(
        &mut self,
        id: &TestId,
        binary: Arc<TestBinary>,
        same_binary: Vec<TestId>,
    ) -> Result<(), AuditError> {
        let failed_in_process = |a: &Self, t: &TestId| {
            a.tallies.get(t).is_some_and(|m| {
                ConfigKind::IN_PROCESS
                    .iter()
                    .any(|k| m.get(k).is_some_and(|x| x.failures > 0))
            })
        };
        let mut cands: Vec<(bool, Duration, TestId)> = same_binary
            .into_iter()
            .map(|t| (!failed_in_process(self, &t), self.duration(&t), t))
            .collect();
        cands.sort();
        let cands = cands.into_iter().map(|(_, cost, t)| (t, cost)).collect();
        self.search_pair(id, &PairPlace::InProcess(binary), cands)
    }

    /// Replays `id` beside each of `cands` (with its cost), in that order and at most
    /// [`MAX_PAIR_CANDIDATES`] of them, until one makes it fail in most replays; records the
    /// pair (both ways when the candidate is a suspect of the same kind and failed too), or
    /// notes why none was named.
    fn search_pair(
        &mut self,
        id: &TestId,
        place: &PairPlace,
        cands: Vec<(TestId, Duration)>,
    ) -> Result<(), AuditError> {
        let total = cands.len();
        let k = self.opts.repeat.max(1);
        for (tried, (c, cost)) in cands.into_iter().take(MAX_PAIR_CANDIDATES).enumerate() {
            let how = place.trial_run(&c, id);
            let per_run = self.duration(id).max(cost) + self.overhead * place.processes();
            let plan = TrialPlan {
                kind: ConfigKind::Pair,
                label: place.label(k, id, &c),
                how: &how,
                reps: k,
                settle: true,
                estimate: per_run * k,
            };
            match self.trial(id, plan)? {
                Err(why) => {
                    self.note(
                        id,
                        format!("pair search skipped after {tried} of {total} candidates: {why}"),
                    );
                    return Ok(());
                }
                Ok((runs, failures)) if runs > 0 && failures * 2 > runs => {
                    self.record_pair(id, &c, place, (runs, failures));
                    return Ok(());
                }
                Ok(_) => {}
            }
        }
        self.note(id, place.exhausted(total));
        Ok(())
    }

    /// Records `other` as the partner of `id`, and `id` as the partner of `other` when
    /// `other` is a suspect of the same kind that failed in most of the same replays.
    fn record_pair(&mut self, id: &TestId, other: &TestId, place: &PairPlace, seen: (u32, u32)) {
        let partner = self.pair_partner(id, other, place, seen);
        let (o_runs, o_failures) = self.last_trial.get(other).copied().unwrap_or_default();
        if self.pair_suspect(other, place) && o_runs > 0 && o_failures * 2 > o_runs {
            let back = self.pair_partner(other, id, place, (o_runs, o_failures));
            self.partners.entry(other.clone()).or_insert(back);
        }
        self.partners.insert(id.clone(), partner);
    }

    /// `other` as the partner of `suspect`, which failed `seen.1` of `seen.0` replays
    /// beside it.
    fn pair_partner(
        &self,
        suspect: &TestId,
        other: &TestId,
        place: &PairPlace,
        (runs, failures): (u32, u32),
    ) -> Partner {
        let k = self.opts.repeat.max(1);
        let (evidence, replay) = match place {
            PairPlace::Processes => (
                format!(
                    "fails when run beside `{other}` ({failures} of {runs} runs); {}",
                    self.alone_evidence(suspect)
                ),
                self.replay(other, suspect, |r| r.beside(k)),
            ),
            PairPlace::InProcess(_) => (
                format!(
                    "fails when run beside `{other}` in one process ({failures} of {runs} runs); {}",
                    self.own_process_evidence(suspect)
                ),
                self.replay(other, suspect, |r| r.in_process(false)),
            ),
        };
        Partner {
            id: other.clone(),
            relation: Relation::Beside,
            in_process: matches!(place, PairPlace::InProcess(_)),
            runs,
            failures,
            evidence,
            replay,
        }
    }

    /// Whether `other` is itself a suspect the search at `place` would have looked at: it
    /// failed at `-jN`, or it is in-process shared state.
    fn pair_suspect(&self, other: &TestId, place: &PairPlace) -> bool {
        let Some(t) = self.tallies.get(other) else {
            return false;
        };
        match place {
            PairPlace::Processes => t.get(&ConfigKind::Parallel).is_some_and(|p| p.failures > 0),
            PairPlace::InProcess(_) => classify(t, self.opts.max_workers.max(2))
                .is_some_and(|(class, _)| class == CauseClass::InProcessSharedState),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> TestId {
        s.parse().unwrap()
    }

    fn in_process() -> PairPlace {
        PairPlace::InProcess(Arc::new(TestBinary {
            package_version: "1.0.0".into(),
            package_dir: "/w".into(),
            ..TestBinary::new("demo", "lib", "demo", "/t/demo")
        }))
    }

    #[test]
    fn both_places_replay_the_candidate_then_the_suspect() {
        let (suspect, other) = (id("demo tests::victim"), id("demo tests::holder"));
        match PairPlace::Processes.trial_run(&other, &suspect) {
            TrialRun::Process { order, workers } => {
                assert_eq!(order, [other.clone(), suspect.clone()]);
                assert_eq!(workers, 2);
            }
            TrialRun::InProcess { .. } => panic!("a -jN pair runs one process per test"),
        }
        match in_process().trial_run(&other, &suspect) {
            TrialRun::InProcess { names, threads, .. } => {
                assert_eq!(names, [other, suspect]);
                assert_eq!(threads, None, "libtest's default threads");
            }
            TrialRun::Process { .. } => panic!("an in-process pair runs in one process"),
        }
    }

    #[test]
    fn the_labels_and_notes_say_where_the_pair_met() {
        let (suspect, other) = (id("demo tests::victim"), id("demo tests::holder"));
        assert_eq!(
            PairPlace::Processes.label(3, &suspect, &other),
            "beside x3: demo tests::victim + tests::holder"
        );
        assert_eq!(
            in_process().label(3, &suspect, &other),
            "in-process beside x3: demo tests::victim + tests::holder"
        );
        assert_eq!(
            PairPlace::Processes.exhausted(3),
            "no single test reproduces it beside it (tried 3 of the tests running while it failed)"
        );
        assert_eq!(
            PairPlace::Processes.exhausted(10),
            "no single test reproduces it beside it (tried 8 of the tests running while it failed; 2 more not tried)"
        );
        assert_eq!(
            in_process().exhausted(10),
            "no single test of its binary reproduces it in one process (tried 8 of 10)"
        );
        assert_eq!(
            (PairPlace::Processes.processes(), in_process().processes()),
            (2, 1)
        );
    }
}
