//! Node classification on Cora with the GCN recipe (Kipf & Welling 2017).
//!
//! Expected: test accuracy about 81 % (mean over seeds), a few ms per epoch,
//! about a second in all in release mode.
//!
//! ```text
//! cargo run --release -p autoglm --example node_classification -- [DATA_DIR] [MODEL] [SEEDS]
//! ```

use autoglm::data::{data_dir, load_planetoid, PlanetoidSource};
use autoglm::models::ModelKind;
use autoglm::tasks::node::{train, NodeData, NodeTrainConfig};

/// A percentage, or NaN for a metric over an empty node set.
fn pct(x: Option<f64>) -> f64 {
    x.map_or(f64::NAN, |v| v * 100.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = data_dir(args.get(1).map(std::path::Path::new));
    let model: ModelKind = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(ModelKind::Gcn);
    let seeds: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let ds = load_planetoid(&dir, "cora", PlanetoidSource::Auto)?;
    let data = NodeData::prepare(&ds, true)?;
    let mut accs = vec![];
    for seed in 0..seeds {
        let cfg = NodeTrainConfig { seed, ..NodeTrainConfig::recipe(model) };
        let (r, _) = train(&data, &cfg, &mut |_| {})?;
        println!(
            "seed {seed}: test acc {:.2} (best val {:.2} at epoch {}), final {:.2}, {:.2} ms/epoch",
            pct(r.test_acc),
            pct(r.best_val_acc),
            r.best_epoch,
            pct(r.final_test_acc),
            r.epoch_ms
        );
        accs.extend(r.test_acc);
    }
    let mean = accs.iter().sum::<f64>() / accs.len() as f64;
    println!("{model} on cora: mean test accuracy {:.2}", mean * 100.0);
    Ok(())
}
