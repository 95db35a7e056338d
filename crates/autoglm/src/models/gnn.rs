//! [`Gnn`]: a stack of message-passing layers with dropout and activations
//! between them, in the recipes of the GCN, GAT, GraphSAGE and GIN papers.

use crate::graph::{Graph, Mfg};
use crate::models::flow::{Jk, JumpingKnowledge};
use crate::nn::{
    BatchNorm, BatchNormConfig, Ctx, GatConvConfig, GcnConvConfig, GinConvConfig, Init, Linear, LinearConfig, MlpConfig, Module, NodeInput, Params, SageAggr,
    SageConvConfig,
};
use crate::{Error, Result};
use candle_core::Tensor;

/// Names accepted for [`ModelKind`].
pub const MODEL_KINDS: &[&str] = &["gcn", "gat", "sage", "gin"];

/// Which convolution the stack uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    Gcn,
    Gat,
    Sage,
    Gin,
}

impl std::str::FromStr for ModelKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "gcn" => Ok(ModelKind::Gcn),
            "gat" => Ok(ModelKind::Gat),
            "sage" | "graphsage" => Ok(ModelKind::Sage),
            "gin" => Ok(ModelKind::Gin),
            _ => Err(Error::unknown("model", s, MODEL_KINDS)),
        }
    }
}

impl std::fmt::Display for ModelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelKind::Gcn => "gcn",
            ModelKind::Gat => "gat",
            ModelKind::Sage => "sage",
            ModelKind::Gin => "gin",
        })
    }
}

/// Non-linearity between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Elu,
    /// PReLU with one learnable slope per layer (initial 0.25, as PyTorch), GraphMAE's choice.
    Prelu,
}

/// Hyper-parameters of a [`Gnn`]. Defaults follow each paper's recipe
/// ([`GnnConfig::recipe`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GnnConfig {
    pub model: ModelKind,
    /// Hidden width (for GAT: channels per head).
    pub hidden_dim: usize,
    /// Number of message-passing layers (>= 1).
    pub num_layers: usize,
    /// Dropout on the input and between layers.
    pub dropout: f64,
    /// GAT heads in hidden layers.
    pub heads: usize,
    /// GAT heads in the output layer (averaged).
    pub out_heads: usize,
    /// GAT attention dropout.
    pub attn_dropout: f64,
    /// GAT dropout on projected features before aggregation (original GAT code; PyG: 0).
    pub gat_feature_dropout: f64,
    /// GraphSAGE aggregation.
    pub aggr: SageAggr,
    /// Activation between layers.
    pub activation: Activation,
    /// GIN: learn ε.
    pub train_eps: bool,
    /// GIN: batch norm inside the MLPs.
    pub batch_norm: bool,
    /// Residual connections `h + layer(h)` around every hidden layer whose
    /// input and output widths match (default false).
    pub residual: bool,
    /// Jumping knowledge over the layers' outputs (default `last`: the plain
    /// stack). Otherwise every layer is hidden and a linear `jk_out` maps the
    /// combination to the output width.
    pub jk: Jk,
    /// An encoder without an output layer (default false): every layer is
    /// hidden (activation, norm, residual), the output is the last layer's
    /// activation and `out_dim` is ignored (the width is `hidden_dim`, times
    /// `heads` for GAT). Self-supervised pretraining builds its encoders so.
    pub headless: bool,
    /// Batch norm after every hidden layer, before the activation (default false).
    pub norm: bool,
}

impl Default for GnnConfig {
    fn default() -> Self {
        GnnConfig::recipe(ModelKind::Gcn)
    }
}

impl GnnConfig {
    /// The paper recipe for node classification on citation graphs: GCN 2x16,
    /// dropout 0.5; GAT 8 heads x 8, ELU, dropout, attention dropout and
    /// projected-feature dropout 0.6 (as the original GAT code);
    /// GraphSAGE mean 2x16 (as PyG's example), dropout 0.5; GIN 2x16, dropout 0.5.
    pub fn recipe(model: ModelKind) -> GnnConfig {
        let base = GnnConfig {
            model,
            hidden_dim: 16,
            num_layers: 2,
            dropout: 0.5,
            heads: 8,
            out_heads: 1,
            attn_dropout: 0.6,
            gat_feature_dropout: 0.0,
            aggr: SageAggr::Mean,
            activation: Activation::Relu,
            train_eps: false,
            batch_norm: false,
            residual: false,
            jk: Jk::Last,
            headless: false,
            norm: false,
        };
        match model {
            // The original GAT code also drops the projected features (p = 0.6) before
            // aggregating; PyG's GATConv does not. With it, Cora reaches the published 83.0.
            ModelKind::Gat => GnnConfig { hidden_dim: 8, dropout: 0.6, gat_feature_dropout: 0.6, activation: Activation::Elu, ..base },
            _ => base,
        }
    }

