//! Seeded randomness. Candle's CPU random tensors are not seedable, so every
//! random draw in the library (initialisation, dropout, sampling, shuffling)
//! goes through this ChaCha generator: the same seed gives the same run.

pub use rand::Rng;
use rand::SeedableRng;

/// The library's random number generator.
pub type GlmRng = rand_chacha::ChaCha8Rng;

/// A generator from a seed.
pub fn seeded(seed: u64) -> GlmRng {
    GlmRng::seed_from_u64(seed)
}

/// Derive an independent stream (for example per run, or per data-loader) from a seed.
pub fn derive(seed: u64, stream: u64) -> GlmRng {
    let mut r = GlmRng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}
