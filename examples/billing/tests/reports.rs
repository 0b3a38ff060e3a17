//! Report generation tests (a second integration-test binary).

use billing::invoice::Invoice;
use billing::money::Money;

#[test]
fn quarterly_report_totals() {
    std::thread::sleep(std::time::Duration::from_millis(600));
    let total = (0..90).fold(Money(0), |acc, d| {
        acc + Invoice::new("DE").line("d", Money(100 + d), 1).net()
    });
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

/// Both export tests write the same report file, as a real exporter with a fixed output path
/// would: `#[shard::serial(export)]` keeps them apart under every runner.
fn export(rows: i64) -> i64 {
    let path = std::env::temp_dir().join("billing-export.csv");
    let body: String = (0..rows)
        .map(|r| format!("{r},{}\n", Money(r * 100)))
        .collect();
    std::fs::write(&path, &body).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(150));
    let back = std::fs::read_to_string(&path).unwrap();
    back.lines().count() as i64
}

#[test]
#[shard::serial(export)]
fn exports_the_monthly_csv() {
    assert_eq!(export(30), 30);
}

#[test]
#[shard::serial(export)]
fn exports_the_yearly_csv() {
    assert_eq!(export(365), 365);
}

/// The rendering service allows two sessions at once.
#[test]
#[shard::group("renderer", max = 2)]
fn renders_invoice_pdf() {
    std::thread::sleep(std::time::Duration::from_millis(250));
}

#[test]
#[shard::group("renderer", max = 2)]
fn renders_receipt_pdf() {
    std::thread::sleep(std::time::Duration::from_millis(250));
}

#[test]
#[shard::group("renderer", max = 2)]
fn renders_statement_pdf() {
    std::thread::sleep(std::time::Duration::from_millis(250));
}
