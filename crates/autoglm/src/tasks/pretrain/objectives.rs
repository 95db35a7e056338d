//! The self-supervised objectives, each a loss over one graph (or one batch
//! union of graphs) with the epoch's fresh random mask:
//!
//! - [`mask_feature`]: GraphMAE (Hou et al., KDD 2022). A fraction of the nodes
//!   has its input replaced by a learnable `[MASK]` token (a share
//!   `replace_rate` of them by another node's input instead); the encoder's
//!   output is mapped by `enc2dec`, the masked rows are zeroed again
//!   ("re-mask"), and a one-layer decoder reconstructs the input. Loss: the
//!   scaled cosine error `mean((1 − cos(x̂, x))^α)` over the masked nodes for
//!   continuous features; cross-entropy over the types for categorical input
//!   (one-hot atom types).
//! - [`mask_edge`]: MaskGAE (Li et al., KDD 2023). A fraction of the undirected
//!   edges is hidden; the encoder sees the rest; an MLP over `h_u ⊙ h_v`
//!   scores the hidden edges against as many random non-edges of the same
//!   graph (binary cross-entropy).
//! - [`generative`]: GPT-GNN's factorisation (Hu et al., KDD 2020) with the
//!   same heads. A random node order splits the nodes into observed ones and
//!   the last `gen_fraction` to be generated; the generated nodes' inputs are
//!   the `[MASK]` token, the edges among generated nodes are hidden and so is
//!   a share `edge_mask_rate` of their edges to observed nodes. Attribute
//!   generation reconstructs the generated nodes' input from what is observed
//!   (the attribute head is a linear map: no message passing, so a node's own
//!   hidden edges cannot leak into it), edge generation scores their hidden
//!   edges against random non-edges with the edge head.
//!
//! The decoders are small next to the encoder and are not saved for
//! fine-tuning (only `encoder.*` is read back).

use super::{InputKind, PretrainConfig};
use crate::graph::Graph;
use crate::nn::{Ctx, GatConvConfig, GcnConvConfig, GinConvConfig, Linear, LinearConfig, MaskedInput, MlpConfig, Module, NodeInput, Params};
use crate::rng::GlmRng;
use crate::train::loss::{cross_entropy, link_bce};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::Rng;

/// Which objective, by the name users type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Masked attribute reconstruction (GraphMAE).
    MaskFeature,
    /// Masked edge reconstruction (MaskGAE).
    MaskEdge,
    /// Attribute and edge generation (GPT-GNN).
    Generative,
}

/// The names [`Objective::parse_list`] accepts.
pub const OBJECTIVES: &[&str] = &["mask-feature", "mask-edge", "generative"];

impl Objective {
    /// The user-facing name.
    pub fn name(self) -> &'static str {
        match self {
            Objective::MaskFeature => "mask-feature",
            Objective::MaskEdge => "mask-edge",
            Objective::Generative => "generative",
        }
    }
    /// Parse `a+b+c` (each once).
    ///
    /// # Errors
    /// [`Error::UnknownName`] for a name that is not an objective; [`Error::Config`] for a repeat or an empty list.
    pub fn parse_list(s: &str) -> Result<Vec<Objective>> {
        let mut out = Vec::new();
        for part in s.split('+').map(str::trim) {
            let o = match part.to_ascii_lowercase().replace('_', "-").as_str() {
                "mask-feature" | "mask-features" | "mask-attr" => Objective::MaskFeature,
                "mask-edge" | "mask-edges" => Objective::MaskEdge,
                "generative" | "gpt-gnn" => Objective::Generative,
                _ => return Err(Error::unknown("objective", part, OBJECTIVES)),
            };
            if out.contains(&o) {
                return Err(Error::config("objective", s, "each objective may appear once"));
            }
            out.push(o);
        }
        if out.is_empty() {
            return Err(Error::config("objective", s, "name at least one objective"));
        }
        Ok(out)
    }
}

/// Decoder kinds of the masked-feature objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecoderKind {
    /// One GAT layer with one head (GraphMAE's node-level choice).
    Gat,
    /// One GIN layer (GraphMAE's graph-level choice).
    Gin,
    /// One GCN layer.
    Gcn,
    /// A linear map (no message passing).
    Linear,
}

/// The heads and tokens every objective may use (parameters under `decoder.*`,
/// `enc2dec.*`, `mask_token`, `edge_head.*`, `attr_head.*`).
pub struct Heads {
    token: Tensor,
    enc2dec: Linear,
    decoder: Box<dyn Module>,
    edge1: Linear,
    edge2: Linear,
    attr: Linear,
}

