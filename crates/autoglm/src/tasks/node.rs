//! Node classification: full-batch training on one graph with a train / val /
//! test node split (the Planetoid protocol), model selection on validation accuracy.

use crate::data::{Features, NodeDataset, Split};
pub use crate::dist::shard::Shard;
use crate::eval::metrics::{accuracy, argmax_rows, macro_f1};
use crate::graph::Graph;
use crate::models::{Gnn, GnnConfig, ModelKind};
use crate::nn::{Ctx, Module, NodeInput, Params};
use crate::ops::SparseInput;
use crate::rng::derive;
use crate::train::loss::{cross_entropy, l1_penalty};
use crate::train::{Evaluation, FullGraphEpoch, Hooks, LrSchedule, OptimizerConfig, Score, Trainer, TrainerConfig};
use crate::{Error, Result};
use candle_core::{Device, Tensor};

/// Everything that defines a node-classification run (serialisable as TOML / JSON).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeTrainConfig {
    pub model: GnnConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: LrSchedule,
    /// Training epochs (default 200).
    pub epochs: usize,
    /// Stop when validation accuracy has not improved for this many epochs (default: off).
    pub patience: Option<usize>,
    /// Cross-entropy label smoothing (default 0).
    pub label_smoothing: f64,
    /// Coefficient of the L1 penalty on all weights (default 0).
    pub l1: f64,
    /// Clip the global gradient norm (default: off).
    pub clip_grad_norm: Option<f64>,
    /// Row-normalise input features, PyG `NormalizeFeatures` (default true).
    pub normalize_features: bool,
    /// Model selection (default `val_acc`): the epoch whose parameters are kept
    /// and whose test metrics are reported.
    pub select: Selection,
    /// Seed of initialisation and dropout (default 0).
    pub seed: u64,
    /// Allow a node in two parts of the split (default false: an error, as it leaks evaluation nodes).
    pub allow_split_overlap: bool,
    /// Learning rates by parameter-name prefix (`encoder = 1e-4`): layer-wise
    /// rates for fine-tuning; the other parameters use the optimiser's rate.
    pub param_groups: std::collections::BTreeMap<String, f64>,
    /// Low-label setting: keep this many training nodes per class, a choice
    /// seeded by `seed` among the split's training nodes (default: all).
    pub labels_per_class: Option<usize>,
    /// Low-label setting: keep `round(label_rate · nodes / classes)` training
    /// nodes per class (CLNode's "1 % labelled"), chosen as `labels_per_class`.
    pub label_rate: Option<f64>,
    /// Easy-to-hard curriculum over the training nodes (CLNode; default off).
    pub curriculum: Option<crate::train::CurriculumConfig>,
    /// Neighbour-sampled mini-batches (`[train.sampling]`: fanouts per layer
    /// and seed nodes per step) instead of full-batch steps; evaluation stays
    /// full-graph, layer by layer over all neighbours (default: off).
    pub sampling: Option<crate::train::SamplingConfig>,
    /// When the split has no validation nodes: move this share of the test
    /// nodes of every class (a fixed seeded choice, the same for every run
    /// seed) into validation, and report test metrics on the rest (default:
    /// off). The router sets it so that a search can select on validation.
    pub val_from_test: Option<f64>,
}

/// How the reported epoch is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selection {
    /// Highest validation accuracy (the latest epoch among ties).
    #[default]
    ValAcc,
    /// Lowest validation cross-entropy.
    ValLoss,
    /// The last epoch.
    Last,
}

impl Default for NodeTrainConfig {
    fn default() -> Self {
        NodeTrainConfig::recipe(ModelKind::Gcn)
    }
}

