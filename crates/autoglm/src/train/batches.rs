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
use crate::graph::Graph;
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
        Ok(GraphMiniBatches { dataset, loader: GraphLoader::new(dataset, indices, lc)?, iters, rng: derive(seed, 7) })
    }
}

impl Batches for GraphMiniBatches<'_> {
    type Batch = GraphBatch;
    fn for_each(&mut self, _epoch: usize, step: &mut dyn FnMut(&GraphBatch) -> Result<()>) -> Result<()> {
        match self.iters {
            None => {
                for b in self.loader.epoch() {
                    step(&b?)?;
                }
            }
            Some(n) => {
                let bs = self.loader.config().batch_size.min(self.loader.len());
                for _ in 0..n {
                    let idx: Vec<usize> = self.loader.indices().choose_multiple(&mut self.rng, bs).copied().collect();
                    step(&collate(self.dataset, &idx)?)?;
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

/// One sampled node mini-batch: a subgraph over `nodes` (global ids, the
/// batch's seed nodes first), holding the sampled edges relabelled to
/// positions in `nodes`.
#[derive(Debug, Clone)]
pub struct SampledBlock {
    /// Global node ids; `nodes[..num_seeds]` are the seeds.
    pub nodes: Vec<usize>,
    pub num_seeds: usize,
    /// The sampled edges, on local ids.
    pub graph: Graph,
    /// Sampled edges per hop (hop 0: into the seeds).
    pub edges_per_hop: Vec<usize>,
}

/// Node mini-batches with sampled in-neighbourhoods (see the [module docs](self)).
pub struct NeighborBlocks<'a> {
    graph: &'a Graph,
    seeds: Vec<usize>,
    batch_size: usize,
    fanouts: Vec<Option<usize>>,
    seed: u64,
    rng: GlmRng,
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
        Ok(NeighborBlocks { graph, seeds, batch_size, fanouts, seed, rng: derive(seed, 11) })
    }

    /// Sample the block of `seeds` (distinct global ids) with the given generator.
    pub fn sample(&self, seeds: &[usize], rng: &mut GlmRng) -> Result<SampledBlock> {
        let n = self.graph.num_nodes();
        let (row_ptr, col) = (self.graph.row_ptr(), self.graph.col_idx());
        let mut index = std::collections::HashMap::with_capacity(seeds.len() * 4);
        let mut nodes: Vec<usize> = Vec::with_capacity(seeds.len() * 4);
        for &s in seeds {
            if index.insert(s, nodes.len()).is_some() {
                return Err(Error::config("seeds", s, "seed nodes of a batch must be distinct"));
            }
            nodes.push(s);
        }
        let mut edges: Vec<(usize, usize)> = Vec::new();
        let mut edges_per_hop = Vec::with_capacity(self.fanouts.len());
        let mut frontier: Vec<usize> = nodes.clone();
        for &fanout in &self.fanouts {
            let before = edges.len();
            let mut next = Vec::new();
            for &v in &frontier {
                let nbrs = &col[row_ptr[v]..row_ptr[v + 1]];
                let chosen: Vec<usize> = match fanout {
                    Some(k) if k < nbrs.len() => nbrs.choose_multiple(rng, k).copied().collect(),
                    _ => nbrs.to_vec(),
                };
                let dst = index[&v];
                for u in chosen {
                    debug_assert!(u < n);
                    let src = *index.entry(u).or_insert_with(|| {
                        nodes.push(u);
                        next.push(u);
                        nodes.len() - 1
                    });
                    edges.push((src, dst));
                }
            }
            edges_per_hop.push(edges.len() - before);
            frontier = next;
        }
        let graph = Graph::builder(nodes.len()).context("sampled block").edges(edges).build()?;
        Ok(SampledBlock { nodes, num_seeds: seeds.len(), graph, edges_per_hop })
    }
}

impl Batches for NeighborBlocks<'_> {
    type Batch = SampledBlock;
    fn for_each(&mut self, epoch: usize, step: &mut dyn FnMut(&SampledBlock) -> Result<()>) -> Result<()> {
        let mut order = self.seeds.clone();
        order.shuffle(&mut derive(self.seed, epoch as u64));
        for chunk in order.chunks(self.batch_size) {
            let mut rng = std::mem::replace(&mut self.rng, derive(0, 0));
            let block = self.sample(chunk, &mut rng);
            self.rng = rng;
            step(&block?)?;
        }
        Ok(())
    }
    fn rng_state(&self) -> serde_json::Value {
        serde_json::to_value(&self.rng).unwrap_or_default()
    }
    fn set_rng_state(&mut self, state: &serde_json::Value) -> Result<()> {
        self.rng = serde_json::from_value(state.clone())?;
        Ok(())
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
        let mut rng = derive(1, 2);
        let b = nb.sample(&[0, 33, 5], &mut rng).unwrap();
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
        // the same generator state gives the same block; all-neighbour fanout gives the exact 1-hop in-neighbourhood
        let again = nb.sample(&[0, 33, 5], &mut derive(1, 2)).unwrap();
        assert_eq!(again.nodes, b.nodes);
        let full = NeighborBlocks::new(g, vec![0], 1, vec![None], 0).unwrap().sample(&[0], &mut derive(0, 0)).unwrap();
        assert_eq!(full.graph.num_edges(), g.row_ptr()[1] - g.row_ptr()[0]);
        // bad settings are errors
        assert!(NeighborBlocks::new(g, vec![99], 1, vec![None], 0).is_err());
        assert!(NeighborBlocks::new(g, vec![0], 1, vec![Some(0)], 0).is_err());
        assert!(nb.sample(&[1, 1], &mut rng).is_err());
    }

    #[test]
    fn every_seed_once_per_epoch() {
        let ds = load_karate_builtin().unwrap();
        let mut nb = NeighborBlocks::new(&ds.graph, (0..34).collect(), 8, vec![Some(2)], 3).unwrap();
        let mut seen = vec![];
        nb.for_each(0, &mut |b| {
            seen.extend_from_slice(&b.nodes[..b.num_seeds]);
            Ok(())
        })
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, (0..34).collect::<Vec<_>>());
    }
}
