//! `autoglm finetune`: a pretrained encoder on a downstream task.
//!
//! Modes (`--mode`):
//! - `finetune`: encoder and a linear head trained together, the encoder at
//!   its own learning rate (`[train.param_groups] encoder = ...` for nodes,
//!   `"convs.0" = ...` for graphs; default a tenth of the head's);
//! - `frozen`: encoder fixed, an MLP head (one hidden layer) on its embeddings;
//! - `linear-probe`: encoder fixed, a linear (logistic-regression) head
//!   (GraphMAE's node protocol: Adam, lr 0.01, weight decay 1e-4, 300
//!   epochs, the epoch of best validation accuracy);
//! - `svm` (graph task): pooled graph embeddings scored by an SVM under
//!   10-fold cross-validation with C chosen by inner cross-validation
//!   (GraphMAE's graph protocol, [`crate::eval::svm`]);
//! - `scratch`: the same architecture and head without the pretrained weights,
//!   on the same seeds, folds and labelled nodes: the paired baseline.
//!
//! Everything else comes from the task's usual settings (`--runs`, `--seed`,
//! `--folds`, `--config`'s `[train]`), so a fine-tuning run and a plain
//! `autoglm train` run read the same run file.

use super::{pct, JobSpec, Report, Resolved, RunEnv, Table};
use crate::eval::stats::mean_std;
use crate::models::graph_classifier::LayerReadout;
use crate::models::ModelKind;
use crate::nn::{Ctx, LinearConfig, MlpConfig, Module, NodeInput, Params};
use crate::tasks::graph::{train_fold_module, GraphTrainConfig, Protocol};
use crate::tasks::node::{train_module, NodeData, NodeTrainConfig};
use crate::tasks::pretrain::{embed_graphs, load_encoder, tu_molecule_dataset, InputKind, LinearModule, LoadedEncoder, PretrainConfig};
use crate::train::{Hooks, OptimizerConfig};
use crate::{Error, Result};
use candle_core::Tensor;
use serde_json::json;

/// How the pretrained encoder is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinetuneMode {
    Finetune,
    Frozen,
    LinearProbe,
    Svm,
    Scratch,
}

/// The names of the modes.
pub const MODES: &[&str] = &["finetune", "frozen", "linear-probe", "svm", "scratch"];

impl std::str::FromStr for FinetuneMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "finetune" | "fine-tune" => FinetuneMode::Finetune,
            "frozen" => FinetuneMode::Frozen,
            "linear-probe" | "linear" | "probe" => FinetuneMode::LinearProbe,
            "svm" => FinetuneMode::Svm,
            "scratch" => FinetuneMode::Scratch,
            _ => return Err(Error::unknown("finetune mode", s, MODES)),
        })
    }
}

impl FinetuneMode {
    fn name(self) -> &'static str {
        MODES[self as usize]
    }
    fn frozen(self) -> bool {
        matches!(self, FinetuneMode::Frozen | FinetuneMode::LinearProbe)
    }
}

/// An encoder with a linear head (and dropout between), the model of `finetune` and `scratch`.
struct EncoderHead {
    encoder: Box<dyn Module>,
    head: crate::nn::Linear,
    dropout: f64,
}

impl Module for EncoderHead {
    fn forward(&self, g: &crate::graph::Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.encoder.forward(g, x, ctx)?;
        self.head.forward(&ctx.dropout(&h, self.dropout)?)
    }
}

/// A head on constant embeddings: linear, or an MLP with one hidden layer.
struct MlpHead(crate::nn::Mlp);

impl Module for MlpHead {
    fn forward(&self, _g: &crate::graph::Graph, x: &NodeInput, ctx: &mut Ctx) -> Result<Tensor> {
        self.0.forward_input(x, ctx)
    }
}

fn encoder_for(enc: &LoadedEncoder, p: &Params, mode: FinetuneMode, models: &crate::models::registry::ModelRegistry) -> Result<Box<dyn Module>> {
    if mode == FinetuneMode::Scratch {
        Ok(crate::tasks::pretrain::build_encoder(&enc.spec.encoder, &enc.spec.model, enc.spec.input.width(), p, models)?.0)
    } else {
        enc.build_into(p, models)
    }
}

