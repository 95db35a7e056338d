//! Multi-granularity attention: one layer whose heads are split into groups,
//! each attending at its own granularity, concatenated and projected.
//!
//! - **local**: each node attends over its 1-hop in-edges (self loops
//!   optional); edge attributes (categorical types and float features) are
//!   projected per edge and added to the keys and the values, as PyG's
//!   `TransformerConv` does, so they enter the scores.
//! - **k-hop**: over every node within `k` hops ([`Graph::khop_pattern`],
//!   sampled with a seed above `khop_max_per_node`), or NAGphormer's *hop
//!   tokens*: attention across the `0..=k`-hop aggregations `Â^t K`, `Â^t V`
//!   of each node's own keys and values.
//! - **global**: over every node of the same graph (never across the graphs of
//!   a mini-batch). Exact softmax attention when the largest graph has at most
//!   `exact_max_nodes` nodes, else a linear-time form: SGFormer's normalised
//!   linear attention (default: no random features, so deterministic, and the
//!   form that reaches SGFormer's numbers) or Performer-style random ReLU
//!   features (what PyG's `GPSConv(attn_type='performer')` uses).
//!
//! Every group scores `q·k / sqrt(d_k)` with `d_k = out_dim / total heads`.
//! An optional virtual node per graph (a learned vector plus the mean of the
//! graph's inputs) is one more key for every node in the local group; an
//! optional causal mask restricts every group to keys `j <= i` (what the
//! autoregressive generator needs).
//!
//! Output: `lin_out([local | khop | global])` (when `out_proj`) plus
//! `lin_skip(x)` (when `root_weight`). With only a local group, no output
//! projection and `root_weight`, the layer is PyG's `TransformerConv` with
//! `concat=True, beta=False` (checked against PyG's outputs and gradients).

use super::linear_attention::{normalized_linear_attention, performer_attention};
use crate::graph::{Graph, Pattern};
use crate::nn::{Ctx, Init, Linear, LinearConfig, NodeInput, Params};
use crate::ops::{dropout_mask, pattern_attention, propagate, segment_reduce, Reduce, Segments};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Heads per group; a group with 0 heads is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadGroups {
    pub local: usize,
    pub khop: usize,
    pub global: usize,
}

impl Default for HeadGroups {
    fn default() -> Self {
        HeadGroups { local: 4, khop: 0, global: 4 }
    }
}

impl HeadGroups {
    /// All heads.
    pub fn total(&self) -> usize {
        self.local + self.khop + self.global
    }
}

/// How the k-hop group attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KhopForm {
    /// Softmax over the nodes within k hops.
    #[default]
    Pattern,
    /// NAGphormer: over the node's 0..=k-hop aggregated tokens.
    HopTokens,
}

/// How the global group attends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalForm {
    /// Exact up to `exact_max_nodes` nodes per graph, else `linear_form`.
    #[default]
    Auto,
    /// Always exact softmax attention (an error above `exact_max_nodes`).
    Exact,
    /// Always the linear form.
    Linear,
}

/// The linear-time global form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearForm {
    /// SGFormer's normalised linear attention.
    #[default]
    Sgformer,
    /// Performer-style positive random ReLU features.
    Performer,
}

/// Configuration of a [`MultiGranularityAttention`] layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MgaConfig {
    pub in_dim: usize,
    /// Output width, split evenly over all heads.
    pub out_dim: usize,
    pub heads: HeadGroups,
    /// Radius of the k-hop group (default 2).
    pub k: usize,
    pub khop_form: KhopForm,
    /// Most keys per node in the k-hop pattern; above it a seeded sample (default 64).
    pub khop_max_per_node: usize,
    /// Seed of that sample.
    pub khop_seed: u64,
    pub global: GlobalForm,
    /// Largest graph (nodes) for exact global attention (default 2048).
    pub exact_max_nodes: usize,
    pub linear_form: LinearForm,
    /// Random features of the Performer form (default 64).
    pub performer_features: usize,
    /// Local group: add a self loop per node (default true).
    pub self_loops: bool,
    /// Width of float edge features entering the local scores (0: none).
    pub edge_dim: usize,
    /// Number of categorical edge types entering the local scores (0: none).
    pub edge_types: usize,
    /// A virtual node per graph as one more key of the local group.
    pub virtual_node: bool,
    /// Every group attends to keys `j <= i` only.
    pub causal: bool,
    /// Dropout on the attention coefficients of the softmax groups.
    pub attn_dropout: f64,
    /// `lin_skip(x)` added to the output (PyG's `root_weight`).
    pub root_weight: bool,
    /// A final `lin_out` over the concatenated heads.
    pub out_proj: bool,
    /// Biases on the query / key / value / skip / output maps.
    pub bias: bool,
}

