//! Consumers of the event stream: terminal output, the JSON report, JUnit, the timings store.

pub mod health;
pub mod json;
pub mod junit;
pub mod merge;
pub mod progress;
pub mod redact;
pub mod terminal;
pub mod timeline;
