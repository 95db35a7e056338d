//! Graph classification on a TU dataset with GIN-0 (Xu et al. 2019), 10-fold
//! cross-validation under the GIN paper's protocol (best epoch of the
//! fold-averaged test curve), or a timing of GIN training epochs.
//!
//! Expected (MUTAG, the default, 350 epochs): accuracy about 87.7 ± 4 % at the
//! best epoch of the mean curve (published GIN-0: 89.4 ± 5.6), about 1.5
//! minutes in release mode on one core.
//! `bench` mode: median ms per GIN epoch over PROTEINS (1,113 graphs, batch 32);
//! `autoglm bench --skip-cora --skip-synthetic --pyg PYTHON` (or
//! `scripts/bench_gin_proteins.sh`) times the same epoch next to
//! `scripts/pyg_gin_proteins.py` in one invocation.
//!
//! ```text
//! cargo run --release -p autoglm --example graph_classification -- [DATA_DIR] [DATASET] [EPOCHS]
//! cargo run --release -p autoglm --example graph_classification -- bench [DATA_DIR] [DATASET] [EPOCHS]
//! ```
//! Set `CANDLE_NUM_THREADS=1` (see `autoglm-cli`'s graph module for why).

use autoglm::bench::bench_gin_epoch;
use autoglm::data::folds::stratified_kfold;
use autoglm::data::{data_dir, load_tu, TuOptions};
use autoglm::models::ModelKind;
use autoglm::tasks::graph::{cross_validate, GraphTrainConfig, Protocol};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.first().is_some_and(|a| a == "bench");
    if bench {
        args.remove(0);
    }
    let dir = data_dir(args.first().map(std::path::Path::new));
    let name = args.get(1).cloned().unwrap_or_else(|| if bench { "PROTEINS".into() } else { "MUTAG".into() });
    let ds = load_tu(&dir, &name, &TuOptions::default())?;
    if bench {
        let epochs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(10);
        let b = bench_gin_epoch(&ds, 32, epochs, 0)?;
        println!(
            "{}",
            serde_json::json!({"impl": "autoglm", "dataset": b.dataset, "num_graphs": b.num_graphs, "batch_size": b.batch_size, "threads": b.threads, "ms_per_epoch": b.ms_per_epoch, "ms_min": b.ms_min, "epoch_ms": b.epoch_ms})
        );
        return Ok(());
    }
    let epochs: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(350);
    let cfg = GraphTrainConfig { epochs, ..GraphTrainConfig::recipe(ModelKind::Gin) };
    let labels: Vec<usize> = ds.graphs.iter().map(|g| g.y).collect();
    let folds = stratified_kfold(&labels, 10, cfg.seed)?;
    let cv = cross_validate(&ds, &folds, Protocol::Gin, &cfg, &mut |_| {}, &mut |r, _| {
        println!("fold {}: test {:.2} after the last epoch, {:.1} ms/epoch", r.fold + 1, r.test_acc * 100.0, r.epoch_ms);
        Ok(())
    })?;
    let s = &cv.summary;
    println!(
        "GIN-0 on {name}, GIN-paper protocol: {:.2} ± {:.2} at epoch {} of the mean test curve (10 folds, {epochs} epochs)",
        s.mean * 100.0,
        s.std * 100.0,
        s.best_epoch.map_or(0, |e| e + 1)
    );
    Ok(())
}
