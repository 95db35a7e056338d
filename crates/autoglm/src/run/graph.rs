//! The graph-classification task at the run boundary (TU datasets, k-fold
//! cross-validation).
//!
//! The protocol comes from `protocol = "gin" | "errica"` in the `[train]`
//! section of the run file; when it is not set, Errica et al.'s is used where
//! the dataset ships folds (`DS/splits/*.json`) and the GIN paper's otherwise
//! ([`crate::tasks::graph::resolve_protocol`]).

use super::{pct, CheckpointMeta, JobSpec, PredictSpec, Report, Resolved, RunEnv, Table, Targets, Task, META_VERSION};
use crate::checkpoint::Checkpoint;
use crate::data::tu::{load_tu_encoded, TuEncoding};
use crate::dist::shard::Shard;
use crate::models::graph_classifier::GraphClassifier;
use crate::models::registry::{ModelArgs, ModelEntry};
use crate::models::ModelKind;
use crate::nn::Params;
use crate::tasks::graph::{prepare_folds, summarize, train_fold_module_sharded, training_graphs, FoldResult, GraphModel, GraphTrainConfig, Protocol};
use crate::train::batches::GraphMiniBatches;
use crate::{Error, Result};
use serde_json::json;
use std::path::Path;

pub(super) struct GraphTask;

