//! Cutting a shard's tests into jobs: the order they start in ([`start_order`]: longest
//! first or a seeded shuffle) and the jobs of one attempt ([`make_jobs`]: one test per job,
//! or batches of plain tests of one binary, doctests per package).

use super::config::{Isolation, RunnerConfig};
use super::messages::Job;
use super::test::ShardTest;
use super::{batch, doctest};
use std::collections::BTreeMap;
use std::time::Duration;

/// The order tests start in: longest estimate first (ties by id), or a seeded shuffle.
pub(super) fn start_order(tests: &[ShardTest], shuffle_seed: Option<u64>) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tests.len()).collect();
    order.sort_by(|&a, &b| tests[a].case.id.cmp(&tests[b].case.id));
    match shuffle_seed {
        Some(seed) => {
            use rand::SeedableRng;
            use rand::seq::SliceRandom;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            order.shuffle(&mut rng);
        }
        None => order.sort_by(|&a, &b| tests[b].estimate.cmp(&tests[a].estimate).then(a.cmp(&b))),
    }
    order
}

/// The shortest predicted time [`make_jobs`] plans a batch for: starting a test process costs
/// a millisecond or two, so batches of trivial tests are cut by count instead.
const MIN_BATCH_TIME: Duration = Duration::from_millis(10);

/// Cuts the runnable tests into jobs: one per test, or (batch mode) chunks of plain tests of
/// one binary so that every worker gets several batches.
pub(super) fn make_jobs(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    attempt: u32,
) -> Vec<Job> {
    // Doctests always run in batches per package (see `doctest`), whatever the isolation.
    let mut jobs = doctest::make_doc_jobs(tests, order, config, attempt);
    let rest: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| !doctest::is_doc(&tests[i]))
        .collect();
    jobs.extend(make_plain_jobs(tests, &rest, config, attempt));
    jobs
}

pub(super) fn make_plain_jobs(
    tests: &[ShardTest],
    order: &[usize],
    config: &RunnerConfig,
    attempt: u32,
) -> Vec<Job> {
    let runnable = order.iter().copied().filter(|&i| !tests[i].skip);
    if config.isolation == Isolation::Process {
        return runnable
            .map(|i| Job {
                tests: vec![i],
                attempt,
            })
            .collect();
    }
    let mut singles = Vec::new();
    let mut by_binary: BTreeMap<&crate::id::BinaryId, Vec<usize>> = BTreeMap::new();
    let mut binary_order = Vec::new();
    for i in runnable {
        if tests[i].case.attributes.is_plain()
            && !crate::list::is_whole_binary(tests[i].case.id.name.as_str())
        {
            let b = &tests[i].case.id.binary;
            if !by_binary.contains_key(b) {
                binary_order.push(b);
            }
            by_binary.entry(b).or_default().push(i);
        } else {
            singles.push(Job {
                tests: vec![i],
                attempt,
            });
        }
    }
    let mut jobs = singles;
    // Each binary's tests are cut into batches of about equal predicted *time* (not count):
    // about 4 per worker, so a long test gets a batch of its own and does not hold many
    // short ones hostage behind it. `members` is longest first, so long tests come first.
    // A batch is never planned shorter than MIN_BATCH_TIME (each costs a process start), and
    // every worker gets a share of a binary's tests however short they are.
    let workers = config.workers.max(1);
    for b in binary_order {
        let members = &by_binary[b];
        let total: Duration = members.iter().map(|&i| tests[i].estimate).sum();
        let target = (total / (workers * 4)).max(MIN_BATCH_TIME);
        let most = members
            .len()
            .div_ceil(workers as usize)
            .clamp(1, batch::MAX_BATCH);
        let mut chunk: Vec<usize> = Vec::new();
        let mut chunk_time = Duration::ZERO;
        for &i in members {
            let est = tests[i].estimate;
            if !chunk.is_empty() && (chunk_time + est > target || chunk.len() >= most) {
                jobs.push(Job {
                    tests: std::mem::take(&mut chunk),
                    attempt,
                });
                chunk_time = Duration::ZERO;
            }
            chunk.push(i);
            chunk_time += est;
        }
        if !chunk.is_empty() {
            jobs.push(Job {
                tests: chunk,
                attempt,
            });
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::ShardSpec;

    fn shard_tests(n: usize) -> Vec<ShardTest> {
        crate::run::test::fake_tests(
            "/bin/true",
            n,
            |i| format!("t{i:02}"),
            |i| Duration::from_millis((i % 7) as u64),
        )
    }

    #[test]
    fn shuffle_is_a_permutation_and_reproducible() {
        let t = shard_tests(30);
        let a = start_order(&t, Some(7));
        assert_eq!(a, start_order(&t, Some(7)));
        assert_ne!(a, start_order(&t, Some(8)));
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..30).collect::<Vec<_>>());
    }

    #[test]
    fn default_order_is_longest_first() {
        let t = shard_tests(10);
        let o = start_order(&t, None);
        assert!(o.windows(2).all(|w| t[w[0]].estimate >= t[w[1]].estimate));
    }

    #[test]
    fn a_long_test_gets_a_batch_of_its_own() {
        let mut t = shard_tests(40);
        t[7].estimate = Duration::from_secs(5);
        let mut c = RunnerConfig::for_tests("/tmp".into(), ShardSpec::WHOLE);
        c.isolation = Isolation::Batch;
        c.workers = 2;
        let jobs = make_jobs(&t, &start_order(&t, None), &c, 1);
        let with_long = jobs.iter().find(|j| j.tests.contains(&7)).unwrap();
        assert_eq!(
            with_long.tests,
            vec![7],
            "the 5 s test shares its process with nobody"
        );
    }

    #[test]
    fn batches_cover_every_plain_test_once() {
        let t = shard_tests(50);
        let mut c = RunnerConfig::for_tests("/tmp".into(), ShardSpec::WHOLE);
        c.isolation = Isolation::Batch;
        c.workers = 2;
        let order = start_order(&t, None);
        let jobs = make_jobs(&t, &order, &c, 1);
        assert!(jobs.len() >= 8, "every worker gets several batches");
        let mut all: Vec<usize> = jobs.iter().flat_map(|j| j.tests.clone()).collect();
        all.sort();
        assert_eq!(all, (0..50).collect::<Vec<_>>());

        // Trivial tests are not split into batches shorter than a process start is worth,
        // but each worker still gets its share.
        let mut trivial = shard_tests(1000);
        for x in &mut trivial {
            x.estimate = Duration::from_micros(10);
        }
        let jobs = make_jobs(&trivial, &start_order(&trivial, None), &c, 1);
        let sizes: Vec<usize> = jobs.iter().map(|j| j.tests.len()).collect();
        assert_eq!(sizes, [500, 500]);
    }
}
