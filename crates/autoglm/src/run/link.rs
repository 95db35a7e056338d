//! The link-prediction task at the run boundary, and the edge-noise
//! robustness study.

use super::{CheckpointMeta, JobSpec, PredictSpec, Report, Resolved, RunEnv, Table, Targets, Task, META_VERSION};
use crate::checkpoint::Checkpoint;
use crate::data::edge_split::{read_pairs_csv, EdgeNoise, NegativeStrategy};
use crate::data::registry::load_node_dataset;
use crate::eval::stats::mean_std;
use crate::models::registry::{ModelArgs, ModelEntry};
use crate::tasks::link::{robustness, summarize, train_encoder_sharded, EncoderBuilder, LinkData, LinkModel, LinkRunResult, LinkTrainConfig};
use crate::{Error, Result};
use serde_json::json;
use std::path::Path;

pub(super) struct LinkTask;

/// The protocol, stated next to every result.
fn protocol(cfg: &LinkTrainConfig) -> String {
    format!(
        "undirected edges split {} val / {} test (rest train, seeded); one val/test negative per positive drawn uniformly from the non-edges of the full graph; \
         Hits@K: positives above the K-th highest of those negatives (OGB); MRR: each positive (u, v) ranked against {} negatives (u, w), w uniform with {{u, w}} a non-edge of the full graph; \
         training positives: both directions of the training edges{}; training negatives: {} per positive, {}, ordered pairs u != v re-drawn every epoch, avoiding training edges; \
         encoder graph = training edges only; model selection on validation AUC",
        cfg.split.val,
        cfg.split.test,
        cfg.split.ranking_negatives,
        if cfg.self_loop_positives { " plus every node's self-pair (A + I, as the GAE paper)" } else { "" },
        cfg.negatives.ratio,
        match cfg.negatives.strategy {
            NegativeStrategy::Uniform => "uniform".to_string(),
            _ => format!("degree^{}-biased", cfg.negatives.degree_power),
        }
    )
}

/// A registered (not built-in) model as the link encoder: `in_dim` to `latent_dim`.
fn registered_encoder(entry: &ModelEntry, cfg: &LinkTrainConfig, opts: &serde_json::Value) -> Option<Box<EncoderBuilder<'static>>> {
    if entry.builtin.is_some() {
        return None;
    }
    let (e, enc, opts) = (entry.clone(), cfg.encoder.clone(), opts.clone());
    Some(Box::new(move |p: &crate::nn::Params, in_dim: usize, latent: usize| {
        e.build(&ModelArgs { in_dim, out_dim: latent, hidden_dim: enc.hidden_dim, num_layers: enc.num_layers, dropout: enc.dropout, options: opts.clone() }, p)
    }))
}

/// The recipe for the model name (registered models: the GAE recipe), then
/// the run file's `[train]`, then the flags.
fn link_config(job: &JobSpec, entry: &ModelEntry) -> Result<LinkTrainConfig> {
    let recipe = if entry.builtin.is_some() { LinkTrainConfig::recipe_by_name(&entry.name)? } else { LinkTrainConfig::recipe_by_name("gae")? };
    let mut cfg = job.run_file.train_config(recipe.clone())?;
    cfg.encoder.model = recipe.encoder.model;
    if recipe.variational {
        cfg.variational = true;
    }
    let o = &job.overrides;
    if o.folds.is_some() {
        return Err(Error::config(
            "folds",
            o.folds.unwrap_or(0),
            "cross-validation folds are a setting of the graph task; link prediction uses a seeded edge split (split.val / split.test in [train])",
        ));
    }
    o.apply(Targets {
        epochs: &mut cfg.epochs,
        lr: &mut cfg.optimizer.lr,
        hidden: &mut cfg.encoder.hidden_dim,
        dropout: &mut cfg.encoder.dropout,
        patience: &mut cfg.patience,
        sampling: None,
        batch_size: None,
    })?;
    cfg.validate()?;
    Ok(cfg)
}

const TABLE_METRICS: &[&str] = &["auc", "ap", "hits@10", "hits@20", "hits@50", "hits@100", "mrr"];

fn shown(name: &str) -> bool {
    TABLE_METRICS.contains(&name) || (name.starts_with("hits@") && !name.starts_with("rank_"))
}

