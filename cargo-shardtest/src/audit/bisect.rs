//! The bisection search: the one earlier test that breaks a suspect (a *polluter*) or that
//! it needs (a *provider*), found by halving the tests that ran before it
//! ([`culprit::bisect`]) with one trial per half, then confirmed by replaying the two
//! `--repeat` times. It serves order-dependent tests (the tests before it in a recorded
//! `-j1` order) and in-process shared state at one thread (the tests before it in name
//! order, in one process).

use super::auditor::Auditor;
use super::culprit::{self, Bisected, Partner, Relation};
use super::error::AuditError;
use super::kind::ConfigKind;
use super::trial::{TrialPlan, TrialRun};
use crate::id::TestId;
use std::time::Duration;

/// What one bisection trial runs for a subset of the earlier tests (the suspect last).
type MakeTrial<'m> = &'m dyn Fn(&[TestId]) -> TrialRun;

impl Auditor<'_> {
    /// Bisection for an order-dependent test: the earlier test that breaks it (it passes
    /// alone) or that it needs (it fails alone).
    pub(super) fn search_order(&mut self, id: &TestId) -> Result<(), AuditError> {
        let tallies = self.tallies.get(id).cloned().unwrap_or_default();
        let alone = tallies.get(&ConfigKind::Alone).cloned().unwrap_or_default();
        let needs = alone.reproducible();
        // Needs a provider: look before it in an order where it passed; else a polluter:
        // look before it in an order where it failed.
        let order = self.orders.values().find(|(kind, _)| {
            let t = tallies.get(kind).cloned().unwrap_or_default();
            if needs {
                t.failures == 0 && t.runs > 0
            } else {
                t.reproducible()
            }
        });
        let Some((_, order)) = order.cloned() else {
            self.note(id, "no -j1 order to bisect was recorded".into());
            return Ok(());
        };
        let before: Vec<TestId> = order.iter().take_while(|t| *t != id).cloned().collect();
        let relation = if needs {
            Relation::Provider
        } else {
            Relation::Polluter
        };
        let make = |subset: &[TestId]| {
            let mut order = subset.to_vec();
            order.push(id.clone());
            TrialRun::Process { order, workers: 1 }
        };
        self.bisect_and_verify(id, &before, relation, false, &make)
    }

    /// Bisects `before` for the one test that gives `id` the outcome of `relation` (fails
    /// after a polluter, passes after a provider), then replays the two `--repeat` times.
    pub(super) fn bisect_and_verify(
        &mut self,
        id: &TestId,
        before: &[TestId],
        relation: Relation,
        in_process: bool,
        make: MakeTrial<'_>,
    ) -> Result<(), AuditError> {
        if before.is_empty() {
            self.note(id, "no test ran before it".into());
            return Ok(());
        }
        let want_failure = relation == Relation::Polluter;
        let Some(p) = self.bisect_before(id, before, want_failure, make)? else {
            return Ok(());
        };
        let Some((runs, failures, shown)) = self.verify_pair(id, &p, want_failure, make)? else {
            return Ok(());
        };
        let (evidence, replay) = self.order_evidence(id, &p, relation, in_process, (shown, runs));
        self.partners.insert(
            id.clone(),
            Partner {
                id: p,
                relation,
                in_process,
                runs,
                failures,
                evidence,
                replay,
            },
        );
        Ok(())
    }

    /// The estimated time of one trial running `subset` then `id`.
    fn bisect_cost(&self, id: &TestId, subset: &[TestId]) -> Duration {
        subset.iter().map(|t| self.duration(t)).sum::<Duration>()
            + self.duration(id)
            + self.overhead * (subset.len() as u32 + 1)
    }

    /// The bisection proper: the one test of `before` after which `id` fails
    /// (`want_failure`) or passes. `None` (with a note) when there is no single one or a
    /// trial could not be made.
    fn bisect_before(
        &mut self,
        id: &TestId,
        before: &[TestId],
        want_failure: bool,
        make: MakeTrial<'_>,
    ) -> Result<Option<TestId>, AuditError> {
        let mut error = None;
        let found = {
            let mut trial = |subset: &[TestId]| -> culprit::Trial {
                if error.is_some() {
                    return Err("an error".into());
                }
                let how = make(subset);
                let plan = TrialPlan {
                    kind: ConfigKind::Bisect,
                    label: format!("bisect: {id} after {} earlier tests", subset.len()),
                    how: &how,
                    reps: 1,
                    settle: false,
                    estimate: self.bisect_cost(id, subset),
                };
                match self.trial(id, plan) {
                    Err(e) => {
                        error = Some(e);
                        Err("an error".into())
                    }
                    Ok(Err(why)) => Err(why),
                    Ok(Ok((runs, failures))) => {
                        if runs == 0 {
                            return Err("the suspect did not report".into());
                        }
                        Ok((failures > 0) == want_failure)
                    }
                }
            };
            culprit::bisect(before, &mut trial)
        };
        if let Some(e) = error {
            return Err(e);
        }
        match found {
            Bisected::Found(p) => Ok(Some(p)),
            Bisected::NotFound => {
                self.note(
                    id,
                    format!(
                        "bisecting the {} tests before it found no single one that does it (it may take several)",
                        before.len()
                    ),
                );
                Ok(None)
            }
            Bisected::Skipped(why) => {
                self.note(id, format!("bisection skipped: {why}"));
                Ok(None)
            }
        }
    }

    /// Replays `p` then `id` `--repeat` times. Returns the runs, the failures and the runs
    /// that showed the sought outcome, or `None` (with a note) when the replays were not
    /// made or did not repeat it in most runs.
    fn verify_pair(
        &mut self,
        id: &TestId,
        p: &TestId,
        want_failure: bool,
        make: MakeTrial<'_>,
    ) -> Result<Option<(u32, u32, u32)>, AuditError> {
        let k = self.opts.repeat.max(1);
        let how = make(std::slice::from_ref(p));
        let plan = TrialPlan {
            kind: ConfigKind::Bisect,
            label: format!("verify x{k}: {} then {id}", p.name),
            how: &how,
            reps: k,
            settle: false,
            estimate: self.bisect_cost(id, std::slice::from_ref(p)) * k,
        };
        let (runs, failures) = match self.trial(id, plan)? {
            Ok(r) => r,
            Err(why) => {
                self.note(
                    id,
                    format!("bisection points at `{p}`, not confirmed: {why}"),
                );
                return Ok(None);
            }
        };
        let shown = if want_failure {
            failures
        } else {
            runs - failures
        };
        if runs == 0 || shown * 2 <= runs {
            self.note(
                id,
                format!(
                    "bisection pointed at `{p}`, but the two alone did not repeat it ({shown} of {runs})"
                ),
            );
            return Ok(None);
        }
        Ok(Some((runs, failures, shown)))
    }

    /// The evidence line and replay command of a confirmed polluter or provider `p`, which
    /// gave `id` its outcome in `shown` of `runs` replays.
    fn order_evidence(
        &self,
        id: &TestId,
        p: &TestId,
        relation: Relation,
        in_process: bool,
        (shown, runs): (u32, u32),
    ) -> (String, String) {
        let place = if in_process { " in one process" } else { "" };
        match relation {
            Relation::Provider => (
                format!(
                    "passes only when `{p}` runs before it{place} ({shown} of {runs} runs); {}",
                    self.alone_evidence(id)
                ),
                self.replay(p, id, |r| r.in_order()),
            ),
            _ if in_process => (
                format!(
                    "fails when `{p}` runs before it{place} ({shown} of {runs} runs); {}",
                    self.own_process_evidence(id)
                ),
                self.replay(p, id, |r| r.in_process(true)),
            ),
            _ => (
                format!(
                    "fails when `{p}` runs before it ({shown} of {runs} runs); {}",
                    self.alone_evidence(id)
                ),
                self.replay(p, id, |r| r.in_order()),
            ),
        }
    }
}