    /// Validate ranges.
    pub fn validate(&self) -> Result<()> {
        if self.num_layers == 0 {
            return Err(Error::config("num_layers", 0, "need at least one layer"));
        }
        if self.hidden_dim == 0 {
            return Err(Error::config("hidden_dim", 0, "must be positive"));
        }
        for (f, v) in [("dropout", self.dropout), ("attn_dropout", self.attn_dropout), ("gat_feature_dropout", self.gat_feature_dropout)] {
            if !(0.0..1.0).contains(&v) {
                return Err(Error::config(f, v, "must be in [0, 1)"));
            }
        }
        if self.model == ModelKind::Gat && (self.heads == 0 || self.out_heads == 0) {
            return Err(Error::config("heads", self.heads, "GAT needs at least one head"));
        }
        Ok(())
    }

    /// Build the model `in_dim -> out_dim` with parameters under `p` (`layers.{i}.*`).
    pub fn init(&self, in_dim: usize, out_dim: usize, p: &Params) -> Result<Gnn> {
        self.validate()?;
        let mut layers = Vec::with_capacity(self.num_layers);
        let mut widths = Vec::with_capacity(self.num_layers);
        let mut d = in_dim;
        let plain = self.jk == Jk::Last && !self.headless;
        for i in 0..self.num_layers {
            let last = plain && i + 1 == self.num_layers;
            let lp = p.pp(format!("layers.{i}"));
            let (layer, out): (Box<dyn Module>, usize) = match self.model {
                ModelKind::Gcn => {
                    let o = if last { out_dim } else { self.hidden_dim };
                    (Box::new(GcnConvConfig::new(d, o).init(&lp)?), o)
                }
                ModelKind::Sage => {
                    let o = if last { out_dim } else { self.hidden_dim };
                    (Box::new(SageConvConfig::new(d, o).with_aggr(self.aggr).init(&lp)?), o)
                }
                ModelKind::Gin => {
                    let o = if last { out_dim } else { self.hidden_dim };
                    let mlp = MlpConfig::new(vec![d, self.hidden_dim, o]).with_batch_norm(self.batch_norm);
                    let cfg = GinConvConfig { mlp, eps: 0.0, train_eps: self.train_eps };
                    (Box::new(cfg.init(&lp)?), o)
                }
                ModelKind::Gat => {
                    let cfg = if last {
                        GatConvConfig::new(d, out_dim, self.out_heads).with_concat(false)
                    } else {
                        GatConvConfig::new(d, self.hidden_dim, self.heads)
                    }
                    .with_dropout(self.attn_dropout)
                    .with_feature_dropout(self.gat_feature_dropout);
                    let o = cfg.output_dim();
                    (Box::new(cfg.init(&lp)?), o)
                }
            };
            layers.push(layer);
            widths.push((d, out));
            d = out;
        }
        let hidden_layers = if plain { self.num_layers - 1 } else { self.num_layers };
        let norms = if self.norm {
            (0..hidden_layers).map(|i| BatchNormConfig::new(widths[i].1).init(&p.pp(format!("norms.{i}")))).collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let slopes = if self.activation == Activation::Prelu {
            (0..hidden_layers).map(|i| p.get(&format!("prelu.{i}.weight"), &[1], Init::Const(0.25))).collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let (jk, jk_out, out_dim) = if plain || (self.headless && self.jk == Jk::Last) {
            (None, None, d)
        } else if self.headless {
            let jk = JumpingKnowledge::new(self.jk, self.num_layers, d, &p.pp("jk"))?;
            let o = jk.out_dim();
            (Some(jk), None, o)
        } else {
            let jk = JumpingKnowledge::new(self.jk, self.num_layers, d, &p.pp("jk"))?;
            let lin = LinearConfig::new(jk.out_dim(), out_dim).init(&p.pp("jk_out"))?;
            (Some(jk), Some(lin), out_dim)
        };
        Ok(Gnn { cfg: self.clone(), layers, widths, norms, slopes, jk, jk_out, out_dim })
    }
}

/// `dropout → conv → act → dropout → conv → … → conv` (no activation after the last).
pub struct Gnn {
    cfg: GnnConfig,
    layers: Vec<Box<dyn Module>>,
    /// `(input, output)` width of every layer.
    widths: Vec<(usize, usize)>,
    /// Batch norm after hidden layer `i` (when `norm`).
    norms: Vec<BatchNorm>,
    /// PReLU slope of hidden layer `i` (when the activation is PReLU).
    slopes: Vec<Tensor>,
    jk: Option<JumpingKnowledge>,
    jk_out: Option<Linear>,
    out_dim: usize,
}

impl std::fmt::Debug for Gnn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gnn({} x {}, {} layers, out {})", self.cfg.model, self.cfg.hidden_dim, self.layers.len(), self.out_dim)
    }
}