impl Task for LinkTask {
    fn name(&self) -> &'static str {
        "link"
    }
    fn describe(&self) -> &'static str {
        "link prediction (held-out edges of one graph)"
    }
    fn recognises(&self, _data_dir: &Path, _dataset: &str) -> bool {
        false
    }
    fn searchable(&self) -> Option<&'static dyn super::auto::Searchable> {
        Some(&LinkSearch)
    }

    fn train(&self, job: &JobSpec, r: &Resolved, env: &mut RunEnv) -> Result<Report> {
        let entry = env.models.for_task(&r.model, "link")?;
        let base = link_config(job, entry)?;
        let first_seed = r.seed.unwrap_or(base.seed);
        let model_name = if entry.builtin.is_some() { base.model_name() } else { entry.name.clone() };
        if r.runs > 1 && (job.save_state.is_some() || job.resume.is_some()) {
            return Err(Error::config("runs", r.runs, "--save-state and --resume follow one run; pass --runs 1"));
        }
        let ds = load_node_dataset(&r.data_dir, &r.dataset)?;
        for n in &ds.notes {
            env.note(n.clone());
        }
        env.progress.note(&format!(
            "{}: {} nodes, {} directed edges, {} features; link prediction with {} ({} runs)",
            ds.name,
            ds.graph.num_nodes(),
            ds.graph.num_edges(),
            ds.x.num_cols(),
            model_name,
            r.runs
        ));
        let dist = env.dist;
        if let Some(d) = dist {
            crate::dist::check_same_config(d.comm, &format!("{job:?}{base:?}"))?;
        }
        let writes = dist.is_none_or(|d| d.writes());
        let mut comm_runs: Vec<crate::dist::CommStats> = vec![];
        let mut results: Vec<LinkRunResult> = vec![];
        let mut feature_note = String::new();
        for k in 0..r.runs {
            let cfg = LinkTrainConfig { seed: first_seed + k, ..base.clone() };
            let data = LinkData::prepare(&ds, &cfg)?;
            if k == 0 {
                feature_note = format!("{:?}", data.features);
                env.progress.note(&format!(
                    "split: {} train / {} val / {} test edges; features: {feature_note}",
                    data.split.train_pos.len(),
                    data.split.val_pos.len(),
                    data.split.test_pos.len()
                ));
            }
            // Data-parallel: each rank's loss covers its strided share of the
            // training edges and negatives, weighted by its share of the positives.
            let shard = dist.map_or((0, 1), |d| (d.comm.rank(), d.comm.size()));
            let positives = crate::tasks::link::training_positives(&data.split, cfg.self_loop_positives).len();
            let count = ((cfg.negatives.ratio * positives as f64).ceil() as usize).max(1);
            let weight = crate::tasks::link::edge_shares(positives, count, shard.0, shard.1).0 as f32;
            if let (Some(d), 0) = (dist, k) {
                env.note(format!(
                    "distributed over {} ranks ({} compression, {}): the global batch is all {positives} training edges and {count} negatives per step, this rank's share {weight:.4} of them",
                    d.comm.size(),
                    d.compression,
                    super::sync_words(&d)
                ));
            }
            env.progress.start(&format!("run {}/{}", k + 1, r.runs), cfg.epochs as u64);
            let progress = &mut *env.progress;
            let mut on_epoch =
                |log: &crate::tasks::link::LinkEpochLog| progress.step(log.epoch as u64 + 1, &format!("loss {:.4} val auc {:.3}", log.loss, log.val_auc));
            let mut sync = dist.map(|d| super::rank_sync(&d, weight));
            let mut grad_hook = |g: &mut candle_core::backprop::GradStore, v: &[candle_core::Var]| sync.as_mut().map_or(Ok(()), |s| s.on_grads(g, v));
            let agreed = std::sync::atomic::AtomicBool::new(false);
            let asked = env.stop;
            let mut epoch_loss = |l: f64| -> Result<f64> { dist.map_or(Ok(l), |d| super::agreed_epoch_loss(&d, weight, asked, &agreed, l)) };
            let hooks = super::run_hooks(job, dist.is_some(), writes, env.stop, &mut on_epoch, &mut grad_hook, &mut epoch_loss, &agreed);
            let opts = job.run_file.model_options()?;
            let (res, model) = match registered_encoder(entry, &cfg, &opts) {
                Some(b) => train_encoder_sharded(&data, &cfg, Some(&*b), hooks, shard)?,
                None => train_encoder_sharded(&data, &cfg, None, hooks, shard)?,
            };
            env.progress.finish();
            if let Some(s) = &sync {
                comm_runs.push(s.stats());
            }
            if k == 0 {
                if let Some(path) = job.checkpoint.as_ref().filter(|_| writes) {
                    let saved = LinkTrainConfig { split_seed: Some(cfg.split_seed()), ..cfg.clone() };
                    let meta = CheckpointMeta {
                        version: META_VERSION,
                        task: "link".into(),
                        model: entry.name.clone(),
                        dataset: r.dataset.clone(),
                        in_dim: data.x.dim(),
                        num_classes: None,
                        train: serde_json::to_value(&saved)?,
                        encoding: json!({"num_nodes": data.split.num_nodes, "features": data.features}),
                        model_options: job.run_file.model_options()?,
                    };
                    crate::checkpoint::save(path, &model.params, &meta.to_json())?;
                    env.progress.note(&format!("saved checkpoint {}", path.display()));
                }
            }
            results.push(res);
        }
        let names: Vec<String> = results[0].test.named().into_iter().map(|(n, _)| n).filter(|n| shown(n)).collect();
        let mut headers: Vec<String> = vec!["seed".into(), "val auc".into()];
        headers.extend(names.iter().cloned());
        headers.extend(["best epoch".to_string(), "ms/epoch".to_string()]);
        let mut table = Table { headers, rows: vec![] };
        for x in &results {
            let mut row = vec![x.seed.to_string(), format!("{:.4}", x.val.auc)];
            row.extend(x.test.named().into_iter().filter(|(n, _)| shown(n)).map(|(_, v)| format!("{v:.4}")));
            row.extend([x.best_epoch.to_string(), format!("{:.2}", x.epoch_ms)]);
            table.rows.push(row);
        }
        let summary = summarize(&results.iter().map(|x| &x.test).collect::<Vec<_>>());
        let (mm, msd) = mean_std(&results.iter().map(|x| x.epoch_ms).collect::<Vec<_>>()).unwrap_or((f64::NAN, f64::NAN));
        let mut stable = Table { headers: vec!["test metric".into(), format!("mean ± std over {} runs", results.len())], rows: vec![] };
        stable.rows = summary.iter().map(|(n, m, s)| vec![n.clone(), format!("{m:.4} ± {s:.4}")]).collect();
        stable.rows.push(vec!["ms/epoch".into(), format!("{mm:.2} ± {msd:.2}")]);
        let get = |k: &str| summary.iter().find(|s| s.0 == k).map_or(f64::NAN, |s| s.1);
        let headline = format!(
            "link {} on {}: test AUC {:.4}, AP {:.4}, Hits@10 {:.4}, MRR {:.4} (mean of {} runs); {mm:.2} ms per training epoch",
            model_name,
            ds.name,
            get("auc"),
            get("ap"),
            get("hits@10"),
            get("mrr"),
            results.len()
        );
        env.note(format!("protocol: {}", protocol(&base)));
        let summary_json: serde_json::Map<String, serde_json::Value> = summary.iter().map(|(n, m, s)| (n.clone(), json!({"mean": m, "std": s}))).collect();
        let mut json = json!({
            "task": "link", "dataset": ds.name, "model": model_name, "config": base, "features": feature_note, "first_seed": first_seed,
            "protocol": protocol(&base),
            "summary": {"test": summary_json, "epoch_ms_mean": mm, "runs": results.len()},
            "runs": results,
        });
        if let Some(d) = dist {
            json["distributed"] = json!({"ranks": d.comm.size(), "rank": d.comm.rank(), "compression": d.compression.to_string()});
            json["comm"] = super::comm_json(&comm_runs);
        }
        Ok(Report { json, tables: vec![table, stable], headline, notes: vec![] })
    }

    fn predict(&self, spec: &PredictSpec, ck: &Checkpoint, meta: &CheckpointMeta, env: &mut RunEnv) -> Result<serde_json::Value> {
        let path = &spec.checkpoint;
        if spec.graphs.is_some() {
            return Err(Error::config("graphs", "given", "is for graph checkpoints; this is a link checkpoint: pass --pairs FILE"));
        }
        let pairs_path = spec.pairs.as_ref().ok_or_else(|| Error::config("pairs", "missing", "pass --pairs FILE: a CSV of `src,dst` node pairs to score"))?;
        let (model, data, dataset) = load_link_model(path, ck, meta, spec.dataset.as_deref(), spec.data_dir.as_deref(), env)?;
        let pairs = read_pairs_csv(pairs_path, data.split.num_nodes)?;
        let scores = model.score_pairs(&data.split.train_graph, &data.x, &pairs)?;
        let out_pairs: Vec<_> = pairs
            .iter()
            .zip(&scores)
            .map(|(&(u, v), &s)| json!({"src": u, "dst": v, "logit": s, "probability": 1.0 / (1.0 + (-s as f64).exp()), "training_edge": data.split.train_graph.has_edge(u, v)}))
            .collect();
        env.progress.note(&format!("{dataset}: scored {} node pairs with {}", pairs.len(), meta.model));
        Ok(json!({"task": "link", "dataset": dataset, "model": meta.model, "pairs": out_pairs}))
    }
}