/// The layer-wise default: the encoder (parameters under `prefix`) at a tenth
/// of the head's learning rate, unless `[train.param_groups]` names it.
fn default_encoder_lr(groups: &mut std::collections::BTreeMap<String, f64>, prefix: &str, head_lr: f64, env: &mut RunEnv) {
    if !groups.contains_key(prefix) {
        let lr = head_lr * 0.1;
        groups.insert(prefix.into(), lr);
        env.note(format!("encoder learning rate {lr:e} (a tenth of the head's; set [train.param_groups] \"{prefix}\" = ... to change it)"));
    }
}

/// Run a fine-tuning job (`job.finetune` is set).
///
/// # Errors
/// [`Error::Checkpoint`] for a file that is not a pretrained encoder;
/// [`Error::Config`] for an encoder whose input or vocabulary does not match
/// the data, or a mode the task does not have.
pub fn finetune(job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
    let flags = job.finetune.as_ref().ok_or_else(|| Error::config("finetune", "missing", "internal: finetune without --pretrained"))?;
    let enc = load_encoder(&flags.pretrained)?;
    let mode: FinetuneMode = flags.mode.as_deref().unwrap_or("finetune").parse()?;
    let pre: PretrainConfig = serde_json::from_value(crate::run::CheckpointMeta::from_checkpoint(&enc.path, &enc.checkpoint)?.train)
        .map_err(|e| Error::Checkpoint { path: enc.path.clone(), msg: format!("its pretraining configuration is unreadable ({e}); pretrain it again") })?;
    env.note(format!(
        "encoder {} pretrained on {} ({} level, {} -> {}), mode {}",
        enc.spec.model,
        enc.dataset,
        if enc.spec.level == crate::tasks::pretrain::Level::Node { "node" } else { "graph" },
        match &enc.spec.input {
            InputKind::Continuous { width } => format!("{width} features"),
            InputKind::Categorical { names } => format!("{} atom types", names.len()),
        },
        enc.spec.out_dim,
        mode.name()
    ));
    match r.task.as_str() {
        "node" => finetune_node(job, r, env, &enc, &pre, mode, flags.labels_per_class),
        "graph" => finetune_graph(job, r, env, &enc, &pre, mode),
        "link" => finetune_link(job, r, env, &enc, &pre, mode),
        t => Err(Error::config("task", t, "fine-tune for node or graph")),
    }
}