impl NodeTrainConfig {
    /// The papers' recipes: Adam, weight decay 5e-4, 200 epochs; lr 0.01 (GCN,
    /// GraphSAGE, GIN) or 0.005 (GAT); row-normalised features.
    pub fn recipe(model: ModelKind) -> NodeTrainConfig {
        let lr = if model == ModelKind::Gat { 0.005 } else { 0.01 };
        NodeTrainConfig {
            model: GnnConfig::recipe(model),
            optimizer: OptimizerConfig::adam(lr).with_weight_decay(5e-4),
            schedule: LrSchedule::default(),
            epochs: 200,
            patience: None,
            label_smoothing: 0.0,
            l1: 0.0,
            clip_grad_norm: None,
            normalize_features: true,
            select: Selection::ValAcc,
            seed: 0,
            allow_split_overlap: false,
            param_groups: Default::default(),
            labels_per_class: None,
            label_rate: None,
            curriculum: None,
            sampling: None,
            val_from_test: None,
        }
    }
    /// The same configuration with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The trainer's part of the configuration.
    pub fn trainer(&self) -> TrainerConfig {
        TrainerConfig::new(self.epochs).with_patience(self.patience).with_clip_grad_norm(self.clip_grad_norm).with_schedule(self.schedule.clone())
    }
    /// Validate the whole configuration.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.optimizer.validate()?;
        if let Some(f) = self.val_from_test {
            if !(f > 0.0 && f < 1.0) {
                return Err(Error::config("val_from_test", f, "must be a share in (0, 1), such as 0.5"));
            }
        }
        self.schedule.validate()?;
        if self.epochs == 0 {
            return Err(Error::config("epochs", 0, "train for at least one epoch"));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::config("label_smoothing", self.label_smoothing, "must be in [0, 1)"));
        }
        if !(self.l1.is_finite() && self.l1 >= 0.0) {
            return Err(Error::config("l1", self.l1, "must be a finite number >= 0"));
        }
        if let Some(c) = self.clip_grad_norm.filter(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(Error::config("clip_grad_norm", c, "must be a finite number > 0"));
        }
        if self.patience == Some(0) {
            return Err(Error::config("patience", 0, "must be at least 1 epoch (or unset)"));
        }
        if self.labels_per_class == Some(0) {
            return Err(Error::config("labels_per_class", 0, "keep at least one labelled node per class (or unset)"));
        }
        if let Some(r) = self.label_rate.filter(|r| !(*r > 0.0 && *r <= 1.0)) {
            return Err(Error::config("label_rate", r, "must be in (0, 1]"));
        }
        for (k, lr) in &self.param_groups {
            if !(lr.is_finite() && *lr >= 0.0) {
                return Err(Error::config(format!("param_groups.{k}"), lr, "a learning rate must be a finite number >= 0"));
            }
        }
        if let Some(c) = &self.curriculum {
            c.validate()?;
        }
        if let Some(smp) = &self.sampling {
            smp.validate(self.model.num_layers)?;
            if self.curriculum.is_some() {
                return Err(Error::config(
                    "sampling",
                    "with curriculum",
                    "a curriculum orders full-batch training nodes; drop [train.curriculum] or [train.sampling]",
                ));
            }
        }
        Ok(())
    }

    /// The training nodes this configuration keeps: all of `train`, or
    /// `labels_per_class` (or `label_rate`'s share) per class, chosen with
    /// `seed` (the same seed picks the same nodes, so runs with and without
    /// pretraining are paired).
    /// Apply [`NodeTrainConfig::val_from_test`] to `split` (labels `y`); returns
    /// whether it moved nodes.
    pub fn hold_out_validation(&self, split: &mut crate::data::Split, y: &[usize]) -> bool {
        let Some(share) = self.val_from_test else { return false };
        if !split.val.is_empty() || split.test.is_empty() {
            return false;
        }
        use rand::seq::SliceRandom;
        let mut test = split.test.clone();
        test.shuffle(&mut derive(0, 0x0ba1_1da7e));
        let classes = y.iter().copied().max().map_or(0, |m| m + 1);
        let mut count = vec![0usize; classes];
        for &i in &test {
            count[y[i]] += 1;
        }
        let mut want: Vec<usize> = count.iter().map(|&c| (c as f64 * share).round() as usize).collect();
        let (mut val, mut rest) = (Vec::new(), Vec::new());
        for i in test {
            if want[y[i]] > 0 {
                want[y[i]] -= 1;
                val.push(i);
            } else {
                rest.push(i);
            }
        }
        val.sort_unstable();
        rest.sort_unstable();
        split.val = val;
        split.test = rest;
        !split.val.is_empty()
    }

    pub fn low_label_train(&self, train: &[usize], y: &[usize], num_classes: usize, num_nodes: usize) -> Vec<usize> {
        let k = match (self.labels_per_class, self.label_rate) {
            (Some(k), _) => k,
            (None, Some(r)) => ((r * num_nodes as f64 / num_classes.max(1) as f64).round() as usize).max(1),
            (None, None) => return train.to_vec(),
        };
        use rand::seq::SliceRandom;
        let mut ids = train.to_vec();
        ids.shuffle(&mut derive(self.seed, 0x10_1abe1));
        let mut taken = vec![0usize; num_classes];
        let mut out: Vec<usize> = ids
            .into_iter()
            .filter(|&i| {
                let c = y[i];
                let keep = c < num_classes && taken[c] < k;
                if keep {
                    taken[c] += 1;
                }
                keep
            })
            .collect();
        out.sort_unstable();
        out
    }
}

