//! GraphSAGE (Hamilton et al., NeurIPS 2017).

use crate::graph::Graph;
use crate::nn::{Ctx, Linear, LinearConfig, LinearInit, Module, NodeInput, Params};
use crate::ops::{neighbor_max, propagate, propagate_rows, spmm_const, spmm_const_rows};
use crate::Result;
use candle_core::Tensor;

/// Neighbourhood aggregation of [`SageConv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SageAggr {
    #[default]
    Mean,
    Max,
    Sum,
}

/// Configuration of a [`SageConv`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SageConvConfig {
    pub in_dim: usize,
    pub out_dim: usize,
    /// Aggregation (default mean).
    pub aggr: SageAggr,
    /// Add the transformed root node, `W_r x_i` (default true).
    pub root_weight: bool,
    /// Bias on the neighbour transform (default true).
    pub bias: bool,
}

impl SageConvConfig {
    /// Mean aggregation with root weight and bias.
    pub fn new(in_dim: usize, out_dim: usize) -> Self {
        SageConvConfig { in_dim, out_dim, aggr: SageAggr::Mean, root_weight: true, bias: true }
    }
    /// Set the aggregation.
    pub fn with_aggr(mut self, aggr: SageAggr) -> Self {
        self.aggr = aggr;
        self
    }
    /// Parameters (PyG names): `lin_l.weight`, `lin_l.bias`, `lin_r.weight`.
    pub fn init(&self, p: &Params) -> Result<SageConv> {
        let lin_l = LinearConfig::new(self.in_dim, self.out_dim).with_bias(self.bias).with_init(LinearInit::Torch).init(&p.pp("lin_l"))?;
        let lin_r = if self.root_weight {
            Some(LinearConfig::new(self.in_dim, self.out_dim).with_bias(false).with_init(LinearInit::Torch).init(&p.pp("lin_r"))?)
        } else {
            None
        };
        Ok(SageConv { cfg: self.clone(), lin_l, lin_r })
    }
}

/// The GraphSAGE layer.
///
/// Node-wise: `x'_i = W_l · AGG_{j → i} x_j + b + W_r x_i`, AGG ∈ {mean, max, sum};
/// nodes without in-edges aggregate to 0. Matrix form (mean): `X' = D⁻¹ A X W_lᵀ + b + X W_rᵀ`.
///
/// Shapes: `x [num_nodes, in_dim]` → `[num_nodes, out_dim]`.
/// Deviations from the paper: as PyG `SAGEConv` (no neighbour sampling inside the
/// layer, no concatenation; sum of the two transforms). For mean and sum the
/// projection is applied before aggregation when it shrinks the features, which is
/// exact by linearity.
#[derive(Debug, Clone)]
pub struct SageConv {
    cfg: SageConvConfig,
    lin_l: Linear,
    lin_r: Option<Linear>,
}

impl Module for SageConv {
    fn forward(&self, g: &Graph, x: &NodeInput, _ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_act(g, x, false)
    }
    /// ReLU fused into the propagation kernel on the mean / sum path.
    fn forward_relu(&self, g: &Graph, x: &NodeInput, _ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_act(g, x, true)
    }
    /// Mean and sum aggregate into the destination rows only, projecting
    /// before or after the aggregation, whichever costs fewer multiply-adds;
    /// the root transform reads the destination rows only. Max computes
    /// every row and keeps the destinations.
    fn forward_dst(&self, g: &Graph, num_dst: usize, x: &NodeInput, relu: bool, _ctx: &mut Ctx) -> Result<Tensor> {
        let coef = match self.cfg.aggr {
            _ if num_dst == g.num_nodes() => return self.forward_act(g, x, relu),
            SageAggr::Mean => Some(g.mean_weight()),
            SageAggr::Sum => None,
            SageAggr::Max => return Ok(self.forward_act(g, x, relu)?.narrow(0, 0, num_dst)?),
        };
        let root = match &self.lin_r {
            Some(r) => Some(r.forward_input(&x.head_rows(num_dst)?)?),
            None => None,
        };
        let (n, e, din, dout) = (g.num_nodes(), g.num_edges(), self.cfg.in_dim, self.cfg.out_dim);
        let tensor_input = matches!(x, NodeInput::Hidden(_) | NodeInput::Dense(_));
        if !tensor_input || n * din * dout + e * dout <= e * din + num_dst * din * dout {
            let h = self.lin_l.forward_no_bias(x)?;
            return Ok(propagate_rows(g, num_dst, coef, &h, root.as_ref(), self.lin_l.bias(), relu)?);
        }
        let agg = spmm_const_rows(g, num_dst, coef, &x.to_tensor()?)?;
        let mut out = self.lin_l.forward(&agg)?;
        if let Some(r) = root {
            out = (out + r)?;
        }
        Ok(if relu { out.relu()? } else { out })
    }
}

impl SageConv {
    /// Forward pass followed by ReLU when `relu`.
    fn forward_act(&self, g: &Graph, x: &NodeInput, relu: bool) -> Result<Tensor> {
        let coef = match self.cfg.aggr {
            SageAggr::Mean => Some(g.mean_weight()),
            _ => None,
        };
        let root = match &self.lin_r {
            Some(r) => Some(r.forward_input(x)?),
            None => None,
        };
        let fused = matches!(self.cfg.aggr, SageAggr::Mean | SageAggr::Sum) && (self.cfg.out_dim <= self.cfg.in_dim || !matches!(x, NodeInput::Hidden(_)));
        if fused {
            let h = self.lin_l.forward_no_bias(x)?;
            return Ok(propagate(g, coef, &h, root.as_ref(), self.lin_l.bias(), relu)?);
        }
        let agg = match self.cfg.aggr {
            SageAggr::Max => neighbor_max(g, &x.to_tensor()?)?,
            SageAggr::Mean | SageAggr::Sum => spmm_const(g, coef, &x.to_tensor()?)?,
        };
        let mut out = self.lin_l.forward(&agg)?;
        if let Some(r) = root {
            out = (out + r)?;
        }
        Ok(if relu { out.relu()? } else { out })
    }
}
