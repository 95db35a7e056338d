//! `autoglm train --task link`, `autoglm predict --task link` and `autoglm robustness`.
//!
//! Model names (`--model`): `gae` (GCN 32-16, inner product, the GAE paper's
//! recipe), `vgae` (the same, variational), and any encoder kind (`gcn`, `gat`,
//! `sage`, `gin`) in the same recipe. A variational encoder of another kind, an
//! MLP decoder, the split sizes and the negative sampling are set in the run
//! file's `[train]` section (`autoglm::tasks::link::LinkTrainConfig`), e.g.
//!
//! ```toml
//! [run]
//! task = "link"
//! [train]
//! variational = true
//! decoder = { kind = "mlp", hidden_dim = 64 }
//! negatives = { ratio = 2.0, strategy = "degree" }
//! split = { val = 0.05, test = 0.1, ranking_negatives = 100 }
//! ```
//!
//! Run `r` uses seed `seed + r` for the model and (unless `split_seed` is set in
//! the run file) for the edge split, so runs differ in split and initialisation.

use crate::report::{mean_std, print_table, progress, write_json, RunFile};
use crate::{DataArgs, PredictArgs, TrainArgs};
use anyhow::{Context, Result};
use autoglm::checkpoint::{self, Checkpoint};
use autoglm::data::edge_split::{read_pairs_csv, EdgeNoise};
use autoglm::data::registry::load_node_dataset;
use autoglm::tasks::link::{robustness as robustness_run, summarize, train as train_run, LinkData, LinkModel, LinkRunResult, LinkTrainConfig};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

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
            autoglm::data::edge_split::NegativeStrategy::Uniform => "uniform".to_string(),
            _ => format!("degree^{}-biased", cfg.negatives.degree_power),
        }
    )
}

/// Recipe for `--model`, then the run file's `[train]`, then the flags.
fn config(model: &str, file: &RunFile, epochs: Option<usize>, lr: Option<f64>, hidden: Option<usize>, dropout: Option<f64>, patience: Option<usize>) -> Result<LinkTrainConfig> {
    let recipe = LinkTrainConfig::recipe_by_name(model)?;
    let mut cfg = file.train_config(recipe.clone())?;
    cfg.encoder.model = recipe.encoder.model;
    if recipe.variational {
        cfg.variational = true;
    }
    if let Some(e) = epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = lr {
        cfg.optimizer.lr = Some(lr);
    }
    if let Some(h) = hidden {
        cfg.encoder.hidden_dim = h;
    }
    if let Some(d) = dropout {
        cfg.encoder.dropout = d;
    }
    if patience.is_some() {
        cfg.patience = patience;
    }
    cfg.validate()?;
    Ok(cfg)
}

const TABLE_METRICS: &[&str] = &["auc", "ap", "hits@10", "hits@20", "hits@50", "hits@100", "mrr"];

fn shown(name: &str) -> bool {
    TABLE_METRICS.contains(&name) || (name.starts_with("hits@") && !name.starts_with("rank_"))
}