/// A dataset turned into model inputs.
pub struct NodeData {
    pub graph: Graph,
    pub x: NodeInput,
    pub y: Vec<usize>,
    pub split: Split,
    pub num_classes: usize,
}

impl NodeData {
    /// Features as a constant input (sparse stays sparse), optionally
    /// row-normalised, with the dataset's split checked: ids in range, no
    /// duplicates, and no node in two parts (unless `allow_overlap`).
    ///
    /// # Errors
    /// [`Error::Config`] when there is no split, no training node, a duplicate
    /// id or an overlap; [`Error::IndexOutOfRange`] for an id that is not a node.
    pub fn prepare(ds: &NodeDataset, normalize_features: bool) -> Result<NodeData> {
        NodeData::prepare_checked(ds, normalize_features, false)
    }

    /// [`NodeData::prepare`], allowing a node in two parts of the split when `allow_overlap`.
    ///
    /// # Errors
    /// As [`NodeData::prepare`].
    pub fn prepare_checked(ds: &NodeDataset, normalize_features: bool, allow_overlap: bool) -> Result<NodeData> {
        ds.require_labels()?;
        let split = ds
            .split
            .clone()
            .ok_or_else(|| Error::config("split", &ds.name, "the dataset has no train/val/test split; provide split files (train.txt, val.txt, test.txt)"))?;
        if split.train.is_empty() {
            return Err(Error::config("split.train", "[]", "no training nodes"));
        }
        let n = ds.graph.num_nodes();
        let mut part = vec![u8::MAX; n];
        for (k, (what, ids)) in [("train", &split.train), ("val", &split.val), ("test", &split.test)].into_iter().enumerate() {
            let mut seen = vec![false; n];
            for &i in ids.iter() {
                if i >= n {
                    return Err(Error::IndexOutOfRange {
                        what: format!("{what} split"),
                        index: i,
                        bound: n,
                        hint: "split ids must be node ids of the graph".into(),
                    });
                }
                if std::mem::replace(&mut seen[i], true) {
                    return Err(Error::config(format!("split.{what}"), i, "node listed twice; each node may appear once per split part"));
                }
                if part[i] != u8::MAX && !allow_overlap {
                    let other = ["train", "val", "test"][part[i] as usize];
                    return Err(Error::config("split", format!("node {i} in both {other} and {what}"), "the parts of a split must not overlap (that leaks evaluation nodes); fix the split files, or set allow_split_overlap = true in [train] to allow it"));
                }
                part[i] = k as u8;
            }
        }
        let (graph, x) = NodeData::inputs(ds, normalize_features)?;
        Ok(NodeData { graph, x, y: ds.y.clone(), split, num_classes: ds.num_classes })
    }

