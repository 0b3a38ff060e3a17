//! Property: whatever sequence of shard runs (any order, any repetition, some not recording)
//! and `timings merge` calls happens on one machine with the default history, the plan never
//! changes in the middle of a round, a repeated shard runs exactly the tests it ran before,
//! and every completed round ran every test exactly once.
//!
//! Each "run" here is what `cargo shardtest run --shard K/N` does around the runner: read the
//! history, estimate, plan, then record the measured durations through `rounds::record`.

use proptest::prelude::*;
use shardtest::event::{AttemptOutcome, AttemptRecord, RunInfo, TestStatus};
use shardtest::history::TimingStore;
use shardtest::id::{Fingerprint, TestId};

use shardtest::plan::{self, PlanInput, ShardSpec};
use shardtest::report::json::{JsonReport, REPORT_VERSION, StatusCounts, TestRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

#[derive(Clone, Debug)]
enum Op {
    /// Run shard K (0-based here) and record its durations.
    Run(u32),
    /// Run shard K, but the run records nothing (interrupted, `--no-record-timings`).
    RunUnrecorded(u32),
    /// `cargo shardtest timings merge` with no files: fold complete rounds.
    Merge,
}

fn op(n: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..n).prop_map(Op::Run),
        1 => (0..n).prop_map(Op::RunUnrecorded),
        1 => Just(Op::Merge),
    ]
}

/// Plans shard `spec` from the history file as `run` does, with `W = 2`.
fn plan_from(history: &Path, tests: &[TestId], n: u32) -> plan::ShardPlan {
    let (store, _) = TimingStore::load_or_fallback(history);
    let listed: Vec<_> = tests
        .iter()
        .map(|t| (t.clone(), Default::default()))
        .collect();
    let items = shardtest::pipeline::estimate_items_for_workers(&listed, &store, Some(2));
    plan::plan(&PlanInput {
        items,
        shards: n,
        workers: 2,
    })
}

