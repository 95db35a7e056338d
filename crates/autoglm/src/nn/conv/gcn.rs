//! Graph convolution (Kipf & Welling, ICLR 2017).

use crate::graph::Graph;
use crate::nn::{Ctx, Init, Linear, LinearConfig, Module, NodeInput, Params};
use crate::ops::propagate;
use crate::Result;
use candle_core::Tensor;
use std::sync::Arc;

/// Configuration of a [`GcnConv`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GcnConvConfig {
    pub in_dim: usize,
    pub out_dim: usize,
    /// Add a bias after propagation (default true).
    pub bias: bool,
    /// Apply `D^-1/2 (A + I) D^-1/2` (default true); when false, sum over `A` as given.
    pub normalize: bool,
    /// Use the graph's edge weights when it has them (default true).
    pub use_edge_weight: bool,
}

impl GcnConvConfig {
    /// Defaults: bias, normalisation, edge weights used.
    pub fn new(in_dim: usize, out_dim: usize) -> Self {
        GcnConvConfig { in_dim, out_dim, bias: true, normalize: true, use_edge_weight: true }
    }
    /// Create parameters `lin.weight [out_dim, in_dim]` and `bias [out_dim]` (PyG names).
    pub fn init(&self, p: &Params) -> Result<GcnConv> {
        let lin = LinearConfig::new(self.in_dim, self.out_dim).with_bias(false).init(&p.pp("lin"))?;
        let bias = if self.bias { Some(p.get("bias", &[self.out_dim], Init::Const(0.0))?) } else { None };
        Ok(GcnConv { cfg: self.clone(), lin, bias })
    }
}

/// The GCN layer.
///
/// Matrix form: `X' = D̂^{-1/2} Â D̂^{-1/2} X Wᵀ + b`, with `Â = A + I` and
/// `D̂_ii = Σ_j Â_ij` (weighted in-degree including the self loop).
/// Node-wise: `x'_i = Σ_{j ∈ N(i) ∪ {i}} e_ji / sqrt(d̂_j d̂_i) · W x_j + b`,
/// where `e_ji` is the weight of edge `j → i` (1 when unweighted) and self loops
/// weigh 1 unless the graph already has one (PyG `add_remaining_self_loops`).
///
/// Shapes: `x [num_nodes, in_dim]` → `[num_nodes, out_dim]`.
/// Deviations from the paper: none; identical to PyG `GCNConv` (the projection is
/// applied before propagation). Nodes with zero degree cannot occur (self loops).
///
/// ```
/// use autoglm::{graph::Graph, nn::{Ctx, GcnConvConfig, Module, Params, NodeInput}};
/// use candle_core::{Tensor, Device};
/// let g = Graph::from_edges(2, &[(0, 1), (1, 0)]).unwrap();
/// let p = Params::new(0);
/// let conv = GcnConvConfig::new(1, 1).init(&p).unwrap();
/// let x = Tensor::new(&[[1f32], [3.]], &Device::Cpu).unwrap();
/// let y = conv.forward(&g, &NodeInput::Hidden(x), &mut Ctx::eval()).unwrap();
/// // Both nodes average over themselves and each other: (1 + 3) / 2 = 2, times the weight.
/// let w = conv.weight().to_vec2::<f32>().unwrap()[0][0];
/// let out = y.to_vec2::<f32>().unwrap();
/// assert!((out[0][0] - 2.0 * w).abs() < 1e-6 && (out[1][0] - 2.0 * w).abs() < 1e-6);
/// ```
#[derive(Debug, Clone)]
pub struct GcnConv {
    cfg: GcnConvConfig,
    lin: Linear,
    bias: Option<Tensor>,
}

impl Module for GcnConv {
    fn forward(&self, g: &Graph, x: &NodeInput, _ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_act(g, x, false)
    }
    /// ReLU fused into the propagation kernel.
    fn forward_relu(&self, g: &Graph, x: &NodeInput, _ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_act(g, x, true)
    }
}

impl GcnConv {
    /// Forward pass followed by ReLU when `relu` (fused into the propagation kernel).
    fn forward_act(&self, g: &Graph, x: &NodeInput, relu: bool) -> Result<Tensor> {
        let h = self.lin.forward_input(x)?;
        let out = if self.cfg.normalize {
            let norm = g.gcn_norm(self.cfg.use_edge_weight);
            propagate(&norm.0, Some(norm.1.clone()), &h, None, self.bias.as_ref(), relu)?
        } else {
            let w = g.edge_weight().filter(|_| self.cfg.use_edge_weight).map(|w| Arc::new(w.to_vec()));
            propagate(g, w, &h, None, self.bias.as_ref(), relu)?
        };
        Ok(out)
    }
    /// The projection weight `[out_dim, in_dim]`.
    pub fn weight(&self) -> &Tensor {
        self.lin.weight()
    }
}
