//! `cargo shardtest list`: the tests of the suite, or of one shard, as text or JSON.

use crate::pipeline::*;

use crate::cli::{self, ListArgs, ListFormat};
use crate::filter::Selection;
use crate::list::TestCase;
use anyhow::{Context, Result};
use shardtest_protocol::list::{LIST_VERSION, ListReport, ListedBinary, ListedTest};
use std::collections::BTreeMap;

/// `cargo shardtest list`.
pub fn list_command(args: ListArgs) -> Result<u8> {
    let spec = parse_shard(args.sharding.shard.as_deref(), args.sharding.shard_total)?;
    let workers = args.jobs.get().unwrap_or_else(default_workers).max(1);
    let source = SuiteSource {
        build: &args.build,
        archive: args.archive.as_deref(),
        workspace_remap: args.workspace_remap.as_deref(),
        timings: args.sharding.timings.path(),
    };
    let suite = plan_suite(&source, &args.filter.to_filter(), spec.total, workers)?;
    let (list, plan) = (&suite.list, &suite.plan);
    let in_shard: std::collections::BTreeSet<_> = plan.shard(spec).tests.iter().collect();
    let chosen: Vec<(&TestCase, Selection)> = suite
        .selected
        .iter()
        .map(|&(i, s)| (&list.tests[i], s))
        .filter(|(t, _)| in_shard.contains(&t.id))
        .collect();
    let mut stdout = std::io::stdout().lock();
    use std::io::Write;
    match args.format {
        ListFormat::Human => {
            for (t, _) in &chosen {
                let ignored = if t.ignored { " (ignored)" } else { "" };
                writeln!(stdout, "{}{ignored}", t.id).context("writing the list to stdout")?;
            }
        }
        ListFormat::Json => {
            let binaries: BTreeMap<_, _> = list
                .binaries
                .iter()
                .map(|b| {
                    let listed = ListedBinary {
                        kind: b.kind.clone(),
                        package: b.package_name.clone(),
                        package_dir: b.package_dir.clone(),
                        path: b.path.clone(),
                        target: b.target_name.clone(),
                    };
                    (b.id.clone(), listed)
                })
                .collect();
            let tests = chosen
                .iter()
                .map(|(t, s)| ListedTest {
                    attributes: t.attributes.clone(),
                    binary: t.id.binary.clone(),
                    id: t.id.clone(),
                    ignored: t.ignored,
                    name: t.id.name.clone(),
                    will_run: *s == Selection::Run,
                })
                .collect();
            let doc = ListReport {
                binaries,
                fingerprint: plan.fingerprint.clone(),
                shard: spec.to_string(),
                tests,
                version: LIST_VERSION,
            };
            serde_json::to_writer_pretty(&mut stdout, &doc).context("writing JSON to stdout")?;
            writeln!(stdout).context("writing to stdout")?;
        }
    }
    Ok(cli::EXIT_OK)
}
