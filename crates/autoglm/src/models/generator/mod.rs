//! [`GraphGenerator`]: an autoregressive graph language model,
//! `P(G, π) = Π_t P(v_t | v_<t) · P(E_t | v_≤t, E_<t)`, that writes a graph
//! node by node in an ordering `π` ([`NodeOrdering`]).
//!
//! **Sequence.** A graph of `n` nodes is the sequence `BOS, v_1, ..., v_n`:
//! position 0 is a begin token, position `i` is the `i`-th node. Every
//! position carries its node type (one-hot, the begin token a type of its own)
//! and a sinusoidal encoding of its index.
//!
//! **Encoder (causal).** A stack of GPS blocks ([`crate::nn::attention`])
//! over the *causal graph*: the edges `v_j → v_i` with `j < i` only, typed by
//! their edge type, so message passing (GIN by default) brings a node only
//! what its earlier neighbours know; the attention heads use the causal mask
//! (local heads over those edges with the edge types in their scores, global
//! heads over every earlier position of the same graph). The state `h_i`
//! therefore depends on the first `i` nodes and the edges among them only, so
//! one pass gives the state of every prefix: teacher forcing trains all steps
//! of all graphs of a batch in parallel, and [`GraphGenerator::encode`] is the
//! model as an encoder (for generative pretraining).
//!
//! **Decoder heads.** From the prefix state `h_{t-1}`:
//! - *node head*: a 2-layer MLP to the next node's type, or end-of-graph (one
//!   more class);
//! - *edge head*: for the new node `t` of type `τ` and every earlier node `j`
//!   (within `max_prev` positions when that is set), the class of the pair
//!   (no edge, or edge type `c`), as a **mixture of `K` products of
//!   categoricals** (GRAN's mixture of Bernoullis, with edge types):
//!   `P(E_t) = Σ_k α_k Π_j p_k(e_tj)`, `α = softmax(W_α ReLU(u_t))`,
//!   `p_k(· | j) = softmax(W_o ReLU(W_m ReLU(u_t + W_b h_j + d(t−j) + g(deg_j) + s(val_j))))_k`,
//!   `u_t = W_a h_{t−1} + e(τ)`, with learned embeddings of the index distance,
//!   of `j`'s degree and of its bond-order sum so far (the prefix's, known at
//!   step `t`). *Why a mixture rather than deciding the edges one after the
//!   other:* all pairs of a step are scored in one batched pass, in training
//!   and in sampling, while the mixture components still correlate the edges
//!   of one step (a ring closure and its partner bond come from the same
//!   component), which independent edges cannot.
//!
//! Training maximises the log-likelihood with teacher forcing
//! ([`GraphGenerator::nll`]); sampling is [`GraphGenerator::sample`].

pub mod ordering;
mod sample;

pub use ordering::{bandwidth, NodeOrdering, ORDERINGS};
pub use sample::{SampleConfig, SampleStats, ValenceMask};

use crate::graph::{Batch, Graph, SmallGraph};
use crate::nn::attention::{GlobalForm, GpsConfig, GpsLayer, HeadGroups, MgaConfig, Mpnn};
use crate::nn::{Ctx, Init, Linear, LinearConfig, Module, NodeInput, Params};
use crate::ops::{segment_reduce, Reduce, Segments};
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use serde::{Deserialize, Serialize};

/// Configuration of a [`GraphGenerator`] (the run file's `[model]` table;
/// the type counts come from the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorConfig {
    /// Node types (1 for untyped graphs); end-of-graph is one more class.
    pub num_node_types: usize,
    /// Edge types (bond types; 1 for untyped graphs); "no edge" is one more class.
    pub num_edge_types: usize,
    pub hidden_dim: usize,
    pub num_layers: usize,
    /// Width of the sinusoidal position encoding (even).
    pub pos_dim: usize,
    /// Mixture components `K` of the edge head.
    pub mixture: usize,
    /// Earlier nodes a new node may connect to (0: all of them). For
    /// breadth-first orderings of large sparse graphs (grids), GraphRNN's `M`.
    pub max_prev: usize,
    /// Index distances above this share one embedding.
    pub max_dist_bucket: usize,
    /// Degrees above this share one embedding.
    pub max_degree_bucket: usize,
    /// The node ordering of training (and of the reported likelihood).
    pub ordering: NodeOrdering,
    /// The block template (`dim`, `causal` and the edge types are set here).
    pub layer: GpsConfig,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        let attention = MgaConfig {
            heads: HeadGroups { local: 2, khop: 0, global: 2 },
            causal: true,
            global: GlobalForm::Exact,
            exact_max_nodes: 4096,
            ..MgaConfig::default()
        };
        GeneratorConfig {
            num_node_types: 1,
            num_edge_types: 1,
            hidden_dim: 128,
            num_layers: 3,
            pos_dim: 16,
            mixture: 4,
            max_prev: 0,
            max_dist_bucket: 32,
            max_degree_bucket: 8,
            ordering: NodeOrdering::Bfs,
            layer: GpsConfig { mpnn: Mpnn::Gin, attention, ..GpsConfig::default() },
        }
    }
}

