//! nextest filtersets (`-E 'package(api) & test(/e2e_/)'`) with nextest's own parser and
//! evaluator (the `nextest-filtering` crate), so an expression selects exactly what it selects
//! under `cargo nextest`. The same evaluator decides which tests a `.config/nextest.toml`
//! override applies to.
//!
//! Evaluating `package()`, `deps()` and `rdeps()` needs the workspace's package graph, which
//! costs a full `cargo metadata` (with dependencies): it is only built when an expression is
//! actually used ([`PackageGraphSource::load`]).
//!
//! Meaning, as in nextest: several `-E` are OR-ed; the result is AND-ed with the positional
//! name filters and `--skip`; `--ignored`/`--include-ignored` still decide about ignored
//! tests. Binary ids are nextest's (`pkg`, `pkg::test`, `pkg::bin/name`), which are
//! shardtest's own ([`crate::id::BinaryId`]).

use crate::list::TestBinary;
use guppy::graph::PackageGraph;
use guppy::graph::cargo::BuildPlatform;
use nextest_filtering::{
    BinaryQuery, CompiledExpr, EvalContext, Filterset, FiltersetKind, KnownGroups, ParseContext,
    TestQuery,
};
use nextest_metadata::{RustBinaryId, RustTestBinaryKind, TestCaseName};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// The workspace's package graph, from `cargo metadata` with dependencies and all features
/// (what nextest builds its graph from).
pub struct PackageGraphSource {
    graph: PackageGraph,
}

impl PackageGraphSource {
    /// Runs `cargo metadata --format-version 1 --all-features [--filter-platform TRIPLE]` for
    /// the workspace of `manifest_path` (or the current directory) and builds the graph.
    pub fn load(manifest_path: Option<&Path>, target: Option<&str>) -> Result<Self, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["metadata", "--format-version", "1", "--all-features"]);
        if let Some(m) = manifest_path {
            cmd.arg("--manifest-path").arg(m);
        }
        if let Some(t) = target.map(str::to_string).or_else(host_triple) {
            cmd.args(["--filter-platform", &t]);
        }
        let out = cmd
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| format!("could not run cargo metadata: {e}"))?;
        if !out.status.success() {
            return Err(format!("cargo metadata failed ({})", out.status));
        }
        let json = String::from_utf8(out.stdout)
            .map_err(|_| "cargo metadata printed something that is not UTF-8".to_string())?;
        Self::from_json(&json)
    }

    /// Builds the graph from `cargo metadata` JSON (with dependencies).
    pub fn from_json(json: &str) -> Result<Self, String> {
        PackageGraph::from_json(json)
            .map(|graph| PackageGraphSource { graph })
            .map_err(|e| format!("reading the package graph: {e}"))
    }

    /// The graph.
    pub fn graph(&self) -> &PackageGraph {
        &self.graph
    }
}

/// The host's target triple, from `rustc -vV`.
fn host_triple() -> Option<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc).arg("-vV").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(|h| h.trim().to_string()))
}

/// Expressions compiled against one package graph.
pub struct Filtersets<'g> {
    _graph: std::marker::PhantomData<&'g PackageGraph>,
    exprs: Vec<Filterset>,
    /// Workspace package name -> id.
    packages: BTreeMap<String, guppy::PackageId>,
    /// What `default()` means (nextest's `default-filter`; `all()` without one).
    default: CompiledExpr,
}

/// A test as a filterset sees it.
pub struct Query<'a> {
    package_id: &'a guppy::PackageId,
    binary_id: RustBinaryId,
    binary_name: &'a str,
    kind: RustTestBinaryKind,
    platform: BuildPlatform,
}

