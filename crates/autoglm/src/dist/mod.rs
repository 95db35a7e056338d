//! Data-parallel training: the [`Communicator`] seam, gradient compression
//! with error feedback, and the gradient synchronisation that plugs into the
//! trainer's gradient hook.
//!
//! The library holds no MPI: [`Communicator`] is the whole contract. This
//! module ships [`LocalGroup`], ranks as threads of one process (for tests,
//! and to check compression and sharding without a cluster); the MPI
//! transport for `mpirun` belongs in the command-line tool behind its `mpi`
//! cargo feature (issue 14, not built yet). Everything above the trait
//! ([`GradSync`], [`Compression`], the sharding in [`shard`]) is the same code
//! in both.
//!
//! What a step exchanges, per rank, and what is counted in [`CommStats`]:
//! * uncompressed: one all-reduce of every gradient, flattened (4 bytes per
//!   parameter);
//! * `topk:R`: an all-gather of each rank's `k = ceil(R n)` largest entries as
//!   `u32` index + `f32` value pairs behind a 4-byte count (an all-reduce
//!   cannot sum sparse payloads), plus the 8-byte payload lengths the gather
//!   needs first;
//! * `onebit[:B]`: an all-gather of the signs (1 bit per parameter) with one
//!   `f32` scale (the block's mean magnitude) per block of `B` entries.
//!
//! Error feedback: what compression drops is kept per rank and added to the
//! next step's gradient, so nothing is lost, only delayed (DGC, EF-SignSGD).

mod compress;
mod local;
pub mod shard;
mod sync;

pub use compress::{Compression, Compressor, ONEBIT_BLOCK};
pub use local::{LocalComm, LocalGroup};
pub use sync::{GradSync, SyncMode};

use crate::Result;

/// Collective operations over a fixed group of ranks (MPI's semantics: every
/// rank calls the same collectives in the same order).
///
/// Implementations count the bytes this rank hands to the transport
/// ([`Communicator::bytes_sent`]); a collective that cannot complete (a rank
/// died, a time limit passed) returns an error on every surviving rank,
/// never hangs forever.
pub trait Communicator: Send + Sync {
    /// This process's rank, `0..size()`.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn size(&self) -> usize;
    /// Element-wise sum over ranks, in place; every rank gets the same values.
    ///
    /// # Errors
    /// When the collective fails (a rank is gone, lengths differ).
    fn all_reduce_sum(&self, buf: &mut [f32]) -> Result<()>;
    /// Every rank's bytes (lengths may differ), in rank order.
    ///
    /// # Errors
    /// When the collective fails.
    fn all_gather(&self, mine: &[u8]) -> Result<Vec<Vec<u8>>>;
    /// Replace `buf` on every rank by `root`'s.
    ///
    /// # Errors
    /// When the collective fails.
    fn broadcast(&self, buf: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Wait until every rank has arrived.
    ///
    /// # Errors
    /// When the collective fails.
    fn barrier(&self) -> Result<()>;
    /// Bytes this rank has handed to the transport so far (values, indices,
    /// scales, lengths and headers).
    fn bytes_sent(&self) -> u64;
}

/// Communication totals of a run (the run JSON's `comm`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CommStats {
    /// Gradient exchanges (optimiser steps).
    pub steps: u64,
    /// Bytes this rank handed to the transport for gradients.
    pub bytes_sent: u64,
    /// What the uncompressed exchange (one f32 all-reduce) would have sent.
    pub bytes_dense: u64,
}

impl CommStats {
    /// `bytes_dense / bytes_sent` (1 without compression; 0 before any step).
    pub fn ratio(&self) -> f64 {
        if self.bytes_sent == 0 {
            0.0
        } else {
            self.bytes_dense as f64 / self.bytes_sent as f64
        }
    }
    /// Mean bytes sent per step.
    pub fn bytes_per_step(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.bytes_sent as f64 / self.steps as f64
        }
    }
    /// As the run JSON's `comm` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "steps": self.steps,
            "bytes_sent": self.bytes_sent,
            "bytes_dense": self.bytes_dense,
            "bytes_per_step": self.bytes_per_step(),
            "ratio": self.ratio(),
        })
    }
}

/// Check that every rank was given the same configuration (a digest of its
/// canonical text): an error on every rank naming the ranks that differ.
///
/// # Errors
/// [`crate::Error::Config`] when the digests differ; a communication error.
pub fn check_same_config(comm: &dyn Communicator, canonical: &str) -> Result<()> {
    let digest = fnv1a(canonical.as_bytes());
    let all = comm.all_gather(&digest.to_le_bytes())?;
    let mine = all[0].clone();
    let differ: Vec<usize> = all.iter().enumerate().filter(|(_, d)| **d != mine).map(|(r, _)| r).collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(crate::Error::config(
        "distributed configuration",
        format!("ranks {differ:?} differ from rank 0"),
        "every rank must run the same command with the same files; launch one command with mpirun rather than different ones",
    ))
}

/// 64-bit FNV-1a (a digest for comparing configurations, not a security hash).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests;
