//! Self-supervised pretraining of a node encoder, and what fine-tuning reads
//! back: the encoder's configuration, its input description and its weights.
//!
//! An encoder is a registered architecture built *headless* (every layer
//! hidden, the output the last layer's activation: [`GnnConfig::headless`]),
//! under the parameter prefix `encoder.`. The objectives ([`objectives`]) are
//! masked features (GraphMAE), masked edges (MaskGAE) and generation
//! (GPT-GNN's attribute + edge factorisation), joined with weights. Every
//! epoch draws fresh masks from the training generator (seeded, saved with a
//! training state). One large graph trains full-batch; a collection of graphs
//! (TU datasets, molecules from SMILES) trains in mini-batches. A curriculum
//! ([`crate::train::curriculum`]) may restrict each epoch to the easiest share
//! of the seed nodes or graphs, growing by its pacing function.
//!
//! The input is described by [`InputKind`]: continuous features of a width
//! (masked reconstruction by scaled cosine error), or categorical types with
//! names (one-hot atom types of the shared [`AtomVocab`]: cross-entropy), so
//! that fine-tuning can check that its data speaks the same vocabulary.

pub mod objectives;

pub use objectives::{DecoderKind, Objective, OBJECTIVES};

use crate::chem::AtomVocab;
use crate::data::{loader::collate, GraphDataset, GraphSample, TuOptions};
use crate::graph::{Graph, SmallGraph};
use crate::models::graph_classifier::{global_pool, Pooling};
use crate::models::registry::{ModelArgs, ModelRegistry};
use crate::models::{Activation, GnnConfig, ModelKind};
use crate::nn::{Ctx, Module, NodeInput, Params};
use crate::rng::derive;
use crate::train::{Batches, Evaluation, FullGraphEpoch, Hooks, LrSchedule, OptimizerConfig, Trainer, TrainerConfig};
use crate::{Error, Result};
use candle_core::Tensor;
use objectives::{Heads, Sample};
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

/// What the encoder reads: continuous features, or one-hot categorical types.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputKind {
    /// Feature vectors of this width (reconstructed by scaled cosine error).
    Continuous { width: usize },
    /// One-hot types with these names, in order (reconstructed by cross-entropy).
    Categorical { names: Vec<String> },
}

impl InputKind {
    /// The input width.
    pub fn width(&self) -> usize {
        match self {
            InputKind::Continuous { width } => *width,
            InputKind::Categorical { names } => names.len(),
        }
    }
    /// The shared molecular vocabulary's atom types.
    pub fn molecular() -> InputKind {
        InputKind::Categorical { names: AtomVocab::standard().type_names() }
    }
    /// `Ok` when `data` is what an encoder pretrained on `self` can read; else
    /// an error naming what differs and the fix.
    ///
    /// # Errors
    /// [`Error::Config`] naming the first difference.
    pub fn check_compatible(&self, data: &InputKind, dataset: &str) -> Result<()> {
        match (self, data) {
            (a, b) if a == b => Ok(()),
            (InputKind::Continuous { width: a }, InputKind::Continuous { width: b }) => Err(Error::config(
                "pretrained",
                format!("encoder input width {a}, dataset '{dataset}' has {b} features"),
                "fine-tune on data with the pretraining features, or pretrain on this dataset",
            )),
            (InputKind::Categorical { names: a }, InputKind::Categorical { names: b }) => {
                let i = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
                Err(Error::config(
                    "pretrained",
                    format!(
                        "vocabulary differs at type {i}: encoder '{}', data '{}' ({} vs {} types)",
                        a.get(i).map_or("-", |s| s),
                        b.get(i).map_or("-", |s| s),
                        a.len(),
                        b.len()
                    ),
                    "map the data into the encoder's vocabulary (molecules: the shared AtomVocab)",
                ))
            }
            (InputKind::Categorical { .. }, InputKind::Continuous { .. }) => Err(Error::config(
                "pretrained",
                format!("the encoder reads atom types, dataset '{dataset}' gives continuous features"),
                "fine-tune with --transfer molecules (a TU dataset with a `Node labels:` table of elements), or pretrain on this dataset",
            )),
            (InputKind::Continuous { .. }, InputKind::Categorical { .. }) => Err(Error::config(
                "pretrained",
                format!("the encoder reads continuous features, dataset '{dataset}' is given as atom types"),
                "drop --transfer, or pretrain on molecules",
            )),
        }
    }
}

/// Whether the data is one graph (node level) or many (graph level).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Node,
    Graph,
}

