//! Node classification: full-batch training on one graph with a train / val /
//! test node split (the Planetoid protocol), model selection on validation accuracy.

use crate::data::{Features, NodeDataset, Split};
use crate::eval::metrics::{accuracy, argmax_rows, macro_f1};
use crate::graph::Graph;
use crate::models::{Gnn, GnnConfig, ModelKind};
use crate::nn::{Ctx, NodeInput, Params};
use crate::ops::SparseInput;
use crate::rng::derive;
use crate::train::loss::{cross_entropy, l1_penalty};
use crate::train::{optimize, LrSchedule, OptimizerConfig};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::time::Instant;

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
        }
    }
    /// Validate the whole configuration.
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.optimizer.validate()?;
        self.schedule.validate()?;
        if self.epochs == 0 {
            return Err(Error::config("epochs", 0, "train for at least one epoch"));
        }
        Ok(())
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
    /// Features as a constant input (sparse stays sparse), optionally row-normalised.
    pub fn prepare(ds: &NodeDataset, normalize_features: bool) -> Result<NodeData> {
        let split = ds.split.clone().ok_or_else(|| Error::config("split", &ds.name, "the dataset has no train/val/test split; provide split files (train.txt, val.txt, test.txt)"))?;
        if split.train.is_empty() {
            return Err(Error::config("split.train", "[]", "no training nodes"));
        }
        let n = ds.graph.num_nodes();
        for (what, ids) in [("train", &split.train), ("val", &split.val), ("test", &split.test)] {
            if let Some(&bad) = ids.iter().find(|&&i| i >= n) {
                return Err(Error::IndexOutOfRange { what: format!("{what} split"), index: bad, bound: n, hint: "split ids must be node ids of the graph".into() });
            }
        }
        if ds.x.num_rows() != n || ds.y.len() != n {
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
        Ok(NodeData { graph: ds.graph.clone(), x, y: ds.y.clone(), split, num_classes: ds.num_classes })
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub train_acc: f64,
    pub val_acc: f64,
    pub test_acc: f64,
    /// Cross-entropy on the validation nodes (evaluation mode).
    pub val_loss: f64,
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
    /// Validation accuracy at the chosen epoch.
    pub best_val_acc: f64,
    /// Test accuracy of the model selected on validation.
    pub test_acc: f64,
    /// Test macro-F1 of the selected model.
    pub test_macro_f1: f64,
    /// Test accuracy after the last epoch.
    pub final_test_acc: f64,
    /// Median training-step time over epochs (skipping the first 5), milliseconds.
    pub epoch_ms: f64,
    pub epochs_run: usize,
    pub history: Vec<EpochLog>,
}

/// A trained node classifier (parameters restored to the selected epoch).
pub struct NodeModel {
    pub config: NodeTrainConfig,
    pub params: Params,
    pub gnn: Gnn,
}

impl NodeModel {
    /// Build the model for `in_dim -> num_classes`.
    pub fn new(config: &NodeTrainConfig, in_dim: usize, num_classes: usize) -> Result<NodeModel> {
        let params = Params::new(config.seed);
        let gnn = config.model.init(in_dim, num_classes, &params)?;
        Ok(NodeModel { config: config.clone(), params, gnn })
    }
    /// Logits `[num_nodes, num_classes]` in evaluation mode.
    pub fn logits(&self, g: &Graph, x: &NodeInput) -> Result<Tensor> {
        self.gnn.forward(g, x, &mut Ctx::eval())
    }
    /// Predicted class of every node.
    pub fn predict(&self, g: &Graph, x: &NodeInput) -> Result<Vec<usize>> {
        let logits = self.logits(g, x)?;
        let c = logits.dims()[1];
        argmax_rows(&logits.flatten_all()?.to_vec1::<f32>()?, c)
    }
}

/// The selected epoch: (epoch, score, val acc, test acc, test macro-F1, parameters).
type Best = (usize, f64, f64, f64, f64, Vec<(String, Tensor)>);

fn pick(v: &[usize], ids: &[usize]) -> Vec<usize> {
    ids.iter().map(|&i| v[i]).collect()
}

/// Train one model. `on_epoch` sees every epoch's metrics (for progress bars).
pub fn train(data: &NodeData, cfg: &NodeTrainConfig, on_epoch: &mut dyn FnMut(&EpochLog)) -> Result<(RunResult, NodeModel)> {
    cfg.validate()?;
    let model = NodeModel::new(cfg, data.x.dim(), data.num_classes)?;
    let vars = model.params.trainable();
    let group = cfg.optimizer.group("all", vars.clone());
    let mut opt = cfg.optimizer.build(vec![group])?;
    let plain_vars: Vec<_> = vars.iter().map(|(_, v)| v.clone()).collect();
    let train_idx = Tensor::from_vec(data.split.train.iter().map(|&i| i as u32).collect::<Vec<_>>(), data.split.train.len(), &Device::Cpu)?;
    let train_y = pick(&data.y, &data.split.train);
    let (val_y, test_y) = (pick(&data.y, &data.split.val), pick(&data.y, &data.split.test));
    let val_idx = Tensor::from_vec(data.split.val.iter().map(|&i| i as u32).collect::<Vec<_>>(), data.split.val.len(), &Device::Cpu)?;
    let mut ctx = Ctx::train(derive(cfg.seed, 1));
    let mut history = Vec::with_capacity(cfg.epochs);
    let mut best: Option<Best> = None;
    let mut since_best = 0;
    for epoch in 0..cfg.epochs {
        let lr = cfg.schedule.apply(opt.as_mut(), epoch, cfg.epochs);
        let t0 = Instant::now();
        ctx.train = true;
        let logits = model.gnn.forward(&data.graph, &data.x, &mut ctx)?;
        let mut loss = cross_entropy(&logits.index_select(&train_idx, 0)?, &train_y, cfg.label_smoothing)?;
        if cfg.l1 > 0.0 {
            loss = (loss + (l1_penalty(&plain_vars)? * cfg.l1)?)?;
        }
        let loss_v = optimize(&loss, opt.as_mut(), &plain_vars, cfg.clip_grad_norm)?;
        let step_ms = t0.elapsed().as_secs_f64() * 1e3;
        let eval_logits = model.logits(&data.graph, &data.x)?;
        let pred = argmax_rows(&eval_logits.flatten_all()?.to_vec1::<f32>()?, data.num_classes)?;
        let val_loss = if data.split.val.is_empty() { 0.0 } else { cross_entropy(&eval_logits.index_select(&val_idx, 0)?, &val_y, 0.0)?.to_scalar::<f32>()? as f64 };
        let acc = |ids: &[usize], y: &[usize]| if ids.is_empty() { Ok(0.0) } else { accuracy(&pick(&pred, ids), y) };
        let log = EpochLog {
            epoch,
            loss: loss_v,
            train_acc: acc(&data.split.train, &train_y)?,
            val_acc: acc(&data.split.val, &val_y)?,
            test_acc: acc(&data.split.test, &test_y)?,
            val_loss,
            lr,
            step_ms,
        };
        if !loss_v.is_finite() {
            return Err(Error::config("training", format!("loss {loss_v} at epoch {epoch}"), "the loss diverged; lower the learning rate or enable clip_grad_norm"));
        }
        // Score to maximise under the chosen selection rule.
        let score = match cfg.select {
            Selection::ValAcc => log.val_acc,
            Selection::ValLoss => -log.val_loss,
            Selection::Last => epoch as f64,
        };
        let prev = best.as_ref().map(|b| b.1);
        if prev.is_none_or(|b| score > b) {
            since_best = 0;
        } else {
            since_best += 1;
        }
        if prev.is_none_or(|b| score >= b) {
            let f1 = if data.split.test.is_empty() { 0.0 } else { macro_f1(&pick(&pred, &data.split.test), &test_y, data.num_classes)? };
            let snap = model.params.snapshot()?;
            best = Some((epoch, score, log.val_acc, log.test_acc, f1, snap));
        }
        on_epoch(&log);
        history.push(log);
        if cfg.patience.is_some_and(|p| since_best >= p) {
            break;
        }
    }
    let (best_epoch, _, best_val_acc, test_acc, test_macro_f1, snap) = best.expect("at least one epoch");
    model.params.restore(&snap)?;
    let mut times: Vec<f64> = history.iter().skip(5).map(|h| h.step_ms).collect();
    if times.is_empty() {
        times = history.iter().map(|h| h.step_ms).collect();
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let result = RunResult {
        seed: cfg.seed,
        best_epoch,
        best_val_acc,
        test_acc,
        test_macro_f1,
        final_test_acc: history.last().map_or(0.0, |h| h.test_acc),
        epoch_ms: times[times.len() / 2],
        epochs_run: history.len(),
        history,
    };
    Ok((result, model))
}