fn finetune_node(
    job: &JobSpec,
    r: &Resolved,
    env: &mut RunEnv,
    enc: &LoadedEncoder,
    pre: &PretrainConfig,
    mode: FinetuneMode,
    k: Option<usize>,
) -> Result<Report> {
    if mode == FinetuneMode::Svm {
        return Err(Error::config("mode", "svm", "svm scores graph embeddings; for nodes use linear-probe"));
    }
    let ds = crate::data::registry::load_node_dataset(&r.data_dir, &r.dataset)?;
    let data = NodeData::prepare(&ds, pre.normalize_features)?;
    enc.spec.input.check_compatible(&InputKind::Continuous { width: data.x.dim() }, &ds.name)?;
    // The recipe: GraphMAE's probe for frozen modes, the encoder kind's paper recipe otherwise; then [train], then flags.
    let recipe = if mode.frozen() {
        NodeTrainConfig { optimizer: OptimizerConfig::adam(0.01).with_weight_decay(1e-4), epochs: 300, ..NodeTrainConfig::recipe(ModelKind::Gcn) }
    } else {
        let kind = enc.spec.model.parse::<ModelKind>().unwrap_or(ModelKind::Gcn);
        NodeTrainConfig::recipe(kind)
    };
    let mut base = job.run_file.train_config(recipe)?;
    job.overrides.apply(super::Targets {
        epochs: &mut base.epochs,
        lr: &mut base.optimizer.lr,
        hidden: &mut 0,
        dropout: &mut base.model.dropout,
        patience: &mut base.patience,
        sampling: None,
        batch_size: None,
    })?;
    if k.is_some() {
        base.labels_per_class = k;
    }
    if mode == FinetuneMode::Finetune {
        default_encoder_lr(&mut base.param_groups, "encoder", base.optimizer.lr(), env);
    }
    base.validate()?;
    let first = r.seed.unwrap_or(base.seed);
    let models = env.models;
    let mut rows = Vec::new();
    for run in 0..r.runs {
        let cfg = NodeTrainConfig { seed: first + run, ..base.clone() };
        env.progress.start(&format!("run {}/{}", run + 1, r.runs), cfg.epochs as u64);
        let progress = &mut *env.progress;
        let mut on_epoch = |l: &crate::tasks::node::EpochLog| progress.step(l.epoch as u64 + 1, &format!("loss {:.4} val {}", l.loss, pct(l.val_acc)));
        let hooks = Hooks { on_epoch: Some(&mut on_epoch), state_file: None, resume: None, stop: env.stop, ..Hooks::default() };
        let out_dim = enc.spec.out_dim;
        let res = if mode.frozen() {
            let params = Params::new(cfg.seed);
            let encoder = enc.build_into(&params.pp("encoder"), env.models)?;
            let z = encoder.forward(&data.graph, &data.x, &mut Ctx::eval())?.detach();
            let probe =
                NodeData { graph: data.graph.clone(), x: NodeInput::Dense(z), y: data.y.clone(), split: data.split.clone(), num_classes: data.num_classes };
            let linear = mode == FinetuneMode::LinearProbe;
            train_module(
                &probe,
                &cfg,
                |p, d, c| -> Result<Box<dyn Module>> {
                    if linear {
                        Ok(Box::new(LinearModule(LinearConfig::new(d, c).init(&p.pp("head"))?)))
                    } else {
                        Ok(Box::new(MlpHead(MlpConfig::new(vec![d, d, c]).init(&p.pp("head"))?)))
                    }
                },
                hooks,
            )?
            .0
        } else {
            let dropout = cfg.model.dropout;
            train_module(
                &data,
                &cfg,
                |p, _d, c| -> Result<Box<dyn Module>> {
                    let encoder = encoder_for(enc, &p.pp("encoder"), mode, models)?;
                    Ok(Box::new(EncoderHead { encoder, head: LinearConfig::new(out_dim, c).init(&p.pp("head"))?, dropout }))
                },
                hooks,
            )?
            .0
        };
        env.progress.finish();
        rows.push(res);
    }
    let mut table = Table::new(&["seed", "labelled", "val acc", "test acc", "test macro-F1", "best epoch"]);
    let labelled = base.low_label_train(&data.split.train, &data.y, data.num_classes, data.graph.num_nodes()).len();
    for x in &rows {
        table.rows.push(vec![x.seed.to_string(), labelled.to_string(), pct(x.best_val_acc), pct(x.test_acc), pct(x.test_macro_f1), x.best_epoch.to_string()]);
    }
    let acc = mean_std(&rows.iter().filter_map(|x| x.test_acc).collect::<Vec<_>>());
    let f1 = mean_std(&rows.iter().filter_map(|x| x.test_macro_f1).collect::<Vec<_>>());
    let txt = |v: Option<(f64, f64)>| v.map_or_else(|| "n/a".into(), |(m, s)| format!("{:.2} ± {:.2}", m * 100.0, s * 100.0));
    let headline =
        format!("finetune ({}) {} on {}: test accuracy {}, macro-F1 {} over {} runs", mode.name(), enc.spec.model, ds.name, txt(acc), txt(f1), rows.len());
    let runs: Vec<_> = rows
        .iter()
        .map(|x| json!({"seed": x.seed, "best_epoch": x.best_epoch, "val_acc": x.best_val_acc, "test_acc": x.test_acc, "test_macro_f1": x.test_macro_f1, "epochs_run": x.epochs_run, "history": x.history}))
        .collect();
    let json = json!({
        "task": "node", "mode": mode, "dataset": ds.name, "model": enc.spec.model, "pretrained": enc.path, "pretrained_on": enc.dataset,
        "encoder": enc.spec, "config": base, "first_seed": first, "labelled_nodes": labelled,
        "summary": {"test_acc_mean": acc.map(|a| a.0), "test_acc_std": acc.map(|a| a.1), "test_macro_f1_mean": f1.map(|a| a.0), "test_macro_f1_std": f1.map(|a| a.1), "runs": rows.len()},
        "runs": runs,
    });
    Ok(Report { json, tables: vec![table], headline, notes: vec![] })
}

