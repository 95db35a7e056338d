//! Graph attention (Veličković et al., ICLR 2018).

use crate::graph::Graph;
use crate::nn::{Ctx, Init, Linear, LinearConfig, Module, NodeInput, Params};
use crate::ops::{gat_attention, head_dot, spmm};
use crate::{Error, Result};
use candle_core::Tensor;

/// Configuration of a [`GatConv`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GatConvConfig {
    pub in_dim: usize,
    /// Channels per head.
    pub out_dim: usize,
    /// Number of attention heads (default 1).
    pub heads: usize,
    /// Concatenate heads (`[N, heads * out_dim]`, default) or average them (`[N, out_dim]`).
    pub concat: bool,
    /// LeakyReLU slope of the scores (default 0.2).
    pub negative_slope: f64,
    /// Dropout on the normalised attention coefficients (default 0).
    pub dropout: f64,
    /// Dropout on the projected features before aggregation, as the original GAT
    /// code does (`seq_fts` dropout in `attn_head`); PyG has none (default 0).
    #[serde(default)]
    pub feature_dropout: f64,
    /// Remove existing and add one self loop per node (default true).
    pub add_self_loops: bool,
    /// Add a bias (default true).
    pub bias: bool,
}

impl GatConvConfig {
    /// `heads` heads of `out_dim` channels each, concatenated.
    pub fn new(in_dim: usize, out_dim: usize, heads: usize) -> Self {
        GatConvConfig { in_dim, out_dim, heads, concat: true, negative_slope: 0.2, dropout: 0.0, feature_dropout: 0.0, add_self_loops: true, bias: true }
    }
    /// Set concatenation.
    pub fn with_concat(mut self, concat: bool) -> Self {
        self.concat = concat;
        self
    }
    /// Set attention dropout.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }
    /// Set dropout on the projected features (the original GAT code's `seq_fts` dropout).
    pub fn with_feature_dropout(mut self, p: f64) -> Self {
        self.feature_dropout = p;
        self
    }
    /// Output width: `heads * out_dim` when concatenating, else `out_dim`.
    pub fn output_dim(&self) -> usize {
        if self.concat {
            self.heads * self.out_dim
        } else {
            self.out_dim
        }
    }
    /// Parameters (PyG names): `lin.weight [heads*out_dim, in_dim]`,
    /// `att_src`, `att_dst [1, heads, out_dim]`, `bias [output_dim]`.
    pub fn init(&self, p: &Params) -> Result<GatConv> {
        if self.heads == 0 {
            return Err(Error::config("gat.heads", 0, "need at least one attention head"));
        }
        if !(0.0..1.0).contains(&self.dropout) || !(0.0..1.0).contains(&self.feature_dropout) {
            return Err(Error::config("gat.dropout", self.dropout, "must be in [0, 1)"));
        }
        let hc = self.heads * self.out_dim;
        let lin = LinearConfig::new(self.in_dim, hc).with_bias(false).init(&p.pp("lin"))?;
        let ai = Init::Glorot { fan_in: self.heads, fan_out: self.out_dim };
        let att_src = p.get("att_src", &[1, self.heads, self.out_dim], ai)?;
        let att_dst = p.get("att_dst", &[1, self.heads, self.out_dim], ai)?;
        let bias = if self.bias { Some(p.get("bias", &[self.output_dim()], Init::Const(0.0))?) } else { None };
        Ok(GatConv { cfg: self.clone(), lin, att_src, att_dst, bias })
    }
}

/// The GAT layer.
///
/// Node-wise: with `h_j = W x_j` split into `heads` blocks `h_j^k`,
/// `e^k_ji = LeakyReLU(a^k_src · h^k_j + a^k_dst · h^k_i)`,
/// `α^k_ji = softmax_{j ∈ N(i) ∪ {i}} e^k_ji` (over `i`'s incoming edges),
/// `x'^k_i = Σ_j α^k_ji h^k_j`; heads concatenated (or averaged), then `+ b`.
/// Matrix form: `X'^k = softmax_row(LeakyReLU(1 s_dstᵀ ... )) H^k` restricted to the edges.
///
/// Shapes: `x [num_nodes, in_dim]` → `[num_nodes, heads * out_dim]` (concat) or `[num_nodes, out_dim]`.
/// Deviations from the paper: none; as PyG `GATConv` (bias after concatenation, attention
/// dropout applied to `α` in training mode only).
#[derive(Debug, Clone)]
pub struct GatConv {
    cfg: GatConvConfig,
    lin: Linear,
    att_src: Tensor,
    att_dst: Tensor,
    bias: Option<Tensor>,
}

impl Module for GatConv {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let (h, c) = (self.cfg.heads, self.cfg.out_dim);
        let n = x.num_rows();
        let xp = self.lin.forward_input(x)?; // [N, H*C]
        let s_src = head_dot(&xp, &self.att_src, h)?; // [N, H]
        let s_dst = head_dot(&xp, &self.att_dst, h)?;
        let g = if self.cfg.add_self_loops { g.with_self_loops() } else { g.clone() };
        let alpha = gat_attention(&g, &s_src, &s_dst, self.cfg.negative_slope)?;
        let alpha = ctx.dropout(&alpha, self.cfg.dropout)?;
        let xp = ctx.dropout(&xp, self.cfg.feature_dropout)?;
        let out = spmm(&g, &alpha, &xp)?;
        let out = if self.cfg.concat { out } else { out.reshape((n, h, c))?.mean(1)? };
        Ok(match &self.bias {
            Some(b) => out.broadcast_add(b)?,
            None => out,
        })
    }
}
