//! Benchmark workloads: seeded synthetic graphs and timed full-batch training
//! epochs (forward, backward and optimiser step), as PyG's peer scripts time them.
//! Timings are reported, never asserted.

use crate::data::{NodeDataset, Split, Features};
use crate::graph::Graph;
use crate::models::{Activation, GnnConfig, ModelKind};
use crate::nn::{Ctx, Params};
use crate::rng::{derive, Rng};
use crate::tasks::node::NodeData;
use crate::train::loss::cross_entropy;
use crate::train::OptimizerConfig;
use crate::Result;
use candle_core::{Device, Tensor};
use std::time::Instant;

/// A random undirected graph like `pyg_synth.py`: `num_nodes * avg_degree / 2`
/// uniform pairs, made undirected and de-duplicated; Gaussian features of width
/// `dim`; uniform labels in `0..num_classes`; the first tenth of the nodes train.
pub fn synthetic_dataset(num_nodes: usize, avg_degree: usize, dim: usize, num_classes: usize, seed: u64) -> Result<NodeDataset> {
    let mut rng = derive(seed, 7);
    let e = num_nodes * avg_degree / 2;
    let mut src = Vec::with_capacity(2 * e);
    let mut dst = Vec::with_capacity(2 * e);
    for _ in 0..e {
        let (a, b) = (rng.gen_range(0..num_nodes), rng.gen_range(0..num_nodes));
        src.push(a);
        dst.push(b);
        src.push(b);
        dst.push(a);
    }
    let graph = Graph::builder(num_nodes).edge_lists(src, dst).dedup(true).build()?;
    // Box-Muller normals.
    let mut data = Vec::with_capacity(num_nodes * dim);
    while data.len() < num_nodes * dim {
        let (u1, u2): (f64, f64) = (rng.gen::<f64>().max(1e-12), rng.gen());
        let r = (-2.0 * u1.ln()).sqrt();
        data.push((r * (2.0 * std::f64::consts::PI * u2).cos()) as f32);
        data.push((r * (2.0 * std::f64::consts::PI * u2).sin()) as f32);
    }
    data.truncate(num_nodes * dim);
    let y: Vec<usize> = (0..num_nodes).map(|_| rng.gen_range(0..num_classes)).collect();
    let train: Vec<usize> = (0..num_nodes / 10).collect();
    Ok(NodeDataset {
        name: format!("synthetic-{num_nodes}-{avg_degree}-{dim}"),
        graph,
        x: Features::Dense { num_rows: num_nodes, num_cols: dim, data },
        y,
        num_classes,
        split: Some(Split { train: train.clone(), val: train.clone(), test: train }),
        source: "synthetic".into(),
    })
}

/// The two-layer models of `pyg_synth.py`: hidden 128 (GAT: 8 heads x 16), ReLU, no dropout.
pub fn synthetic_model(kind: ModelKind, hidden: usize) -> GnnConfig {
    let mut c = GnnConfig::recipe(kind);
    c.hidden_dim = if kind == ModelKind::Gat { hidden / 8 } else { hidden };
    c.heads = 8;
    c.dropout = 0.0;
    c.attn_dropout = 0.0;
    c.gat_feature_dropout = 0.0;
    c.activation = Activation::Relu;
    c
}

/// Timing of one model on one dataset.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochTiming {
    pub model: String,
    pub dataset: String,
    /// Median epoch (forward + backward + step) over the timed epochs, milliseconds.
    pub median_ms: f64,
    pub min_ms: f64,
    pub epochs: usize,
    /// Peak resident memory while this model ran, bytes (Linux; 0 elsewhere).
    pub peak_rss_bytes: u64,
}

/// How [`time_epochs`] trains.
#[derive(Debug, Clone, Copy)]
pub struct TimingSpec {
    /// Adam learning rate.
    pub lr: f64,
    /// Adam (L2) weight decay.
    pub weight_decay: f64,
    /// Untimed epochs first.
    pub warmup: usize,
    /// Timed epochs.
    pub epochs: usize,
    /// Loss on every node (as `pyg_synth.py`) instead of the training nodes.
    pub all_nodes_loss: bool,
    pub seed: u64,
}

/// Time `spec.epochs` training epochs (after `spec.warmup` untimed ones) of `cfg` on `data`.
pub fn time_epochs(data: &NodeData, cfg: &GnnConfig, spec: TimingSpec) -> Result<EpochTiming> {
    let TimingSpec { lr, weight_decay, warmup, epochs, all_nodes_loss, seed } = spec;
    reset_peak_rss();
    let params = Params::new(seed);
    let model = cfg.init(data.x.dim(), data.num_classes, &params)?;
    let oc = OptimizerConfig::adam(lr).with_weight_decay(weight_decay);
    let mut opt = oc.build(vec![oc.group("all", params.trainable())])?;
    let ids: Vec<usize> = if all_nodes_loss { (0..data.graph.num_nodes()).collect() } else { data.split.train.clone() };
    let idx = Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &Device::Cpu)?;
    let y: Vec<usize> = ids.iter().map(|&i| data.y[i]).collect();
    let mut ctx = Ctx::train(derive(seed, 3));
    let mut times = vec![];
    for ep in 0..warmup + epochs {
        let t0 = Instant::now();
        let logits = model.forward(&data.graph, &data.x, &mut ctx)?;
        let logits = if all_nodes_loss { logits } else { logits.index_select(&idx, 0)? };
        let loss = cross_entropy(&logits, &y, 0.0)?;
        let grads = loss.backward()?;
        opt.step(&grads)?;
        if ep >= warmup {
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(EpochTiming {
        model: cfg.model.to_string(),
        dataset: String::new(),
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        epochs,
        peak_rss_bytes: peak_rss(),
    })
}

/// Constant model input for a dataset (the same preparation as training).
pub fn prepare(ds: &NodeDataset, normalize: bool) -> Result<NodeData> {
    NodeData::prepare(ds, normalize)
}

/// Peak resident set size of this process (`VmHWM`), bytes; 0 where unavailable.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

/// Reset the peak-RSS counter (Linux `clear_refs` = 5); a no-op elsewhere.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

