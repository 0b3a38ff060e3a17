//! Balance benchmark (not a timed test): how close each partitioning scheme gets to the lower
//! bound `max(longest test, total / (N * W))` on the same durations, and how long planning
//! 100,000 tests takes.
//!
//! Run with `cargo bench -p cargo-shardtest --bench balance`.
//!
//! Suites: the real recorded durations in `shared/data/real-durations.csv` (columns
//! `suite,binary,seconds`; override the path with `SHARDTEST_DURATIONS_CSV`), one row per
//! suite, and a heavy-tailed synthetic suite of 5,000 tests (log-normal, seeded).
//!
//! Schemes, all timed by the same model (`max(longest, ceil(work / W))` per shard):
//! * `ours`: [`shardtest::plan::plan`] given the true durations.
//! * `ours~`: our plan made from noisy estimates (each duration times a log-normal factor,
//!   sigma 0.5, i.e. typically off by 40%), timed on the true durations: prediction error.
//! * `hash`: nextest's `hash:` partition, reproduced faithfully: bucket =
//!   `xxh64(test name, seed 0) % N` (nextest 0.9 hashes the test name only). The CSV has no
//!   test names, so tests are named `tests::case_<i>` by their row order in their binary.
//! * `slice`: nextest's `slice:`: round robin over all tests sorted by (binary, name).
//! * `count`: nextest's `count:`: round robin within each binary, restarting at shard 1.

use shardtest::id::TestId;
use shardtest::plan::{PlanInput, PlanItem, plan};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use xxhash_rust::xxh64::xxh64;

mod support;
use support::{Rng, normal, thread_cpu};

struct Test {
    id: TestId,
    us: u64,
}

fn make_id(binary: &str, i: usize) -> TestId {
    format!("{binary} tests::case_{i:05}")
        .parse()
        .expect("valid id")
}

fn synthetic(n: usize, seed: u64) -> Vec<Test> {
    let mut rng = Rng::new(seed);
    let mut per_bin = [0usize; 20];
    (0..n)
        .map(|_| {
            let b = (rng.next_u64() % 20) as usize;
            per_bin[b] += 1;
            // log-normal: median 40 ms, sigma 1.6 (a few tests of tens of seconds).
            let secs = 0.040 * (1.6 * normal(&mut rng)).exp();
            Test {
                id: make_id(&format!("synth::b{b:02}"), per_bin[b]),
                us: (secs * 1e6).round().max(1.0) as u64,
            }
        })
        .collect()
}

fn real_suites() -> Result<BTreeMap<String, Vec<Test>>, String> {
    let path = std::env::var("SHARDTEST_DURATIONS_CSV").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/real-durations.csv"
        )
        .to_string()
    });
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut suites: BTreeMap<String, Vec<Test>> = BTreeMap::new();
    let mut counters: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let mut f = line.split(',');
        let (Some(suite), Some(bin), Some(secs)) = (f.next(), f.next(), f.next()) else {
            return Err(format!("{path}:{}: expected suite,binary,seconds", n + 1));
        };
        let secs: f64 = secs
            .trim()
            .parse()
            .map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        let c = counters
            .entry((suite.to_string(), bin.to_string()))
            .or_default();
        *c += 1;
        suites.entry(suite.to_string()).or_default().push(Test {
            id: make_id(&format!("suite{suite}::{bin}"), *c),
            us: (secs * 1e6).round() as u64,
        });
    }
    Ok(suites)
}

/// Slowest shard of an assignment (shard index per test), by the plain model.
fn slowest(tests: &[Test], assign: &[usize], n: usize, w: u64) -> u64 {
    let mut work = vec![0u64; n];
    let mut longest = vec![0u64; n];
    for (t, &k) in tests.iter().zip(assign) {
        work[k] += t.us;
        longest[k] = longest[k].max(t.us);
    }
    (0..n)
        .map(|k| longest[k].max(work[k].div_ceil(w)))
        .max()
        .unwrap_or(0)
}

fn lower_bound(tests: &[Test], n: usize, w: u64) -> u64 {
    let total: u64 = tests.iter().map(|t| t.us).sum();
    let longest = tests.iter().map(|t| t.us).max().unwrap_or(0);
    longest.max(total.div_ceil(n as u64 * w))
}

