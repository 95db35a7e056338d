//! Benchmark workloads: seeded synthetic graphs and timed full-batch training
//! epochs (forward, backward and optimiser step), as PyG's peer scripts time them.
//! Timings are reported, never asserted.

use crate::data::loader::GraphBatch;
use crate::data::GraphDataset;
use crate::data::{Features, NodeDataset, Split};
use crate::graph::Graph;
use crate::models::graph_classifier::GraphClassifierConfig;
use crate::models::{Activation, GnnConfig, ModelKind};
use crate::nn::{Ctx, Module, Params};
use crate::rng::{derive, Rng};
use crate::tasks::graph::{batch_loss, GraphModel, GraphTrainConfig};
use crate::tasks::node::NodeData;
use crate::train::batches::GraphMiniBatches;
use crate::train::loss::cross_entropy;
use crate::train::{Evaluation, FullGraph, OptimizerConfig, Trainer, TrainerConfig};
use crate::Error;
use crate::Result;
use candle_core::{Device, Tensor};

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
        split: Some(Split { train, val: vec![], test: vec![] }),
        source: "synthetic".into(),
        notes: vec![],
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
    /// Trainable scalars of the model.
    pub num_params: usize,
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

/// Time `spec.epochs` training epochs (after `spec.warmup` untimed ones) of `cfg` on `data`,
/// through the library's [`Trainer`] (the loop every task uses).
///
/// # Errors
/// [`crate::Error::Config`] for `spec.epochs == 0`; model and training errors.
pub fn time_epochs(data: &NodeData, cfg: &GnnConfig, spec: TimingSpec) -> Result<EpochTiming> {
    let mut t = time_module_epochs(data, &|p: &Params| Ok(Box::new(cfg.init(data.x.dim(), data.num_classes, p)?) as Box<dyn Module>), spec)?;
    t.model = cfg.model.to_string();
    Ok(t)
}

/// [`time_epochs`] for any model `build` makes (from `data.x.dim()` columns to
/// `data.num_classes`); `model` is left empty for the caller to name, and
/// `num_params` counts the trainable scalars.
///
/// # Errors
/// As [`time_epochs`].
pub fn time_module_epochs(data: &NodeData, build: &dyn Fn(&Params) -> Result<Box<dyn Module>>, spec: TimingSpec) -> Result<EpochTiming> {
    let TimingSpec { lr, weight_decay, warmup, epochs, all_nodes_loss, seed } = spec;
    if epochs == 0 {
        return Err(crate::Error::config("epochs", 0, "time at least one epoch"));
    }
    reset_peak_rss();
    let params = Params::new(seed);
    let model = build(&params)?;
    let oc = OptimizerConfig::adam(lr).with_weight_decay(weight_decay);
    let mut opt = oc.build(vec![oc.group("all", params.trainable())])?;
    let ids: Vec<usize> = if all_nodes_loss { (0..data.graph.num_nodes()).collect() } else { data.split.train.clone() };
    let idx = Tensor::from_vec(ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), ids.len(), &Device::Cpu)?;
    let y: Vec<usize> = ids.iter().map(|&i| data.y[i]).collect();
    let mut ctx = Ctx::train(derive(seed, 3));
    let mut loss = |_: &(), ctx: &mut Ctx| -> Result<(Tensor, f64)> {
        let logits = model.forward(&data.graph, &data.x, ctx)?;
        let logits = if all_nodes_loss { logits } else { logits.index_select(&idx, 0)? };
        Ok((cross_entropy(&logits, &y, 0.0)?, 1.0))
    };
    let fit = Trainer::new(TrainerConfig::new(warmup.saturating_add(epochs)))
        .fit(&params, opt.as_mut(), &mut ctx, &mut FullGraph, &mut loss, &mut |st| Ok(Evaluation { log: *st, score: None }))?;
    let mut times: Vec<f64> = fit.stats[warmup..].iter().map(|s| s.step_ms).collect();
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(EpochTiming {
        model: String::new(),
        num_params: params.num_parameters(),
        dataset: String::new(),
        median_ms: crate::eval::stats::median(&times),
        min_ms: times[0],
        epochs,
        peak_rss_bytes: peak_rss(),
    })
}

/// Builds an encoder under the given parameters from an input width.
pub type EncoderBuild<'a> = dyn Fn(&Params, usize) -> Result<Box<dyn Module>> + 'a;

