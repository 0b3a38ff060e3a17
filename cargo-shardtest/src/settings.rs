//! Layered configuration: how the configuration file (`.config/shardtest.toml`, see
//! [`crate::config`]) and the nextest profile (`.config/nextest.toml`, see
//! [`crate::nextest_config`]) reach the command line's values, without touching the process
//! environment.
//!
//! Precedence, highest first: flag > environment variable > configuration file > nextest
//! profile > built-in default. Every flag that a configuration layer sets reads an environment
//! variable (its `env = "SHARDTEST_..."`); a layer's value for that variable, where the
//! environment does not set it, becomes the flag's default in the command tree clap parses.
//! clap itself then gives the flag and the environment precedence over it, and `--help` is
//! rendered from the unchanged tree, so it shows the built-in defaults.
//!
//! The one value that is not a flag's but the test processes' own (`lock-dir`, the tests'
//! `SHARDTEST_LOCK_DIR`) is handed to the processes started for tests by [`crate::test_env::test_env`]; no
//! other configuration value appears in a test's environment.

use crate::cli::Cli;
use crate::config::ConfigError;
use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use std::collections::BTreeMap;

/// Reads an environment variable (the real environment in `main`, a closure in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A configuration layer that cannot be used: a usage error.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The shardtest configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The nextest config.
    #[error("{0}")]
    Nextest(String),
}

/// Variables the test-side library reads that a configuration file may set: given to every
/// process started for tests (as an inherited environment variable used to).
const TEST_PROCESS_VARS: &[&str] = &[shardtest_protocol::env::LOCK_DIR];

/// The configuration layers of one invocation, below the flags and the environment.
#[derive(Debug, Default)]
pub struct Layers {
    /// Variable -> value, from the file, else the nextest profile, for variables the
    /// environment does not set.
    values: BTreeMap<String, String>,
    /// Header lines and warnings about the nextest config, for stderr.
    lines: Vec<String>,
}

impl Layers {
    /// Reads the layers for these raw arguments: the configuration file's values, then the
    /// nextest profile's where neither the environment nor the file sets the variable (and no
    /// flag overrides it, for the header).
    pub fn load(raw: &[String], env: Env<'_>) -> Result<Self, LayerError> {
        // One question to cargo for the workspace serves both layers.
        let root = crate::config::workspace_of_args(raw);
        let file = crate::config::settings_in(root.as_deref(), env)?;
        let mut values: BTreeMap<String, String> = file
            .settings
            .into_iter()
            .map(|(var, value)| (var.to_string(), value))
            .collect();
        // The nextest profile sees the file's values as set: it only fills in below them
        // (and the file's `nextest-config` decides whether it is read at all).
        let above = |k: &str| env(k).or_else(|| values.get(k).cloned());
        let mut nextest = Vec::new();
        let lines = crate::nextest_config::apply_profile_env_in(
            raw,
            root.as_deref(),
            &above,
            &mut |k, v| nextest.push((k.to_string(), v.to_string())),
        )
        .map_err(LayerError::Nextest)?;
        for (var, value) in nextest {
            values.entry(var).or_insert(value);
        }
        Ok(Self { values, lines })
    }

    /// The value the layers give `var` (`None` where the environment sets it).
    pub fn value(&self, var: &str) -> Option<&str> {
        self.values.get(var).map(String::as_str)
    }

    /// Lines to print before the run (the nextest config's header and warnings).
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// The command tree with the layers' values as the defaults of the flags that read their
    /// variables, in every subcommand.
    pub fn command(&self) -> clap::Command {
        // Leaked once per value: a handful of short strings for the life of the process.
        let values: BTreeMap<&str, &'static str> = self
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), &*Box::leak(v.clone().into_boxed_str())))
            .collect();
        with_defaults(Cli::command(), &values)
    }

    /// Parses prepared arguments (see [`crate::cli::normalize_args`]) with the layers below the
    /// flags and the environment. `--help` and `--version` come from the unchanged tree.
    pub fn parse(&self, args: Vec<String>) -> Result<Cli, clap::Error> {
        let matches = match self.command().try_get_matches_from(&args) {
            Ok(m) => m,
            Err(e) if is_display(e.kind()) => {
                return Err(match Cli::command().try_get_matches_from(&args) {
                    Err(plain) if plain.kind() == e.kind() => plain,
                    _ => e,
                });
            }
            Err(e) => return Err(e),
        };
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut Cli::command()))
    }

    /// Makes the layers' values of the test processes' own variables (`SHARDTEST_LOCK_DIR`)
    /// what [`crate::test_env::test_env`] returns, for the rest of the process. The first call wins.
    pub fn export_test_env(&self) {
        let vars = TEST_PROCESS_VARS
            .iter()
            .filter_map(|var| Some((*var, self.value(var)?.to_string())))
            .collect();
        crate::test_env::set_test_env(vars);
    }
}