fn ours(tests: &[Test], n: usize, w: u32, noise: Option<u64>) -> Vec<usize> {
    let mut rng = noise.map(Rng::new);
    let items: Vec<PlanItem> = tests
        .iter()
        .map(|t| {
            let est = match rng.as_mut() {
                Some(r) => ((t.us as f64) * (0.5 * normal(r)).exp()) as u64,
                None => t.us,
            };
            PlanItem::new(t.id.clone(), Duration::from_micros(est))
        })
        .collect();
    let p = plan(&PlanInput {
        items,
        shards: n as u32,
        workers: w,
    });
    let mut shard_of: BTreeMap<&TestId, usize> = BTreeMap::new();
    for (k, s) in p.shards.iter().enumerate() {
        for t in &s.tests {
            shard_of.insert(t, k);
        }
    }
    tests.iter().map(|t| shard_of[&t.id]).collect()
}

fn hash(tests: &[Test], n: usize) -> Vec<usize> {
    tests
        .iter()
        .map(|t| (xxh64(t.id.name.as_str().as_bytes(), 0) % n as u64) as usize)
        .collect()
}

fn by_id_order(tests: &[Test]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by(|&a, &b| tests[a].id.cmp(&tests[b].id));
    order
}

fn slice(tests: &[Test], n: usize) -> Vec<usize> {
    let mut assign = vec![0; tests.len()];
    for (pos, i) in by_id_order(tests).into_iter().enumerate() {
        assign[i] = pos % n;
    }
    assign
}

fn count(tests: &[Test], n: usize) -> Vec<usize> {
    let mut assign = vec![0; tests.len()];
    let mut per_binary: BTreeMap<&str, usize> = BTreeMap::new();
    for i in by_id_order(tests) {
        let c = per_binary.entry(tests[i].id.binary.as_str()).or_default();
        assign[i] = *c % n;
        *c += 1;
    }
    assign
}

fn row(name: &str, tests: &[Test]) {
    for w in [1u32, 2] {
        for n in [4usize, 8, 16, 32] {
            let lb = lower_bound(tests, n, u64::from(w)) as f64;
            let r = |a: &[usize]| slowest(tests, a, n, u64::from(w)) as f64 / lb;
            println!(
                "{name:<10} {:>5} {n:>3} {w:>2} {:>9.1} | {:>5.2} {:>6.2} {:>6.2} {:>6.2} {:>6.2}",
                tests.len(),
                lb / 1e6,
                r(&ours(tests, n, w, None)),
                r(&ours(tests, n, w, Some(7))),
                r(&hash(tests, n)),
                r(&slice(tests, n)),
                r(&count(tests, n)),
            );
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it with no argument.
    if !std::env::args().any(|a| a == "--bench") {
        println!("balance: run with `cargo bench -p cargo-shardtest --bench balance`");
        return;
    }
    println!("slowest shard / lower bound  (lower bound = max(longest, total/(N*W)), seconds)");
    println!(
        "{:<10} {:>5} {:>3} {:>2} {:>9} | {:>5} {:>6} {:>6} {:>6} {:>6}",
        "suite", "tests", "N", "W", "bound(s)", "ours", "ours~", "hash", "slice", "count"
    );
    match real_suites() {
        Ok(suites) => {
            for (name, tests) in &suites {
                row(&format!("real-{name}"), tests);
            }
        }
        Err(e) => println!("(real suites skipped: {e})"),
    }
    row("synthetic", &synthetic(5_000, 42));

    println!();
    let big = synthetic(100_000, 7);
    let items: Vec<PlanItem> = big
        .iter()
        .map(|t| PlanItem::new(t.id.clone(), Duration::from_micros(t.us)))
        .collect();
    for (n, w) in [(8u32, 2u32), (32, 2), (64, 4)] {
        let (mut wall, mut cpu): (Vec<Duration>, Vec<Duration>) = (0..7)
            .map(|_| {
                let input = PlanInput {
                    items: items.clone(),
                    shards: n,
                    workers: w,
                };
                let (start, cpu0) = (Instant::now(), thread_cpu());
                let p = plan(&input);
                let took = (start.elapsed(), thread_cpu().saturating_sub(cpu0));
                assert_eq!(p.counts().iter().sum::<usize>(), items.len());
                took
            })
            .unzip();
        wall.sort();
        cpu.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "plan 100,000 tests into N={n:>2} W={w}: median wall {:.0} ms (min {:.0}), median CPU {:.0} ms (min {:.0}), 7 runs",
            ms(wall[3]),
            ms(wall[0]),
            ms(cpu[3]),
            ms(cpu[0]),
        );
    }
}
