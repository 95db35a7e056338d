//! `autoglm train --task graph` and `autoglm predict --task graph`: glue over
//! `autoglm::tasks::graph` (TU datasets, k-fold cross-validation).
//!
//! The protocol comes from `protocol = "gin" | "errica"` in the `[train]`
//! section of the run configuration; when it is not set, Errica et al.'s is
//! used where the dataset ships folds (`DS/splits/*.json`) and the GIN paper's
//! otherwise (`autoglm::tasks::graph::resolve_protocol`).

use crate::report::{print_table, progress, write_json, RunFile};
use crate::{PredictArgs, TrainArgs};
use anyhow::{Context, Result};
use autoglm::checkpoint::{self, Checkpoint};
use autoglm::data::tu::{load_tu_encoded, TuEncoding};
use autoglm::models::ModelKind;
use autoglm::tasks::graph::{cross_validate, prepare_folds, GraphModel, GraphTrainConfig, Protocol};
use serde_json::json;

/// Build the configuration: the GIN recipe with the chosen convolution, then
/// the run file's `[train]` section, then flags (`--seed` only when not 0).
pub fn config(args: &TrainArgs, file: &RunFile) -> Result<GraphTrainConfig> {
    let kind: ModelKind = args.model.parse()?;
    let mut cfg = file.train_config(GraphTrainConfig::recipe(kind))?;
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
    if let Some(k) = args.folds {
        cfg.folds = k;
    }
    if args.seed != 0 {
        cfg.seed = args.seed;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Run candle's element-wise kernels on the calling thread unless the user
/// chose otherwise: above 64k elements candle hands them to a pool of spinning
/// threads, and mini-batches of small graphs (about 80k activations per layer
/// on PROTEINS) then spend most of their time waiting at its barrier — on the
/// 2-core development machine a GIN epoch over PROTEINS took 5.8 s with two
/// threads against 0.55 s with one. Matrix products keep rayon's threads.
/// Must run before the first tensor operation (the pool is created once).
fn single_threaded_elementwise() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

fn pct(x: f64) -> String {
    format!("{:.2}", x * 100.0)
}

pub fn train(args: &TrainArgs, file: &RunFile) -> Result<()> {
    if args.runs != 1 {
        anyhow::bail!("--runs {} is not used by graph classification, which repeats over --folds; run again with another --seed for another repetition", args.runs);
    }
    let cfg = config(args, file)?;
    single_threaded_elementwise();
    let dir = args.data.dir();
    let (ds, encoding) = load_tu_encoded(&dir, &args.dataset, &cfg.features, None).with_context(|| format!("loading TU dataset {} from {}", args.dataset, dir.display()))?;
    let (protocol, folds, source) = prepare_folds(&dir, &ds, &cfg)?;
    let nodes: usize = ds.graphs.iter().map(|g| g.graph.num_nodes()).sum();
    eprintln!(
        "{}: {} graphs, {} nodes, {} features, {} classes; model {} ({} layers incl. input, hidden {}, {:?} pooling); {} epochs x {} folds, batch {}",
        ds.name,
        ds.graphs.len(),
        nodes,
        ds.num_node_features,
        ds.num_classes,
        cfg.model.model,
        cfg.model.num_layers,
        cfg.model.hidden_dim,
        cfg.model.pooling,
        cfg.epochs,
        folds.len(),
        cfg.batch_size
    );
    eprintln!("{}; folds: {source}", protocol.describe());

    let pb = progress((folds.len() * cfg.epochs) as u64, args.quiet);
    let num_folds = folds.len();
    let epochs = cfg.epochs;
    let mut saved = false;
    let class_labels = encoding.class_values.clone();
    let cv = cross_validate(
        &ds,
        &folds,
        protocol,
        &cfg,
        &mut |log| {
            pb.set_prefix(format!("fold {}/{}", log.fold + 1, num_folds));
            pb.set_position((log.fold * epochs + log.epoch + 1) as u64);
            let val = log.val_acc.map(|v| format!(" val {}", pct(v))).unwrap_or_default();
            pb.set_message(format!("loss {:.4}{val} test {}", log.loss, pct(log.test_acc)));
        },
        &mut |res, model| {
            let line = format!(
                "fold {}/{}: test {} (epoch {}){}, {:.1} ms/epoch",
                res.fold + 1,
                num_folds,
                pct(res.test_acc),
                res.selected_epoch + 1,
                res.val_acc.map(|v| format!(", val {}", pct(v))).unwrap_or_default(),
                res.epoch_ms
            );
            pb.suspend(|| eprintln!("{line}"));
            if res.fold == 0 {
                if let Some(path) = &args.checkpoint {
                    let meta = json!({
                        "task": "graph", "dataset": ds.name, "in_dim": ds.num_node_features, "num_classes": ds.num_classes,
                        "class_labels": class_labels, "tu_encoding": encoding, "protocol": protocol, "fold": 0, "selected_epoch": res.selected_epoch,
                        "train": model.config,
                    });
                    checkpoint::save(path, &model.params, &meta)?;
                    saved = true;
                }
            }
            Ok(())
        },
    )?;
    pb.finish_and_clear();
    if let (true, Some(path)) = (saved, &args.checkpoint) {
        eprintln!("saved checkpoint {} (the model of fold 1)", path.display());
    }

    let s = &cv.summary;
    match protocol {
        Protocol::Gin => {
            let best = s.best_epoch.unwrap_or(0);
            let rows: Vec<Vec<String>> = cv
                .folds
                .iter()
                .map(|f| vec![(f.fold + 1).to_string(), f.num_train.to_string(), f.num_test.to_string(), pct(f.test_curve.get(best).copied().unwrap_or(f64::NAN)), pct(f.test_acc), format!("{:.1}", f.epoch_ms)])
                .collect();
            let h_best = format!("test acc @ epoch {}", best + 1);
            print_table(&["fold", "train", "test", &h_best, "test acc (last epoch)", "ms/epoch"], &rows);
        }
        Protocol::Errica => {
            let rows: Vec<Vec<String>> = cv
                .folds
                .iter()
                .map(|f| vec![(f.fold + 1).to_string(), f.num_train.to_string(), f.num_val.to_string(), f.num_test.to_string(), (f.selected_epoch + 1).to_string(), f.val_acc.map(pct).unwrap_or_default(), pct(f.test_acc), format!("{:.1}", f.epoch_ms)])
                .collect();
            print_table(&["fold", "train", "val", "test", "selected epoch", "val acc", "test acc", "ms/epoch"], &rows);
        }
    }
    let ms: Vec<f64> = cv.folds.iter().map(|f| f.epoch_ms).collect();
    let ms = ms.iter().sum::<f64>() / ms.len().max(1) as f64;
    let at = s.best_epoch.map(|e| format!(" at epoch {} of the fold-averaged test curve", e + 1)).unwrap_or_default();
    println!(
        "graph {} on {} [{} protocol]: accuracy {} ± {}{at}, {} folds ({source}); {ms:.1} ms per training epoch",
        cfg.model.model,
        ds.name,
        protocol,
        pct(s.mean),
        pct(s.std),
        s.num_folds
    );
    if let Some(out) = &args.out {
        write_json(
            out,
            &json!({
                "task": "graph", "dataset": ds.name, "model": cfg.model.model.to_string(),
                "protocol": protocol, "protocol_description": protocol.describe(), "fold_source": source,
                "config": cfg,
                "summary": {"accuracy_mean": s.mean, "accuracy_std": s.std, "best_epoch": s.best_epoch, "fold_accuracy": s.fold_acc, "folds": s.num_folds, "epoch_ms_mean": ms, "mean_test_curve": s.mean_curve},
                "folds": cv.folds,
            }),
        )?;
    }
    Ok(())
}

pub fn predict(args: &PredictArgs, ck: &Checkpoint) -> Result<()> {
    single_threaded_elementwise();
    let cfg: GraphTrainConfig = serde_json::from_value(ck.config["train"].clone()).context("checkpoint: reading its graph training configuration")?;
    let name = args
        .graphs
        .clone()
        .or_else(|| args.dataset.clone())
        .or_else(|| ck.config["dataset"].as_str().map(String::from))
        .context("pass --graphs <TU dataset folder name> (the checkpoint does not name one)")?;
    let dir = args.data.dir();
    let in_dim = ck.config["in_dim"].as_u64().context("checkpoint: missing in_dim")? as usize;
    let classes = ck.config["num_classes"].as_u64().context("checkpoint: missing num_classes")? as usize;
    // The training run's vocabulary (node labels, degree width, classes), so
    // every value keeps the column it had in training; older checkpoints
    // without it fall back to the graphs' own encoding.
    let encoding: Option<TuEncoding> = match ck.config.get("tu_encoding") {
        Some(v) => Some(serde_json::from_value(v.clone()).context("checkpoint: reading tu_encoding")?),
        None => None,
    };
    let (ds, enc) = load_tu_encoded(&dir, &name, &cfg.features, encoding.as_ref()).with_context(|| format!("loading TU graphs {name} from {}", dir.display()))?;
    if ds.num_node_features != in_dim {
        anyhow::bail!(
            "{name} gives {} features per node but the checkpoint was trained with {in_dim} (node-label sets or the largest degree differ; features: {:?})",
            ds.num_node_features,
            cfg.features
        );
    }
    let model = GraphModel::new(&cfg, in_dim, classes, 0)?;
    ck.load_into(&model.params)?;
    let all: Vec<usize> = (0..ds.graphs.len()).collect();
    let pred = model.predict(&ds, &all)?;
    let labels: Vec<i64> = ck.config["class_labels"].as_array().map(|a| a.iter().filter_map(|v| v.as_i64()).collect()).unwrap_or_default();
    let as_labels: Option<Vec<i64>> = (labels.len() == classes).then(|| pred.iter().map(|&c| labels[c]).collect());
    let y: Vec<usize> = ds.graphs.iter().map(|g| g.y).collect();
    let labelled = encoding.is_none() || !enc.class_values.is_empty();
    let acc = if labelled && ds.num_classes == classes { autoglm::eval::metrics::accuracy(&pred, &y).ok() } else { None };
    eprintln!(
        "{name}: classified {} graphs{}",
        pred.len(),
        acc.map(|a| format!("; accuracy against its graph labels {}", pct(a))).unwrap_or_default()
    );
    let out = json!({"task": "graph", "graphs": name, "predictions": pred, "predicted_labels": as_labels, "accuracy": acc});
    match &args.out {
        Some(p) => write_json(p, &out)?,
        None => println!("{}", serde_json::to_string(&out)?),
    }
    Ok(())
}