impl<'g> Filtersets<'g> {
    /// Parses and compiles `inputs` (`kind` is [`FiltersetKind::Test`] for `-E`,
    /// [`FiltersetKind::OverrideFilter`] for config overrides). Errors are nextest's messages,
    /// one per expression that does not parse.
    pub fn compile(
        source: &'g PackageGraphSource,
        inputs: &[String],
        kind: FiltersetKind,
    ) -> Result<Self, String> {
        let graph = source.graph();
        let cx = ParseContext::new(graph);
        // Test groups are not a thing -E can ask about in shardtest (yet): `group()` is
        // rejected like an unknown group.
        let groups = KnownGroups::Known {
            custom_groups: HashSet::new(),
        };
        let mut exprs = Vec::new();
        let mut errors = Vec::new();
        for input in inputs {
            match Filterset::parse(input.clone(), &cx, kind, &groups) {
                // `group(@global)` compiles; evaluating it needs group membership, which
                // shardtest does not offer to filtersets yet.
                Ok(f) if f.compiled.has_group_matchers() => errors.push(format!(
                    "invalid filterset `{input}`: `group()` is not supported by cargo shardtest yet"
                )),
                Ok(f) => exprs.push(f),
                Err(e) => {
                    let reasons: Vec<String> = e.errors.iter().map(|s| s.to_string()).collect();
                    errors.push(format!(
                        "invalid filterset `{input}`: {}",
                        reasons.join("; ")
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let packages = graph
            .workspace()
            .iter()
            .map(|p| (p.name().to_string(), p.id().clone()))
            .collect();
        Ok(Filtersets {
            _graph: std::marker::PhantomData,
            exprs,
            packages,
            default: CompiledExpr::ALL,
        })
    }

    /// The same expressions, with `default()` meaning the first expression of `default`
    /// (compiled with [`FiltersetKind::DefaultFilter`]).
    pub fn with_default(mut self, default: &Filtersets<'_>) -> Self {
        if let Some(d) = default.exprs.first() {
            self.default = d.compiled.clone();
        }
        self
    }

    /// How many expressions there are.
    pub fn len(&self) -> usize {
        self.exprs.len()
    }

    /// True when there is no expression (which matches everything).
    pub fn is_empty(&self) -> bool {
        self.exprs.is_empty()
    }

    /// The query for tests of `binary`, or `None` when its package is not in the workspace
    /// graph (then no expression matches it).
    pub fn query<'a>(&'a self, binary: &'a TestBinary) -> Option<Query<'a>> {
        let package_id = self.packages.get(&binary.package_name)?;
        let kind = match binary.kind.as_str() {
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" => RustTestBinaryKind::LIB,
            "proc-macro" => RustTestBinaryKind::PROC_MACRO,
            other => RustTestBinaryKind::new(other.to_string()),
        };
        let platform = if kind == RustTestBinaryKind::PROC_MACRO {
            BuildPlatform::Host
        } else {
            BuildPlatform::Target
        };
        Some(Query {
            package_id,
            binary_id: RustBinaryId::new(binary.id.as_str()),
            binary_name: &binary.target_name,
            kind,
            platform,
        })
    }

    /// Whether expression `index` selects `test` of the binary behind `query`.
    pub fn matches_one(&self, index: usize, query: &Query<'_>, test: &str) -> bool {
        let name = TestCaseName::new(test);
        let q = TestQuery {
            binary_query: BinaryQuery {
                package_id: query.package_id,
                binary_id: &query.binary_id,
                binary_name: query.binary_name,
                kind: &query.kind,
                platform: query.platform,
            },
            test_name: &name,
        };
        let cx = EvalContext {
            default_filter: &self.default,
        };
        self.exprs[index].matches_test(&q, &cx)
    }

    /// Whether any expression selects `test` (nextest ORs several `-E`); true when there are
    /// none.
    pub fn matches(&self, query: Option<&Query<'_>>, test: &str) -> bool {
        if self.exprs.is_empty() {
            return true;
        }
        let Some(query) = query else {
            return false;
        };
        (0..self.exprs.len()).any(|i| self.matches_one(i, query, test))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_expression_is_reported_by_input() {
        // A graph of one package, from `cargo metadata` of this very workspace would need
        // cargo; a minimal hand-written metadata document is enough for parsing.
        let json = minimal_metadata();
        let source = PackageGraphSource::from_json(&json).unwrap();
        let err = Filtersets::compile(&source, &["test(".into()], FiltersetKind::Test)
            .err()
            .unwrap();
        assert!(err.contains("invalid filterset `test(`"), "{err}");
        for g in ["group(@global)", "group(db)"] {
            let err = Filtersets::compile(&source, &[g.into()], FiltersetKind::Test)
                .err()
                .unwrap();
            assert!(err.contains(g), "{err}");
        }
        let ok = Filtersets::compile(
            &source,
            &["test(/^a/) | package(demo)".into()],
            FiltersetKind::Test,
        )
        .unwrap();
        let binary = TestBinary {
            package_dir: "/w".into(),
            ..TestBinary::new("demo", "lib", "demo", "/x")
        };
        let q = ok.query(&binary);
        assert!(ok.matches(q.as_ref(), "b"));
        let only_a =
            Filtersets::compile(&source, &["test(/^a/)".into()], FiltersetKind::Test).unwrap();
        let q = only_a.query(&binary);
        assert!(only_a.matches(q.as_ref(), "abc"));
        assert!(!only_a.matches(q.as_ref(), "bc"));
    }

    fn minimal_metadata() -> String {
        serde_json::json!({
            "packages": [{
                "name": "demo", "version": "0.1.0", "id": "path+file:///w#demo@0.1.0",
                "license": null, "license_file": null, "description": null, "source": null,
                "dependencies": [], "targets": [{
                    "kind": ["lib"], "crate_types": ["lib"], "name": "demo",
                    "src_path": "/w/src/lib.rs", "edition": "2021", "doc": true,
                    "doctest": true, "test": true
                }],
                "features": {}, "manifest_path": "/w/Cargo.toml", "metadata": null,
                "publish": null, "authors": [], "categories": [], "keywords": [],
                "readme": null, "repository": null, "homepage": null, "documentation": null,
                "edition": "2021", "links": null, "default_run": null, "rust_version": null
            }],
            "workspace_members": ["path+file:///w#demo@0.1.0"],
            "workspace_default_members": ["path+file:///w#demo@0.1.0"],
            "resolve": {
                "nodes": [{"id": "path+file:///w#demo@0.1.0", "dependencies": [], "deps": [], "features": []}],
                "root": "path+file:///w#demo@0.1.0"
            },
            "target_directory": "/w/target", "version": 1, "workspace_root": "/w",
            "metadata": null
        })
        .to_string()
    }
}