impl GeneratorConfig {
    /// Classes of the node head: every type plus end-of-graph.
    pub fn node_classes(&self) -> usize {
        self.num_node_types + 1
    }
    /// Classes of a pair: no edge plus every edge type.
    pub fn edge_classes(&self) -> usize {
        self.num_edge_types + 1
    }
    /// Width of the encoder input: one-hot type (begin token included) and position.
    pub fn in_dim(&self) -> usize {
        self.num_node_types + 1 + self.pos_dim
    }

    /// Check the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting and the fix.
    pub fn validate(&self) -> Result<()> {
        let checks: [(&str, usize, &str); 5] = [
            ("num_node_types", self.num_node_types, "a generator needs at least one node type"),
            ("num_edge_types", self.num_edge_types, "a generator needs at least one edge type"),
            ("hidden_dim", self.hidden_dim, "widths must be positive"),
            ("num_layers", self.num_layers, "the encoder needs at least one block"),
            ("mixture", self.mixture, "the edge head needs at least one mixture component"),
        ];
        for (k, v, why) in checks {
            if v == 0 {
                return Err(Error::config(k, 0, why));
            }
        }
        if !self.pos_dim.is_multiple_of(2) {
            return Err(Error::config("pos_dim", self.pos_dim, "the sinusoidal encoding needs an even width"));
        }
        if self.layer.attention.global == GlobalForm::Linear && self.layer.attention.heads.global > 0 {
            return Err(Error::config("layer.attention.global", "linear", "the generator's global heads are causal, which needs exact attention"));
        }
        Ok(())
    }

    /// Build the model (parameters `lin_in`, `layers.{i}.*`, `node_head.{0,1}`,
    /// `edge.*`).
    ///
    /// # Errors
    /// [`GeneratorConfig::validate`] and the blocks' own checks.
    pub fn init(&self, p: &Params) -> Result<GraphGenerator> {
        self.validate()?;
        let h = self.hidden_dim;
        let lin = |name: &str, i: usize, o: usize, bias: bool| LinearConfig::new(i, o).with_bias(bias).init(&p.pp(name));
        let mut layer = self.layer.clone();
        layer.dim = h;
        layer.attention.causal = true;
        if layer.attention.heads.local > 0 {
            layer.attention.edge_types = self.num_edge_types;
        }
        let layers = (0..self.num_layers).map(|i| layer.init(&p.pp(format!("layers.{i}")))).collect::<Result<Vec<_>>>()?;
        let emb = |name: &str, rows: usize| p.get(name, &[rows, h], Init::Glorot { fan_in: rows, fan_out: h });
        Ok(GraphGenerator {
            cfg: self.clone(),
            lin_in: lin("lin_in", self.in_dim(), h, true)?,
            layers,
            node_hidden: lin("node_head.0", h, h, true)?,
            node_out: lin("node_head.1", h, self.node_classes(), true)?,
            type_emb: emb("edge.type_emb", self.num_node_types)?,
            lin_prefix: lin("edge.lin_prefix", h, h, true)?,
            lin_old: lin("edge.lin_old", h, h, false)?,
            dist_emb: emb("edge.dist_emb", self.max_dist_bucket + 1)?,
            deg_emb: emb("edge.deg_emb", self.max_degree_bucket + 1)?,
            val_emb: emb("edge.val_emb", 3 * self.max_degree_bucket + 1)?,
            edge_mid: lin("edge.lin_mid", h, h, true)?,
            edge_out: lin("edge.lin_out", h, self.mixture * self.edge_classes(), true)?,
            mix_out: lin("edge.lin_mix", h, self.mixture, true)?,
        })
    }
}

/// The generator (see the module docs).
pub struct GraphGenerator {
    cfg: GeneratorConfig,
    lin_in: Linear,
    layers: Vec<GpsLayer>,
    node_hidden: Linear,
    node_out: Linear,
    type_emb: Tensor,
    lin_prefix: Linear,
    lin_old: Linear,
    dist_emb: Tensor,
    deg_emb: Tensor,
    val_emb: Tensor,
    edge_mid: Linear,
    edge_out: Linear,
    mix_out: Linear,
}

