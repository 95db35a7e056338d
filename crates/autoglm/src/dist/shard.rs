//! Sharding work across ranks so that a result does not depend on how many
//! ranks there are: step `s` of an epoch always covers the same items (the
//! `s`-th global batch of the epoch's seeded order), split into contiguous,
//! near-equal parts, one per rank. Every rank takes the same number of steps;
//! a rank whose part is empty (the last, short global batch) still takes part
//! with weight 0, so no collective waits on it.

/// Which share of each global mini-batch this process trains on
/// (data-parallel training; one process: rank 0 of 1): the node task's
/// sampled seeds, the graph task's graphs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shard<'a> {
    pub rank: usize,
    /// Number of ranks (0 or 1: one process).
    pub ranks: usize,
    /// Set before every step's backward to this rank's share of the step's
    /// global batch (f32 bits), for the gradient hook's weighting.
    pub step_weight: Option<&'a std::sync::atomic::AtomicU32>,
}

impl Shard<'_> {
    /// Store `mine / global` as this step's weight.
    pub fn set_step_weight(&self, mine: usize, global: usize) {
        if let Some(w) = self.step_weight {
            w.store((mine as f32 / global.max(1) as f32).to_bits(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Optimiser steps of an epoch over `n` items in global batches of `global_batch`.
pub fn steps(n: usize, global_batch: usize) -> usize {
    n.div_ceil(global_batch.max(1))
}

/// Rank `rank`'s part of step `step`: the positions into the epoch's order,
/// and its weight (its items / the step's items).
pub fn part(n: usize, global_batch: usize, step: usize, rank: usize, size: usize) -> (std::ops::Range<usize>, f32) {
    let g = global_batch.max(1);
    let start = (step * g).min(n);
    let len = g.min(n - start);
    let size = size.max(1);
    let a = start + rank * len / size;
    let b = start + (rank + 1) * len / size;
    let w = if len == 0 { 0.0 } else { (b - a) as f32 / len as f32 };
    (a..b, w)
}

/// A full-batch shard: rank `rank` of `size` takes every `size`-th item
/// (strided, so every rank sees each class and region), with weight
/// `its count / items.len()`.
pub fn strided<T: Copy>(items: &[T], rank: usize, size: usize) -> (Vec<T>, f32) {
    let size = size.max(1);
    let mine: Vec<T> = items.iter().skip(rank).step_by(size).copied().collect();
    let w = if items.is_empty() { 0.0 } else { mine.len() as f32 / items.len() as f32 };
    (mine, w)
}
