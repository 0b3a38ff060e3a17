//! Identity: [`BinaryId`], [`TestName`] and [`TestId`] name a test, [`RunId`] a run,
//! [`Fingerprint`] a plan, and [`BinaryKind`] says what kind of cargo target a binary is.
//!
//! A test is identified by the binary it lives in plus its libtest name. The binary id is
//! derived from the package name, the target kind and the target name only, so two machines
//! building the same commit compute the same ids (never a path or a hash).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

// The ids are shared text (`Arc<str>`): every event, report record and plan entry carries
// the id of its test, so a clone must not copy the text.
macro_rules! text_serde {
    ($ty:ident, $what:literal) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct Visitor;
                impl serde::de::Visitor<'_> for Visitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        Ok($ty(s.into()))
                    }
                }
                d.deserialize_str(Visitor)
            }
        }
    };
}

/// Conversions shared by the text ids: from `&str`/`String`, comparison with text, display.
macro_rules! text_conversions {
    ($ty:ident) => {
        impl From<&str> for $ty {
            fn from(s: &str) -> Self {
                $ty(s.into())
            }
        }

        impl From<String> for $ty {
            fn from(s: String) -> Self {
                $ty(s.into())
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_serde!(BinaryId, "a binary id");
text_serde!(TestName, "a test name");

/// Stable id of a test binary: `pkg` for a library's unit tests, `pkg::target` for an
/// integration test, `pkg::bin/name`, `pkg::example/name` or `pkg::bench/name` otherwise.
///
/// ```
/// use shardtest_protocol::id::BinaryId;
/// assert_eq!(BinaryId::from_target("billing", "lib", "billing").as_str(), "billing");
/// assert_eq!(BinaryId::from_target("billing", "test", "api").as_str(), "billing::api");
/// assert_eq!(BinaryId::from_target("billing", "bin", "server").as_str(), "billing::bin/server");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BinaryId(Arc<str>);

impl BinaryId {
    /// Wraps an already formed id (for example one read back from a report).
    ///
    /// ```
    /// # use shardtest_protocol::id::BinaryId;
    /// assert_eq!(BinaryId::new("pkg::it").to_string(), "pkg::it");
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        BinaryId(id.into().into())
    }

    /// Forms the id of a cargo target. `kind` is cargo's target kind (`lib`, `rlib`,
    /// `proc-macro`, `test`, `bin`, `example`, `bench`, ...).
    ///
    /// ```
    /// # use shardtest_protocol::id::BinaryId;
    /// assert_eq!(BinaryId::from_target("m", "proc-macro", "m").as_str(), "m");
    /// ```
    pub fn from_target(package: &str, kind: &str, target: &str) -> Self {
        let kind = BinaryKind::from(kind);
        if kind.is_library() {
            return BinaryId(package.into());
        }
        match kind {
            BinaryKind::Test => BinaryId(format!("{package}::{target}").into()),
            other => BinaryId(format!("{package}::{other}/{target}").into()),
        }
    }

    /// The id as text.
    ///
    /// ```
    /// # use shardtest_protocol::id::BinaryId;
    /// assert_eq!(BinaryId::new("a").as_str(), "a");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BinaryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A test's name as libtest prints it in `--list` (`module::path::test_fn`).
///
/// ```
/// use shardtest_protocol::id::TestName;
/// assert_eq!(TestName::new("tests::adds").as_str(), "tests::adds");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestName(Arc<str>);

impl TestName {
    /// Wraps a libtest test name.
    ///
    /// ```
    /// # use shardtest_protocol::id::TestName;
    /// let n = TestName::new("a::b");
    /// assert_eq!(n.to_string(), "a::b");
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        TestName(name.into().into())
    }

    /// The name as text.
    ///
    /// ```
    /// # use shardtest_protocol::id::TestName;
    /// assert_eq!(TestName::new("x").as_str(), "x");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TestName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The unique id of a run (`SHARDTEST_RUN_ID`; every shard has its own). Shared, not
/// copied: a store holds it once per test the run measured, so cloning is a reference count.
///
/// ```
/// # use shardtest_protocol::id::RunId;
/// let a = RunId::from("run-17");
/// assert_eq!(a.as_str(), "run-17");
/// assert_eq!(a, RunId::from(String::from("run-17")));
/// assert!(RunId::from("a") < RunId::from("b"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(Arc<str>);

text_serde!(RunId, "a run id");
text_serde!(Fingerprint, "a plan fingerprint");
text_conversions!(RunId);
text_conversions!(Fingerprint);

impl RunId {
    /// The id as text.
    ///
    /// ```
    /// # use shardtest_protocol::id::RunId;
    /// assert_eq!(RunId::from("r").as_str(), "r");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for RunId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The fingerprint of a plan: a short hex hash of everything the plan was computed from (the
/// tests, their estimates and attributes, the shard and worker counts). Jobs of one CI run
/// that print the same fingerprint computed the same plan; `verify` and `report merge` match
/// reports by it.
///
/// ```
/// # use shardtest_protocol::id::Fingerprint;
/// let f = Fingerprint::from("e87dff6171a7e534");
/// assert_eq!(f, "e87dff6171a7e534");
/// assert_eq!(f.to_string(), "e87dff6171a7e534");
/// assert!(Fingerprint::default().is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint(Arc<str>);

impl Fingerprint {
    /// The fingerprint as text.
    ///
    /// ```
    /// # use shardtest_protocol::id::Fingerprint;
    /// assert_eq!(Fingerprint::from("ab12").as_str(), "ab12");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the empty fingerprint (a run that was not planned, such as a queue job's
    /// before it joins).
    ///
    /// ```
    /// # use shardtest_protocol::id::Fingerprint;
    /// assert!(!Fingerprint::from("ab12").is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What kind of cargo target a test binary was built from. Cargo's own names are kept as
/// text (`lib`, `test`, `proc-macro`, ...), and `doc` marks a package's doctests.
///
/// ```
/// # use shardtest_protocol::id::BinaryKind;
/// let k = BinaryKind::from("proc-macro");
/// assert_eq!(k, BinaryKind::ProcMacro);
/// assert!(k.is_library());
/// assert_eq!(k.as_str(), "proc-macro");
/// assert_eq!(BinaryKind::from("cdylib").to_string(), "cdylib");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BinaryKind {
    /// A library's unit tests (`lib`).
    Lib,
    /// A procedural macro crate's unit tests (`proc-macro`).
    ProcMacro,
    /// An integration test (`tests/*.rs`, kind `test`).
    Test,
    /// A binary target's unit tests (`bin`).
    Bin,
    /// An example (`example`).
    Example,
    /// A benchmark target (`bench`).
    Bench,
    /// A package's doctests, run through `cargo test --doc` (`doc`).
    Doc,
    /// Any other cargo kind (`rlib`, `dylib`, `cdylib`, `staticlib`, ...), by its name.
    Other(String),
}

impl BinaryKind {
    /// Cargo's name for the kind.
    ///
    /// ```
    /// # use shardtest_protocol::id::BinaryKind;
    /// assert_eq!(BinaryKind::Test.as_str(), "test");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            BinaryKind::Lib => "lib",
            BinaryKind::ProcMacro => "proc-macro",
            BinaryKind::Test => "test",
            BinaryKind::Bin => "bin",
            BinaryKind::Example => "example",
            BinaryKind::Bench => "bench",
            BinaryKind::Doc => "doc",
            BinaryKind::Other(k) => k,
        }
    }

    /// True for the library kinds, whose unit tests are named after the package alone.
    ///
    /// ```
    /// # use shardtest_protocol::id::BinaryKind;
    /// assert!(BinaryKind::from("rlib").is_library());
    /// assert!(!BinaryKind::Bin.is_library());
    /// ```
    pub fn is_library(&self) -> bool {
        matches!(
            self.as_str(),
            "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro"
        )
    }
}

impl From<&str> for BinaryKind {
    fn from(s: &str) -> Self {
        match s {
            "lib" => BinaryKind::Lib,
            "proc-macro" => BinaryKind::ProcMacro,
            "test" => BinaryKind::Test,
            "bin" => BinaryKind::Bin,
            "example" => BinaryKind::Example,
            "bench" => BinaryKind::Bench,
            "doc" => BinaryKind::Doc,
            other => BinaryKind::Other(other.to_owned()),
        }
    }
}

impl PartialEq<str> for BinaryKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BinaryKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for BinaryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for BinaryKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for BinaryKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(BinaryKind::from(&*text))
    }
}

/// One test: binary id plus test name. Ordered by binary, then name; this order breaks every
/// tie in planning and scheduling, so plans do not depend on input order.
///
/// Its text form is `"<binary-id> <test-name>"`: binary ids never contain a space, so the
/// first space separates the two parts even when a (libtest-mimic) test name has spaces.
///
/// ```
/// use shardtest_protocol::id::TestId;
/// let id: TestId = "billing::api orders::creates".parse().unwrap();
/// assert_eq!(id.binary.as_str(), "billing::api");
/// assert_eq!(id.name.as_str(), "orders::creates");
/// assert_eq!(id.to_string(), "billing::api orders::creates");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TestId {
    /// The binary the test lives in.
    pub binary: BinaryId,
    /// The libtest name inside that binary.
    pub name: TestName,
}

