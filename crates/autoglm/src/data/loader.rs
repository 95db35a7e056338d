//! Mini-batches of graphs for graph classification (PyG `DataLoader` over a
//! `TUDataset`): each batch is the block-diagonal union of its graphs
//! ([`Batch::from_graphs`]) with the stacked node features and graph labels.
//!
//! Shuffling is seeded: epoch `e` uses the permutation drawn from
//! `crate::rng::derive(seed, e)`, so the same seed gives the same sequence of
//! epochs, and a resumed run reproduces an epoch from its number alone
//! ([`GraphLoader::set_epoch`]).

use super::GraphDataset;
use crate::graph::Batch;
use crate::{Error, Result};
use rand::seq::SliceRandom;

/// A mini-batch of graphs.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// The block-diagonal union graph, `node_graph` and `node_ptr`.
    pub batch: Batch,
    /// Node features, `[total_nodes, num_node_features]` row-major; graph `b`'s
    /// rows are `batch.node_ptr[b]..batch.node_ptr[b + 1]`.
    pub x: Vec<f32>,
    /// Label of every graph, `[num_graphs]`.
    pub y: Vec<usize>,
    /// Dataset index of every graph, in batch order.
    pub indices: Vec<usize>,
    /// Feature columns of `x`.
    pub num_node_features: usize,
}

impl GraphBatch {
    /// Number of graphs in the batch.
    pub fn num_graphs(&self) -> usize {
        self.indices.len()
    }
    /// Total number of nodes in the batch.
    pub fn num_nodes(&self) -> usize {
        self.batch.graph.num_nodes()
    }
}

/// Stack the graphs `indices` of `dataset` into one [`GraphBatch`], in that order.
///
/// # Errors
/// [`Error::IndexOutOfRange`] when an index is `>= dataset.graphs.len()`.
pub fn collate(dataset: &GraphDataset, indices: &[usize]) -> Result<GraphBatch> {
    check_indices(dataset, indices)?;
    let samples: Vec<_> = indices.iter().map(|&i| &dataset.graphs[i]).collect();
    let graphs: Vec<_> = samples.iter().map(|s| &s.graph).collect();
    let batch = Batch::from_graphs(&graphs)?;
    let mut x = Vec::with_capacity(batch.graph.num_nodes() * dataset.num_node_features);
    for s in &samples {
        x.extend_from_slice(&s.x);
    }
    Ok(GraphBatch { batch, x, y: samples.iter().map(|s| s.y).collect(), indices: indices.to_vec(), num_node_features: dataset.num_node_features })
}

fn check_indices(dataset: &GraphDataset, indices: &[usize]) -> Result<()> {
    let n = dataset.graphs.len();
    match indices.iter().find(|&&i| i >= n) {
        Some(&i) => Err(Error::IndexOutOfRange {
            what: format!("graph index for dataset '{}'", dataset.name),
            index: i,
            bound: n,
            hint: "graph indices are 0-based; do the folds belong to this dataset?".into(),
        }),
        None => Ok(()),
    }
}

/// Settings of a [`GraphLoader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoaderConfig {
    /// Graphs per batch; the last batch of an epoch may be smaller. Default 32.
    pub batch_size: usize,
    /// Reshuffle the indices every epoch. Default `true`.
    pub shuffle: bool,
    /// Seed of the shuffling. Default 0.
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig { batch_size: 32, shuffle: true, seed: 0 }
    }
}

impl LoaderConfig {
    /// Set [`LoaderConfig::batch_size`].
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Set [`LoaderConfig::shuffle`].
    pub fn with_shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Set [`LoaderConfig::seed`].
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Iterates a subset of a [`GraphDataset`] in mini-batches, epoch after epoch.
///
/// ```
/// use autoglm::data::loader::{GraphLoader, LoaderConfig};
/// use autoglm::data::tu::{load_tu, TuOptions};
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tu");
/// let ds = load_tu(&dir, "TINY", &TuOptions::default()).unwrap();
/// let cfg = LoaderConfig::default().with_batch_size(2).with_seed(1);
/// let mut loader = GraphLoader::new(&ds, vec![0, 1, 2], cfg).unwrap();
/// let sizes: Vec<usize> = loader.epoch().map(|b| b.unwrap().num_graphs()).collect();
/// assert_eq!(sizes, vec![2, 1]); // the last partial batch is kept
/// ```
#[derive(Debug, Clone)]
pub struct GraphLoader<'a> {
    dataset: &'a GraphDataset,
    indices: Vec<usize>,
    config: LoaderConfig,
    epoch: u64,
}