    /// The graph and the constant input features of `ds` (no split needed: for prediction).
    ///
    /// # Errors
    /// [`Error::Inconsistent`] when features or labels do not have one row per node.
    pub fn inputs(ds: &NodeDataset, normalize_features: bool) -> Result<(Graph, NodeInput)> {
        let n = ds.graph.num_nodes();
        if ds.x.num_rows() != n || (ds.has_labels() && ds.y.len() != n) {
            return Err(Error::inconsistent("rows of features / labels (one per node)", n, format!("{} / {}", ds.x.num_rows(), ds.y.len())));
        }
        let mut feats = ds.x.clone();
        if normalize_features {
            feats.row_normalize();
        }
        let x = match feats {
            Features::Sparse(m) => NodeInput::Sparse(SparseInput::new(m)),
            Features::Dense { num_rows, num_cols, data } => NodeInput::Dense(Tensor::from_vec(data, (num_rows, num_cols), &Device::Cpu)?),
        };
        Ok((ds.graph.clone(), x))
    }
}

/// Metrics of one epoch. A metric over an empty node set is `None` (`null` in JSON).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    /// Cross-entropy on the validation nodes (evaluation mode).
    pub val_loss: Option<f64>,
    pub lr: f64,
    /// Wall time of forward + backward + optimiser step, milliseconds.
    pub step_ms: f64,
}

/// Outcome of one seeded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunResult {
    pub seed: u64,
    /// Epoch chosen by the selection rule, 0-based.
    pub best_epoch: usize,
    /// The selection rule that was applied (it differs from the configured one
    /// when there are no validation nodes: then the last epoch is kept).
    pub selection: Selection,
    /// Validation accuracy at the chosen epoch (`None`: no validation nodes).
    pub best_val_acc: Option<f64>,
    /// Test accuracy of the model selected on validation (`None`: no test nodes).
    pub test_acc: Option<f64>,
    /// Test macro-F1 of the selected model.
    pub test_macro_f1: Option<f64>,
    /// Test accuracy after the last epoch.
    pub final_test_acc: Option<f64>,
    /// Median training-step time over epochs (skipping the first 5), milliseconds.
    pub epoch_ms: f64,
    pub epochs_run: usize,
    pub history: Vec<EpochLog>,
}

/// A trained node classifier (parameters restored to the selected epoch):
/// the built-in [`Gnn`] by default, or any [`Module`].
pub struct NodeModel<M = Gnn> {
    pub config: NodeTrainConfig,
    pub params: Params,
    pub model: M,
}

impl NodeModel {
    /// Build the recipe model for `in_dim -> num_classes`.
    pub fn new(config: &NodeTrainConfig, in_dim: usize, num_classes: usize) -> Result<NodeModel> {
        let params = Params::new(config.seed);
        let model = config.model.init(in_dim, num_classes, &params)?;
        Ok(NodeModel { config: config.clone(), params, model })
    }
}

impl<M: Module> NodeModel<M> {
    /// Logits `[num_nodes, num_classes]` in evaluation mode.
    pub fn logits(&self, g: &Graph, x: &NodeInput) -> Result<Tensor> {
        self.model.forward(g, x, &mut Ctx::eval())
    }
    /// Predicted class of every node.
    pub fn predict(&self, g: &Graph, x: &NodeInput) -> Result<Vec<usize>> {
        let logits = self.logits(g, x)?;
        let c = logits.dims()[1];
        argmax_rows(&logits.flatten_all()?.to_vec1::<f32>()?, c)
    }
}

fn pick(v: &[usize], ids: &[usize]) -> Vec<usize> {
    ids.iter().map(|&i| v[i]).collect()
}

fn index(ids: &[usize]) -> Result<Tensor> {
    Ok(Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &Device::Cpu)?)
}

