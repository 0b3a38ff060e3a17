//! CODEOWNERS: parsing and matching, following GitHub's rules.
//!
//! A CODEOWNERS file is a list of `pattern owner...` lines (`#` starts a comment). For a path,
//! the **last** line whose pattern matches decides its owners; a matching line without owners
//! leaves the path unowned. Patterns follow the gitignore syntax GitHub supports:
//!
//! * a pattern starting with `/`, or with a `/` anywhere but at its end, is anchored at the
//!   repository root (`/build/logs/`, `docs/*`); any other pattern matches at any depth
//!   (`*.rs`, `apps/`);
//! * a pattern ending in `/` matches a directory, hence every file under it; a pattern without
//!   the `/` matches a file of that name or a directory and everything under it;
//! * `*` matches any run of characters but `/`, `?` one character but `/`, and a whole `**`
//!   segment any number of directories (`**/logs`, `docs/**/*.md`, `src/**`).
//!
//! GitHub ignores lines with `!` negation or `[...]` character ranges; so does this parser
//! (they are not in [`CodeOwners::rules`]). `\#` escapes a leading `#`.

use std::path::{Path, PathBuf};

/// One line of a CODEOWNERS file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The pattern as written.
    pub pattern: String,
    /// Owners (`@user`, `@org/team`, or an e-mail address); empty: explicitly unowned.
    pub owners: Vec<String>,
    anchored: bool,
    dir_only: bool,
    wild_end: bool,
    segments: Vec<String>,
}

impl Rule {
    /// Parses `pattern`; `None` for patterns GitHub does not support (`!`, `[...]`).
    ///
    /// ```
    /// use shardtest::report::health::codeowners::Rule;
    /// let r = Rule::new("/src/net/", vec!["@net".into()]).unwrap();
    /// assert!(r.matches("src/net/tcp.rs"));
    /// assert!(!r.matches("lib/src/net/tcp.rs"));
    /// assert!(Rule::new("!x", vec![]).is_none());
    /// ```
    pub fn new(pattern: &str, owners: Vec<String>) -> Option<Rule> {
        let raw = pattern.strip_prefix('\\').unwrap_or(pattern);
        if raw.is_empty() || pattern.starts_with('!') || raw.contains('[') {
            return None;
        }
        let dir_only = raw.ends_with('/');
        let body = raw.trim_end_matches('/');
        let anchored = body.starts_with('/') || body.contains('/');
        let body = body.trim_start_matches('/');
        let mut segments: Vec<String> = if body.is_empty() {
            // `/` alone: the whole repository.
            vec!["**".to_string()]
        } else {
            body.split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        if !anchored {
            segments.insert(0, "**".to_string());
        }
        let wild_end = !dir_only
            && segments
                .last()
                .is_some_and(|s| s != "**" && (s.contains('*') || s.contains('?')));
        Some(Rule {
            pattern: pattern.to_string(),
            owners,
            anchored,
            dir_only,
            wild_end,
            segments,
        })
    }

    /// Whether the pattern is anchored at the repository root.
    ///
    /// ```
    /// use shardtest::report::health::codeowners::Rule;
    /// assert!(Rule::new("/src", vec![]).unwrap().anchored());
    /// assert!(Rule::new("docs/api", vec![]).unwrap().anchored());
    /// assert!(!Rule::new("fixtures/", vec![]).unwrap().anchored());
    /// ```
    pub fn anchored(&self) -> bool {
        self.anchored
    }

    /// Whether this rule matches `path` (a file path relative to the repository root, `/`
    /// separated): the pattern matches the path itself or one of its directories.
    ///
    /// ```
    /// use shardtest::report::health::codeowners::Rule;
    /// let r = Rule::new("docs/**/*.md", vec![]).unwrap();
    /// assert!(r.matches("docs/a/b/c.md") && r.matches("docs/c.md") && !r.matches("x/docs/c.md"));
    /// ```
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let n = parts.len();
        // A directory pattern must match a directory: a proper prefix of a file's path.
        let last = if self.dir_only {
            n.saturating_sub(1)
        } else {
            n
        };
        // GitHub: `docs/*` owns docs' files but not files further down; a literal last
        // segment (`/src/net`, `**/logs`) or `**` owns a whole directory.
        let first = if self.wild_end { n } else { 1 };
        (first..=last).any(|k| match_segments(&self.segments, &parts[..k]))
    }
}

fn match_segments(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((p, rest)) if p == "**" => {
            (0..=path.len()).any(|skip| match_segments(rest, &path[skip..]))
        }
        Some((p, rest)) => match path.split_first() {
            Some((s, tail)) => glob(p.as_bytes(), s.as_bytes()) && match_segments(rest, tail),
            None => false,
        },
    }
}

/// `*` and `?` within one path segment.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len()
            && (p[pi] == b'?'
                || (p[pi] == b'\\' && pi + 1 < p.len() && p[pi + 1] == s[si])
                || p[pi] == s[si])
        {
            pi += if p[pi] == b'\\' { 2 } else { 1 };
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == b'*' {
        pi += 1;
    }
    pi == p.len()
}