fn finetune_graph(job: &JobSpec, r: &Resolved, env: &mut RunEnv, enc: &LoadedEncoder, pre: &PretrainConfig, mode: FinetuneMode) -> Result<Report> {
    let (ds, notes) = match &enc.spec.input {
        InputKind::Categorical { .. } => tu_molecule_dataset(&r.data_dir, &r.dataset, &crate::chem::AtomVocab::standard())?,
        InputKind::Continuous { .. } => (crate::data::tu::load_tu(&r.data_dir, &r.dataset, &pre.features)?, Vec::new()),
    };
    for n in notes {
        env.note(n);
    }
    let kind = match &enc.spec.input {
        InputKind::Categorical { .. } => InputKind::molecular(),
        InputKind::Continuous { .. } => InputKind::Continuous { width: ds.num_node_features },
    };
    enc.spec.input.check_compatible(&kind, &ds.name)?;
    let labels: Vec<usize> = ds.graphs.iter().map(|g| g.y).collect();
    let first = r.seed.unwrap_or(0);
    if mode == FinetuneMode::Svm {
        let params = Params::new(0);
        let encoder = enc.build_into(&params.pp("encoder"), env.models)?;
        let (x, d) = embed_graphs(encoder.as_ref(), &ds, enc.spec.pooling)?;
        let mut rows = Vec::new();
        for run in 0..r.runs {
            let cfg = crate::eval::svm::SvmCvConfig { seed: first + run, outer_folds: job.overrides.folds.unwrap_or(10), ..Default::default() };
            env.progress.note(&format!("SVM cross-validation, seed {} ({} graphs, {d} dimensions)", cfg.seed, labels.len()));
            rows.push((cfg.seed, crate::eval::svm::svm_cross_validate(&x, labels.len(), d, &labels, &cfg)?));
        }
        let means: Vec<f64> = rows.iter().map(|(_, r)| r.mean).collect();
        let (m, s) = mean_std(&means).unwrap_or((f64::NAN, f64::NAN));
        let mut table = Table::new(&["seed", "accuracy (10-fold mean)", "std over folds", "chosen C"]);
        for (seed, res) in &rows {
            table.rows.push(vec![seed.to_string(), format!("{:.2}", res.mean * 100.0), format!("{:.2}", res.std * 100.0), format!("{:?}", res.chosen_c)]);
        }
        let headline = format!(
            "svm on {} embeddings of {}: accuracy {:.2} ± {:.2} (mean of {} seeds of 10-fold CV)",
            enc.spec.model,
            ds.name,
            m * 100.0,
            s * 100.0,
            rows.len()
        );
        let json = json!({"task": "graph", "mode": mode, "dataset": ds.name, "pretrained": enc.path, "pretrained_on": enc.dataset, "encoder": enc.spec,
            "summary": {"test_acc_mean": m, "test_acc_std_over_seeds": s, "runs": rows.len(), "protocol": "GraphMAE: outer stratified 10-fold, C by inner 5-fold on the training part, RBF gamma=scale"},
            "runs": rows.iter().map(|(seed, res)| json!({"seed": seed, "result": res})).collect::<Vec<_>>()});
        return Ok(Report { json, tables: vec![table], headline, notes: vec![] });
    }
    if mode.frozen() {
        return Err(Error::config("mode", mode.name(), "for graphs use finetune, scratch or svm (frozen graph embeddings are scored by the svm mode)"));
    }
    let mut base = job.run_file.train_config(GraphTrainConfig {
        protocol: Some(Protocol::Errica),
        epochs: 100,
        patience: Some(50),
        ..GraphTrainConfig::recipe(ModelKind::Gin)
    })?;
    base.model.hidden_dim = enc.spec.out_dim;
    base.model.layer_readout = LayerReadout::Last;
    if let Some(f) = job.overrides.folds {
        base.folds = f;
    }
    job.overrides.apply(super::Targets {
        epochs: &mut base.epochs,
        lr: &mut base.optimizer.lr,
        hidden: &mut 0,
        dropout: &mut base.model.dropout,
        patience: &mut base.patience,
        sampling: None,
        batch_size: None,
    })?;
    if mode == FinetuneMode::Finetune {
        default_encoder_lr(&mut base.param_groups, "convs.0", base.optimizer.lr(), env);
    }
    base.validate()?;
    let models = env.models;
    let mut all = Vec::new();
    for run in 0..r.runs {
        let cfg = GraphTrainConfig { seed: first + run, ..base.clone() };
        let folds = crate::data::folds::stratified_kfold_with_val(&labels, cfg.folds, crate::data::folds::DEFAULT_VAL_FRACTION, cfg.seed)?;
        for (fi, fold) in folds.iter().enumerate() {
            env.progress.start(&format!("repeat {}/{} fold {}/{}", run + 1, r.runs, fi + 1, folds.len()), cfg.epochs as u64);
            let progress = &mut *env.progress;
            let mut on_epoch = |l: &crate::tasks::graph::EpochLog| progress.step(l.epoch as u64 + 1, &format!("loss {:.4}", l.loss));
            let hooks = Hooks { on_epoch: Some(&mut on_epoch), state_file: None, resume: None, stop: env.stop, ..Hooks::default() };
            let (res, _) = train_fold_module(
                &ds,
                fold,
                fi,
                Protocol::Errica,
                &cfg,
                |p, d, c| {
                    let encoder = encoder_for(enc, &p.pp("convs.0"), mode, models)?;
                    cfg.model.init_with_encoder(d, c, p, encoder)
                },
                hooks,
            )?;
            env.progress.finish();
            all.push((cfg.seed, res));
        }
    }
    let mut table = Table::new(&["seed", "fold", "val acc", "test acc", "epoch"]);
    for (seed, f) in &all {
        table.rows.push(vec![seed.to_string(), (f.fold + 1).to_string(), pct(f.val_acc), pct(Some(f.test_acc)), f.selected_epoch.to_string()]);
    }
    // Per repeat: the mean over its folds; the headline: mean ± std of the repeat means.
    let mut per_seed: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
    for (seed, f) in &all {
        per_seed.entry(*seed).or_default().push(f.test_acc);
    }
    let repeat_means: Vec<f64> = per_seed.values().map(|v| v.iter().sum::<f64>() / v.len() as f64).collect();
    let fold_accs: Vec<f64> = all.iter().map(|(_, f)| f.test_acc).collect();
    let (m, s) = mean_std(&fold_accs).unwrap_or((f64::NAN, f64::NAN));
    let headline = format!(
        "finetune ({}) {} on {}: test accuracy {:.2} ± {:.2} over {} folds × {} repeats (selection on each fold's validation part)",
        mode.name(),
        enc.spec.model,
        ds.name,
        m * 100.0,
        s * 100.0,
        base.folds,
        r.runs
    );
    let json = json!({
        "task": "graph", "mode": mode, "dataset": ds.name, "model": enc.spec.model, "pretrained": enc.path, "pretrained_on": enc.dataset, "encoder": enc.spec, "config": base,
        "summary": {"test_acc_mean": m, "test_acc_std": s, "repeat_means": repeat_means, "folds": base.folds, "repeats": r.runs, "protocol": "stratified k-fold, inner validation split (10 %), selection on validation"},
        "folds": all.iter().map(|(seed, f)| json!({"seed": seed, "fold": f.fold, "val_acc": f.val_acc, "test_acc": f.test_acc, "selected_epoch": f.selected_epoch})).collect::<Vec<_>>(),
    });
    Ok(Report { json, tables: vec![table], headline, notes: vec![] })
}

