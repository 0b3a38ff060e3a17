//! Writing a store as text: the newest layout ([`TIMINGS_VERSION`], or version 2 when the
//! store holds no doctest costs), one run or test per line, sorted, so equal stores give
//! identical bytes.

use crate::id::{RunId, TestId};
use rayon::prelude::*;
use std::collections::BTreeMap;

use crate::history::{DocCostRuns, SampleStatus, TestHistory, TimingStore};

use super::{TIMINGS_VERSION, VERSION_WITHOUT_DOC_COSTS};

impl TimingStore {
    /// Serialises the store ([`TIMINGS_VERSION`] format, see [the layout](crate::history)):
    /// one run or test per line (small, and diff-friendly when committed), sorted, so equal
    /// stores give identical bytes.
    ///
    /// ```
    /// # use shardtest::history::TimingStore;
    /// let json = TimingStore::default().to_json();
    /// assert!(json.starts_with("{\"version\":2,"));
    /// assert_eq!(TimingStore::from_json(&json).unwrap(), TimingStore::default());
    /// ```
    pub fn to_json(&self) -> String {
        // The run table: every (run id, start) a sample or a base watermark refers to,
        // oldest first, so samples and bases name a run by its index.
        let mut runs: BTreeMap<(u64, &str), &RunId> = BTreeMap::new();
        for h in self.tests.values() {
            if let Some(b) = &h.base {
                runs.insert((b.until_at, b.until_run.as_str()), &b.until_run);
            }
            for (id, r) in h.runs.iter() {
                runs.insert((r.at, id.as_str()), id);
            }
        }
        for costs in self.doc_costs.values() {
            for (id, c) in costs.iter() {
                runs.insert((c.at, id.as_str()), id);
            }
        }
        let table: Vec<(u64, &RunId)> = runs.into_iter().map(|((at, _), id)| (at, id)).collect();
        // Index of a run in the table (it is there: the table was made from these runs).
        let index = |at: u64, id: &RunId| {
            table
                .binary_search_by(|(t_at, t_id)| (*t_at, t_id.as_str()).cmp(&(at, id.as_str())))
                .unwrap_or_default() as u64
        };
        let mut out = String::with_capacity(64 + self.tests.len() * 200);
        out.push_str("{\"version\":");
        let version = if self.doc_costs.values().all(DocCostRuns::is_empty) {
            VERSION_WITHOUT_DOC_COSTS
        } else {
            TIMINGS_VERSION
        };
        push_u64(&mut out, u64::from(version));
        out.push_str(",\"runs\":[");
        for (i, (at, id)) in table.iter().enumerate() {
            out.push_str(if i == 0 { "\n[" } else { ",\n[" });
            push_json_str(&mut out, id.as_str());
            out.push(',');
            push_u64(&mut out, *at);
            out.push(']');
        }
        out.push_str("\n],\"tests\":{");
        // Tests are written in chunks on the thread pool and joined in order, so the bytes
        // do not depend on the number of threads.
        let tests: Vec<(&TestId, &TestHistory)> = self.tests.iter().collect();
        let chunks: Vec<String> = tests
            .par_chunks(2048)
            .map(|chunk| {
                let mut out = String::with_capacity(chunk.len() * 256);
                for (id, h) in chunk {
                    out.push_str(",\n");
                    write_test(&mut out, id, h, &index);
                }
                out
            })
            .collect();
        for (i, chunk) in chunks.iter().enumerate() {
            // The first test has no comma before it.
            out.push_str(if i == 0 {
                chunk.strip_prefix(',').unwrap_or(chunk)
            } else {
                chunk
            });
        }
        out.push('\n');
        out.push('}');
        if version >= 3 {
            out.push_str(",\"doc_costs\":{");
            let costs = self.doc_costs.iter().filter(|(_, c)| !c.is_empty());
            for (k, (binary, costs)) in costs.enumerate() {
                out.push_str(if k == 0 { "\n" } else { ",\n" });
                push_json_str(&mut out, binary.as_str());
                out.push_str(":[");
                for (j, (run, c)) in costs.iter().enumerate() {
                    out.push_str(if j == 0 { "[" } else { ",[" });
                    push_u64(&mut out, index(c.at, run));
                    out.push(',');
                    push_u64(&mut out, c.setup_us);
                    out.push(',');
                    push_u64(&mut out, u64::from(c.doctests));
                    out.push(']');
                }
                out.push(']');
            }
            out.push_str("\n}");
        }
        out.push_str("}\n");
        out
    }
}

