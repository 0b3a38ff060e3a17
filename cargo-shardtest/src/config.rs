//! Configuration files: `.config/shardtest.toml` in the workspace root, or a
//! `[workspace.metadata.shardtest]` table in the root `Cargo.toml` (the first wins when both
//! exist). Precedence is flag > environment variable > file > built-in default: the file's
//! values become the defaults of the flags that read the same `SHARDTEST_*` variables (see
//! [`crate::settings`]); the process environment is never changed. The workspace root is the
//! one cargo names (`cargo locate-project --workspace`, see [`locate_workspace`]).

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

/// Why cargo could not name the workspace root (see [`locate_workspace`]).
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    /// cargo could not be started.
    #[error("could not run `{cargo} locate-project`: {source}")]
    Spawn {
        /// The cargo executable.
        cargo: String,
        /// OS error.
        source: std::io::Error,
    },
    /// cargo ran and failed: not in a cargo project, or a manifest it cannot read.
    #[error("`cargo locate-project` failed: {message}")]
    Cargo {
        /// What cargo said on stderr.
        message: String,
    },
    /// cargo printed something that is not a manifest path.
    #[error("`cargo locate-project` printed no manifest path: {output:?}")]
    Output {
        /// What cargo printed on stdout.
        output: String,
    },
}

/// The workspace root as cargo sees it: the directory of the manifest that
/// `cargo locate-project --workspace` prints, run in `start` with `--manifest-path` when one is
/// given (a relative manifest path is relative to `start`). cargo decides membership: a
/// `package.workspace` key, `workspace.members` and `workspace.exclude` all count.
///
/// ```
/// let tmp = tempfile::tempdir().unwrap();
/// let dir = tmp.path().canonicalize().unwrap(); // cargo reports real paths
/// std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"solo\"\n").unwrap();
/// std::fs::create_dir(dir.join("src")).unwrap();
/// std::fs::write(dir.join("src/lib.rs"), "").unwrap();
/// let root = shardtest::config::locate_workspace(&dir.join("src"), None).unwrap();
/// assert_eq!(root, dir);
/// let manifest = std::path::Path::new("Cargo.toml");
/// assert_eq!(shardtest::config::locate_workspace(&dir, Some(manifest)).unwrap(), dir);
/// ```
pub fn locate_workspace(
    start: &Path,
    manifest_path: Option<&Path>,
) -> Result<PathBuf, LocateError> {
    locate_with(&crate::toolchain::cargo_command(), start, manifest_path)
}

