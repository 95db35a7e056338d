//! [`GraphClassifier`]: message passing over a block-diagonal batch of graphs,
//! a graph-level readout of every layer, and a prediction head — the GIN
//! paper's graph classifier (Xu et al., "How Powerful are Graph Neural
//! Networks?", ICLR 2019) and GCN / GraphSAGE baselines with the same readout.
//!
//! # Architecture (defaults = the GIN paper's GIN-0, as its official code `graphcnn.py`)
//!
//! With `L = num_layers - 1` message-passing layers (the paper counts the input
//! as a layer: "5 GNN layers (including the input layer)" is `num_layers = 5`,
//! four GIN layers) and `h⁽⁰⁾ = x`:
//!
//! * optionally (`input_mlp`, Errica et al.'s GIN) `h⁽⁰⁾ = ReLU(BN(x W₀ + b₀))`;
//! * layer `k = 1..L`: `h⁽ᵏ⁾ = ReLU(BN(conv_k(h⁽ᵏ⁻¹⁾)))`, where for GIN
//!   `conv_k(h)_i = MLP((1 + ε) h_i + Σ_{j → i} h_j)` with a 2-layer MLP
//!   `Linear → BN → ReLU → Linear` (ε = 0: GIN-0), for GCN `Â h W`, for SAGE
//!   `W₁ h_i + W₂ mean_{j → i} h_j`; `BN` only with `batch_norm`.
//! * readout of every layer, input included: `r⁽ᵏ⁾_G = POOL_{i ∈ G} h⁽ᵏ⁾_i`,
//!   `POOL` one of [`Pooling`]: sum, mean, max, or attention
//!   `Σ_i softmax_{i ∈ G}(w_k·h⁽ᵏ⁾_i + b_k) h⁽ᵏ⁾_i` (PyG `AttentionalAggregation`
//!   with a `Linear(dim, 1)` gate).
//! * head, per [`LayerReadout`]:
//!   * `per_layer` (default, the GIN paper's Eq. 4.2 as its official code
//!     computes it): `score_G = Σ_{k=0..L} dropout(Linear_k(r⁽ᵏ⁾_G))` — a linear
//!     classifier on each layer's readout, scores summed, dropout on each
//!     layer's scores (`final_dropout = 0.5`);
//!   * `concat`: `MLP(dropout([r⁽⁰⁾ ‖ … ‖ r⁽ᴸ⁾]))` with one hidden layer of
//!     `hidden_dim` (`Linear → ReLU → dropout → Linear`);
//!   * `last`: the same MLP on `r⁽ᴸ⁾` alone.
//!
//! Shapes: node features `[num_nodes, in_dim]` of a [`Batch`] with
//! `num_graphs` graphs → logits `[num_graphs, num_classes]`.
//!
//! Parameter names: `convs.{k}.*` (GIN: `convs.{k}.nn.{0,1,3}.*` as PyG's
//! `GINConv(Sequential(Linear, BatchNorm1d, ReLU, Linear))`), `norms.{k}.*`,
//! `gates.{k}.*` (attention), `heads.{k}.*` (`per_layer`) or `mlp.{0,1}.*`,
//! `input.{0,1}.*` (`input_mlp`).
//!
//! Deviations from the official GIN code: none in the forward pass; its
//! "epoch" of 50 random mini-batches is a training-loop choice (see
//! `tasks::graph`).
//!
//! ```
//! use autoglm::graph::{Batch, Graph};
//! use autoglm::models::graph_classifier::GraphClassifierConfig;
//! use autoglm::nn::{Ctx, NodeInput, Params};
//! use autoglm::candle::{Device, Tensor};
//! let g = Graph::from_edges(3, &[(0, 1), (1, 0), (1, 2), (2, 1)]).unwrap();
//! let batch = Batch::from_graphs(&[&g, &g]).unwrap();
//! let x = NodeInput::Dense(Tensor::ones((6, 4), autoglm::candle::DType::F32, &Device::Cpu).unwrap());
//! let model = GraphClassifierConfig::default().init(4, 2, &Params::new(0)).unwrap();
//! let logits = model.forward(&batch, &x, &mut Ctx::eval()).unwrap();
//! assert_eq!(logits.dims(), &[2, 2]);
//! ```