/// `x − logsumexp(x)` along the last dimension.
pub(crate) fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let s = x.broadcast_sub(&m)?;
    let lse = s.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(s.broadcast_sub(&lse)?)
}

/// `logsumexp(x)` along the last dimension (dropped).
fn logsumexp_last(x: &Tensor) -> Result<Tensor> {
    let m = x.max_keepdim(D::Minus1)?.detach();
    let lse = x.broadcast_sub(&m)?.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok((lse + m)?.squeeze(D::Minus1)?)
}

fn idx(v: &[u32]) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, v.len(), &Device::Cpu)?)
}

/// Sequences of ordered graphs as one causal union graph plus the encoder input.
pub(crate) struct CausalInput {
    pub graph: Graph,
    /// `[positions, in_dim]`.
    pub x: Tensor,
    /// Position of each sequence's begin token; sequence `g`'s node `i` is row `offsets[g] + 1 + i`.
    pub offsets: Vec<usize>,
}

impl CausalInput {
    pub(crate) fn new(graphs: &[&SmallGraph], cfg: &GeneratorConfig) -> Result<CausalInput> {
        let t = cfg.num_node_types;
        let w = cfg.in_dim();
        let total: usize = graphs.iter().map(|g| g.num_nodes() + 1).sum();
        let mut x = vec![0f32; total * w];
        let mut offsets = Vec::with_capacity(graphs.len());
        let mut parts = Vec::with_capacity(graphs.len());
        let mut off = 0;
        for g in graphs {
            offsets.push(off);
            let n = g.num_nodes();
            for pos in 0..=n {
                let row = &mut x[(off + pos) * w..(off + pos + 1) * w];
                let ty = if pos == 0 { t } else { g.node_types[pos - 1] as usize };
                if ty > t {
                    return Err(Error::IndexOutOfRange {
                        what: "generator: node type".into(),
                        index: ty,
                        bound: t,
                        hint: "the graph has a node type the model was not built for".into(),
                    });
                }
                row[ty] = 1.0;
                sinusoid(pos, &mut row[t + 1..]);
            }
            // causal edges: earlier -> later, as positions (node i is position i + 1)
            let mut e: Vec<(usize, usize, u32)> = g.edges.iter().map(|&(u, v, c)| (u as usize + 1, v as usize + 1, c)).collect();
            e.sort_unstable_by_key(|&(s, d, _)| (d, s));
            for &(_, _, c) in &e {
                if c as usize >= cfg.num_edge_types {
                    return Err(Error::IndexOutOfRange {
                        what: "generator: edge type".into(),
                        index: c as usize,
                        bound: cfg.num_edge_types,
                        hint: "the graph has an edge type the model was not built for".into(),
                    });
                }
            }
            let (src, dst, types): (Vec<usize>, Vec<usize>, Vec<u32>) = e.into_iter().fold((vec![], vec![], vec![]), |mut a, (s, d, c)| {
                a.0.push(s);
                a.1.push(d);
                a.2.push(c);
                a
            });
            parts.push(Graph::builder(n + 1).edge_lists(src, dst).edge_types(types, cfg.num_edge_types).build()?);
            off += n + 1;
        }
        let refs: Vec<&Graph> = parts.iter().collect();
        let batch = Batch::from_graphs(&refs)?;
        Ok(CausalInput { graph: batch.graph, x: Tensor::from_vec(x, (total, w), &Device::Cpu)?, offsets })
    }
}

/// Sinusoidal encoding of position `pos` into `out` (Vaswani et al.).
fn sinusoid(pos: usize, out: &mut [f32]) {
    let d = out.len();
    for i in 0..d / 2 {
        let freq = 1.0 / 10000f64.powf(2.0 * i as f64 / d as f64);
        out[2 * i] = (pos as f64 * freq).sin() as f32;
        out[2 * i + 1] = (pos as f64 * freq).cos() as f32;
    }
}

/// The candidate pairs of one new node: earlier nodes and their features.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pairs {
    /// Row of the new node's prefix state (`h_{t−1}`) and its type, per new node.
    pub prefix_rows: Vec<u32>,
    pub new_types: Vec<u32>,
    /// Pairs of new node `s` are `ptr[s]..ptr[s+1]`.
    pub ptr: Vec<usize>,
    pub old_rows: Vec<u32>,
    pub dist: Vec<u32>,
    pub deg: Vec<u32>,
    pub val: Vec<u32>,
}

