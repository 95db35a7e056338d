//! Link prediction: graph auto-encoders (GAE / VGAE, Kipf & Welling 2016) and
//! any [`Gnn`](crate::models::Gnn) encoder with an inner-product or MLP decoder, trained on a random
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

use crate::data::edge_split::{EdgeSplitConfig, NegativeSampler, NegativeSamplingConfig};
use crate::models::{GnnConfig, ModelKind};
use crate::nn::Ctx;
use crate::rng::{derive, GlmRng};
use crate::train::loss::bce_with_logits;
use crate::train::{Batches, Evaluation, Hooks, LrSchedule, OptimizerConfig, Score, Trainer, TrainerConfig};
use crate::{Error, Result};
use candle_core::Tensor;

mod features;
mod metrics;
mod robustness;

pub use crate::models::link::{kl_loss, DecoderConfig, DecoderKind, Encoded, EncoderBuilder, LinkModel, LinkModelConfig, PairIndex, MAX_LOGSTD};
pub use features::{FeatureMode, FeatureSource, LinkData, DEGREE_FEATURE_MAX};
pub use metrics::{evaluate, summarize, training_positives, LinkMetrics, Part};
pub use robustness::{robustness, RobustnessLevel, RobustnessReport};

/// Model names the link task accepts: the [`ModelKind`]s plus `gae` / `vgae`
/// (a GCN encoder in the GAE recipe, plain or variational).
pub const LINK_MODELS: &[&str] = &["gae", "vgae", "gcn", "gat", "sage", "gin"];

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
    /// Learning rates by parameter-name prefix (`encoder = 1e-4` for a pretrained encoder); the rest use the optimiser's rate.
    pub param_groups: std::collections::BTreeMap<String, f64>,
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
            param_groups: Default::default(),
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

    /// The model half of the configuration.
    pub fn model_config(&self) -> LinkModelConfig {
        LinkModelConfig { encoder: self.encoder.clone(), latent_dim: self.latent_dim, variational: self.variational, decoder: self.decoder.clone() }
    }

    /// The trainer's part of the configuration.
    pub fn trainer(&self) -> TrainerConfig {
        TrainerConfig::new(self.epochs).with_patience(self.patience).with_clip_grad_norm(self.clip_grad_norm).with_schedule(self.schedule.clone())
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
                return Err(Error::config(
                    "decoder",
                    format!("{} layers of {}", self.decoder.num_layers, self.decoder.hidden_dim),
                    "the MLP decoder needs at least one layer and a positive width",
                ));
            }
            if !(0.0..1.0).contains(&self.decoder.dropout) {
                return Err(Error::config("decoder.dropout", self.decoder.dropout, "must be in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
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

/// The epoch's training negatives: `count` pairs re-drawn every epoch from
/// the sampler with the run's own generator (sorted: the loss does not
/// depend on the order, and sorted pairs need no permutation).
struct NegativeBatches {
    sampler: NegativeSampler,
    count: usize,
    num_nodes: usize,
    rng: GlmRng,
    /// `(rank, ranks)`: every rank draws the same negatives and keeps a strided share.
    shard: (usize, usize),
}

impl Batches for NegativeBatches {
    type Batch = PairIndex;
    fn for_each(&mut self, _epoch: usize, step: &mut dyn FnMut(&PairIndex) -> Result<()>) -> Result<()> {
        let mut negs = self.sampler.sample(self.count, &mut self.rng)?;
        negs.sort_unstable();
        let (rank, ranks) = self.shard;
        if ranks > 1 {
            negs = negs.into_iter().skip(rank).step_by(ranks).collect();
        }
        step(&PairIndex::new(self.num_nodes, &negs)?)
    }
    fn rng_state(&self) -> serde_json::Value {
        serde_json::to_value(&self.rng).unwrap_or_default()
    }
    fn set_rng_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.rng = serde_json::from_value(state.clone())?;
        Ok(())
    }
}

/// Train one model on `data.split`. `on_epoch` sees every epoch's metrics.
///
/// Errors: [`Error::Config`] for an invalid configuration, an empty training,
/// validation or test part, or a diverging loss; sampler errors.
pub fn train(data: &LinkData, cfg: &LinkTrainConfig, on_epoch: &mut dyn FnMut(&LinkEpochLog)) -> Result<(LinkRunResult, LinkModel)> {
    train_with_hooks(data, cfg, Hooks::progress(on_epoch))
}

/// [`train`] with every trainer hook (progress, gradient hook, resumable state, stop flag).
pub fn train_with_hooks(data: &LinkData, cfg: &LinkTrainConfig, hooks: Hooks<'_, LinkEpochLog>) -> Result<(LinkRunResult, LinkModel)> {
    train_encoder(data, cfg, None, hooks)
}

/// [`train_with_hooks`] with an encoder of the caller's (a registered model;
/// `None`: the configuration's recipe encoder).
pub fn train_encoder(
    data: &LinkData,
    cfg: &LinkTrainConfig,
    encoder: Option<&EncoderBuilder<'_>>,
    hooks: Hooks<'_, LinkEpochLog>,
) -> Result<(LinkRunResult, LinkModel)> {
    train_encoder_sharded(data, cfg, encoder, hooks, (0, 1))
}

/// This rank's shares of the training positives and of `count` negatives
/// (strided), as fractions of the whole, for rank `rank` of `ranks`.
pub fn edge_shares(positives: usize, negatives: usize, rank: usize, ranks: usize) -> (f64, f64) {
    let share = |n: usize| (n.saturating_sub(rank)).div_ceil(ranks.max(1)) as f64 / n.max(1) as f64;
    (share(positives), share(negatives))
}

/// [`train_encoder`] for rank `shard.0` of `shard.1` in a data-parallel run:
/// every rank runs the full-graph encoder, and its loss covers its strided
/// share of the training positives and of the epoch's negatives (every rank
/// draws the same negatives). The loss is written so that the rank's
/// positive share `w` times it, summed over ranks, is the one-process loss:
/// `mean(pos) + (w_neg / w) mean(neg) + KL / (ranks w)`; the caller's
/// gradient hook weights by `w` ([`edge_shares`]).
///
/// # Errors
/// As [`train_encoder`]; [`Error::Config`] when a rank would get no training edge.
pub fn train_encoder_sharded(
    data: &LinkData,
    cfg: &LinkTrainConfig,
    encoder: Option<&EncoderBuilder<'_>>,
    hooks: Hooks<'_, LinkEpochLog>,
    shard: (usize, usize),
) -> Result<(LinkRunResult, LinkModel)> {
    cfg.validate()?;
    let split = &data.split;
    for (what, len) in [("training", split.train_pos.len()), ("validation", split.val_pos.len()), ("test", split.test_pos.len())] {
        if len == 0 {
            return Err(Error::config(
                "split",
                format!("{} / {} / {} train / val / test edges", split.train_pos.len(), split.val_pos.len(), split.test_pos.len()),
                format!("the {what} part is empty; the graph is too small for this split, change split.val / split.test"),
            ));
        }
    }
    let model = match encoder {
        Some(b) => LinkModel::with_encoder(&cfg.model_config(), data.x.dim(), cfg.seed, b)?,
        None => LinkModel::new(&cfg.model_config(), data.x.dim(), cfg.seed)?,
    };
    let vars = model.params.trainable();
    let mut opt = cfg.optimizer.build(cfg.optimizer.groups_by_prefix(vars, &cfg.param_groups))?;
    let (rank, ranks) = (shard.0, shard.1.max(1));
    let all_positives = training_positives(split, cfg.self_loop_positives);
    let count = ((cfg.negatives.ratio * all_positives.len() as f64).ceil() as usize).max(1);
    if all_positives.len() < ranks || count < ranks {
        return Err(Error::config(
            "distributed",
            ranks,
            format!("{} training edges cannot be shared by {ranks} ranks; run with fewer ranks", all_positives.len()),
        ));
    }
    let (w_pos, w_neg) = edge_shares(all_positives.len(), count, rank, ranks);
    let positives: Vec<(usize, usize)> = all_positives.iter().copied().skip(rank).step_by(ranks).collect();
    let mut batches = NegativeBatches {
        sampler: NegativeSampler::new(split.num_nodes, &split.train_pos, &cfg.negatives)?,
        count,
        num_nodes: split.num_nodes,
        rng: derive(cfg.seed, 2),
        shard: (rank, ranks),
    };
    let pos_idx = PairIndex::new(split.num_nodes, &positives)?;
    let g = &split.train_graph;
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let n = split.num_nodes as f64;
    let mut loss = |neg_idx: &PairIndex, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
        let enc = model.encode(g, &data.x, ctx)?;
        let pos = model.decode(&enc.z, &pos_idx, ctx)?;
        let neg = model.decode(&enc.z, neg_idx, ctx)?;
        let neg_term = bce_with_logits(&neg, &neg.zeros_like()?)?;
        let neg_term = if ranks > 1 { (neg_term * (w_neg / w_pos))? } else { neg_term };
        let mut loss = (bce_with_logits(&pos, &pos.ones_like()?)? + neg_term)?;
        if let (Some(mu), Some(ls)) = (&enc.mu, &enc.logstd) {
            loss = (loss + (kl_loss(mu, ls)? / (n * ranks as f64 * w_pos))?)?;
        }
        Ok((loss, 1.0))
    };
    let mut eval = |st: &crate::train::EpochStats| -> Result<Evaluation<LinkEpochLog>> {
        let z = model.embed(g, &data.x)?;
        let (val_auc, val_ap) = metrics::auc_ap(&model, &z, &split.val_pos, &split.val_neg)?;
        let (test_auc, _) = metrics::auc_ap(&model, &z, &split.test_pos, &split.test_neg)?;
        Ok(Evaluation {
            log: LinkEpochLog { epoch: st.epoch, loss: st.loss, val_auc, val_ap, test_auc, lr: st.lr, step_ms: st.step_ms },
            score: Some(Score::max(val_auc)),
        })
    };
    let fit = Trainer::new(cfg.trainer()).with_hooks(hooks)?.fit(&model.params, opt.as_mut(), &mut ctx, &mut batches, &mut loss, &mut eval)?;
    let z = model.embed(g, &data.x)?;
    let val = evaluate(&model, &z, split, Part::Val, &cfg.hits_k)?;
    let test = evaluate(&model, &z, split, Part::Test, &cfg.hits_k)?;
    let result = LinkRunResult {
        seed: cfg.seed,
        split_seed: cfg.split_seed(),
        num_train_edges: split.train_pos.len(),
        best_epoch: fit.selected_epoch(),
        val,
        test,
        final_test_auc: fit.history.last().map_or(f64::NAN, |h| h.test_auc),
        epoch_ms: fit.median_step_ms(5),
        epochs_run: fit.epochs_run(),
        history: fit.history,
    };
    Ok((result, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::edge_split::{apply_noise, EdgeNoise, NegativeStrategy, SplitSize};
    use crate::data::load_karate_builtin;
    use crate::data::FeatureFallback;
    use crate::models::link::normal;
    use crate::nn::NodeInput;

    fn karate_cfg(epochs: usize) -> LinkTrainConfig {
        LinkTrainConfig {
            epochs,
            split: EdgeSplitConfig { val: SplitSize::Fraction(0.1), test: SplitSize::Fraction(0.2), ranking_negatives: 10 },
            ..LinkTrainConfig::recipe(ModelKind::Gcn, false)
        }
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
        let again = evaluate(&model, &z, &data.split, Part::Val, &cfg.hits_k).unwrap();
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
        let m = LinkModel::new(&v.model_config(), 5, v.seed).unwrap();
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
        let m = LinkModel::new(&cfg.model_config(), data.x.dim(), cfg.seed).unwrap();
        let g = &data.split.train_graph;
        let e = m.encode(g, &data.x, &mut Ctx::eval()).unwrap();
        assert_eq!(crate::testing::vec(&e.z), crate::testing::vec(e.mu.as_ref().unwrap()));
        let t = m.encode(g, &data.x, &mut Ctx::train(crate::rng::seeded(0))).unwrap();
        assert_ne!(crate::testing::vec(&t.z), crate::testing::vec(t.mu.as_ref().unwrap()));
        // KL by hand: row 1: (1 + 0 - 1 - 1) + (1 + 2 ln 2 - 0 - 4); row 2: 0 -> -1/2 · mean.
        let mu = Tensor::new(&[[1f32, 0.0], [0.0, 0.0]], &candle_core::Device::Cpu).unwrap();
        let ls = Tensor::new(&[[0f32, 2f32.ln()], [0.0, 0.0]], &candle_core::Device::Cpu).unwrap();
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

    #[test]
    fn an_interrupted_run_resumes_with_the_same_negatives() {
        let ds = load_karate_builtin().unwrap();
        let cfg = LinkTrainConfig { variational: true, ..karate_cfg(12) };
        let data = LinkData::prepare(&ds, &cfg).unwrap();
        let (straight, _) = train(&data, &cfg, &mut |_| {}).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("link.state");
        let stop = std::sync::atomic::AtomicBool::new(false);
        let mut at_five = |log: &LinkEpochLog| stop.store(log.epoch == 4, std::sync::atomic::Ordering::SeqCst);
        let hooks = Hooks { on_epoch: Some(&mut at_five), state_file: Some(state.clone()), stop: Some(&stop), ..Hooks::default() };
        assert!(train_with_hooks(&data, &cfg, hooks).is_err());
        let (resumed, _) = train_with_hooks(&data, &cfg, Hooks { resume: Some(state), ..Hooks::default() }).unwrap();
        let bits = |r: &LinkRunResult| r.history.iter().map(|h| (h.loss.to_bits(), h.val_auc.to_bits())).collect::<Vec<_>>();
        assert_eq!(bits(&straight), bits(&resumed));
        assert_eq!(straight.test, resumed.test);
    }
}