impl Heads {
    /// Build the heads for an encoder of width `hidden` over inputs of width `in_dim`.
    pub fn new(cfg: &PretrainConfig, in_dim: usize, hidden: usize, p: &Params) -> Result<Heads> {
        let token = p.get("mask_token", &[1, in_dim], crate::nn::Init::Const(0.0))?;
        let enc2dec = LinearConfig::new(hidden, hidden).with_bias(false).init(&p.pp("enc2dec"))?;
        let dp = p.pp("decoder");
        let decoder: Box<dyn Module> = match cfg.decoder.unwrap_or(DecoderKind::Gat) {
            DecoderKind::Gat => Box::new(GatConvConfig::new(hidden, in_dim, 1).with_concat(false).with_dropout(cfg.encoder.attn_dropout).init(&dp)?),
            DecoderKind::Gin => Box::new(GinConvConfig { mlp: MlpConfig::new(vec![hidden, hidden, in_dim]), eps: 0.0, train_eps: false }.init(&dp)?),
            DecoderKind::Gcn => Box::new(GcnConvConfig::new(hidden, in_dim).init(&dp)?),
            DecoderKind::Linear => Box::new(super::LinearModule(LinearConfig::new(hidden, in_dim).init(&dp)?)),
        };
        let edge1 = LinearConfig::new(hidden, hidden).init(&p.pp("edge_head.0"))?;
        let edge2 = LinearConfig::new(hidden, 1).init(&p.pp("edge_head.1"))?;
        let attr = LinearConfig::new(hidden, in_dim).init(&p.pp("attr_head"))?;
        Ok(Heads { token, enc2dec, decoder, edge1, edge2, attr })
    }

    fn edge_logits(&self, h: &Tensor, pairs: &[(usize, usize)]) -> Result<Tensor> {
        let (u, v): (Vec<u32>, Vec<u32>) = pairs.iter().map(|&(a, b)| (a as u32, b as u32)).unzip();
        let n = pairs.len();
        let hu = h.index_select(&Tensor::from_vec(u, n, &Device::Cpu)?, 0)?;
        let hv = h.index_select(&Tensor::from_vec(v, n, &Device::Cpu)?, 0)?;
        let z = self.edge1.forward(&(hu * hv)?)?.relu()?;
        Ok(self.edge2.forward(&z)?.flatten_all()?)
    }
}

/// One graph (or batch union) to pretrain on, with what the objectives need.
pub struct Sample<'a> {
    pub graph: &'a Graph,
    pub x: &'a NodeInput,
    /// The input as dense rows (the reconstruction target), row-major `[n, in_dim]`.
    pub dense: &'a [f32],
    /// For every node, its graph in the batch (all 0 for one graph), and the node offsets of the graphs.
    pub node_ptr: &'a [usize],
    /// The nodes losses may be taken on (all, or a curriculum's active share).
    pub candidates: &'a [usize],
}

/// `mean((1 − cos(pred_i, target_i))^α)` over rows: GraphMAE's scaled cosine error.
pub fn sce_loss(pred: &Tensor, target: &[f32], alpha: f64) -> Result<Tensor> {
    let (n, f) = pred.dims2()?;
    let mut t = target.to_vec();
    for row in t.chunks_mut(f) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let t = Tensor::from_vec(t, (n, f), &Device::Cpu)?;
    // eps inside the root: a zero row (a node whose whole neighbourhood is masked
    // decodes to the bias alone) keeps a finite gradient.
    let norm = pred.sqr()?.sum_keepdim(1)?.affine(1.0, 1e-12)?.sqrt()?;
    let cos = pred.broadcast_div(&norm)?.mul(&t)?.sum(1)?;
    Ok(cos.affine(-1.0, 1.0)?.relu()?.powf(alpha)?.mean_all()?)
}

fn rows_of(dense: &[f32], f: usize, ids: &[usize]) -> Vec<f32> {
    ids.iter().flat_map(|&i| dense[i * f..(i + 1) * f].iter().copied()).collect()
}

fn index(ids: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &Device::Cpu)?)
}

