//! Profiling harness: a few training epochs of one model on Cora, for
//! `valgrind --tool=callgrind` or `perf`. Prints the median epoch time.
//!
//! ```text
//! cargo run --release -p autoglm --example profile_epoch -- [DATA_DIR] [MODEL] [EPOCHS]
//! ```

use autoglm::bench::{prepare, time_epochs, TimingSpec};
use autoglm::data::{data_dir, registry::load_node_dataset};
use autoglm::models::ModelKind;
use autoglm::tasks::node::NodeTrainConfig;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = data_dir(args.get(1).map(std::path::Path::new));
    let kind: ModelKind = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(ModelKind::Gat);
    let epochs: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);
    let data = prepare(&load_node_dataset(&dir, "cora")?, true)?;
    let cfg = NodeTrainConfig::recipe(kind);
    let t = time_epochs(&data, &cfg.model, TimingSpec { lr: 0.005, weight_decay: 5e-4, warmup: 2, epochs, all_nodes_loss: false, seed: 0 })?;
    println!("{kind} cora: median {:.2} ms, min {:.2} ms over {epochs} epochs", t.median_ms, t.min_ms);
    Ok(())
}
