//! Integration tests through the public API, as a client service would use it.

use billing::invoice::Invoice;
use billing::ledger::Ledger;
use billing::money::Money;
use std::time::Duration;

fn io_pause(ms: u64) {
    // Stands in for a network round trip to a dependency.
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn checkout_charges_the_gross_amount() {
    let inv = Invoice::new("DE").line("plan", Money(2_000), 1);
    let mut l = Ledger::default();
    l.charge("c1", inv.gross().unwrap());
    assert_eq!(l.balance("c1"), Money(2_380));
}

#[test]
fn refund_flow() {
    io_pause(200);
    let mut l = Ledger::default();
    l.charge("c2", Money(1_000));
    l.pay("c2", Money(1_000));
    l.charge("c2", Money(-300));
    assert_eq!(l.balance("c2"), Money(-300));
}

#[test]
fn monthly_subscription_cycle() {
    io_pause(700);
    let mut l = Ledger::default();
    for _ in 0..12 {
        l.charge(
            "c3",
            Invoice::new("FR")
                .line("pro", Money(1_000), 1)
                .gross()
                .unwrap(),
        );
    }
    assert_eq!(l.balance("c3"), Money(14_400));
}

#[test]
fn multi_region_invoices() {
    io_pause(300);
    for (r, g) in [("DE", 1_190), ("FR", 1_200), ("LU", 1_170)] {
        assert_eq!(
            Invoice::new(r).line("x", Money(1_000), 1).gross(),
            Some(Money(g))
        );
    }
}

#[test]
fn bulk_import_of_customers() {
    io_pause(1_200);
    let mut l = Ledger::default();
    for i in 0..1_000 {
        l.charge(&format!("c{i}"), Money(i));
    }
    assert_eq!(l.balance("c999"), Money(999));
}

#[test]
fn parses_amounts_from_the_api() {
    for (s, m) in [("1.00", 100), ("0.99", 99), ("-2.5", -250)] {
        assert_eq!(Money::parse(s), Some(Money(m)));
    }
}

#[test]
fn webhook_retry_is_idempotent() {
    io_pause(150);
    let mut l = Ledger::default();
    l.charge("c4", Money(500));
    let first = l.pay("c4", Money(500));
    assert_eq!(first, Money(0));
}

#[test]
#[ignore = "talks to the real payment provider's sandbox"]
fn settles_against_the_real_provider() {
    panic!("needs network access to the provider's sandbox");
}
