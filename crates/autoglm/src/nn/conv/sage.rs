//! GraphSAGE (Hamilton et al., NeurIPS 2017).

use crate::graph::Graph;
use crate::nn::{Linear, LinearConfig, LinearInit, NodeInput, Params};
use crate::ops::{neighbor_max, spmm_const};
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

impl SageConv {
    /// Forward pass.
    pub fn forward(&self, g: &Graph, x: &NodeInput) -> Result<Tensor> {
        let coef = match self.cfg.aggr {
            SageAggr::Mean => Some(g.mean_weight()),
            _ => None,
        };
        let neigh = match self.cfg.aggr {
            SageAggr::Max => {
                let xd = x.to_tensor()?;
                let agg = neighbor_max(g, &xd)?;
                self.lin_l.forward(&agg)?
            }
            SageAggr::Mean | SageAggr::Sum => {
                if self.cfg.out_dim <= self.cfg.in_dim || !matches!(x, NodeInput::Hidden(_)) {
                    let h = self.lin_l.forward_no_bias(x)?;
                    let agg = spmm_const(g, coef, &h)?;
                    match self.lin_l.bias() {
                        Some(b) => agg.broadcast_add(b)?,
                        None => agg,
                    }
                } else {
                    let agg = spmm_const(g, coef, &x.to_tensor()?)?;
                    self.lin_l.forward(&agg)?
                }
            }
        };
        match &self.lin_r {
            Some(r) => Ok((neigh + r.forward_input(x)?)?),
            None => Ok(neigh),
        }
    }
}
