//! A small, fixed pseudo-random generator (xoshiro256++ seeded by SplitMix64), and the
//! uniform row samples drawn from it. Written here rather than taken from a crate so
//! that the stream for a given seed can never change under a dependency upgrade: same
//! seed, same segments, release after release.

/// xoshiro256++: fast, small state, and a stream fixed by this file alone.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

/// One step of SplitMix64: spreads a seed (or any counter) over all 64 bits, so nearby
/// seeds give unrelated streams.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        let mut st = seed;
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    /// An independent stream for a sub-task (a restart, a chunk), derived from the seed
    /// and the task's coordinates so results do not depend on scheduling.
    pub fn derive(seed: u64, parts: &[u64]) -> Self {
        let mut st = seed ^ 0x5EED_CA5D_0000_0000;
        let mut acc = splitmix64(&mut st);
        for &p in parts {
            st ^= p.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            acc ^= splitmix64(&mut st);
        }
        Rng::new(acc)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in [0, n), without modulo bias (Lemire's method).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_u64() as u128) * (n as u128);
        if (m as u64) < n {
            let t = n.wrapping_neg() % n;
            while (m as u64) < t {
                m = (self.next_u64() as u128) * (n as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Standard normal (Box-Muller; one value per call keeps the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// A simple random sample of `m` of `n` row indices (all of them when `m >= n`), in
/// increasing order (Knuth's selection sampling: one pass, no n-long index array), drawn
/// from a stream derived from `seed`, `n` and `m`.
pub fn sample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::derive(seed, &[0x511, n as u64, m as u64]);
    let mut out = Vec::with_capacity(m);
    let mut needed = m.min(n);
    for i in 0..n {
        if needed == 0 {
            break;
        }
        let left = (n - i) as u64;
        if rng.below(left) < needed as u64 {
            out.push(i);
            needed -= 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_fixed_and_distinct() {
        let a: Vec<u64> = (0..3).map(|_| Rng::new(42).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let mut r1 = Rng::derive(42, &[3, 0]);
        let mut r2 = Rng::derive(42, &[3, 1]);
        assert_ne!(r1.next_u64(), r2.next_u64());
        let mut r = Rng::new(1);
        for _ in 0..1000 {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
        }
    }

    #[test]
    fn sampling_is_deterministic_and_sorted() {
        let s = sample_indices(1000, 100, 42);
        assert_eq!(s.len(), 100);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(s, sample_indices(1000, 100, 42));
        assert_ne!(s, sample_indices(1000, 100, 43));
        assert_eq!(sample_indices(5, 10, 1), vec![0, 1, 2, 3, 4]);
    }
}