/// Train the recipe model ([`NodeTrainConfig::model`]). `on_epoch` sees every
/// epoch's metrics (for progress bars).
pub fn train(data: &NodeData, cfg: &NodeTrainConfig, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<(RunResult, NodeModel)> {
    let model_cfg = cfg.model.clone();
    train_module(data, cfg, |p, i, o| model_cfg.init(i, o, p), Hooks::progress(on_epoch))
}

/// Train any [`Module`] built by `build(params, in_dim, num_classes)` with the
/// task's loop: the configuration's optimiser, schedule, L1 penalty, label
/// smoothing, model selection and patience, and `hooks` (progress, gradient
/// hook, resumable state, stop flag).
///
/// ```no_run
/// # use autoglm::prelude::*;
/// # fn f(data: &NodeData) -> autoglm::Result<()> {
/// let cfg = NodeTrainConfig::recipe(ModelKind::Gcn);
/// let build = |p: &Params, d, c| GcnConvConfig::new(d, c).init(p);
/// let (result, model) = autoglm::tasks::node::train_module(data, &cfg, build, Hooks::default())?;
/// # Ok(()) }
/// ```
pub fn train_module<M: Module>(
    data: &NodeData,
    cfg: &NodeTrainConfig,
    build: impl FnOnce(&Params, usize, usize) -> Result<M>,
    hooks: Hooks<'_, EpochLog>,
) -> Result<(RunResult, NodeModel<M>)> {
    train_module_sharded(data, cfg, build, hooks, Shard::default())
}

/// [`train_module`] for one rank of a data-parallel run: with
/// [`NodeTrainConfig::sampling`], every global batch of `batch_size * ranks`
/// seeds is split across the ranks (full-batch training shards the training
/// nodes before the call instead).
///
/// # Errors
/// As [`train_module`].
pub fn train_module_sharded<M: Module>(
    data: &NodeData,
    cfg: &NodeTrainConfig,
    build: impl FnOnce(&Params, usize, usize) -> Result<M>,
    hooks: Hooks<'_, EpochLog>,
    shard: Shard<'_>,
) -> Result<(RunResult, NodeModel<M>)> {
    cfg.validate()?;
    let params = Params::new(cfg.seed);
    let model = build(&params, data.x.dim(), data.num_classes)?;
    let vars = params.trainable();
    let mut opt = cfg.optimizer.build(cfg.optimizer.groups_by_prefix(vars.clone(), &cfg.param_groups))?;
    let plain_vars: Vec<_> = vars.iter().map(|(_, v)| v.clone()).collect();
    let low = crate::data::Split { train: cfg.low_label_train(&data.split.train, &data.y, data.num_classes, data.graph.num_nodes()), ..data.split.clone() };
    let split = &low;
    let (train_idx, val_idx) = (index(&split.train)?, index(&split.val)?);
    let train_y = pick(&data.y, &split.train);
    // The curriculum's active training nodes of the coming epoch (positions into split.train).
    let curriculum = match &cfg.curriculum {
        None => None,
        Some(c) => Some(node_curriculum(c, data, &split.train, cfg.epochs)?),
    };
    let (val_y, test_y) = (pick(&data.y, &split.val), pick(&data.y, &split.test));
    // Without validation nodes there is nothing to select on: keep the last epoch, and say so.
    let selection = if split.val.is_empty() { Selection::Last } else { cfg.select };
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let mut loss = |&epoch: &usize, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
        let logits = model.forward(&data.graph, &data.x, ctx)?;
        let mut loss = match &curriculum {
            Some(c) => {
                let (idx, y) = active_subset(c, epoch, &split.train, &data.y)?;
                cross_entropy(&logits.index_select(&idx, 0)?, &y, cfg.label_smoothing)?
            }
            None => cross_entropy(&logits.index_select(&train_idx, 0)?, &train_y, cfg.label_smoothing)?,
        };
        if cfg.l1 > 0.0 {
            loss = (loss + (l1_penalty(&plain_vars)? * cfg.l1)?)?;
        }
        Ok((loss, 1.0))
    };
    let mut eval = |st: &crate::train::EpochStats| -> Result<Evaluation<EpochLog>> {
        let eval_logits = model.forward(&data.graph, &data.x, &mut Ctx::eval())?;
        let pred = argmax_rows(&eval_logits.flatten_all()?.to_vec1::<f32>()?, data.num_classes)?;
        let val_loss =
            if split.val.is_empty() { None } else { Some(cross_entropy(&eval_logits.index_select(&val_idx, 0)?, &val_y, 0.0)?.to_scalar::<f32>()? as f64) };
        let acc = |ids: &[usize], y: &[usize]| if ids.is_empty() { Ok(None) } else { accuracy(&pick(&pred, ids), y).map(Some) };
        let log = EpochLog {
            epoch: st.epoch,
            loss: st.loss,
            train_acc: acc(&split.train, &train_y)?.unwrap_or(0.0),
            val_acc: acc(&split.val, &val_y)?,
            test_acc: acc(&split.test, &test_y)?,
            val_loss,
            lr: st.lr,
            step_ms: st.step_ms,
        };
        let score = match selection {
            Selection::ValAcc => log.val_acc.unwrap_or(0.0),
            Selection::ValLoss => -log.val_loss.unwrap_or(0.0),
            Selection::Last => st.epoch as f64,
        };
        Ok(Evaluation { log, score: Some(Score::max(score)) })
    };
    let trainer = Trainer::new(cfg.trainer()).with_hooks(hooks)?;
    let fit = match &cfg.sampling {
        None => trainer.fit(&params, opt.as_mut(), &mut ctx, &mut FullGraphEpoch, &mut loss, &mut eval)?,
        Some(smp) => {
            let mut blocks = crate::train::NeighborBlocks::new(&data.graph, split.train.clone(), smp.batch_size, smp.per_hop(), cfg.seed)?
                .with_shard(shard.rank, shard.ranks.max(1));
            let mut block_loss = |b: &crate::train::SampledBlock, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
                let x = data.x.select_rows(&b.nodes)?;
                let logits = b.seed_output(&model, &x, smp.trim, ctx)?;
                let y: Vec<usize> = b.nodes[..b.num_seeds].iter().map(|&i| data.y[i]).collect();
                let mut loss = cross_entropy(&logits, &y, cfg.label_smoothing)?;
                if cfg.l1 > 0.0 {
                    loss = (loss + (l1_penalty(&plain_vars)? * cfg.l1)?)?;
                }
                shard.set_step_weight(b.num_seeds, b.global_seeds);
                Ok((loss, b.num_seeds as f64))
            };
            trainer.fit(&params, opt.as_mut(), &mut ctx, &mut blocks, &mut block_loss, &mut eval)?
        }
    };
    let best_epoch = fit.selected_epoch();
    let chosen = &fit.history[best_epoch];
    let model = NodeModel { config: cfg.clone(), params, model };
    // The parameters are those of the selected epoch again: its predictions give the test macro-F1.
    let test_macro_f1 =
        if split.test.is_empty() { None } else { Some(macro_f1(&pick(&model.predict(&data.graph, &data.x)?, &split.test), &test_y, data.num_classes)?) };
    let result = RunResult {
        seed: cfg.seed,
        best_epoch,
        selection,
        best_val_acc: chosen.val_acc,
        test_acc: chosen.test_acc,
        test_macro_f1,
        final_test_acc: fit.history.last().and_then(|h| h.test_acc),
        epoch_ms: fit.median_step_ms(5),
        epochs_run: fit.epochs_run(),
        history: fit.history,
    };
    Ok((result, model))
}