use super::ModelKind;
use crate::graph::{Batch, Graph};
use crate::nn::{
    BatchNorm, BatchNormConfig, Ctx, GcnConvConfig, GinConvConfig, Linear, LinearConfig, LinearInit, MlpConfig, Module, NodeInput, Params, SageAggr,
    SageConvConfig,
};
use crate::ops::{segment_reduce, segment_rows_softmax, Reduce, Segments};
use crate::{Error, Result};
use candle_core::Tensor;

/// Graph-level pooling of node rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// `Σ_i h_i` (the GIN paper's choice: injective on multisets).
    #[default]
    Sum,
    /// `(1/n) Σ_i h_i`.
    Mean,
    /// Element-wise `max_i h_i`.
    Max,
    /// `Σ_i softmax_i(gate(h_i)) h_i`, `gate` a learned `Linear(dim, 1)`.
    Attention,
}

impl std::str::FromStr for Pooling {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sum" | "add" => Ok(Pooling::Sum),
            "mean" | "avg" => Ok(Pooling::Mean),
            "max" => Ok(Pooling::Max),
            "attention" | "attn" => Ok(Pooling::Attention),
            _ => Err(Error::unknown("pooling", s, &["sum", "mean", "max", "attention"])),
        }
    }
}

/// How the readouts of the layers become class scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerReadout {
    /// A linear classifier on every layer's readout (input included), scores
    /// summed (GIN paper, official code).
    #[default]
    PerLayer,
    /// Concatenate every layer's readout, then a one-hidden-layer MLP.
    Concat,
    /// Only the last layer's readout, then a one-hidden-layer MLP.
    Last,
}

/// Hyper-parameters of a [`GraphClassifier`]; defaults are GIN-0 from the GIN paper.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphClassifierConfig {
    /// Convolution: `gin` (default), `gcn` or `sage`.
    pub model: ModelKind,
    /// Hidden width (default 64, the paper's choice for social networks; it
    /// tunes 16 / 32 for bioinformatics).
    pub hidden_dim: usize,
    /// Layers counting the input as one, as the GIN paper and code do
    /// (default 5: four message-passing layers). At least 2.
    pub num_layers: usize,
    /// Linear layers in each GIN MLP (default 2). At least 1; GCN and SAGE ignore it.
    pub mlp_layers: usize,
    /// Batch norm inside the GIN MLPs and after every convolution (default true).
    pub batch_norm: bool,
    /// GIN: learn ε (default false: GIN-0, ε = 0).
    pub train_eps: bool,
    /// Dropout on the class scores of every layer (`per_layer`) or inside the
    /// head MLP (default 0.5, the paper's `final_dropout`).
    pub dropout: f64,
    /// Graph pooling (default sum).
    pub pooling: Pooling,
    /// How layer readouts are combined (default `per_layer`).
    pub layer_readout: LayerReadout,
    /// GraphSAGE aggregation (default mean).
    pub sage_aggr: SageAggr,
    /// Embed the input first with `Linear(in_dim, hidden_dim) → BN → ReLU`
    /// (parameters `input.0.*`, `input.1.*`), as Errica et al.'s GIN does; layer
    /// 0's readout is then of this embedding. Useful with continuous node
    /// attributes of large range (ENZYMES), whose raw sums would feed the
    /// layer-0 classifier. Default false (the GIN paper reads out the raw input).
    pub input_mlp: bool,
}

impl Default for GraphClassifierConfig {
    fn default() -> Self {
        GraphClassifierConfig {
            model: ModelKind::Gin,
            hidden_dim: 64,
            num_layers: 5,
            mlp_layers: 2,
            batch_norm: true,
            train_eps: false,
            dropout: 0.5,
            pooling: Pooling::Sum,
            layer_readout: LayerReadout::PerLayer,
            sage_aggr: SageAggr::Mean,
            input_mlp: false,
        }
    }
}

