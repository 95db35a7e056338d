//! Batch sources for the [`Trainer`](crate::train::Trainer): what one epoch
//! iterates over.
//!
//! * [`FullGraph`](crate::train::FullGraph): one step on the whole graph.
//! * [`GraphMiniBatches`]: mini-batches of small graphs (graph classification):
//!   a seeded shuffled pass, or a fixed number of random draws per epoch (the
//!   GIN code's "epoch" of 50 batches).
//! * [`NeighborBlocks`]: node mini-batches with sampled neighbourhoods (GraphSAGE,
//!   PyG's `NeighborLoader`): seed nodes in seeded shuffled batches, up to
//!   `fanouts[h]` in-neighbours sampled per node at hop `h`, returned as one
//!   relabelled subgraph with the seeds first.

use crate::data::loader::{collate, GraphBatch, GraphLoader, LoaderConfig};
use crate::data::GraphDataset;
use crate::dist::shard::Shard;
use crate::graph::{Graph, Mfg};
use crate::rng::{derive, GlmRng};
use crate::train::Batches;
use crate::{Error, Result};
use rand::seq::SliceRandom;

/// Mini-batches of graphs of a [`GraphDataset`].
pub struct GraphMiniBatches<'a> {
    dataset: &'a GraphDataset,
    loader: GraphLoader<'a>,
    iters: Option<usize>,
    rng: GlmRng,
    /// This rank's share of every global batch of `batch_size * ranks` graphs.
    shard: Shard<'a>,
}

impl<'a> GraphMiniBatches<'a> {
    /// Batches of `batch_size` graphs drawn from `indices`: a shuffled pass per
    /// epoch (seeded by `seed` and the epoch), or with `iters = Some(n)`, `n`
    /// draws of `batch_size` distinct graphs.
    ///
    /// # Errors
    /// As [`GraphLoader::new`].
    pub fn new(dataset: &'a GraphDataset, indices: Vec<usize>, batch_size: usize, iters: Option<usize>, seed: u64) -> Result<Self> {
        let lc = LoaderConfig::default().with_batch_size(batch_size).with_seed(seed);
        Ok(GraphMiniBatches { dataset, loader: GraphLoader::new(dataset, indices, lc)?, iters, rng: derive(seed, 7), shard: Shard::default() })
    }

    /// Take `shard.rank`'s share of every global batch of `batch_size *
    /// shard.ranks` graphs: the same global batches as one process with that
    /// batch size (the epoch's seeded order, or the same seeded draws), every
    /// `ranks`-th graph of each. A last global batch with fewer graphs than
    /// ranks is dropped, so every rank takes the same number of steps; before
    /// each step the rank's share of the step's graphs goes to
    /// `shard.step_weight`.
    ///
    /// # Errors
    /// [`Error::Config`] when there are fewer graphs than ranks.
    pub fn with_shard(mut self, shard: Shard<'a>) -> Result<Self> {
        let ranks = shard.ranks.max(1);
        if self.loader.len() < ranks {
            return Err(Error::config(
                "distributed",
                format!("{} training graphs over {ranks} ranks", self.loader.len()),
                "every rank needs at least one graph per step: run fewer ranks",
            ));
        }
        self.shard = Shard { ranks, ..shard };
        Ok(self)
    }

    /// This rank's share of an epoch's graphs (1 in one process): its
    /// epoch loss, weighted so, sums over the ranks to the global epoch loss.
    pub fn epoch_share(&self) -> f32 {
        let (rank, ranks) = (self.shard.rank, self.shard.ranks.max(1));
        let global = self.loader.config().batch_size * ranks;
        let mine = |len: usize| (len + ranks - 1 - rank) / ranks;
        let (n, all) = match self.iters {
            Some(_) => {
                let bs = global.min(self.loader.len());
                (mine(bs), bs)
            }
            None => {
                let len = self.loader.len();
                let chunks = (0..len.div_ceil(global)).map(|c| global.min(len - c * global)).filter(|&l| l >= ranks);
                chunks.fold((0, 0), |(n, all), l| (n + mine(l), all + l))
            }
        };
        n as f32 / all.max(1) as f32
    }
}