/// The GIN recipe with the chosen convolution, then the run file's
/// `[train]`, then the flags.
fn graph_config(job: &JobSpec, entry: &ModelEntry, seed: Option<u64>) -> Result<GraphTrainConfig> {
    let kind = entry.builtin.unwrap_or(ModelKind::Gin);
    let mut cfg = job.run_file.train_config(GraphTrainConfig::recipe(kind))?;
    cfg.model.model = kind;
    let o = &job.overrides;
    o.apply(Targets {
        epochs: &mut cfg.epochs,
        lr: &mut cfg.optimizer.lr,
        hidden: &mut cfg.model.hidden_dim,
        dropout: &mut cfg.model.dropout,
        patience: &mut cfg.patience,
        sampling: None,
        batch_size: Some(&mut cfg.batch_size),
    })?;
    if let Some(k) = o.folds {
        cfg.folds = k;
    }
    if let Some(s) = seed {
        cfg.seed = s;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// The classifier of `entry`: the GIN-paper classifier for the built-in
/// convolutions, or the same readout and head around a registered encoder.
pub(super) fn build(
    entry: &ModelEntry,
    cfg: &GraphTrainConfig,
    opts: &serde_json::Value,
    p: &Params,
    in_dim: usize,
    classes: usize,
) -> Result<GraphClassifier> {
    if entry.builtin.is_some() {
        return cfg.model.init(in_dim, classes, p);
    }
    let m = &cfg.model;
    let enc_in = if m.input_mlp { m.hidden_dim } else { in_dim };
    let args =
        ModelArgs { in_dim: enc_in, out_dim: m.hidden_dim, hidden_dim: m.hidden_dim, num_layers: m.num_conv_layers(), dropout: 0.0, options: opts.clone() };
    let encoder = entry.build(&args, &p.pp("convs.0"))?;
    m.init_with_encoder(in_dim, classes, p, encoder)
}

fn is_tu(data_dir: &Path, dataset: &str) -> bool {
    data_dir.join(dataset).join(format!("{dataset}_A.txt")).exists()
}

impl Task for GraphTask {
    fn name(&self) -> &'static str {
        "graph"
    }
    fn describe(&self) -> &'static str {
        "graph classification (many graphs with graph labels, TU format)"
    }
    fn recognises(&self, data_dir: &Path, dataset: &str) -> bool {
        is_tu(data_dir, dataset)
    }
    fn searchable(&self) -> Option<&'static dyn super::auto::Searchable> {
        Some(&GraphSearch)
    }

    fn train(&self, job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
        if r.runs != 1 {
            return Err(Error::config(
                "runs",
                r.runs,
                "graph classification repeats over --folds, not --runs; run again with another --seed for another repetition",
            ));
        }
        if job.save_state.is_some() || job.resume.is_some() {
            return Err(Error::config("save_state", "given", "resumable state covers the node and link tasks; a cross-validation restarts its folds"));
        }
        let entry = env.models.for_task(&r.model, "graph")?;
        let cfg = graph_config(job, entry, r.seed)?;
        let dir = &r.data_dir;
        let (ds, encoding) = load_tu_encoded(dir, &r.dataset, &cfg.features, None)?;
        let (protocol, folds, source) = prepare_folds(&ds, &cfg)?;
        let nodes: usize = ds.graphs.iter().map(|g| g.graph.num_nodes()).sum();
        env.progress.note(&format!(
            "{}: {} graphs, {nodes} nodes, {} features, {} classes; model {} ({} layers incl. input, hidden {}, {:?} pooling); {} epochs x {} folds, batch {}",
            ds.name,
            ds.graphs.len(),
            ds.num_node_features,
            ds.num_classes,
            entry.name,
            cfg.model.num_layers,
            cfg.model.hidden_dim,
            cfg.model.pooling,
            cfg.epochs,
            folds.len(),
            cfg.batch_size
        ));
        env.note(format!("{}; folds: {source}", protocol.describe()));
        let opts = job.run_file.model_options()?;
        if entry.builtin.is_none() {
            // how the encoder runs on these graphs (attention forms, pattern sizes), from a throwaway build
            let probe = build(entry, &cfg, &opts, &Params::new(0), ds.num_node_features.max(1), ds.num_classes.max(2))?;
            let all: Vec<&crate::graph::Graph> = ds.graphs.iter().map(|g| &g.graph).collect();
            let batch = crate::graph::Batch::from_graphs(&all)?;
            for line in probe.describe_encoder(&batch.graph)? {
                env.note(line);
            }
        }
        // Data-parallel: each rank trains on every ranks-th graph of each
        // global batch; its gradient is weighted by its share of the batch.
        let dist = env.dist;
        if let Some(d) = dist {
            crate::dist::check_same_config(d.comm, &format!("{job:?}{cfg:?}"))?;
            let ranks = d.comm.size();
            env.note(format!(
                "distributed over {ranks} ranks ({} compression, {}): the global batch is {} graphs per step ({} per rank, a strided share of each global batch); batch norm normalises with each rank's own batch statistics (as PyTorch's DistributedDataParallel without SyncBatchNorm) and its running statistics are averaged over the ranks every step, so every rank evaluates the same model; dropout masks are drawn per rank",
                d.compression,
                super::sync_words(&d),
                cfg.batch_size * ranks,
                cfg.batch_size
            ));
        }
        let writes = dist.is_none_or(|d| d.writes());
        let mut comm_runs: Vec<crate::dist::CommStats> = vec![];
        let num_folds = folds.len();
        let mut results: Vec<FoldResult> = Vec::with_capacity(num_folds);
        if let Some(f) = cfg.fold_index {
            if f >= num_folds {
                return Err(Error::config("fold_index", f, format!("there are {num_folds} folds (0 to {})", num_folds - 1)));
            }
            env.note(format!("only fold {f} of the {num_folds} is trained (fold_index)"));
        }
        for (k, fold) in folds.iter().enumerate().filter(|(k, _)| cfg.fold_index.is_none_or(|f| f == *k)) {
            env.progress.start(&format!("fold {}/{num_folds}", k + 1), cfg.epochs as u64);
            let progress = &mut *env.progress;
            let mut on_epoch = |log: &crate::tasks::graph::EpochLog| {
                let val = log.val_acc.map(|v| format!(" val {}", pct(Some(v)))).unwrap_or_default();
                progress.step(log.epoch as u64 + 1, &format!("loss {:.4}{val} test {}", log.loss, pct(Some(log.test_acc))));
            };
            let step_weight = std::sync::atomic::AtomicU32::new(1f32.to_bits());
            let shard = match dist {
                Some(d) => Shard { rank: d.comm.rank(), ranks: d.comm.size(), step_weight: Some(&step_weight) },
                None => Shard::default(),
            };
            let share = GraphMiniBatches::new(&ds, training_graphs(fold, protocol), cfg.batch_size, cfg.iters_per_epoch, 0)?.with_shard(shard)?.epoch_share();
            // batch norm's running statistics, averaged with the gradients
            let buffers = std::sync::OnceLock::<Vec<candle_core::Var>>::new();
            let mut sync = dist.map(|d| super::rank_sync(&d, share));
            let mut grad_hook = |g: &mut candle_core::backprop::GradStore, v: &[candle_core::Var]| {
                sync.as_mut().map_or(Ok(()), |s| {
                    s.set_weight(f32::from_bits(step_weight.load(std::sync::atomic::Ordering::SeqCst)));
                    s.on_grads(g, v)?;
                    s.sync_buffers(buffers.get().map_or(&[], |b| b.as_slice()))
                })
            };
            let agreed = std::sync::atomic::AtomicBool::new(false);
            let asked = env.stop;
            let mut epoch_loss = |l: f64| -> Result<f64> { dist.map_or(Ok(l), |d| super::agreed_epoch_loss(&d, share, asked, &agreed, l)) };
            let hooks = super::run_hooks(job, dist.is_some(), writes, env.stop, &mut on_epoch, &mut grad_hook, &mut epoch_loss, &agreed);
            let build_rank = |p: &Params, d, c| {
                let m = build(entry, &cfg, &opts, p, d, c)?;
                buffers.get_or_init(|| p.buffers().into_iter().map(|(_, v)| v).collect());
                Ok(m)
            };
            let (res, model): (FoldResult, GraphModel) = train_fold_module_sharded(&ds, fold, k, protocol, &cfg, build_rank, hooks, shard)?;
            env.progress.finish();
            if let Some(s) = &sync {
                comm_runs.push(s.stats());
            }
            env.progress.note(&format!(
                "fold {}/{num_folds}: test {} (epoch {}){}, {:.1} ms/epoch",
                k + 1,
                pct(Some(res.test_acc)),
                res.selected_epoch + 1,
                res.val_acc.map(|v| format!(", val {}", pct(Some(v)))).unwrap_or_default(),
                res.epoch_ms
            ));
            if results.is_empty() {
                if let Some(path) = job.checkpoint.as_ref().filter(|_| writes) {
                    let encoding_json = json!({"tu_encoding": encoding, "class_labels": encoding.class_values, "protocol": protocol, "fold": k, "selected_epoch": res.selected_epoch});
                    let meta = CheckpointMeta {
                        version: META_VERSION,
                        task: "graph".into(),
                        model: entry.name.clone(),
                        dataset: ds.name.clone(),
                        in_dim: ds.num_node_features,
                        num_classes: Some(ds.num_classes),
                        train: serde_json::to_value(&model.config)?,
                        encoding: encoding_json,
                        model_options: job.run_file.model_options()?,
                    };
                    crate::checkpoint::save(path, &model.params, &meta.to_json())?;
                    env.progress.note(&format!("saved checkpoint {} (the model of fold 1)", path.display()));
                }
            }
            results.push(res);
        }
        let s = summarize(&results)?;
        let table = match protocol {
            Protocol::Gin => {
                let best = s.best_epoch.unwrap_or(0);
                let h_best = format!("test acc @ epoch {}", best + 1);
                let mut t = Table::new(&["fold", "train", "test", &h_best, "test acc (last epoch)", "ms/epoch"]);
                t.rows = results
                    .iter()
                    .map(|f| {
                        vec![
                            (f.fold + 1).to_string(),
                            f.num_train.to_string(),
                            f.num_test.to_string(),
                            pct(f.test_curve.get(best).copied()),
                            pct(Some(f.test_acc)),
                            format!("{:.1}", f.epoch_ms),
                        ]
                    })
                    .collect();
                t
            }
            Protocol::Errica => {
                let mut t = Table::new(&["fold", "train", "val", "test", "selected epoch", "val acc", "test acc", "ms/epoch"]);
                t.rows = results
                    .iter()
                    .map(|f| {
                        vec![
                            (f.fold + 1).to_string(),
                            f.num_train.to_string(),
                            f.num_val.to_string(),
                            f.num_test.to_string(),
                            (f.selected_epoch + 1).to_string(),
                            pct(f.val_acc),
                            pct(Some(f.test_acc)),
                            format!("{:.1}", f.epoch_ms),
                        ]
                    })
                    .collect();
                t
            }
        };
        let ms = results.iter().map(|f| f.epoch_ms).sum::<f64>() / results.len().max(1) as f64;
        let at = s.best_epoch.map(|e| format!(" at epoch {} of the fold-averaged test curve", e + 1)).unwrap_or_default();
        let headline = format!(
            "graph {} on {} [{} protocol]: accuracy {} ± {}{at}, {} folds ({source}); {ms:.1} ms per training epoch",
            entry.name,
            ds.name,
            protocol,
            pct(Some(s.mean)),
            pct(Some(s.std)),
            s.num_folds
        );
        let json = json!({
            "task": "graph", "dataset": ds.name, "model": entry.name,
            "protocol": protocol, "protocol_description": protocol.describe(), "fold_source": source,
            "config": cfg,
            "summary": {"accuracy_mean": s.mean, "accuracy_std": s.std, "best_epoch": s.best_epoch, "fold_accuracy": s.fold_acc, "folds": s.num_folds, "epoch_ms_mean": ms, "mean_test_curve": s.mean_curve},
            "folds": results,
        });
        let mut json = json;
        if let Some(d) = dist {
            json["distributed"] = json!({
                "ranks": d.comm.size(), "rank": d.comm.rank(), "compression": d.compression.to_string(),
                "global_batch": cfg.batch_size * d.comm.size(), "rank_batch": cfg.batch_size,
            });
            json["comm"] = super::comm_json(&comm_runs);
        }
        Ok(Report { json, tables: vec![table], headline, notes: vec![] })
    }

    fn predict(&self, spec: &PredictSpec, ck: &Checkpoint, meta: &CheckpointMeta, env: &mut RunEnv) -> Result<serde_json::Value> {
        let path = &spec.checkpoint;
        if spec.pairs.is_some() {
            return Err(Error::config("pairs", "given", "is for link checkpoints; this is a graph checkpoint: pass --graphs FOLDER"));
        }
        let cfg: GraphTrainConfig = meta.train_config(path)?;
        let entry = env.models.for_task(&meta.model, "graph")?;
        let name = spec.graphs.clone().or_else(|| spec.dataset.clone()).unwrap_or_else(|| meta.dataset.clone());
        let dir = crate::data::data_dir(spec.data_dir.as_deref());
        let classes = meta.num_classes.unwrap_or(0);
        // The training run's vocabulary (node labels, degree width, classes), so
        // every value keeps the column it had in training.
        let encoding: Option<TuEncoding> = match meta.encoding.get("tu_encoding") {
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::Checkpoint { path: path.into(), msg: format!("metadata tu_encoding is not a TU encoding ({e}); retrain it") })?,
            ),
            None => None,
        };
        let (ds, enc) = load_tu_encoded(&dir, &name, &cfg.features, encoding.as_ref())?;
        if ds.num_node_features != meta.in_dim {
            return Err(Error::inconsistent(
                format!("features per node of {name} (node-label sets or the largest degree differ; features: {:?})", cfg.features),
                meta.in_dim,
                ds.num_node_features,
            ));
        }
        let params = Params::new(0);
        let classifier = build(entry, &cfg, &meta.model_options, &params, meta.in_dim, classes)?;
        ck.load_into(&params)?;
        let model = GraphModel { config: cfg, params, classifier };
        let all: Vec<usize> = (0..ds.graphs.len()).collect();
        let pred = model.predict(&ds, &all)?;
        let labels: Vec<i64> = meta.encoding["class_labels"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default();
        let as_labels: Option<Vec<i64>> = (labels.len() == classes).then(|| pred.iter().map(|&c| labels[c]).collect());
        let y: Vec<usize> = ds.graphs.iter().map(|g| g.y).collect();
        let labelled = encoding.is_none() || !enc.class_values.is_empty();
        let acc = if labelled && ds.num_classes == classes { crate::eval::metrics::accuracy(&pred, &y).ok() } else { None };
        env.progress.note(&format!(
            "{name}: classified {} graphs{}",
            pred.len(),
            acc.map(|a| format!("; accuracy against its graph labels {}", pct(Some(a)))).unwrap_or_default()
        ));
        Ok(json!({"task": "graph", "graphs": name, "model": meta.model, "predictions": pred, "predicted_labels": as_labels, "accuracy": acc}))
    }
}

