//! `autoglm bench`: training-epoch times on Cora and on a synthetic graph, with
//! PyTorch Geometric's peer scripts run in the same invocation for ratios.

use crate::output::write_json;
use crate::DataArgs;
use anyhow::{Context, Result};
use autoglm::bench::{prepare, synthetic_dataset, synthetic_model, time_epochs, time_module_epochs, EpochTiming, TimingSpec};
use autoglm::data::registry::load_node_dataset;
use autoglm::models::transformer::GtConfig;
use autoglm::models::ModelKind;
use autoglm::nn::attention::{GlobalForm, GpsConfig, HeadGroups, LinearForm, MgaConfig, Mpnn, NormKind};
use autoglm::nn::{Module, Params};
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
    /// Time the graph transformer instead (synthetic graph: local 4 + global 4 heads in
    /// the linear forms, and with a k-hop group; PROTEINS batch 32: exact global),
    /// next to PyG's GPSConv (scripts/pyg_gps.py) when --pyg is given.
    #[arg(long)]
    pub transformer: bool,
    /// PyG peer of the transformer timings.
    #[arg(long, default_value = "scripts/pyg_gps.py")]
    pub gps_peer: PathBuf,
    /// Write the figures here as JSON.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(args.threads).build_global().ok();
    if args.transformer {
        return run_transformer(args);
    }
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
            num_params: b.num_params,
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

/// The graph transformer's configuration in the benchmark: `hidden` wide,
/// 2 blocks without a message-passing branch (the local attention group is
/// the local part, as TransformerConv is GPSConv's), batch norm, FFN 2x.
fn bench_gt(in_dim: usize, out_dim: usize, hidden: usize, heads: HeadGroups, global: GlobalForm, linear: LinearForm) -> GtConfig {
    let attention = MgaConfig { heads, global, linear_form: linear, self_loops: false, ..MgaConfig::default() };
    let layer = GpsConfig { mpnn: Mpnn::None, norm: NormKind::Batch, attention, ..GpsConfig::default() };
    GtConfig { in_dim, out_dim, hidden_dim: hidden, num_layers: 2, layer, ..GtConfig::default() }
}

/// Run `scripts/pyg_gps.py MODE ARGS...` and return its JSON line.
fn run_gps_peer(py: &std::path::Path, script: &std::path::Path, mode_args: &[String]) -> Option<serde_json::Value> {
    eprintln!("running {} {} ...", script.display(), mode_args.join(" "));
    let out = Command::new(py).arg(script).args(mode_args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.lines().rev().find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
    if v.is_none() {
        eprintln!("{} gave no timing: {}", script.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    }
    v
}

fn run_transformer(args: &BenchArgs) -> Result<()> {
    let mut rows: Vec<serde_json::Value> = vec![];
    let mut peers: Vec<serde_json::Value> = vec![];
    let g44 = HeadGroups { local: 4, khop: 0, global: 4 };
    if !args.skip_synthetic {
        let ds = synthetic_dataset(args.nodes, args.avg_degree, args.dim, 10, 0)?;
        let data = prepare(&ds, false)?;
        eprintln!("synthetic graph: {} nodes, {} directed edges, {} features", ds.graph.num_nodes(), ds.graph.num_edges(), args.dim);
        drop(ds);
        let variants = [
            ("gt local4+global4 performer", g44, LinearForm::Performer),
            ("gt local4+global4 sgformer", g44, LinearForm::Sgformer),
            ("gt local4+khop2+global2 sgformer", HeadGroups { local: 4, khop: 2, global: 2 }, LinearForm::Sgformer),
        ];
        for (name, heads, form) in variants {
            let cfg = bench_gt(args.dim, 10, 128, heads, GlobalForm::Linear, form);
            let build = |p: &Params| Ok(Box::new(cfg.init(p)?) as Box<dyn Module>);
            let mut t =
                time_module_epochs(&data, &build, TimingSpec { lr: 0.01, weight_decay: 0.0, warmup: 2, epochs: args.epochs, all_nodes_loss: true, seed: 0 })?;
            t.model = name.into();
            t.dataset = "synthetic".into();
            eprintln!("ours  {name:<34} {:>9.1} ms/epoch, peak {:.0} MiB, {} params", t.median_ms, t.peak_rss_bytes as f64 / 1048576.0, t.num_params);
            rows.push(json!({"timing": t, "config": cfg}));
        }
        if let Some(py) = &args.pyg {
            let a = [
                "synth".to_string(),
                args.nodes.to_string(),
                args.avg_degree.to_string(),
                args.dim.to_string(),
                args.threads.to_string(),
                "--epochs".into(),
                args.epochs.to_string(),
            ];
            peers.extend(run_gps_peer(py, &args.gps_peer, &a));
        }
    }
    if !args.skip_graph {
        let ds = autoglm::data::load_tu(&args.data.dir(), &args.graph_dataset, &autoglm::data::TuOptions::default())?;
        autoglm::bench::reset_peak_rss();
        let cfg = bench_gt(0, 64, 64, g44, GlobalForm::Exact, LinearForm::Sgformer);
        let build = |p: &Params, in_dim: usize| Ok(Box::new(GtConfig { in_dim, ..cfg.clone() }.init(p)?) as Box<dyn Module>);
        let b = autoglm::bench::bench_graph_epoch(&ds, 32, args.graph_epochs, 0, Some(&build))?;
        eprintln!("ours  gt local4+global4 exact {:<9} {:>9.1} ms/epoch ({} graphs, batch 32)", b.dataset, b.ms_per_epoch, b.num_graphs);
        rows.push(json!({"timing": {"model": "gt local4+global4 exact", "dataset": b.dataset, "median_ms": b.ms_per_epoch, "num_params": b.num_params, "peak_rss_bytes": autoglm::bench::peak_rss()}, "config": cfg, "classifier": b.model}));
        if let Some(py) = &args.pyg {
            let a = [
                "proteins".to_string(),
                args.data.dir().display().to_string(),
                args.threads.to_string(),
                "--epochs".into(),
                args.graph_epochs.min(5).to_string(),
            ];
            peers.extend(run_gps_peer(py, &args.gps_peer, &a));
        }
    }
    let mut table = Table::new(&["model", "dataset", "ours ms/epoch", "params", "peak MiB", "PyG GPSConv ms/epoch", "speed-up"]);
    for r in &rows {
        let t = &r["timing"];
        let ds = t["dataset"].as_str().unwrap_or("");
        let peer = peers.iter().find(|p| p["config"].as_str().is_some_and(|c| c.contains(if ds == "synthetic" { "synth" } else { "proteins" })));
        let pm = peer.and_then(|p| p["epoch_ms"].as_f64());
        let ms = t["median_ms"].as_f64().unwrap_or(f64::NAN);
        table.rows.push(vec![
            t["model"].as_str().unwrap_or("").to_string(),
            ds.to_string(),
            format!("{ms:.1}"),
            t["num_params"].to_string(),
            format!("{:.0}", t["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0),
            pm.map_or("-".into(), |v| format!("{v:.1}")),
            pm.map_or("-".into(), |v| format!("{:.1}x", v / ms)),
        ]);
    }
    print!("{}", table.render());
    if let Some(out) = &args.out {
        write_json(
            out,
            &json!({"threads": args.threads, "synthetic": {"nodes": args.nodes, "avg_degree": args.avg_degree, "dim": args.dim}, "ours": rows, "pyg": peers}),
        )?;
    }
    Ok(())
}