/// A link checkpoint's model with its data: the dataset (`dataset`, default
/// the training one) split by the checkpoint's own seeded split, so the
/// encoder sees the graph it was trained on. Returns the model, the data and
/// the dataset's name.
///
/// # Errors
/// Data errors; [`Error::Inconsistent`] when the features do not have the
/// checkpoint's width; the checkpoint's load errors.
pub(super) fn load_link_model(
    path: &Path,
    ck: &Checkpoint,
    meta: &CheckpointMeta,
    dataset: Option<&str>,
    data_dir: Option<&Path>,
    env: &RunEnv,
) -> Result<(LinkModel, LinkData, String)> {
    let cfg: LinkTrainConfig = meta.train_config(path)?;
    let dataset = dataset.map_or_else(|| meta.dataset.clone(), String::from);
    let ds = load_node_dataset(&crate::data::data_dir(data_dir), &dataset)?;
    let data = LinkData::prepare(&ds, &cfg)?;
    if data.x.dim() != meta.in_dim {
        return Err(Error::inconsistent(
            format!("features per node of {dataset} (the checkpoint was trained with {})", meta.in_dim),
            meta.in_dim,
            data.x.dim(),
        ));
    }
    let entry = env.models.for_task(&meta.model, "link")?;
    let model = match registered_encoder(entry, &cfg, &meta.model_options) {
        Some(b) => LinkModel::with_encoder(&cfg.model_config(), meta.in_dim, cfg.seed, &*b)?,
        None => LinkModel::new(&cfg.model_config(), meta.in_dim, cfg.seed)?,
    };
    ck.load_into(&model.params)?;
    Ok((model, data, dataset))
}