/// Everything that defines a pretraining run (the run file's `[train]` table).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    /// The encoder (built headless; `model` is set from `--model`).
    pub encoder: GnnConfig,
    /// The objectives (default: mask-feature).
    pub objectives: Vec<Objective>,
    /// Weight of each objective's loss by name (default 1 each).
    pub weights: BTreeMap<String, f64>,
    /// Share of nodes masked afresh every epoch (default 0.15), in (0, 1).
    pub mask_rate: f64,
    /// Share of the masked nodes given another node's input instead of the token (default 0).
    pub replace_rate: f64,
    /// Exponent α of the scaled cosine error (default 2).
    pub alpha: f64,
    /// Share of edges hidden afresh every epoch (mask-edge; generative: of the generated nodes' edges to observed ones). Default 0.15.
    pub edge_mask_rate: f64,
    /// Share of nodes generated (generative). Default 0.15.
    pub gen_fraction: f64,
    /// The masked-feature decoder (default: GAT for one graph, GIN for collections).
    pub decoder: Option<DecoderKind>,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    /// Epochs (default 200).
    pub epochs: usize,
    /// Graphs per batch (collections; default 64).
    pub batch_size: usize,
    /// Seed of initialisation, masks and batching (default 0).
    pub seed: u64,
    /// Row-normalise node features of one graph (default true, as the node task).
    pub normalize_features: bool,
    /// How TU files become features (collections).
    pub features: TuOptions,
    /// Pooling of node embeddings into a graph embedding (default sum).
    pub pooling: Pooling,
    /// Use at most this many graphs of a molecule set (default: all of the training part).
    pub max_graphs: Option<usize>,
    /// Read a TU dataset as molecules of the shared vocabulary (its README's label tables).
    pub molecular: bool,
    /// Easy-to-hard sampling (default off).
    pub curriculum: Option<crate::train::CurriculumConfig>,
    /// One graph: pretrain on the training edges of the link task's split
    /// (its recipe's split fractions, split seed = `seed`), so that a later
    /// link-prediction fine-tune never lets the encoder see its validation or
    /// test edges (default false: every edge).
    pub link_split: bool,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        PretrainConfig::recipe(Level::Node)
    }
}

impl PretrainConfig {
    /// The default recipe: GraphMAE's GAT for one large graph, its GIN for collections.
    pub fn recipe(level: Level) -> PretrainConfig {
        let mut encoder = GnnConfig::recipe(if level == Level::Node { ModelKind::Gat } else { ModelKind::Gin });
        encoder.headless = true;
        encoder.activation = Activation::Prelu;
        match level {
            Level::Node => {
                encoder.hidden_dim = 128;
                encoder.heads = 4;
                encoder.dropout = 0.2;
                encoder.attn_dropout = 0.1;
                encoder.gat_feature_dropout = 0.0;
            }
            Level::Graph => {
                encoder.hidden_dim = 32;
                encoder.num_layers = 3;
                encoder.dropout = 0.2;
                encoder.batch_norm = true;
                encoder.norm = true;
            }
        }
        PretrainConfig {
            encoder,
            objectives: vec![Objective::MaskFeature],
            weights: BTreeMap::new(),
            mask_rate: 0.15,
            replace_rate: 0.0,
            alpha: 2.0,
            edge_mask_rate: 0.15,
            gen_fraction: 0.15,
            decoder: None,
            optimizer: OptimizerConfig::adam(0.001),
            schedule: LrSchedule::default(),
            epochs: 200,
            batch_size: 64,
            seed: 0,
            normalize_features: true,
            features: TuOptions::default(),
            pooling: Pooling::Sum,
            max_graphs: None,
            molecular: false,
            curriculum: None,
            link_split: false,
        }
    }
    /// The decoder in effect.
    pub fn decoder_kind(&self, level: Level) -> DecoderKind {
        self.decoder.unwrap_or(if level == Level::Node { DecoderKind::Gat } else { DecoderKind::Gin })
    }
    /// The weight of `o`.
    pub fn weight(&self, o: Objective) -> f64 {
        self.weights.get(o.name()).copied().unwrap_or(1.0)
    }
    /// Check every value.
    ///
    /// # Errors
    /// [`Error::Config`] naming the setting and its allowed range.
    pub fn validate(&self) -> Result<()> {
        self.encoder.validate()?;
        self.optimizer.validate()?;
        self.schedule.validate()?;
        for (name, v) in [("mask_rate", self.mask_rate), ("edge_mask_rate", self.edge_mask_rate), ("gen_fraction", self.gen_fraction)] {
            if !(v > 0.0 && v < 1.0) {
                return Err(Error::config(name, v, "must be in (0, 1), exclusive: a share of the nodes or edges"));
            }
        }
        if !(0.0..1.0).contains(&self.replace_rate) {
            return Err(Error::config("replace_rate", self.replace_rate, "must be in [0, 1)"));
        }
        if !(self.alpha.is_finite() && self.alpha >= 1.0) {
            return Err(Error::config("alpha", self.alpha, "the scaled cosine error's exponent must be >= 1"));
        }
        if self.objectives.is_empty() {
            return Err(Error::config("objectives", "[]", "name at least one objective"));
        }
        for (k, w) in &self.weights {
            if !OBJECTIVES.contains(&k.as_str()) {
                return Err(Error::unknown("objective (in [train.weights])", k, OBJECTIVES));
            }
            if !(w.is_finite() && *w >= 0.0) {
                return Err(Error::config(format!("weights.{k}"), w, "must be a finite number >= 0"));
            }
        }
        if self.epochs == 0 {
            return Err(Error::config("epochs", 0, "train for at least one epoch"));
        }
        if self.batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        if let Some(c) = &self.curriculum {
            c.validate()?;
        }
        Ok(())
    }
}

