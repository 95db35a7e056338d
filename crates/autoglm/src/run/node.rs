//! The node-classification task at the run boundary.

use super::{pct, CheckpointMeta, JobSpec, PredictSpec, Report, Resolved, RunEnv, Table, Targets, Task, META_VERSION};
use crate::checkpoint::Checkpoint;
use crate::data::registry::load_node_dataset;
use crate::eval::stats::mean_std;
use crate::models::registry::{ModelArgs, ModelEntry};
use crate::models::ModelKind;
use crate::nn::{Module, Params};
use crate::tasks::node::{train_module_sharded, NodeData, NodeModel, NodeTrainConfig, RunResult, Shard};
use crate::{Error, Result};
use serde_json::json;
use std::path::Path;

pub(super) struct NodeTask;

/// The recipe of `entry` (built-in models: their paper's; registered ones: GCN's
/// optimiser and schedule), then the run file's `[train]`, then the flags.
pub(super) fn node_config(job: &JobSpec, entry: &ModelEntry) -> Result<NodeTrainConfig> {
    let kind = entry.builtin.unwrap_or(ModelKind::Gcn);
    let mut cfg = job.run_file.train_config(NodeTrainConfig::recipe(kind))?;
    cfg.model.model = kind;
    let o = &job.overrides;
    if o.folds.is_some() {
        return Err(Error::config(
            "folds",
            o.folds.unwrap_or(0),
            "cross-validation folds are a setting of the graph task; node classification uses the dataset's split",
        ));
    }
    o.apply(Targets {
        epochs: &mut cfg.epochs,
        lr: &mut cfg.optimizer.lr,
        hidden: &mut cfg.model.hidden_dim,
        dropout: &mut cfg.model.dropout,
        patience: &mut cfg.patience,
        sampling: Some(&mut cfg.sampling),
        batch_size: None,
    })?;
    cfg.validate()?;
    Ok(cfg)
}

/// The metadata of a node checkpoint (`encoding`: what else the run knows, such as pruning).
pub(super) fn checkpoint_meta(
    entry: &ModelEntry,
    dataset: &str,
    data: &NodeData,
    cfg: &NodeTrainConfig,
    encoding: serde_json::Value,
    model_options: serde_json::Value,
) -> Result<CheckpointMeta> {
    Ok(CheckpointMeta {
        version: META_VERSION,
        task: "node".into(),
        model: entry.name.clone(),
        dataset: dataset.to_string(),
        in_dim: data.x.dim(),
        num_classes: Some(data.num_classes),
        train: serde_json::to_value(cfg)?,
        encoding,
        model_options,
    })
}

pub(super) fn build(entry: &ModelEntry, cfg: &NodeTrainConfig, opts: &serde_json::Value, p: &Params, in_dim: usize, out_dim: usize) -> Result<Box<dyn Module>> {
    if entry.builtin.is_some() {
        return Ok(Box::new(cfg.model.init(in_dim, out_dim, p)?));
    }
    let m = &cfg.model;
    entry.build(&ModelArgs { in_dim, out_dim, hidden_dim: m.hidden_dim, num_layers: m.num_layers, dropout: m.dropout, options: opts.clone() }, p)
}