impl Default for MgaConfig {
    fn default() -> Self {
        MgaConfig {
            in_dim: 0,
            out_dim: 0,
            heads: HeadGroups::default(),
            k: 2,
            khop_form: KhopForm::Pattern,
            khop_max_per_node: 64,
            khop_seed: 0,
            global: GlobalForm::Auto,
            exact_max_nodes: 2048,
            linear_form: LinearForm::Sgformer,
            performer_features: 64,
            self_loops: true,
            edge_dim: 0,
            edge_types: 0,
            virtual_node: false,
            causal: false,
            attn_dropout: 0.0,
            root_weight: false,
            out_proj: true,
            bias: true,
        }
    }
}

/// The form a group took on a graph, for the run's output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupForm {
    pub group: &'static str,
    pub heads: usize,
    /// `softmax over 1-hop in-edges`, `softmax over 2-hop (sampled for 12 nodes)`, ...
    pub form: String,
    /// Scored (query, key) pairs, or `nodes x features` for linear forms.
    pub pairs: usize,
}

impl MgaConfig {
    /// `in_dim -> out_dim` with the given head groups, everything else default.
    pub fn new(in_dim: usize, out_dim: usize, heads: HeadGroups) -> MgaConfig {
        MgaConfig { in_dim, out_dim, heads, ..MgaConfig::default() }
    }

    /// Channels per head.
    pub fn head_dim(&self) -> usize {
        self.out_dim / self.heads.total().max(1)
    }

    /// Check the settings.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting and the fix.
    pub fn validate(&self) -> Result<()> {
        let h = self.heads.total();
        if h == 0 {
            return Err(Error::config(
                "heads",
                "{ local = 0, khop = 0, global = 0 }",
                "give at least one group a head, e.g. heads = { local = 4, global = 4 }",
            ));
        }
        if self.out_dim == 0 || self.in_dim == 0 {
            return Err(Error::config("attention width", format!("{} -> {}", self.in_dim, self.out_dim), "widths must be positive"));
        }
        if !self.out_dim.is_multiple_of(h) {
            return Err(Error::config(
                "heads",
                format!("{h} heads"),
                format!("the hidden width {} must be a multiple of the total number of heads; change hidden_dim or the head groups", self.out_dim),
            ));
        }
        if self.heads.khop > 0 && self.k == 0 {
            return Err(Error::config("k", 0, "the k-hop group needs k >= 1 (2 is the default)"));
        }
        if self.heads.khop > 0 && self.khop_max_per_node < 2 {
            return Err(Error::config("khop_max_per_node", self.khop_max_per_node, "must be at least 2"));
        }
        if !(0.0..1.0).contains(&self.attn_dropout) {
            return Err(Error::config("attn_dropout", self.attn_dropout, "must be in [0, 1)"));
        }
        if self.causal && self.heads.global > 0 && self.global == GlobalForm::Linear {
            return Err(Error::config("global", "linear", "a causal mask needs exact global attention: set global = \"exact\" or \"auto\""));
        }
        if self.causal && self.heads.khop > 0 && self.khop_form == KhopForm::HopTokens {
            return Err(Error::config("khop_form", "hop_tokens", "hop tokens mix all earlier and later nodes; a causal layer needs khop_form = \"pattern\""));
        }
        if self.heads.global > 0 && self.linear_form == LinearForm::Performer && self.performer_features == 0 {
            return Err(Error::config("performer_features", 0, "the Performer form needs at least one random feature (64 is usual)"));
        }
        Ok(())
    }

