//! Configuration files: `.config/shardtest.toml` in the workspace root, or a
//! `[workspace.metadata.shardtest]` table in the root `Cargo.toml` (the first wins when both
//! exist). Precedence is flag > environment variable > file > built-in default: the file's
//! values become the defaults of the flags that read the same `SHARDTEST_*` variables (see
//! [`crate::settings`]); the process environment is never changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable that turns reading `.config/nextest.toml` on (`true`) or off
/// (`false`); the `nextest-config` key sets it.
pub const NEXTEST_CONFIG_ENV: &str = "SHARDTEST_NEXTEST_CONFIG";

/// Keys a configuration file may set that are flags: each key is the long flag it stands
/// for, and its environment variable is the one that flag reads (its `env = "..."` in
/// [`crate::cli`], the one spelling of it).
const FLAG_KEYS: &[&str] = &[
    "jobs",
    "timeout",
    "slow-timeout",
    "timeout-grace",
    "retries",
    "isolation",
    "timings",
    "no-tests",
    "keep-runs",
    "runs-size-limit",
    "retry-backoff",
    "leak-timeout",
    "max-fail",
];

/// Keys without a flag, and the variable each one stands for: the lock directory the tests'
/// library uses (given to test processes, see [`crate::test_env::test_env`]), and whether
/// `.config/nextest.toml` is read (by default only read without this file).
const OTHER_KEYS: &[(&str, &str)] = &[
    ("lock-dir", shardtest_protocol::env::LOCK_DIR),
    ("nextest-config", NEXTEST_CONFIG_ENV),
];

/// Keys a configuration file may set, with the environment variable each one stands for:
/// the flag keys' variables are read from the command-line interface, once.
///
/// ```
/// let keys = shardtest::config::keys();
/// assert!(keys.contains(&("jobs", "SHARDTEST_JOBS")));
/// assert!(keys.contains(&("lock-dir", "SHARDTEST_LOCK_DIR")));
/// ```
pub fn keys() -> &'static [(&'static str, &'static str)] {
    static KEYS: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let vars = crate::cli::flag_env_vars();
        FLAG_KEYS
            .iter()
            .map(|key| {
                let var = vars
                    .iter()
                    .find(|(long, _)| long == key)
                    .map(|(_, var)| *var)
                    .unwrap_or_else(|| {
                        panic!("config key `{key}` is no flag that reads a variable")
                    });
                (*key, var)
            })
            .chain(OTHER_KEYS.iter().copied())
            .collect()
    })
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("could not read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Not valid TOML.
    #[error("{path} is not valid TOML: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A key this version does not know, or a value of the wrong type.
    #[error("{path}: {message} (known keys: {known})")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// The known keys.
        known: String,
    },
}

/// The settings a file gives, as `(environment variable, value)` pairs, and where it was.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileConfig {
    /// The file the settings came from.
    pub source: Option<PathBuf>,
    /// Environment variable -> value.
    pub settings: BTreeMap<&'static str, String>,
}

/// The workspace root for a manifest path (or the current directory): the nearest directory
/// upwards whose `Cargo.toml` has a `[workspace]` table, else the nearest with a `Cargo.toml`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::write(dir.path().join("Cargo.toml"), "[workspace]\n").unwrap();
/// std::fs::create_dir(dir.path().join("a")).unwrap();
/// std::fs::write(dir.path().join("a/Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
/// let root = shardtest::config::workspace_root(&dir.path().join("a")).unwrap();
/// assert_eq!(root, dir.path());
/// ```
pub fn workspace_root(start: &Path) -> Option<PathBuf> {
    let mut nearest = None;
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            if nearest.is_none() {
                nearest = Some(dir.to_path_buf());
            }
            if text
                .parse::<toml::Table>()
                .is_ok_and(|t| t.contains_key("workspace"))
            {
                return Some(dir.to_path_buf());
            }
        }
    }
    nearest
}

fn settings_of(
    table: &toml::Table,
    path: &Path,
    root: &Path,
) -> Result<BTreeMap<&'static str, String>, ConfigError> {
    let known = keys()
        .iter()
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ");
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let Some((_, var)) = keys().iter().find(|(k, _)| k == key) else {
            return Err(ConfigError::Key {
                path: path.into(),
                message: format!("unknown key `{key}`"),
                known,
            });
        };
        let text = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) if *i >= 0 => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError::Key {
                    path: path.into(),
                    message: format!(
                        "`{key}` must be a string, a whole number or a bool, not {}",
                        other.type_str()
                    ),
                    known,
                });
            }
        };
        // Paths in a file are relative to the workspace root, not to wherever cargo runs.
        let text =
            if matches!(key.as_str(), "timings" | "lock-dir") && Path::new(&text).is_relative() {
                root.join(text).display().to_string()
            } else {
                text
            };
        out.insert(*var, text);
    }
    Ok(out)
}

