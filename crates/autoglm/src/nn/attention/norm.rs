//! Layer normalisation, and [`Norm`]: the normalisation a transformer block
//! is configured with (layer, batch or none).

use crate::nn::{BatchNorm, BatchNormConfig, Ctx, Init, Params};
use crate::Result;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// `y = (x - mean(x)) / sqrt(var(x) + ε) · γ + β` over each row (PyTorch
/// `LayerNorm(dim)`, biased variance, `ε = 1e-5`). Parameters `weight`, `bias`.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl LayerNorm {
    /// Parameters under `p`.
    pub fn new(dim: usize, p: &Params) -> Result<LayerNorm> {
        Ok(LayerNorm { weight: p.get("weight", &[dim], Init::Const(1.0))?, bias: p.get("bias", &[dim], Init::Const(0.0))?, eps: 1e-5 })
    }
    /// Normalise each row.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mu = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mu)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let y = xc.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        Ok(y.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)?)
    }
}

/// Which normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    #[default]
    Layer,
    Batch,
    None,
}

/// A configured normalisation.
#[derive(Debug, Clone)]
pub enum Norm {
    Layer(LayerNorm),
    Batch(BatchNorm),
    None,
}

impl Norm {
    /// `kind` over `dim` columns, parameters under `p`.
    pub fn new(kind: NormKind, dim: usize, p: &Params) -> Result<Norm> {
        Ok(match kind {
            NormKind::Layer => Norm::Layer(LayerNorm::new(dim, p)?),
            NormKind::Batch => Norm::Batch(BatchNormConfig::new(dim).init(p)?),
            NormKind::None => Norm::None,
        })
    }
    /// Apply it.
    pub fn forward(&self, x: &Tensor, ctx: &Ctx) -> Result<Tensor> {
        match self {
            Norm::Layer(l) => l.forward(x),
            Norm::Batch(b) => b.forward(x, ctx),
            Norm::None => Ok(x.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{assert_close, check_grad, rand_tensor, vec};

    #[test]
    fn layer_norm_by_hand_and_gradients() {
        let ln = LayerNorm::new(4, &Params::new(0)).unwrap();
        let x = Tensor::from_vec(vec![1f32, 2., 3., 4.], (1, 4), &candle_core::Device::Cpu).unwrap();
        let s = (1.25f32 + 1e-5).sqrt();
        assert_close(&vec(&ln.forward(&x).unwrap()), &[-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], 1e-6, "layer norm");
        check_grad(&[rand_tensor(&[3, 4], 1)], |t| ln.forward(&t[0]).map_err(|e| candle_core::Error::Msg(e.to_string())), 1e-2, 3e-3);
    }
}
