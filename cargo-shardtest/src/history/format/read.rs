//! Reading a store from text: the version probe, then the version 1 layout (every sample
//! keyed by its run id) or the version 2/3 layout (a run table that samples, bases and
//! doctest costs refer to by index). A newer version or a text that does not parse is a
//! [`TimingsError`].

use crate::attrs::TestAttributes;
use crate::id::{BinaryId, RunId, TestId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::history::{
    BaseSummary, DocCostRuns, DocCostSample, RunSample, RunSamples, SampleStatus, TestHistory,
    TimingStore, TimingsError, attributes_of,
};

use super::TIMINGS_VERSION;

impl TimingStore {
    /// Parses a store from JSON text, checking the version.
    ///
    /// ```
    /// # use shardtest::history::*;
    /// assert!(matches!(TimingStore::from_json(r#"{"version": 99, "tests": {}}"#),
    ///     Err(TimingsError::FutureVersion { found: 99, .. })));
    /// assert!(matches!(TimingStore::from_json(r#"{"version": 1, "te"#),
    ///     Err(TimingsError::Corrupt { .. })));
    /// ```
    pub fn from_json(text: &str) -> Result<TimingStore, TimingsError> {
        Self::parse(text, Path::new("<memory>"))
    }

    /// Parses `text`, read from `path` (named in the errors).
    pub(in crate::history) fn parse(text: &str, path: &Path) -> Result<TimingStore, TimingsError> {
        let corrupt = |message: String| TimingsError::Corrupt {
            path: path.to_path_buf(),
            message,
        };
        let version = match leading_version(text) {
            Some(v) => v,
            None => {
                let probe: VersionProbe =
                    serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                probe.version
            }
        };
        match version {
            v if v > TIMINGS_VERSION => Err(TimingsError::FutureVersion {
                path: path.to_path_buf(),
                found: v,
                supported: TIMINGS_VERSION,
            }),
            // Version 1 spelt every sample out (run id and start in each); it is read as
            // is and written back as version 2 by the next recording.
            0 | 1 => {
                let v1: FileV1 = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                Ok(TimingStore {
                    tests: v1.tests,
                    doc_costs: BTreeMap::new(),
                })
            }
            _ => {
                let v2: FileV2 = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
                v2.into_store().map_err(corrupt)
            }
        }
    }
}

#[derive(Deserialize)]
struct VersionProbe {
    version: u32,
}

/// The version of a file as this program writes it (`{"version":N,` first), without parsing
/// the rest; `None` for any other layout, which then takes a full parse to find it.
fn leading_version(text: &str) -> Option<u32> {
    let rest = text.trim_start().strip_prefix("{\"version\":")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if rest[digits..].starts_with(',') {
        rest[..digits].parse().ok()
    } else {
        None
    }
}

/// A JSON object read as its entries in file order: the files are written sorted, so a
/// `BTreeMap` is then built in one pass instead of by an insert per key.
struct Entries<K, V>(Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Entries<K, V> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> serde::de::Visitor<'de> for Visitor<K, V> {
            type Value = Entries<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(Visitor(std::marker::PhantomData))
    }
}

/// The version 1 file: every sample keyed by its run id.
#[derive(Deserialize)]
struct FileV1 {
    tests: BTreeMap<TestId, TestHistory>,
}

/// The version 2 file as written (see [the layout](crate::history)): runs are a table,
/// samples and bases refer to it by index.
#[derive(Deserialize)]
struct FileV2 {
    runs: Vec<(RunId, u64)>,
    tests: Entries<TestId, HistoryV2>,
    /// Version 3: `{"<package>::doc": [[run index, microseconds, doctests], ...]}`.
    #[serde(default)]
    doc_costs: BTreeMap<String, Vec<(usize, u64, u32)>>,
}

#[derive(Deserialize)]
struct HistoryV2 {
    #[serde(default)]
    base: Option<BaseV2>,
    #[serde(default)]
    runs: Vec<SampleV2>,
}

/// `[watermark run index, id, samples, mean_us, last_us, last_workers, passed, flaky,
/// failed]`, then the attributes when there are any.
#[derive(Deserialize)]
struct BaseV2(
    usize,
    String,
    u64,
    u64,
    u64,
    u32,
    u64,
    u64,
    u64,
    #[serde(default)] TestAttributes,
);

/// `[run index, microseconds, workers]`, then the status when it is not `passed` (or when
/// attributes follow), then the attributes when there are any.
#[derive(Deserialize)]
struct SampleV2(
    usize,
    u64,
    u32,
    #[serde(default)] Option<SampleStatus>,
    #[serde(default)] Option<TestAttributes>,
);