    /// Parameters (PyG names where PyG has them): `lin_query`, `lin_key`,
    /// `lin_value` (`[out_dim, in_dim]`), `lin_edge` (`[local width, edge_dim]`,
    /// no bias), `edge_type_emb`, `virtual_node`, `lin_skip`, `lin_out`, and the
    /// Performer's fixed random projection as a buffer.
    ///
    /// # Errors
    /// [`MgaConfig::validate`].
    pub fn init(&self, p: &Params) -> Result<MultiGranularityAttention> {
        self.validate()?;
        let d = self.out_dim;
        let lin = |name: &str, i: usize, o: usize, bias: bool| LinearConfig::new(i, o).with_bias(bias).init(&p.pp(name));
        let c = self.head_dim();
        let local_w = self.heads.local * c;
        let edge_lin = if self.heads.local > 0 && self.edge_dim > 0 { Some(lin("lin_edge", self.edge_dim, local_w, false)?) } else { None };
        let edge_emb = if self.heads.local > 0 && self.edge_types > 0 {
            Some(p.get("edge_type_emb", &[self.edge_types, local_w], Init::Glorot { fan_in: self.edge_types, fan_out: local_w })?)
        } else {
            None
        };
        let virtual_node = if self.virtual_node && self.heads.local > 0 { Some(p.get("virtual_node", &[1, self.in_dim], Init::Const(0.0))?) } else { None };
        let performer = if self.heads.global > 0 && self.linear_form == LinearForm::Performer {
            let f = self.performer_features;
            Some(p.buffer("performer_proj", &[c, f], Init::Glorot { fan_in: c, fan_out: f })?.as_tensor().clone())
        } else {
            None
        };
        Ok(MultiGranularityAttention {
            cfg: self.clone(),
            q: lin("lin_query", self.in_dim, d, self.bias)?,
            k: lin("lin_key", self.in_dim, d, self.bias)?,
            v: lin("lin_value", self.in_dim, d, self.bias)?,
            edge_lin,
            edge_emb,
            virtual_node,
            skip: if self.root_weight { Some(lin("lin_skip", self.in_dim, d, self.bias)?) } else { None },
            out: if self.out_proj { Some(lin("lin_out", d, d, self.bias)?) } else { None },
            performer,
        })
    }
}

/// The multi-granularity attention layer (see the module docs).
///
/// Shapes: `x [N, in_dim]` → `[N, out_dim]`; `N` counts the nodes of every
/// graph of a batch, whose members come from [`Graph::parts`].
#[derive(Debug, Clone)]
pub struct MultiGranularityAttention {
    cfg: MgaConfig,
    q: Linear,
    k: Linear,
    v: Linear,
    edge_lin: Option<Linear>,
    edge_emb: Option<Tensor>,
    virtual_node: Option<Tensor>,
    skip: Option<Linear>,
    out: Option<Linear>,
    performer: Option<Tensor>,
}

impl MultiGranularityAttention {
    /// The configuration.
    pub fn config(&self) -> &MgaConfig {
        &self.cfg
    }

    fn use_exact_global(&self, g: &Graph) -> Result<bool> {
        let big = g.max_segment();
        match self.cfg.global {
            GlobalForm::Linear => Ok(false),
            GlobalForm::Auto => Ok(big <= self.cfg.exact_max_nodes),
            GlobalForm::Exact if big <= self.cfg.exact_max_nodes => Ok(true),
            GlobalForm::Exact => Err(Error::config(
                "global",
                "exact",
                format!(
                    "exact global attention is limited to exact_max_nodes = {} nodes per graph and this graph has {big}; set global = \"auto\" or \"linear\" (linear-time form), or raise exact_max_nodes",
                    self.cfg.exact_max_nodes
                ),
            )),
        }
    }

    /// How each group attends on `g` (pattern sizes included).
    ///
    /// # Errors
    /// As the forward pass's pattern construction.
    pub fn describe(&self, g: &Graph) -> Result<Vec<GroupForm>> {
        let c = &self.cfg;
        let mut out = vec![];
        if c.heads.local > 0 {
            let mut form = "softmax over 1-hop in-edges".to_string();
            if c.self_loops {
                form += " + self loop";
            }
            if c.virtual_node {
                form += " + virtual node";
            }
            if c.edge_dim > 0 || c.edge_types > 0 {
                form += " with edge attributes";
            }
            out.push(GroupForm { group: "local", heads: c.heads.local, form, pairs: self.local_pattern(g)?.0.num_edges() });
        }
        if c.heads.khop > 0 {
            match c.khop_form {
                KhopForm::Pattern => {
                    let p = self.khop_pattern(g)?;
                    let sampled =
                        if p.sampled_nodes > 0 { format!(" (sampled to {} keys for {} nodes)", c.khop_max_per_node, p.sampled_nodes) } else { String::new() };
                    out.push(GroupForm {
                        group: "khop",
                        heads: c.heads.khop,
                        form: format!("softmax over {}-hop neighbourhoods{sampled}", c.k),
                        pairs: p.pairs(),
                    });
                }
                KhopForm::HopTokens => out.push(GroupForm {
                    group: "khop",
                    heads: c.heads.khop,
                    form: format!("hop tokens 0..={} (NAGphormer)", c.k),
                    pairs: g.num_nodes() * (c.k + 1),
                }),
            }
        }
        if c.heads.global > 0 {
            if self.use_exact_global(g)? {
                out.push(GroupForm {
                    group: "global",
                    heads: c.heads.global,
                    form: "exact softmax within each graph".into(),
                    pairs: g.full_pattern(c.causal)?.pairs(),
                });
            } else {
                let form = match c.linear_form {
                    LinearForm::Sgformer => "linear (SGFormer normalised)".to_string(),
                    LinearForm::Performer => format!("linear (Performer, {} random ReLU features)", c.performer_features),
                };
                out.push(GroupForm { group: "global", heads: c.heads.global, form, pairs: g.num_nodes() });
            }
        }
        Ok(out)
    }

