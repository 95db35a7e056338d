//! Link prediction: graph auto-encoders (GAE / VGAE, Kipf & Welling 2016) and
//! any [`Gnn`] encoder with an inner-product or MLP decoder, trained on a random
//! edge split ([`crate::data::edge_split`]) with negatives re-drawn every epoch,
//! scored by AUC, AP, Hits@K and MRR, with model selection on validation AUC;
//! and the edge-noise robustness study ([`robustness`]).
//!
//! # Protocol
//!
//! * Split: undirected edges 85 / 5 / 10 (seeded), one validation / test negative
//!   per positive drawn uniformly from the non-edges of the full graph, and
//!   100 ranking negatives `(u, w)` per validation / test positive `(u, v)` for
//!   MRR (see [`crate::data::edge_split`]).
//! * The encoder sees the training edges only (both directions), in training and
//!   in evaluation (the GAE paper's protocol; PyG's `RandomLinkSplit` would add the
//!   validation edges to the test-time graph, we do not).
//! * Training positives: the non-zero entries of the training adjacency, both
//!   directions of every training edge, plus every node's self-pair `(i, i)` when
//!   `self_loop_positives` is on (the default: the GAE paper reconstructs `A + I`).
//! * Training negatives: `ceil(ratio · |positives|)` ordered pairs `(u, v)`, `u != v`,
//!   re-drawn every epoch, uniform (or degree-biased) over the pairs that are not
//!   training edges (with replacement; validation / test edges may be drawn, as
//!   the model cannot know them).
//! * Loss: the GAE paper's balanced reconstruction loss with sampled negatives,
//!   as PyG's `GAE.recon_loss` in its stable logits form,
//!   `mean_i softplus(−s(pos_i)) + mean_j softplus(s(neg_j))`, plus for VGAE
//!   `(1/N) · KL` with PyG's `kl_loss`,
//!   `KL = −½ · mean_nodes Σ_dims (1 + 2·logσ − μ² − σ²)`, `logσ` clamped at 10.
//! * Metrics ([`crate::eval::metrics`]): AUC and AP over the split's positives and
//!   negatives; Hits@K with OGB's shared-negative semantics (a positive counts when
//!   it scores strictly above the K-th highest negative of the split); MRR and
//!   ranked Hits@K of each positive against its own ranking negatives (OGB's
//!   tie-averaged rank).
//! * Model selection: the epoch with the best validation AUC (latest among ties);
//!   its parameters are restored and scored on the test edges.
//!
//! Node features ([`FeatureMode`]): the dataset's own; for a dataset without
//! features (PubMed here, whose loader substitutes the one-hot degree of the
//! full graph) one-hot node ids, the GAE paper's featureless variant (GAE*).
//! Degree features, when asked for, are always computed on the training graph:
//! the full graph's degrees would leak the held-out edges.

use crate::data::edge_split::{apply_noise, split_edges, EdgeNoise, EdgeSplit, EdgeSplitConfig, NegativeSampler, NegativeSamplingConfig};
use crate::data::{FeatureFallback, Features, NodeDataset};
use crate::eval::metrics::{auc_roc, average_precision, hits_at_k, mrr, ranked_hits_at_k};
use crate::graph::Graph;
use crate::models::{Activation, Gnn, GnnConfig, ModelKind};
use crate::nn::{Ctx, Mlp, MlpConfig, NodeInput, Params};
use crate::ops::{gather_dst, gather_src, sddmm, SparseInput};
use crate::rng::{derive, GlmRng, Rng};
use crate::train::loss::bce_with_logits;
use crate::train::{optimize, LrSchedule, OptimizerConfig};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use serde::ser::SerializeMap;
use std::time::Instant;

/// Largest `log σ` of the VGAE posterior (PyG's `MAX_LOGSTD`).
pub const MAX_LOGSTD: f64 = 10.0;

/// Model names the link task accepts: the [`ModelKind`]s plus `gae` / `vgae`
/// (a GCN encoder in the GAE recipe, plain or variational).
pub const LINK_MODELS: &[&str] = &["gae", "vgae", "gcn", "gat", "sage", "gin"];

/// How a pair of embeddings becomes a score (a logit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecoderKind {
    /// `s(u, v) = <z_u, z_v>` (GAE).
    #[default]
    InnerProduct,
    /// `s(u, v) = MLP(z_u ⊙ z_v)` (the OGB link-prediction baselines' `LinkPredictor`).
    Mlp,
}

/// Decoder hyper-parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DecoderConfig {
    /// Inner product (default) or MLP over the Hadamard product.
    pub kind: DecoderKind,
    /// MLP: hidden width (default 64).
    pub hidden_dim: usize,
    /// MLP: number of linear layers, the last one mapping to one logit (default 2).
    pub num_layers: usize,
    /// MLP: dropout after hidden activations (default 0).
    pub dropout: f64,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        DecoderConfig { kind: DecoderKind::InnerProduct, hidden_dim: 64, num_layers: 2, dropout: 0.0 }
    }
}

/// Everything that defines a link-prediction run (serialisable as TOML / JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkTrainConfig {
    /// The encoder; its output width is `latent_dim`.
    pub encoder: GnnConfig,
    /// Embedding width (default 16).
    pub latent_dim: usize,
    /// VGAE: the last encoder layer becomes two heads, `μ` and `log σ`, with a KL term (default false).
    pub variational: bool,
    pub decoder: DecoderConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    /// Training epochs (default 200).
    pub epochs: usize,
    /// Stop when validation AUC has not improved for this many epochs (default: off).
    pub patience: Option<usize>,
    /// Clip the global gradient norm (default: off).
    pub clip_grad_norm: Option<f64>,
    /// Reconstruct `A + I` as the GAE paper does (its `adj_label = adj_train + I`):
    /// every node's self-pair `(i, i)` is a positive besides the training edges
    /// (default true). PyG's `recon_loss` leaves them out.
    pub self_loop_positives: bool,
    /// Node features (default: the dataset's, or one-hot ids when it has none).
    pub features: FeatureMode,
    /// Row-normalise input features, PyG `NormalizeFeatures` (default false: the GAE paper's raw features).
    pub normalize_features: bool,
    /// Validation / test sizes and ranking negatives.
    pub split: EdgeSplitConfig,
    /// Training negatives.
    pub negatives: NegativeSamplingConfig,
    /// The K of Hits@K (default 10, 20, 50, 100).
    pub hits_k: Vec<usize>,
    /// Seed of initialisation, dropout, the VGAE noise and training negatives (default 0).
    pub seed: u64,
    /// Seed of the edge split (default: `seed`).
    pub split_seed: Option<u64>,
}