impl FileV2 {
    fn into_store(self) -> Result<TimingStore, String> {
        let runs = &self.runs;
        let run = |i: usize| {
            runs.get(i).ok_or_else(|| {
                format!(
                    "a sample refers to run #{i}, but the file lists {} runs",
                    runs.len()
                )
            })
        };
        let mut tests = Vec::with_capacity(self.tests.0.len());
        for (id, raw) in self.tests.0 {
            let mut h = TestHistory::default();
            if let Some(BaseV2(
                until,
                id,
                samples,
                mean_us,
                last_us,
                last_workers,
                passed,
                flaky,
                failed,
                attributes,
            )) = raw.base
            {
                let (until_run, until_at) = run(until)?;
                h.base = Some(BaseSummary {
                    until_at: *until_at,
                    until_run: until_run.clone(),
                    id,
                    samples,
                    mean_us,
                    last_us,
                    last_workers,
                    passed,
                    flaky,
                    failed,
                    attributes,
                });
            }
            for SampleV2(i, us, workers, status, attributes) in raw.runs {
                let (run_id, at) = run(i)?;
                let sample = RunSample {
                    at: *at,
                    us,
                    status: status.unwrap_or(SampleStatus::Passed),
                    workers,
                    attributes: attributes.and_then(attributes_of),
                };
                match h.runs.get(run_id.as_str()) {
                    Some(kept) if *kept >= sample => {}
                    _ => {
                        h.runs.insert(run_id.clone(), sample);
                    }
                }
            }
            tests.push((id, h));
        }
        // A test listed twice (a hand-edited file) keeps its last entry, as a map would.
        tests.reverse();
        tests.sort_by(|a, b| a.0.cmp(&b.0));
        tests.dedup_by(|a, b| a.0 == b.0);
        let mut doc_costs: BTreeMap<BinaryId, DocCostRuns> = BTreeMap::new();
        for (binary, samples) in self.doc_costs {
            let runs = doc_costs.entry(BinaryId::new(binary)).or_default();
            for (i, setup_us, doctests) in samples {
                let (run_id, at) = run(i)?;
                let sample = DocCostSample {
                    at: *at,
                    setup_us,
                    doctests,
                };
                runs.insert(run_id.clone(), sample);
            }
        }
        Ok(TimingStore {
            tests: tests.into_iter().collect(),
            doc_costs,
        })
    }
}

impl<'de> Deserialize<'de> for RunSamples {
    /// The version 1 layout: an object keyed by run id.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<RunId, RunSample>::deserialize(d)?;
        let mut runs = RunSamples::default();
        for (id, mut r) in map {
            if r.attributes
                .as_deref()
                .is_some_and(TestAttributes::is_plain)
            {
                r.attributes = None;
            }
            runs.insert(id, r);
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::format::VERSION_WITHOUT_DOC_COSTS;
    use crate::history::test_support::id;
    use std::time::Duration;

    #[test]
    fn doctest_costs_round_trip_merge_once_and_mark_the_file_version_3() {
        let binary = BinaryId::new("p::doc");
        let sample = |at, us| DocCostSample {
            at,
            setup_us: us,
            doctests: 12,
        };
        let mut a = TimingStore::default();
        a.doc_costs
            .entry(binary.clone())
            .or_default()
            .insert("r1".into(), sample(1, 700_000));
        let json = a.to_json();
        assert!(json.starts_with("{\"version\":3,"), "{json}");
        assert!(
            json.contains("\"doc_costs\":{\n\"p::doc\":[[0,700000,12]]"),
            "{json}"
        );
        assert_eq!(TimingStore::from_json(&json).unwrap(), a);
        // Without costs the file stays version 2 (older builds read it), and a version 2
        // file loads with no costs.
        let plain = TimingStore::default().to_json();
        assert!(plain.starts_with("{\"version\":2,"), "{plain}");
        assert!(TimingStore::from_json(&plain).unwrap().doc_costs.is_empty());
        // A build that reads only version 2 refuses the file instead of dropping the costs.
        let v3 = leading_version(&json).unwrap();
        assert!(v3 > VERSION_WITHOUT_DOC_COSTS);
        // Merging is a union by run: the shared run counts once, in either order.
        let mut b = a.clone();
        b.doc_costs
            .get_mut(&binary)
            .unwrap()
            .insert("r2".into(), sample(2, 900_000));
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.doc_costs[&binary].len(), 2);
        let again = ab.clone();
        ab.merge(&again);
        assert_eq!(ab, again);
    }

    #[test]
    fn a_version_1_file_reads_the_same_and_is_written_back_as_version_2() {
        let v1 = r#"{"version":1,"tests":{
"p a":{"base":{"until_at":5,"until_run":"r0","id":"ab","samples":3,"mean_us":900,"last_us":800,"last_workers":2,"passed":2,"flaky":1,"failed":0},"runs":{"r1":{"at":10,"us":1000,"status":"passed","workers":2},"r2":{"at":20,"us":1200,"status":"failed","workers":4,"attributes":{"serial":"db"}}}},
"p b":{"runs":{"r2":{"at":20,"us":7,"status":"flaky","workers":4}}}
}}
"#;
        let store = TimingStore::from_json(v1).unwrap();
        let a = store.stats(&id("p a")).unwrap();
        assert_eq!((a.samples, a.passed, a.flaky, a.failed), (5, 3, 1, 1));
        assert_eq!(a.last, Duration::from_micros(1200));
        assert_eq!(a.attributes.serial, Some("db".into()));
        let v2 = store.to_json();
        assert!(
            v2.starts_with("{\"version\":2,\"runs\":[\n[\"r0\",5],\n[\"r1\",10],\n[\"r2\",20]\n]"),
            "{v2}"
        );
        assert!(v2.len() < v1.len(), "{} >= {}", v2.len(), v1.len());
        assert_eq!(TimingStore::from_json(&v2).unwrap(), store);
        // Samples are kept in run order, so the same store always gives the same bytes.
        assert_eq!(TimingStore::from_json(&v2).unwrap().to_json(), v2);
    }

    #[test]
    fn a_sample_naming_a_missing_run_is_corrupt() {
        let text = r#"{"version":2,"runs":[["r",1]],"tests":{"p a":{"runs":[[3,10,1]]}}}"#;
        let err = TimingStore::from_json(text).unwrap_err();
        assert!(matches!(err, TimingsError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("run #3"), "{err}");
    }
}