/// CLNode's curriculum over the training nodes `train`: difficulty from the
/// labels of the training nodes and the input features (dense rows).
fn node_curriculum(c: &crate::train::CurriculumConfig, data: &NodeData, train: &[usize], epochs: usize) -> Result<crate::train::Curriculum> {
    let n = data.graph.num_nodes();
    let mut labelled = vec![false; n];
    for &i in train {
        labelled[i] = true;
    }
    let dense = match &c.difficulty {
        crate::train::Difficulty::ClNode { alpha } if *alpha > 0.0 => Some(data.x.to_tensor()?.flatten_all()?.to_vec1::<f32>()?),
        _ => None,
    };
    let signals =
        crate::train::NodeSignals { labels: Some(&data.y), labelled: Some(&labelled), features: dense.as_deref().map(|d| (data.x.dim(), d)), loss: None };
    let scores = crate::train::node_difficulty(&data.graph, &c.difficulty, train, &signals)?;
    crate::train::Curriculum::new(c.clone(), scores, epochs)
}

/// The index tensor and labels of the curriculum's active training nodes at `epoch`.
fn active_subset(c: &crate::train::Curriculum, epoch: usize, train: &[usize], y: &[usize]) -> Result<(Tensor, Vec<usize>)> {
    let mut ids: Vec<usize> = c.active(epoch).iter().map(|&k| train[k]).collect();
    ids.sort_unstable();
    Ok((index(&ids)?, pick(y, &ids)))
}
