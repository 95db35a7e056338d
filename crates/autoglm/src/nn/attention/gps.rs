//! A GPS-style transformer block (Rampášek et al., NeurIPS 2022): a
//! message-passing branch and a multi-granularity attention branch, in
//! parallel (GraphGPS) or in sequence, each with a residual connection and a
//! normalisation, then a feed-forward block with its own.
//!
//! Post-normalisation (GraphGPS's default), parallel:
//! `a = N₁(x + ReLU(MPNN(x)))`, `b = N₂(x + Attn(x))`, `h = a + b`, `out = N₃(h + FFN(h))`;
//! pre-normalisation: `h = x + MPNN(N₁(x)) + Attn(N₂(x))`, `out = h + FFN(N₃(h))`.
//! (the message-passing branch ends in a ReLU, as GraphGPS's local models do).
//! In sequence the attention branch takes the message-passing branch's output.
//! `FFN(h) = W₂ drop(ReLU(W₁ h))`, `W₁: d → ffn_mult·d`. Dropout after each branch.

use super::mga::{MgaConfig, MultiGranularityAttention};
use super::norm::{Norm, NormKind};
use crate::graph::Graph;
use crate::nn::{Ctx, GatConvConfig, GcnConvConfig, GinConvConfig, Linear, LinearConfig, MlpConfig, Module, NodeInput, Params, SageConvConfig};
use crate::{Error, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// The message-passing branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mpnn {
    /// No message-passing branch (attention only).
    None,
    #[default]
    Gcn,
    Gin,
    Sage,
    /// GAT with 4 heads of `d / 4`, concatenated.
    Gat,
}

/// Branches side by side or one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpsMode {
    #[default]
    Parallel,
    Sequential,
}

/// Configuration of a [`GpsLayer`] of width `dim`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpsConfig {
    pub dim: usize,
    pub mpnn: Mpnn,
    pub mode: GpsMode,
    pub norm: NormKind,
    pub pre_norm: bool,
    /// Residual connections around the branches (default true). Without them
    /// the parallel block is `N₁(MPNN(x)) + attn_weight · N₂(Attn(x))`, SGFormer's
    /// combination of a GNN and a global attention.
    pub residual: bool,
    /// Weight of the attention branch in the parallel sum (default 1).
    pub attn_weight: f64,
    /// Dropout after each branch and inside the feed-forward block.
    pub dropout: f64,
    /// Hidden width of the feed-forward block, as a multiple of `dim` (0: no block).
    pub ffn_mult: usize,
    /// The attention branch (its `in_dim` / `out_dim` are set to `dim`); no
    /// attention branch when it has no heads at all.
    pub attention: MgaConfig,
}

impl Default for GpsConfig {
    fn default() -> Self {
        GpsConfig {
            dim: 0,
            mpnn: Mpnn::Gcn,
            mode: GpsMode::Parallel,
            norm: NormKind::Layer,
            pre_norm: false,
            residual: true,
            attn_weight: 1.0,
            dropout: 0.0,
            ffn_mult: 2,
            attention: MgaConfig::default(),
        }
    }
}

impl GpsConfig {
    /// Parameters `mpnn.*`, `attn.*`, `norm_mpnn`, `norm_attn`, `norm_ffn`, `ffn.0`, `ffn.1`.
    ///
    /// # Errors
    /// [`Error::Config`] for a block with neither branch, bad dropout, or the attention's own checks.
    pub fn init(&self, p: &Params) -> Result<GpsLayer> {
        let d = self.dim;
        let has_attn = self.attention.heads.total() > 0;
        if self.mpnn == Mpnn::None && !has_attn {
            return Err(Error::config("mpnn", "none", "a block needs a message-passing branch or attention heads; set mpnn or the head groups"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("dropout", self.dropout, "must be in [0, 1)"));
        }
        let mp = p.pp("mpnn");
        let mpnn: Option<Box<dyn Module>> = match self.mpnn {
            Mpnn::None => None,
            Mpnn::Gcn => Some(Box::new(GcnConvConfig::new(d, d).init(&mp)?)),
            Mpnn::Sage => Some(Box::new(SageConvConfig::new(d, d).init(&mp)?)),
            Mpnn::Gin => Some(Box::new(GinConvConfig::new(MlpConfig::new(vec![d, d, d])).init(&mp)?)),
            Mpnn::Gat => {
                if !d.is_multiple_of(4) {
                    return Err(Error::config("mpnn", "gat", format!("the GAT branch splits the width {d} into 4 heads; use a multiple of 4")));
                }
                Some(Box::new(GatConvConfig::new(d, d / 4, 4).with_dropout(0.0).init(&mp)?))
            }
        };
        let attn = if has_attn { Some(MgaConfig { in_dim: d, out_dim: d, ..self.attention.clone() }.init(&p.pp("attn"))?) } else { None };
        let ffn = if self.ffn_mult > 0 {
            let h = self.ffn_mult * d;
            Some((LinearConfig::new(d, h).init(&p.pp("ffn.0"))?, LinearConfig::new(h, d).init(&p.pp("ffn.1"))?))
        } else {
            None
        };
        Ok(GpsLayer {
            cfg: self.clone(),
            norm_mpnn: Norm::new(self.norm, d, &p.pp("norm_mpnn"))?,
            norm_attn: Norm::new(self.norm, d, &p.pp("norm_attn"))?,
            norm_ffn: Norm::new(self.norm, d, &p.pp("norm_ffn"))?,
            mpnn,
            attn,
            ffn,
        })
    }
}

/// The block (see the module docs). `[N, dim]` → `[N, dim]`.
pub struct GpsLayer {
    cfg: GpsConfig,
    mpnn: Option<Box<dyn Module>>,
    attn: Option<MultiGranularityAttention>,
    ffn: Option<(Linear, Linear)>,
    norm_mpnn: Norm,
    norm_attn: Norm,
    norm_ffn: Norm,
}

impl GpsLayer {
    /// The attention branch.
    pub fn attention(&self) -> Option<&MultiGranularityAttention> {
        self.attn.as_ref()
    }