/// Writes one test's line of the timings file (after [`TimingStore::to_json`]'s run table;
/// `index` gives a run's position in it).
fn write_test(out: &mut String, id: &TestId, h: &TestHistory, index: &impl Fn(u64, &RunId) -> u64) {
    out.push('"');
    push_json_escaped(out, id.binary.as_str());
    out.push(' ');
    push_json_escaped(out, id.name.as_str());
    out.push_str("\":{");
    if let Some(b) = &h.base {
        out.push_str("\"base\":[");
        push_u64(out, index(b.until_at, &b.until_run));
        out.push(',');
        push_json_str(out, &b.id);
        for value in [
            b.samples,
            b.mean_us,
            b.last_us,
            u64::from(b.last_workers),
            b.passed,
            b.flaky,
            b.failed,
        ] {
            out.push(',');
            push_u64(out, value);
        }
        if !b.attributes.is_plain() {
            out.push(',');
            out.push_str(&serde_json::to_string(&b.attributes).unwrap_or_default());
        }
        out.push_str("],");
    }
    out.push_str("\"runs\":[");
    for (k, (run, r)) in h.runs.iter().enumerate() {
        out.push_str(if k == 0 { "[" } else { ",[" });
        push_u64(out, index(r.at, run));
        out.push(',');
        push_u64(out, r.us);
        out.push(',');
        push_u64(out, u64::from(r.workers));
        if r.status != SampleStatus::Passed || r.attributes.is_some() {
            out.push_str(",\"");
            out.push_str(r.status.as_str());
            out.push('"');
        }
        if let Some(a) = &r.attributes {
            out.push(',');
            out.push_str(&serde_json::to_string(a).unwrap_or_default());
        }
        out.push(']');
    }
    out.push_str("]}");
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    push_json_escaped(out, s);
    out.push('"');
}

/// Appends `s` escaped for the inside of a JSON string literal.
fn push_json_escaped(out: &mut String, s: &str) {
    if s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        let quoted = serde_json::to_string(s).unwrap_or_default();
        out.push_str(&quoted[1..quoted.len().saturating_sub(1).max(1)]);
    } else {
        out.push_str(s);
    }
}

/// Appends `n` in decimal (the file is mostly numbers; this skips the formatting machinery).
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or("0"));
}

#[cfg(test)]
mod tests {
    use crate::history::test_support::{id, sample};
    use crate::history::{KEEP_RUNS, SampleStatus, TimingStore};

    #[test]
    fn names_and_run_ids_needing_escapes_round_trip() {
        let mut s = TimingStore::default();
        let odd = id("p case::\"quoted\"\\back\tslash");
        s.record(odd.clone(), sample("run \"7\"", 3, 5));
        // A base and samples carrying attributes (a serial test) round-trip too.
        for i in 0..(KEEP_RUNS as u64 + 2) {
            let mut x = sample(&format!("r{i}"), 10 + i, 7);
            x.attributes.serial = Some("db".into());
            x.status = SampleStatus::Flaky;
            s.record(id("p serial"), x);
        }
        let json = s.to_json();
        let back = TimingStore::from_json(&json).unwrap();
        assert_eq!(back, s, "{json}");
        assert!(back.stats(&odd).is_some());
        let serial = back.stats(&id("p serial")).unwrap();
        assert_eq!(serial.attributes.serial, Some("db".into()));
        assert!(
            back.tests[&id("p serial")]
                .base
                .as_ref()
                .unwrap()
                .attributes
                .serial
                .is_some()
        );
    }
}