impl Batches for GraphMiniBatches<'_> {
    type Batch = GraphBatch;
    fn for_each(&mut self, _epoch: usize, step: &mut dyn FnMut(&GraphBatch) -> Result<()>) -> Result<()> {
        let (rank, ranks) = (self.shard.rank, self.shard.ranks.max(1));
        let global = self.loader.config().batch_size * ranks;
        let mut run = |idx: &[usize]| -> Result<()> {
            let mine: Vec<usize> = idx.iter().skip(rank).step_by(ranks).copied().collect();
            self.shard.set_step_weight(mine.len(), idx.len());
            step(&collate(self.dataset, &mine)?)
        };
        match self.iters {
            None => {
                let e = self.loader.current_epoch();
                let order = self.loader.order(e);
                self.loader.set_epoch(e + 1);
                for c in order.chunks(global).filter(|c| c.len() >= ranks) {
                    run(c)?;
                }
            }
            Some(n) => {
                let bs = global.min(self.loader.len());
                for _ in 0..n {
                    let idx: Vec<usize> = self.loader.indices().choose_multiple(&mut self.rng, bs).copied().collect();
                    run(&idx)?;
                }
            }
        }
        Ok(())
    }
    fn rng_state(&self) -> serde_json::Value {
        serde_json::json!({"epoch": self.loader.current_epoch(), "rng": self.rng})
    }
    fn set_rng_state(&mut self, state: &serde_json::Value) -> Result<()> {
        let epoch = state["epoch"]
            .as_u64()
            .ok_or_else(|| Error::config("state.batches.epoch", &state["epoch"], "not an epoch number; resume with the state file the same command wrote"))?;
        self.loader.set_epoch(epoch);
        self.rng = serde_json::from_value(state["rng"].clone())?;
        Ok(())
    }
}

/// Neighbour-sampling settings of a mini-batch run (`[train.sampling]`, or
/// `--fanouts 15,10 --batch-size 1024`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// In-neighbours sampled per node at each hop, one per layer (hop 0:
    /// into the seeds); -1 takes all of them, as PyG's `num_neighbors`.
    pub fanouts: Vec<i64>,
    /// Seed nodes per step (per rank when distributed; default 1024).
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Run each layer only on the rows the next one reads (default true;
    /// [`Mfg`], PyG's `trim_to_layer`). False runs every layer on the whole
    /// block, as PyG's `NeighborLoader` examples do: the seed rows are the
    /// same up to rounding and dropout masks, the cost is several times higher.
    #[serde(default = "yes")]
    pub trim: bool,
}

fn yes() -> bool {
    true
}

fn default_batch() -> usize {
    SamplingConfig::DEFAULT_BATCH
}

impl SamplingConfig {
    /// Seed nodes per step when none is given.
    pub const DEFAULT_BATCH: usize = 1024;
    /// `fanouts` per hop, batches of `batch_size` seeds.
    pub fn new(fanouts: Vec<i64>, batch_size: usize) -> SamplingConfig {
        SamplingConfig { fanouts, batch_size, trim: true }
    }
    /// Check the settings against a model of `num_layers` layers.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad setting.
    pub fn validate(&self, num_layers: usize) -> Result<()> {
        if self.batch_size == 0 {
            return Err(Error::config("sampling.batch_size", 0, "must be at least 1 seed node per step"));
        }
        if let Some(f) = self.fanouts.iter().find(|&&f| f == 0 || f < -1) {
            return Err(Error::config("sampling.fanouts", f, "each fanout must be at least 1, or -1 for all neighbours"));
        }
        if self.fanouts.len() != num_layers {
            return Err(Error::config(
                "sampling.fanouts",
                format!("{:?}", self.fanouts),
                format!(
                    "give one fanout per layer: the model has {num_layers} layers, the list has {} (for example --fanouts {})",
                    self.fanouts.len(),
                    vec!["10"; num_layers].join(",")
                ),
            ));
        }
        Ok(())
    }
    /// The fanouts as [`NeighborBlocks`] takes them (`None`: all).
    pub fn per_hop(&self) -> Vec<Option<usize>> {
        self.fanouts.iter().map(|&f| usize::try_from(f).ok()).collect()
    }
}