impl<'a> GraphLoader<'a> {
    /// A loader over the graphs `indices` of `dataset` (for example a fold's `train`).
    ///
    /// # Errors
    /// [`Error::Config`] when `batch_size` is 0; [`Error::IndexOutOfRange`]
    /// when an index is `>= dataset.graphs.len()`.
    pub fn new(dataset: &'a GraphDataset, indices: Vec<usize>, config: LoaderConfig) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::config("batch_size", 0, "must be at least 1"));
        }
        check_indices(dataset, &indices)?;
        Ok(GraphLoader { dataset, indices, config, epoch: 0 })
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }
    /// The dataset indices this loader draws from, in their given order.
    pub fn indices(&self) -> &[usize] {
        &self.indices
    }
    /// Number of graphs per epoch.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// Whether the loader has no graphs.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
    /// Number of batches per epoch (the last one may be partial).
    pub fn num_batches(&self) -> usize {
        self.indices.len().div_ceil(self.config.batch_size)
    }
    /// The number of the epoch the next [`GraphLoader::epoch`] call yields (0 first).
    pub fn current_epoch(&self) -> u64 {
        self.epoch
    }
    /// Make the next [`GraphLoader::epoch`] call yield epoch `epoch` (to resume a run).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// The order of epoch `epoch`: the given indices, permuted when shuffling.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.indices.clone();
        if self.config.shuffle {
            order.shuffle(&mut crate::rng::derive(self.config.seed, epoch));
        }
        order
    }

    /// The batches of the next epoch, built lazily; every index appears exactly
    /// once and the last batch is kept even when partial.
    pub fn epoch(&mut self) -> Epoch<'a> {
        let order = self.order(self.epoch);
        self.epoch += 1;
        Epoch { dataset: self.dataset, order, batch_size: self.config.batch_size, pos: 0 }
    }
}

/// The batches of one epoch (see [`GraphLoader::epoch`]).
#[derive(Debug, Clone)]
pub struct Epoch<'a> {
    dataset: &'a GraphDataset,
    order: Vec<usize>,
    batch_size: usize,
    pos: usize,
}

impl Iterator for Epoch<'_> {
    type Item = Result<GraphBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.order.len() {
            return None;
        }
        let end = (self.pos + self.batch_size).min(self.order.len());
        let b = collate(self.dataset, &self.order[self.pos..end]);
        self.pos = end;
        Some(b)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.order.len() - self.pos).div_ceil(self.batch_size);
        (left, Some(left))
    }
}

