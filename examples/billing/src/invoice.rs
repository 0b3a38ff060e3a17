//! Invoices: lines, totals, tax.

use crate::money::Money;
use crate::tax;

/// One invoice line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// What was sold.
    pub item: String,
    /// Unit price.
    pub unit: Money,
    /// Quantity.
    pub qty: i64,
}

/// An invoice for one region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invoice {
    /// Region code for tax.
    pub region: String,
    /// Lines.
    pub lines: Vec<Line>,
}

impl Invoice {
    /// A new empty invoice.
    pub fn new(region: &str) -> Self {
        Invoice {
            region: region.to_string(),
            lines: Vec::new(),
        }
    }

    /// Adds a line.
    pub fn line(mut self, item: &str, unit: Money, qty: i64) -> Self {
        self.lines.push(Line {
            item: item.to_string(),
            unit,
            qty,
        });
        self
    }

    /// Sum of lines before tax.
    pub fn net(&self) -> Money {
        self.lines
            .iter()
            .fold(Money(0), |acc, l| acc + l.unit * l.qty)
    }

    /// Net plus tax; `None` for an unknown region.
    pub fn gross(&self) -> Option<Money> {
        Some(self.net() + tax::tax_on(self.net(), &self.region)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_invoice_is_zero() {
        assert_eq!(Invoice::new("DE").net(), Money(0));
    }
    #[test]
    fn sums_lines() {
        let i = Invoice::new("DE")
            .line("a", Money(100), 2)
            .line("b", Money(50), 1);
        assert_eq!(i.net(), Money(250));
    }
    #[test]
    fn gross_adds_tax() {
        let i = Invoice::new("FR").line("a", Money(1000), 1);
        assert_eq!(i.gross(), Some(Money(1200)));
    }
    #[test]
    fn credit_lines_reduce_the_total() {
        let i = Invoice::new("LU")
            .line("a", Money(1000), 1)
            .line("refund", Money(-200), 1);
        assert_eq!(i.net(), Money(800));
    }
    #[test]
    fn unknown_region_has_no_gross() {
        assert_eq!(Invoice::new("ZZ").line("a", Money(1), 1).gross(), None);
    }
    #[test]
    fn renders_a_large_invoice() {
        // A slow test: thousands of lines, as a PDF renderer would see them.
        let mut inv = Invoice::new("DE");
        for i in 0..2_000 {
            inv = inv.line(&format!("item-{i}"), Money(i), 1);
        }
        std::thread::sleep(std::time::Duration::from_millis(900));
        assert_eq!(inv.net(), Money((0..2_000).sum()));
    }
}
