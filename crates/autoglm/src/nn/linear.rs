//! `Linear`: `y = x Wᵀ + b`, with PyTorch's weight layout `[out_dim, in_dim]`.

use super::{Init, NodeInput, Params};
use crate::{Error, Result};
use candle_core::Tensor;

/// How [`Linear`] weights are initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearInit {
    /// Glorot uniform, bias zero (PyG's `Linear(weight_initializer='glorot')`, used by GCN/GAT).
    #[default]
    Glorot,
    /// PyTorch `nn.Linear` default (Kaiming uniform with a = sqrt(5), bias `U(±1/sqrt(in))`).
    Torch,
}

/// Configuration of a [`Linear`] layer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinearConfig {
    pub in_dim: usize,
    pub out_dim: usize,
    /// Add a bias (default true).
    pub bias: bool,
    /// Initialisation (default Glorot).
    pub init: LinearInit,
}

impl LinearConfig {
    /// `in_dim -> out_dim` with bias and Glorot initialisation.
    pub fn new(in_dim: usize, out_dim: usize) -> Self {
        LinearConfig { in_dim, out_dim, bias: true, init: LinearInit::Glorot }
    }
    /// Set whether to add a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    /// Set the initialisation.
    pub fn with_init(mut self, init: LinearInit) -> Self {
        self.init = init;
        self
    }
    /// Create the parameters `weight [out_dim, in_dim]` and `bias [out_dim]` under `p`.
    pub fn init(&self, p: &Params) -> Result<Linear> {
        if self.in_dim == 0 || self.out_dim == 0 {
            return Err(Error::config("linear dims", format!("{} -> {}", self.in_dim, self.out_dim), "dimensions must be positive"));
        }
        let (wi, bi) = match self.init {
            LinearInit::Glorot => (Init::Glorot { fan_in: self.in_dim, fan_out: self.out_dim }, Init::Const(0.0)),
            LinearInit::Torch => (Init::TorchLinear { fan_in: self.in_dim }, Init::TorchLinear { fan_in: self.in_dim }),
        };
        let weight = p.get("weight", &[self.out_dim, self.in_dim], wi)?;
        let bias = if self.bias { Some(p.get("bias", &[self.out_dim], bi)?) } else { None };
        Ok(Linear { weight, bias })
    }
}

/// A dense affine map `x Wᵀ + b`.
///
/// Shapes: `x [num_nodes, in_dim]`, `weight [out_dim, in_dim]`, `bias [out_dim]`,
/// output `[num_nodes, out_dim]`. Deviations from PyTorch: none.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// Apply to a hidden activation.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_input(&NodeInput::Hidden(x.clone()))
    }
    /// Apply to any [`NodeInput`] (constant inputs take the no-input-gradient path).
    pub fn forward_input(&self, x: &NodeInput) -> Result<Tensor> {
        let in_dim = self.weight.dims()[1];
        if x.dim() != in_dim {
            return Err(Error::Shape { op: "linear", expected: format!("[num_nodes, {in_dim}]"), got: vec![x.num_rows(), x.dim()] });
        }
        if let NodeInput::Hidden(h) = x {
            return Ok(crate::ops::linear(h, &self.weight, self.bias.as_ref())?);
            // one op, closed-form backward
        }
        let y = x.matmul(&self.weight.t()?)?;
        match &self.bias {
            Some(b) => Ok(crate::ops::bias_add(&y, b)?), // one-pass bias gradient (ops::norm)
            None => Ok(y),
        }
    }
    /// `x Wᵀ` without the bias.
    pub fn forward_no_bias(&self, x: &NodeInput) -> Result<Tensor> {
        if let NodeInput::Hidden(h) = x {
            return Ok(crate::ops::linear(h, &self.weight, None)?);
        }
        Ok(x.matmul(&self.weight.t()?)?)
    }
    /// The map onto some of the outputs of some linears: the rows
    /// `off..off + width` of each `(linear, off, width)`, stacked (gradients
    /// flow back into the originals). All must share the input width; biases
    /// are kept when every part has one.
    ///
    /// # Errors
    /// Row ranges out of bounds, or mismatched input widths.
    pub fn select_rows(parts: &[(&Linear, usize, usize)]) -> Result<Linear> {
        let ws: Vec<Tensor> = parts.iter().map(|(l, off, w)| l.weight.narrow(0, *off, *w)).collect::<candle_core::Result<_>>()?;
        let with_bias = parts.iter().all(|(l, _, _)| l.bias.is_some());
        let bias = if with_bias {
            let bs: Vec<Tensor> = parts.iter().map(|(l, off, w)| l.bias.as_ref().expect("checked").narrow(0, *off, *w)).collect::<candle_core::Result<_>>()?;
            Some(Tensor::cat(&bs, 0)?.contiguous()?)
        } else {
            None
        };
        Ok(Linear { weight: Tensor::cat(&ws, 0)?.contiguous()?, bias })
    }
    /// The bias, if any.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }
    /// The weight `[out_dim, in_dim]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}