/// One sampled node mini-batch: a subgraph over `nodes` (global ids, the
/// batch's seed nodes first), holding the sampled edges relabelled to
/// positions in `nodes`.
#[derive(Debug, Clone)]
pub struct SampledBlock {
    /// Global node ids; `nodes[..num_seeds]` are the seeds.
    pub nodes: Vec<usize>,
    pub num_seeds: usize,
    /// Seeds of the global batch this block is part of (all ranks' seeds;
    /// `num_seeds` in one process): this block's loss weight is
    /// `num_seeds / global_seeds`.
    pub global_seeds: usize,
    /// The sampled edges, on local ids.
    pub graph: Graph,
    /// Sampled edges per hop (hop 0: into the seeds).
    pub edges_per_hop: Vec<usize>,
    /// Nodes per hop, cumulative: `nodes_at[h]` nodes lie within `h` hops of
    /// the seeds (`nodes_at[0] = num_seeds`, the last: all nodes). The
    /// nodes are ordered by hop.
    pub nodes_at: Vec<usize>,
    /// The block trimmed per layer ([`Mfg::layers`]): layer `l` of a model
    /// with one layer per hop runs on `layers[l]`; `layers[0].graph` is `graph`.
    pub layers: Vec<Mfg>,
}

impl SampledBlock {
    /// `model`'s output rows of the seeds, `[num_seeds, out_dim]`, for input
    /// rows `x` of [`SampledBlock::nodes`]: layer by layer on the trimmed
    /// [`SampledBlock::layers`] when `trim`, else every layer on the whole block.
    ///
    /// # Errors
    /// As the model's forward pass.
    pub fn seed_output(&self, model: &dyn crate::nn::Module, x: &crate::nn::NodeInput, trim: bool, ctx: &mut crate::nn::Ctx) -> Result<candle_core::Tensor> {
        if trim {
            model.forward_block(&self.layers, x, ctx)
        } else {
            Ok(model.forward(&self.graph, x, ctx)?.narrow(0, 0, self.num_seeds)?)
        }
    }
}

/// Node mini-batches with sampled in-neighbourhoods (see the [module docs](self)).
///
/// Randomness is keyed, not sequential: the batch order of epoch `e` comes
/// from `(seed, e)` and the neighbours of node `v` at hop `h` from
/// `(seed, e, h, v)`, so a block does not depend on the threads that sampled
/// it, and a node's sample does not depend on which rank or batch holds it.
/// Sampling is rayon-parallel over a hop's frontier, and the next block is
/// sampled on its own thread while the caller trains on the current one.
pub struct NeighborBlocks<'a> {
    graph: &'a Graph,
    seeds: Vec<usize>,
    batch_size: usize,
    fanouts: Vec<Option<usize>>,
    seed: u64,
    /// `(rank, ranks)`: this process takes every `ranks`-th seed of each
    /// global batch of `batch_size * ranks` seeds.
    shard: (usize, usize),
    /// Blocks sampled ahead of the step (0: sample in the caller's thread).
    prefetch: usize,
    /// At most this many steps per epoch (the first ones of its order).
    max_steps: Option<usize>,
}

/// Stream id of node `v`'s neighbour sample at hop `h` of epoch `e`.
fn key(epoch: usize, hop: usize, v: usize) -> u64 {
    ((epoch as u64) << 40) ^ ((hop as u64) << 34) ^ v as u64 ^ 0x5a5a_0000_0000_0000
}