fn is_display(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | ErrorKind::DisplayVersion
    )
}

/// `cmd` and its subcommands (recursively) with `values[var]` as the default of every
/// argument that reads `var`.
fn with_defaults(mut cmd: clap::Command, values: &BTreeMap<&str, &'static str>) -> clap::Command {
    let defaults: Vec<(clap::Id, &'static str)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_str()?;
            Some((a.get_id().clone(), *values.get(var)?))
        })
        .collect();
    for (id, value) in defaults {
        cmd = cmd.mut_arg(id, |a| a.default_value(value));
    }
    let subcommands: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subcommands {
        cmd = cmd.mut_subcommand(name, |s| with_defaults(s, values));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;
    use crate::cli::{flag_env_vars, flags_reading};

    fn layers(values: &[(&str, &str)]) -> Layers {
        Layers {
            values: values
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            lines: Vec::new(),
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("cargo-shardtest")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn layer_values_are_defaults_in_every_subcommand_and_flags_win() {
        let l = layers(&[
            ("SHARDTEST_JOBS", "5"),
            ("SHARDTEST_RETRIES", "2"),
            ("SHARDTEST_TIMINGS", "/t.json"),
        ]);
        let Command::Run(run) = l.parse(args(&["run"])).unwrap().command else {
            panic!()
        };
        assert_eq!((run.jobs.get(), run.retries), (Some(5), 2));
        assert_eq!(
            run.sharding.timings.path().unwrap(),
            std::path::Path::new("/t.json")
        );
        let Command::Run(run) = l
            .parse(args(&["run", "-j3", "--retries=0"]))
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!((run.jobs.get(), run.retries), (Some(3), 0));
        let Command::Plan(plan) = l.parse(args(&["plan", "--shards", "2"])).unwrap().command else {
            panic!()
        };
        assert_eq!(plan.jobs.get(), Some(5));
        let Command::Audit(audit) = l.parse(args(&["audit"])).unwrap().command else {
            panic!()
        };
        assert_eq!(audit.jobs.get(), Some(5));
        // Nothing else changed: built-in defaults stay.
        let Command::Run(run) = layers(&[]).parse(args(&["run"])).unwrap().command else {
            panic!()
        };
        assert_eq!((run.jobs.get(), run.retries), (None, 0));
    }

    #[test]
    fn the_shared_flags_take_layer_values_everywhere_but_clean() {
        let l = layers(&[("SHARDTEST_JOBS", "4"), ("SHARDTEST_TIMINGS", "/t.json")]);
        let t = Some(std::path::Path::new("/t.json"));
        let Command::List(list) = l.parse(args(&["list"])).unwrap().command else {
            panic!()
        };
        assert_eq!(
            (list.jobs.get(), list.sharding.timings.path()),
            (Some(4), t)
        );
        let Command::Audit(audit) = l.parse(args(&["audit"])).unwrap().command else {
            panic!()
        };
        assert_eq!(audit.timings.path(), t);
        let Command::Report(report) = l.parse(args(&["report", "html"])).unwrap().command else {
            panic!()
        };
        let crate::cli::report::ReportCommand::Html(html) = report.command else {
            panic!()
        };
        assert_eq!(html.timings.path(), t);
        // `clean --timings` deletes the history: a layer must never ask for that.
        let Command::Clean(clean) = l.parse(args(&["clean"])).unwrap().command else {
            panic!()
        };
        assert_eq!(clean.timings, None);
    }

    #[test]
    fn help_shows_the_built_in_defaults_and_bad_values_are_usage_errors() {
        let l = layers(&[("SHARDTEST_SLOW_TIMEOUT", "7s"), ("SHARDTEST_JOBS", "x")]);
        let help = l.parse(args(&["run", "--help"])).unwrap_err();
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let text = help.render().to_string();
        assert!(
            text.contains("[default: 60s]") && !text.contains("7s"),
            "{text}"
        );
        let e = l.parse(args(&["run"])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        assert!(e.use_stderr());
    }

    #[test]
    fn every_flag_spelling_reads_one_variable() {
        let all = flag_env_vars();
        for (long, var) in &all {
            assert!(
                all.iter().all(|(l, v)| l != long || v == var),
                "--{long} reads different variables: {all:?}"
            );
        }
        assert_eq!(flags_reading("SHARDTEST_JOBS"), ["--jobs", "-j"]);
        assert!(crate::config::keys().len() > 10);
    }
}
