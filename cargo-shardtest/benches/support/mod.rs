//! What the benchmarks share: seeded random numbers for synthetic suites. The generator is
//! the project's SplitMix64 (shardtest-synth); the uniform and normal variates keep the
//! formulas the published bench figures were made with.

pub use shardtest_synth::rng::SplitMix64 as Rng;

/// A uniform float in (0, 1).
pub fn unit(r: &mut Rng) -> f64 {
    ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal variate (Box-Muller).
pub fn normal(r: &mut Rng) -> f64 {
    let (u, v) = (unit(r), unit(r));
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