/// Graph classification in the search: the GIN-paper classifier's width,
/// depth, pooling, layer readout, input embedding, batch size, dropout,
/// learning rate, weight decay (and continuous node attributes where the
/// dataset has them), each registered model's own dimensions; one search
/// inside each outer fold, selecting on that fold's inner validation part
/// (Errica et al.'s protocol), so the test fold is never seen.
pub(super) struct GraphSearch;

fn has_attributes(data_dir: &Path, dataset: &str) -> bool {
    data_dir.join(dataset).join(format!("{dataset}_node_attributes.txt")).exists()
}

impl super::auto::Searchable for GraphSearch {
    fn meta_features(&self, data_dir: &Path, dataset: &str) -> Result<super::auto::MetaFeatures> {
        let (ds, _) = load_tu_encoded(data_dir, dataset, &Default::default(), None)?;
        Ok(super::auto::MetaFeatures::of_graphs(&ds, has_attributes(data_dir, dataset)))
    }
    fn space(&self, meta: &super::auto::MetaFeatures, models: &[&ModelEntry]) -> super::auto::Space {
        use super::auto::space::dims::{choice, flag, int, log, uniform};
        use super::auto::Param;
        let mut params = vec![
            Param::common("train.model.hidden_dim", int("hidden_dim", &[16, 32, 64, 128])),
            Param::common("train.model.num_layers", int("num_layers", &[3, 4, 5, 6])),
            Param::common("train.model.dropout", uniform("dropout", 0.0, 0.6)),
            Param::common("train.optimizer.lr", log("lr", 1e-3, 3e-2)),
            Param::common("train.optimizer.weight_decay", log("weight_decay", 1e-6, 1e-3)),
            Param::common("train.batch_size", int("batch_size", &[32, 64, 128])),
            Param::common("train.model.pooling", choice("pooling", &["sum", "mean", "max", "attention"])),
            Param::common("train.model.layer_readout", choice("layer_readout", &["per_layer", "concat", "last"])),
            Param::common("train.model.input_mlp", flag("input_mlp")),
        ];
        if meta.has_node_attributes {
            params.push(Param::common("train.features.use_node_attributes", flag("use_node_attributes")));
        }
        for e in models {
            let rename = |n: &str| match n {
                "aggr" => Some("sage_aggr".to_string()),
                "train_eps" => Some(n.to_string()),
                _ => None,
            };
            params.extend(super::auto::model_params(e, &super::node::COMMON, "train.model", &rename));
        }
        super::auto::Space { models: models.iter().map(|e| e.name.clone()).collect(), params }
    }
    fn max_epochs(&self, _meta: &super::auto::MetaFeatures) -> usize {
        150
    }
    fn fixed_settings(&self, _meta: &super::auto::MetaFeatures, fold: Option<usize>) -> Vec<(&'static str, super::auto::Value)> {
        let mut v = vec![("train.protocol", super::auto::Value::from("errica"))];
        if let Some(f) = fold {
            v.push(("train.fold_index", super::auto::Value::from(f)));
        }
        v
    }
    fn outer_folds(&self, data_dir: &Path, dataset: &str) -> Result<Option<usize>> {
        let (ds, _) = load_tu_encoded(data_dir, dataset, &Default::default(), None)?;
        let cfg = GraphTrainConfig { protocol: Some(Protocol::Errica), ..GraphTrainConfig::default() };
        Ok(Some(prepare_folds(&ds, &cfg)?.1.len()))
    }
    fn score_name(&self) -> &'static str {
        "accuracy"
    }
    fn val_score(&self, report: &Report) -> Option<f64> {
        report.json["folds"][0]["val_acc"].as_f64()
    }
    fn test_metrics(&self, report: &Report) -> Vec<(String, f64, f64)> {
        let s = &report.json["summary"];
        if let (Some(m), Some(sd)) = (s["accuracy_mean"].as_f64(), s["accuracy_std"].as_f64()) {
            return vec![("accuracy".to_string(), m, sd)];
        }
        let f = report.json["folds"].as_array().map(|a| a.iter().filter_map(|x| x["test_acc"].as_f64()).collect::<Vec<_>>()).unwrap_or_default();
        crate::eval::stats::mean_std(&f).map(|(m, s)| vec![("accuracy".to_string(), m, s)]).unwrap_or_default()
    }
}