/// The reconstruction loss of `pred` (rows of `ids`) against the input.
fn reconstruction(cfg: &PretrainConfig, kind: &InputKind, pred: &Tensor, s: &Sample, ids: &[usize]) -> Result<Tensor> {
    let f = s.x.dim();
    let target = rows_of(s.dense, f, ids);
    match kind {
        InputKind::Continuous { .. } => sce_loss(pred, &target, cfg.alpha),
        InputKind::Categorical { .. } => {
            let y: Vec<usize> = target.chunks(f).map(|r| r.iter().enumerate().fold(0, |b, (i, v)| if *v > r[b] { i } else { b })).collect();
            cross_entropy(pred, &y, 0.0)
        }
    }
}

/// Draw `round(rate · |candidates|)` of the candidates (at least one).
fn draw(candidates: &[usize], rate: f64, rng: &mut GlmRng) -> Vec<usize> {
    let k = ((candidates.len() as f64 * rate).round() as usize).clamp(1, candidates.len().max(1));
    let mut c = candidates.to_vec();
    c.shuffle(rng);
    c.truncate(k);
    c.sort_unstable();
    c
}

/// GraphMAE's masked-feature loss on one sample.
pub fn mask_feature<E: Module + ?Sized>(cfg: &PretrainConfig, kind: &InputKind, enc: &E, heads: &Heads, s: &Sample, ctx: &mut Ctx) -> Result<Tensor> {
    let n = s.graph.num_nodes();
    let masked = draw(s.candidates, cfg.mask_rate, &mut ctx.rng);
    // Of the masked nodes, a share replace_rate takes a random node's input instead of the token.
    let num_noise = (cfg.replace_rate * masked.len() as f64) as usize;
    let mut order = masked.clone();
    order.shuffle(&mut ctx.rng);
    let noise: Vec<(usize, usize)> = order[..num_noise].iter().map(|&d| (d, ctx.rng.gen_range(0..n))).collect();
    let token_rows: Vec<usize> = order[num_noise..].to_vec();
    let xin = NodeInput::Masked(MaskedInput::new(s.x, &token_rows, &noise, &heads.token)?);
    let h = enc.forward(s.graph, &xin, ctx)?;
    let rep = heads.enc2dec.forward(&h)?;
    let mut keep = vec![1f32; n];
    for &m in &masked {
        keep[m] = 0.0;
    }
    let rep = rep.broadcast_mul(&Tensor::from_vec(keep, (n, 1), &Device::Cpu)?)?;
    let recon = heads.decoder.forward(s.graph, &NodeInput::Hidden(rep), ctx)?;
    reconstruction(cfg, kind, &recon.index_select(&index(&masked)?, 0)?, s, &masked)
}

/// The undirected edges `u < v` of `g`, each once, with their edge ids in both directions.
fn undirected_edges(g: &Graph) -> Vec<(usize, usize)> {
    let mut e: Vec<(usize, usize)> = g.edges().filter(|(u, v)| u != v).map(|(u, v)| (u.min(v), u.max(v))).collect();
    e.sort_unstable();
    e.dedup();
    e
}

/// `g` without the undirected edges in `hidden` (edge types kept).
fn without_edges(g: &Graph, hidden: &std::collections::HashSet<(usize, usize)>) -> Result<Graph> {
    let types = g.edge_types();
    let (mut src, mut dst, mut ty) = (Vec::new(), Vec::new(), Vec::new());
    for (eid, (u, v)) in g.edges().enumerate() {
        if !hidden.contains(&(u.min(v), u.max(v))) {
            src.push(u);
            dst.push(v);
            if let Some(t) = types {
                ty.push(t[eid]);
            }
        }
    }
    let mut b = Graph::builder(g.num_nodes()).edge_lists(src, dst);
    if types.is_some() {
        b = b.edge_types(ty, g.num_edge_types());
    }
    b.build()
}

/// For every node, the range of its graph (from the batch offsets).
fn graph_range(node_ptr: &[usize], u: usize) -> (usize, usize) {
    let g = node_ptr.partition_point(|&p| p <= u) - 1;
    (node_ptr[g], node_ptr[g + 1])
}

/// As many random non-edges of the same graphs as `pos` (endpoint `u` kept).
fn negatives(g: &Graph, node_ptr: &[usize], pos: &[(usize, usize)], rng: &mut GlmRng) -> Vec<(usize, usize)> {
    pos.iter()
        .map(|&(u, _)| {
            let (lo, hi) = graph_range(node_ptr, u);
            let mut w = rng.gen_range(lo..hi);
            for _ in 0..8 {
                if w != u && !g.has_edge(u, w) {
                    break;
                }
                w = rng.gen_range(lo..hi);
            }
            (u, w)
        })
        .collect()
}

