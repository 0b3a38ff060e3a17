//! The timings file on disk: its versions ([`TIMINGS_VERSION`] is the newest), writing a
//! store as text ([`TimingStore::to_json`](crate::history::TimingStore::to_json)) and reading
//! one back ([`TimingStore::from_json`](crate::history::TimingStore::from_json)). The
//! layout of each version is described in [the history's module doc](crate::history).

mod read;
mod write;

/// Newest version of the timings file format, the one this build writes when the store
/// holds doctest costs ([`TimingStore::doc_costs`](crate::history::TimingStore::doc_costs));
/// it reads every version up to it.
pub const TIMINGS_VERSION: u32 = 3;
/// The version written for a store without doctest costs (the same layout minus them), so
/// that such a file stays readable by builds that know only version 2.
const VERSION_WITHOUT_DOC_COSTS: u32 = 2;