impl Pairs {
    fn new() -> Pairs {
        Pairs { ptr: vec![0], ..Pairs::default() }
    }
    /// Add new node `v` (index in its graph) of type `ty` whose sequence
    /// starts at row `off`; `deg` / `val` are the prefix's degrees and
    /// bond-order sums. Returns the candidate range of earlier nodes.
    pub(crate) fn push(&mut self, cfg: &GeneratorConfig, off: usize, v: usize, ty: u32, deg: &[usize], val: &[usize]) -> std::ops::Range<usize> {
        let lo = if cfg.max_prev == 0 { 0 } else { v.saturating_sub(cfg.max_prev) };
        self.prefix_rows.push((off + v) as u32); // position v holds node v - 1: the last prefix node
        self.new_types.push(ty);
        for u in lo..v {
            self.old_rows.push((off + 1 + u) as u32);
            self.dist.push((v - u).min(cfg.max_dist_bucket) as u32);
            self.deg.push(deg[u].min(cfg.max_degree_bucket) as u32);
            self.val.push(val[u].min(3 * cfg.max_degree_bucket) as u32);
        }
        self.ptr.push(self.old_rows.len());
        lo..v
    }
    pub(crate) fn num_new(&self) -> usize {
        self.prefix_rows.len()
    }
}

/// A teacher-forcing batch: ordered graphs with their targets.
pub struct SeqBatch {
    pub(crate) input: CausalInput,
    node_targets: Vec<u32>,
    pairs: Pairs,
    pair_targets: Vec<u32>,
    /// Graphs in the batch.
    pub num_graphs: usize,
    /// Edges farther back than `max_prev` (not modelled; 0 without a window).
    pub dropped_edges: usize,
}

impl SeqBatch {
    /// The batch of `graphs`, each already written in its ordering.
    ///
    /// # Errors
    /// A node or edge type outside the model's vocabulary; an empty graph.
    pub fn new(graphs: &[&SmallGraph], cfg: &GeneratorConfig) -> Result<SeqBatch> {
        if let Some(i) = graphs.iter().position(|g| g.num_nodes() == 0) {
            return Err(Error::config("graph", i, "a generator cannot learn from a graph with no nodes; drop it from the data"));
        }
        let input = CausalInput::new(graphs, cfg)?;
        let eog = cfg.num_node_types as u32;
        let mut node_targets = Vec::with_capacity(input.x.dims()[0]);
        let mut pairs = Pairs::new();
        let mut pair_targets = Vec::new();
        let mut dropped = 0;
        for (g, &off) in graphs.iter().zip(&input.offsets) {
            let n = g.num_nodes();
            node_targets.extend(g.node_types.iter().copied());
            node_targets.push(eog);
            // class of pair (v, u), u < v: 0 none, 1 + type
            let mut back: Vec<Vec<(usize, u32)>> = vec![Vec::new(); n];
            for &(u, v, c) in &g.edges {
                back[v as usize].push((u as usize, c));
            }
            let mut deg = vec![0usize; n];
            let mut val = vec![0usize; n];
            for v in 1..n {
                let range = pairs.push(cfg, off, v, g.node_types[v], &deg, &val);
                let start = pair_targets.len();
                pair_targets.resize(start + range.len(), 0);
                for &(u, c) in &back[v] {
                    if range.contains(&u) {
                        pair_targets[start + u - range.start] = c + 1;
                    } else {
                        dropped += 1;
                    }
                }
                for &(u, c) in &back[v] {
                    deg[u] += 1;
                    deg[v] += 1;
                    val[u] += c as usize + 1;
                    val[v] += c as usize + 1;
                }
            }
        }
        Ok(SeqBatch { input, node_targets, pairs, pair_targets, num_graphs: graphs.len(), dropped_edges: dropped })
    }
}

/// The negative log-likelihood of a batch, summed over its graphs.
pub struct Nll {
    /// Node-type (and end-of-graph) terms plus edge terms, `[]`.
    pub total: Tensor,
    /// The node-type part, in nats.
    pub node: f64,
    /// The edge part, in nats.
    pub edge: f64,
}

impl GraphGenerator {
    /// The configuration.
    pub fn config(&self) -> &GeneratorConfig {
        &self.cfg
    }

    /// Causal states `[positions, hidden]` of a union of sequences.
    pub(crate) fn encode_input(&self, input: &CausalInput, ctx: &mut Ctx) -> Result<Tensor> {
        let mut h = self.lin_in.forward(&input.x)?;
        for l in &self.layers {
            h = l.forward(&input.graph, &NodeInput::Hidden(h), ctx)?;
        }
        Ok(h)
    }

