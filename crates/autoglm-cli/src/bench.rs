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
    /// Time neighbour-sampled GraphSAGE training instead (the synthetic graph
    /// of --nodes, --avg-degree, --dim; hidden 128), next to PyG
    /// (scripts/pyg_sampled.py) when --pyg is given.
    #[arg(long)]
    pub sampled: bool,
    /// Fanouts per layer of --sampled.
    #[arg(long, value_delimiter = ',', default_value = "15,10")]
    pub fanouts: Vec<i64>,
    /// Seed nodes per batch of --sampled.
    #[arg(long, default_value_t = 1024)]
    pub batch_size: usize,
    /// Timed batches of --sampled (after 3 warm-up batches).
    #[arg(long, default_value_t = 100)]
    pub batches: usize,
    /// PyG peer of the sampled timing.
    #[arg(long, default_value = "scripts/pyg_sampled.py")]
    pub sampled_peer: PathBuf,
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
    if args.sampled {
        return run_sampled(args);
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

/// Write the blocks PyG's side times on when it has no `NeighborLoader`:
/// `block_K.bin` = u32 little-endian nodes, seeds, edges; node ids; sources; destinations.
fn write_blocks(graph: &autoglm::graph::Graph, smp: &autoglm::train::SamplingConfig, batches: usize, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let seeds: Vec<usize> = (0..graph.num_nodes()).collect();
    let mut nb = autoglm::train::NeighborBlocks::new(graph, seeds, smp.batch_size, smp.per_hop(), 0)?;
    nb.set_max_steps(Some(batches));
    let mut k = 0;
    autoglm::train::Batches::for_each(&mut nb, 1, &mut |b| {
        let u = |v: usize| (v as u32).to_le_bytes();
        let mut bytes: Vec<u8> = [b.nodes.len(), b.num_seeds, b.graph.num_edges(), b.edges_per_hop.len()].into_iter().flat_map(u).collect();
        bytes.extend(b.nodes_at.iter().chain(&b.edges_per_hop).flat_map(|&v| u(v)));
        bytes.extend(b.nodes.iter().flat_map(|&v| u(v)));
        bytes.extend(b.graph.src().iter().flat_map(|&v| u(v)));
        bytes.extend(b.graph.dst().iter().flat_map(|&v| u(v)));
        let path = dir.join(format!("block_{k}.bin"));
        std::fs::write(&path, bytes).map_err(|e| autoglm::Error::io("writing", path, e))?;
        k += 1;
        Ok(())
    })?;
    Ok(())
}

fn run_sampled(args: &BenchArgs) -> Result<()> {
    let smp = autoglm::train::SamplingConfig::new(args.fanouts.clone(), args.batch_size);
    let t0 = std::time::Instant::now();
    let ds = synthetic_dataset(args.nodes, args.avg_degree, args.dim, 10, 0)?;
    let data = prepare(&ds, false)?;
    drop(ds);
    eprintln!(
        "synthetic graph: {} nodes, {} directed edges, {} features (built in {:.1} s)",
        data.graph.num_nodes(),
        data.graph.num_edges(),
        args.dim,
        t0.elapsed().as_secs_f64()
    );
    let mut cfg = synthetic_model(ModelKind::Sage, 128);
    cfg.num_layers = smp.fanouts.len();
    // Trimmed (the default) and untrimmed, as PyG's loader examples run.
    let mut ours = Vec::new();
    for trim in [true, false] {
        let smp = autoglm::train::SamplingConfig { trim, ..smp.clone() };
        let b = autoglm::bench::bench_sampled(&data, &cfg, &smp, args.batches, 0)?;
        eprintln!(
            "ours  sage sampled {:?} batch {}{}: {:.1} ms/batch over {} batches (sampler alone {:.1} ms/batch; blocks of {:.0} nodes, {:.0} edges), peak {:.0} MiB",
            smp.fanouts,
            smp.batch_size,
            if trim { ", trimmed" } else { ", untrimmed" },
            b.ms_per_batch,
            b.batches,
            b.sample_ms_per_batch,
            b.mean_block_nodes,
            b.mean_block_edges,
            b.peak_rss_bytes as f64 / 1048576.0
        );
        ours.push(b);
    }
    let (b, untrimmed) = (&ours[0], &ours[1]);
    let mut peers: Vec<serde_json::Value> = vec![];
    if let Some(py) = &args.pyg {
        let dir = std::env::temp_dir().join(format!("autoglm-blocks-{}", std::process::id()));
        write_blocks(&data.graph, &smp, args.batches, &dir)?;
        drop(data);
        let fan = smp.fanouts.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let a = [
            args.nodes.to_string(),
            args.avg_degree.to_string(),
            args.dim.to_string(),
            args.threads.to_string(),
            "--fanouts".into(),
            fan,
            "--batch-size".into(),
            args.batch_size.to_string(),
            "--batches".into(),
            args.batches.to_string(),
            "--blocks".into(),
            dir.display().to_string(),
        ];
        eprintln!("running {} {} ...", args.sampled_peer.display(), a.join(" "));
        let out = Command::new(py).arg(&args.sampled_peer).args(&a).output().with_context(|| format!("running {}", py.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        peers = text.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).collect();
        if peers.is_empty() {
            eprintln!("{} gave no timing: {}", args.sampled_peer.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    let mut table = Table::new(&["side", "what is timed", "ms/batch", "peak MiB", "ours (trimmed) faster", "ours (untrimmed) faster"]);
    let mib = |bytes: f64| format!("{:.0}", bytes / 1048576.0);
    for (what, r) in [("trimmed layers: sampling (overlapped) + gather + fwd + bwd + Adam", b), ("untrimmed, every layer on the whole block", untrimmed)] {
        table.rows.push(vec!["ours".into(), what.into(), format!("{:.1}", r.ms_per_batch), mib(r.peak_rss_bytes as f64), "-".into(), "-".into()]);
    }
    table.rows.push(vec!["ours".into(), "sampler alone (not overlapped)".into(), format!("{:.1}", b.sample_ms_per_batch), "-".into(), "-".into(), "-".into()]);
    for p in &peers {
        let ms = p["ms_per_batch"].as_f64().unwrap_or(f64::NAN);
        table.rows.push(vec![
            "PyG".into(),
            p["what"].as_str().unwrap_or("").to_string(),
            format!("{ms:.1}"),
            mib(p["peak_rss_bytes"].as_f64().unwrap_or(0.0)),
            format!("{:.2}x", ms / b.ms_per_batch),
            format!("{:.2}x", ms / untrimmed.ms_per_batch),
        ]);
    }
    print!("{}", table.render());
    if let Some(out) = &args.out {
        write_json(
            out,
            &json!({"threads": args.threads, "synthetic": {"nodes": args.nodes, "avg_degree": args.avg_degree, "dim": args.dim}, "ours": b, "ours_untrimmed": untrimmed, "model": cfg, "pyg": peers}),
        )?;
    }
    Ok(())
}
