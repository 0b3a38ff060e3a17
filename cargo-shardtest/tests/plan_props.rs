//! Property tests of the planner and the timings store (issue 3).

use proptest::prelude::*;
use shardtest::attrs::{FlakyPolicy, GroupLimit, TestAttributes};
use shardtest::history::{RunStamp, Sample, SampleStatus, TimingStore, TimingsError};
use shardtest::id::TestId;
use shardtest::plan::{PlanInput, PlanItem, plan};
use std::collections::BTreeMap;
use std::time::Duration;

/// Heavy-tailed durations in microseconds: mostly small, some long.
fn duration_us() -> impl Strategy<Value = u64> {
    prop_oneof![
        6 => 0u64..50_000,
        3 => 50_000u64..2_000_000,
        1 => 2_000_000u64..60_000_000,
    ]
}

fn attributes() -> impl Strategy<Value = TestAttributes> {
    prop_oneof![
        8 => Just(TestAttributes::default()),
        1 => Just(TestAttributes { serial: Some(shardtest::attrs::SerialKey::Global), ..Default::default() }),
        1 => Just(TestAttributes { serial: Some("redis".into()), ..Default::default() }),
        1 => (1u32..3).prop_map(|max| TestAttributes {
            group: Some(GroupLimit { name: "db".into(), max }),
            ..Default::default()
        }),
        1 => Just(TestAttributes {
            flaky: Some(FlakyPolicy { retries: 2, backoff_ms: 10 }),
            ..Default::default()
        }),
    ]
}

fn suite(max: usize, with_attrs: bool) -> impl Strategy<Value = Vec<PlanItem>> {
    prop::collection::vec((0u8..5, duration_us(), attributes()), 0..max).prop_map(move |v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (bin, us, attrs))| PlanItem {
                id: format!("bin{bin} tests::t{i}").parse().unwrap(),
                estimate: Duration::from_micros(us),
                known: us % 3 != 0,
                attributes: if with_attrs {
                    attrs
                } else {
                    TestAttributes::default()
                },
            })
            .collect()
    })
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// A count split of the same data (tests by id, round robin), timed by the plain cost model:
/// `max(longest, ceil(work / W))` per shard.
fn count_split_slowest(items: &[PlanItem], n: usize, w: u64) -> u64 {
    let mut sorted: Vec<&PlanItem> = items.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut work = vec![0u64; n];
    let mut longest = vec![0u64; n];
    for (i, it) in sorted.iter().enumerate() {
        work[i % n] += us(it.estimate);
        longest[i % n] = longest[i % n].max(us(it.estimate));
    }
    (0..n)
        .map(|k| longest[k].max(work[k].div_ceil(w)))
        .max()
        .unwrap_or(0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_test_is_in_exactly_one_shard(items in suite(300, true), n in 1u32..=64, w in 1u32..=4) {
        let p = plan(&PlanInput { items: items.clone(), shards: n, workers: w });
        prop_assert_eq!(p.shards.len(), n as usize);
        let mut seen: BTreeMap<&TestId, usize> = BTreeMap::new();
        for s in &p.shards {
            for t in &s.tests {
                *seen.entry(t).or_default() += 1;
            }
        }
        prop_assert_eq!(seen.len(), items.len());
        prop_assert!(seen.values().all(|&c| c == 1));
        prop_assert!(items.iter().all(|i| seen.contains_key(&i.id)));
        prop_assert!(p.slowest() >= p.lower_bound);
    }

    #[test]
    fn plan_is_identical_under_shuffled_input(
        (items, shuffled) in suite(200, true).prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        n in 1u32..=64,
        w in 1u32..=4,
    ) {
        let a = plan(&PlanInput { items, shards: n, workers: w });
        let b = plan(&PlanInput { items: shuffled, shards: n, workers: w });
        prop_assert_eq!(a, b);
    }

    #[test]
    fn slowest_shard_within_lpt_bound_and_never_worse_than_a_count_split(
        items in suite(300, false),
        n in 1u32..=64,
        w in 1u32..=4,
    ) {
        let p = plan(&PlanInput { items: items.clone(), shards: n, workers: w });
        let total: u64 = items.iter().map(|i| us(i.estimate)).sum();
        let longest = items.iter().map(|i| us(i.estimate)).max().unwrap_or(0);
        let slowest = us(p.slowest());
        if w == 1 {
            prop_assert!(slowest <= total / n as u64 + longest,
                "slowest {} > total/N {} + longest {}", slowest, total / n as u64, longest);
        }
        let count = count_split_slowest(&items, n as usize, w as u64);
        prop_assert!(slowest <= count, "plan {} worse than count split {}", slowest, count);
    }
}

fn sample(run: &str, at: u64, us: u64, status: SampleStatus) -> Sample {
    Sample {
        run: RunStamp {
            id: run.into(),
            at_unix_ms: at,
        },
        duration: Duration::from_micros(us),
        status,
        workers: 2,
        attributes: TestAttributes::default(),
    }
}

fn status() -> impl Strategy<Value = SampleStatus> {
    prop_oneof![
        8 => Just(SampleStatus::Passed),
        1 => Just(SampleStatus::Flaky),
        1 => Just(SampleStatus::Failed),
    ]
}

/// Samples: (test index, run index, time, duration, status).
fn samples(max: usize) -> impl Strategy<Value = Vec<(u8, u8, u64, u64, SampleStatus)>> {
    prop::collection::vec(
        (0u8..6, 0u8..40, 0u64..100, duration_us(), status()),
        0..max,
    )
}

fn store_from(s: &[(u8, u8, u64, u64, SampleStatus)], prefix: &str) -> TimingStore {
    let mut store = TimingStore::default();
    for (t, r, at, d, st) in s {
        // A run id identifies one run: its time is a function of the id.
        let _ = at;
        store.record(
            format!("p t{t}").parse().unwrap(),
            sample(&format!("{prefix}{r}"), u64::from(*r), *d, *st),
        );
    }
    store
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn store_merge_is_order_independent(a in samples(120), b in samples(120)) {
        // Shared run ids between a and b model copies that saw the same runs.
        let sa = store_from(&a, "r");
        let sb = store_from(&b, "r");
        let mut ab = sa.clone();
        ab.merge(&sb);
        let mut ba = sb.clone();
        ba.merge(&sa);
        prop_assert_eq!(&ab, &ba);
        // Idempotent: merging again changes nothing.
        let mut again = ab.clone();
        again.merge(&sb);
        prop_assert_eq!(&again, &ab);
    }

    #[test]
    fn eight_copies_of_yesterday_count_history_once(
        yesterday in samples(150),
        new in prop::collection::vec((0u8..6, duration_us()), 8),
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let base = store_from(&yesterday, "old");
        let copies: Vec<TimingStore> = new
            .iter()
            .enumerate()
            .map(|(k, (t, d))| {
                let mut c = base.clone();
                c.record(
                    format!("p t{t}").parse().unwrap(),
                    sample(&format!("new{k}"), 1000 + k as u64, *d, SampleStatus::Passed),
                );
                c
            })
            .collect();
        let merged = TimingStore::merge_all(copies.iter());
        let permuted = TimingStore::merge_all(order.iter().map(|&i| &copies[i]));
        prop_assert_eq!(&merged, &permuted);
        for t in 0u8..6 {
            let id: TestId = format!("p t{t}").parse().unwrap();
            let before = base.stats(&id).map_or(0, |s| s.samples);
            let added = new.iter().filter(|(x, _)| *x == t).count() as u64;
            let after = merged.stats(&id).map_or(0, |s| s.samples);
            prop_assert_eq!(after, before + added, "test t{}", t);
        }
    }

    #[test]
    fn a_truncated_timings_file_is_detected_as_corrupt(s in samples(40), cut in 0.0f64..1.0) {
        let store = store_from(&s, "r");
        let json = store.to_json();
        let at = ((json.len() as f64) * cut) as usize;
        // Cutting inside the closing whitespace can leave valid JSON; cut real content.
        let trimmed = json.trim_end();
        let at = at.min(trimmed.len().saturating_sub(1));
        match TimingStore::from_json(&json[..at]) {
            Err(TimingsError::Corrupt { .. }) => {}
            other => prop_assert!(false, "cut at {} of {}: {:?}", at, json.len(), other),
        }
        prop_assert_eq!(TimingStore::from_json(&json).unwrap(), store);
    }
}

#[test]
fn save_leaves_the_old_or_the_new_file_never_a_partial_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timings.json");
    let mut a = TimingStore::default();
    let mut b = TimingStore::default();
    for i in 0..300 {
        let id: TestId = format!("p tests::t{i}").parse().unwrap();
        a.record(id.clone(), sample("a", 0, 1000 + i, SampleStatus::Passed));
        b.record(id, sample("b", 1, 2000 + i, SampleStatus::Flaky));
    }
    a.save(&path).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for k in 0..40 {
                if k % 2 == 0 { &b } else { &a }.save(&path).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut reads = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) || reads < 10 {
            let got = TimingStore::load(&path).expect("a reader never sees a partial file");
            assert!(
                got == a || got == b,
                "content is neither the old nor the new store"
            );
            reads += 1;
        }
    });
    // No temporary file is left behind: only the target and its lock file.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["timings.json", "timings.json.lock"]);
}