/// Data to pretrain on.
pub enum PretrainData {
    /// One graph: its features as the encoder's constant input and as dense rows.
    Node { name: String, graph: Graph, x: NodeInput, dense: Vec<f32>, kind: InputKind },
    /// Many graphs (features per graph in `GraphSample::x`).
    Graphs { ds: GraphDataset, kind: InputKind },
}

impl PretrainData {
    /// Node or graph level.
    pub fn level(&self) -> Level {
        match self {
            PretrainData::Node { .. } => Level::Node,
            PretrainData::Graphs { .. } => Level::Graph,
        }
    }
    /// The input description.
    pub fn kind(&self) -> &InputKind {
        match self {
            PretrainData::Node { kind, .. } | PretrainData::Graphs { kind, .. } => kind,
        }
    }
    /// The dataset name.
    pub fn name(&self) -> &str {
        match self {
            PretrainData::Node { name, .. } => name,
            PretrainData::Graphs { ds, .. } => &ds.name,
        }
    }
    /// Nodes (one graph) or graphs (a collection).
    pub fn num_samples(&self) -> usize {
        match self {
            PretrainData::Node { graph, .. } => graph.num_nodes(),
            PretrainData::Graphs { ds, .. } => ds.graphs.len(),
        }
    }
}

/// Molecules as a graph dataset: one-hot atom types of `vocab` as features,
/// bond types as edge types, `labels` (or 0) as graph labels.
///
/// # Errors
/// Graph construction errors.
pub fn molecule_dataset(name: &str, graphs: &[SmallGraph], labels: Option<&[usize]>, vocab: &AtomVocab) -> Result<GraphDataset> {
    let t = vocab.num_atom_types();
    let samples = graphs
        .iter()
        .enumerate()
        .map(|(i, sg)| {
            let mut x = vec![0f32; sg.num_nodes() * t];
            for (r, &ty) in sg.node_types.iter().enumerate() {
                x[r * t + (ty as usize).min(t - 1)] = 1.0;
            }
            Ok(GraphSample { graph: sg.to_graph(crate::chem::NUM_BOND_TYPES)?, x, y: labels.map_or(0, |l| l[i]) })
        })
        .collect::<Result<Vec<_>>>()?;
    let num_classes = labels.map_or(1, |l| l.iter().copied().max().map_or(1, |m| m + 1));
    Ok(GraphDataset { name: name.into(), graphs: samples, num_node_features: t, num_classes, source: std::path::PathBuf::new(), folds_file: None })
}

/// The level [`load_data`] gives `name`: molecules and TU datasets are collections, the rest one graph.
pub fn data_level(data_dir: &std::path::Path, name: &str) -> Level {
    let key = name.trim().to_ascii_lowercase();
    if key == "qm9" || key == "moses" || data_dir.join(name).join(format!("{name}_A.txt")).exists() {
        Level::Graph
    } else {
        Level::Node
    }
}

/// Load `name` from `data_dir` for pretraining: `qm9` / `moses` (molecules
/// from SMILES, the training part of the generation split), a TU dataset
/// (as molecules when `cfg.molecular`), or a one-graph node dataset.
///
/// # Errors
/// Data errors naming the file.
pub fn load_data(data_dir: &std::path::Path, name: &str, cfg: &PretrainConfig) -> Result<(PretrainData, Vec<String>)> {
    let key = name.trim().to_ascii_lowercase();
    let vocab = AtomVocab::standard();
    if key == "qm9" || key == "moses" {
        let gcfg = crate::tasks::generate::GenerateTrainConfig { max_train: cfg.max_graphs, seed: cfg.seed, ..Default::default() };
        let gd = crate::tasks::generate::load_generation_data(data_dir, &key, &gcfg)?;
        let mut notes = gd.notes.clone();
        notes.push(format!("pretraining on the {} training molecules of {key} (its validation and test molecules are not seen)", gd.train.len()));
        let ds = molecule_dataset(&key, &gd.train, None, &vocab)?;
        return Ok((PretrainData::Graphs { ds, kind: InputKind::molecular() }, notes));
    }
    if data_dir.join(name).join(format!("{name}_A.txt")).exists() {
        if cfg.molecular {
            let (ds, notes) = tu_molecule_dataset(data_dir, name, &vocab)?;
            return Ok((PretrainData::Graphs { ds, kind: InputKind::molecular() }, notes));
        }
        let ds = crate::data::tu::load_tu(data_dir, name, &cfg.features)?;
        let kind = InputKind::Continuous { width: ds.num_node_features };
        return Ok((PretrainData::Graphs { ds, kind }, Vec::new()));
    }
    let ds = crate::data::registry::load_node_dataset(data_dir, name)?;
    let (mut graph, x) = crate::tasks::node::NodeData::inputs(&ds, cfg.normalize_features)?;
    let mut notes = Vec::new();
    if cfg.link_split {
        let split = link_pretrain_split(&ds, cfg.seed)?;
        notes.push(format!(
            "pretraining on the {} training edges of the link split (split seed {}): its {} validation and {} test edges are never seen",
            split.train_pos.len(),
            cfg.seed,
            split.val_pos.len(),
            split.test_pos.len()
        ));
        graph = split.train_graph;
    }
    let dense = x.to_tensor()?.flatten_all()?.to_vec1::<f32>()?;
    let kind = InputKind::Continuous { width: x.dim() };
    Ok((PretrainData::Node { name: ds.name.clone(), graph, x, dense, kind }, notes))
}