impl ExactSizeIterator for Epoch<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::GraphSample;
    use crate::graph::Graph;

    /// Graph `i` is a path on `i % 4 + 1` nodes; node `j` of graph `i` has feature row `(i, j)`.
    fn dataset(num_graphs: usize) -> GraphDataset {
        let graphs = (0..num_graphs)
            .map(|i| {
                let n = i % 4 + 1;
                let mut edges = Vec::new();
                for j in 1..n {
                    edges.push((j - 1, j));
                    edges.push((j, j - 1));
                }
                let x = (0..n).flat_map(|j| [i as f32, j as f32]).collect();
                GraphSample { graph: Graph::from_edges(n, &edges).unwrap(), x, y: i % 3 }
            })
            .collect();
        GraphDataset { name: "paths".into(), graphs, num_node_features: 2, num_classes: 3, source: "memory".into(), folds_file: None }
    }

    fn orders(loader: &mut GraphLoader<'_>) -> Vec<Vec<usize>> {
        loader.epoch().map(|b| b.unwrap().indices).collect()
    }

    #[test]
    fn batches_are_block_diagonal() {
        let ds = dataset(10);
        let cfg = LoaderConfig::default().with_batch_size(4).with_shuffle(false);
        let mut loader = GraphLoader::new(&ds, vec![5, 2, 7, 0, 9], cfg).unwrap();
        let batches: Vec<GraphBatch> = loader.epoch().map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 2);
        let b = &batches[0];
        assert_eq!(b.indices, vec![5, 2, 7, 0]);
        assert_eq!(b.y, vec![2, 2, 1, 0]);
        // sizes 2, 3, 4, 1
        assert_eq!(b.batch.node_ptr, vec![0, 2, 5, 9, 10]);
        assert_eq!(b.batch.node_graph, vec![0, 0, 1, 1, 1, 2, 2, 2, 2, 3]);
        assert_eq!(b.num_nodes(), 10);
        assert_eq!(b.x.len(), 10 * 2);
        for (g, &i) in b.indices.iter().enumerate() {
            let (lo, hi) = (b.batch.node_ptr[g], b.batch.node_ptr[g + 1]);
            for v in lo..hi {
                assert_eq!(&b.x[2 * v..2 * v + 2], &[i as f32, (v - lo) as f32]);
            }
            // every edge of the union stays in its block, shifted by the offset
            let src = &ds.graphs[i].graph;
            assert_eq!(src.num_edges(), 2 * (hi - lo - 1));
        }
        for (s, d) in b.batch.graph.edges() {
            assert_eq!(b.batch.node_graph[s], b.batch.node_graph[d]);
            assert!(s.abs_diff(d) == 1);
        }
        assert_eq!(b.batch.graph.num_edges(), 2 + 4 + 6);
        assert_eq!(batches[1].indices, vec![9]);
    }

    #[test]
    fn same_seed_same_order_and_every_index_once() {
        let ds = dataset(23);
        let idx: Vec<usize> = (0..23).collect();
        let cfg = LoaderConfig::default().with_batch_size(5).with_seed(42);
        let mut a = GraphLoader::new(&ds, idx.clone(), cfg).unwrap();
        let mut b = GraphLoader::new(&ds, idx.clone(), cfg).unwrap();
        let e0 = orders(&mut a);
        assert_eq!(e0, orders(&mut b));
        let e1 = orders(&mut a);
        assert_eq!(e1, orders(&mut b));
        assert_ne!(e0, e1, "reshuffled every epoch");
        for e in [&e0, &e1] {
            assert_eq!(e.len(), 5);
            assert_eq!(e.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 5, 5, 5, 3]);
            let mut all: Vec<usize> = e.concat();
            all.sort();
            assert_eq!(all, idx);
        }
        // resuming at epoch 1 reproduces it
        let mut c = GraphLoader::new(&ds, idx.clone(), cfg).unwrap();
        c.set_epoch(1);
        assert_eq!(orders(&mut c), e1);
        // another seed, another order
        let mut d = GraphLoader::new(&ds, idx, cfg.with_seed(43)).unwrap();
        assert_ne!(orders(&mut d), e0);
    }

    #[test]
    fn no_shuffle_keeps_order_and_errors_are_reported() {
        let ds = dataset(6);
        let cfg = LoaderConfig::default().with_batch_size(4).with_shuffle(false);
        let mut l = GraphLoader::new(&ds, vec![3, 1, 4, 0, 5], cfg).unwrap();
        assert_eq!(l.num_batches(), 2);
        assert_eq!(l.epoch().len(), 2);
        assert_eq!(orders(&mut l), vec![vec![3, 1, 4, 0], vec![5]]);
        assert!(GraphLoader::new(&ds, vec![6], cfg).is_err());
        assert!(GraphLoader::new(&ds, vec![0], cfg.with_batch_size(0)).is_err());
        let mut empty = GraphLoader::new(&ds, vec![], cfg).unwrap();
        assert_eq!(empty.epoch().count(), 0);
    }
}
