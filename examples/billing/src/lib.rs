//! A toy billing service: money in cents, invoices with lines, tax rules, and a payment
//! ledger. Its tests are shaped like a real service's: many fast unit tests, a few slow ones
//! that stand in for I/O, integration tests in `tests/`, and an ignored test.

pub mod invoice;
pub mod ledger;
pub mod money;
pub mod tax;
