//! Which packages' doctests a command selects, as `cargo test` decides it: the target flags
//! ([`DocSelection`]), `-p`/`--exclude` specs and their globs ([`spec_matches`]), and the
//! `--features` that apply to one package listed alone ([`features_for`]).

use crate::cli::BuildArgs;
use std::collections::BTreeSet;

/// Which tests a command's target selection asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocSelection {
    /// No doctests (`--lib`, `--tests`, `--test X`, ... like `cargo test`).
    None,
    /// Doctests and the other tests (no target selection).
    Also,
    /// Only doctests (`--doc`).
    Only,
}

/// What `cargo test` would run given these build options: any explicit target selection
/// other than `--doc` leaves doctests out, `--doc` runs nothing else.
///
/// ```
/// use shardtest::cli::BuildArgs;
/// use shardtest::discover::doctests::{selection, DocSelection};
/// assert_eq!(selection(&BuildArgs::default()), DocSelection::Also);
/// assert_eq!(selection(&BuildArgs { lib: true, ..Default::default() }), DocSelection::None);
/// assert_eq!(selection(&BuildArgs { doc: true, ..Default::default() }), DocSelection::Only);
/// ```
pub fn selection(build: &BuildArgs) -> DocSelection {
    if build.doc {
        return DocSelection::Only;
    }
    let targeted = build.lib
        || build.bins
        || build.tests
        || build.examples
        || !build.bin.is_empty()
        || !build.test_target.is_empty()
        || !build.example.is_empty();
    if targeted {
        DocSelection::None
    } else {
        DocSelection::Also
    }
}

/// `--doc` mixed with another target selection: cargo refuses it, so do we.
pub fn check_args(build: &BuildArgs) -> Result<(), String> {
    let mut other = build.clone();
    other.doc = false;
    if build.doc && selection(&other) == DocSelection::None {
        return Err(
            "`--doc` cannot be combined with other target selections (`--lib`, `--tests`, `--test NAME`, ...), as with `cargo test`".into(),
        );
    }
    Ok(())
}

/// The user's `--features` as they apply to one package listed alone (`cargo test --doc -p
/// PKG`): `PKG/feat` and the package's own `feat`, and features of dependencies
/// (`dep/feat`); another member's `other/feat` is left out, as cargo refuses it for a
/// package that does not depend on `other`.
///
/// ```
/// # use std::collections::BTreeSet;
/// let members: BTreeSet<&str> = ["a", "b"].into();
/// let mut own = BTreeSet::new();
/// own.insert("x".to_string());
/// let f = shardtest::discover::doctests::features_for(&["a/x,b/y".into(), "x serde/std".into()], "a", &own, &members);
/// assert_eq!(f, ["x", "x", "serde/std"]);
/// ```
pub fn features_for(
    given: &[String],
    package: &str,
    own: &BTreeSet<String>,
    members: &BTreeSet<&str>,
) -> Vec<String> {
    given
        .iter()
        .flat_map(|v| v.split([',', ' ']))
        .filter(|f| !f.is_empty())
        .filter_map(|f| match f.split_once('/') {
            Some((pkg, feat)) if pkg == package => Some(feat.to_string()),
            Some((pkg, _)) if members.contains(pkg) => None,
            Some(_) => Some(f.to_string()),
            None if own.contains(f) => Some(f.to_string()),
            None => None,
        })
        .collect()
}

/// Whether a `-p`/`--exclude` spec names the package `name`, as cargo reads it: the name
/// part of `name`, `name@version`, `name:version` or a package id URL (`...#name@version`),
/// which may be a glob (`*`, `?`, `[...]`) as cargo allows for both flags.
///
/// ```
/// use shardtest::discover::doctests::spec_matches;
/// assert!(spec_matches("doc24", "doc24"));
/// assert!(spec_matches("doc24@0.1.0", "doc24"));
/// assert!(spec_matches("path+file:///w/doc24#0.1.0", "doc24"));
/// assert!(spec_matches("path+file:///w/x#doc24@0.1.0", "doc24"));
/// assert!(spec_matches("doc*", "doc24") && spec_matches("doc2?", "doc24"));
/// assert!(spec_matches("doc[0-9]4", "doc24") && !spec_matches("doc[!2]4", "doc24"));
/// assert!(!spec_matches("doc", "doc24") && !spec_matches("*x", "doc24"));
/// ```
pub fn spec_matches(spec: &str, name: &str) -> bool {
    let spec = match spec.rsplit_once('#') {
        // `url#name@version`, or `url#version` whose name is the URL's last segment.
        Some((url, frag)) => {
            if frag.starts_with(|c: char| c.is_ascii_digit()) {
                url.rsplit('/').next().unwrap_or(url)
            } else {
                frag
            }
        }
        None => spec,
    };
    let pattern = spec.split(['@', ':']).next().unwrap_or(spec);
    glob_matches(pattern.as_bytes(), name.as_bytes())
}

/// Shell-style glob matching: `*` any run, `?` one character, `[...]` a class (with ranges,
/// and `!` or `^` to negate).
fn glob_matches(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob_matches(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob_matches(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().skip(2).position(|&c| c == b']').map(|i| i + 2) else {
                return s.first() == Some(&b'[') && glob_matches(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..close];
            let negate = matches!(class.first(), Some(b'!' | b'^'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_matches(&p[close + 1..], &s[1..])
        }
        Some(&c) => s.first() == Some(&c) && glob_matches(&p[1..], &s[1..]),
    }
}
