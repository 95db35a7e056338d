//! What a layer consumes: a hidden activation (tracked by autodiff), or the
//! model's constant input features, dense or sparse. Constant inputs take the
//! fast paths in [`crate::ops`] that build no gradient for them.

use crate::ops::{self, SparseInput};
use crate::rng::GlmRng;
use candle_core::{Result, Tensor};

/// Node features entering a layer.
#[derive(Debug, Clone)]
pub enum NodeInput {
    /// An activation computed from parameters (gradients flow through it).
    Hidden(Tensor),
    /// Constant dense input features `[num_nodes, in_dim]`.
    Dense(Tensor),
    /// Constant sparse input features.
    Sparse(SparseInput),
}

impl From<Tensor> for NodeInput {
    fn from(t: Tensor) -> Self {
        NodeInput::Hidden(t)
    }
}

impl NodeInput {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => t.dims().first().copied().unwrap_or(0),
            NodeInput::Sparse(s) => s.num_rows(),
        }
    }
    /// Feature dimension.
    pub fn dim(&self) -> usize {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => t.dims().get(1).copied().unwrap_or(0),
            NodeInput::Sparse(s) => s.num_cols(),
        }
    }
    /// A dense tensor (materialising sparse input).
    pub fn to_tensor(&self) -> Result<Tensor> {
        match self {
            NodeInput::Hidden(t) | NodeInput::Dense(t) => Ok(t.clone()),
            NodeInput::Sparse(s) => s.to_dense(),
        }
    }
    /// Inverted dropout, keeping the variant (sparse stays sparse).
    pub fn dropout(&self, p: f64, rng: &mut GlmRng) -> Result<NodeInput> {
        if p <= 0.0 {
            return Ok(self.clone());
        }
        Ok(match self {
            NodeInput::Hidden(t) => NodeInput::Hidden(ops::dropout(t, p, rng)?),
            NodeInput::Dense(t) => NodeInput::Dense(ops::dropout(t, p, rng)?.detach()),
            NodeInput::Sparse(s) => NodeInput::Sparse(s.dropout(p, rng)),
        })
    }
    /// `self · W` for `W` `[in_dim, out_dim]`, on the fast path for constant inputs.
    pub fn matmul(&self, w: &Tensor) -> Result<Tensor> {
        match self {
            NodeInput::Hidden(t) => t.matmul(w),
            NodeInput::Dense(t) => ops::const_matmul(t, w),
            NodeInput::Sparse(s) => ops::sparse_matmul(s, w),
        }
    }
}

/// Per-forward state: training or evaluation mode, and the seeded generator
/// that dropout draws from.
pub struct Ctx {
    /// Training mode (dropout on, batch norm uses batch statistics).
    pub train: bool,
    /// Randomness for this pass.
    pub rng: GlmRng,
}

impl Ctx {
    /// Training mode with a generator.
    pub fn train(rng: GlmRng) -> Ctx {
        Ctx { train: true, rng }
    }
    /// Evaluation mode (deterministic; the generator is unused).
    pub fn eval() -> Ctx {
        Ctx { train: false, rng: crate::rng::seeded(0) }
    }
    /// Dropout that is active only in training mode.
    pub fn dropout(&mut self, x: &Tensor, p: f64) -> Result<Tensor> {
        if self.train {
            ops::dropout(x, p, &mut self.rng)
        } else {
            Ok(x.clone())
        }
    }
    /// [`NodeInput::dropout`] in training mode only.
    pub fn dropout_input(&mut self, x: &NodeInput, p: f64) -> Result<NodeInput> {
        if self.train {
            x.dropout(p, &mut self.rng)
        } else {
            Ok(x.clone())
        }
    }
}