impl TestId {
    /// Builds an id from its parts.
    ///
    /// ```
    /// # use shardtest_protocol::id::{BinaryId, TestId, TestName};
    /// let id = TestId::new(BinaryId::new("p"), TestName::new("t"));
    /// assert_eq!(id.to_string(), "p t");
    /// ```
    pub fn new(binary: BinaryId, name: TestName) -> Self {
        TestId { binary, name }
    }
}

impl fmt::Display for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.binary, self.name)
    }
}

/// The text was not of the form `"<binary-id> <test-name>"`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "`{0}` is not a test id: expected `<binary-id> <test-name>`, e.g. `mycrate::api tests::works`"
)]
pub struct ParseTestIdError(pub String);

impl std::str::FromStr for TestId {
    type Err = ParseTestIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(' ') {
            Some((bin, name)) if !bin.is_empty() && !name.is_empty() => Ok(TestId {
                binary: BinaryId(bin.into()),
                name: TestName(name.into()),
            }),
            _ => Err(ParseTestIdError(s.to_string())),
        }
    }
}

impl Serialize for TestId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TestId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed straight from the input text: a timings file holds one id per test, so an
        // intermediate `String` per id is measurable at 100,000 tests.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = TestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a test id `<binary-id> <test name>`")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<TestId, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_by_binary_then_name() {
        let a: TestId = "a z".parse().unwrap();
        let b: TestId = "b a".parse().unwrap();
        assert!(a < b);
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert!("nospace".parse::<TestId>().is_err());
        assert!(" x".parse::<TestId>().is_err());
        assert!("x ".parse::<TestId>().is_err());
    }

    #[test]
    fn names_with_spaces_survive_a_round_trip() {
        let id: TestId = "synth case 12 [slow]".parse().unwrap();
        assert_eq!(id.name.as_str(), "case 12 [slow]");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<TestId>(&json).unwrap(), id);
    }
}