impl Default for LinkTrainConfig {
    fn default() -> Self {
        LinkTrainConfig::recipe(ModelKind::Gcn, false)
    }
}

impl LinkTrainConfig {
    /// The GAE paper's recipe for every encoder: two layers, 32 hidden, 16 latent,
    /// no dropout, Adam lr 0.01 without weight decay, 200 epochs, raw features,
    /// inner-product decoder. GAT: 4 heads of 8 channels (32 wide), ELU;
    /// GraphSAGE: mean aggregation; GIN: 2-layer MLPs.
    pub fn recipe(model: ModelKind, variational: bool) -> LinkTrainConfig {
        let base = GnnConfig::recipe(model);
        let encoder = match model {
            ModelKind::Gat => GnnConfig { hidden_dim: 8, heads: 4, out_heads: 1, dropout: 0.0, attn_dropout: 0.0, ..base },
            _ => GnnConfig { hidden_dim: 32, num_layers: 2, dropout: 0.0, ..base },
        };
        LinkTrainConfig {
            encoder,
            latent_dim: 16,
            variational,
            decoder: DecoderConfig::default(),
            optimizer: OptimizerConfig::adam(0.01),
            schedule: LrSchedule::default(),
            epochs: 200,
            patience: None,
            clip_grad_norm: None,
            self_loop_positives: true,
            features: FeatureMode::Auto,
            normalize_features: false,
            split: EdgeSplitConfig::default(),
            negatives: NegativeSamplingConfig::default(),
            hits_k: vec![10, 20, 50, 100],
            seed: 0,
            split_seed: None,
        }
    }