/// An edge-noise robustness study.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustnessSpec {
    pub job: JobSpec,
    /// `add` or `drop`.
    pub noise: String,
    /// Fractions of the training edges (0 is always included).
    pub levels: Vec<f64>,
}

/// Run a robustness study (link task).
///
/// # Errors
/// Configuration, data and training errors.
pub fn run_robustness(spec: &RobustnessSpec, env: &mut RunEnv) -> Result<Report> {
    let r = spec.job.resolve()?;
    let entry = env.models.for_task(&r.model, "link")?;
    let mut cfg = link_config(&spec.job, entry)?;
    cfg.seed = r.seed.unwrap_or(cfg.seed);
    let noise: EdgeNoise = spec.noise.parse()?;
    let ds = load_node_dataset(&r.data_dir, &r.dataset)?;
    let num_levels = spec.levels.len() + usize::from(!spec.levels.contains(&0.0));
    env.progress.note(&format!("{}: robustness of {} to {noise} noise at levels {:?}, {} runs", ds.name, cfg.model_name(), spec.levels, r.runs));
    env.progress.start("trainings", r.runs * num_levels as u64);
    let mut done = 0;
    let progress = &mut *env.progress;
    let rep = robustness(&ds, &cfg, noise, &spec.levels, r.runs, &mut |level, run, res| {
        done += 1;
        progress.step(done, &format!("run {} level {level}: test auc {:.4}", run + 1, res.test.auc));
    })?;
    env.progress.finish();
    let names: Vec<String> = rep.levels[0].test.iter().map(|t| t.0.clone()).filter(|n| shown(n)).collect();
    let mut headers: Vec<String> = vec!["level".into(), "train edges".into()];
    headers.extend(names.iter().cloned());
    let mut table = Table { headers, rows: vec![] };
    for l in &rep.levels {
        let mut row = vec![format!("{} {}", noise, l.level), format!("{:.0}", l.num_train_edges)];
        for n in &names {
            let (_, m, s) = l.test.iter().find(|t| &t.0 == n).cloned().unwrap_or_default();
            let d = l.relative_drop.iter().find(|t| &t.0 == n).map_or(0.0, |t| t.1);
            row.push(format!("{m:.4} ± {s:.4} ({:+.2}%)", -d * 100.0 + 0.0));
        }
        table.rows.push(row);
    }
    env.note(format!(
        "protocol: {}; noise applied to the training edges only (message passing and supervision), never to validation/test pairs",
        protocol(&cfg)
    ));
    let levels: Vec<_> = rep
        .levels
        .iter()
        .map(|l| {
            let test: serde_json::Map<String, serde_json::Value> =
                l.test.iter().zip(&l.relative_drop).map(|((n, m, s), (_, d))| (n.clone(), json!({"mean": m, "std": s, "relative_drop": d}))).collect();
            json!({"noise": rep.noise, "level": l.level, "num_train_edges": l.num_train_edges, "test": test, "runs": l.runs})
        })
        .collect();
    let headline = format!("(test metrics, mean ± std over {} runs; in brackets the change relative to level 0)", r.runs);
    let json = json!({"task": "link-robustness", "dataset": rep.dataset, "model": rep.model, "noise": rep.noise, "runs": r.runs, "config": cfg, "protocol": protocol(&cfg), "levels": levels, "notes": env.notes});
    Ok(Report { json, tables: vec![table], headline, notes: std::mem::take(&mut env.notes) })
}

