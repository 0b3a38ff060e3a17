//! Folding and merging a test's history: the oldest runs beyond [`KEEP_RUNS`] fold into the
//! base (deterministically, so copies grown from one file fold alike), and two histories of
//! a test merge as a union of per-run contributions (see [the design](super)).

use crate::attrs::TestAttributes;
use crate::id::RunId;
use sha2::{Digest, Sha256};

use super::sample::{BaseSummary, KEEP_RUNS, RunSample, TestHistory};
use super::stats::{count_status, ewma_step};

impl TestHistory {
    /// Folds the oldest explicit runs beyond [`KEEP_RUNS`] into the base (deterministic).
    pub(super) fn compact(&mut self) {
        if self.runs.len() <= KEEP_RUNS {
            return;
        }
        let excess = self.runs.len() - KEEP_RUNS;
        // The oldest runs come first.
        let fold: Vec<(RunId, RunSample)> = self.runs.0.drain(..excess).collect();
        let mut base = self.base.take().unwrap_or(BaseSummary {
            until_at: 0,
            until_run: RunId::from(""),
            id: String::new(),
            samples: 0,
            mean_us: 0,
            last_us: 0,
            last_workers: 0,
            passed: 0,
            flaky: 0,
            failed: 0,
            attributes: TestAttributes::default(),
        });
        let mut h = Sha256::new();
        h.update(base.id.as_bytes());
        for (run_id, r) in &fold {
            base.mean_us = ewma_step(base.mean_us, base.samples, r.us);
            base.samples += 1;
            base.last_us = r.us;
            base.last_workers = r.workers;
            base.attributes = r.attributes();
            count_status(
                r.status,
                &mut base.passed,
                &mut base.flaky,
                &mut base.failed,
            );
            base.until_at = r.at;
            base.until_run = run_id.clone();
            h.update(b"\n");
            h.update(run_id.as_str().as_bytes());
        }
        base.id = hex(&h.finalize()[..8]);
        self.base = Some(base);
    }

    /// Whether the run `(at, run_id)` is already folded into the base.
    pub(super) fn covered_by_base(&self, at: u64, run_id: &str) -> bool {
        self.base.as_ref().is_some_and(|b| b.covers(at, run_id))
    }

    /// Unites `other` into this history: the base with the later watermark wins, runs are
    /// united by run id (the greater sample wins a conflict), runs the base already holds
    /// are dropped, and the excess is folded.
    pub(super) fn merge_from(&mut self, other: &TestHistory) {
        let take_other = match (&self.base, &other.base) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => {
                (b.until_at, &b.until_run, &b.id, b) > (a.until_at, &a.until_run, &a.id, a)
            }
            _ => false,
        };
        if take_other {
            self.base = other.base.clone();
        }
        for (k, v) in other.runs.iter() {
            match self.runs.get(k.as_str()) {
                Some(mine) if mine >= v => {}
                _ => {
                    self.runs.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(b) = &self.base {
            self.runs.0.retain(|(k, v)| !b.covers(v.at, k.as_str()));
        }
        self.compact();
    }
}

/// Lower-case hex of `bytes` (base ids and imported JUnit run ids are the first 8 bytes of a
/// SHA-256 in hex).
pub(super) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}
