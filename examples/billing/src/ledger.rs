//! A payment ledger: payments applied to invoices, balances per customer.

use crate::money::Money;
use std::collections::BTreeMap;

/// Balances by customer.
#[derive(Debug, Default)]
pub struct Ledger {
    balances: BTreeMap<String, Money>,
}

impl Ledger {
    /// Charges a customer.
    pub fn charge(&mut self, customer: &str, amount: Money) {
        let b = self.balances.entry(customer.to_string()).or_default();
        *b = *b + amount;
    }

    /// Records a payment; returns the overpayment, if any.
    pub fn pay(&mut self, customer: &str, amount: Money) -> Money {
        let b = self.balances.entry(customer.to_string()).or_default();
        *b = *b - amount;
        if b.0 < 0 { Money(-b.0) } else { Money(0) }
    }

    /// What a customer owes.
    pub fn balance(&self, customer: &str) -> Money {
        self.balances.get(customer).copied().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_customer_owes_nothing() {
        assert_eq!(Ledger::default().balance("a"), Money(0));
    }
    #[test]
    fn charge_then_pay() {
        let mut l = Ledger::default();
        l.charge("a", Money(500));
        assert_eq!(l.pay("a", Money(200)), Money(0));
        assert_eq!(l.balance("a"), Money(300));
    }
    #[test]
    fn overpayment_is_returned() {
        let mut l = Ledger::default();
        l.charge("a", Money(100));
        assert_eq!(l.pay("a", Money(150)), Money(50));
    }
    #[test]
    fn customers_are_separate() {
        let mut l = Ledger::default();
        l.charge("a", Money(1));
        assert_eq!(l.balance("b"), Money(0));
    }
    #[test]
    fn reconciles_a_month_of_payments() {
        // Slow: stands in for a reconciliation job against a database.
        let mut l = Ledger::default();
        for day in 0..30 {
            l.charge("acme", Money(1_000 + day));
            l.pay("acme", Money(1_000));
        }
        std::thread::sleep(std::time::Duration::from_millis(1_500));
        assert_eq!(l.balance("acme"), Money((0..30).sum()));
    }
}