    fn branch_mpnn(&self, g: &Graph, x: &Tensor, ctx: &mut Ctx) -> Result<Option<Tensor>> {
        match &self.mpnn {
            None => Ok(None),
            Some(m) => {
                let y = m.forward_relu(g, &NodeInput::Hidden(x.clone()), ctx)?;
                Ok(Some(ctx.dropout(&y, self.cfg.dropout)?))
            }
        }
    }

    fn branch_attn(&self, g: &Graph, x: &Tensor, ctx: &mut Ctx) -> Result<Option<Tensor>> {
        match &self.attn {
            None => Ok(None),
            Some(a) => {
                let y = a.forward(g, &NodeInput::Hidden(x.clone()), ctx)?;
                Ok(Some(ctx.dropout(&y, self.cfg.dropout)?))
            }
        }
    }

    fn feed_forward(&self, h: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        match &self.ffn {
            None => Ok(h.zeros_like()?),
            Some((a, b)) => {
                let z = ctx.dropout(&a.forward(h)?.relu()?, self.cfg.dropout)?;
                Ok(ctx.dropout(&b.forward(&z)?, self.cfg.dropout)?)
            }
        }
    }
}

impl GpsLayer {
    /// `x + y` with residual connections, else `y`.
    fn res(&self, x: &Tensor, y: Tensor) -> Result<Tensor> {
        Ok(if self.cfg.residual { (x + y)? } else { y })
    }
}

fn add(a: Tensor, b: Option<Tensor>) -> Result<Tensor> {
    Ok(match b {
        Some(b) => (a + b)?,
        None => a,
    })
}

impl Module for GpsLayer {
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let x = x.to_tensor()?;
        if x.dim(1)? != self.cfg.dim {
            return Err(Error::Shape { op: "gps layer", expected: format!("[{}, {}]", x.dim(0)?, self.cfg.dim), got: x.dims().to_vec() });
        }
        let h = match (self.cfg.mode, self.cfg.pre_norm) {
            (GpsMode::Parallel, false) => {
                let a = match self.branch_mpnn(g, &x, ctx)? {
                    Some(m) => Some(self.norm_mpnn.forward(&self.res(&x, m)?, ctx)?),
                    None => None,
                };
                let b = match self.branch_attn(g, &x, ctx)? {
                    Some(t) => Some((self.norm_attn.forward(&self.res(&x, t)?, ctx)? * self.cfg.attn_weight)?),
                    None => None,
                };
                match (a, b) {
                    (Some(a), b) => add(a, b)?,
                    (None, Some(b)) => b,
                    (None, None) => x.clone(),
                }
            }
            (GpsMode::Parallel, true) => {
                let m = self.branch_mpnn(g, &self.norm_mpnn.forward(&x, ctx)?, ctx)?;
                let t = self.branch_attn(g, &self.norm_attn.forward(&x, ctx)?, ctx)?;
                let t = t.map(|t| t * self.cfg.attn_weight).transpose()?;
                let base = if self.cfg.residual { Some(x.clone()) } else { None };
                match (base, m, t) {
                    (Some(b), m, t) => add(add(b, m)?, t)?,
                    (None, Some(m), t) => add(m, t)?,
                    (None, None, Some(t)) => t,
                    (None, None, None) => x.clone(),
                }
            }
            (GpsMode::Sequential, false) => {
                let h = match self.branch_mpnn(g, &x, ctx)? {
                    Some(m) => self.norm_mpnn.forward(&self.res(&x, m)?, ctx)?,
                    None => x.clone(),
                };
                match self.branch_attn(g, &h, ctx)? {
                    Some(t) => self.norm_attn.forward(&self.res(&h, t)?, ctx)?,
                    None => h,
                }
            }
            (GpsMode::Sequential, true) => {
                let m = self.branch_mpnn(g, &self.norm_mpnn.forward(&x, ctx)?, ctx)?;
                let h = match m {
                    Some(m) => self.res(&x, m)?,
                    None => x.clone(),
                };
                let t = self.branch_attn(g, &self.norm_attn.forward(&h, ctx)?, ctx)?;
                match t {
                    Some(t) => self.res(&h, t)?,
                    None => h,
                }
            }
        };
        if self.ffn.is_none() {
            return Ok(h);
        }
        if self.cfg.pre_norm {
            let f = self.feed_forward(&self.norm_ffn.forward(&h, ctx)?, ctx)?;
            Ok((h + f)?)
        } else {
            let f = self.feed_forward(&h, ctx)?;
            self.norm_ffn.forward(&(h + f)?, ctx)
        }
    }
}
