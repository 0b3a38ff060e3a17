//! Money in integer cents.

use std::fmt;
use std::ops::{Add, Mul, Sub};

/// An amount in cents (negative for credits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(pub i64);

impl Money {
    /// Parses `"12.34"` or `"-0.50"`.
    ///
    /// ```
    /// use billing::money::Money;
    /// assert_eq!(Money::parse("12.34"), Some(Money(1234)));
    /// assert_eq!(Money::parse("-0.5"), Some(Money(-50)));
    /// assert_eq!(Money::parse("1.234"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Money> {
        let (neg, s) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (units, cents) = s.split_once('.').unwrap_or((s, "0"));
        if cents.len() > 2 || units.is_empty() {
            return None;
        }
        let units: i64 = units.parse().ok()?;
        let cents: i64 = format!("{cents:0<2}").parse().ok()?;
        let v = units * 100 + cents;
        Some(Money(if neg { -v } else { v }))
    }

    /// Multiplies by a rate in basis points, rounding half away from zero.
    ///
    /// ```
    /// use billing::money::Money;
    /// assert_eq!(Money(1_000).percent_bp(1_900), Money(190));
    /// assert_eq!(Money(-5).percent_bp(1_000), Money(-1)); // -0.5 cent rounds away from zero
    /// ```
    pub fn percent_bp(self, bp: i64) -> Money {
        let raw = self.0 * bp;
        let q = (raw.abs() + 5_000) / 10_000;
        Money(if raw < 0 { -q } else { q })
    }
}

impl Add for Money {
    type Output = Money;
    fn add(self, o: Money) -> Money {
        Money(self.0 + o.0)
    }
}

impl Sub for Money {
    type Output = Money;
    fn sub(self, o: Money) -> Money {
        Money(self.0 - o.0)
    }
}

impl Mul<i64> for Money {
    type Output = Money;
    fn mul(self, n: i64) -> Money {
        Money(self.0 * n)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_units() {
        assert_eq!(Money::parse("12"), Some(Money(1200)));
    }
    #[test]
    fn parses_cents() {
        assert_eq!(Money::parse("12.3"), Some(Money(1230)));
        assert_eq!(Money::parse("0.05"), Some(Money(5)));
    }
    #[test]
    fn parses_negative() {
        assert_eq!(Money::parse("-0.50"), Some(Money(-50)));
    }
    #[test]
    fn rejects_garbage() {
        assert_eq!(Money::parse("1.234"), None);
        assert_eq!(Money::parse("abc"), None);
        assert_eq!(Money::parse(".5"), None);
    }
    #[test]
    fn displays_two_decimals() {
        assert_eq!(Money(1205).to_string(), "12.05");
        assert_eq!(Money(-7).to_string(), "-0.07");
    }
    #[test]
    fn adds_and_subtracts() {
        assert_eq!(Money(100) + Money(50) - Money(25), Money(125));
    }
    #[test]
    fn multiplies() {
        assert_eq!(Money(333) * 3, Money(999));
    }
    #[test]
    fn percent_rounds_half_away_from_zero() {
        assert_eq!(Money(1000).percent_bp(1950), Money(195));
        assert_eq!(Money(5).percent_bp(5000), Money(3));
        assert_eq!(Money(-5).percent_bp(5000), Money(-3));
    }
}