    /// The model as an encoder: the causal state of every node of `g` (in its
    /// stored order), `[n, hidden]`; row `i` depends on nodes `0..=i` and the
    /// edges among them only.
    ///
    /// # Errors
    /// A node or edge type outside the model's vocabulary.
    pub fn encode(&self, g: &SmallGraph, ctx: &mut Ctx) -> Result<Tensor> {
        let input = CausalInput::new(&[g], &self.cfg)?;
        let h = self.encode_input(&input, ctx)?;
        Ok(h.narrow(0, 1, g.num_nodes())?)
    }

    /// Node-head logits `[rows, types + 1]` from states `[rows, hidden]`.
    pub(crate) fn node_logits(&self, h: &Tensor) -> Result<Tensor> {
        self.node_out.forward(&self.node_hidden.forward(h)?.relu()?)
    }

    /// Edge-head log-probabilities: mixture log-weights `[new, K]` and pair
    /// log-probabilities `[pairs, K, classes]`.
    pub(crate) fn edge_logprobs(&self, h: &Tensor, pairs: &Pairs) -> Result<(Tensor, Tensor)> {
        let k = self.cfg.mixture;
        let c = self.cfg.edge_classes();
        let hp = h.index_select(&idx(&pairs.prefix_rows)?, 0)?;
        let u0 = (self.lin_prefix.forward(&hp)? + self.type_emb.index_select(&idx(&pairs.new_types)?, 0)?)?;
        let log_mix = log_softmax_last(&self.mix_out.forward(&u0.relu()?)?)?;
        let new_of_pair: Vec<u32> = pairs.ptr.windows(2).enumerate().flat_map(|(s, w)| std::iter::repeat_n(s as u32, w[1] - w[0])).collect();
        let u = u0.index_select(&idx(&new_of_pair)?, 0)?;
        let old = self.lin_old.forward(&h.index_select(&idx(&pairs.old_rows)?, 0)?)?;
        let mut z = ((u + old)? + self.dist_emb.index_select(&idx(&pairs.dist)?, 0)?)?;
        z = (z + self.deg_emb.index_select(&idx(&pairs.deg)?, 0)?)?;
        if self.cfg.num_edge_types > 1 {
            z = (z + self.val_emb.index_select(&idx(&pairs.val)?, 0)?)?;
        }
        let z = self.edge_mid.forward(&z.relu()?)?.relu()?;
        let p = pairs.old_rows.len();
        let logits = self.edge_out.forward(&z)?.reshape((p, k, c))?;
        Ok((log_mix, log_softmax_last(&logits)?))
    }

    /// The negative log-likelihood of `b` under teacher forcing.
    ///
    /// # Errors
    /// Tensor errors only (the batch was checked when built).
    pub fn nll(&self, b: &SeqBatch, ctx: &mut Ctx) -> Result<Nll> {
        let h = self.encode_input(&b.input, ctx)?;
        let node_lp = log_softmax_last(&self.node_logits(&h)?)?;
        let t = idx(&b.node_targets)?.unsqueeze(1)?;
        let node = node_lp.gather(&t, 1)?.sum_all()?.neg()?;
        if b.pairs.num_new() == 0 || b.pairs.old_rows.is_empty() {
            let v = node.to_scalar::<f32>()? as f64;
            return Ok(Nll { total: node, node: v, edge: 0.0 });
        }
        let (log_mix, pair_lp) = self.edge_logprobs(&h, &b.pairs)?;
        let k = self.cfg.mixture;
        let p = b.pairs.old_rows.len();
        let targets: Vec<u32> = b.pair_targets.iter().flat_map(|&c| std::iter::repeat_n(c, k)).collect();
        let chosen = pair_lp.reshape((p * k, self.cfg.edge_classes()))?.gather(&idx(&targets)?.unsqueeze(1)?, 1)?.reshape((p, k))?;
        let per_new = segment_reduce(&Segments::new(b.pairs.ptr.clone())?, &chosen, Reduce::Sum)?;
        let edge = logsumexp_last(&(per_new + log_mix)?)?.sum_all()?.neg()?;
        let (nv, ev) = (node.to_scalar::<f32>()? as f64, edge.to_scalar::<f32>()? as f64);
        Ok(Nll { total: (node + edge)?, node: nv, edge: ev })
    }
}

#[cfg(test)]
mod tests;