/// MaskGAE's masked-edge loss on one sample.
pub fn mask_edge<E: Module + ?Sized>(cfg: &PretrainConfig, enc: &E, heads: &Heads, s: &Sample, ctx: &mut Ctx) -> Result<Tensor> {
    let edges = undirected_edges(s.graph);
    if edges.is_empty() {
        return Ok(Tensor::zeros((), candle_core::DType::F32, &Device::Cpu)?);
    }
    let cand: std::collections::HashSet<usize> = s.candidates.iter().copied().collect();
    let pool: Vec<(usize, usize)> =
        if cand.len() == s.graph.num_nodes() { edges } else { edges.into_iter().filter(|(u, v)| cand.contains(u) || cand.contains(v)).collect() };
    if pool.is_empty() {
        return Ok(Tensor::zeros((), candle_core::DType::F32, &Device::Cpu)?);
    }
    let k = ((pool.len() as f64 * cfg.edge_mask_rate).round() as usize).clamp(1, pool.len());
    let mut hidden = pool;
    hidden.shuffle(&mut ctx.rng);
    hidden.truncate(k);
    let set: std::collections::HashSet<(usize, usize)> = hidden.iter().copied().collect();
    let g = without_edges(s.graph, &set)?;
    let h = enc.forward(&g, s.x, ctx)?;
    let neg = negatives(s.graph, s.node_ptr, &hidden, &mut ctx.rng);
    link_bce(&heads.edge_logits(&h, &hidden)?, &heads.edge_logits(&h, &neg)?)
}

/// GPT-GNN's attribute and edge generation loss on one sample.
pub fn generative<E: Module + ?Sized>(cfg: &PretrainConfig, kind: &InputKind, enc: &E, heads: &Heads, s: &Sample, ctx: &mut Ctx) -> Result<Tensor> {
    let gen = draw(s.candidates, cfg.gen_fraction, &mut ctx.rng);
    let is_gen: std::collections::HashSet<usize> = gen.iter().copied().collect();
    // Hidden: every edge among generated nodes, and a share of their edges to observed nodes.
    let mut hidden = Vec::new();
    for (u, v) in undirected_edges(s.graph) {
        match (is_gen.contains(&u), is_gen.contains(&v)) {
            (true, true) => hidden.push((u, v)),
            (true, false) | (false, true) if ctx.rng.gen::<f64>() < cfg.edge_mask_rate => hidden.push((u, v)),
            _ => {}
        }
    }
    let set: std::collections::HashSet<(usize, usize)> = hidden.iter().copied().collect();
    let g = without_edges(s.graph, &set)?;
    let xin = NodeInput::Masked(MaskedInput::new(s.x, &gen, &[], &heads.token)?);
    let h = enc.forward(&g, &xin, ctx)?;
    let attr = heads.attr.forward(&h.index_select(&index(&gen)?, 0)?)?;
    let mut loss = reconstruction(cfg, kind, &attr, s, &gen)?;
    if !hidden.is_empty() {
        let neg = negatives(s.graph, s.node_ptr, &hidden, &mut ctx.rng);
        loss = (loss + link_bce(&heads.edge_logits(&h, &hidden)?, &heads.edge_logits(&h, &neg)?)?)?;
    }
    Ok(loss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sce_of_orthogonal_and_equal_rows() {
        let pred = Tensor::from_vec(vec![1f32, 0.0, 0.0, 0.0, 3.0, 4.0], (2, 3), &Device::Cpu).unwrap();
        let target = [0f32, 1.0, 0.0, 0.0, 6.0, 8.0];
        // row 0 orthogonal: (1 - 0)^2 = 1; row 1 equal direction: 0.
        let l = sce_loss(&pred, &target, 2.0).unwrap().to_scalar::<f32>().unwrap();
        assert!((l - 0.5).abs() < 1e-5, "{l}");
        // a zero prediction row has a finite gradient
        let z = candle_core::Var::from_tensor(&Tensor::zeros((1, 3), candle_core::DType::F32, &Device::Cpu).unwrap()).unwrap();
        let g = sce_loss(z.as_tensor(), &[1.0, 0.0, 0.0], 2.0).unwrap().backward().unwrap();
        let gz = g.get(z.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(gz.iter().all(|v| v.is_finite()), "{gz:?}");
    }
}
