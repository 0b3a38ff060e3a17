//! `report html`: the test-health page, one self-contained HTML file drawn from the timings
//! history and the latest JSON reports.
//!
//! * [`codeowners`]: CODEOWNERS parsing and matching (GitHub's rules);
//! * [`owners`]: which file a test lives in, and so who owns it;
//! * [`data`]: what the page shows, computed from the history and the reports;
//! * [`page`]: the HTML, CSS, inline SVG and the little JavaScript of the big table.

pub mod codeowners;
pub mod data;
pub mod owners;
pub mod page;

pub use data::{HealthData, HealthOptions, ReportInput};
pub use owners::TestOwners;

use crate::history::TimingStore;

/// The health page of `store` and `reports`, with owners when given.
///
/// ```
/// use shardtest::report::health::{render, HealthOptions};
/// let page = render(&Default::default(), &[], None, &HealthOptions::default(), "timings.json");
/// assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Test health"));
/// ```
pub fn render(
    store: &TimingStore,
    reports: &[ReportInput],
    owners: Option<&TestOwners>,
    options: &HealthOptions,
    source: &str,
) -> String {
    let data = data::collect(store, reports, owners, options);
    let note = match owners {
        Some(o) => format!(
            "Failing tests (latest run failed) and flaky tests (any failed or retried run), grouped by the owners of their source file in {}.",
            o.file.display()
        ),
        None => "No CODEOWNERS file found (looked in .github/, the root and docs/; --owners PATH to choose one): the tests are grouped as unowned.".to_string(),
    };
    page::html(&data, source, &note)
}