pub fn train(args: &TrainArgs, file: &RunFile) -> Result<()> {
    let base = config(&args.model, file, args.epochs, args.lr, args.hidden, args.dropout, args.patience)?;
    if args.runs == 0 {
        anyhow::bail!("--runs must be at least 1");
    }
    let ds = load_node_dataset(&args.data.dir(), &args.dataset)?;
    eprintln!(
        "{}: {} nodes, {} directed edges, {} features; link prediction with {} ({} runs)",
        ds.name,
        ds.graph.num_nodes(),
        ds.graph.num_edges(),
        ds.x.num_cols(),
        base.model_name(),
        args.runs
    );
    let mut results: Vec<LinkRunResult> = vec![];
    let mut feature_note = String::new();
    for r in 0..args.runs {
        let cfg = LinkTrainConfig { seed: args.seed + r, ..base.clone() };
        let data = LinkData::prepare(&ds, &cfg)?;
        if r == 0 {
            feature_note = format!("{:?}", data.features);
            eprintln!(
                "split: {} train / {} val / {} test edges; features: {feature_note}",
                data.split.train_pos.len(),
                data.split.val_pos.len(),
                data.split.test_pos.len()
            );
        }
        let pb = progress(cfg.epochs as u64, args.quiet);
        pb.set_prefix(format!("run {}/{}", r + 1, args.runs));
        let (res, model) = train_run(&data, &cfg, &mut |log| {
            pb.set_position(log.epoch as u64 + 1);
            pb.set_message(format!("loss {:.4} val auc {:.3}", log.loss, log.val_auc));
        })?;
        pb.finish_and_clear();
        if r == 0 {
            if let Some(path) = &args.checkpoint {
                let saved = LinkTrainConfig { split_seed: Some(cfg.split_seed()), ..cfg.clone() };
                let meta = json!({"task": "link", "dataset": args.dataset, "in_dim": data.x.dim(), "num_nodes": data.split.num_nodes, "features": data.features, "train": saved});
                checkpoint::save(path, &model.params, &meta)?;
                eprintln!("saved checkpoint {}", path.display());
            }
        }
        results.push(res);
    }
    let names: Vec<String> = results[0].test.named().into_iter().map(|(n, _)| n).filter(|n| shown(n)).collect();
    let mut headers: Vec<String> = vec!["seed".into(), "val auc".into()];
    headers.extend(names.iter().cloned());
    headers.extend(["best epoch".to_string(), "ms/epoch".to_string()]);
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            let mut row = vec![r.seed.to_string(), format!("{:.4}", r.val.auc)];
            row.extend(r.test.named().into_iter().filter(|(n, _)| shown(n)).map(|(_, v)| format!("{v:.4}")));
            row.extend([r.best_epoch.to_string(), format!("{:.2}", r.epoch_ms)]);
            row
        })
        .collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&h, &rows);
    let summary = summarize(&results.iter().map(|r| &r.test).collect::<Vec<_>>());
    let ms: Vec<f64> = results.iter().map(|r| r.epoch_ms).collect();
    let (mm, msd) = mean_std(&ms);
    let mut srows: Vec<Vec<String>> = summary.iter().map(|(n, m, s)| vec![n.clone(), format!("{m:.4} ± {s:.4}")]).collect();
    srows.push(vec!["ms/epoch".into(), format!("{mm:.2} ± {msd:.2}")]);
    println!();
    print_table(&["test metric", &format!("mean ± std over {} runs", results.len())], &srows);
    let get = |k: &str| summary.iter().find(|s| s.0 == k).map_or(f64::NAN, |s| s.1);
    println!(
        "link {} on {}: test AUC {:.4}, AP {:.4}, Hits@10 {:.4}, MRR {:.4} (mean of {} runs); {mm:.2} ms per training epoch",
        base.model_name(),
        ds.name,
        get("auc"),
        get("ap"),
        get("hits@10"),
        get("mrr"),
        results.len()
    );
    eprintln!("protocol: {}", protocol(&base));
    if let Some(out) = &args.out {
        let summary_json: serde_json::Map<String, serde_json::Value> = summary.iter().map(|(n, m, s)| (n.clone(), json!({"mean": m, "std": s}))).collect();
        write_json(out, &json!({
            "task": "link", "dataset": ds.name, "model": base.model_name(), "config": base, "features": feature_note,
            "protocol": protocol(&base),
            "summary": {"test": summary_json, "epoch_ms_mean": mm, "runs": results.len()},
            "runs": results,
        }))?;
    }
    Ok(())
}

pub fn predict(args: &PredictArgs, ck: &Checkpoint) -> Result<()> {
    let cfg: LinkTrainConfig = serde_json::from_value(ck.config["train"].clone()).context("checkpoint: reading its link-prediction training configuration")?;
    let dataset = args.dataset.clone().or_else(|| ck.config["dataset"].as_str().map(String::from)).context("pass --dataset (the checkpoint does not name one)")?;
    let pairs_path = args.pairs.as_ref().context("pass --pairs FILE: a CSV of `src,dst` node pairs to score")?;
    let ds = load_node_dataset(&args.data.dir(), &dataset)?;
    // The same seeded split as in training: the encoder sees the same training graph.
    let data = LinkData::prepare(&ds, &cfg)?;
    let want_in = ck.config["in_dim"].as_u64().unwrap_or(0) as usize;
    if data.x.dim() != want_in {
        anyhow::bail!("dataset {dataset} has {} features per node but the checkpoint was trained with {want_in}", data.x.dim());
    }
    let model = LinkModel::new(&cfg, want_in)?;
    ck.load_into(&model.params)?;
    let pairs = read_pairs_csv(pairs_path, data.split.num_nodes)?;
    let scores = model.score_pairs(&data.split.train_graph, &data.x, &pairs)?;
    let out_pairs: Vec<_> = pairs
        .iter()
        .zip(&scores)
        .map(|(&(u, v), &s)| json!({"src": u, "dst": v, "logit": s, "probability": 1.0 / (1.0 + (-s as f64).exp()), "training_edge": data.split.train_graph.has_edge(u, v)}))
        .collect();
    eprintln!("{dataset}: scored {} node pairs with {}", pairs.len(), cfg.model_name());
    let out = json!({"task": "link", "dataset": dataset, "model": cfg.model_name(), "pairs": out_pairs});
    match &args.out {
        Some(p) => write_json(p, &out)?,
        None => println!("{}", serde_json::to_string_pretty(&out)?),
    }
    Ok(())
}