impl GraphClassifierConfig {
    /// The default architecture with another convolution.
    pub fn recipe(model: ModelKind) -> Self {
        GraphClassifierConfig { model, ..Default::default() }
    }
    /// Number of message-passing layers (`num_layers - 1`).
    pub fn num_conv_layers(&self) -> usize {
        self.num_layers.saturating_sub(1)
    }
    /// Check ranges.
    pub fn validate(&self) -> Result<()> {
        if self.num_layers < 2 {
            return Err(Error::config("num_layers", self.num_layers, "need at least 2 (the input layer plus one message-passing layer)"));
        }
        if self.hidden_dim == 0 {
            return Err(Error::config("hidden_dim", 0, "must be positive"));
        }
        if self.mlp_layers == 0 {
            return Err(Error::config("mlp_layers", 0, "a GIN MLP needs at least one linear layer"));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("dropout", self.dropout, "must be in [0, 1)"));
        }
        if self.model == ModelKind::Gat {
            return Err(Error::config("model", "gat", "graph classification supports gin, gcn and sage"));
        }
        Ok(())
    }

    /// Build the classifier `in_dim -> num_classes` with parameters under `p`.
    ///
    /// # Errors
    /// [`Error::Config`] for invalid settings or zero dimensions.
    pub fn init(&self, in_dim: usize, num_classes: usize, p: &Params) -> Result<GraphClassifier> {
        self.init_inner(in_dim, num_classes, p, None)
    }

    /// The same classifier around a user's node encoder: `encoder` (built under
    /// `p.pp("convs.0")`, mapping `in_dim` columns to `hidden_dim`) takes the
    /// place of the message-passing layers, and the readouts are those of the
    /// input and of the encoder's output. `model` and `num_layers` are not used.
    pub fn init_with_encoder(&self, in_dim: usize, num_classes: usize, p: &Params, encoder: Box<dyn Module>) -> Result<GraphClassifier> {
        self.init_inner(in_dim, num_classes, p, Some(encoder))
    }

    fn init_inner(&self, in_dim: usize, num_classes: usize, p: &Params, encoder: Option<Box<dyn Module>>) -> Result<GraphClassifier> {
        self.validate()?;
        if in_dim == 0 {
            return Err(Error::config("in_dim", 0, "graphs need node features; load TU data with node labels, attributes or degree features"));
        }
        if num_classes < 2 {
            return Err(Error::config("num_classes", num_classes, "classification needs at least 2 classes"));
        }
        let h = self.hidden_dim;
        let mut convs = Vec::with_capacity(self.num_conv_layers());
        let mut norms = Vec::with_capacity(self.num_conv_layers());
        let input = if self.input_mlp {
            let lin = LinearConfig::new(in_dim, h).with_init(LinearInit::Torch).init(&p.pp("input.0"))?;
            Some((lin, BatchNormConfig::new(h).init(&p.pp("input.1"))?))
        } else {
            None
        };
        let mut dims = vec![if self.input_mlp { h } else { in_dim }];
        let num_convs = if encoder.is_some() { 1 } else { self.num_conv_layers() };
        let mut encoder = encoder;
        for k in 0..num_convs {
            let d = dims[k];
            let cp = p.pp(format!("convs.{k}"));
            convs.push(match (encoder.take(), self.model) {
                (Some(enc), _) => enc,
                (None, ModelKind::Gin) => {
                    let mut widths = vec![d];
                    widths.extend(std::iter::repeat_n(h, self.mlp_layers));
                    let mlp = MlpConfig::new(widths).with_batch_norm(self.batch_norm);
                    Box::new(GinConvConfig { mlp, eps: 0.0, train_eps: self.train_eps }.init(&cp)?)
                }
                (None, ModelKind::Gcn) => Box::new(GcnConvConfig::new(d, h).init(&cp)?),
                (None, ModelKind::Sage) => Box::new(SageConvConfig::new(d, h).with_aggr(self.sage_aggr).init(&cp)?),
                (None, ModelKind::Gat) => return Err(Error::config("model", "gat", "the graph classifier has no GAT recipe; use gin, gcn or sage")),
            });
            norms.push(if self.batch_norm { Some(BatchNormConfig::new(h).init(&p.pp(format!("norms.{k}")))?) } else { None });
            dims.push(h);
        }
        let gates = if self.pooling == Pooling::Attention {
            dims.iter()
                .enumerate()
                .map(|(k, &d)| LinearConfig::new(d, 1).with_init(LinearInit::Torch).init(&p.pp(format!("gates.{k}"))))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        let head = match self.layer_readout {
            LayerReadout::PerLayer => Head::PerLayer(
                dims.iter()
                    .enumerate()
                    .map(|(k, &d)| LinearConfig::new(d, num_classes).with_init(LinearInit::Torch).init(&p.pp(format!("heads.{k}"))))
                    .collect::<Result<Vec<_>>>()?,
            ),
            LayerReadout::Concat | LayerReadout::Last => {
                let width = if self.layer_readout == LayerReadout::Concat { dims.iter().sum() } else { h };
                Head::Mlp(
                    LinearConfig::new(width, h).with_init(LinearInit::Torch).init(&p.pp("mlp.0"))?,
                    LinearConfig::new(h, num_classes).with_init(LinearInit::Torch).init(&p.pp("mlp.1"))?,
                )
            }
        };
        Ok(GraphClassifier { cfg: self.clone(), input, convs, norms, gates, head, in_dim, num_classes })
    }
}

