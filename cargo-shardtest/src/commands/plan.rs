//! `cargo shardtest plan`: how the suite would split into N shards from the timings history,
//! how close the slowest shard is to the lower bound, and (`--suggest`) how many shards are
//! worth paying for.

// Doc comments on clap items are the `--help` text users read, written for a terminal
// (`<workspace>`, `#[ignore]`), not as rustdoc markup.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

pub use crate::cli::plan::{PlanArgs, PlanFormat};
use crate::cli::{self};
use crate::exit::UsageError;
use crate::pipeline;
use crate::plan::{self, SuggestReason};
use anyhow::Context;
use shardtest_protocol::plan::{PlanReport, Suggestion};
use std::io::Write;
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
    let (selected, timings, plan) = (&suite.selected, &suite.timings, &suite.plan);
    // Counted as `run` counts: ignored tests belong to a shard but are skipped, not run.
    let skipped: std::collections::BTreeSet<&crate::id::TestId> = selected
        .iter()
        .filter(|(_, s)| *s == crate::filter::Selection::Skip)
        .map(|&(i, _)| &suite.list.tests[i].id)
        .collect();
    let to_run = selected.len() - skipped.len();
    let known = suite
        .items
        .iter()
        .zip(selected)
        .filter(|(item, (_, s))| item.known && *s == crate::filter::Selection::Run)
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
    let mut stdout = std::io::stdout().lock();
    match args.format {
        PlanFormat::Json => {
            let doc = PlanReport {
                plan: plan.clone(),
                suggestion,
                tests_skipped: skipped.len(),
                tests_to_run: to_run,
                tests_with_history: known,
                timings: timings.clone(),
                workers,
            };
            serde_json::to_writer_pretty(&mut stdout, &doc).context("writing JSON to stdout")?;
            writeln!(stdout).context("writing to stdout")?;
        }
        PlanFormat::Human => {
            let w = |stdout: &mut std::io::StdoutLock, s: String| {
                writeln!(stdout, "{s}").context("writing to stdout")
            };
            let ignored = if skipped.is_empty() {
                String::new()
            } else {
                format!(" (+{} ignored, skipped)", skipped.len())
            };
            w(
                &mut stdout,
                format!(
                    "Plan for {to_run} tests{ignored} in {} shards x {workers} workers (-j {workers}: {assumed}; timings: {})",
                    args.shards,
                    timings.display(),
                ),
            )?;
            if known == 0 && to_run > 0 {
                w(
                    &mut stdout,
                    "no history yet: shards are balanced by test count; the predictions below are guesses until a run records durations".into(),
                )?;
            } else if known < to_run {
                w(
                    &mut stdout,
                    format!(
                        "{} of {to_run} tests have no history yet; their durations are estimated",
                        to_run - known
                    ),
                )?;
            }
            w(
                &mut stdout,
                format!(
                    "{:>7} {:>7} {:>8} {:>12}",
                    "shard", "tests", "skipped", "predicted"
                ),
            )?;
            for (i, s) in plan.shards.iter().enumerate() {
                let skip = s.tests.iter().filter(|t| skipped.contains(t)).count();
                w(
                    &mut stdout,
                    format!(
                        "{:>7} {:>7} {:>8} {:>12}",
                        format!("{}/{}", i + 1, args.shards),
                        s.tests.len() - skip,
                        skip,
                        secs(s.predicted)
                    ),
                )?;
            }
            w(
                &mut stdout,
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
                && args.shards > 1
            {
                w(
                    &mut stdout,
                    format!(
                        "note: the longest test sets the finish time: {} alone takes {}; more shards buy nothing",
                        l.id,
                        secs(l.duration)
                    ),
                )?;
            }
            w(&mut stdout, format!("fingerprint {}", plan.fingerprint))?;
            if let Some(s) = &suggestion {
                w(&mut stdout, String::new())?;
                w(
                    &mut stdout,
                    format!(
                        "Shard counts with {} setup per job ({} workers each):",
                        humantime::format_duration(args.setup_cost),
                        workers
                    ),
                )?;
                w(
                    &mut stdout,
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
                    w(
                        &mut stdout,
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
                w(
                    &mut stdout,
                    format!("recommended: {} shards: {}", s.recommended, s.reason),
                )?;
            }
        }
    }
    Ok(cli::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanItem, suggest};

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
