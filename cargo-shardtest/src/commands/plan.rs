//! `cargo shardtest plan`: how the suite would split into N shards from the timings history,
//! how close the slowest shard is to the lower bound, and (`--suggest`) how many shards are
//! worth paying for.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`, `#[ignore]`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

pub use crate::cli::plan::{PlanArgs, PlanFormat};
use crate::cli::{self};
use crate::exit::UsageError;
use crate::filter::Selection;
use crate::id::TestId;
use crate::pipeline;
use crate::plan::{self, SuggestReason};
use anyhow::Context;
use shardtest_protocol::plan::{PlanReport, ShardPlan, Suggestion};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

/// A duration as the advice reads it: whole seconds from 10 s on, tenths below.
fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 10_000 {
        format!("{} s", (ms + 500) / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Why a shard count is recommended, in one sentence.
///
/// ```
/// # use shardtest::commands::plan::reason_text;
/// # use shardtest::plan::SuggestReason;
/// # use std::time::Duration;
/// let r = SuggestReason::SetupDominates { shards: 8, tests: Duration::from_secs(5),
///     setup: Duration::from_secs(60) };
/// assert_eq!(reason_text(&r), "at 8 shards each job spends 5.0 s on tests against 60 s of setup: more shards mostly pay setup");
/// ```
pub fn reason_text(reason: &SuggestReason) -> String {
    match reason {
        SuggestReason::LongestTestDominates {
            shards,
            longest,
            earlier,
        } => {
            let mut s = format!(
                "shard count beyond {shards} buys nothing: test {} alone takes {}",
                longest.id,
                human(longest.duration)
            );
            if let Some((recommended, fastest)) = earlier {
                s.push_str(&format!(
                    "; {recommended} shards already finish within 10% of the fastest ({})",
                    human(*fastest)
                ));
            }
            s
        }
        SuggestReason::SetupDominates {
            shards,
            tests,
            setup,
        } => format!(
            "at {shards} shards each job spends {} on tests against {} of setup: more shards mostly pay setup",
            human(*tests),
            human(*setup)
        ),
        SuggestReason::WithinTenPercent {
            shards,
            wall,
            fastest,
            machine,
        } => format!(
            "{shards} shards finish in {} (fastest in range: {}) for {} of machine time",
            human(*wall),
            human(*fastest),
            human(*machine)
        ),
    }
}

/// The advice as the `plan` document carries it: the reason in words.
fn suggestion_doc(s: plan::Suggestion) -> Suggestion {
    Suggestion {
        reason: reason_text(&s.reason),
        rows: s.rows,
        recommended: s.recommended,
    }
}

/// Runs `plan`: builds and lists the tests, plans them, prints the plan.
///
/// ```no_run
/// # use shardtest::commands::plan::*;
/// # use clap::Parser;
/// #[derive(clap::Parser)] struct P { #[command(flatten)] a: PlanArgs }
/// let args = P::parse_from(["plan", "--shards", "8", "-j", "2"]).a;
/// run(args)?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn run(args: PlanArgs) -> anyhow::Result<u8> {
    if args.shards == 0 {
        return Err(UsageError(
            "`--shards 0`: plan for at least one shard, e.g. `--shards 4`".into(),
        )
        .into());
    }
    let (workers, assumed) = match args.jobs.get() {
        Some(j) => (j.max(1), "from -j"),
        None => (
            pipeline::default_workers(),
            "this machine's available parallelism, as `run` uses",
        ),
    };
    let source = pipeline::SuiteSource {
        build: &args.build,
        archive: None,
        workspace_remap: None,
        timings: args.timings.path(),
    };
    let suite = pipeline::plan_suite(&source, &args.filter.to_filter(), args.shards, workers)?;
    let view = PlanView::new(&args, &suite, workers, assumed);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::Json => write_json(&mut stdout, view)?,
        PlanFormat::Human => write_human(&mut stdout, &view)?,
    }
    Ok(cli::EXIT_OK)
}

/// What `plan` prints: the plan, the counts around it and the advice.
struct PlanView<'a> {
    /// The plan.
    plan: &'a ShardPlan,
    /// Shard count N.
    shards: u32,
    /// Workers per shard.
    workers: u32,
    /// Where `workers` comes from.
    assumed: &'static str,
    /// The timings history the estimates came from.
    timings: &'a Path,
    /// Selected tests that are ignored: they belong to a shard but are skipped.
    skipped: BTreeSet<&'a TestId>,
    /// Selected tests that will run.
    to_run: usize,
    /// Of those, how many have recorded history.
    known: usize,
    /// The shard-count advice (`--suggest`).
    suggestion: Option<Suggestion>,
    /// Setup cost per job the advice assumed.
    setup_cost: Duration,
}

