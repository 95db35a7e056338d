//! Batch normalisation over nodes (or graphs), with train / eval modes.

use super::{Ctx, Init, Params};
use crate::Result;
use candle_core::{Tensor, Var};

/// Configuration of a [`BatchNorm`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchNormConfig {
    pub dim: usize,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// Running-statistics momentum (default 0.1, PyTorch convention).
    pub momentum: f64,
}

impl BatchNormConfig {
    /// PyTorch defaults.
    pub fn new(dim: usize) -> Self {
        BatchNormConfig { dim, eps: 1e-5, momentum: 0.1 }
    }
    /// Parameters `weight`, `bias` and buffers `running_mean`, `running_var`.
    pub fn init(&self, p: &Params) -> Result<BatchNorm> {
        Ok(BatchNorm {
            cfg: self.clone(),
            weight: p.get("weight", &[self.dim], Init::Const(1.0))?,
            bias: p.get("bias", &[self.dim], Init::Const(0.0))?,
            running_mean: p.buffer("running_mean", &[self.dim], Init::Const(0.0))?,
            running_var: p.buffer("running_var", &[self.dim], Init::Const(1.0))?,
        })
    }
}

/// `y = (x - μ) / sqrt(σ² + ε) · γ + β` per column.
///
/// Training mode uses the batch mean and biased variance and updates the running
/// statistics (`r ← (1-m) r + m · stat`, with the unbiased variance, as PyTorch);
/// evaluation mode uses the running statistics. Shapes: `[rows, dim]` → same.
/// Deviations from PyTorch `BatchNorm1d`: none.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    cfg: BatchNormConfig,
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
}

impl BatchNorm {
    /// Forward pass.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        self.forward_impl(x, ctx, false)
    }

    /// `ReLU(forward(x))`, fused into one op in training mode.
    pub fn forward_relu(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        self.forward_impl(x, ctx, true)
    }

    /// Fold one training batch's statistics (`mean`, biased `var` over `n`
    /// rows) into the running averages, as PyTorch does: `r ← (1 − m) r + m s`
    /// with the unbiased variance.
    pub fn update_running(&self, mean: Vec<f32>, var: Vec<f32>, n: usize) -> Result<()> {
        let m = self.cfg.momentum;
        let dev = self.weight.device();
        let mean = Tensor::from_vec(mean, self.cfg.dim, dev)?;
        let unbiased = (Tensor::from_vec(var, self.cfg.dim, dev)? * (n as f64 / (n as f64 - 1.0)))?;
        let rm = ((self.running_mean.as_tensor() * (1.0 - m))? + (mean * m)?)?;
        let rv = ((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?;
        self.running_mean.set(&rm)?;
        self.running_var.set(&rv)?;
        Ok(())
    }
    /// The scale `γ` `[dim]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
    /// The shift `β` `[dim]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }
    /// The `ε` added to the variance.
    pub fn eps(&self) -> f64 {
        self.cfg.eps
    }

    fn forward_impl(&self, x: &Tensor, ctx: &Ctx, relu: bool) -> Result<Tensor> {
        let n = x.dims()[0];
        if ctx.train && n > 1 {
            // One fused op (crate::ops::batch_norm_train) instead of a dozen
            // broadcasting kernels whose backward reduces over rows slowly.
            let out = if relu {
                crate::ops::batch_norm_relu_train(x, &self.weight, &self.bias, self.cfg.eps)?
            } else {
                crate::ops::batch_norm_train(x, &self.weight, &self.bias, self.cfg.eps)?
            };
            self.update_running(out.mean, out.var, n)?;
            return Ok(out.y);
        }
        let (mean, var) = (self.running_mean.as_tensor().unsqueeze(0)?, self.running_var.as_tensor().unsqueeze(0)?);
        let y = x.broadcast_sub(&mean)?.broadcast_div(&(var + self.cfg.eps)?.sqrt()?)?;
        let y = y.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)?;
        Ok(if relu { y.relu()? } else { y })
    }
}
