//! Report generation tests (a second integration-test binary).

use billing::invoice::Invoice;
use billing::money::Money;

#[test]
fn quarterly_report_totals() {
    std::thread::sleep(std::time::Duration::from_millis(600));
    let total = (0..90).fold(Money(0), |acc, d| acc + Invoice::new("DE").line("d", Money(100 + d), 1).net());
    assert_eq!(total, Money(9_000 + (0..90).sum::<i64>()));
}

#[test]
fn empty_report() {
    assert_eq!(Invoice::new("DE").net(), Money(0));
}

#[test]
fn report_csv_header() {
    let header = ["item", "unit", "qty"].join(",");
    assert_eq!(header, "item,unit,qty");
}

#[test]
fn yearly_report_is_consistent() {
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    let months: Vec<Money> = (1..=12).map(|m| Money(m * 100)).collect();
    assert_eq!(months.iter().fold(Money(0), |a, m| a + *m), Money(7_800));
}