/// Link prediction in the search: encoder width, depth and structure, the
/// embedding width, plain or variational, inner-product or MLP decoder,
/// dropout, learning rate, weight decay, feature normalisation; selection on
/// validation AUC (the edge split of the search seed; test edges never enter).
pub(super) struct LinkSearch;

impl super::auto::Searchable for LinkSearch {
    fn meta_features(&self, data_dir: &Path, dataset: &str) -> Result<super::auto::MetaFeatures> {
        Ok(super::auto::MetaFeatures::of_nodes("link", &crate::data::registry::load_node_dataset(data_dir, dataset)?))
    }
    fn space(&self, meta: &super::auto::MetaFeatures, models: &[&ModelEntry]) -> super::auto::Space {
        use super::auto::space::dims::{choice, flag, int, log, uniform};
        use super::auto::Param;
        let big = meta.nodes > 100_000;
        let mut params = vec![
            Param::common("train.encoder.dropout", uniform("dropout", 0.0, 0.5)),
            Param::common("train.optimizer.lr", log("lr", 1e-3, 5e-2)),
            Param::common("train.optimizer.weight_decay", log("weight_decay", 1e-7, 1e-3)),
            Param::common("train.latent_dim", int("latent_dim", &[16, 32, 64])),
            Param::common("train.decoder.kind", choice("decoder", &["inner_product", "mlp"])),
            Param::common("train.normalize_features", flag("normalize_features")),
        ];
        for e in models {
            let m = Some(e.name.clone());
            let widths: &[i64] = match (e.builtin == Some(crate::models::ModelKind::Gat), big) {
                (true, _) => &[8, 16, 32],
                (false, true) => &[32, 64, 128],
                (false, false) => &[32, 64, 128, 256],
            };
            params.push(Param { key: "train.encoder.hidden_dim".into(), dim: int("hidden_dim", widths), model: m.clone() });
            params.push(Param { key: "train.encoder.num_layers".into(), dim: int("num_layers", &[2, 3]), model: m.clone() });
            if e.builtin.is_some() {
                // Only the recipe encoders can be variational, and the variational
                // encoder has no PReLU slope: neither is offered where it would fail.
                params.push(Param { key: "train.variational".into(), dim: flag("variational"), model: m.clone() });
                for d in [flag("norm"), choice("activation", &["relu", "elu"])] {
                    params.push(Param { key: format!("train.encoder.{}", super::auto::dim_name(&d)), dim: d, model: m.clone() });
                }
            }
            params.extend(super::auto::model_params(e, &super::node::COMMON, "train.encoder", &|n| Some(n.to_string())));
        }
        super::auto::Space { models: models.iter().map(|e| e.name.clone()).collect(), params }
    }
    fn max_epochs(&self, _meta: &super::auto::MetaFeatures) -> usize {
        200
    }
    fn fixed_settings(&self, _meta: &super::auto::MetaFeatures, _fold: Option<usize>) -> Vec<(&'static str, super::auto::Value)> {
        vec![]
    }
    fn score_name(&self) -> &'static str {
        "auc"
    }
    fn val_score(&self, report: &Report) -> Option<f64> {
        report.json["runs"][0]["val"]["auc"].as_f64()
    }
    fn test_metrics(&self, report: &Report) -> Vec<(String, f64, f64)> {
        let t = &report.json["summary"]["test"];
        ["auc", "ap", "hits@20", "mrr"].iter().filter_map(|k| Some((k.to_string(), t[*k]["mean"].as_f64()?, t[*k]["std"].as_f64()?))).collect()
    }
}