    /// The local pattern, and for each of its edges the graph edge it came from
    /// (`None` for added self loops and virtual-node edges).
    fn local_pattern(&self, g: &Graph) -> Result<Arc<(Graph, Vec<Option<usize>>)>> {
        let c = &self.cfg;
        g.memo(&format!("mga-local:{}:{}:{}", c.self_loops, c.virtual_node, c.causal), || {
            let n = g.num_nodes();
            let seg = g.node_segments();
            let mut rows: Vec<Vec<(usize, Option<usize>)>> = vec![vec![]; n];
            for e in 0..g.num_edges() {
                let (s, d) = (g.src()[e], g.dst()[e]);
                if s == d && c.self_loops {
                    continue; // replaced by the one self loop below
                }
                if !c.causal || s <= d {
                    rows[d].push((s, Some(e)));
                }
            }
            for (i, r) in rows.iter_mut().enumerate() {
                if c.self_loops {
                    r.push((i, None));
                }
            }
            if c.virtual_node {
                // virtual node of graph b is node n + b; it is every node's key (causal: it summarises
                // the whole graph, so it is offered only without a causal mask)
                if c.causal {
                    return Err(Error::config(
                        "virtual_node",
                        true,
                        "a virtual node sees the whole graph, which a causal layer must not; turn one of them off",
                    ));
                }
                for (b, w) in seg.windows(2).enumerate() {
                    for r in &mut rows[w[0]..w[1]] {
                        r.push((n + b, None));
                    }
                }
            }
            let total = n + if c.virtual_node { seg.len() - 1 } else { 0 };
            let (mut col, mut dst, mut from) = (vec![], vec![], vec![]);
            for (i, mut r) in rows.into_iter().enumerate() {
                r.sort_by_key(|&(s, e)| (s, e));
                for (s, e) in r {
                    col.push(s);
                    dst.push(i);
                    from.push(e);
                }
            }
            Ok((Graph::from_sorted(total, col, dst), from))
        })
    }

    fn khop_pattern(&self, g: &Graph) -> Result<Arc<Pattern>> {
        let c = &self.cfg;
        let p = g.khop_pattern(c.k, c.khop_max_per_node, c.khop_seed)?;
        if !c.causal {
            return Ok(p);
        }
        g.memo(&format!("khop-causal:{}:{}:{}", c.k, c.khop_max_per_node, c.khop_seed), || {
            let keep: Vec<usize> = p.graph.causal_edge_ids();
            Ok(Pattern { graph: p.graph.edge_subgraph(&keep), sampled_nodes: p.sampled_nodes })
        })
    }