fn report_of(
    spec: ShardSpec,
    fingerprint: &Fingerprint,
    ran: &[TestId],
    durations: &BTreeMap<TestId, u64>,
    run: usize,
    noise: u64,
) -> JsonReport {
    JsonReport {
        version: REPORT_VERSION,
        run: RunInfo {
            run_id: format!("run-{run}").into(),
            shard: spec,
            fingerprint: fingerprint.clone(),
            workers: 2,
            to_run: ran.len(),
            predicted: Duration::ZERO,
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(run as u64),
            repeat: 1,
        },
        planned_tests: Vec::new(),
        tests: ran
            .iter()
            .map(|id| TestRecord {
                id: id.clone(),
                status: TestStatus::Passed,
                attributes: Default::default(),
                attempts: vec![AttemptRecord {
                    attempt: 1,
                    outcome: AttemptOutcome::Passed,
                    // Durations drift from run to run, so every recording changes estimates.
                    duration: Duration::from_millis(durations[id] + (noise * 7 + run as u64) % 50),
                    started_at: SystemTime::UNIX_EPOCH,
                    worker: 0,
                    leaked: false,
                    log: None,
                    output_tail: String::new(),
                }],
            })
            .collect(),
        counts: StatusCounts::default(),
        elapsed: Duration::ZERO,
        complete: true,
        shuffle_seed: None,
        rerun_of: None,
        doc_setups: Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_shard_runs_and_merges_runs_each_round_exactly_once(
        n in 2u32..5,
        durations in proptest::collection::vec(1u64..2_000, 5..30),
        ops in proptest::collection::vec(op(4), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join(".shardtest").join("timings.json");
        let tests: Vec<TestId> = (0..durations.len())
            .map(|i| format!("suite t{i:02}").parse().unwrap())
            .collect();
        let true_ms: BTreeMap<TestId, u64> = tests.iter().cloned().zip(durations.iter().copied()).collect();

        // The round under way: its fingerprint and what each shard ran.
        let mut round: Option<(Fingerprint, BTreeMap<u32, Vec<TestId>>)> = None;
        for (i, op) in ops.iter().enumerate() {
            let (k, records) = match op {
                Op::Merge => {
                    shardtest::rounds::fold(&history, false).unwrap();
                    continue;
                }
                Op::Run(k) => (k % n + 1, true),
                Op::RunUnrecorded(k) => (k % n + 1, false),
            };
            let spec = ShardSpec::new(k, n).unwrap();
            let plan = plan_from(&history, &tests, n);
            let ran = plan.shard(spec).tests.clone();
            match &mut round {
                Some((fp, shards)) if *fp == plan.fingerprint => {
                    if let Some(before) = shards.get(&k) {
                        prop_assert_eq!(before, &ran, "shard {} ran other tests on a repeat", spec);
                    }
                    shards.insert(k, ran.clone());
                }
                previous => {
                    if let Some((_, shards)) = previous.as_ref() {
                        // The plan changed: only allowed once the round had every shard.
                        prop_assert_eq!(
                            shards.len() as u32, n,
                            "the plan changed after shards {:?} of a round of {}", shards.keys().collect::<Vec<_>>(), n
                        );
                    }
                    *previous = Some((plan.fingerprint.clone(), BTreeMap::from([(k, ran.clone())])));
                }
            }
            // A complete round covers every test exactly once.
            if let Some((_, shards)) = &round
                && shards.len() as u32 == n
            {
                let all: Vec<&TestId> = shards.values().flatten().collect();
                let unique: BTreeSet<&TestId> = all.iter().copied().collect();
                prop_assert_eq!(all.len(), tests.len());
                prop_assert_eq!(unique.len(), tests.len());
            }
            if records {
                let report = report_of(spec, &plan.fingerprint, &ran, &true_ms, i, k as u64);
                shardtest::rounds::record(&history, &plan.fingerprint, spec, &report, None).unwrap();
            }
        }
        if history.exists() {
            prop_assert!(TimingStore::load(&history).is_ok(), "the history stays readable");
        }
    }
}

/// The simple case the property generalises, spelled out: three rounds of four shards in
/// order, each round's plan made from the previous round's durations.
#[test]
fn three_rounds_of_four_shards_each_cover_every_test_once() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("timings.json");
    let tests: Vec<TestId> = (0..13)
        .map(|i| format!("suite t{i:02}").parse().unwrap())
        .collect();
    // Heavy tail: three slow tests among quick ones.
    let true_ms: BTreeMap<TestId, u64> = tests
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), if i % 4 == 0 { 700 } else { 20 }))
        .collect();
    let mut fingerprints = Vec::new();
    for round in 0..3 {
        let mut seen = Vec::new();
        let mut fp = None;
        for k in 1..=4 {
            let plan = plan_from(&history, &tests, 4);
            assert!(
                fp.get_or_insert(plan.fingerprint.clone()) == &plan.fingerprint,
                "round {round}: shard {k} planned from another history"
            );
            let spec = ShardSpec::new(k, 4).unwrap();
            let ran = plan.shard(spec).tests.clone();
            seen.extend(ran.iter().cloned());
            let report = report_of(
                spec,
                &plan.fingerprint,
                &ran,
                &true_ms,
                round * 4 + k as usize,
                0,
            );
            let recorded =
                shardtest::rounds::record(&history, &plan.fingerprint, spec, &report, None)
                    .unwrap();
            if k < 4 {
                assert!(
                    matches!(recorded, shardtest::rounds::Recorded::Waiting { .. }),
                    "{recorded:?}"
                );
            } else {
                assert!(
                    matches!(
                        recorded,
                        shardtest::rounds::Recorded::Folded { folded: 4, .. }
                    ),
                    "{recorded:?}"
                );
            }
        }
        seen.sort();
        assert_eq!(seen, tests, "round {round} ran every test exactly once");
        fingerprints.push(fp.unwrap());
    }
    assert_ne!(
        fingerprints[0], fingerprints[1],
        "round 2 plans from round 1's durations"
    );
}