impl Task for NodeTask {
    fn name(&self) -> &'static str {
        "node"
    }
    fn describe(&self) -> &'static str {
        "node classification (one graph with node labels)"
    }
    fn recognises(&self, _data_dir: &Path, _dataset: &str) -> bool {
        true
    }
    fn searchable(&self) -> Option<&'static dyn super::auto::Searchable> {
        Some(&NodeSearch)
    }

    fn train(&self, job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
        let entry = env.models.for_task(&r.model, "node")?;
        let base = node_config(job, entry)?;
        let first_seed = r.seed.unwrap_or(base.seed);
        if r.runs > 1 && (job.save_state.is_some() || job.resume.is_some()) {
            return Err(Error::config("runs", r.runs, "--save-state and --resume follow one run; pass --runs 1 (and --seed for the run to continue)"));
        }
        let ds = load_node_dataset(&r.data_dir, &r.dataset)?;
        for n in &ds.notes {
            env.note(n.clone());
        }
        env.progress.note(&format!(
            "{}: {} nodes, {} edges, {} features, {} classes; model {} ({} runs)",
            ds.name,
            ds.graph.num_nodes(),
            ds.graph.num_edges(),
            ds.x.num_cols(),
            ds.num_classes,
            entry.name,
            r.runs
        ));
        let mut data = NodeData::prepare_checked(&ds, base.normalize_features, base.allow_split_overlap)?;
        if base.hold_out_validation(&mut data.split, &data.y) {
            env.note(format!(
                "the split has no validation nodes: {} of its test nodes (val_from_test = {}, per class, seeded) validate instead, and test metrics are over the other {}",
                data.split.val.len(),
                base.val_from_test.unwrap_or(0.0),
                data.split.test.len()
            ));
        }
        if data.split.val.is_empty() {
            env.note("the split has no validation nodes: model selection keeps the last epoch and validation metrics are n/a");
        }
        if data.split.test.is_empty() {
            env.note("the split has no test nodes: test metrics are n/a");
        }
        let opts = job.run_file.model_options()?;
        // Data-parallel: every rank runs the full-graph forward; the loss (and
        // so the gradient) of each covers its strided share of the training
        // nodes, weighted by that share, so the summed gradient is the
        // one-process gradient of the same full batch.
        let dist = env.dist;
        let mut weight = 1.0f32;
        let total_train = data.split.train.len();
        if let Some(d) = dist {
            if base.curriculum.is_some() || base.labels_per_class.is_some() || base.label_rate.is_some() {
                return Err(Error::config(
                    "distributed",
                    "curriculum / labels_per_class / label_rate",
                    "curricula and low-label training are not sharded across ranks yet; run them in one process (without --distributed)",
                ));
            }
            crate::dist::check_same_config(d.comm, &format!("{job:?}{base:?}"))?;
            let (mine, w) = crate::dist::shard::strided(&data.split.train, d.comm.rank(), d.comm.size());
            weight = w;
            let how = super::sync_words(&d);
            let ranks = d.comm.size();
            match &base.sampling {
                None => {
                    env.note(format!(
                        "distributed over {ranks} ranks ({} compression, {how}): the global batch is all {total_train} training nodes per step, this rank's share {} (weight {w:.4}); the training accuracy in the log is over this rank's share",
                        d.compression,
                        mine.len()
                    ));
                    data.split.train = mine;
                }
                Some(smp) => env.note(format!(
                    "distributed over {ranks} ranks ({} compression, {how}): the global batch is {} seed nodes per step ({} per rank, a strided share of each shuffled global batch), {} steps per epoch on every rank",
                    d.compression,
                    smp.batch_size * ranks,
                    smp.batch_size,
                    crate::train::NeighborBlocks::new(&data.graph, data.split.train.clone(), smp.batch_size, smp.per_hop(), 0)?.with_shard(d.comm.rank(), ranks).steps_per_epoch()
                )),
            }
        }
        let writes = dist.is_none_or(|d| d.writes());
        let mut results: Vec<RunResult> = vec![];
        let mut comm_runs: Vec<crate::dist::CommStats> = vec![];
        for k in 0..r.runs {
            let cfg = NodeTrainConfig { seed: first_seed + k, ..base.clone() };
            env.progress.start(&format!("run {}/{}", k + 1, r.runs), cfg.epochs as u64);
            let progress = &mut *env.progress;
            let mut on_epoch =
                |log: &crate::tasks::node::EpochLog| progress.step(log.epoch as u64 + 1, &format!("loss {:.4} val {}", log.loss, pct(log.val_acc)));
            let mut sync = dist.map(|d| super::rank_sync(&d, weight));
            // Sampled steps: the share of each step's global batch, set by the loss.
            let step_weight = std::sync::atomic::AtomicU32::new(weight.to_bits());
            let sampled = cfg.sampling.is_some();
            let mut grad_hook = |g: &mut candle_core::backprop::GradStore, v: &[candle_core::Var]| {
                sync.as_mut().map_or(Ok(()), |s| {
                    if sampled {
                        s.set_weight(f32::from_bits(step_weight.load(std::sync::atomic::Ordering::SeqCst)));
                    }
                    s.on_grads(g, v)
                })
            };
            // Ranks stop together: an interrupt on any rank is agreed on with the
            // epoch's loss, so no rank is left waiting in a collective.
            let agreed = std::sync::atomic::AtomicBool::new(false);
            let asked = env.stop;
            let mut epoch_loss = |l: f64| -> Result<f64> { dist.map_or(Ok(l), |d| super::agreed_epoch_loss(&d, weight, asked, &agreed, l)) };
            let hooks = super::run_hooks(job, dist.is_some(), writes, env.stop, &mut on_epoch, &mut grad_hook, &mut epoch_loss, &agreed);
            let shard = match dist {
                Some(d) => Shard { rank: d.comm.rank(), ranks: d.comm.size(), step_weight: Some(&step_weight) },
                None => Shard::default(),
            };
            let (res, model): (RunResult, NodeModel<Box<dyn Module>>) =
                train_module_sharded(&data, &cfg, |p, d, c| build(entry, &cfg, &opts, p, d, c), hooks, shard)?;
            env.progress.finish();
            if let Some(s) = &sync {
                comm_runs.push(s.stats());
            }
            if k == 0 {
                for line in model.model.describe(&data.graph)? {
                    env.note(line);
                }
                if let Some(path) = job.checkpoint.as_ref().filter(|_| writes) {
                    let meta = checkpoint_meta(entry, &r.dataset, &data, &cfg, serde_json::Value::Null, job.run_file.model_options()?)?;
                    crate::checkpoint::save(path, &model.params, &meta.to_json())?;
                    env.progress.note(&format!("saved checkpoint {}", path.display()));
                }
            }
            results.push(res);
        }
        let mut table = Table::new(&["seed", "val acc", "test acc", "test macro-F1", "best epoch", "ms/epoch"]);
        for x in &results {
            table.rows.push(vec![
                x.seed.to_string(),
                pct(x.best_val_acc),
                pct(x.test_acc),
                pct(x.test_macro_f1),
                x.best_epoch.to_string(),
                format!("{:.2}", x.epoch_ms),
            ]);
        }
        let stat = |f: &dyn Fn(&RunResult) -> Option<f64>| mean_std(&results.iter().filter_map(f).collect::<Vec<_>>());
        let acc = stat(&|x| x.test_acc);
        let f1 = stat(&|x| x.test_macro_f1);
        let ms = stat(&|x| Some(x.epoch_ms)).map_or(f64::NAN, |m| m.0);
        let ms_txt = |v: Option<(f64, f64)>| v.map_or_else(|| "n/a".to_string(), |(m, s)| format!("{:.2} ± {:.2}", m * 100.0, s * 100.0));
        let headline = format!(
            "node {} on {}: test accuracy {}, macro-F1 {} over {} runs; {ms:.2} ms per training epoch",
            entry.name,
            ds.name,
            ms_txt(acc),
            ms_txt(f1),
            results.len()
        );
        let runs: Vec<_> = results
            .iter()
            .map(|x| json!({"seed": x.seed, "best_epoch": x.best_epoch, "selection": x.selection, "val_acc": x.best_val_acc, "test_acc": x.test_acc, "test_macro_f1": x.test_macro_f1, "final_test_acc": x.final_test_acc, "epoch_ms": x.epoch_ms, "epochs_run": x.epochs_run, "history": x.history}))
            .collect();
        let json = json!({
            "task": "node", "dataset": ds.name, "model": entry.name, "config": base, "first_seed": first_seed,
            "summary": {"test_acc_mean": acc.map(|a| a.0), "test_acc_std": acc.map(|a| a.1), "test_macro_f1_mean": f1.map(|a| a.0), "test_macro_f1_std": f1.map(|a| a.1), "epoch_ms_mean": ms, "runs": results.len()},
            "runs": runs,
        });
        let mut json = json;
        if let Some(d) = dist {
            json["distributed"] = json!({
                "ranks": d.comm.size(), "rank": d.comm.rank(), "compression": d.compression.to_string(),
                "global_batch": base.sampling.as_ref().map_or(total_train, |s| s.batch_size * d.comm.size()),
                "rank_batch": base.sampling.as_ref().map_or(data.split.train.len(), |s| s.batch_size),
            });
            json["comm"] = super::comm_json(&comm_runs);
        }
        Ok(Report { json, tables: vec![table], headline, notes: vec![] })
    }

    fn predict(&self, spec: &PredictSpec, ck: &Checkpoint, meta: &CheckpointMeta, env: &mut RunEnv) -> Result<serde_json::Value> {
        if spec.pairs.is_some() || spec.graphs.is_some() {
            return Err(Error::config(
                if spec.pairs.is_some() { "pairs" } else { "graphs" },
                "given",
                "is for link (--pairs) or graph (--graphs) checkpoints; this is a node checkpoint: pass --dataset",
            ));
        }
        let path = &spec.checkpoint;
        let cfg: NodeTrainConfig = meta.train_config(path)?;
        let entry = env.models.for_task(&meta.model, "node")?;
        let dataset = spec.dataset.clone().unwrap_or_else(|| meta.dataset.clone());
        let dir = crate::data::data_dir(spec.data_dir.as_deref());
        let ds = load_node_dataset(&dir, &dataset)?;
        let (graph, x) = NodeData::inputs(&ds, cfg.normalize_features)?;
        if x.dim() != meta.in_dim {
            return Err(Error::inconsistent(format!("features per node of {dataset} (the checkpoint was trained with {})", meta.in_dim), meta.in_dim, x.dim()));
        }
        let classes = meta.num_classes.unwrap_or(0);
        let params = Params::new(cfg.seed);
        let model = build(entry, &cfg, &meta.model_options, &params, meta.in_dim, classes)?;
        ck.load_into(&params)?;
        let model = NodeModel { config: cfg, params, model };
        let pred = model.predict(&graph, &x)?;
        let test: Vec<usize> = ds.split.as_ref().map(|s| s.test.clone()).unwrap_or_default();
        let acc = if test.is_empty() || !ds.has_labels() {
            None
        } else {
            Some(crate::eval::metrics::accuracy(&test.iter().map(|&i| pred[i]).collect::<Vec<_>>(), &test.iter().map(|&i| ds.y[i]).collect::<Vec<_>>())?)
        };
        env.progress.note(&format!("{dataset}: predicted {} nodes; test accuracy {}", pred.len(), pct(acc)));
        Ok(json!({"task": "node", "dataset": dataset, "model": meta.model, "predictions": pred, "test_acc": acc}))
    }
}

