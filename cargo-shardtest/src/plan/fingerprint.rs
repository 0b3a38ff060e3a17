//! The plan fingerprint: a hash of everything a plan depends on, so jobs of one CI run can
//! prove they computed the same plan, whatever the input order or machine.

use super::cost::us;
use super::input::{PlanInput, PlanItem};
use crate::id::Fingerprint;
use sha2::{Digest, Sha256};

/// Computes the fingerprint of a plan input: the same for the same tests, estimates,
/// attributes, N and W, whatever the input order or machine.
///
/// ```
/// # use shardtest::plan::*;
/// let a = PlanInput { items: vec![], shards: 2, workers: 1 };
/// let b = PlanInput { items: vec![], shards: 3, workers: 1 };
/// assert_ne!(fingerprint(&a), fingerprint(&b));
/// ```
pub fn fingerprint(input: &PlanInput) -> Fingerprint {
    fingerprint_in_order(input, &id_order(&input.items))
}

/// Indexes of `items` sorted by id (then by every other field, so that even duplicate ids
/// give one order whatever the input order).
pub(super) fn id_order(items: &[PlanItem]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..items.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&items[a as usize], &items[b as usize]);
        a.id.cmp(&b.id)
            .then_with(|| a.estimate.cmp(&b.estimate))
            .then_with(|| a.known.cmp(&b.known))
            .then_with(|| a.attributes.cmp(&b.attributes))
    });
    order
}

pub(super) fn fingerprint_in_order(input: &PlanInput, by_id: &[u32]) -> Fingerprint {
    let sorted = by_id.iter().map(|&i| &input.items[i as usize]);
    let mut h = Sha256::new();
    h.update(format!(
        "shardtest-plan-v2 N={} W={}\n",
        input.shards, input.workers
    ));
    let mut line = String::new();
    for it in sorted {
        use std::fmt::Write as _;
        line.clear();
        let attrs = if it.attributes.is_plain() {
            String::new()
        } else {
            serde_json::to_string(&it.attributes).unwrap_or_default()
        };
        let _ = writeln!(
            line,
            "{}\t{}\t{}\t{}",
            it.id,
            us(it.estimate),
            it.known,
            attrs
        );
        h.update(line.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Fingerprint::from(hex)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    fn item(id: &str, ms: u64) -> PlanItem {
        PlanItem::new(id.parse().unwrap(), Duration::from_millis(ms))
    }

    #[test]
    fn fingerprint_covers_estimates_and_attributes() {
        let a = PlanInput {
            items: vec![item("p a", 5)],
            shards: 2,
            workers: 1,
        };
        let mut b = a.clone();
        b.items[0].estimate = Duration::from_millis(6);
        assert_ne!(fingerprint(&a), fingerprint(&b));
        let mut c = a.clone();
        c.items[0].attributes.serial = Some(crate::attrs::SerialKey::Global);
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let mut d = a.clone();
        d.workers = 2;
        assert_ne!(fingerprint(&a), fingerprint(&d));
        // A golden value: the fingerprint must not change across machines or builds.
        // sha256("shardtest-plan-v2 N=2 W=1\np a\t5000\tfalse\t\n"), first 8 bytes.
        assert_eq!(fingerprint(&a), "e87dff6171a7e534");
        let mut shuffled = PlanInput {
            items: vec![item("p b", 7), item("p a", 5)],
            shards: 2,
            workers: 1,
        };
        let f = fingerprint(&shuffled);
        shuffled.items.reverse();
        assert_eq!(fingerprint(&shuffled), f);
    }
}