/// A parsed CODEOWNERS file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CodeOwners {
    /// The supported rules, in file order.
    pub rules: Vec<Rule>,
}

impl CodeOwners {
    /// Parses the text of a CODEOWNERS file.
    ///
    /// ```
    /// use shardtest::report::health::codeowners::CodeOwners;
    /// let c = CodeOwners::parse("# owners\n*       @all\n/src/net/ @net @alice\n*.md\n");
    /// assert_eq!(c.owners_of("src/net/tcp.rs"), Some(&["@net".to_string(), "@alice".to_string()][..]));
    /// assert_eq!(c.owners_of("src/lib.rs"), Some(&["@all".to_string()][..]));
    /// assert_eq!(c.owners_of("README.md"), None); // the last match has no owners
    /// ```
    pub fn parse(text: &str) -> CodeOwners {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            // An unescaped ` #` starts a trailing comment.
            let line = match line.find(" #") {
                Some(i) => &line[..i],
                None => line,
            };
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            let owners: Vec<String> = words.map(str::to_string).collect();
            if let Some(rule) = Rule::new(pattern, owners) {
                rules.push(rule);
            }
        }
        CodeOwners { rules }
    }

    /// The rule that decides `path` (relative to the repository root): the last that matches.
    ///
    /// ```
    /// use shardtest::report::health::codeowners::CodeOwners;
    /// let c = CodeOwners::parse("*.rs @rust\n/src/ @src\n");
    /// assert_eq!(c.rule_for("src/a.rs").unwrap().pattern, "/src/");
    /// ```
    pub fn rule_for(&self, path: &str) -> Option<&Rule> {
        self.rules.iter().rev().find(|r| r.matches(path))
    }

    /// The owners of `path`: `None` when no rule matches or the deciding rule names nobody.
    ///
    /// ```
    /// use shardtest::report::health::codeowners::CodeOwners;
    /// let c = CodeOwners::parse("/tests/ @qa\n");
    /// assert_eq!(c.owners_of("tests/it.rs").map(|o| o.join(" ")), Some("@qa".into()));
    /// assert!(c.owners_of("src/lib.rs").is_none());
    /// ```
    pub fn owners_of(&self, path: &str) -> Option<&[String]> {
        self.rule_for(path)
            .map(|r| r.owners.as_slice())
            .filter(|o| !o.is_empty())
    }
}

/// Where GitHub looks for CODEOWNERS, in its order of preference, relative to the repository
/// root.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// Finds the CODEOWNERS file of the repository containing `start`: in `start` and then each
/// parent directory, the first of [`LOCATIONS`] that exists; the search stops at a directory
/// holding `.git`. Returns the file and the repository root its patterns are relative to.
///
/// ```
/// let d = tempfile::tempdir().unwrap();
/// std::fs::create_dir_all(d.path().join(".github")).unwrap();
/// std::fs::create_dir_all(d.path().join("crates/a")).unwrap();
/// std::fs::write(d.path().join(".github/CODEOWNERS"), "* @all\n").unwrap();
/// let (file, root) = shardtest::report::health::codeowners::find(&d.path().join("crates/a")).unwrap();
/// assert_eq!(root, d.path());
/// assert!(file.ends_with(".github/CODEOWNERS"));
/// ```
pub fn find(start: &Path) -> Option<(PathBuf, PathBuf)> {
    for dir in start.ancestors() {
        for loc in LOCATIONS {
            let f = dir.join(loc);
            if f.is_file() {
                return Some((f, dir.to_path_buf()));
            }
        }
        if dir.join(".git").exists() {
            return None;
        }
    }
    None
}