impl<'a> NeighborBlocks<'a> {
    /// Batches of `batch_size` of the `seeds`, shuffled each epoch; `fanouts[h]`
    /// in-neighbours sampled without replacement per node at hop `h` (`None`:
    /// all of them).
    ///
    /// # Errors
    /// [`Error::Config`] for a zero batch size, no hops, or a fanout of 0;
    /// [`Error::IndexOutOfRange`] for a seed that is not a node.
    pub fn new(graph: &'a Graph, seeds: Vec<usize>, batch_size: usize, fanouts: Vec<Option<usize>>, seed: u64) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        if fanouts.is_empty() || fanouts.contains(&Some(0)) {
            return Err(Error::config("fanouts", format!("{fanouts:?}"), "give one fanout of at least 1 per hop (None for all neighbours)"));
        }
        if let Some(&bad) = seeds.iter().find(|&&s| s >= graph.num_nodes()) {
            return Err(Error::IndexOutOfRange {
                what: "seed node".into(),
                index: bad,
                bound: graph.num_nodes(),
                hint: "seed nodes must be node ids of the graph".into(),
            });
        }
        Ok(NeighborBlocks { graph, seeds, batch_size, fanouts, seed, shard: (0, 1), prefetch: 2, max_steps: None })
    }

    /// Take rank `rank`'s share of every global batch of `batch_size * ranks`
    /// seeds (a strided share, so shares differ by at most one seed). A last
    /// global batch with fewer seeds than ranks is dropped, so every rank
    /// takes the same number of steps with at least one seed each.
    pub fn with_shard(mut self, rank: usize, ranks: usize) -> Self {
        self.shard = (rank.min(ranks.saturating_sub(1)), ranks.max(1));
        self
    }

    /// Sample this many blocks ahead on a separate thread (default 2; 0:
    /// sample in the caller's thread, between steps).
    pub fn with_prefetch(mut self, blocks: usize) -> Self {
        self.prefetch = blocks;
        self
    }

    /// End every epoch after its first `steps` steps (`None`: all of them).
    pub fn set_max_steps(&mut self, steps: Option<usize>) {
        self.max_steps = steps;
    }

    /// Steps per epoch (the same on every rank).
    pub fn steps_per_epoch(&self) -> usize {
        let (_, ranks) = self.shard;
        let global = self.batch_size * ranks;
        let full = self.seeds.len() / global;
        let rest = self.seeds.len() % global;
        let all = full + usize::from(rest >= ranks && rest > 0);
        self.max_steps.map_or(all, |m| m.min(all))
    }

    /// The seeds of every step of `epoch` on this rank, with the global batch's size.
    fn plan(&self, epoch: usize) -> Vec<(Vec<usize>, usize)> {
        let (rank, ranks) = self.shard;
        let mut order = self.seeds.clone();
        order.shuffle(&mut derive(self.seed, epoch as u64));
        order
            .chunks(self.batch_size * ranks)
            .filter(|c| c.len() >= ranks)
            .take(self.max_steps.unwrap_or(usize::MAX))
            .map(|c| (c.iter().skip(rank).step_by(ranks).copied().collect(), c.len()))
            .collect()
    }

    /// Sample the block of `seeds` (distinct global ids) for epoch `epoch`.
    ///
    /// # Errors
    /// [`Error::Config`] when a seed repeats.
    pub fn sample(&self, seeds: &[usize], epoch: usize) -> Result<SampledBlock> {
        use rayon::prelude::*;
        let (row_ptr, col) = (self.graph.row_ptr(), self.graph.col_idx());
        let mut index: std::collections::HashMap<usize, usize> = std::collections::HashMap::with_capacity(seeds.len() * 8);
        let mut nodes: Vec<usize> = Vec::with_capacity(seeds.len() * 8);
        for &s in seeds {
            if index.insert(s, nodes.len()).is_some() {
                return Err(Error::config("seeds", s, "seed nodes of a batch must be distinct"));
            }
            nodes.push(s);
        }
        // Edges come out grouped by destination in local-id order (frontier
        // nodes are expanded in the order they were numbered), so the block's
        // CSR is built without a sort over all its edges.
        let (mut src, mut dst): (Vec<usize>, Vec<usize>) = (Vec::new(), Vec::new());
        let mut edges_per_hop = Vec::with_capacity(self.fanouts.len());
        let mut nodes_at = vec![nodes.len()];
        let mut frontier = 0..nodes.len();
        for (hop, &fanout) in self.fanouts.iter().enumerate() {
            let before = src.len();
            let chosen: Vec<Vec<usize>> = nodes[frontier.clone()]
                .par_iter()
                .map(|&v| {
                    let nbrs = &col[row_ptr[v]..row_ptr[v + 1]];
                    match fanout {
                        Some(k) if k < nbrs.len() => {
                            let mut rng = derive(self.seed, key(epoch, hop, v));
                            rand::seq::index::sample(&mut rng, nbrs.len(), k).into_iter().map(|i| nbrs[i]).collect()
                        }
                        _ => nbrs.to_vec(),
                    }
                })
                .collect();
            let next_start = nodes.len();
            for (local_dst, picked) in frontier.clone().zip(chosen) {
                let mut local: Vec<usize> = picked
                    .into_iter()
                    .map(|u| {
                        *index.entry(u).or_insert_with(|| {
                            nodes.push(u);
                            nodes.len() - 1
                        })
                    })
                    .collect();
                local.sort_unstable();
                dst.extend(std::iter::repeat_n(local_dst, local.len()));
                src.extend(local);
            }
            edges_per_hop.push(src.len() - before);
            nodes_at.push(nodes.len());
            frontier = next_start..nodes.len();
        }
        let graph = Graph::from_sorted(nodes.len(), src, dst);
        let edges_at: Vec<usize> = edges_per_hop
            .iter()
            .scan(0, |acc, &e| {
                *acc += e;
                Some(*acc)
            })
            .collect();
        let layers = Mfg::layers(&graph, &nodes_at, &edges_at)?;
        Ok(SampledBlock { nodes, num_seeds: seeds.len(), global_seeds: seeds.len(), graph, edges_per_hop, nodes_at, layers })
    }
}

