//! Doctests whose line moved: matching them to the history of their old line.

use crate::history::TimingStore;
use crate::id::TestId;
use std::collections::{BTreeMap, BTreeSet};

/// A doctest name's parts: file, item path and line (`src/lib.rs - a::B (line 7)`).
pub(super) fn parts(name: &str) -> Option<(&str, &str, u32)> {
    let (rest, line) = name.rsplit_once(" (line ")?;
    let line = line.strip_suffix(')')?.parse().ok()?;
    match rest.strip_suffix(" -") {
        Some(file) => Some((file, "", line)),
        None => rest
            .split_once(" - ")
            .map(|(file, item)| (file, item, line)),
    }
}

/// History for doctests whose line moved: for each listed doctest (of a `::doc` binary)
/// with no history, the historical doctest of the same package, file and item with the
/// nearest line that no listed test has, each used at most once (ties: the lower line).
/// Returns listed id -> historical id.
///
/// ```
/// use shardtest::history::*;
/// use std::time::Duration;
/// let mut store = TimingStore::default();
/// let old: shardtest::id::TestId = "p::doc src/lib.rs - f (line 10)".parse().unwrap();
/// store.record(old.clone(), Sample { run: RunStamp { id: "r".into(), at_unix_ms: 1 },
///     duration: Duration::from_secs(2), status: SampleStatus::Passed, workers: 1,
///     attributes: Default::default() });
/// let moved: shardtest::id::TestId = "p::doc src/lib.rs - f (line 11)".parse().unwrap();
/// let m = shardtest::doctest::moved_history(&[moved.clone()], &store);
/// assert_eq!(m.get(&moved), Some(&old));
/// ```
pub fn moved_history(listed: &[TestId], store: &TimingStore) -> BTreeMap<TestId, TestId> {
    let listed_set: BTreeSet<&TestId> = listed.iter().collect();
    let is_doc = |id: &TestId| id.binary.as_str().ends_with("::doc");
    let unknown: Vec<&TestId> = listed
        .iter()
        .filter(|id| is_doc(id) && store.stats(id).is_none())
        .collect();
    let mut out = BTreeMap::new();
    if unknown.is_empty() {
        return out;
    }
    // (binary, file, item) -> historical lines with their ids, unused by the listing.
    type Key<'a> = (&'a str, &'a str, &'a str);
    let mut free: BTreeMap<Key<'_>, Vec<(u32, &TestId)>> = BTreeMap::new();
    for id in store.tests.keys() {
        if !is_doc(id) || listed_set.contains(id) || store.stats(id).is_none() {
            continue;
        }
        if let Some((file, item, line)) = parts(id.name.as_str()) {
            free.entry((id.binary.as_str(), file, item))
                .or_default()
                .push((line, id));
        }
    }
    // Closest pairs first, so one history entry goes to the test that moved least.
    let mut pairs: Vec<(u32, &TestId, &TestId)> = Vec::new();
    for id in &unknown {
        let Some((file, item, line)) = parts(id.name.as_str()) else {
            continue;
        };
        if let Some(cands) = free.get(&(id.binary.as_str(), file, item)) {
            for (l, old) in cands {
                pairs.push((l.abs_diff(line), id, old));
            }
        }
    }
    pairs.sort();
    let mut used: BTreeSet<&TestId> = BTreeSet::new();
    for (_, new, old) in pairs {
        if out.contains_key(new) || used.contains(old) {
            continue;
        }
        used.insert(old);
        out.insert(new.clone(), old.clone());
    }
    out
}