/// The repository root a CODEOWNERS file at `file` applies to: the parent of its `.github` or
/// `docs` directory, else its own directory.
///
/// ```
/// use shardtest::report::health::codeowners::root_of;
/// assert_eq!(root_of("/r/.github/CODEOWNERS".as_ref()), std::path::Path::new("/r"));
/// assert_eq!(root_of("/r/CODEOWNERS".as_ref()), std::path::Path::new("/r"));
/// ```
pub fn root_of(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("."));
    match dir.file_name().and_then(|n| n.to_str()) {
        Some(".github" | "docs") => dir.parent().unwrap_or(dir).to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(c: &CodeOwners, path: &str) -> Option<String> {
        c.owners_of(path).map(|o| o.join(" "))
    }

    #[test]
    fn the_last_matching_pattern_wins() {
        let c = CodeOwners::parse("* @everyone\n*.rs @rust\n/src/net/ @net\n");
        assert_eq!(owner(&c, "README.md").as_deref(), Some("@everyone"));
        assert_eq!(owner(&c, "src/lib.rs").as_deref(), Some("@rust"));
        assert_eq!(owner(&c, "src/net/tcp.rs").as_deref(), Some("@net"));
        // Order matters: the same rules reversed give the catch-all the last word.
        let r = CodeOwners::parse("/src/net/ @net\n*.rs @rust\n* @everyone\n");
        assert_eq!(owner(&r, "src/net/tcp.rs").as_deref(), Some("@everyone"));
    }

    #[test]
    fn a_later_rule_without_owners_unsets_them() {
        let c = CodeOwners::parse("/src/ @src\n/src/generated/\n");
        assert_eq!(owner(&c, "src/a.rs").as_deref(), Some("@src"));
        assert_eq!(owner(&c, "src/generated/x.rs"), None);
    }

    #[test]
    fn anchored_and_unanchored_patterns() {
        let c = CodeOwners::parse("/build/ @root-build\n");
        assert!(owner(&c, "build/x.rs").is_some());
        assert!(owner(&c, "a/build/x.rs").is_none());
        // A slash in the middle anchors too.
        let c = CodeOwners::parse("docs/api @api\n");
        assert!(owner(&c, "docs/api/x.md").is_some());
        assert!(owner(&c, "web/docs/api/x.md").is_none());
        // No slash (or only a trailing one): any depth.
        let c = CodeOwners::parse("fixtures/ @fx\nMakefile @make\n");
        assert!(owner(&c, "fixtures/a.json").is_some());
        assert!(owner(&c, "crates/x/tests/fixtures/a.json").is_some());
        assert!(owner(&c, "crates/x/Makefile").is_some());
        assert!(owner(&c, "crates/x/Makefile.am").is_none());
    }

    #[test]
    fn directories() {
        // A trailing slash matches directories only, and everything under them.
        let c = CodeOwners::parse("logs/ @logs\n");
        assert!(owner(&c, "logs/a/b/c.txt").is_some());
        assert!(
            owner(&c, "logs").is_none(),
            "a file named logs is not a directory"
        );
        // Without the slash, a file or a directory of that name.
        let c = CodeOwners::parse("/src/net @net\n");
        assert!(owner(&c, "src/net").is_some());
        assert!(owner(&c, "src/net/deep/er.rs").is_some());
        assert!(owner(&c, "src/network.rs").is_none());
    }

    #[test]
    fn single_star() {
        let c = CodeOwners::parse("docs/* @docs\n*.js @js\n");
        assert!(owner(&c, "docs/guide.md").is_some());
        // `docs/*` covers docs' own files, not those further down (GitHub's documented rule).
        assert!(owner(&c, "docs/sub/deep.md").is_none());
        assert!(owner(&c, "x/docs/guide.md").is_none());
        assert!(owner(&c, "web/app.js").is_some());
        assert!(owner(&c, "web/app.jsx").is_none());
        let c = CodeOwners::parse("/src/*.rs @top\n");
        assert!(owner(&c, "src/lib.rs").is_some());
        assert!(
            owner(&c, "src/a/b.rs").is_none(),
            "`*` does not cross a slash"
        );
        let c = CodeOwners::parse("/src/n?t.rs @q\n");
        assert!(owner(&c, "src/net.rs").is_some() && owner(&c, "src/neat.rs").is_none());
    }

    #[test]
    fn double_star() {
        let c = CodeOwners::parse("**/logs @logs\n");
        assert!(owner(&c, "logs/a").is_some());
        assert!(owner(&c, "deep/down/logs/a").is_some());
        let c = CodeOwners::parse("/docs/**/*.md @md\n");
        assert!(owner(&c, "docs/a.md").is_some());
        assert!(owner(&c, "docs/x/y/a.md").is_some());
        assert!(owner(&c, "docs/x/y/a.rs").is_none());
        let c = CodeOwners::parse("/src/** @src\n");
        assert!(owner(&c, "src/a/b/c.rs").is_some());
        assert!(owner(&c, "lib/src/a.rs").is_none());
    }

    #[test]
    fn comments_escapes_and_unsupported_lines() {
        let c = CodeOwners::parse(
            "# a comment\n\n\\#file @hash # trailing comment\n!negated @x\n[ab].rs @y\n*.rs @rs\n",
        );
        assert_eq!(c.rules.len(), 2);
        assert_eq!(owner(&c, "#file").as_deref(), Some("@hash"));
        assert_eq!(owner(&c, "a.rs").as_deref(), Some("@rs"));
    }

    #[test]
    fn the_file_is_found_where_github_looks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("docs")).unwrap();
        std::fs::create_dir_all(d.path().join("a/b")).unwrap();
        std::fs::write(d.path().join("docs/CODEOWNERS"), "* @docs\n").unwrap();
        let (f, root) = find(&d.path().join("a/b")).unwrap();
        assert_eq!(
            (f.as_path(), root.as_path()),
            (d.path().join("docs/CODEOWNERS").as_path(), d.path())
        );
        std::fs::create_dir_all(d.path().join(".github")).unwrap();
        std::fs::write(d.path().join(".github/CODEOWNERS"), "* @gh\n").unwrap();
        assert!(find(d.path()).unwrap().0.ends_with(".github/CODEOWNERS"));
        // The search stops at the repository's top.
        let e = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(e.path().join("repo/.git")).unwrap();
        std::fs::write(e.path().join("CODEOWNERS"), "* @outside\n").unwrap();
        assert!(find(&e.path().join("repo")).is_none());
    }
}