impl Module for Gnn {
    /// Output of the last layer, `[num_nodes, out_dim]`.
    fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let outs = self.forward_all(g, x, ctx)?;
        self.head(outs, ctx)
    }
    /// Layer `l` runs on `layers[l]` and writes only its destination rows,
    /// the rows layer `l + 1` reads: the seed rows of the last layer are the
    /// same as [`Module::forward`] on the whole block gives (up to float
    /// rounding; a trimmed layer draws its own dropout masks). GCN runs
    /// every layer on the whole block instead: its coefficients depend on
    /// the degrees of source nodes, which a trimmed layer graph does not
    /// hold (PyG's `trim_to_layer` renormalises on the trimmed graph).
    fn forward_block(&self, layers: &[Mfg], x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        if layers.len() != self.layers.len() {
            return Err(Error::config(
                "block.layers",
                layers.len(),
                format!("a block for this {}-layer model needs one layer graph per layer (sample with {} fanouts)", self.layers.len(), self.layers.len()),
            ));
        }
        let mut rows = x.num_rows();
        for m in layers {
            if m.num_src() != rows {
                return Err(Error::Shape {
                    op: "gnn forward_block",
                    expected: format!("a layer graph over the {rows} rows the previous layer wrote"),
                    got: vec![m.num_src(), m.num_dst],
                });
            }
            rows = m.num_dst;
        }
        let graphs: Vec<(&Graph, usize)> = if self.cfg.model == ModelKind::Gcn {
            layers.iter().map(|_| (&layers[0].graph, layers[0].num_src())).collect()
        } else {
            layers.iter().map(|m| (&m.graph, m.num_dst)).collect()
        };
        let seeds = rows;
        let y = self.head(self.stack(&graphs, x, ctx)?, ctx)?;
        Ok(if y.dims()[0] == seeds { y } else { y.narrow(0, 0, seeds)? })
    }
}

impl Gnn {
    /// Output of every layer (after its activation, except the last), for jumping
    /// knowledge and per-layer readouts.
    pub fn forward_all(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Vec<Tensor>> {
        if x.num_rows() != g.num_nodes() {
            return Err(Error::Shape {
                op: "gnn forward",
                expected: format!("[{}, in_dim] features (one row per node)", g.num_nodes()),
                got: vec![x.num_rows(), x.dim()],
            });
        }
        self.stack(&vec![(g, g.num_nodes()); self.layers.len()], x, ctx)
    }

    /// The last layer's output, or the jumping-knowledge combination of all.
    fn head(&self, mut outs: Vec<Tensor>, ctx: &mut Ctx) -> Result<Tensor> {
        match (&self.jk, &self.jk_out) {
            (Some(jk), Some(lin)) => {
                let z = ctx.dropout(&jk.forward(&outs)?, self.cfg.dropout)?;
                lin.forward(&z)
            }
            (Some(jk), None) => jk.forward(&outs),
            _ => Ok(outs.pop().expect("at least one layer")),
        }
    }

    /// Run layer `i` on `graphs[i] = (graph, destination rows)`; every output
    /// keeps the last layer's destination rows (all of them when untrimmed).
    fn stack(&self, graphs: &[(&Graph, usize)], x: &NodeInput, ctx: &mut Ctx) -> Result<Vec<Tensor>> {
        let keep = graphs.last().map_or(0, |&(_, d)| d);
        let mut h = ctx.dropout_input(x, self.cfg.dropout)?;
        let mut outs = Vec::with_capacity(self.layers.len());
        for (i, (layer, &(g, num_dst))) in self.layers.iter().zip(graphs).enumerate() {
            let hidden = i + 1 < self.layers.len() || self.jk.is_some() || self.cfg.headless;
            let skip = self.cfg.residual && hidden && self.widths[i].0 == self.widths[i].1;
            let h_in = if skip { Some(h.head_rows(num_dst)?.to_tensor()?) } else { None };
            let relu = hidden && self.cfg.activation == Activation::Relu;
            let full = num_dst == g.num_nodes();
            let mut y = match self.norms.get(i) {
                Some(bn) if hidden && relu && full => layer.forward_norm_relu(g, &h, bn, ctx)?,
                Some(bn) if hidden && relu => bn.forward_relu(&layer.forward_dst(g, num_dst, &h, false, ctx)?, ctx)?,
                Some(bn) if hidden => bn.forward(&layer.forward_dst(g, num_dst, &h, false, ctx)?, ctx)?,
                _ if full && relu => layer.forward_relu(g, &h, ctx)?,
                _ if full => layer.forward(g, &h, ctx)?,
                _ => layer.forward_dst(g, num_dst, &h, relu, ctx)?,
            };
            if hidden {
                match self.cfg.activation {
                    Activation::Elu => y = y.elu(1.0)?,
                    Activation::Prelu => {
                        let a = &self.slopes[i];
                        y = (y.relu()? - y.neg()?.relu()?.broadcast_mul(a)?)?;
                    }
                    Activation::Relu => {}
                }
                if let Some(r) = h_in {
                    y = (y + r)?;
                }
                outs.push(if y.dims()[0] == keep { y.clone() } else { y.narrow(0, 0, keep)? });
                h = NodeInput::Hidden(ctx.dropout(&y, self.cfg.dropout)?);
            } else {
                outs.push(y);
            }
        }
        Ok(outs)
    }

    /// Output width.
    pub fn out_dim(&self) -> usize {
        self.out_dim
    }
    /// The configuration.
    pub fn config(&self) -> &GnnConfig {
        &self.cfg
    }
}