impl Batches for NeighborBlocks<'_> {
    type Batch = SampledBlock;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&SampledBlock) -> Result<()>) -> Result<()> {
        let plan = self.plan(epoch);
        let block = |seeds: &[usize], global: usize| self.sample(seeds, epoch).map(|b| SampledBlock { global_seeds: global, ..b });
        if self.prefetch == 0 {
            for (seeds, global) in &plan {
                step(&block(seeds, *global)?)?;
            }
            return Ok(());
        }
        // A sampler thread runs ahead by `prefetch` blocks; when the step
        // fails, the receiver is dropped and the sampler stops at its next send.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<SampledBlock>>(self.prefetch);
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for (seeds, global) in &plan {
                    if tx.send(block(seeds, *global)).is_err() {
                        break;
                    }
                }
            });
            // owned here, so an early return drops it before the scope joins
            let rx = rx;
            for b in rx.iter() {
                step(&b?)?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::karate::load_karate_builtin;

    #[test]
    fn sampled_blocks_respect_fanouts_and_the_graph() {
        let ds = load_karate_builtin().unwrap();
        let g = &ds.graph;
        let orig: std::collections::HashSet<(usize, usize)> = g.edges().collect();
        let nb = NeighborBlocks::new(g, (0..34).collect(), 5, vec![Some(3), Some(2)], 7).unwrap();
        let b = nb.sample(&[0, 33, 5], 4).unwrap();
        assert_eq!(&b.nodes[..3], &[0, 33, 5]);
        assert_eq!(b.num_seeds, 3);
        let indeg = b.graph.in_degree();
        for (i, d) in indeg.iter().take(3).enumerate() {
            assert!(*d <= 3, "seed {i} got {d} sampled in-edges");
        }
        assert_eq!(b.edges_per_hop.iter().sum::<usize>(), b.graph.num_edges());
        assert_eq!(b.edges_per_hop[0], indeg[..3].iter().sum::<usize>());
        for (s, d) in b.graph.edges() {
            assert!(orig.contains(&(b.nodes[s], b.nodes[d])), "sampled edge {s}->{d} is not in the graph");
        }
        // sampling without replacement: no repeated edge
        let distinct: std::collections::HashSet<(usize, usize)> = b.graph.edges().collect();
        assert_eq!(distinct.len(), b.graph.num_edges());
        // keyed randomness: the same epoch gives the same block; a seed's
        // sampled neighbours do not depend on the other seeds of its batch
        assert_eq!(nb.sample(&[0, 33, 5], 4).unwrap().nodes, b.nodes);
        let alone = nb.sample(&[33], 4).unwrap();
        let nbrs = |blk: &SampledBlock, seed_pos: usize| -> std::collections::BTreeSet<usize> {
            blk.graph.edges().filter(|&(_, d)| d == seed_pos).map(|(s, _)| blk.nodes[s]).collect()
        };
        assert_eq!(nbrs(&alone, 0), nbrs(&b, 1));
        let full = NeighborBlocks::new(g, vec![0], 1, vec![None], 0).unwrap().sample(&[0], 0).unwrap();
        assert_eq!(full.graph.num_edges(), g.row_ptr()[1] - g.row_ptr()[0]);
        // bad settings are errors
        assert!(NeighborBlocks::new(g, vec![99], 1, vec![None], 0).is_err());
        assert!(NeighborBlocks::new(g, vec![0], 1, vec![Some(0)], 0).is_err());
        assert!(nb.sample(&[1, 1], 0).is_err());
    }

    #[test]
    fn trimmed_layers_give_the_seeds_the_whole_blocks_output() {
        use crate::models::flow::Jk;
        use crate::models::ModelKind;
        use crate::nn::{Ctx, Module, NodeInput, Params, SageAggr};
        let ds = load_karate_builtin().unwrap();
        let nb = NeighborBlocks::new(&ds.graph, (0..34).collect(), 4, vec![Some(3), Some(2), Some(2)], 5).unwrap();
        let b = nb.sample(&[0, 33, 5, 12], 1).unwrap();
        assert_eq!(b.nodes_at.len(), 4);
        assert_eq!((b.nodes_at[0], b.nodes_at[3]), (4, b.nodes.len()));
        assert_eq!(b.layers.len(), 3);
        assert_eq!(b.layers[0].graph.num_edges(), b.graph.num_edges());
        assert_eq!(b.layers[2].num_dst, 4);
        assert!(b.layers[1].num_src() < b.nodes.len(), "the fixture trims something");
        for (l, m) in b.layers.iter().enumerate().skip(1) {
            assert_eq!(m.num_src(), b.layers[l - 1].num_dst);
            // the layer graph is the block's edges into its destinations
            let want: Vec<(usize, usize)> = b.graph.edges().filter(|&(_, d)| d < m.num_dst).collect();
            assert_eq!(m.graph.edges().collect::<Vec<_>>(), want);
        }
        let x = NodeInput::Dense(crate::testing::rand_tensor(&[b.nodes.len(), 6], 9));
        let mut configs = vec![];
        for model in [ModelKind::Sage, ModelKind::Gcn, ModelKind::Gin, ModelKind::Gat] {
            let mut c = crate::models::GnnConfig::recipe(model);
            c.num_layers = 3;
            c.hidden_dim = if model == ModelKind::Sage { 8 } else { 4 };
            configs.push(c);
        }
        for aggr in [SageAggr::Sum, SageAggr::Max] {
            configs.push(crate::models::GnnConfig { aggr, ..configs[0].clone() });
        }
        configs.push(crate::models::GnnConfig { residual: true, norm: true, jk: Jk::Cat, ..configs[0].clone() });
        configs.push(crate::models::GnnConfig { hidden_dim: 2, ..configs[0].clone() });
        for c in configs {
            let gnn = c.init(6, 3, &Params::new(2)).unwrap();
            let whole = gnn.forward(&b.graph, &x, &mut Ctx::eval()).unwrap().narrow(0, 0, 4).unwrap();
            let trimmed = gnn.forward_block(&b.layers, &x, &mut Ctx::eval()).unwrap();
            assert_eq!(trimmed.dims(), &[4, 3]);
            crate::testing::assert_close(&crate::testing::vec(&trimmed), &crate::testing::vec(&whole), 1e-5, &format!("{:?}", c));
            // the same gradients, up to rounding (evaluation mode: no dropout, running batch-norm statistics)
            let grads = |trim: bool| -> Vec<Vec<f32>> {
                let p = Params::new(2);
                let gnn = c.init(6, 3, &p).unwrap();
                let out = if trim {
                    gnn.forward_block(&b.layers, &x, &mut Ctx::eval()).unwrap()
                } else {
                    gnn.forward(&b.graph, &x, &mut Ctx::eval()).unwrap().narrow(0, 0, 4).unwrap()
                };
                let g = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                p.trainable().iter().map(|(_, v)| g.get(v).map_or_else(Vec::new, crate::testing::vec)).collect()
            };
            for (t, w) in grads(true).iter().zip(grads(false)) {
                crate::testing::assert_close(t, &w, 1e-4, &format!("gradient, {c:?}"));
            }
        }
        // a block for another depth is refused
        let gnn = crate::models::GnnConfig::recipe(ModelKind::Sage).init(6, 3, &Params::new(0)).unwrap();
        let err = gnn.forward_block(&b.layers, &x, &mut Ctx::eval()).unwrap_err().to_string();
        assert!(err.contains("one layer graph per layer"), "{err}");
    }

    fn epoch_blocks(nb: &mut NeighborBlocks, epoch: usize) -> Vec<SampledBlock> {
        let mut out = vec![];
        nb.for_each(epoch, &mut |b| {
            out.push(b.clone());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn every_seed_once_per_epoch_and_prefetch_changes_nothing() {
        let ds = load_karate_builtin().unwrap();
        let mut nb = NeighborBlocks::new(&ds.graph, (0..34).collect(), 8, vec![Some(2)], 3).unwrap();
        let blocks = epoch_blocks(&mut nb, 0);
        let mut seen: Vec<usize> = blocks.iter().flat_map(|b| b.nodes[..b.num_seeds].to_vec()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..34).collect::<Vec<_>>());
        assert_eq!(blocks.len(), nb.steps_per_epoch());
        let inline = epoch_blocks(&mut NeighborBlocks::new(&ds.graph, (0..34).collect(), 8, vec![Some(2)], 3).unwrap().with_prefetch(0), 0);
        assert_eq!(inline.iter().map(|b| b.nodes.clone()).collect::<Vec<_>>(), blocks.iter().map(|b| b.nodes.clone()).collect::<Vec<_>>());
        // a failing step ends the epoch with its error (the sampler thread stops)
        let err = nb.for_each(1, &mut |_| Err(Error::config("step", 0, "test failure")));
        assert!(err.is_err());
    }

    #[test]
    fn ranks_split_each_global_batch_and_take_the_same_steps() {
        let ds = load_karate_builtin().unwrap();
        let one = epoch_blocks(&mut NeighborBlocks::new(&ds.graph, (0..34).collect(), 10, vec![Some(2)], 5).unwrap(), 2);
        let ranks: Vec<Vec<SampledBlock>> = (0..3)
            .map(|r| epoch_blocks(&mut NeighborBlocks::new(&ds.graph, (0..34).collect(), 10 / 3 + 1, vec![Some(2)], 5).unwrap().with_shard(r, 3), 2))
            .collect();
        // 34 seeds, global batch 12: 2 full batches and one of 10 (>= 3 ranks), the same steps everywhere
        assert!(ranks.iter().all(|b| b.len() == 3));
        let one12 = epoch_blocks(&mut NeighborBlocks::new(&ds.graph, (0..34).collect(), 12, vec![Some(2)], 5).unwrap(), 2);
        for step in 0..3 {
            let mut union: Vec<usize> = ranks.iter().flat_map(|b| b[step].nodes[..b[step].num_seeds].to_vec()).collect();
            union.sort_unstable();
            let mut want = one12[step].nodes[..one12[step].num_seeds].to_vec();
            want.sort_unstable();
            assert_eq!(union, want, "step {step}");
            assert!(ranks.iter().all(|b| b[step].global_seeds == one12[step].num_seeds));
        }
        assert_eq!(one.len(), 4);
        // a last global batch smaller than the ranks is dropped on every rank
        let tiny: Vec<usize> =
            (0..3).map(|r| NeighborBlocks::new(&ds.graph, (0..7).collect(), 2, vec![Some(1)], 0).unwrap().with_shard(r, 3).steps_per_epoch()).collect();
        assert_eq!(tiny, vec![1, 1, 1]);
    }
}