/// The link task's edge split (its recipe's fractions) with split seed `seed`.
///
/// # Errors
/// Split errors (a graph too small for the fractions).
pub fn link_pretrain_split(ds: &crate::data::NodeDataset, seed: u64) -> Result<crate::data::edge_split::EdgeSplit> {
    let lc = crate::tasks::link::LinkTrainConfig { seed, ..Default::default() };
    crate::data::edge_split::split_edges(&ds.graph, &lc.split, lc.split_seed())
}

/// A TU dataset of molecules in the shared vocabulary (labels mapped through
/// its README's tables, aromatic bonds kekulised), with notes on what the
/// mapping did.
///
/// # Errors
/// [`Error::Parse`] when the README has no usable `Node labels:` table.
pub fn tu_molecule_dataset(data_dir: &std::path::Path, name: &str, vocab: &AtomVocab) -> Result<(GraphDataset, Vec<String>)> {
    let m = crate::chem::tu::tu_molecules(data_dir, name, vocab)?;
    let notes = vec![format!(
        "{name} read as molecules of the shared vocabulary: {} graphs, {} kekulisation failures (bonds left single), {} atoms of type other, {} atoms given nitro-group charges",
        m.graphs.len(),
        m.kekulise_failures,
        m.other_atoms,
        m.charged_atoms
    )];
    let mut ds = molecule_dataset(name, &m.graphs, Some(&m.labels), vocab)?;
    ds.source = data_dir.join(name);
    Ok((ds, notes))
}

/// Build the encoder `model` (`gcn`, `gat`, `sage`, `gin` headless from
/// `cfg`, or any registered model with output width `hidden_dim`) under `p`.
/// Returns it and its output width.
///
/// # Errors
/// [`Error::UnknownName`] for an unregistered model; configuration errors.
pub fn build_encoder(encoder: &GnnConfig, model: &str, in_dim: usize, p: &Params, registry: &ModelRegistry) -> Result<(Box<dyn Module>, usize)> {
    if let Ok(kind) = model.parse::<ModelKind>() {
        let cfg = GnnConfig { model: kind, headless: true, ..encoder.clone() };
        let gnn = cfg.init(in_dim, encoder.hidden_dim, p)?;
        let out = gnn.out_dim();
        return Ok((Box::new(gnn), out));
    }
    let entry = registry.get(model)?;
    let args = ModelArgs {
        in_dim,
        out_dim: encoder.hidden_dim,
        hidden_dim: encoder.hidden_dim,
        num_layers: encoder.num_layers,
        dropout: encoder.dropout,
        options: serde_json::Value::Null,
    };
    Ok((entry.build(&args, p)?, encoder.hidden_dim))
}

/// One epoch's row.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PretrainLog {
    pub epoch: usize,
    /// Weighted sum of the objectives, mean over the epoch's batches.
    pub loss: f64,
    pub lr: f64,
    pub step_ms: f64,
    /// Share of the samples the epoch used (1 without a curriculum).
    pub active_fraction: f64,
}

/// A pretrained encoder and how it was trained.
pub struct Pretrained {
    pub params: Params,
    pub encoder: Box<dyn Module>,
    pub out_dim: usize,
    pub history: Vec<PretrainLog>,
    /// Wall time of training, seconds.
    pub seconds: f64,
    /// Nodes (one graph) or graphs (collections) processed per second of training.
    pub throughput: f64,
}

/// The per-epoch active samples: all, or the curriculum's easiest share.
struct Schedule {
    order: Vec<usize>,
    curriculum: Option<crate::train::Curriculum>,
}

impl Schedule {
    fn active(&self, epoch: usize) -> Vec<usize> {
        match &self.curriculum {
            None => self.order.clone(),
            Some(c) => {
                let mut a = c.active(epoch).to_vec();
                a.sort_unstable();
                a
            }
        }
    }
}

fn schedule_for(data: &PretrainData, cfg: &PretrainConfig) -> Result<Schedule> {
    let n = data.num_samples();
    let curriculum = match &cfg.curriculum {
        None => None,
        Some(c) => {
            let scores = match data {
                PretrainData::Node { graph, .. } => {
                    let nodes: Vec<usize> = (0..n).collect();
                    crate::train::curriculum::node_difficulty(graph, &c.difficulty, &nodes, &Default::default())?
                }
                PretrainData::Graphs { ds, .. } => {
                    let gs: Vec<&Graph> = ds.graphs.iter().map(|s| &s.graph).collect();
                    crate::train::curriculum::graph_difficulty(&gs, &c.difficulty, None)?
                }
            };
            Some(crate::train::Curriculum::new(c.clone(), scores, cfg.epochs)?)
        }
    };
    Ok(Schedule { order: (0..n).collect(), curriculum })
}

/// Mini-batches over the epoch's active graphs, shuffled by (seed, epoch).
struct ActiveGraphBatches<'a> {
    ds: &'a GraphDataset,
    schedule: &'a Schedule,
    batch_size: usize,
    seed: u64,
}