/// Arguments of `autoglm robustness`.
#[derive(Args, Clone, Debug)]
pub struct RobustnessArgs {
    /// Dataset name (cora, pubmed, karate, csv:<folder>, ...).
    #[arg(long, default_value = "cora")]
    pub dataset: String,
    /// Model: gae, vgae, gcn, gat, sage, gin.
    #[arg(long, default_value = "gae")]
    pub model: String,
    /// Noise: `add` (inject random non-edges into the training graph) or `drop` (remove training edges).
    #[arg(long, default_value = "add")]
    pub noise: String,
    /// Noise levels, fractions of the training edges (0 is always included).
    #[arg(long, value_delimiter = ',', default_value = "0,0.05,0.1,0.2")]
    pub levels: Vec<f64>,
    /// Number of seeded runs per level (seeds seed, seed+1, ...; each run's split is shared by all levels).
    #[arg(long, default_value_t = 1)]
    pub runs: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Training epochs (default: the recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// A TOML run configuration (its [train] section; flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Write the report here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub data: DataArgs,
}

pub fn robustness(args: &RobustnessArgs) -> Result<()> {
    let file = RunFile::load(args.config.as_deref())?;
    let mut cfg = config(&args.model, &file, args.epochs, args.lr, None, None, None)?;
    cfg.seed = args.seed;
    let noise: EdgeNoise = args.noise.parse()?;
    let ds = load_node_dataset(&args.data.dir(), &args.dataset)?;
    let num_levels = args.levels.len() + usize::from(!args.levels.contains(&0.0));
    eprintln!("{}: robustness of {} to {noise} noise at levels {:?}, {} runs", ds.name, cfg.model_name(), args.levels, args.runs);
    let pb = progress(args.runs * num_levels as u64, args.quiet);
    pb.set_prefix("trainings");
    let rep = robustness_run(&ds, &cfg, noise, &args.levels, args.runs, &mut |level, run, res| {
        pb.inc(1);
        pb.set_message(format!("run {} level {level}: test auc {:.4}", run + 1, res.test.auc));
    })?;
    pb.finish_and_clear();
    let names: Vec<String> = rep.levels[0].test.iter().map(|t| t.0.clone()).filter(|n| shown(n)).collect();
    let mut headers: Vec<String> = vec!["level".into(), "train edges".into()];
    headers.extend(names.iter().cloned());
    let rows: Vec<Vec<String>> = rep
        .levels
        .iter()
        .map(|l| {
            let mut row = vec![format!("{} {}", noise, l.level), format!("{:.0}", l.num_train_edges)];
            for n in &names {
                let (_, m, s) = l.test.iter().find(|t| &t.0 == n).cloned().unwrap_or_default();
                let d = l.relative_drop.iter().find(|t| &t.0 == n).map_or(0.0, |t| t.1);
                row.push(format!("{m:.4} ± {s:.4} ({:+.2}%)", -d * 100.0 + 0.0));
            }
            row
        })
        .collect();
    let h: Vec<&str> = headers.iter().map(String::as_str).collect();
    print_table(&h, &rows);
    println!("(test metrics, mean ± std over {} runs; in brackets the change relative to level 0)", args.runs);
    eprintln!("protocol: {}; noise applied to the training edges only (message passing and supervision), never to validation/test pairs", protocol(&cfg));
    if let Some(out) = &args.out {
        let levels: Vec<_> = rep
            .levels
            .iter()
            .map(|l| {
                let test: serde_json::Map<String, serde_json::Value> = l
                    .test
                    .iter()
                    .zip(&l.relative_drop)
                    .map(|((n, m, s), (_, d))| (n.clone(), json!({"mean": m, "std": s, "relative_drop": d})))
                    .collect();
                json!({"noise": rep.noise, "level": l.level, "num_train_edges": l.num_train_edges, "test": test, "runs": l.runs})
            })
            .collect();
        write_json(out, &json!({
            "task": "link-robustness", "dataset": rep.dataset, "model": rep.model, "noise": rep.noise, "runs": args.runs,
            "config": cfg, "protocol": protocol(&cfg), "levels": levels,
        }))?;
    }
    Ok(())
}
