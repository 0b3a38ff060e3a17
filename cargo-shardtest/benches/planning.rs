//! Planning-speed benchmark (not a timed test): how long `shardtest::pipeline::estimate_items`
//! (timings history -> plan items) and `shardtest::plan::plan` (plan items -> shards) take for
//! 100,000 tests, the size the product brief promises to plan "in well under a second".
//!
//! Run with `cargo bench -p cargo-shardtest --bench planning` (`scripts/bench.sh` does).
//!
//! The suite: 100,000 tests in 200 binaries of 500 tests, log-normal durations (median 40 ms,
//! sigma 1.6: a few tests of tens of seconds), 1% serial tests; 90% of them have recorded
//! history (3 samples each, at `-j 2`), 10% are new and get estimates. Everything is seeded:
//! the same tests, history and plans on every machine.
//!
//! Printed: median and minimum wall time and CPU time of this thread over 7 runs, per step and
//! for a few (N, W), plus the plan's slowest shard / lower bound as a sanity check.
//! `PLANNING_TESTS=N` changes the suite size.

use shardtest::attrs::TestAttributes;
use shardtest::history::{RunStamp, Sample, SampleStatus, TimingStore};
use shardtest::id::TestId;
use shardtest::pipeline::estimate_items;
use shardtest::plan::{PlanInput, plan};
use std::time::{Duration, Instant};

mod support;
use support::{Rng, normal, thread_cpu};

/// Median and minimum (wall, CPU) of `runs` calls of `f`.
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration, Duration, Duration, T) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let (start, cpu0) = (Instant::now(), thread_cpu());
        let out = f();
        wall.push(start.elapsed());
        cpu.push(thread_cpu().saturating_sub(cpu0));
        last = Some(out);
    }
    wall.sort();
    cpu.sort();
    (
        wall[runs / 2],
        wall[0],
        cpu[runs / 2],
        cpu[0],
        last.expect("runs > 0"),
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no argument.
    if !std::env::args().any(|a| a == "--bench") {
        println!("planning: run with `cargo bench -p cargo-shardtest --bench planning`");
        return;
    }
    let n: usize = std::env::var("PLANNING_TESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    const RUNS: usize = 7;
    let mut rng = Rng::new(11);
    let mut listed: Vec<(TestId, TestAttributes)> = Vec::with_capacity(n);
    let mut store = TimingStore::default();
    for i in 0..n {
        let binary = format!("pkg{:02}::it_{:03}", (i / 500) % 40, i / 500);
        let id: TestId = format!("{binary} mod_{}::case_{i:06}", i % 37)
            .parse()
            .expect("valid id");
        let attributes = if rng.next_u64().is_multiple_of(100) {
            TestAttributes {
                serial: Some(shardtest::attrs::SerialKey::Global),
                ..Default::default()
            }
        } else {
            TestAttributes::default()
        };
        let secs = 0.040 * (1.6 * normal(&mut rng)).exp();
        if !rng.next_u64().is_multiple_of(10) {
            for run in 0..3u64 {
                let jitter = (0.2 * normal(&mut rng)).exp();
                store.record(
                    id.clone(),
                    Sample {
                        run: RunStamp {
                            id: format!("run-{run}").into(),
                            at_unix_ms: 1_700_000_000_000 + run * 60_000,
                        },
                        duration: Duration::from_secs_f64((secs * jitter).max(1e-6)),
                        status: SampleStatus::Passed,
                        workers: 2,
                        attributes: attributes.clone(),
                    },
                );
            }
        }
        listed.push((id, attributes));
    }

    println!(
        "planning {n} tests (200 binaries of 500 tests, 90% with 3 recorded samples, 1% serial); {RUNS} runs each"
    );
    let (w, wmin, c, cmin, items) = time(RUNS, || estimate_items(&listed, &store));
    assert_eq!(items.len(), n);
    println!(
        "estimate_items              : median wall {:7.1} ms (min {:7.1}), median CPU {:7.1} ms (min {:7.1})",
        ms(w),
        ms(wmin),
        ms(c),
        ms(cmin)
    );
    for (shards, workers) in [(1u32, 2u32), (8, 2), (32, 2), (64, 4)] {
        let (w, wmin, c, cmin, p) = time(RUNS, || {
            plan(&PlanInput {
                items: items.clone(),
                shards,
                workers,
            })
        });
        assert_eq!(
            p.counts().iter().sum::<usize>(),
            n,
            "every test in one shard"
        );
        println!(
            "plan N={shards:<2} W={workers}             : median wall {:7.1} ms (min {:7.1}), median CPU {:7.1} ms (min {:7.1}); slowest/bound {:.3}",
            ms(w),
            ms(wmin),
            ms(c),
            ms(cmin),
            p.ratio()
        );
    }
    // The whole planning step of a shard job: history -> items -> plan (N=8, W=2).
    let (w, wmin, c, cmin, _) = time(RUNS, || {
        plan(&PlanInput {
            items: estimate_items(&listed, &store),
            shards: 8,
            workers: 2,
        })
    });
    println!(
        "estimate_items + plan N=8 W=2: median wall {:7.1} ms (min {:7.1}), median CPU {:7.1} ms (min {:7.1})",
        ms(w),
        ms(wmin),
        ms(c),
        ms(cmin)
    );
}