/// Node classification in the search: the GraphGym design space over the
/// built-in stacks (width, depth, skip connections, batch norm, activation,
/// jumping knowledge, dropout, learning rate, weight decay, label smoothing,
/// feature normalisation), each registered model's own dimensions, and
/// selection on validation accuracy.
pub(super) struct NodeSearch;

/// The names the task's design space sets for every model.
pub(super) const COMMON: [&str; 5] = ["hidden_dim", "num_layers", "dropout", "lr", "weight_decay"];

impl super::auto::Searchable for NodeSearch {
    fn meta_features(&self, data_dir: &Path, dataset: &str) -> Result<super::auto::MetaFeatures> {
        Ok(super::auto::MetaFeatures::of_nodes("node", &load_node_dataset(data_dir, dataset)?))
    }
    fn space(&self, meta: &super::auto::MetaFeatures, models: &[&ModelEntry]) -> super::auto::Space {
        use super::auto::space::dims::{choice, flag, int, log, uniform};
        use super::auto::Param;
        let big = meta.nodes > 100_000;
        let mut params = vec![
            Param::common("train.model.dropout", uniform("dropout", 0.0, 0.8)),
            Param::common("train.optimizer.lr", log("lr", 1e-3, 5e-2)),
            Param::common("train.optimizer.weight_decay", log("weight_decay", 1e-5, 1e-2)),
            Param::common("train.label_smoothing", uniform("label_smoothing", 0.0, 0.3)),
            Param::common("train.normalize_features", flag("normalize_features")),
        ];
        for e in models {
            let m = Some(e.name.clone());
            let gat = e.builtin == Some(ModelKind::Gat);
            // GAT's width is per head (8 heads): the same total widths
            let widths: &[i64] = match (gat, big) {
                (true, _) => &[8, 16, 32, 64],
                (false, true) => &[16, 32, 64, 128],
                (false, false) => &[16, 32, 64, 128, 256],
            };
            params.push(Param { key: "train.model.hidden_dim".into(), dim: int("hidden_dim", widths), model: m.clone() });
            params.push(Param { key: "train.model.num_layers".into(), dim: int("num_layers", if big { &[2, 3] } else { &[2, 3, 4] }), model: m.clone() });
            if e.builtin.is_some() {
                for d in [flag("residual"), flag("norm"), choice("activation", &["relu", "elu", "prelu"]), choice("jk", &["last", "cat", "max"])] {
                    params.push(Param { key: format!("train.model.{}", super::auto::dim_name(&d)), dim: d, model: m.clone() });
                }
            }
            params.extend(super::auto::model_params(e, &COMMON, "train.model", &|n| Some(n.to_string())));
        }
        super::auto::Space { models: models.iter().map(|e| e.name.clone()).collect(), params }
    }
    fn max_epochs(&self, _meta: &super::auto::MetaFeatures) -> usize {
        200
    }
    fn fixed_settings(&self, meta: &super::auto::MetaFeatures, _fold: Option<usize>) -> Vec<(&'static str, super::auto::Value)> {
        if meta.val_count == 0 {
            vec![("train.val_from_test", super::auto::Value::from(0.5))]
        } else {
            vec![]
        }
    }
    fn score_name(&self) -> &'static str {
        "accuracy"
    }
    fn val_score(&self, report: &Report) -> Option<f64> {
        report.json["runs"][0]["val_acc"].as_f64()
    }
    fn test_metrics(&self, report: &Report) -> Vec<(String, f64, f64)> {
        let s = &report.json["summary"];
        ["acc", "macro_f1"]
            .iter()
            .filter_map(|k| Some((k.replace("acc", "accuracy"), s[format!("test_{k}_mean")].as_f64()?, s[format!("test_{k}_std")].as_f64()?)))
            .collect()
    }
}