/// [`locate_workspace`] with this cargo executable.
fn locate_with(
    cargo: &str,
    start: &Path,
    manifest_path: Option<&Path>,
) -> Result<PathBuf, LocateError> {
    let mut cmd = std::process::Command::new(cargo);
    cmd.args(["locate-project", "--workspace", "--message-format", "plain"])
        .current_dir(start)
        .stdin(std::process::Stdio::null());
    if let Some(manifest) = manifest_path {
        cmd.arg("--manifest-path").arg(manifest);
    }
    let out = cmd.output().map_err(|source| LocateError::Spawn {
        cargo: cargo.to_string(),
        source,
    })?;
    if !out.status.success() {
        return Err(LocateError::Cargo {
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let printed = String::from_utf8_lossy(&out.stdout);
    let manifest = Path::new(printed.trim_end_matches(['\n', '\r']));
    match manifest.parent() {
        Some(root) if manifest.is_absolute() => Ok(root.to_path_buf()),
        _ => Err(LocateError::Output {
            output: printed.into_owned(),
        }),
    }
}

/// The workspace root for a directory, as cargo sees it (see [`locate_workspace`]), or `None`
/// outside a cargo project (or when cargo cannot read the manifests: the build says why).
/// Where there is no cargo to ask (`run --archive` on a machine without a toolchain), the
/// nearest directory upwards whose `Cargo.toml` has a `[workspace]` table, else the nearest
/// with a `Cargo.toml`.
///
/// ```
/// let tmp = tempfile::tempdir().unwrap();
/// let dir = tmp.path().canonicalize().unwrap(); // cargo reports real paths
/// std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"a\"]\n").unwrap();
/// std::fs::create_dir_all(dir.join("a/src")).unwrap();
/// std::fs::write(dir.join("a/Cargo.toml"), "[package]\nname = \"a\"\n").unwrap();
/// std::fs::write(dir.join("a/src/lib.rs"), "").unwrap();
/// let root = shardtest::config::workspace_root(&dir.join("a")).unwrap();
/// assert_eq!(root, dir);
/// ```
pub fn workspace_root(start: &Path) -> Option<PathBuf> {
    root_or_fallback(locate_workspace(start, None), start)
}

/// cargo's answer, or without cargo the nearest workspace-looking directory from `start`.
fn root_or_fallback(located: Result<PathBuf, LocateError>, start: &Path) -> Option<PathBuf> {
    match located {
        Ok(root) => Some(root),
        Err(LocateError::Spawn { .. }) => root_without_cargo(start),
        Err(_) => None,
    }
}

/// The workspace root guessed from the manifests alone, for when cargo cannot be run: the
/// nearest directory upwards whose `Cargo.toml` has a `[workspace]` table, else the nearest
/// with a `Cargo.toml`.
fn root_without_cargo(start: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(start).unwrap_or_else(|_| start.to_path_buf());
    let mut nearest = None;
    for dir in start.ancestors() {
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("workspace"))
        {
            return Some(dir.to_path_buf());
        }
        nearest.get_or_insert_with(|| dir.to_path_buf());
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

/// The workspace these raw arguments name: the one of `--manifest-path` when given, else the
/// one of the current directory (see [`workspace_root`]); `None` outside a cargo project.
///
/// ```
/// let args: Vec<String> = ["cargo-shardtest", "shardtest", "--manifest-path", "/no/such/Cargo.toml"]
///     .iter().map(|s| s.to_string()).collect();
/// assert_eq!(shardtest::config::workspace_of_args(&args), None);
/// ```
pub fn workspace_of_args(args: &[String]) -> Option<PathBuf> {
    // Relative to the current directory, where the arguments were given.
    let manifest = manifest_arg(args);
    let located = locate_workspace(Path::new("."), manifest.as_deref());
    let start = manifest
        .as_deref()
        .and_then(Path::parent)
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    root_or_fallback(located, start)
}

/// The settings to apply for a run with these raw arguments: the configuration file's values
/// for every variable the environment (`env`) does not set.
pub fn settings_for(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileConfig, ConfigError> {
    settings_in(workspace_of_args(args).as_deref(), env)
}

/// [`settings_for`] in the workspace `root` (already located; `None`: no workspace).
pub fn settings_in(
    root: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<FileConfig, ConfigError> {
    let Some(root) = root else {
        return Ok(FileConfig::default());
    };
    let mut config = load(root)?;
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

    /// Writes `dir/Cargo.toml` with `manifest`, and an empty `src/lib.rs` when it is a package.
    fn manifest(dir: &Path, manifest: &str) {
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        if manifest.contains("[package]") {
            std::fs::write(dir.join("src/lib.rs"), "").unwrap();
        }
    }

    #[test]
    fn cargo_names_the_workspace_root_of_a_nested_member() {
        let dir = tempfile::tempdir().unwrap();
        // cargo reports real paths (a temporary directory may be behind a symlink).
        let root = dir.path().canonicalize().unwrap();
        let root = root.as_path();
        manifest(root, "[workspace]\nmembers = [\"crates/*\"]\n");
        manifest(&root.join("crates/a"), "[package]\nname = \"a\"\n");
        assert_eq!(
            workspace_root(&root.join("crates/a/src")).as_deref(),
            Some(root)
        );
        let member = root.join("crates/a/Cargo.toml");
        assert_eq!(
            locate_workspace(Path::new("/"), Some(&member)).unwrap(),
            root
        );
    }

    #[test]
    fn a_workspace_key_and_an_exclusion_are_cargo_s_to_decide() {
        let dir = tempfile::tempdir().unwrap();
        let top = &dir.path().canonicalize().unwrap();
        // `y/z` names its workspace (`x`), which is not an ancestor of it.
        manifest(&top.join("x"), "[workspace]\nmembers = [\"../y/z\"]\n");
        manifest(
            &top.join("y/z"),
            "[package]\nname = \"z\"\nworkspace = \"../../x\"\n",
        );
        assert_eq!(workspace_root(&top.join("y/z")), Some(top.join("x")));
        // An excluded package below a workspace is a root of its own.
        manifest(
            &top.join("w"),
            "[workspace]\nmembers = [\"in\"]\nexclude = [\"out\"]\n",
        );
        manifest(&top.join("w/in"), "[package]\nname = \"inside\"\n");
        manifest(&top.join("w/out"), "[package]\nname = \"outside\"\n");
        assert_eq!(workspace_root(&top.join("w/in")), Some(top.join("w")));
        assert_eq!(workspace_root(&top.join("w/out")), Some(top.join("w/out")));
    }

    #[test]
    fn outside_a_cargo_project_there_is_no_root_and_no_config() {
        let dir = tempfile::tempdir().unwrap();
        if dir
            .path()
            .ancestors()
            .any(|d| d.join("Cargo.toml").exists())
        {
            return; // the temporary directory is inside a cargo project: nothing to test
        }
        assert_eq!(workspace_root(dir.path()), None);
        let e = locate_workspace(dir.path(), None).unwrap_err();
        assert!(matches!(e, LocateError::Cargo { .. }), "{e}");
        assert!(e.to_string().contains("Cargo.toml"), "{e}");
        let args = vec![
            "x".to_string(),
            "--manifest-path".into(),
            dir.path().join("Cargo.toml").display().to_string(),
        ];
        assert_eq!(
            settings_for(&args, &|_| None).unwrap(),
            FileConfig::default()
        );
    }

    #[test]
    fn without_cargo_the_manifests_alone_name_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let root = root.as_path();
        manifest(root, "[workspace]\nmembers = [\"a\"]\n");
        manifest(&root.join("a"), "[package]\nname = \"a\"\n");
        let missing = root.join("no-such-cargo");
        let start = root.join("a/src");
        let e = locate_with(&missing.display().to_string(), &start, None).unwrap_err();
        assert!(matches!(e, LocateError::Spawn { .. }), "{e}");
        assert_eq!(root_or_fallback(Err(e), &start).as_deref(), Some(root));
        // cargo's own failure is no reason to guess.
        let failed = LocateError::Cargo {
            message: "could not find `Cargo.toml`".into(),
        };
        assert_eq!(root_or_fallback(Err(failed), &start), None);
    }

    #[test]
    fn a_member_s_manifest_path_reads_the_workspace_root_s_config() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let root = root.as_path();
        manifest(root, "[workspace]\nmembers = [\"a\"]\n");
        manifest(&root.join("a"), "[package]\nname = \"a\"\n");
        std::fs::create_dir(root.join(".config")).unwrap();
        std::fs::write(root.join(".config/shardtest.toml"), "jobs = 3\n").unwrap();
        let args = vec![
            "x".to_string(),
            format!("--manifest-path={}", root.join("a/Cargo.toml").display()),
        ];
        let c = settings_for(&args, &|_| None).unwrap();
        assert_eq!(c.settings["SHARDTEST_JOBS"], "3");
        assert_eq!(c.source, Some(root.join(".config/shardtest.toml")));
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