fn finetune_link(job: &JobSpec, r: &Resolved, env: &mut RunEnv, enc: &LoadedEncoder, pre: &PretrainConfig, mode: FinetuneMode) -> Result<Report> {
    use crate::tasks::link::{train_encoder, LinkData, LinkTrainConfig};
    if !matches!(mode, FinetuneMode::Finetune | FinetuneMode::Scratch) {
        return Err(Error::config("mode", mode.name(), "for link prediction use finetune or scratch"));
    }
    let ds = crate::data::registry::load_node_dataset(&r.data_dir, &r.dataset)?;
    let recipe = LinkTrainConfig::recipe_by_name(&enc.spec.model).or_else(|_| LinkTrainConfig::recipe_by_name("gae"))?;
    let mut base = job.run_file.train_config(recipe)?;
    base.variational = false;
    base.latent_dim = enc.spec.out_dim;
    base.normalize_features = pre.normalize_features;
    job.overrides.apply(super::Targets {
        epochs: &mut base.epochs,
        lr: &mut base.optimizer.lr,
        hidden: &mut 0,
        dropout: &mut 0.0,
        patience: &mut base.patience,
        sampling: None,
        batch_size: None,
    })?;
    if mode == FinetuneMode::Finetune {
        default_encoder_lr(&mut base.param_groups, "encoder", base.optimizer.lr(), env);
    }
    let first = r.seed.unwrap_or(base.seed);
    let models = env.models;
    let mut rows = Vec::new();
    for run in 0..r.runs {
        let cfg = LinkTrainConfig { seed: first + run, ..base.clone() };
        cfg.validate()?;
        // The encoder must not have seen this split's validation or test edges.
        if enc.dataset.eq_ignore_ascii_case(&ds.name) && mode == FinetuneMode::Finetune && enc.spec.link_split_seed != Some(cfg.split_seed()) {
            return Err(Error::config(
                "pretrained",
                match enc.spec.link_split_seed {
                    None => format!("pretrained on every edge of {}", ds.name),
                    Some(s) => format!("pretrained on the link split with seed {s}, fine-tuning splits with seed {}", cfg.split_seed()),
                },
                "the encoder would have seen this split's test edges: pretrain with link_split = true and --seed equal to the fine-tuning split seed (or set split_seed in [train])",
            ));
        }
        let data = LinkData::prepare(&ds, &cfg)?;
        enc.spec.input.check_compatible(&InputKind::Continuous { width: data.x.dim() }, &ds.name)?;
        env.progress.start(&format!("run {}/{}", run + 1, r.runs), cfg.epochs as u64);
        let progress = &mut *env.progress;
        let mut on_epoch = |l: &crate::tasks::link::LinkEpochLog| progress.step(l.epoch as u64 + 1, &format!("loss {:.4}", l.loss));
        let hooks = Hooks { on_epoch: Some(&mut on_epoch), state_file: None, resume: None, stop: env.stop, ..Hooks::default() };
        let build = |p: &Params, _in: usize, _latent: usize| encoder_for(enc, p, mode, models);
        let (res, _) = train_encoder(&data, &cfg, Some(&build), hooks)?;
        env.progress.finish();
        rows.push(res);
    }
    let mut table = Table::new(&["seed", "split seed", "val AUC", "test AUC", "test AP", "best epoch"]);
    for x in &rows {
        table.rows.push(vec![
            x.seed.to_string(),
            x.split_seed.to_string(),
            format!("{:.4}", x.val.auc),
            format!("{:.4}", x.test.auc),
            format!("{:.4}", x.test.ap),
            x.best_epoch.to_string(),
        ]);
    }
    let auc = mean_std(&rows.iter().map(|x| x.test.auc).collect::<Vec<_>>()).unwrap_or((f64::NAN, f64::NAN));
    let ap = mean_std(&rows.iter().map(|x| x.test.ap).collect::<Vec<_>>()).unwrap_or((f64::NAN, f64::NAN));
    let headline = format!(
        "finetune ({}) {} on {} links: test AUC {:.4} ± {:.4}, AP {:.4} ± {:.4} over {} runs",
        mode.name(),
        enc.spec.model,
        ds.name,
        auc.0,
        auc.1,
        ap.0,
        ap.1,
        rows.len()
    );
    let json = json!({
        "task": "link", "mode": mode, "dataset": ds.name, "pretrained": enc.path, "pretrained_on": enc.dataset, "encoder": enc.spec, "config": base,
        "summary": {"test_auc_mean": auc.0, "test_auc_std": auc.1, "test_ap_mean": ap.0, "test_ap_std": ap.1, "runs": rows.len()},
        "runs": rows.iter().map(|x| json!({"seed": x.seed, "split_seed": x.split_seed, "val": x.val, "test": x.test, "best_epoch": x.best_epoch})).collect::<Vec<_>>(),
    });
    Ok(Report { json, tables: vec![table], headline, notes: vec![] })
}
