//! Tax rules by region, in basis points.

use crate::money::Money;

/// A region's VAT rate in basis points (1900 = 19%).
pub fn rate_bp(region: &str) -> Option<i64> {
    match region {
        "DE" => Some(1900),
        "FR" => Some(2000),
        "LU" => Some(1700),
        "US-OR" => Some(0),
        _ => None,
    }
}

/// Tax due on a net amount; `None` for a region without a rule.
///
/// ```
/// use billing::{money::Money, tax::tax_on};
/// assert_eq!(tax_on(Money(10_000), "DE"), Some(Money(1_900)));
/// assert_eq!(tax_on(Money(10_000), "XX"), None);
/// ```
///
/// A rate that is not known yet must not default to zero:
///
/// ```should_panic
/// billing::tax::tax_on(billing::money::Money(100), "Mars").expect("no tax rule for Mars");
/// ```
pub fn tax_on(net: Money, region: &str) -> Option<Money> {
    Some(net.percent_bp(rate_bp(region)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn germany() {
        assert_eq!(tax_on(Money(10_000), "DE"), Some(Money(1_900)));
    }
    #[test]
    fn france() {
        assert_eq!(tax_on(Money(10_000), "FR"), Some(Money(2_000)));
    }
    #[test]
    fn oregon_has_no_sales_tax() {
        assert_eq!(tax_on(Money(10_000), "US-OR"), Some(Money(0)));
    }
    #[test]
    fn unknown_region() {
        assert_eq!(tax_on(Money(1), "XX"), None);
    }
    #[test]
    fn rates_table_is_consistent() {
        // Stands in for a slower check against a reference table (I/O-bound).
        std::thread::sleep(std::time::Duration::from_millis(400));
        for r in ["DE", "FR", "LU", "US-OR"] {
            assert!(rate_bp(r).unwrap() < 10_000);
        }
    }
}
