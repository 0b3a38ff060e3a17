//! What the benchmarks share: seeded random numbers for synthetic suites, and a thread's CPU
//! time. The generator is the project's SplitMix64 (shardtest-synth); the uniform and normal
//! variates keep the formulas the published bench figures were made with.

pub use shardtest_synth::rng::SplitMix64 as Rng;
use std::time::Duration;

/// A uniform float in (0, 1).
pub fn unit(r: &mut Rng) -> f64 {
    ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal variate (Box-Muller).
pub fn normal(r: &mut Rng) -> f64 {
    let (u, v) = (unit(r), unit(r));
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// CPU time of this thread: planning speed independent of other load on the machine.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
