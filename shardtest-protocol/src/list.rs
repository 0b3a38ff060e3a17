//! The list schema: the document `cargo shardtest list --format json` prints ([`ListReport`]),
//! with the binaries of the build and the tests of the chosen shard.

use crate::attrs::TestAttributes;
use crate::id::{BinaryId, BinaryKind, Fingerprint, TestId, TestName};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Version of the list document written by this build.
pub const LIST_VERSION: u32 = 1;

/// A test binary as `list --format json` describes it.
///
/// ```
/// # use shardtest_protocol::list::ListedBinary;
/// let b = ListedBinary { kind: "test".into(), package: "app".into(), package_dir: "app".into(),
///     path: "target/debug/deps/api-1f2e".into(), target: "api".into() };
/// assert_eq!(b.kind.as_str(), "test");
/// ```
// Fields in alphabetical order: the document has always been printed with sorted keys.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedBinary {
    /// Cargo target kind.
    pub kind: BinaryKind,
    /// Package name.
    pub package: String,
    /// Directory of the package's manifest: the tests' working directory.
    pub package_dir: PathBuf,
    /// Path of the executable.
    pub path: PathBuf,
    /// Cargo target name.
    pub target: String,
}

/// A test as `list --format json` describes it.
///
/// ```
/// # use shardtest_protocol::list::ListedTest;
/// let id: shardtest_protocol::id::TestId = "app::api orders::create".parse().unwrap();
/// let t = ListedTest { attributes: Default::default(), binary: id.binary.clone(),
///     name: id.name.clone(), id, ignored: false, will_run: true };
/// assert_eq!(t.binary.as_str(), "app::api");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListedTest {
    /// Attributes the test declared (`#[shard::serial]`, groups, flaky, ...).
    pub attributes: TestAttributes,
    /// The binary it lives in.
    pub binary: BinaryId,
    /// Its full id (`<binary> <name>`).
    pub id: TestId,
    /// True when it is `#[ignore]`d.
    pub ignored: bool,
    /// Its libtest name.
    pub name: TestName,
    /// True when the filters select it to run (false: ignored and skipped).
    pub will_run: bool,
}

/// The document `cargo shardtest list --format json` prints.
///
/// ```
/// # use shardtest_protocol::list::*;
/// let doc = ListReport { binaries: Default::default(), fingerprint: "ab12".into(),
///     shard: "1/1".into(), tests: vec![], version: LIST_VERSION };
/// let json = serde_json::to_string(&doc).unwrap();
/// assert_eq!(json, r#"{"binaries":{},"fingerprint":"ab12","shard":"1/1","tests":[],"version":1}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListReport {
    /// The build's binaries by id.
    pub binaries: BTreeMap<BinaryId, ListedBinary>,
    /// Fingerprint of the plan the shard comes from.
    pub fingerprint: Fingerprint,
    /// The shard listed (`K/N`).
    pub shard: String,
    /// The shard's tests, in id order.
    pub tests: Vec<ListedTest>,
    /// Schema version ([`LIST_VERSION`]).
    pub version: u32,
}