    /// The per-edge term of the local group, `[pattern edges, local width]`.
    fn edge_term(&self, g: &Graph, from: &[Option<usize>]) -> Result<Option<Tensor>> {
        if self.edge_lin.is_none() && self.edge_emb.is_none() {
            return Ok(None);
        }
        let dev = Device::Cpu;
        let m = from.len();
        let mut term: Option<Tensor> = None;
        if let Some(lin) = &self.edge_lin {
            let (w, feats) = g.edge_features().ok_or_else(|| {
                Error::config(
                    "edge_dim",
                    self.cfg.edge_dim,
                    "the layer expects float edge features and this graph has none; set edge_dim = 0 or load the dataset's edge attributes",
                )
            })?;
            if w != self.cfg.edge_dim {
                return Err(Error::inconsistent("edge feature width (edge_dim)", self.cfg.edge_dim, w));
            }
            let mut rows = vec![0f32; m * w];
            for (r, e) in from.iter().enumerate() {
                if let Some(e) = e {
                    rows[r * w..(r + 1) * w].copy_from_slice(&feats[e * w..(e + 1) * w]);
                }
            }
            let x = Tensor::from_vec(rows, (m, w), &dev)?;
            term = Some(lin.forward_no_bias(&NodeInput::Dense(x))?);
        }
        if let Some(emb) = &self.edge_emb {
            let types = g.edge_types().ok_or_else(|| {
                Error::config(
                    "edge_types",
                    self.cfg.edge_types,
                    "the layer expects categorical edge types and this graph has none; set edge_types = 0 or load edge labels",
                )
            })?;
            if g.num_edge_types() > self.cfg.edge_types {
                return Err(Error::inconsistent("number of edge types (edge_types)", self.cfg.edge_types, g.num_edge_types()));
            }
            // an added self loop or virtual-node edge gets a zero row (index = a zero row appended)
            let zero = Tensor::zeros((1, emb.dim(1)?), DType::F32, &dev)?;
            let table = Tensor::cat(&[emb, &zero], 0)?;
            let idx: Vec<u32> = from.iter().map(|e| e.map_or(self.cfg.edge_types as u32, |e| types[e])).collect();
            let t = table.index_select(&Tensor::from_vec(idx, m, &dev)?, 0)?;
            term = Some(match term {
                Some(a) => (a + t)?,
                None => t,
            });
        }
        Ok(term)
    }

    fn mask(&self, ctx: &mut Ctx, edges: usize, heads: usize) -> Option<Arc<Vec<f32>>> {
        (ctx.train && self.cfg.attn_dropout > 0.0).then(|| Arc::new(dropout_mask(edges * heads, self.cfg.attn_dropout, &mut ctx.rng)))
    }