/// Reads the configuration of the workspace at `root`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// std::fs::create_dir(dir.path().join(".config")).unwrap();
/// std::fs::write(dir.path().join(".config/shardtest.toml"), "jobs = 3\nretries = 1\n").unwrap();
/// let c = shardtest::config::load(dir.path()).unwrap();
/// assert_eq!(c.settings["SHARDTEST_JOBS"], "3");
/// assert!(shardtest::config::load(tempfile::tempdir().unwrap().path()).unwrap().source.is_none());
/// ```
pub fn load(root: &Path) -> Result<FileConfig, ConfigError> {
    let own = root.join(".config").join("shardtest.toml");
    if own.exists() {
        let text = std::fs::read_to_string(&own).map_err(|source| ConfigError::Read {
            path: own.clone(),
            source,
        })?;
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: own.clone(),
                    message: e.to_string(),
                })?;
        return Ok(FileConfig {
            settings: settings_of(&table, &own, root)?,
            source: Some(own),
        });
    }
    let manifest = root.join("Cargo.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return Ok(FileConfig::default());
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        // cargo reports a broken Cargo.toml itself, better than we could.
        return Ok(FileConfig::default());
    };
    let section = table
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("shardtest"))
        .and_then(toml::Value::as_table);
    match section {
        Some(t) => Ok(FileConfig {
            settings: settings_of(t, &manifest, root)?,
            source: Some(manifest),
        }),
        None => Ok(FileConfig::default()),
    }
}

/// The `--manifest-path` among raw arguments, if any.
///
/// ```
/// let a: Vec<String> = ["x", "run", "--manifest-path", "w/Cargo.toml"].map(String::from).to_vec();
/// assert_eq!(shardtest::config::manifest_arg(&a), Some("w/Cargo.toml".into()));
/// ```
pub fn manifest_arg(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            return None;
        }
        if a == "--manifest-path" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--manifest-path=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

/// The settings to apply for a run with these raw arguments: the configuration file's values
/// for every variable the environment (`env`) does not set.
pub fn settings_for(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileConfig, ConfigError> {
    let start = match manifest_arg(args) {
        Some(m) => {
            let dir = m.parent().map(Path::to_path_buf).unwrap_or_default();
            if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            }
        }
        None => PathBuf::from("."),
    };
    let start = std::fs::canonicalize(&start).unwrap_or(start);
    let Some(root) = workspace_root(&start) else {
        return Ok(FileConfig::default());
    };
    let mut config = load(&root)?;
    config.settings.retain(|var, _| env(var).is_none());
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_bad_values_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(".config")).unwrap();
        let f = dir.path().join(".config/shardtest.toml");
        std::fs::write(&f, "jobz = 3\n").unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("jobz") && e.contains("known keys") && e.contains("shardtest.toml"),
            "{e}"
        );
        std::fs::write(&f, "jobs = [1]\n").unwrap();
        assert!(
            load(dir.path())
                .unwrap_err()
                .to_string()
                .contains("whole number")
        );
        std::fs::write(&f, "jobs = \n").unwrap();
        assert!(matches!(load(dir.path()), Err(ConfigError::Syntax { .. })));
    }

    #[test]
    fn metadata_table_is_read_and_paths_are_rooted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace]\n[workspace.metadata.shardtest]\ntimings = \"ci/timings.json\"\nisolation = \"batch\"\n",
        )
        .unwrap();
        let c = load(dir.path()).unwrap();
        assert_eq!(c.settings["SHARDTEST_ISOLATION"], "batch");
        assert_eq!(
            PathBuf::from(&c.settings["SHARDTEST_TIMINGS"]),
            dir.path().join("ci/timings.json")
        );
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[workspace.metadata.shardtest]\njobs = 3\nretries = 2\n",
        )
        .unwrap();
        let args = vec![
            "x".to_string(),
            "--manifest-path".into(),
            dir.path().join("Cargo.toml").display().to_string(),
        ];
        let env = |k: &str| (k == "SHARDTEST_JOBS").then(|| "7".to_string());
        let c = settings_for(&args, &env).unwrap();
        assert!(!c.settings.contains_key("SHARDTEST_JOBS"));
        assert_eq!(c.settings["SHARDTEST_RETRIES"], "2");
    }
}