#[test]
fn recorded_timings_drive_the_plan_and_a_corrupt_file_falls_back_identically() {
    use shardtest::pipeline::estimate_items;
    use shardtest::plan::fingerprint;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".shardtest/timings.json");
    let listed: Vec<(TestId, TestAttributes)> = (0..12)
        .map(|i| {
            (
                format!("app tests::t{i:02}").parse().unwrap(),
                TestAttributes::default(),
            )
        })
        .collect();
    // One slow test, eleven fast ones, recorded by two shards of one CI run.
    for (k, part) in listed.chunks(6).enumerate() {
        let mut s = TimingStore::default();
        for (id, _) in part {
            let ms = if id.name.as_str() == "tests::t07" {
                60_000
            } else {
                1_000
            };
            s.record(
                id.clone(),
                sample(&format!("run-{k}"), 1, ms * 1000, SampleStatus::Passed),
            );
        }
        s.save_merged(&path).unwrap();
    }
    let (store, warning) = TimingStore::load_or_fallback(&path);
    assert!(warning.is_none());
    let items = estimate_items(&listed, &store);
    assert!(items.iter().all(|i| i.known));
    let p = plan(&PlanInput {
        items,
        shards: 2,
        workers: 1,
    });
    // The slow test gets a shard of its own.
    assert!(
        p.shards
            .iter()
            .any(|s| s.tests.len() == 1 && s.tests[0].name.as_str() == "tests::t07")
    );
    assert_eq!(p.slowest(), Duration::from_secs(60));

    // A truncated file: every shard warns the same way and computes the same plan.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() / 2]).unwrap();
    let runs: Vec<(String, shardtest::id::Fingerprint)> = (0..3)
        .map(|_| {
            let (store, warning) = TimingStore::load_or_fallback(&path);
            let input = PlanInput {
                items: estimate_items(&listed, &store),
                shards: 2,
                workers: 1,
            };
            (warning.unwrap(), fingerprint(&input))
        })
        .collect();
    assert!(runs.windows(2).all(|w| w[0] == w[1]));
    assert!(
        runs[0].0.contains("timings.json") && runs[0].0.contains("delete it"),
        "{}",
        runs[0].0
    );
}
