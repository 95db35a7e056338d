//! Graph storage: an immutable, validated, CSR-indexed directed graph.
//!
//! Messages flow `src -> dst`. Edges are stored sorted by `(dst, src)`, so the
//! in-edges of node `i` are the contiguous range `row_ptr[i]..row_ptr[i+1]`
//! (the CSR of the aggregation matrix `A[dst, src]`), and the position in that
//! order is the edge id used by every per-edge tensor (`edge_weight`, attention
//! scores). The transpose (out-edges by source, with the edge ids they map to)
//! is built once and cached, so backward passes never sort.
//!
//! Architecture invariant: this module knows nothing of tensors or gradients.

mod batch;
mod builder;
pub mod encodings;
mod mfg;
pub mod pattern;
pub mod small;
pub mod sparse;
pub mod transform;

pub use batch::Batch;
pub use builder::GraphBuilder;
pub use mfg::Mfg;
pub use pattern::Pattern;
pub use small::SmallGraph;

pub use sparse::CsrMatrix;

use std::sync::Arc;

/// An immutable directed graph in CSR form (by destination), with its cached transpose.
///
/// Cloning is cheap (the storage is shared).
#[derive(Clone)]
pub struct Graph {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) num_nodes: usize,
    /// `row_ptr[i]..row_ptr[i+1]`: in-edges of node `i`. Length `num_nodes + 1`.
    pub(crate) row_ptr: Vec<usize>,
    /// Source of each edge, in edge-id order.
    pub(crate) col_idx: Vec<usize>,
    /// Destination of each edge, in edge-id order (non-decreasing).
    pub(crate) dst: Vec<usize>,
    /// Optional weight of each edge, in edge-id order.
    pub(crate) edge_weight: Option<Vec<f32>>,
    /// Transpose: `t_ptr[j]..t_ptr[j+1]` are the out-edges of node `j`.
    pub(crate) t_ptr: Vec<usize>,
    /// For each transpose position: the destination node.
    pub(crate) t_dst: Vec<usize>,
    /// For each transpose position: the edge id.
    pub(crate) t_eid: Vec<usize>,
    /// Typed attributes of each edge, in edge-id order.
    pub(crate) edge_attrs: EdgeAttrs,
    /// Memoised derived graphs (GCN normalisation and friends).
    pub(crate) cache: transform::Cache,
    /// For a block-diagonal union ([`Batch`]): the member graphs and their node offsets.
    pub(crate) parts: Option<Arc<Parts>>,
}

/// The member graphs of a block-diagonal union, kept so that per-graph
/// structure (attention patterns, positional encodings) is computed once per
/// member and memoised there, and so that global attention never crosses graphs.
#[derive(Debug)]
pub struct Parts {
    /// Graph `g`'s nodes are `node_ptr[g]..node_ptr[g+1]`.
    pub node_ptr: Vec<usize>,
    pub graphs: Vec<Graph>,
}

/// Per-edge attributes, in edge-id order: a categorical type (a bond type)
/// and / or a float feature row. Set through [`GraphBuilder::edge_types`] and
/// [`GraphBuilder::edge_features`], which permute them with the edges; carried
/// through [`Batch::from_graphs`]. Derived graphs ([`Graph::with_self_loops`],
/// normalisations) carry none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EdgeAttrs {
    /// `(type of every edge, number of types)`; every type is `< number of types`.
    pub types: Option<(Vec<u32>, usize)>,
    /// `(width, row-major [num_edges, width] values)`, all finite.
    pub features: Option<(usize, Vec<f32>)>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("num_nodes", &self.num_nodes())
            .field("num_edges", &self.num_edges())
            .field("weighted", &self.edge_weight().is_some())
            .finish()
    }
}

impl Graph {
    /// Start building a graph with `num_nodes` nodes.
    pub fn builder(num_nodes: usize) -> GraphBuilder {
        GraphBuilder::new(num_nodes)
    }

    /// Build from `(src, dst)` pairs, validating ids. Duplicates are kept.
    pub fn from_edges(num_nodes: usize, edges: &[(usize, usize)]) -> crate::Result<Graph> {
        GraphBuilder::new(num_nodes).edges(edges.iter().copied()).build()
    }

