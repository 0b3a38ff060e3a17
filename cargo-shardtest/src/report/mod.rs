//! Consumers of the event stream: terminal output, the JSON report, JUnit, the timings store.

pub mod json;
pub mod terminal;