impl<'a> PlanView<'a> {
    /// Counts `suite`'s tests as `run` counts them and, with `--suggest`, weighs shard counts.
    fn new(
        args: &PlanArgs,
        suite: &'a pipeline::PlannedSuite,
        workers: u32,
        assumed: &'static str,
    ) -> PlanView<'a> {
        let selected = &suite.selected;
        // Counted as `run` counts: ignored tests belong to a shard but are skipped, not run.
        let skipped: BTreeSet<&TestId> = selected
            .iter()
            .filter(|(_, s)| *s == Selection::Skip)
            .map(|&(i, _)| &suite.list.tests[i].id)
            .collect();
        let to_run = selected.len() - skipped.len();
        let known = suite
            .items
            .iter()
            .zip(selected)
            .filter(|(item, (_, s))| item.known && *s == Selection::Run)
            .count();
        let suggestion = args.suggest.then(|| {
            let max = args.max_shards.max(1);
            suggestion_doc(plan::suggest(
                &suite.items,
                args.setup_cost,
                1..=max,
                workers,
            ))
        });
        PlanView {
            plan: &suite.plan,
            shards: args.shards,
            workers,
            assumed,
            timings: &suite.timings,
            skipped,
            to_run,
            known,
            suggestion,
            setup_cost: args.setup_cost,
        }
    }
}

/// Writes one line of the human output.
fn line(out: &mut impl Write, s: impl std::fmt::Display) -> anyhow::Result<()> {
    writeln!(out, "{s}").context("writing to stdout")
}

/// Writes the `--format json` document.
fn write_json(out: &mut impl Write, view: PlanView<'_>) -> anyhow::Result<()> {
    let doc = PlanReport {
        plan: view.plan.clone(),
        suggestion: view.suggestion,
        tests_skipped: view.skipped.len(),
        tests_to_run: view.to_run,
        tests_with_history: view.known,
        timings: view.timings.to_path_buf(),
        workers: view.workers,
    };
    serde_json::to_writer_pretty(&mut *out, &doc).context("writing JSON to stdout")?;
    writeln!(out).context("writing to stdout")
}

/// Writes the human output: header, shard table, bound and, with `--suggest`, the advice.
fn write_human(out: &mut impl Write, view: &PlanView<'_>) -> anyhow::Result<()> {
    write_header(out, view)?;
    write_shards(out, view)?;
    write_bound(out, view)?;
    if let Some(s) = &view.suggestion {
        write_suggestion(out, view, s)?;
    }
    Ok(())
}

/// The first line (counts, N x W, timings) and a note on missing history.
fn write_header(out: &mut impl Write, view: &PlanView<'_>) -> anyhow::Result<()> {
    let (to_run, known, workers) = (view.to_run, view.known, view.workers);
    let ignored = if view.skipped.is_empty() {
        String::new()
    } else {
        format!(" (+{} ignored, skipped)", view.skipped.len())
    };
    line(
        out,
        format!(
            "Plan for {to_run} tests{ignored} in {} shards x {workers} workers (-j {workers}: {}; timings: {})",
            view.shards,
            view.assumed,
            view.timings.display(),
        ),
    )?;
    if known == 0 && to_run > 0 {
        line(
            out,
            "no history yet: shards are balanced by test count; the predictions below are guesses until a run records durations",
        )?;
    } else if known < to_run {
        line(
            out,
            format!(
                "{} of {to_run} tests have no history yet; their durations are estimated",
                to_run - known
            ),
        )?;
    }
    Ok(())
}

/// The table of shards: tests to run, skipped tests and predicted time of each.
fn write_shards(out: &mut impl Write, view: &PlanView<'_>) -> anyhow::Result<()> {
    line(
        out,
        format!(
            "{:>7} {:>7} {:>8} {:>12}",
            "shard", "tests", "skipped", "predicted"
        ),
    )?;
    for (i, s) in view.plan.shards.iter().enumerate() {
        let skip = s.tests.iter().filter(|t| view.skipped.contains(t)).count();
        line(
            out,
            format!(
                "{:>7} {:>7} {:>8} {:>12}",
                format!("{}/{}", i + 1, view.shards),
                s.tests.len() - skip,
                skip,
                secs(s.predicted)
            ),
        )?;
    }
    Ok(())
}

/// The slowest shard against the lower bound, the longest-test note and the fingerprint.
fn write_bound(out: &mut impl Write, view: &PlanView<'_>) -> anyhow::Result<()> {
    let plan = view.plan;
    line(
        out,
        format!(
            "slowest shard {} | lower bound {} = max(longest test, total work {} / (N x W)) | ratio {:.3}",
            secs(plan.slowest()),
            secs(plan.lower_bound),
            secs(plan.total_work),
            plan.ratio()
        ),
    )?;
    if let Some(l) = &plan.longest
        && !plan.lower_bound.is_zero()
        && l.duration >= plan.lower_bound
        && view.shards > 1
    {
        line(
            out,
            format!(
                "note: the longest test sets the finish time: {} alone takes {}; more shards buy nothing",
                l.id,
                secs(l.duration)
            ),
        )?;
    }
    line(out, format!("fingerprint {}", plan.fingerprint))
}

