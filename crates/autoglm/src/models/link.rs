//! Link-prediction models: a node encoder (any [`Gnn`], or its variational
//! form as in VGAE) and a pair decoder (inner product or an MLP over the
//! Hadamard product). Trained by [`crate::tasks::link`].

use crate::graph::Graph;
use crate::models::{Activation, Gnn, GnnConfig};
use crate::nn::{Ctx, Mlp, MlpConfig, Module, NodeInput, Params};
use crate::ops::{gather_dst, gather_src, sddmm};
use crate::rng::{GlmRng, Rng};
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// Largest `log σ` of the VGAE posterior (PyG's `MAX_LOGSTD`).
pub const MAX_LOGSTD: f64 = 10.0;

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

/// The model half of a link-prediction configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LinkModelConfig {
    /// The encoder; its output width is `latent_dim`.
    pub encoder: GnnConfig,
    /// Embedding width.
    pub latent_dim: usize,
    /// VGAE: the last encoder layer becomes two heads, `μ` and `log σ`.
    pub variational: bool,
    pub decoder: DecoderConfig,
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

enum Encoder {
    /// The recipe's stack, or a registered model.
    Plain(Box<dyn Module>),
    /// PyG's `VariationalGCNEncoder`, generalised: `body` (all layers but the last,
    /// then the activation), then two one-layer heads.
    Variational(Box<VariationalEncoder>),
}

#[derive(Debug)]
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

/// Builds a link encoder: `(params, in_dim, latent_dim)` to a [`Module`].
pub type EncoderBuilder<'a> = dyn Fn(&Params, usize, usize) -> Result<Box<dyn Module>> + 'a;

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
    pub config: LinkModelConfig,
    pub params: Params,
    encoder: Encoder,
    decoder: Decoder,
}

/// Standard normal draws (Box–Muller) from the seeded generator.
pub(crate) fn normal(len: usize, rng: &mut GlmRng) -> Vec<f32> {
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
    /// Build the model for `in_dim` input features, with parameters seeded by `seed`.
    pub fn new(config: &LinkModelConfig, in_dim: usize, seed: u64) -> Result<LinkModel> {
        LinkModel::build(config, in_dim, seed, None)
    }

    /// The model with an encoder of the caller's, built by `encoder(params,
    /// in_dim, latent_dim)` under `encoder.*` (a registered model); the
    /// decoder is the configuration's. Variational encoders are the recipe's only.
    ///
    /// # Errors
    /// [`Error::Config`] when `config.variational` is set; the constructor's errors.
    pub fn with_encoder(config: &LinkModelConfig, in_dim: usize, seed: u64, encoder: &EncoderBuilder<'_>) -> Result<LinkModel> {
        if config.variational {
            return Err(Error::config(
                "variational",
                true,
                "a registered encoder cannot be made variational; use the recipe encoders (vgae) or set variational = false",
            ));
        }
        LinkModel::build(config, in_dim, seed, Some(encoder))
    }

    fn build(config: &LinkModelConfig, in_dim: usize, seed: u64, custom: Option<&EncoderBuilder<'_>>) -> Result<LinkModel> {
        config.encoder.validate()?;
        let params = Params::new(seed);
        let ep = params.pp("encoder");
        let enc = &config.encoder;
        let encoder = if let Some(build) = custom {
            Encoder::Plain(build(&ep, in_dim, config.latent_dim)?)
        } else if config.variational {
            let body =
                if enc.num_layers > 1 { Some(GnnConfig { num_layers: enc.num_layers - 1, ..enc.clone() }.init(in_dim, enc.hidden_dim, &ep)?) } else { None };
            let head_in = body.as_ref().map_or(in_dim, |b| b.out_dim());
            let head = GnnConfig { num_layers: 1, dropout: 0.0, ..enc.clone() };
            let mu = head.init(head_in, config.latent_dim, &ep.pp("mu"))?;
            let logstd = head.init(head_in, config.latent_dim, &ep.pp("logstd"))?;
            Encoder::Variational(Box::new(VariationalEncoder { body, activation: enc.activation, dropout: enc.dropout, mu, logstd }))
        } else {
            Encoder::Plain(Box::new(enc.init(in_dim, config.latent_dim, &ep)?))
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
                            Activation::Prelu => {
                                return Err(Error::config("activation", "prelu", "the variational encoder has no PReLU slope; use relu or elu"))
                            }
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

    pub(crate) fn score_with(&self, z: &Tensor, pairs: &[(usize, usize)]) -> Result<Vec<f32>> {
        let idx = PairIndex::new(z.dims()[0], pairs)?;
        Ok(idx.restore(self.decode(z, &idx, &mut Ctx::eval())?.to_vec1::<f32>()?))
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
