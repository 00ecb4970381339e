//! The connection's source of randomness, kept small: an idle connection
//! holds a 32-byte seed, not a generator's 320 bytes of state and output
//! buffer. Each use runs a generator from the seed and first draws the
//! next seed from it, so no output is ever produced twice and an earlier
//! seed cannot be recovered from a later one.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

/// A seed ratchet: see the module documentation.
pub(super) struct SeedRng([u8; 32]);

impl SeedRng {
    /// Seeded by the endpoint's generator.
    pub(super) fn new(mut rng: StdRng) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }

    /// Runs `f` with a generator of its own: one use (issuing CIDs,
    /// sealing a token, a path challenge) costs one generator set-up.
    pub(super) fn with<R>(&mut self, f: impl FnOnce(&mut StdRng) -> R) -> R {
        let mut rng = StdRng::from_seed(self.0);
        rng.fill_bytes(&mut self.0);
        f(&mut rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(r: &mut SeedRng) -> u64 {
        r.with(|g| g.next_u64())
    }

    #[test]
    fn every_use_draws_new_values_deterministically() {
        let mut a = SeedRng::new(StdRng::seed_from_u64(7));
        let mut b = SeedRng::new(StdRng::seed_from_u64(7));
        let xs: Vec<u64> = (0..4).map(|_| draw(&mut a)).collect();
        let ys: Vec<u64> = (0..4).map(|_| draw(&mut b)).collect();
        assert_eq!(xs, ys, "the same seed gives the same values");
        let mut sorted = xs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), xs.len(), "no value repeats across uses");
        let mut other = SeedRng::new(StdRng::seed_from_u64(8));
        assert_ne!(draw(&mut other), xs[0]);
    }
}