/// Timing of GIN training epochs (see [`bench_gin_epoch`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochBench {
    pub dataset: String,
    pub num_graphs: usize,
    pub num_nodes: usize,
    pub batch_size: usize,
    /// Median over the timed epochs, ms.
    pub ms_per_epoch: f64,
    pub ms_min: f64,
    pub ms_max: f64,
    /// Every timed epoch, ms (the untimed warm-up epochs excluded).
    pub epoch_ms: Vec<f64>,
    /// Rayon worker threads.
    pub threads: usize,
    /// Trainable scalars.
    pub num_params: usize,
    /// The model that was timed (its convolutions replaced by the encoder when one was given).
    pub model: GraphClassifierConfig,
}

/// Untimed warm-up epochs of [`bench_gin_epoch`] (as the PyG peer script).
pub const BENCH_WARMUP: usize = 2;

/// Time training epochs of the default GIN ([`GraphClassifierConfig::default`]:
/// GIN-0, 4 GIN layers with 2-layer MLPs and batch norm, hidden 64, sum readout
/// of every layer, dropout 0.5) over all graphs of `ds`, with Adam (lr 0.01).
/// An epoch is a seeded shuffled pass in batches of `batch_size`: batching,
/// forward, cross-entropy, backward, optimiser step — what a PyG loop over a
/// `DataLoader` times. [`BENCH_WARMUP`] untimed epochs, then `epochs` timed ones (median reported).
///
/// # Errors
/// [`Error::Config`] for `epochs == 0`, `batch_size == 0` or an empty dataset.
pub fn bench_gin_epoch(ds: &GraphDataset, batch_size: usize, epochs: usize, seed: u64) -> Result<EpochBench> {
    bench_graph_epoch(ds, batch_size, epochs, seed, None)
}

/// [`bench_gin_epoch`] with `encoder` (built under `convs.0` from its input
/// width to `hidden_dim`) in place of the GIN layers, inside the same classifier
/// (input MLP, per-layer readouts); `None` is the GIN itself.
///
/// # Errors
/// As [`bench_gin_epoch`], and the encoder's.
pub fn bench_graph_epoch(ds: &GraphDataset, batch_size: usize, epochs: usize, seed: u64, encoder: Option<&EncoderBuild<'_>>) -> Result<EpochBench> {
    if epochs == 0 {
        return Err(Error::config("epochs", 0, "time at least one epoch"));
    }
    if ds.graphs.is_empty() {
        return Err(Error::config("dataset", &ds.name, "no graphs to time"));
    }
    let cfg = GraphTrainConfig { batch_size, ..GraphTrainConfig::recipe(ModelKind::Gin) };
    cfg.validate()?;
    let model = match encoder {
        None => GraphModel::new(&cfg, ds.num_node_features, ds.num_classes, seed)?,
        Some(build) => {
            let params = Params::new(seed);
            let enc_in = if cfg.model.input_mlp { cfg.model.hidden_dim } else { ds.num_node_features };
            let enc = build(&params.pp("convs.0"), enc_in)?;
            let classifier = cfg.model.init_with_encoder(ds.num_node_features, ds.num_classes, &params, enc)?;
            GraphModel { config: cfg.clone(), params, classifier }
        }
    };
    let mut opt = cfg.optimizer.build(vec![cfg.optimizer.group("all", model.params.trainable())])?;
    let mut batches = GraphMiniBatches::new(ds, (0..ds.graphs.len()).collect(), batch_size, None, seed)?;
    let mut ctx = Ctx::train(derive(seed, 1));
    let classifier = &model.classifier;
    let mut loss = |b: &GraphBatch, ctx: &mut Ctx| batch_loss(classifier, b, ctx);
    let fit = Trainer::new(TrainerConfig::new(epochs.saturating_add(BENCH_WARMUP))).on_worker(true).fit(
        &model.params,
        opt.as_mut(),
        &mut ctx,
        &mut batches,
        &mut loss,
        &mut |st| Ok(Evaluation { log: *st, score: None }),
    )?;
    let times: Vec<f64> = fit.stats[BENCH_WARMUP..].iter().map(|s| s.step_ms).collect();
    Ok(EpochBench {
        dataset: ds.name.clone(),
        num_graphs: ds.graphs.len(),
        num_nodes: ds.graphs.iter().map(|g| g.graph.num_nodes()).sum(),
        batch_size,
        ms_per_epoch: crate::eval::stats::median(&times),
        ms_min: times.iter().copied().fold(f64::INFINITY, f64::min),
        ms_max: times.iter().copied().fold(0.0, f64::max),
        epoch_ms: times,
        threads: rayon::current_num_threads(),
        num_params: model.params.num_parameters(),
        model: cfg.model,
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

/// Timing of neighbour-sampled training (see [`bench_sampled`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampledBench {
    pub num_nodes: usize,
    pub num_edges: usize,
    pub fanouts: Vec<i64>,
    pub batch_size: usize,
    /// Timed training steps (after the warm-up ones).
    pub batches: usize,
    /// Wall time of the timed steps: sampling (overlapped), feature gather,
    /// forward, backward, Adam step; ms in all and per batch.
    pub train_ms: f64,
    pub ms_per_batch: f64,
    /// The sampler alone over the same batches, in the caller's thread, ms per batch.
    pub sample_ms_per_batch: f64,
    /// Mean nodes and edges of a sampled block.
    pub mean_block_nodes: f64,
    pub mean_block_edges: f64,
    /// Trainable scalars.
    pub num_params: usize,
    /// Peak resident memory of the process (graph and features included), bytes.
    pub peak_rss_bytes: u64,
}

/// A batch source that yields the first `per_epoch[e]` blocks of epoch `e`.
struct FirstBlocks<'a> {
    inner: crate::train::NeighborBlocks<'a>,
    per_epoch: Vec<usize>,
}

impl crate::train::Batches for FirstBlocks<'_> {
    type Batch = crate::train::SampledBlock;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&Self::Batch) -> Result<()>) -> Result<()> {
        self.inner.set_max_steps(Some(self.per_epoch.get(epoch).copied().unwrap_or(0)));
        self.inner.for_each(epoch, step)
    }
}

