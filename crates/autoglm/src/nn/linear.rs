//! `Linear`: `y = x Wᵀ + b`, with PyTorch's weight layout `[out_dim, in_dim]`.

use super::{Init, NodeInput, Params};
use crate::{Error, Result};
use candle_core::Tensor;
use std::cell::Cell;

thread_local! {
    static INT8: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with every [`Linear`] on this thread computed in int8: weights
/// quantised per output channel (symmetric), activations per row, the
/// products in i32 (`autoglm_kernels::quant`, AVX-512 VNNI where the CPU has
/// it), the result dequantised to f32 with the bias added. Evaluation only:
/// there is no gradient through the int8 products. This is how a model
/// without an `.agx` export path (the graph transformer, any registered
/// model built from `Linear`) is run and checked in int8
/// (`autoglm eval --quantize int8`).
pub fn with_int8_linears<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INT8.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INT8.with(|c| c.replace(true)));
    f()
}

/// Whether [`with_int8_linears`] is in force on this thread.
pub fn int8_linears() -> bool {
    INT8.with(Cell::get)
}

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
        if int8_linears() {
            return self.forward_int8(x, true);
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
        if int8_linears() {
            return self.forward_int8(x, false);
        }
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
    /// The int8 forward pass of [`with_int8_linears`] (dense inputs as rows,
    /// sparse inputs row by row).
    fn forward_int8(&self, x: &NodeInput, with_bias: bool) -> Result<Tensor> {
        use autoglm_kernels::quant;
        let (o, k) = self.weight.dims2()?;
        // quantised at every call (o * k work, small beside the n * o * k
        // product), so a model trained further is never run on stale weights
        let w = quant::QWeights::quantize(&self.weight.flatten_all()?.to_vec1::<f32>()?, o, k);
        let bias = match (&self.bias, with_bias) {
            (Some(b), true) => Some(b.to_vec1::<f32>()?),
            _ => None,
        };
        let (y, shape) = match x {
            NodeInput::Sparse(s) => {
                let m = s.matrix();
                (quant::qlinear_csr(&m.row_ptr, &m.col_idx, &m.values, &w, bias.as_deref()), vec![m.num_rows, o])
            }
            other => {
                let t = other.to_tensor()?;
                let mut shape = t.dims().to_vec();
                let n = t.elem_count() / k.max(1);
                let y = quant::qlinear(&t.flatten_all()?.to_vec1::<f32>()?, n, quant::ActScale::PerRow, &w, bias.as_deref());
                *shape.last_mut().expect("at least one axis") = o;
                (y, shape)
            }
        };
        Ok(Tensor::from_vec(y, shape, self.weight.device())?)
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