    /// The layer's output rows.
    ///
    /// # Errors
    /// Settings that do not fit this graph (a global group above the exact
    /// limit without a linear form, edge attributes the graph lacks), shapes.
    pub fn forward(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let cfg = &self.cfg;
        let n = g.num_nodes();
        if x.num_rows() != n {
            return Err(Error::Shape { op: "attention", expected: format!("[{n}, {}]", cfg.in_dim), got: vec![x.num_rows(), x.dim()] });
        }
        let c = cfg.head_dim();
        let scale = 1.0 / (c as f64).sqrt();
        // each group projects only its own columns: its queries, and its keys and values as one [k | v] map
        let q_of = |off: usize, w: usize| -> Result<Tensor> { Linear::select_rows(&[(&self.q, off, w)])?.forward_input(x) };
        let kv_of = |off: usize, w: usize| -> Result<Tensor> { Linear::select_rows(&[(&self.k, off, w), (&self.v, off, w)])?.forward_input(x) };
        // the forms that take keys and values apart (hop tokens, linear attention) project them apart
        let k_of = |off: usize, w: usize| -> Result<Tensor> { Linear::select_rows(&[(&self.k, off, w)])?.forward_input(x) };
        let v_of = |off: usize, w: usize| -> Result<Tensor> { Linear::select_rows(&[(&self.v, off, w)])?.forward_input(x) };
        let mut parts = Vec::with_capacity(3);
        let mut off = 0;
        if cfg.heads.local > 0 {
            let w = cfg.heads.local * c;
            let lp = self.local_pattern(g)?;
            let (pat, from) = (&lp.0, &lp.1);
            let (mut ql, mut kv) = (q_of(off, w)?, kv_of(off, w)?);
            if let Some(vn) = &self.virtual_node {
                // one extra row per graph: the virtual node's input is its vector plus the graph's mean input
                let seg = Segments::new(g.node_segments())?;
                let xv = segment_reduce(&seg, &x.to_tensor()?, Reduce::Mean)?.broadcast_add(vn)?;
                let xv = NodeInput::Hidden(xv);
                let kvn = Linear::select_rows(&[(&self.k, off, w), (&self.v, off, w)])?.forward_input(&xv)?;
                let zeros = Tensor::zeros((seg.len(), w), DType::F32, &Device::Cpu)?;
                ql = Tensor::cat(&[&ql, &zeros], 0)?;
                kv = Tensor::cat(&[&kv, &kvn], 0)?;
            }
            let a = self.edge_term(g, from)?;
            let mask = self.mask(ctx, pat.num_edges(), cfg.heads.local);
            let o = pattern_attention(pat, &ql, &kv, a.as_ref(), cfg.heads.local, scale, mask)?;
            parts.push(if self.virtual_node.is_some() { o.narrow(0, 0, n)? } else { o });
            off += w;
        }
        if cfg.heads.khop > 0 {
            let w = cfg.heads.khop * c;
            let qh = q_of(off, w)?;
            parts.push(match cfg.khop_form {
                KhopForm::Pattern => {
                    let kv = kv_of(off, w)?;
                    let p = self.khop_pattern(g)?;
                    let mask = self.mask(ctx, p.pairs(), cfg.heads.khop);
                    pattern_attention(&p.graph, &qh, &kv, None, cfg.heads.khop, scale, mask)?
                }
                KhopForm::HopTokens => hop_tokens(g, &qh, &k_of(off, w)?, &v_of(off, w)?, cfg.k, cfg.heads.khop, scale)?,
            });
            off += w;
        }
        if cfg.heads.global > 0 {
            let w = cfg.heads.global * c;
            let qg = q_of(off, w)?;
            let h = cfg.heads.global;
            parts.push(if self.use_exact_global(g)? {
                let kv = kv_of(off, w)?;
                let p = g.full_pattern(cfg.causal)?;
                let mask = self.mask(ctx, p.pairs(), h);
                pattern_attention(&p.graph, &qg, &kv, None, h, scale, mask)?
            } else {
                let (kg, vg) = (k_of(off, w)?, v_of(off, w)?);
                let seg = g.node_segments();
                let mut outs = Vec::with_capacity(seg.len() - 1);
                for win in seg.windows(2) {
                    let (lo, len) = (win[0], win[1] - win[0]);
                    let (a, b, cc) = (qg.narrow(0, lo, len)?, kg.narrow(0, lo, len)?, vg.narrow(0, lo, len)?);
                    outs.push(match (&self.performer, cfg.linear_form) {
                        (Some(proj), LinearForm::Performer) => performer_attention(&a, &b, &cc, h, proj, scale)?,
                        _ => normalized_linear_attention(&a, &b, &cc, h)?,
                    });
                }
                if outs.len() == 1 {
                    outs.pop().expect("one segment")
                } else {
                    Tensor::cat(&outs, 0)?
                }
            });
        }
        let cat = if parts.len() == 1 { parts.pop().expect("one group") } else { Tensor::cat(&parts, 1)? };
        let mut y = match &self.out {
            Some(l) => l.forward(&cat)?,
            None => cat,
        };
        if let Some(s) = &self.skip {
            y = (y + s.forward_input(x)?)?;
        }
        Ok(y)
    }
}

/// NAGphormer's hop tokens: node `i` attends across `t = 0..=k` over the keys
/// and values `Â^t K`, `Â^t V` (`Â` the GCN-normalised adjacency with self
/// loops), with its own query; softmax over the `k + 1` tokens per head.
fn hop_tokens(g: &Graph, q: &Tensor, k: &Tensor, v: &Tensor, hops: usize, heads: usize, scale: f64) -> Result<Tensor> {
    let (n, w) = q.dims2()?;
    let c = w / heads;
    let norm = g.gcn_norm(false);
    let (mut ks, mut vs) = (vec![k.clone()], vec![v.clone()]);
    for _ in 0..hops {
        let kl = propagate(&norm.0, Some(norm.1.clone()), ks.last().expect("token 0"), None, None, false)?;
        let vl = propagate(&norm.0, Some(norm.1.clone()), vs.last().expect("token 0"), None, None, false)?;
        ks.push(kl);
        vs.push(vl);
    }
    let t = hops + 1;
    let kt = Tensor::stack(&ks, 1)?.reshape((n, t, heads, c))?; // [N, T, H, C]
    let vt = Tensor::stack(&vs, 1)?.reshape((n, t, heads, c))?;
    let qt = q.reshape((n, 1, heads, c))?;
    let s = (kt.broadcast_mul(&qt)?.sum(3)? * scale)?; // [N, T, H]
    let s = s.broadcast_sub(&s.max_keepdim(1)?)?.exp()?;
    let a = s.broadcast_div(&s.sum_keepdim(1)?)?; // softmax over the tokens
    let out = vt.broadcast_mul(&a.unsqueeze(3)?)?.sum(1)?; // [N, H, C]
    Ok(out.reshape((n, w))?)
}