/// Time `batches` neighbour-sampled training steps (after 3 untimed ones) of
/// the model `cfg` on `data` through the [`Trainer`]: batches of
/// `sampling.batch_size` seed nodes drawn from all nodes, the loss on the
/// seeds, Adam (lr 0.01). Then the sampler alone over the same batches.
///
/// # Errors
/// [`Error::Config`] for a bad sampling setting or `batches == 0`; model errors.
pub fn bench_sampled(data: &NodeData, cfg: &GnnConfig, sampling: &crate::train::SamplingConfig, batches: usize, seed: u64) -> Result<SampledBench> {
    if batches == 0 {
        return Err(Error::config("batches", 0, "time at least one batch"));
    }
    sampling.validate(cfg.num_layers)?;
    const WARMUP: usize = 3;
    reset_peak_rss();
    let params = Params::new(seed);
    let model = cfg.init(data.x.dim(), data.num_classes, &params)?;
    let oc = OptimizerConfig::adam(0.01);
    let mut opt = oc.build(vec![oc.group("all", params.trainable())])?;
    let seeds: Vec<usize> = (0..data.graph.num_nodes()).collect();
    let blocks = crate::train::NeighborBlocks::new(&data.graph, seeds, sampling.batch_size, sampling.per_hop(), seed)?;
    let mut source = FirstBlocks { inner: blocks, per_epoch: vec![WARMUP, batches] };
    let (mut nodes, mut edges, mut seen) = (0usize, 0usize, 0usize);
    let mut loss = |b: &crate::train::SampledBlock, ctx: &mut Ctx| -> Result<(Tensor, f64)> {
        nodes += b.nodes.len();
        edges += b.graph.num_edges();
        seen += 1;
        let x = data.x.select_rows(&b.nodes)?;
        let logits = b.seed_output(&model, &x, sampling.trim, ctx)?;
        let y: Vec<usize> = b.nodes[..b.num_seeds].iter().map(|&i| data.y[i]).collect();
        Ok((cross_entropy(&logits, &y, 0.0)?, b.num_seeds as f64))
    };
    let mut ctx = Ctx::train(derive(seed, 3));
    let fit =
        Trainer::new(TrainerConfig::new(2)).fit(&params, opt.as_mut(), &mut ctx, &mut source, &mut loss, &mut |st| Ok(Evaluation { log: *st, score: None }))?;
    let train_ms = fit.stats[1].step_ms;
    let peak = peak_rss();
    // The sampler alone, the same blocks (epoch 1's first `batches`).
    let t = std::time::Instant::now();
    let mut alone = FirstBlocks { inner: source.inner.with_prefetch(0), per_epoch: vec![0, batches] };
    crate::train::Batches::for_each(&mut alone, 1, &mut |b| {
        std::hint::black_box(b.nodes.len());
        Ok(())
    })?;
    let sample_ms = t.elapsed().as_secs_f64() * 1e3;
    Ok(SampledBench {
        num_nodes: data.graph.num_nodes(),
        num_edges: data.graph.num_edges(),
        fanouts: sampling.fanouts.clone(),
        batch_size: sampling.batch_size,
        batches,
        train_ms,
        ms_per_batch: train_ms / batches as f64,
        sample_ms_per_batch: sample_ms / batches as f64,
        mean_block_nodes: nodes as f64 / seen.max(1) as f64,
        mean_block_edges: edges as f64 / seen.max(1) as f64,
        num_params: params.num_parameters(),
        peak_rss_bytes: peak,
    })
}