/// The `--suggest` table, one row per shard count, and the recommendation.
fn write_suggestion(
    out: &mut impl Write,
    view: &PlanView<'_>,
    s: &Suggestion,
) -> anyhow::Result<()> {
    line(out, "")?;
    line(
        out,
        format!(
            "Shard counts with {} setup per job ({} workers each):",
            humantime::format_duration(view.setup_cost),
            view.workers
        ),
    )?;
    line(
        out,
        format!(
            "{:>7} {:>12} {:>12} {:>14} {:>12}",
            "shards", "slowest", "CI wall", "machine time", "lower bound"
        ),
    )?;
    for r in &s.rows {
        let mark = if r.shards == s.recommended {
            "  <- recommended"
        } else {
            ""
        };
        line(
            out,
            format!(
                "{:>7} {:>12} {:>12} {:>14} {:>12}{mark}",
                r.shards,
                secs(r.slowest),
                secs(r.wall),
                secs(r.machine),
                secs(r.lower_bound)
            ),
        )?;
    }
    line(
        out,
        format!("recommended: {} shards: {}", s.recommended, s.reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanItem, suggest};
    use shardtest_protocol::plan::{LongestTest, PlannedShard};

    /// A plan of two shards, one of whose tests (`p b`) is ignored, with `p a` the longest.
    fn two_shards() -> ShardPlan {
        let shard = |tests: &[&str], secs| PlannedShard {
            tests: tests.iter().map(|t| t.parse().unwrap()).collect(),
            predicted: Duration::from_secs(secs),
        };
        ShardPlan {
            shards: vec![shard(&["p a", "p b"], 3), shard(&["p c"], 2)],
            fingerprint: "f00".into(),
            workers: 2,
            total_work: Duration::from_secs(5),
            longest: Some(LongestTest {
                id: "p a".parse().unwrap(),
                duration: Duration::from_secs(3),
            }),
            lower_bound: Duration::from_secs(3),
            estimated_tests: 1,
        }
    }

    /// The view `plan` prints of `plan`, with `skipped` ignored and one test without history.
    fn view<'a>(plan: &'a ShardPlan, skipped: &'a TestId) -> PlanView<'a> {
        PlanView {
            plan,
            shards: 2,
            workers: 2,
            assumed: "from -j",
            timings: Path::new("t.json"),
            skipped: BTreeSet::from([skipped]),
            to_run: 2,
            known: 1,
            suggestion: None,
            setup_cost: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_human_plan_lists_each_shard_and_the_bound() {
        let plan = two_shards();
        let b: TestId = "p b".parse().unwrap();
        let mut out = Vec::new();
        write_human(&mut out, &view(&plan, &b)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "Plan for 2 tests (+1 ignored, skipped) in 2 shards x 2 workers (-j 2: from -j; timings: t.json)",
                "1 of 2 tests have no history yet; their durations are estimated",
                "  shard   tests  skipped    predicted",
                "    1/2       1        1        3.00s",
                "    2/2       1        0        2.00s",
                "slowest shard 3.00s | lower bound 3.00s = max(longest test, total work 5.00s / (N x W)) | ratio 1.000",
                "note: the longest test sets the finish time: p a alone takes 3.00s; more shards buy nothing",
                "fingerprint f00",
            ]
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn the_json_plan_carries_the_counts() {
        let plan = two_shards();
        let b: TestId = "p b".parse().unwrap();
        let mut out = Vec::new();
        write_json(&mut out, view(&plan, &b)).unwrap();
        let doc: PlanReport = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (doc.tests_skipped, doc.tests_to_run, doc.tests_with_history),
            (1, 2, 1)
        );
        assert_eq!((doc.plan, doc.workers), (plan, 2));
        assert!(out.ends_with(b"}\n"));
    }

    #[test]
    fn the_advice_names_the_test_that_sets_the_finish_time() {
        let mut items: Vec<PlanItem> = (0..30)
            .map(|i| PlanItem::new(format!("p t{i}").parse().unwrap(), Duration::from_secs(1)))
            .collect();
        items.push(PlanItem::new(
            "p huge".parse().unwrap(),
            Duration::from_secs(55),
        ));
        let s = suggest(&items, Duration::from_secs(10), 1..=8, 1);
        let text = reason_text(&s.reason);
        assert!(
            text.contains("beyond 2 buys nothing: test p huge alone takes 55 s"),
            "{text}"
        );
    }

    #[test]
    fn the_advice_says_when_setup_dominates() {
        let items: Vec<PlanItem> = (0..400)
            .map(|i| {
                PlanItem::new(
                    format!("p t{i:03}").parse().unwrap(),
                    Duration::from_secs(1),
                )
            })
            .collect();
        let s = suggest(&items, Duration::from_secs(60), 1..=16, 1);
        let text = reason_text(&s.reason);
        assert!(text.contains("setup"), "{text}");
        assert!(
            text.starts_with(&format!("at {} shards", s.recommended)),
            "{text}"
        );
    }
}