    /// The recipe for a model name of [`LINK_MODELS`] (`gae` = GCN, `vgae` = variational GCN).
    pub fn recipe_by_name(name: &str) -> Result<LinkTrainConfig> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gae" => Ok(LinkTrainConfig::recipe(ModelKind::Gcn, false)),
            "vgae" => Ok(LinkTrainConfig::recipe(ModelKind::Gcn, true)),
            other => match other.parse::<ModelKind>() {
                Ok(k) => Ok(LinkTrainConfig::recipe(k, false)),
                Err(_) => Err(Error::unknown("link-prediction model", name, LINK_MODELS)),
            },
        }
    }

    /// The seed of the edge split.
    pub fn split_seed(&self) -> u64 {
        self.split_seed.unwrap_or(self.seed)
    }

    /// A short name: `gae`, `vgae`, or the encoder kind with `v` in front when variational.
    pub fn model_name(&self) -> String {
        match (self.encoder.model, self.variational) {
            (ModelKind::Gcn, false) if self.decoder.kind == DecoderKind::InnerProduct => "gae".into(),
            (ModelKind::Gcn, true) if self.decoder.kind == DecoderKind::InnerProduct => "vgae".into(),
            (k, v) => format!("{}{k}{}", if v { "v" } else { "" }, if self.decoder.kind == DecoderKind::Mlp { "+mlp" } else { "" }),
        }
    }

    /// Validate the whole configuration.
    pub fn validate(&self) -> Result<()> {
        self.encoder.validate()?;
        self.optimizer.validate()?;
        self.schedule.validate()?;
        self.split.validate()?;
        self.negatives.validate()?;
        if self.epochs == 0 {
            return Err(Error::config("epochs", 0, "train for at least one epoch"));
        }
        if self.latent_dim == 0 {
            return Err(Error::config("latent_dim", 0, "must be positive"));
        }
        if let Some(&k) = self.hits_k.iter().find(|&&k| k == 0) {
            return Err(Error::config("hits_k", k, "Hits@K needs K >= 1"));
        }
        if self.decoder.kind == DecoderKind::Mlp {
            if self.decoder.num_layers == 0 || self.decoder.hidden_dim == 0 {
                return Err(Error::config("decoder", format!("{} layers of {}", self.decoder.num_layers, self.decoder.hidden_dim), "the MLP decoder needs at least one layer and a positive width"));
            }
            if !(0.0..1.0).contains(&self.decoder.dropout) {
                return Err(Error::config("decoder.dropout", self.decoder.dropout, "must be in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// Largest degree with its own column in [`FeatureMode::Degree`] (the loaders' 64 buckets).
pub const DEGREE_FEATURE_MAX: usize = 63;

/// Which node features the encoder gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureMode {
    /// The dataset's features when it has real ones; one-hot node ids when its
    /// features are only a loader's stand-in (the full graph's one-hot degree, as
    /// for PubMed here, or a constant column), as the GAE paper does for graphs
    /// without features (its GAE* rows).
    #[default]
    Auto,
    /// The dataset's features. Stand-in degree features are recomputed on the
    /// training graph, so the held-out edges never leak through the degrees.
    Dataset,
    /// One-hot node ids (`[num_nodes, num_nodes]`, sparse): a free embedding per node.
    Identity,
    /// One-hot degree in the training graph, 64 buckets (degrees above 63 share the last).
    Degree,
}

/// Where the node features came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSource {
    /// The dataset's own features.
    Dataset,
    /// One-hot degree computed on the training graph.
    TrainingDegree { max_degree: usize },
    /// One-hot node ids.
    Identity,
}

/// A split dataset turned into model inputs.
#[derive(Debug, Clone)]
pub struct LinkData {
    /// Dataset name.
    pub name: String,
    pub split: EdgeSplit,
    /// Constant node features (sparse stays sparse).
    pub x: NodeInput,
    pub features: FeatureSource,
    raw: Features,
    normalize: bool,
}

/// `Some(max_degree)` when `x` is exactly the one-hot (clipped) in-degree of `g`.
fn degree_one_hot(x: &Features, g: &Graph) -> Option<usize> {
    let Features::Sparse(m) = x else { return None };
    if m.num_rows != g.num_nodes() || m.num_cols == 0 || m.nnz() != m.num_rows {
        return None;
    }
    let max_degree = m.num_cols - 1;
    let deg = g.in_degree();
    let ok = (0..m.num_rows).all(|i| m.row_ptr[i + 1] - m.row_ptr[i] == 1 && m.values[m.row_ptr[i]] == 1.0 && m.col_idx[m.row_ptr[i]] == deg[i].min(max_degree));
    ok.then_some(max_degree)
}

/// Whether `x` is one constant column (a loader's stand-in for missing features).
fn constant_column(x: &Features) -> bool {
    x.num_cols() == 1 && {
        let d = x.to_dense();
        d.windows(2).all(|w| w[0] == w[1])
    }
}

fn to_input(mut f: Features, normalize: bool) -> Result<NodeInput> {
    if normalize {
        f.row_normalize();
    }
    Ok(match f {
        Features::Sparse(m) => NodeInput::Sparse(SparseInput::new(m)),
        Features::Dense { num_rows, num_cols, data } => NodeInput::Dense(Tensor::from_vec(data, (num_rows, num_cols), &Device::Cpu)?),
    })
}

impl LinkData {
    /// Split `ds`'s edges with `cfg.split` and seed [`LinkTrainConfig::split_seed`],
    /// and prepare the features (`cfg.features`, `cfg.normalize_features`).
    pub fn prepare(ds: &NodeDataset, cfg: &LinkTrainConfig) -> Result<LinkData> {
        let split = split_edges(&ds.graph, &cfg.split, cfg.split_seed())?;
        LinkData::from_split(ds, split, cfg.features, cfg.normalize_features)
    }

    /// Prepare the features for a given split of `ds`'s graph.
    ///
    /// Errors: [`Error::Inconsistent`] when the feature rows or the split's node count
    /// differ from the graph's.
    pub fn from_split(ds: &NodeDataset, split: EdgeSplit, mode: FeatureMode, normalize_features: bool) -> Result<LinkData> {
        let n = ds.graph.num_nodes();
        if ds.x.num_rows() != n || split.num_nodes != n {
            return Err(Error::inconsistent("rows of features / nodes of the split (one per node)", n, format!("{} / {}", ds.x.num_rows(), split.num_nodes)));
        }
        let stand_in_degree = degree_one_hot(&ds.x, &ds.graph);
        let features = match mode {
            FeatureMode::Identity => FeatureSource::Identity,
            FeatureMode::Degree => FeatureSource::TrainingDegree { max_degree: DEGREE_FEATURE_MAX },
            FeatureMode::Dataset => match stand_in_degree {
                Some(max_degree) => FeatureSource::TrainingDegree { max_degree },
                None => FeatureSource::Dataset,
            },
            FeatureMode::Auto if stand_in_degree.is_some() || constant_column(&ds.x) => FeatureSource::Identity,
            FeatureMode::Auto => FeatureSource::Dataset,
        };
        let mut data = LinkData { name: ds.name.clone(), split, x: NodeInput::Dense(Tensor::zeros((0, 0), candle_core::DType::F32, &Device::Cpu)?), features, raw: ds.x.clone(), normalize: normalize_features };
        data.build_features()?;
        Ok(data)
    }

    fn build_features(&mut self) -> Result<()> {
        let f = match self.features {
            FeatureSource::Dataset => self.raw.clone(),
            FeatureSource::TrainingDegree { max_degree } => FeatureFallback::DegreeOneHot { max_degree }.build(&self.split.train_graph),
            FeatureSource::Identity => FeatureFallback::Identity.build(&self.split.train_graph),
        };
        self.x = to_input(f, self.normalize)?;
        Ok(())
    }

    /// The same data with another split of the same graph (edge noise). Degree
    /// features follow the new training graph.
    pub fn with_split(&self, split: EdgeSplit) -> Result<LinkData> {
        if split.num_nodes != self.split.num_nodes {
            return Err(Error::inconsistent("nodes of the new split", self.split.num_nodes, split.num_nodes));
        }
        let mut data = LinkData { split, ..self.clone() };
        if matches!(self.features, FeatureSource::TrainingDegree { .. }) {
            data.build_features()?;
        }
        Ok(data)
    }
}

/// Node pairs to score, held as a graph with one edge `v -> u` per pair `(u, v)`,
/// so that [`crate::ops::sddmm`] (and the gathers) compute on them directly.
///
/// The graph stores edges sorted by `(u, v)`; when the pairs are not in that
/// order already, the permutation is kept to report scores in the caller's order.
#[derive(Debug, Clone)]
pub struct PairIndex {
    graph: Graph,
    /// `order[e]`: the caller's position of graph edge `e` (`None`: identity).
    order: Option<Vec<usize>>,
}

impl PairIndex {
    /// Index `pairs` on `num_nodes` nodes.
    ///
    /// Errors: [`Error::IndexOutOfRange`] for a node id `>= num_nodes`.
    pub fn new(num_nodes: usize, pairs: &[(usize, usize)]) -> Result<PairIndex> {
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        order.sort_by_key(|&i| pairs[i]);
        let identity = order.iter().enumerate().all(|(k, &i)| k == i);
        // The builder sorts by (dst, src) = (u, v), stably: the edge order is `order`.
        let graph = Graph::builder(num_nodes).context("node pairs").edges(order.iter().map(|&i| (pairs[i].1, pairs[i].0))).build()?;
        Ok(PairIndex { graph, order: (!identity).then_some(order) })
    }
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.graph.num_edges()
    }
    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Scores in edge order back to the caller's order.
    fn restore(&self, s: Vec<f32>) -> Vec<f32> {
        match &self.order {
            None => s,
            Some(order) => {
                let mut out = vec![0f32; s.len()];
                for (e, &i) in order.iter().enumerate() {
                    out[i] = s[e];
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Encoder {
    Plain(Gnn),
    /// PyG's `VariationalGCNEncoder`, generalised: `body` (all layers but the last,
    /// then the activation), then two one-layer heads.
    Variational(Box<VariationalEncoder>),
}

#[derive(Debug, Clone)]
struct VariationalEncoder {
    body: Option<Gnn>,
    activation: Activation,
    dropout: f64,
    mu: Gnn,
    logstd: Gnn,
}

#[derive(Debug, Clone)]
enum Decoder {
    InnerProduct,
    Mlp(Mlp),
}

/// Node embeddings of one forward pass.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The embeddings the decoder uses: `μ + ε·σ` in training (VGAE), else the encoder output (or `μ`).
    pub z: Tensor,
    /// VGAE posterior mean and clamped log standard deviation, `[num_nodes, latent_dim]`.
    pub mu: Option<Tensor>,
    pub logstd: Option<Tensor>,
}

/// An encoder-decoder link predictor.
///
/// Parameter names: `encoder.layers.{i}.*` (the [`Gnn`]; for VGAE all layers but
/// the last), `encoder.mu.layers.0.*` and `encoder.logstd.layers.0.*` (VGAE
/// heads), `decoder.{0,2,..}.*` (MLP decoder, PyTorch `Sequential` numbering).
pub struct LinkModel {
    pub config: LinkTrainConfig,
    pub params: Params,
    encoder: Encoder,
    decoder: Decoder,
}

/// Standard normal draws (Box–Muller) from the seeded generator.
fn normal(len: usize, rng: &mut GlmRng) -> Vec<f32> {
    let mut out = Vec::with_capacity(len + 1);
    while out.len() < len {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]
        let u2: f64 = rng.gen::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push((r * t.cos()) as f32);
        out.push((r * t.sin()) as f32);
    }
    out.truncate(len);
    out
}

impl LinkModel {
    /// Build the model for `in_dim` input features, with parameters seeded by `config.seed`.
    pub fn new(config: &LinkTrainConfig, in_dim: usize) -> Result<LinkModel> {
        config.validate()?;
        let params = Params::new(config.seed);
        let ep = params.pp("encoder");
        let enc = &config.encoder;
        let encoder = if config.variational {
            let body = if enc.num_layers > 1 { Some(GnnConfig { num_layers: enc.num_layers - 1, ..enc.clone() }.init(in_dim, enc.hidden_dim, &ep)?) } else { None };
            let head_in = body.as_ref().map_or(in_dim, |b| b.out_dim());
            let head = GnnConfig { num_layers: 1, dropout: 0.0, ..enc.clone() };
            let mu = head.init(head_in, config.latent_dim, &ep.pp("mu"))?;
            let logstd = head.init(head_in, config.latent_dim, &ep.pp("logstd"))?;
            Encoder::Variational(Box::new(VariationalEncoder { body, activation: enc.activation, dropout: enc.dropout, mu, logstd }))
        } else {
            Encoder::Plain(enc.init(in_dim, config.latent_dim, &ep)?)
        };
        let decoder = match config.decoder.kind {
            DecoderKind::InnerProduct => Decoder::InnerProduct,
            DecoderKind::Mlp => {
                let d = &config.decoder;
                let mut dims = vec![config.latent_dim];
                dims.extend(std::iter::repeat_n(d.hidden_dim, d.num_layers - 1));
                dims.push(1);
                let cfg = MlpConfig { dims, batch_norm: false, dropout: d.dropout };
                Decoder::Mlp(cfg.init(&params.pp("decoder"))?)
            }
        };
        Ok(LinkModel { config: config.clone(), params, encoder, decoder })
    }

    /// Encode every node. In training mode a VGAE samples `z = μ + ε·σ` with the
    /// context's generator; in evaluation mode `z = μ`.
    pub fn encode(&self, g: &Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Encoded> {
        match &self.encoder {
            Encoder::Plain(gnn) => Ok(Encoded { z: gnn.forward(g, x, ctx)?, mu: None, logstd: None }),
            Encoder::Variational(v) => {
                let VariationalEncoder { body, activation, dropout, mu, logstd } = &**v;
                let h = match body {
                    Some(b) => {
                        let y = b.forward(g, x, ctx)?;
                        let y = match activation {
                            Activation::Relu => y.relu()?,
                            Activation::Elu => y.elu(1.0)?,
                        };
                        NodeInput::Hidden(ctx.dropout(&y, *dropout)?)
                    }
                    None => x.clone(),
                };
                let m = mu.forward(g, &h, ctx)?;
                let ls = logstd.forward(g, &h, ctx)?.minimum(MAX_LOGSTD)?;
                let z = if ctx.train {
                    let eps = Tensor::from_vec(normal(m.elem_count(), &mut ctx.rng), m.dims(), &Device::Cpu)?;
                    (&m + (eps * ls.exp()?)?)?
                } else {
                    m.clone()
                };
                Ok(Encoded { z, mu: Some(m), logstd: Some(ls) })
            }
        }
    }

    /// Evaluation-mode embeddings `[num_nodes, latent_dim]` (`μ` for a VGAE).
    pub fn embed(&self, g: &Graph, x: &NodeInput) -> Result<Tensor> {
        Ok(self.encode(g, x, &mut Ctx::eval())?.z)
    }

    /// Logits `[num_pairs]` of the pairs from embeddings `z`, in the pairs' edge
    /// order (sorted by `(u, v)`; see [`PairIndex`]).
    ///
    /// The inner product is an SDDMM over the pairs' graph, `<z_u, z_v>` per edge;
    /// the MLP decoder gathers both endpoint rows (`ops::gather_dst` / `gather_src`)
    /// and multiplies them. Measured against gathering rows with candle's
    /// `index_select` + multiply + sum, forward and backward of Cora's 4,488
    /// training pairs (16 dims) on the 2-core development machine: SDDMM 0.9 ms
    /// (1.0 ms when the pair graph is built in the step) against 2.1 ms with
    /// candle's default threading (its elementwise ops above 64k elements go to a
    /// spinning thread pool); with `CANDLE_NUM_THREADS=1` 0.25 ms (0.5 ms) against
    /// 0.3 ms. SDDMM is used.
    pub fn decode(&self, z: &Tensor, pairs: &PairIndex, ctx: &mut Ctx) -> Result<Tensor> {
        if pairs.is_empty() {
            return Ok(Tensor::zeros(0, candle_core::DType::F32, &Device::Cpu)?);
        }
        let g = &pairs.graph;
        Ok(match &self.decoder {
            Decoder::InnerProduct => sddmm(g, z, z, 1)?.reshape(g.num_edges())?,
            Decoder::Mlp(m) => {
                let h = (gather_dst(g, z)? * gather_src(g, z)?)?;
                m.forward(&h, ctx)?.squeeze(1)?
            }
        })
    }

    /// Evaluation-mode logits of node pairs over the graph `g` (the training graph
    /// of the split the model was trained on).
    ///
    /// Errors: [`Error::IndexOutOfRange`] naming the first pair with a node id
    /// `>= g.num_nodes()`.
    pub fn score_pairs(&self, g: &Graph, x: &NodeInput, pairs: &[(usize, usize)]) -> Result<Vec<f32>> {
        let n = g.num_nodes();
        if let Some((i, &(u, v))) = pairs.iter().enumerate().find(|(_, &(u, v))| u >= n || v >= n) {
            return Err(Error::IndexOutOfRange {
                what: format!("node pair {i} ({u}, {v})"),
                index: u.max(v),
                bound: n,
                hint: format!("node ids must be 0-based and below num_nodes = {n}"),
            });
        }
        let z = self.embed(g, x)?;
        self.score_with(&z, pairs)
    }

    fn score_with(&self, z: &Tensor, pairs: &[(usize, usize)]) -> Result<Vec<f32>> {
        let idx = PairIndex::new(z.dims()[0], pairs)?;
        Ok(idx.restore(self.decode(z, &idx, &mut Ctx::eval())?.to_vec1::<f32>()?))
    }
}

/// Link-prediction metrics of one split part.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkMetrics {
    /// AUC-ROC of positives against the part's negatives.
    pub auc: f64,
    /// Average precision.
    pub ap: f64,
    /// `(K, Hits@K)`: positives above the K-th highest negative (OGB, shared negatives).
    pub hits: Vec<(usize, f64)>,
    /// Mean reciprocal rank of each positive among its own ranking negatives.
    pub mrr: f64,
    /// `(K, ranked Hits@K)`: rank among its own ranking negatives `<= K`.
    pub ranked_hits: Vec<(usize, f64)>,
}

impl LinkMetrics {
    /// Every metric by name, in a fixed order: `auc`, `ap`, `hits@K`..., `mrr`, `rank_hits@K`...
    pub fn named(&self) -> Vec<(String, f64)> {
        let mut v = vec![("auc".to_string(), self.auc), ("ap".to_string(), self.ap)];
        v.extend(self.hits.iter().map(|(k, h)| (format!("hits@{k}"), *h)));
        v.push(("mrr".to_string(), self.mrr));
        v.extend(self.ranked_hits.iter().map(|(k, h)| (format!("rank_hits@{k}"), *h)));
        v
    }

    /// Compute every metric from scores.
    ///
    /// `rank_neg[i]`: the scores of positive `i`'s own negatives.
    pub fn compute(pos: &[f32], neg: &[f32], rank_neg: &[Vec<f32>], hits_k: &[usize]) -> Result<LinkMetrics> {
        Ok(LinkMetrics {
            auc: auc_roc(pos, neg)?,
            ap: average_precision(pos, neg)?,
            hits: hits_k.iter().map(|&k| hits_at_k(pos, neg, k).map(|h| (k, h))).collect::<Result<_>>()?,
            mrr: mrr(pos, rank_neg)?,
            ranked_hits: hits_k.iter().map(|&k| ranked_hits_at_k(pos, rank_neg, k).map(|h| (k, h))).collect::<Result<_>>()?,
        })
    }
}

impl serde::Serialize for LinkMetrics {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let named = self.named();
        let mut m = s.serialize_map(Some(named.len()))?;
        for (k, v) in &named {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// PyG's `VGAE.kl_loss`: the KL divergence of `N(μ, σ²)` from `N(0, I)`, summed
/// over latent dimensions and averaged over nodes,
/// `KL = −½ · (1/N) Σ_i Σ_d (1 + 2·logσ_id − μ_id² − σ_id²)`.
/// `mu`, `logstd`: `[num_nodes, latent_dim]` (`logstd` already clamped, see [`MAX_LOGSTD`]).
pub fn kl_loss(mu: &Tensor, logstd: &Tensor) -> Result<Tensor> {
    let two_ls = (logstd * 2.0)?;
    let inner = (((&two_ls + 1.0)? - mu.sqr()?)? - two_ls.exp()?)?;
    Ok((inner.sum(1)?.mean_all()? * -0.5)?)
}

/// Which held-out part to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Val,
    Test,
}

/// Score one part of the split with embeddings `z` (evaluation mode).
pub fn evaluate(model: &LinkModel, z: &Tensor, split: &EdgeSplit, part: Part) -> Result<LinkMetrics> {
    let (pos, neg, rank) = match part {
        Part::Val => (&split.val_pos, &split.val_neg, &split.val_rank_neg),
        Part::Test => (&split.test_pos, &split.test_neg, &split.test_rank_neg),
    };
    let ps = model.score_with(z, pos)?;
    let ns = model.score_with(z, neg)?;
    let rank_pairs: Vec<(usize, usize)> = pos.iter().zip(rank).flat_map(|(&(u, _), ws)| ws.iter().map(move |&w| (u, w))).collect();
    let rs = model.score_with(z, &rank_pairs)?;
    let mut rank_scores = Vec::with_capacity(pos.len());
    let mut at = 0;
    for ws in rank {
        rank_scores.push(rs[at..at + ws.len()].to_vec());
        at += ws.len();
    }
    LinkMetrics::compute(&ps, &ns, &rank_scores, &model.config.hits_k)
}

/// AUC and AP of one part (the cheap per-epoch check).
fn auc_ap(model: &LinkModel, z: &Tensor, pos: &[(usize, usize)], neg: &[(usize, usize)]) -> Result<(f64, f64)> {
    let ps = model.score_with(z, pos)?;
    let ns = model.score_with(z, neg)?;
    Ok((auc_roc(&ps, &ns)?, average_precision(&ps, &ns)?))
}

/// The positive entries the loss reconstructs: both directions of every training
/// edge, plus `(i, i)` for every node when `self_loops` (the GAE paper's target
/// `A + I`), sorted.
pub fn training_positives(split: &EdgeSplit, self_loops: bool) -> Vec<(usize, usize)> {
    let mut p = Vec::with_capacity(2 * split.train_pos.len() + if self_loops { split.num_nodes } else { 0 });
    p.extend(split.train_pos.iter().flat_map(|&(u, v)| [(u, v), (v, u)]));
    if self_loops {
        p.extend((0..split.num_nodes).map(|i| (i, i)));
    }
    p.sort_unstable();
    p
}

/// Metrics of one epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkEpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub val_auc: f64,
    pub val_ap: f64,
    pub test_auc: f64,
    pub lr: f64,
    /// Wall time of negative sampling + forward + backward + optimiser step, milliseconds.
    pub step_ms: f64,
}

/// Outcome of one seeded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkRunResult {
    pub seed: u64,
    pub split_seed: u64,
    /// Training positives (undirected) the model saw.
    pub num_train_edges: usize,
    /// Epoch with the best validation AUC (latest among ties), 0-based.
    pub best_epoch: usize,
    /// Validation metrics of the selected model.
    pub val: LinkMetrics,
    /// Test metrics of the selected model.
    pub test: LinkMetrics,
    /// Test AUC after the last epoch.
    pub final_test_auc: f64,
    /// Median training-step time over epochs (skipping the first 5), milliseconds.
    pub epoch_ms: f64,
    pub epochs_run: usize,
    pub history: Vec<LinkEpochLog>,
}

/// Train one model on `data.split`. `on_epoch` sees every epoch's metrics.
///
/// Errors: [`Error::Config`] for an invalid configuration, an empty training,
/// validation or test part, or a diverging loss; sampler errors.
pub fn train(data: &LinkData, cfg: &LinkTrainConfig, on_epoch: &mut dyn FnMut(&LinkEpochLog)) -> Result<(LinkRunResult, LinkModel)> {
    cfg.validate()?;
    let split = &data.split;
    for (what, len) in [("training", split.train_pos.len()), ("validation", split.val_pos.len()), ("test", split.test_pos.len())] {
        if len == 0 {
            return Err(Error::config("split", format!("{} / {} / {} train / val / test edges", split.train_pos.len(), split.val_pos.len(), split.test_pos.len()), format!("the {what} part is empty; the graph is too small for this split, change split.val / split.test")));
        }
    }
    let model = LinkModel::new(cfg, data.x.dim())?;
    let vars = model.params.trainable();
    let plain_vars: Vec<_> = vars.iter().map(|(_, v)| v.clone()).collect();
    let mut opt = cfg.optimizer.build(vec![cfg.optimizer.group("all", vars)])?;
    let sampler = NegativeSampler::new(split.num_nodes, &split.train_pos, &cfg.negatives)?;
    let positives = training_positives(split, cfg.self_loop_positives);
    let num_neg = ((cfg.negatives.ratio * positives.len() as f64).ceil() as usize).max(1);
    let pos_idx = PairIndex::new(split.num_nodes, &positives)?;
    let g = &split.train_graph;
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let mut neg_rng = derive(cfg.seed, 2);
    let n = split.num_nodes as f64;
    let mut history = Vec::with_capacity(cfg.epochs);
    // (epoch, validation AUC, parameter snapshot) of the selected model.
    type Best = (usize, f64, Vec<(String, Tensor)>);
    let mut best: Option<Best> = None;
    let mut since_best = 0;
    for epoch in 0..cfg.epochs {
        let lr = cfg.schedule.apply(opt.as_mut(), epoch, cfg.epochs);
        let t0 = Instant::now();
        let mut negs = sampler.sample(num_neg, &mut neg_rng)?;
        negs.sort_unstable(); // the loss does not depend on the order; sorted pairs need no permutation
        let neg_idx = PairIndex::new(split.num_nodes, &negs)?;
        ctx.train = true;
        let enc = model.encode(g, &data.x, &mut ctx)?;
        let pos = model.decode(&enc.z, &pos_idx, &mut ctx)?;
        let neg = model.decode(&enc.z, &neg_idx, &mut ctx)?;
        let mut loss = (bce_with_logits(&pos, &pos.ones_like()?)? + bce_with_logits(&neg, &neg.zeros_like()?)?)?;
        if let (Some(mu), Some(ls)) = (&enc.mu, &enc.logstd) {
            loss = (loss + (kl_loss(mu, ls)? / n)?)?;
        }
        let loss_v = optimize(&loss, opt.as_mut(), &plain_vars, cfg.clip_grad_norm)?;
        let step_ms = t0.elapsed().as_secs_f64() * 1e3;
        if !loss_v.is_finite() {
            return Err(Error::config("training", format!("loss {loss_v} at epoch {epoch}"), "the loss diverged; lower the learning rate or enable clip_grad_norm"));
        }
        let z = model.embed(g, &data.x)?;
        let (val_auc, val_ap) = auc_ap(&model, &z, &split.val_pos, &split.val_neg)?;
        let (test_auc, _) = auc_ap(&model, &z, &split.test_pos, &split.test_neg)?;
        let log = LinkEpochLog { epoch, loss: loss_v, val_auc, val_ap, test_auc, lr, step_ms };
        let prev = best.as_ref().map(|b| b.1);
        if prev.is_none_or(|b| val_auc > b) {
            since_best = 0;
        } else {
            since_best += 1;
        }
        if prev.is_none_or(|b| val_auc >= b) {
            let snap = model.params.snapshot()?;
            best = Some((epoch, val_auc, snap));
        }
        on_epoch(&log);
        history.push(log);
        if cfg.patience.is_some_and(|p| since_best >= p) {
            break;
        }
    }
    let final_test_auc = history.last().map_or(f64::NAN, |h| h.test_auc);
    let (best_epoch, _, snap) = best.expect("at least one epoch");
    model.params.restore(&snap)?;
    let z = model.embed(g, &data.x)?;
    let val = evaluate(&model, &z, split, Part::Val)?;
    let test = evaluate(&model, &z, split, Part::Test)?;
    let mut times: Vec<f64> = history.iter().skip(5).map(|h| h.step_ms).collect();
    if times.is_empty() {
        times = history.iter().map(|h| h.step_ms).collect();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let result = LinkRunResult {
        seed: cfg.seed,
        split_seed: cfg.split_seed(),
        num_train_edges: split.train_pos.len(),
        best_epoch,
        val,
        test,
        final_test_auc,
        epoch_ms: times[times.len() / 2],
        epochs_run: history.len(),
        history,
    };
    Ok((result, model))
}

/// Mean and population standard deviation of each named metric over runs.
pub fn summarize(runs: &[&LinkMetrics]) -> Vec<(String, f64, f64)> {
    let Some(first) = runs.first() else { return vec![] };
    first
        .named()
        .iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let v: Vec<f64> = runs.iter().map(|m| m.named()[i].1).collect();
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / v.len() as f64;
            (name.clone(), mean, var.sqrt())
        })
        .collect()
}

/// One noise level of a [`robustness`] study.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RobustnessLevel {
    /// Fraction of the training edges added or dropped.
    pub level: f64,
    /// Mean number of training edges after the noise.
    pub num_train_edges: f64,
    /// `(metric, mean, std)` of the test metrics over runs.
    pub test: Vec<(String, f64, f64)>,
    /// `(metric, relative drop)`: `(mean at level 0 − mean here) / mean at level 0`
    /// (positive when the metric got worse).
    pub relative_drop: Vec<(String, f64)>,
    /// Every run at this level (histories dropped).
    pub runs: Vec<LinkRunResult>,
}

/// The outcome of [`robustness`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct RobustnessReport {
    pub dataset: String,
    pub model: String,
    pub noise: EdgeNoise,
    pub levels: Vec<RobustnessLevel>,
}

/// Edge-noise robustness: for each run `r` (split seed and model seed `seed + r`,
/// the same at every level, so levels are compared on the same split and
/// initialisation) and each level, apply `noise` to the training edges
/// ([`apply_noise`], noise seed `seed + r` at every level, so the noisy edge sets
/// are nested), retrain and score the untouched test edges. Level 0 is added
/// when missing; levels are sorted. `on_run(level, run, result)` sees each run.
///
/// Errors: [`Error::Config`] for a level outside `[0, 1]` or no runs, and the
/// training errors.
pub fn robustness(
    ds: &NodeDataset,
    cfg: &LinkTrainConfig,
    noise: EdgeNoise,
    levels: &[f64],
    runs: u64,
    on_run: &mut dyn FnMut(f64, u64, &LinkRunResult),
) -> Result<RobustnessReport> {
    cfg.validate()?;
    if runs == 0 {
        return Err(Error::config("runs", 0, "need at least one run"));
    }
    if let Some(&bad) = levels.iter().find(|l| !(0.0..=1.0).contains(*l)) {
        return Err(Error::config("levels", bad, "noise levels are fractions of the training edges, in [0, 1]"));
    }
    let mut lv: Vec<f64> = levels.to_vec();
    if !lv.contains(&0.0) {
        lv.push(0.0);
    }
    lv.sort_by(|a, b| a.total_cmp(b));
    lv.dedup();
    let mut per_level: Vec<Vec<LinkRunResult>> = vec![vec![]; lv.len()];
    for r in 0..runs {
        let run_cfg = LinkTrainConfig { seed: cfg.seed + r, split_seed: Some(cfg.split_seed() + r), ..cfg.clone() };
        let base = LinkData::prepare(ds, &run_cfg)?;
        for (i, &level) in lv.iter().enumerate() {
            let noisy = apply_noise(&base.split, noise, level, run_cfg.split_seed())?;
            let data = base.with_split(noisy)?;
            let (mut res, _) = train(&data, &run_cfg, &mut |_| {})?;
            on_run(level, r, &res);
            res.history.clear();
            per_level[i].push(res);
        }
    }
    let base_means = summarize(&per_level[0].iter().map(|r| &r.test).collect::<Vec<_>>());
    let levels = lv
        .iter()
        .zip(per_level)
        .map(|(&level, runs)| {
            let test = summarize(&runs.iter().map(|r| &r.test).collect::<Vec<_>>());
            let relative_drop = test
                .iter()
                .zip(&base_means)
                .map(|((name, m, _), (_, b, _))| (name.clone(), if *b != 0.0 { (b - m) / b } else { 0.0 }))
                .collect();
            let num_train_edges = runs.iter().map(|r| r.num_train_edges as f64).sum::<f64>() / runs.len() as f64;
            RobustnessLevel { level, num_train_edges, test, relative_drop, runs }
        })
        .collect();
    Ok(RobustnessReport { dataset: ds.name.clone(), model: cfg.model_name(), noise, levels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::edge_split::{NegativeStrategy, SplitSize};
    use crate::data::load_karate_builtin;

    fn karate_cfg(epochs: usize) -> LinkTrainConfig {
        LinkTrainConfig { epochs, split: EdgeSplitConfig { val: SplitSize::Fraction(0.1), test: SplitSize::Fraction(0.2), ranking_negatives: 10 }, ..LinkTrainConfig::recipe(ModelKind::Gcn, false) }
    }

    #[test]
    fn gae_learns_karate() {
        let ds = load_karate_builtin().unwrap();
        let cfg = karate_cfg(100);
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        assert_eq!(data.features, FeatureSource::Dataset);
        let mut epochs = 0;
        let (r, model) = train(&data, &cfg, &mut |_| epochs += 1).unwrap();
        assert_eq!((epochs, r.epochs_run, r.history.len()), (100, 100, 100));
        assert!(r.history[99].loss < r.history[0].loss, "loss did not fall: {} -> {}", r.history[0].loss, r.history[99].loss);
        assert!(r.val.auc > 0.5, "val auc {}", r.val.auc);
        let names: Vec<String> = r.test.named().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names[..7], ["auc", "ap", "hits@10", "hits@20", "hits@50", "hits@100", "mrr"]);
        for (name, v) in r.test.named() {
            assert!((0.0..=1.0).contains(&v), "{name} = {v}");
        }
        // The selected model is the one restored: its validation AUC matches the log.
        let z = model.embed(&data.split.train_graph, &data.x).unwrap();
        let again = evaluate(&model, &z, &data.split, Part::Val).unwrap();
        assert_eq!(again.auc, r.history[r.best_epoch].val_auc);
        assert_eq!(again, r.val);
        let json = serde_json::to_value(&r.test).unwrap();
        assert!(json["hits@10"].is_number() && json["rank_hits@10"].is_number());
    }

    #[test]
    fn deterministic_per_seed() {
        let ds = load_karate_builtin().unwrap();
        for variational in [false, true] {
            let cfg = LinkTrainConfig { variational, seed: 3, ..karate_cfg(15) };
            let data = LinkData::prepare(&ds, &cfg).unwrap();
            let (a, _) = train(&data, &cfg, &mut |_| {}).unwrap();
            let (b, _) = train(&data, &cfg, &mut |_| {}).unwrap();
            let la: Vec<f64> = a.history.iter().map(|h| h.loss).collect();
            let lb: Vec<f64> = b.history.iter().map(|h| h.loss).collect();
            assert_eq!(la, lb);
            assert_eq!(a.test, b.test);
        }
    }

    #[test]
    fn every_encoder_and_decoder_runs() {
        let ds = load_karate_builtin().unwrap();
        for name in ["gae", "vgae", "gat", "sage", "gin"] {
            for decoder in [DecoderKind::InnerProduct, DecoderKind::Mlp] {
                let mut cfg = LinkTrainConfig::recipe_by_name(name).unwrap();
                cfg.epochs = 5;
                cfg.split = karate_cfg(1).split;
                cfg.decoder.kind = decoder;
                cfg.negatives = NegativeSamplingConfig { ratio: 2.0, strategy: NegativeStrategy::Degree, ..Default::default() };
                let data = LinkData::prepare(&ds, &cfg).unwrap();
                let (r, model) = train(&data, &cfg, &mut |_| {}).unwrap();
                assert!(r.test.auc.is_finite(), "{name} {decoder:?}");
                let s = model.score_pairs(&data.split.train_graph, &data.x, &[(5, 1), (2, 3), (5, 1), (1, 5), (0, 0)]).unwrap();
                assert_eq!(s.len(), 5);
                assert_eq!(s[0], s[2], "scores follow the caller's order");
                if decoder == DecoderKind::InnerProduct {
                    let z = crate::testing::vec(&model.embed(&data.split.train_graph, &data.x).unwrap());
                    let d = cfg.latent_dim;
                    let dot = |u: usize, v: usize| (0..d).map(|k| z[u * d + k] * z[v * d + k]).sum::<f32>();
                    for (i, &(u, v)) in [(5, 1), (2, 3), (5, 1), (1, 5), (0, 0)].iter().enumerate() {
                        assert!((s[i] - dot(u, v)).abs() < 1e-4, "pair {i}: {} vs {}", s[i], dot(u, v));
                    }
                }
                let e = model.score_pairs(&data.split.train_graph, &data.x, &[(0, 1), (2, 34)]).unwrap_err().to_string();
                assert!(e.contains("pair 1") && e.contains("34"), "{e}");
            }
        }
        assert!(LinkTrainConfig::recipe_by_name("transformer").is_err());
        let v = LinkTrainConfig::recipe_by_name("VGAE").unwrap();
        assert!(v.variational && v.model_name() == "vgae");
        // VGAE parameters: a shared first layer and two heads.
        let m = LinkModel::new(&v, 5).unwrap();
        let names: Vec<String> = m.params.trainable().into_iter().map(|(n, _)| n).collect();
        assert!(names.contains(&"encoder.layers.0.lin.weight".to_string()), "{names:?}");
        assert!(names.contains(&"encoder.mu.layers.0.lin.weight".to_string()), "{names:?}");
        assert!(names.contains(&"encoder.logstd.layers.0.bias".to_string()), "{names:?}");
    }

    #[test]
    fn vgae_uses_mu_at_eval_and_pyg_kl() {
        let ds = load_karate_builtin().unwrap();
        let cfg = LinkTrainConfig::recipe(ModelKind::Gcn, true);
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        let m = LinkModel::new(&cfg, data.x.dim()).unwrap();
        let g = &data.split.train_graph;
        let e = m.encode(g, &data.x, &mut Ctx::eval()).unwrap();
        assert_eq!(crate::testing::vec(&e.z), crate::testing::vec(e.mu.as_ref().unwrap()));
        let t = m.encode(g, &data.x, &mut Ctx::train(crate::rng::seeded(0))).unwrap();
        assert_ne!(crate::testing::vec(&t.z), crate::testing::vec(t.mu.as_ref().unwrap()));
        // KL by hand: row 1: (1 + 0 - 1 - 1) + (1 + 2 ln 2 - 0 - 4); row 2: 0 -> -1/2 · mean.
        let mu = Tensor::new(&[[1f32, 0.0], [0.0, 0.0]], &Device::Cpu).unwrap();
        let ls = Tensor::new(&[[0f32, 2f32.ln()], [0.0, 0.0]], &Device::Cpu).unwrap();
        let kl = kl_loss(&mu, &ls).unwrap().to_scalar::<f32>().unwrap() as f64;
        let want = -0.5 * ((-1.0) + (1.0 + 2.0 * 2f64.ln() - 4.0)) / 2.0;
        assert!((kl - want).abs() < 1e-6, "{kl} vs {want}");
        // Box–Muller draws are standard normal.
        let v = normal(20_000, &mut crate::rng::seeded(1));
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{mean} {var}");
    }

    #[test]
    fn stand_in_features_never_leak_held_out_edges() {
        let mut ds = load_karate_builtin().unwrap();
        ds.x = FeatureFallback::DegreeOneHot { max_degree: 9 }.build(&ds.graph);
        let cfg = karate_cfg(1);
        // Auto: a graph without real features gets one-hot ids.
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        assert_eq!(data.features, FeatureSource::Identity);
        assert_eq!(data.x.dim(), 34);
        // Dataset: the stand-in degrees are those of the training graph.
        let cfg = LinkTrainConfig { features: FeatureMode::Dataset, ..karate_cfg(1) };
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        assert_eq!(data.features, FeatureSource::TrainingDegree { max_degree: 9 });
        let col = |d: &LinkData| match &d.x {
            NodeInput::Sparse(x) => x.matrix().col_idx.clone(),
            _ => panic!("sparse expected"),
        };
        let deg = data.split.train_graph.in_degree();
        assert_eq!(col(&data), deg.iter().map(|&d| d.min(9)).collect::<Vec<_>>());
        assert_ne!(deg, ds.graph.in_degree());
        let noisy = apply_noise(&data.split, EdgeNoise::Drop, 0.5, 0).unwrap();
        let d2 = data.with_split(noisy).unwrap();
        assert_eq!(col(&d2), d2.split.train_graph.in_degree().iter().map(|&d| d.min(9)).collect::<Vec<_>>());
        // Degree: the same on a dataset with real features.
        let real = load_karate_builtin().unwrap();
        let cfg = LinkTrainConfig { features: FeatureMode::Degree, ..karate_cfg(1) };
        let data = LinkData::prepare(&real, &cfg).unwrap();
        assert_eq!(data.features, FeatureSource::TrainingDegree { max_degree: DEGREE_FEATURE_MAX });
        assert_eq!(data.x.dim(), 64);
        // A constant column is a stand-in too.
        let mut flat = load_karate_builtin().unwrap();
        flat.x = FeatureFallback::Constant.build(&flat.graph);
        assert_eq!(LinkData::prepare(&flat, &karate_cfg(1)).unwrap().features, FeatureSource::Identity);
        assert_eq!(LinkData::prepare(&real, &karate_cfg(1)).unwrap().features, FeatureSource::Dataset);
    }

    #[test]
    fn bad_configurations_are_errors() {
        let ds = load_karate_builtin().unwrap();
        let mut cfg = karate_cfg(1);
        cfg.split.test = SplitSize::Count(500);
        let e = LinkData::prepare(&ds, &cfg).unwrap_err().to_string();
        assert!(e.contains("only 78 undirected edges"), "{e}");
        cfg.split.test = SplitSize::Fraction(2.0);
        assert!(LinkData::prepare(&ds, &cfg).is_err());
        let cfg = LinkTrainConfig { hits_k: vec![0], ..karate_cfg(1) };
        assert!(cfg.validate().is_err());
        let cfg = LinkTrainConfig { latent_dim: 0, ..karate_cfg(1) };
        assert!(cfg.validate().is_err());
        // An empty validation part is a clear error, not a panic.
        let mut cfg = karate_cfg(1);
        cfg.split.val = SplitSize::Count(0);
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        let e = train(&data, &cfg, &mut |_| {}).err().unwrap().to_string();
        assert!(e.contains("validation part is empty"), "{e}");
        assert!(robustness(&ds, &karate_cfg(1), EdgeNoise::Add, &[0.5, 1.2], 1, &mut |_, _, _| {}).is_err());
        let toml_cfg: LinkTrainConfig = toml::from_str("variational = true\n[split]\ntest = 0.2\n").unwrap();
        assert!(toml_cfg.variational && toml_cfg.split.test == SplitSize::Fraction(0.2));
        assert!(toml::from_str::<LinkTrainConfig>("unknown_key = 1\n").is_err());
    }

    #[test]
    fn robustness_report_shape() {
        let ds = load_karate_builtin().unwrap();
        let mut seen = 0;
        let rep = robustness(&ds, &karate_cfg(10), EdgeNoise::Add, &[0.2, 0.1], 2, &mut |_, _, _| seen += 1).unwrap();
        assert_eq!(seen, 6);
        let lv: Vec<f64> = rep.levels.iter().map(|l| l.level).collect();
        assert_eq!(lv, vec![0.0, 0.1, 0.2]);
        assert!(rep.levels[0].relative_drop.iter().all(|(_, d)| *d == 0.0));
        assert!(rep.levels[2].num_train_edges > rep.levels[0].num_train_edges);
        assert_eq!(rep.levels[1].runs.len(), 2);
        assert!(rep.levels[1].runs[0].history.is_empty());
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["noise"], "add");
    }
}
