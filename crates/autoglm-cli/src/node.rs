//! `autoglm train --task node` and `autoglm predict --task node`.

use crate::report::{mean_std, print_table, progress, write_json, RunFile};
use crate::{PredictArgs, TrainArgs};
use anyhow::{Context, Result};
use autoglm::checkpoint::{self, Checkpoint};
use autoglm::data::registry::load_node_dataset;
use autoglm::models::ModelKind;
use autoglm::tasks::node::{train as train_run, NodeData, NodeModel, NodeTrainConfig, RunResult};
use serde_json::json;

/// Build the configuration: recipe for the model, then the run file, then flags.
pub fn config(args: &TrainArgs, file: &RunFile) -> Result<NodeTrainConfig> {
    let kind: ModelKind = args.model.parse()?;
    let mut cfg = file.train_config(NodeTrainConfig::recipe(kind))?;
    cfg.model.model = kind;
    if let Some(e) = args.epochs {
        cfg.epochs = e;
    }
    if let Some(lr) = args.lr {
        cfg.optimizer.lr = Some(lr);
    }
    if let Some(h) = args.hidden {
        cfg.model.hidden_dim = h;
    }
    if let Some(d) = args.dropout {
        cfg.model.dropout = d;
    }
    if args.patience.is_some() {
        cfg.patience = args.patience;
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn train(args: &TrainArgs, file: &RunFile) -> Result<()> {
    let base = config(args, file)?;
    let ds = load_node_dataset(&args.data.dir(), &args.dataset)?;
    eprintln!(
        "{}: {} nodes, {} edges, {} features, {} classes; model {} ({} runs)",
        ds.name, ds.graph.num_nodes(), ds.graph.num_edges(), ds.x.num_cols(), ds.num_classes, base.model.model, args.runs
    );
    let data = NodeData::prepare(&ds, base.normalize_features)?;
    let mut results: Vec<RunResult> = vec![];
    for r in 0..args.runs {
        let cfg = NodeTrainConfig { seed: args.seed + r, ..base.clone() };
        let pb = progress(cfg.epochs as u64, args.quiet);
        pb.set_prefix(format!("run {}/{}", r + 1, args.runs));
        let (res, model) = train_run(&data, &cfg, &mut |log| {
            pb.set_position(log.epoch as u64 + 1);
            pb.set_message(format!("loss {:.4} val {:.3}", log.loss, log.val_acc));
        })?;
        pb.finish_and_clear();
        if r == 0 {
            if let Some(path) = &args.checkpoint {
                let meta = json!({"task": "node", "dataset": args.dataset, "in_dim": data.x.dim(), "num_classes": data.num_classes, "train": cfg});
                checkpoint::save(path, &model.params, &meta)?;
                eprintln!("saved checkpoint {}", path.display());
            }
        }
        results.push(res);
    }
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| vec![r.seed.to_string(), format!("{:.2}", r.best_val_acc * 100.0), format!("{:.2}", r.test_acc * 100.0), format!("{:.2}", r.test_macro_f1 * 100.0), r.best_epoch.to_string(), format!("{:.2}", r.epoch_ms)])
        .collect();
    print_table(&["seed", "val acc", "test acc", "test macro-F1", "best epoch", "ms/epoch"], &rows);
    let acc: Vec<f64> = results.iter().map(|r| r.test_acc * 100.0).collect();
    let f1: Vec<f64> = results.iter().map(|r| r.test_macro_f1 * 100.0).collect();
    let ms: Vec<f64> = results.iter().map(|r| r.epoch_ms).collect();
    let (am, asd) = mean_std(&acc);
    let (fm, fsd) = mean_std(&f1);
    let (mm, _) = mean_std(&ms);
    println!("node {} on {}: test accuracy {am:.2} ± {asd:.2}, macro-F1 {fm:.2} ± {fsd:.2} over {} runs; {mm:.2} ms per training epoch", base.model.model, ds.name, results.len());
    if let Some(out) = &args.out {
        let runs: Vec<_> = results.iter().map(|r| json!({"seed": r.seed, "best_epoch": r.best_epoch, "val_acc": r.best_val_acc, "test_acc": r.test_acc, "test_macro_f1": r.test_macro_f1, "final_test_acc": r.final_test_acc, "epoch_ms": r.epoch_ms, "epochs_run": r.epochs_run, "history": r.history})).collect();
        write_json(out, &json!({
            "task": "node", "dataset": ds.name, "model": base.model.model.to_string(), "config": base,
            "summary": {"test_acc_mean": am / 100.0, "test_acc_std": asd / 100.0, "test_macro_f1_mean": fm / 100.0, "test_macro_f1_std": fsd / 100.0, "epoch_ms_mean": mm, "runs": results.len()},
            "runs": runs,
        }))?;
    }
    Ok(())
}

pub fn predict(args: &PredictArgs, ck: &Checkpoint) -> Result<()> {
    let cfg: NodeTrainConfig = serde_json::from_value(ck.config["train"].clone()).context("checkpoint: reading its node training configuration")?;
    let dataset = args.dataset.clone().or_else(|| ck.config["dataset"].as_str().map(String::from)).context("pass --dataset (the checkpoint does not name one)")?;
    let ds = load_node_dataset(&args.data.dir(), &dataset)?;
    let data = NodeData::prepare(&ds, cfg.normalize_features)?;
    let want_in = ck.config["in_dim"].as_u64().unwrap_or(0) as usize;
    let classes = ck.config["num_classes"].as_u64().unwrap_or(0) as usize;
    if data.x.dim() != want_in {
        anyhow::bail!("dataset {dataset} has {} features per node but the checkpoint was trained with {want_in}", data.x.dim());
    }
    let model = NodeModel::new(&cfg, want_in, classes)?;
    ck.load_into(&model.params)?;
    let pred = model.predict(&data.graph, &data.x)?;
    let acc = autoglm::eval::metrics::accuracy(&data.split.test.iter().map(|&i| pred[i]).collect::<Vec<_>>(), &data.split.test.iter().map(|&i| data.y[i]).collect::<Vec<_>>()).unwrap_or(f64::NAN);
    eprintln!("{dataset}: predicted {} nodes; test accuracy {:.2}", pred.len(), acc * 100.0);
    let out = json!({"task": "node", "dataset": dataset, "predictions": pred, "test_acc": acc});
    match &args.out {
        Some(p) => write_json(p, &out)?,
        None => println!("{}", serde_json::to_string(&out)?),
    }
    Ok(())
}