impl Batches for ActiveGraphBatches<'_> {
    type Batch = crate::data::loader::GraphBatch;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&Self::Batch) -> Result<()>) -> Result<()> {
        let mut ids = self.schedule.active(epoch);
        ids.shuffle(&mut derive(self.seed, 1000 + epoch as u64));
        for chunk in ids.chunks(self.batch_size) {
            step(&collate(self.ds, chunk)?)?;
        }
        Ok(())
    }
}

fn objective_loss<E: Module + ?Sized>(cfg: &PretrainConfig, kind: &InputKind, enc: &E, heads: &Heads, s: &Sample, ctx: &mut Ctx) -> Result<Tensor> {
    let mut total: Option<Tensor> = None;
    for &o in &cfg.objectives {
        let w = cfg.weight(o);
        if w == 0.0 {
            continue;
        }
        let l = match o {
            Objective::MaskFeature => objectives::mask_feature(cfg, kind, enc, heads, s, ctx)?,
            Objective::MaskEdge => objectives::mask_edge(cfg, enc, heads, s, ctx)?,
            Objective::Generative => objectives::generative(cfg, kind, enc, heads, s, ctx)?,
        };
        let l = (l * w)?;
        total = Some(match total {
            None => l,
            Some(t) => (t + l)?,
        });
    }
    total.ok_or_else(|| Error::config("weights", "all 0", "give at least one objective a weight > 0"))
}

/// Pretrain encoder `model` on `data` with `cfg` (hooks: progress, resumable
/// state, stop flag).
///
/// # Errors
/// Configuration errors; [`Error::Config`] when the loss diverges.
pub fn pretrain(data: &PretrainData, cfg: &PretrainConfig, model: &str, registry: &ModelRegistry, hooks: Hooks<'_, PretrainLog>) -> Result<Pretrained> {
    cfg.validate()?;
    let level = data.level();
    let kind = data.kind().clone();
    let params = Params::new(cfg.seed);
    let (encoder, out_dim) = build_encoder(&cfg.encoder, model, kind.width(), &params.pp("encoder"), registry)?;
    let mut cfg = cfg.clone();
    cfg.decoder = Some(cfg.decoder_kind(level));
    let heads = Heads::new(&cfg, kind.width(), out_dim, &params)?;
    let mut opt = cfg.optimizer.build(vec![cfg.optimizer.group("all", params.trainable())])?;
    let schedule = schedule_for(data, &cfg)?;
    let tc = TrainerConfig::new(cfg.epochs).with_schedule(cfg.schedule.clone());
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let start = std::time::Instant::now();
    let enc = encoder.as_ref();
    let (fit, processed) = match data {
        PretrainData::Node { graph, x, dense, .. } => {
            let ptr = [0, graph.num_nodes()];
            let n = graph.num_nodes().max(1) as f64;
            let mut loss = |&epoch: &usize, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
                let cand = schedule.active(epoch);
                let s = Sample { graph, x, dense, node_ptr: &ptr, candidates: &cand };
                Ok((objective_loss(&cfg, &kind, enc, &heads, &s, ctx)?, 1.0))
            };
            let mut eval = |st: &crate::train::EpochStats| -> Result<Evaluation<PretrainLog>> {
                let frac = schedule.active(st.epoch).len() as f64 / n;
                Ok(Evaluation { log: PretrainLog { epoch: st.epoch, loss: st.loss, lr: st.lr, step_ms: st.step_ms, active_fraction: frac }, score: None })
            };
            let fit = Trainer::new(tc).with_hooks(hooks)?.describe("of pretraining").fit(
                &params,
                opt.as_mut(),
                &mut ctx,
                &mut FullGraphEpoch,
                &mut loss,
                &mut eval,
            )?;
            let processed = fit.history.iter().map(|h| h.active_fraction * graph.num_nodes() as f64).sum::<f64>();
            (fit, processed)
        }
        PretrainData::Graphs { ds, .. } => {
            let mut batches = ActiveGraphBatches { ds, schedule: &schedule, batch_size: cfg.batch_size, seed: cfg.seed };
            let mut loss = |b: &crate::data::loader::GraphBatch, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
                let x = crate::tasks::graph::batch_input(b)?;
                let all: Vec<usize> = (0..b.num_nodes()).collect();
                let s = Sample { graph: &b.batch.graph, x: &x, dense: &b.x, node_ptr: &b.batch.node_ptr, candidates: &all };
                Ok((objective_loss(&cfg, &kind, enc, &heads, &s, ctx)?, b.num_graphs() as f64))
            };
            let n = ds.graphs.len().max(1) as f64;
            let mut eval = |st: &crate::train::EpochStats| -> Result<Evaluation<PretrainLog>> {
                let frac = schedule.active(st.epoch).len() as f64 / n;
                Ok(Evaluation { log: PretrainLog { epoch: st.epoch, loss: st.loss, lr: st.lr, step_ms: st.step_ms, active_fraction: frac }, score: None })
            };
            let fit = Trainer::new(tc).with_hooks(hooks)?.on_worker(true).describe("of pretraining").fit(
                &params,
                opt.as_mut(),
                &mut ctx,
                &mut batches,
                &mut loss,
                &mut eval,
            )?;
            let processed = fit.history.iter().map(|h| h.active_fraction * n).sum::<f64>();
            (fit, processed)
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let train_s: f64 = fit.stats.iter().map(|s| s.step_ms).sum::<f64>() / 1000.0;
    Ok(Pretrained { params, encoder, out_dim, history: fit.history, seconds, throughput: processed / train_s.max(1e-9) })
}

