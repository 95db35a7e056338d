//! [`GradSync`]: keeps model replicas in step across ranks, from the
//! trainer's gradient hook ([`crate::train::Trainer::with_grad_hook`]).

use super::{CommStats, Communicator, Compression, Compressor};
use crate::Result;
use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

/// When replicas meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// Gradients are summed (weighted) before every optimiser step.
    EveryStep,
    /// Local SGD: every rank steps on its own gradients and the parameters
    /// are averaged (weighted) every `period` steps, before that step.
    Periodic { period: usize },
}

/// Gradient (or parameter) synchronisation for one rank.
pub struct GradSync<'c> {
    comm: &'c dyn Communicator,
    compressor: Compressor,
    mode: SyncMode,
    /// This rank's share of the global batch of the current step.
    weight: f32,
    steps: u64,
    stats: CommStats,
}

impl<'c> GradSync<'c> {
    /// Synchronisation over `comm` with `compression`, every step.
    pub fn new(comm: &'c dyn Communicator, compression: Compression) -> GradSync<'c> {
        GradSync {
            comm,
            compressor: Compressor::new(compression),
            mode: SyncMode::EveryStep,
            weight: 1.0 / comm.size() as f32,
            steps: 0,
            stats: CommStats::default(),
        }
    }
    /// Set the mode.
    pub fn with_mode(mut self, mode: SyncMode) -> Self {
        self.mode = mode;
        self
    }
    /// This rank's share of the next step's global batch (its items / all
    /// ranks' items; 0 for a rank whose shard ran out, which still takes part).
    pub fn set_weight(&mut self, w: f32) {
        self.weight = w;
    }
    /// The communicator.
    pub fn comm(&self) -> &'c dyn Communicator {
        self.comm
    }
    /// Totals so far.
    pub fn stats(&self) -> CommStats {
        self.stats
    }
    /// The compressor's residual (checkpointed with the run, so a resumed run
    /// continues the error feedback).
    pub fn residual(&self) -> &[f32] {
        &self.compressor.residual
    }
    /// Restore a residual saved by [`GradSync::residual`].
    pub fn set_residual(&mut self, r: Vec<f32>) {
        self.compressor.residual = r;
    }

    /// Give every rank rank 0's parameter values.
    ///
    /// # Errors
    /// A communication error; a tensor error.
    pub fn broadcast_params(&self, vars: &[Var]) -> Result<()> {
        let mut flat = flatten(vars.iter().map(|v| Some(v.as_tensor().clone())), vars)?;
        let mut bytes: Vec<u8> = flat.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.comm.broadcast(&mut bytes, 0)?;
        if bytes.len() != flat.len() * 4 {
            return Err(crate::Error::inconsistent("broadcast parameters", flat.len(), bytes.len() / 4));
        }
        for (v, b) in flat.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        unflatten_into_vars(&flat, vars)
    }

    /// The gradient hook: replace every gradient by the weighted sum over
    /// ranks (every step), or average the parameters every `period` steps.
    /// The first call first gives every rank rank 0's parameters.
    ///
    /// # Errors
    /// A communication error; a tensor error.
    pub fn on_grads(&mut self, grads: &mut GradStore, vars: &[Var]) -> Result<()> {
        if self.steps == 0 {
            // replicas start equal by seed; rank 0's values make sure of it
            // before the first update
            self.broadcast_params(vars)?;
        }
        self.steps += 1;
        match self.mode {
            SyncMode::EveryStep => {
                let mut flat = flatten(vars.iter().map(|v| grads.get(v.as_tensor()).cloned()), vars)?;
                flat.iter_mut().for_each(|g| *g *= self.weight);
                self.exchange(&mut flat, false)?;
                let mut at = 0;
                for v in vars {
                    let n = v.as_tensor().elem_count();
                    let t = Tensor::from_slice(&flat[at..at + n], v.as_tensor().shape(), v.as_tensor().device())?;
                    grads.insert(v.as_tensor(), t);
                    at += n;
                }
            }
            SyncMode::Periodic { period } => {
                if Self::averages_at(self.steps, period) {
                    let mut flat = flatten(vars.iter().map(|v| Some(v.as_tensor().clone())), vars)?;
                    flat.iter_mut().for_each(|p| *p *= self.weight);
                    // parameters are not compressible with error feedback: dense
                    self.exchange(&mut flat, true)?;
                    unflatten_into_vars(&flat, vars)?;
                }
            }
        }
        Ok(())
    }

    /// Average buffers that training updates outside the gradient (batch
    /// norm's running statistics) over the ranks, weighted as the gradients:
    /// every step, or with the parameters every `period` steps. Call it after
    /// [`GradSync::on_grads`] of the same step; the bytes are counted (the
    /// same in `bytes_sent` and `bytes_dense`: buffers are never compressed).
    /// Afterwards every rank evaluates with the same statistics.
    ///
    /// # Errors
    /// A communication error; a tensor error.
    pub fn sync_buffers(&mut self, buffers: &[Var]) -> Result<()> {
        if buffers.is_empty() {
            return Ok(());
        }
        if let SyncMode::Periodic { period } = self.mode {
            if !Self::averages_at(self.steps, period) {
                return Ok(());
            }
        }
        let mut flat = flatten(buffers.iter().map(|v| Some(v.as_tensor().clone())), buffers)?;
        flat.iter_mut().for_each(|p| *p *= self.weight);
        let before = self.comm.bytes_sent();
        self.comm.all_reduce_sum(&mut flat)?;
        self.stats.bytes_sent += self.comm.bytes_sent() - before;
        self.stats.bytes_dense += self.comm.bytes_sent() - before;
        unflatten_into_vars(&flat, buffers)
    }

    /// Whether local SGD averages the parameters at step `step` (1-based):
    /// every `period` steps after the first.
    fn averages_at(step: u64, period: usize) -> bool {
        step > 1 && (step - 1).is_multiple_of(period.max(1) as u64)
    }

    fn exchange(&mut self, flat: &mut [f32], dense: bool) -> Result<()> {
        let before = self.comm.bytes_sent();
        if dense {
            self.comm.all_reduce_sum(flat)?;
        } else {
            self.compressor.exchange(self.comm, flat)?;
        }
        self.stats.steps += 1;
        self.stats.bytes_sent += self.comm.bytes_sent() - before;
        self.stats.bytes_dense += 4 * flat.len() as u64;
        Ok(())
    }
}

/// Every tensor (or zeros where there is none: a parameter the batch did
/// not reach) flattened into one f32 vector, in `vars` order.
fn flatten(tensors: impl Iterator<Item = Option<Tensor>>, vars: &[Var]) -> Result<Vec<f32>> {
    let total: usize = vars.iter().map(|v| v.as_tensor().elem_count()).sum();
    let mut flat = Vec::with_capacity(total);
    for (t, v) in tensors.zip(vars) {
        match t {
            Some(t) => flat.extend(t.flatten_all()?.to_dtype(candle_core::DType::F32)?.to_vec1::<f32>()?),
            None => flat.extend(std::iter::repeat_n(0.0, v.as_tensor().elem_count())),
        }
    }
    Ok(flat)
}

fn unflatten_into_vars(flat: &[f32], vars: &[Var]) -> Result<()> {
    let mut at = 0;
    for v in vars {
        let n = v.as_tensor().elem_count();
        let t = Tensor::from_slice(&flat[at..at + n], v.as_tensor().shape(), v.as_tensor().device())?.to_dtype(v.as_tensor().dtype())?;
        v.set(&t)?;
        at += n;
    }
    Ok(())
}