#[derive(Debug, Clone)]
enum Head {
    PerLayer(Vec<Linear>),
    Mlp(Linear, Linear),
}

/// A graph classifier (see the [module docs](self) for the architecture).
pub struct GraphClassifier {
    cfg: GraphClassifierConfig,
    input: Option<(Linear, BatchNorm)>,
    convs: Vec<Box<dyn Module>>,
    norms: Vec<Option<BatchNorm>>,
    gates: Vec<Linear>,
    head: Head,
    in_dim: usize,
    num_classes: usize,
}

impl GraphClassifier {
    /// The encoder's notes on how it runs on `g` ([`Module::describe`] of every convolution).
    ///
    /// # Errors
    /// As the encoder's.
    pub fn describe_encoder(&self, g: &Graph) -> Result<Vec<String>> {
        let mut out = vec![];
        for c in &self.convs {
            out.extend(c.describe(g)?);
        }
        Ok(out)
    }
}

impl std::fmt::Debug for GraphClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GraphClassifier({:?}, {} -> {} classes, {} conv layers)", self.cfg.model, self.in_dim, self.num_classes, self.convs.len())
    }
}

impl GraphClassifier {
    /// Class scores (logits) `[num_graphs, num_classes]` for the graphs of
    /// `batch`, with node features `x` `[num_nodes, in_dim]` (pass constant
    /// input features as [`NodeInput::Dense`]).
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` does not have one row per node of the batch
    /// and `in_dim` columns.
    pub fn forward(&self, batch: &Batch, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let g = &batch.graph;
        if x.num_rows() != g.num_nodes() || x.dim() != self.in_dim {
            return Err(Error::Shape {
                op: "graph classifier forward",
                expected: format!("[{}, {}] node features", g.num_nodes(), self.in_dim),
                got: vec![x.num_rows(), x.dim()],
            });
        }
        let seg = Segments::new(batch.node_ptr.clone())?;
        let mut pooled = Vec::with_capacity(self.convs.len() + 1);
        let mut h = match &self.input {
            Some((lin, bn)) => NodeInput::Hidden(bn.forward_relu(&lin.forward_input(x)?, ctx)?),
            None => x.clone(),
        };
        pooled.push(self.pool(0, &seg, &h)?);
        for (k, conv) in self.convs.iter().enumerate() {
            // GIN + batch norm in training: one fused op (ops::mlp2_bn_relu_train)
            let y = NodeInput::Hidden(match &self.norms[k] {
                Some(bn) => conv.forward_norm_relu(g, &h, bn, ctx)?,
                None => conv.forward(g, &h, ctx)?.relu()?,
            });
            pooled.push(self.pool(k + 1, &seg, &y)?);
            h = y;
        }
        match &self.head {
            Head::PerLayer(heads) => {
                let mut score: Option<Tensor> = None;
                for (lin, r) in heads.iter().zip(&pooled) {
                    let s = ctx.dropout(&lin.forward(r)?, self.cfg.dropout)?;
                    score = Some(match score {
                        None => s,
                        Some(acc) => (acc + s)?,
                    });
                }
                Ok(score.expect("at least the input layer"))
            }
            Head::Mlp(l1, l2) => {
                let r = match self.cfg.layer_readout {
                    LayerReadout::Concat => Tensor::cat(&pooled, 1)?,
                    _ => pooled.pop().expect("at least one layer"),
                };
                let z = l1.forward(&r)?.relu()?;
                let z = ctx.dropout(&z, self.cfg.dropout)?;
                l2.forward(&z)
            }
        }
    }

    /// Readout of layer `k`'s node rows: `[num_nodes, d]` → `[num_graphs, d]`.
    fn pool(&self, k: usize, seg: &Segments, h: &NodeInput) -> Result<Tensor> {
        let t = h.to_tensor()?;
        Ok(match self.cfg.pooling {
            Pooling::Sum => segment_reduce(seg, &t, Reduce::Sum)?,
            Pooling::Mean => segment_reduce(seg, &t, Reduce::Mean)?,
            Pooling::Max => segment_reduce(seg, &t, Reduce::Max)?,
            Pooling::Attention => {
                let gate = segment_rows_softmax(seg, &self.gates[k].forward_input(h)?)?;
                segment_reduce(seg, &t.broadcast_mul(&gate)?, Reduce::Sum)?
            }
        })
    }

    /// The configuration.
    pub fn config(&self) -> &GraphClassifierConfig {
        &self.cfg
    }
    /// Input feature width.
    pub fn in_dim(&self) -> usize {
        self.in_dim
    }
    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
}

/// Pool node rows into one row per graph with a parameter-free [`Pooling`]
/// (sum, mean or max); attention pooling needs a gate, see [`GraphClassifier`].
///
/// # Errors
/// [`Error::Config`] for [`Pooling::Attention`] or an invalid batch.
pub fn global_pool(batch: &Batch, x: &Tensor, pooling: Pooling) -> Result<Tensor> {
    let seg = Segments::new(batch.node_ptr.clone())?;
    let kind = match pooling {
        Pooling::Sum => Reduce::Sum,
        Pooling::Mean => Reduce::Mean,
        Pooling::Max => Reduce::Max,
        Pooling::Attention => return Err(Error::config("pooling", "attention", "attention pooling has a learned gate; use attention_pool")),
    };
    Ok(segment_reduce(&seg, x, kind)?)
}

/// Attention pooling (PyG `AttentionalAggregation(gate_nn)`): `out_G = Σ_{i ∈ G}
/// a_i x_i` with `a = softmax_{i ∈ G}(gate_i)`, for gate scores `gate`
/// `[num_nodes, 1]` and rows `x` `[num_nodes, F]` → `[num_graphs, F]`.
pub fn attention_pool(batch: &Batch, x: &Tensor, gate: &Tensor) -> Result<Tensor> {
    let seg = Segments::new(batch.node_ptr.clone())?;
    let a = segment_rows_softmax(&seg, gate)?;
    Ok(segment_reduce(&seg, &x.broadcast_mul(&a)?, Reduce::Sum)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
    use crate::testing::{assert_close, check_grad, path, rand_tensor, star, triangle, vec};
    use candle_core::{Device, Tensor};

    fn batch3() -> Batch {
        Batch::from_graphs(&[&triangle(), &path(), &star()]).unwrap()
    }

    #[test]
    fn global_pools_hand_computed() {
        // graphs of 2 and 1 nodes
        let a = Graph::from_edges(2, &[(0, 1), (1, 0)]).unwrap();
        let b = Graph::from_edges(1, &[]).unwrap();
        let batch = Batch::from_graphs(&[&a, &b]).unwrap();
        let x = Tensor::new(&[[1f32, -2.], [3., 4.], [5., -6.]], &Device::Cpu).unwrap();
        assert_eq!(vec(&global_pool(&batch, &x, Pooling::Sum).unwrap()), vec![4., 2., 5., -6.]);
        assert_eq!(vec(&global_pool(&batch, &x, Pooling::Mean).unwrap()), vec![2., 1., 5., -6.]);
        assert_eq!(vec(&global_pool(&batch, &x, Pooling::Max).unwrap()), vec![3., 4., 5., -6.]);
        assert!(global_pool(&batch, &x, Pooling::Attention).is_err());
        // gate scores 0 and ln 3: weights 1/4 and 3/4
        let gate = Tensor::new(&[[0f32], [3f32.ln()], [7.]], &Device::Cpu).unwrap();
        assert_close(&vec(&attention_pool(&batch, &x, &gate).unwrap()), &[2.5, 2.5, 5., -6.], 1e-6, "attention");
    }

    #[test]
    fn pools_gradients() {
        let batch = batch3();
        let n = batch.graph.num_nodes();
        for p in [Pooling::Sum, Pooling::Mean, Pooling::Max] {
            check_grad(&[rand_tensor(&[n, 3], 40)], |v| global_pool(&batch, &v[0], p).map_err(|e| candle_core::Error::Msg(e.to_string())), 1e-3, 2e-3);
        }
        check_grad(
            &[rand_tensor(&[n, 3], 41), rand_tensor(&[n, 1], 42)],
            |v| attention_pool(&batch, &v[0], &v[1]).map_err(|e| candle_core::Error::Msg(e.to_string())),
            1e-2,
            2e-3,
        );
    }

    fn features(n: usize, f: usize, seed: u64) -> NodeInput {
        NodeInput::Dense(rand_tensor(&[n, f], seed))
    }

    /// Permute the graphs of a batch: logits rows permute the same way (eval mode).
    #[test]
    fn permutation_invariant_over_graph_order() {
        let graphs = [triangle(), path(), star()];
        let f = 3;
        let xs: Vec<Tensor> = graphs.iter().enumerate().map(|(i, g)| rand_tensor(&[g.num_nodes(), f], 50 + i as u64)).collect();
        for model in [ModelKind::Gin, ModelKind::Gcn, ModelKind::Sage] {
            for pooling in [Pooling::Sum, Pooling::Mean, Pooling::Max, Pooling::Attention] {
                for readout in [LayerReadout::PerLayer, LayerReadout::Concat, LayerReadout::Last] {
                    let input_mlp = pooling == Pooling::Mean; // covered once per model and readout
                    let cfg = GraphClassifierConfig { model, pooling, layer_readout: readout, hidden_dim: 8, num_layers: 3, input_mlp, ..Default::default() };
                    let p = Params::new(7);
                    let m = cfg.init(f, 2, &p).unwrap();
                    // one training pass so the batch-norm running statistics are not trivial
                    let b = Batch::from_graphs(&graphs.iter().collect::<Vec<_>>()).unwrap();
                    let x = Tensor::cat(&xs, 0).unwrap();
                    m.forward(&b, &NodeInput::Dense(x.clone()), &mut Ctx::train(crate::rng::seeded(1))).unwrap();
                    let base = vec(&m.forward(&b, &NodeInput::Dense(x), &mut Ctx::eval()).unwrap());
                    assert_eq!(base.len(), 6);
                    let order = [2usize, 0, 1];
                    let pb = Batch::from_graphs(&order.iter().map(|&i| &graphs[i]).collect::<Vec<_>>()).unwrap();
                    let px = Tensor::cat(&order.iter().map(|&i| xs[i].clone()).collect::<Vec<_>>(), 0).unwrap();
                    let out = vec(&m.forward(&pb, &NodeInput::Dense(px), &mut Ctx::eval()).unwrap());
                    for (row, &i) in order.iter().enumerate() {
                        assert_close(&out[row * 2..row * 2 + 2], &base[i * 2..i * 2 + 2], 1e-5, &format!("{model:?} {pooling:?} {readout:?}"));
                    }
                }
            }
        }
    }

    /// Relabel the nodes inside a graph: its logits do not change.
    #[test]
    fn invariant_to_node_order_within_a_graph() {
        let g = Graph::from_edges(4, &[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (3, 1), (1, 3)]).unwrap();
        let perm = [2usize, 0, 3, 1]; // new id of old node i
        let edges: Vec<(usize, usize)> = g.edges().map(|(s, d)| (perm[s], perm[d])).collect();
        let pg = Graph::from_edges(4, &edges).unwrap();
        let x = vec(&rand_tensor(&[4, 3], 60));
        let mut px = vec![0f32; 12];
        for i in 0..4 {
            px[perm[i] * 3..perm[i] * 3 + 3].copy_from_slice(&x[i * 3..i * 3 + 3]);
        }
        for pooling in [Pooling::Sum, Pooling::Max, Pooling::Attention] {
            let cfg = GraphClassifierConfig { pooling, hidden_dim: 8, ..Default::default() };
            let m = cfg.init(3, 3, &Params::new(3)).unwrap();
            let run = |g: &Graph, x: &[f32]| {
                let b = Batch::from_graphs(&[g]).unwrap();
                vec(&m.forward(&b, &NodeInput::Dense(Tensor::from_vec(x.to_vec(), (4, 3), &Device::Cpu).unwrap()), &mut Ctx::eval()).unwrap())
            };
            assert_close(&run(&pg, &px), &run(&g, &x), 1e-5, &format!("{pooling:?}"));
        }
    }

    #[test]
    fn shapes_names_and_errors() {
        let p = Params::new(0);
        let m = GraphClassifierConfig::default().init(7, 2, &p).unwrap();
        assert_eq!(m.config().num_conv_layers(), 4);
        let names: Vec<String> = p.trainable().into_iter().map(|(n, _)| n).collect();
        for want in
            ["convs.0.nn.0.weight", "convs.0.nn.1.weight", "convs.0.nn.3.weight", "convs.3.nn.3.bias", "norms.3.weight", "heads.0.weight", "heads.4.bias"]
        {
            assert!(names.iter().any(|n| n == want), "missing {want} in {names:?}");
        }
        assert!(p.buffer_names().iter().any(|n| n == "norms.0.running_mean"));
        let b = batch3();
        let wrong = features(b.graph.num_nodes(), 5, 1);
        assert!(m.forward(&b, &wrong, &mut Ctx::eval()).is_err());
        let ok = features(b.graph.num_nodes(), 7, 1);
        assert_eq!(m.forward(&b, &ok, &mut Ctx::eval()).unwrap().dims(), &[3, 2]);
        for bad in [
            GraphClassifierConfig { num_layers: 1, ..Default::default() },
            GraphClassifierConfig { dropout: 1.0, ..Default::default() },
            GraphClassifierConfig { model: ModelKind::Gat, ..Default::default() },
        ] {
            assert!(bad.init(7, 2, &Params::new(0)).is_err());
        }
        assert!(GraphClassifierConfig::default().init(0, 2, &Params::new(0)).is_err());
        assert!("attention".parse::<Pooling>().is_ok() && "median".parse::<Pooling>().is_err());
    }

    /// Gradients reach every trainable parameter (attention gates included).
    #[test]
    fn every_parameter_gets_a_gradient() {
        let cfg = GraphClassifierConfig { pooling: Pooling::Attention, hidden_dim: 8, num_layers: 3, input_mlp: true, ..Default::default() };
        let p = Params::new(5);
        let m = cfg.init(3, 2, &p).unwrap();
        let b = batch3();
        let x = features(b.graph.num_nodes(), 3, 9);
        let logits = m.forward(&b, &x, &mut Ctx::train(crate::rng::seeded(2))).unwrap();
        let loss = crate::train::loss::cross_entropy(&logits, &[0usize, 1, 1], 0.0).unwrap();
        let grads = loss.backward().unwrap();
        for (name, v) in p.trainable() {
            assert!(grads.get(v.as_tensor()).is_some(), "no gradient for {name}");
        }
    }
}