/// Node embeddings `[n, d]` of one graph, in evaluation mode.
///
/// # Errors
/// Shape errors from the encoder.
pub fn embed_nodes(encoder: &dyn Module, g: &Graph, x: &NodeInput) -> Result<Tensor> {
    encoder.forward(g, x, &mut Ctx::eval())
}

/// Graph embeddings (row-major `[graphs, d]`) of the graphs of `ds`: the encoder's node
/// outputs pooled per graph, in evaluation mode.
///
/// # Errors
/// Shape errors from the encoder.
pub fn embed_graphs(encoder: &dyn Module, ds: &GraphDataset, pooling: Pooling) -> Result<(Vec<f32>, usize)> {
    let ids: Vec<usize> = (0..ds.graphs.len()).collect();
    let mut out = Vec::new();
    let mut d = 0;
    for chunk in ids.chunks(128) {
        let b = collate(ds, chunk)?;
        let x = crate::tasks::graph::batch_input(&b)?;
        let h = encoder.forward(&b.batch.graph, &x, &mut Ctx::eval())?;
        let pooled = global_pool(&b.batch, &h, pooling)?;
        d = pooled.dims2()?.1;
        out.extend(pooled.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok((out, d))
}

/// What a pretrained checkpoint says about its encoder (`encoding` of its metadata).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderSpec {
    /// The architecture's registry name.
    pub model: String,
    /// The encoder's configuration.
    pub encoder: GnnConfig,
    /// What it reads.
    pub input: InputKind,
    /// Output width.
    pub out_dim: usize,
    /// Node or graph level pretraining.
    pub level: Level,
    /// Pooling used for graph embeddings.
    pub pooling: Pooling,
    /// `Some(seed)`: pretrained on the training edges of the link split with this split seed only.
    #[serde(default)]
    pub link_split_seed: Option<u64>,
}

/// Write the encoder of `p` (tensors `encoder.*`) with its [`EncoderSpec`] atomically.
///
/// # Errors
/// IO errors naming the file.
pub fn save_encoder(path: &std::path::Path, p: &Pretrained, spec: &EncoderSpec, dataset: &str, cfg: &PretrainConfig) -> Result<()> {
    let tensors: Vec<(String, Tensor)> =
        p.params.all().into_iter().filter(|(n, _)| n.starts_with("encoder.")).map(|(n, v)| (n, v.as_tensor().clone())).collect();
    let buffers: Vec<String> = p.params.buffer_names().into_iter().filter(|n| n.starts_with("encoder.")).collect();
    let meta = crate::run::CheckpointMeta {
        version: crate::run::META_VERSION,
        task: "pretrain".into(),
        model: spec.model.clone(),
        dataset: dataset.into(),
        in_dim: spec.input.width(),
        num_classes: None,
        train: serde_json::to_value(cfg)?,
        encoding: serde_json::to_value(spec)?,
        model_options: serde_json::Value::Null,
    };
    crate::checkpoint::save_tensors_with_buffers(path, &tensors, &buffers, crate::checkpoint::KIND_MODEL, &meta.to_json())
}

/// A pretrained encoder read back from its checkpoint.
pub struct LoadedEncoder {
    pub spec: EncoderSpec,
    pub dataset: String,
    pub checkpoint: crate::checkpoint::Checkpoint,
    pub path: std::path::PathBuf,
}

/// Read a pretrained encoder checkpoint.
///
/// # Errors
/// [`Error::Checkpoint`] when the file is not a pretrained encoder.
pub fn load_encoder(path: &std::path::Path) -> Result<LoadedEncoder> {
    let ck = crate::checkpoint::load(path)?;
    let meta = crate::run::CheckpointMeta::from_checkpoint(path, &ck)?;
    if meta.task != "pretrain" {
        return Err(Error::Checkpoint {
            path: path.into(),
            msg: format!("is a {} checkpoint, not a pretrained encoder; pass a file written by `autoglm pretrain --checkpoint`", meta.task),
        });
    }
    let spec: EncoderSpec = serde_json::from_value(meta.encoding.clone())
        .map_err(|e| Error::Checkpoint { path: path.into(), msg: format!("its encoder description is unreadable ({e}); pretrain it again") })?;
    Ok(LoadedEncoder { spec, dataset: meta.dataset, checkpoint: ck, path: path.into() })
}

impl LoadedEncoder {
    /// Build the encoder under `p` (its parameters `p.path("encoder") + ...`)
    /// and put the pretrained weights in. Every pretrained tensor must find a
    /// parameter of the same name and shape, and every encoder parameter must
    /// be in the file.
    ///
    /// # Errors
    /// [`Error::Checkpoint`] naming a missing or mismatched tensor.
    pub fn build_into(&self, p: &Params, registry: &ModelRegistry) -> Result<Box<dyn Module>> {
        let ep = p.pp("encoder");
        let (enc, _) = build_encoder(&self.spec.encoder, &self.spec.model, self.spec.input.width(), &ep, registry)?;
        let prefix = ep.path("");
        let prefix = prefix.trim_end_matches('.');
        let have: BTreeMap<String, Vec<usize>> = ep.all().into_iter().map(|(n, v)| (n, v.dims().to_vec())).collect();
        for (name, t) in &self.checkpoint.tensors {
            let local = name.strip_prefix("encoder.").unwrap_or(name);
            let full = format!("{prefix}.{local}");
            match have.get(&full) {
                None => {
                    return Err(Error::Checkpoint {
                        path: self.path.clone(),
                        msg: format!(
                            "tensor {name} has no place in the {} encoder built from its configuration; the file was edited or written by another version",
                            self.spec.model
                        ),
                    })
                }
                Some(d) if d.as_slice() != t.dims() => {
                    return Err(Error::Checkpoint { path: self.path.clone(), msg: format!("tensor {name} is {:?}, the encoder expects {d:?}", t.dims()) })
                }
                Some(_) => p.insert(&full, t, self.checkpoint.buffers.contains(name))?,
            }
        }
        let loaded: std::collections::HashSet<String> =
            self.checkpoint.tensors.iter().map(|(n, _)| n.strip_prefix("encoder.").unwrap_or(n).to_string()).collect();
        if let Some(missing) = have.keys().find(|k| !loaded.contains(k.strip_prefix(&format!("{prefix}.")).unwrap_or(k))) {
            return Err(Error::Checkpoint { path: self.path.clone(), msg: format!("has no tensor for encoder parameter {missing}; pretrain it again") });
        }
        Ok(enc)
    }
}

/// A [`Linear`](crate::nn::Linear) as a graph-agnostic [`Module`] (a head on embeddings).
pub struct LinearModule(pub crate::nn::Linear);

impl Module for LinearModule {
    fn forward(&self, _g: &Graph, x: &NodeInput, _ctx: &mut Ctx) -> Result<Tensor> {
        self.0.forward_input(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::CsrMatrix;
    use crate::nn::MaskedInput;
    use crate::ops::SparseInput;
    use candle_core::{Device, Var};

    fn dense(rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0).collect()
    }

    #[test]
    fn masked_input_matmul_is_the_dense_formula_and_reaches_the_token() {
        let (n, f, o) = (5, 4, 3);
        let x = dense(n, f);
        let w = Tensor::from_vec(dense(f, o), (f, o), &Device::Cpu).unwrap();
        let token = Var::from_tensor(&Tensor::from_vec(vec![0.5f32, -1.0, 2.0, 0.25], (1, f), &Device::Cpu).unwrap()).unwrap();
        let masked = [1usize, 3];
        let copied = [(4usize, 0usize)];
        // the dense reference: rows 1, 3 are the token, row 4 is row 0
        let mut reference = x.clone();
        for &m in &masked {
            reference[m * f..(m + 1) * f].copy_from_slice(&[0.5, -1.0, 2.0, 0.25]);
        }
        reference.copy_within(0..f, 4 * f);
        let want = Tensor::from_vec(reference, (n, f), &Device::Cpu).unwrap().matmul(&w).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let inputs = [
            NodeInput::Dense(Tensor::from_vec(x.clone(), (n, f), &Device::Cpu).unwrap()),
            NodeInput::Sparse(SparseInput::new(CsrMatrix::from_dense(n, f, &x))),
        ];
        for base in &inputs {
            let mi = NodeInput::Masked(MaskedInput::new(base, &masked, &copied, token.as_tensor()).unwrap());
            let y = mi.matmul(&w).unwrap();
            let got = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{got:?} vs {want:?}");
            }
            // d(sum y)/d token = (number of token rows) * row sums of W
            let g = y.sum_all().unwrap().backward().unwrap();
            let gt = g.get(token.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let wv = dense(f, o);
            for (k, v) in gt.iter().enumerate() {
                let row: f32 = wv[k * o..(k + 1) * o].iter().sum();
                assert!((v - 2.0 * row).abs() < 1e-5, "{gt:?}");
            }
        }
        // a bad token shape or row id is an error, not a panic
        let bad = Tensor::zeros((1, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(MaskedInput::new(&inputs[0], &masked, &[], &bad).is_err());
        assert!(MaskedInput::new(&inputs[0], &[9], &[], token.as_tensor()).is_err());
    }

    #[test]
    fn objectives_parse_and_validate() {
        assert_eq!(Objective::parse_list("mask-feature+mask_edge").unwrap(), vec![Objective::MaskFeature, Objective::MaskEdge]);
        let e = Objective::parse_list("mask-feature+nope").unwrap_err().to_string();
        assert!(e.contains("nope") && e.contains("generative"), "{e}");
        assert!(Objective::parse_list("generative+generative").is_err());
        let mut c = PretrainConfig::recipe(Level::Graph);
        for bad in [0.0, 1.0, -0.1, f64::NAN] {
            c.mask_rate = bad;
            assert!(c.validate().unwrap_err().to_string().contains("mask_rate"));
        }
        c.mask_rate = 0.3;
        c.weights.insert("mask-nodes".into(), 1.0);
        assert!(c.validate().unwrap_err().to_string().contains("mask-nodes"));
    }

    #[test]
    fn incompatible_inputs_say_what_differs() {
        let mol = InputKind::molecular();
        let mut other = AtomVocab::standard().type_names();
        other.swap(0, 1);
        let e = mol.check_compatible(&InputKind::Categorical { names: other }, "X").unwrap_err().to_string();
        assert!(e.contains("vocabulary differs at type 0"), "{e}");
        let e = mol.check_compatible(&InputKind::Continuous { width: 7 }, "MUTAG").unwrap_err().to_string();
        assert!(e.contains("reads atom types") && e.contains("MUTAG"), "{e}");
        let e = InputKind::Continuous { width: 34 }.check_compatible(&InputKind::Continuous { width: 7 }, "MUTAG").unwrap_err().to_string();
        assert!(e.contains("width 34") && e.contains("7 features"), "{e}");
        assert!(mol.check_compatible(&InputKind::molecular(), "MUTAG").is_ok());
    }

    #[test]
    fn low_label_choice_is_per_class_and_seeded() {
        let y: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let train: Vec<usize> = (0..30).collect();
        let cfg = crate::tasks::node::NodeTrainConfig { labels_per_class: Some(4), ..Default::default() };
        let a = cfg.low_label_train(&train, &y, 3, 60);
        assert_eq!(a.len(), 12);
        for c in 0..3 {
            assert_eq!(a.iter().filter(|&&i| y[i] == c).count(), 4);
        }
        assert!(a.iter().all(|i| train.contains(i)));
        assert_eq!(a, cfg.low_label_train(&train, &y, 3, 60), "same seed, same nodes");
        let b = crate::tasks::node::NodeTrainConfig { seed: 1, ..cfg.clone() }.low_label_train(&train, &y, 3, 60);
        assert_ne!(a, b);
        let rate = crate::tasks::node::NodeTrainConfig { label_rate: Some(0.1), ..Default::default() };
        assert_eq!(rate.low_label_train(&train, &y, 3, 60).len(), 6, "round(0.1 * 60 / 3) = 2 per class");
    }

    #[test]
    fn prefix_groups_split_the_parameters() {
        let p = Params::new(0);
        p.pp("encoder").get("w", &[2], crate::nn::Init::Const(1.0)).unwrap();
        p.pp("encoderx").get("w", &[2], crate::nn::Init::Const(1.0)).unwrap();
        p.pp("head").get("w", &[2], crate::nn::Init::Const(1.0)).unwrap();
        let lrs: BTreeMap<String, f64> = [("encoder".to_string(), 1e-4)].into();
        let groups = OptimizerConfig::adam(1e-2).groups_by_prefix(p.trainable(), &lrs);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].name, "encoder");
        assert_eq!(groups[0].lr, 1e-4);
        assert_eq!(groups[0].vars.len(), 1, "encoderx is not under encoder");
        assert_eq!(groups[1].vars.len(), 2);
        assert_eq!(groups[1].lr, 1e-2);
    }

    #[test]
    fn an_encoder_round_trips_and_a_foreign_tensor_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enc.safetensors");
        let g = Graph::from_edges(4, &[(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2)]).unwrap();
        let x = NodeInput::Dense(Tensor::from_vec(dense(4, 3), (4, 3), &Device::Cpu).unwrap());
        let data = PretrainData::Node { name: "path".into(), graph: g.clone(), x: x.clone(), dense: dense(4, 3), kind: InputKind::Continuous { width: 3 } };
        let mut cfg = PretrainConfig::recipe(Level::Node);
        cfg.encoder.hidden_dim = 4;
        cfg.encoder.heads = 2;
        cfg.epochs = 3;
        cfg.mask_rate = 0.5;
        let reg = ModelRegistry::builtin();
        let p = pretrain(&data, &cfg, "gat", &reg, Hooks::default()).unwrap();
        let spec = EncoderSpec {
            model: "gat".into(),
            encoder: cfg.encoder.clone(),
            input: data.kind().clone(),
            out_dim: p.out_dim,
            level: Level::Node,
            pooling: Pooling::Sum,
            link_split_seed: None,
        };
        save_encoder(&path, &p, &spec, "path", &cfg).unwrap();
        let enc = load_encoder(&path).unwrap();
        assert_eq!(enc.spec, spec);
        let q = Params::new(9);
        let rebuilt = enc.build_into(&q.pp("convs.0"), &reg).unwrap();
        let a = embed_nodes(p.encoder.as_ref(), &g, &x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = embed_nodes(rebuilt.as_ref(), &g, &x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(a, b, "the loaded encoder computes the same embeddings");
        // another configuration than the file's: the tensor that has no place is named
        let mut other = enc;
        other.spec.encoder.hidden_dim = 5;
        let e = other.build_into(&Params::new(0).pp("encoder"), &reg).err().unwrap().to_string();
        assert!(e.contains("tensor encoder.") && e.contains("expects"), "{e}");
    }
}
