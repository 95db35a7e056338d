//! Multi-layer perceptron with optional batch norm, named like a PyTorch
//! `Sequential` (`0` Linear, `1` BatchNorm, `2` ReLU, `3` Linear, ...), so
//! checkpoints line up with PyG models such as `GINConv(nn=Sequential(...))`.

use super::{BatchNorm, BatchNormConfig, Ctx, Linear, LinearConfig, LinearInit, NodeInput, Params};
use crate::{Error, Result};
use candle_core::Tensor;

/// Configuration of an [`Mlp`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlpConfig {
    /// Layer widths `[in, hidden.., out]` (at least two entries).
    pub dims: Vec<usize>,
    /// Batch norm after every hidden linear layer (default false).
    pub batch_norm: bool,
    /// Dropout after every hidden activation (default 0).
    pub dropout: f64,
}

impl MlpConfig {
    /// ReLU MLP with the given widths.
    pub fn new(dims: Vec<usize>) -> Self {
        MlpConfig { dims, batch_norm: false, dropout: 0.0 }
    }
    /// Set batch norm.
    pub fn with_batch_norm(mut self, yes: bool) -> Self {
        self.batch_norm = yes;
        self
    }
    /// Create parameters.
    pub fn init(&self, p: &Params) -> Result<Mlp> {
        if self.dims.len() < 2 {
            return Err(Error::config("mlp.dims", format!("{:?}", self.dims), "need at least [in_dim, out_dim]"));
        }
        let mut idx = 0;
        let mut lins = vec![];
        let mut norms = vec![];
        for k in 0..self.dims.len() - 1 {
            lins.push(LinearConfig::new(self.dims[k], self.dims[k + 1]).with_init(LinearInit::Torch).init(&p.pp(idx))?);
            idx += 1;
            if k + 2 < self.dims.len() {
                if self.batch_norm {
                    norms.push(Some(BatchNormConfig::new(self.dims[k + 1]).init(&p.pp(idx))?));
                    idx += 1;
                } else {
                    norms.push(None);
                }
                idx += 1; // ReLU
            }
        }
        Ok(Mlp { cfg: self.clone(), lins, norms })
    }
}

/// `Linear → [BatchNorm] → ReLU → … → Linear`.
#[derive(Debug, Clone)]
pub struct Mlp {
    cfg: MlpConfig,
    lins: Vec<Linear>,
    norms: Vec<Option<BatchNorm>>,
}

impl Mlp {
    /// Forward pass.
    pub fn forward(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_input(&NodeInput::Hidden(x.clone()), ctx)
    }
    /// Forward pass from any input.
    pub fn forward_input(&self, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.lins[0].forward_input(x)?;
        self.forward_from_first(h, ctx)
    }
    /// Continue after the first linear layer's output (used by GIN's project-first path).
    pub fn forward_from_first(&self, mut h: Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        for k in 1..self.lins.len() {
            h = match &self.norms[k - 1] {
                Some(bn) => bn.forward_relu(&h, ctx)?,
                None => h.relu()?,
            };
            h = ctx.dropout(&h, self.cfg.dropout)?;
            h = self.lins[k].forward(&h)?;
        }
        Ok(h)
    }
    /// The linear layers, in order.
    pub fn linears(&self) -> &[Linear] {
        &self.lins
    }
    /// The batch norm after each hidden linear layer (`None` without batch norm).
    pub fn norms(&self) -> &[Option<BatchNorm>] {
        &self.norms
    }
    /// Dropout after each hidden activation.
    pub fn dropout(&self) -> f64 {
        self.cfg.dropout
    }
    /// The first linear layer.
    pub fn first(&self) -> &Linear {
        &self.lins[0]
    }
}