    /// A graph from edges already sorted by `(dst, src)` with ids `< num_nodes`
    /// (callers inside the crate that generate them in order).
    pub(crate) fn from_sorted(num_nodes: usize, col_idx: Vec<usize>, dst: Vec<usize>) -> Graph {
        debug_assert!(dst.windows(2).all(|w| w[0] <= w[1]));
        Graph::from_inner(builder::index(num_nodes, col_idx, dst, None))
    }

    pub(crate) fn from_inner(inner: Inner) -> Graph {
        Graph { inner: Arc::new(inner) }
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.inner.num_nodes
    }
    /// Number of directed edges.
    pub fn num_edges(&self) -> usize {
        self.inner.col_idx.len()
    }
    /// CSR row pointer over destinations, length `num_nodes + 1`.
    pub fn row_ptr(&self) -> &[usize] {
        &self.inner.row_ptr
    }
    /// Source node of every edge (CSR column index), in edge-id order.
    pub fn col_idx(&self) -> &[usize] {
        &self.inner.col_idx
    }
    /// Alias of [`Graph::col_idx`]: the source of every edge.
    pub fn src(&self) -> &[usize] {
        &self.inner.col_idx
    }
    /// Destination node of every edge, in edge-id order (non-decreasing).
    pub fn dst(&self) -> &[usize] {
        &self.inner.dst
    }
    /// Edge weights, if the graph has them.
    pub fn edge_weight(&self) -> Option<&[f32]> {
        self.inner.edge_weight.as_deref()
    }
    /// Categorical type of every edge, in edge-id order, if the graph has them.
    pub fn edge_types(&self) -> Option<&[u32]> {
        self.inner.edge_attrs.types.as_ref().map(|(t, _)| t.as_slice())
    }
    /// Number of edge types (0 without types).
    pub fn num_edge_types(&self) -> usize {
        self.inner.edge_attrs.types.as_ref().map_or(0, |(_, k)| *k)
    }
    /// Float features of every edge: `(width, row-major [num_edges, width])`.
    pub fn edge_features(&self) -> Option<(usize, &[f32])> {
        self.inner.edge_attrs.features.as_ref().map(|(d, v)| (*d, v.as_slice()))
    }
    /// All edge attributes.
    pub fn edge_attrs(&self) -> &EdgeAttrs {
        &self.inner.edge_attrs
    }
    /// Transposed CSR row pointer (out-edges per source node).
    pub fn t_ptr(&self) -> &[usize] {
        &self.inner.t_ptr
    }
    /// Destination for every transposed position.
    pub fn t_dst(&self) -> &[usize] {
        &self.inner.t_dst
    }
    /// Edge id for every transposed position.
    pub fn t_eid(&self) -> &[usize] {
        &self.inner.t_eid
    }
    /// In-degree of every node (number of incoming edges).
    pub fn in_degree(&self) -> Vec<usize> {
        self.inner.row_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
    /// Out-degree of every node.
    pub fn out_degree(&self) -> Vec<usize> {
        self.inner.t_ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }
    /// Iterate over `(src, dst)` pairs in edge-id order.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.inner.col_idx.iter().copied().zip(self.inner.dst.iter().copied())
    }
    /// Whether an edge `src -> dst` exists (binary search in `dst`'s row).
    pub fn has_edge(&self, src: usize, dst: usize) -> bool {
        if dst >= self.num_nodes() {
            return false;
        }
        let r = &self.inner.col_idx[self.inner.row_ptr[dst]..self.inner.row_ptr[dst + 1]];
        r.binary_search(&src).is_ok()
    }
    /// Whether every edge has its reverse (with equal multiplicity).
    pub fn is_undirected(&self) -> bool {
        self.edges().all(|(s, d)| self.has_edge(d, s))
    }
    /// Number of nodes with neither in- nor out-edges.
    pub fn num_isolated(&self) -> usize {
        (0..self.num_nodes()).filter(|&i| self.inner.row_ptr[i] == self.inner.row_ptr[i + 1] && self.inner.t_ptr[i] == self.inner.t_ptr[i + 1]).count()
    }
}

#[cfg(test)]
mod tests;
