//! `autoglm bench`: training-epoch times on Cora and on a synthetic graph, with
//! PyTorch Geometric's peer scripts run in the same invocation for ratios.

use crate::output::write_json;
use crate::DataArgs;
use anyhow::{Context, Result};
use autoglm::bench::{prepare, synthetic_dataset, synthetic_model, time_epochs, EpochTiming, TimingSpec};
use autoglm::data::registry::load_node_dataset;
use autoglm::models::ModelKind;
use autoglm::run::Table;
use autoglm::tasks::node::NodeTrainConfig;
use clap::Args;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// Models to time.
    #[arg(long, value_delimiter = ',', default_value = "gcn,sage,gat")]
    pub models: Vec<String>,
    /// Synthetic graph: number of nodes.
    #[arg(long, default_value_t = 100_000)]
    pub nodes: usize,
    /// Synthetic graph: average degree.
    #[arg(long, default_value_t = 20)]
    pub avg_degree: usize,
    /// Synthetic graph: feature width (and hidden width).
    #[arg(long, default_value_t = 128)]
    pub dim: usize,
    /// Timed epochs on the synthetic graph (after 2 warm-up epochs, as pyg_synth.py).
    #[arg(long, default_value_t = 6)]
    pub epochs: usize,
    /// Threads (rayon); PyG gets the same number.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Skip the Cora timings.
    #[arg(long)]
    pub skip_cora: bool,
    /// Skip the synthetic graph.
    #[arg(long)]
    pub skip_synthetic: bool,
    /// Skip the GIN mini-batch epoch over a TU dataset.
    #[arg(long)]
    pub skip_graph: bool,
    /// TU dataset of the GIN timing (batch 32, the GIN recipe).
    #[arg(long, default_value = "PROTEINS")]
    pub graph_dataset: String,
    /// Timed GIN epochs (after 2 warm-up epochs, as scripts/pyg_gin_proteins.py).
    #[arg(long, default_value_t = 10)]
    pub graph_epochs: usize,
    /// PyG peer of the GIN timing.
    #[arg(long, default_value = "scripts/pyg_gin_proteins.py")]
    pub gin_peer: PathBuf,
    /// Python interpreter with torch and torch_geometric: run PyG's peer scripts too.
    #[arg(long)]
    pub pyg: Option<PathBuf>,
    /// Folder with pyg_baseline.py and pyg_synth.py (default ../shared/peer).
    #[arg(long, default_value = "../shared/peer")]
    pub peer_dir: PathBuf,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global().ok();
    let kinds: Vec<ModelKind> = args.models.iter().map(|m| m.parse()).collect::<autoglm::Result<_>>()?;
    let mut ours: Vec<EpochTiming> = vec![];
    if !args.skip_cora {
        let ds = load_node_dataset(&args.data.dir(), "cora")?;
        let data = prepare(&ds, true)?;
        for &k in &kinds {
            let cfg = NodeTrainConfig::recipe(k);
            let lr = cfg.optimizer.lr.unwrap_or(0.01);
            let mut t = time_epochs(&data, &cfg.model, TimingSpec { lr, weight_decay: 5e-4, warmup: 10, epochs: 50, all_nodes_loss: false, seed: 0 })?;
            t.dataset = "cora".into();
            eprintln!("ours  {:>4} cora      {:>9.2} ms/epoch", t.model, t.median_ms);
            ours.push(t);
        }
    }
    if !args.skip_synthetic {
        let t0 = std::time::Instant::now();
        let ds = synthetic_dataset(args.nodes, args.avg_degree, args.dim, 10, 0)?;
        let data = prepare(&ds, false)?;
        eprintln!(
            "synthetic graph: {} nodes, {} directed edges, {} features (built in {:.1} s)",
            ds.graph.num_nodes(),
            ds.graph.num_edges(),
            args.dim,
            t0.elapsed().as_secs_f64()
        );
        drop(ds);
        for &k in &kinds {
            let cfg = synthetic_model(k, args.dim);
            let mut t = time_epochs(&data, &cfg, TimingSpec { lr: 0.01, weight_decay: 0.0, warmup: 2, epochs: args.epochs, all_nodes_loss: true, seed: 0 })?;
            t.dataset = "synthetic".into();
            eprintln!("ours  {:>4} synthetic {:>9.2} ms/epoch, peak {:.0} MiB", t.model, t.median_ms, t.peak_rss_bytes as f64 / 1048576.0);
            ours.push(t);
        }
    }
    if !args.skip_graph {
        let ds = autoglm::data::load_tu(&args.data.dir(), &args.graph_dataset, &autoglm::data::TuOptions::default())?;
        autoglm::bench::reset_peak_rss();
        let b = autoglm::bench::bench_gin_epoch(&ds, 32, args.graph_epochs, 0)?;
        eprintln!("ours   gin {:<9} {:>9.2} ms/epoch ({} graphs, batch 32)", b.dataset, b.ms_per_epoch, b.num_graphs);
        ours.push(EpochTiming {
            model: "gin".into(),
            dataset: b.dataset.clone(),
            median_ms: b.ms_per_epoch,
            min_ms: b.ms_min,
            epochs: b.epoch_ms.len(),
            peak_rss_bytes: autoglm::bench::peak_rss(),
        });
    }
    let mut pyg: BTreeMap<String, f64> = BTreeMap::new();
    if let Some(py) = &args.pyg {
        if !args.skip_cora {
            let script = args.peer_dir.join("pyg_baseline.py");
            eprintln!("running {} ...", script.display());
            let out = Command::new(py)
                .arg(&script)
                .arg(args.data.dir())
                .args(["--seeds", "1", "--threads", &args.threads.to_string()])
                .output()
                .with_context(|| format!("running {}", script.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                // "Cora gcn {'epoch_ms': 66.1, ...}"
                let mut parts = line.splitn(3, ' ');
                if let (Some("Cora"), Some(m), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
                    if let Some(v) = rest.split("'epoch_ms': ").nth(1).and_then(|s| s.split(',').next()).and_then(|s| s.trim().parse::<f64>().ok()) {
                        pyg.insert(format!("{m}/cora"), v);
                    }
                }
            }
            if !out.status.success() {
                eprintln!("pyg_baseline.py failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
            }
        }
        if !args.skip_synthetic {
            let script = args.peer_dir.join("pyg_synth.py");
            eprintln!("running {} ...", script.display());
            let out = Command::new(py)
                .arg(&script)
                .args([args.nodes.to_string(), args.avg_degree.to_string(), args.dim.to_string(), args.threads.to_string()])
                .output()
                .with_context(|| format!("running {}", script.display()))?;
            let text = String::from_utf8_lossy(&out.stdout);
            for line in text.lines() {
                // "pyg gcn n=100000 edges=... dim=128 threads=2 epoch_ms=2183.0"
                let mut it = line.split_whitespace();
                if let (Some("pyg"), Some(m)) = (it.next(), it.next()) {
                    if let Some(v) = line.split("epoch_ms=").nth(1).and_then(|s| s.trim().parse::<f64>().ok()) {
                        pyg.insert(format!("{m}/synthetic"), v);
                    }
                }
            }
            if !out.status.success() {
                eprintln!("pyg_synth.py failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
            }
        }
    }
    if let (Some(py), false) = (&args.pyg, args.skip_graph) {
        let script = &args.gin_peer;
        eprintln!("running {} ...", script.display());
        let out = Command::new(py)
            .arg(script)
            .arg(args.data.dir())
            .args(["--name", &args.graph_dataset, "--epochs", &args.graph_epochs.to_string(), "--threads", &args.threads.to_string()])
            .output()
            .with_context(|| format!("running {}", script.display()))?;
        // last line: {"impl": "pyg", "dataset": ..., "ms_per_epoch": ...}
        let text = String::from_utf8_lossy(&out.stdout);
        let parsed = text.lines().last().and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        match parsed.as_ref().and_then(|v| v["ms_per_epoch"].as_f64()) {
            Some(v) => {
                pyg.insert(format!("gin/{}", args.graph_dataset), v);
            }
            None => eprintln!("{} gave no timing: {}", script.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")),
        }
    }
    let rows: Vec<Vec<String>> = ours
        .iter()
        .map(|t| {
            let p = pyg.get(&format!("{}/{}", t.model, t.dataset));
            vec![
                t.model.clone(),
                t.dataset.clone(),
                format!("{:.2}", t.median_ms),
                p.map_or("-".into(), |v| format!("{v:.2}")),
                p.map_or("-".into(), |v| format!("{:.1}x", v / t.median_ms)),
                format!("{:.0}", t.peak_rss_bytes as f64 / 1048576.0),
            ]
        })
        .collect();
    let mut table = Table::new(&["model", "dataset", "ours ms/epoch", "PyG ms/epoch", "speed-up", "peak MiB"]);
    table.rows = rows;
    print!("{}", table.render());
    if let Some(out) = &args.out {
        write_json(
            out,
            &json!({"threads": args.threads, "synthetic": {"nodes": args.nodes, "avg_degree": args.avg_degree, "dim": args.dim}, "ours": ours, "pyg_ms": pyg}),
        )?;
    }
    Ok(())
}
