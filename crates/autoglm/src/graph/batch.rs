//! Block-diagonal batches of many small graphs.

use super::{EdgeAttrs, Graph};
use crate::{Error, Result};

/// Many graphs as one block-diagonal graph, with a node-to-graph index.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The union graph; graph `g`'s nodes are `node_ptr[g]..node_ptr[g+1]`.
    pub graph: Graph,
    /// For every node of the union, the graph it belongs to (PyG's `batch` vector).
    pub node_graph: Vec<usize>,
    /// Node offsets, length `num_graphs + 1`.
    pub node_ptr: Vec<usize>,
}

/// The edge attributes of the union: types when every graph has them (as
/// many types as the most of any graph), features when every graph has them
/// (at the same width: a mismatch is an error).
fn batch_attrs(graphs: &[&Graph]) -> Result<EdgeAttrs> {
    let mut attrs = EdgeAttrs::default();
    if graphs.is_empty() {
        return Ok(attrs);
    }
    if graphs.iter().all(|g| g.edge_types().is_some()) {
        let k = graphs.iter().map(|g| g.num_edge_types()).max().unwrap_or(0);
        attrs.types = Some((graphs.iter().flat_map(|g| g.edge_types().unwrap_or_default().iter().copied()).collect(), k));
    }
    if graphs.iter().all(|g| g.edge_features().is_some()) {
        let d = graphs[0].edge_features().map_or(0, |(d, _)| d);
        if let Some(other) = graphs.iter().filter_map(|g| g.edge_features()).find(|(w, _)| *w != d) {
            return Err(Error::inconsistent("batch: edge feature width of every graph", d, other.0));
        }
        attrs.features = Some((d, graphs.iter().flat_map(|g| g.edge_features().map(|(_, v)| v).unwrap_or_default().iter().copied()).collect()));
    }
    Ok(attrs)
}

impl Batch {
    /// Stack graphs block-diagonally, keeping edge weights when every graph has them.
    pub fn from_graphs(graphs: &[&Graph]) -> Result<Batch> {
        let total_nodes: usize = graphs.iter().map(|g| g.num_nodes()).sum();
        let total_edges: usize = graphs.iter().map(|g| g.num_edges()).sum();
        let weighted = !graphs.is_empty() && graphs.iter().all(|g| g.edge_weight().is_some());
        let mut src = Vec::with_capacity(total_edges);
        let mut dst = Vec::with_capacity(total_edges);
        let mut w = Vec::new();
        let mut node_ptr = Vec::with_capacity(graphs.len() + 1);
        let mut node_graph = Vec::with_capacity(total_nodes);
        let mut off = 0;
        node_ptr.push(0);
        for (gi, g) in graphs.iter().enumerate() {
            src.extend(g.src().iter().map(|&s| s + off));
            dst.extend(g.dst().iter().map(|&d| d + off));
            if weighted {
                w.extend_from_slice(g.edge_weight().unwrap_or_default());
            }
            node_graph.extend(std::iter::repeat_n(gi, g.num_nodes()));
            off += g.num_nodes();
            node_ptr.push(off);
        }
        // Edges of each graph are already sorted by (dst, src) and blocks ascend,
        // so the concatenation is sorted: index directly.
        let mut inner = super::builder::index(total_nodes, src, dst, weighted.then_some(w));
        inner.edge_attrs = batch_attrs(graphs)?;
        inner.parts = Some(std::sync::Arc::new(super::Parts { node_ptr: node_ptr.clone(), graphs: graphs.iter().map(|&g| g.clone()).collect() }));
        Ok(Batch { graph: Graph::from_inner(inner), node_graph, node_ptr })
    }

    /// Number of graphs in the batch.
    pub fn num_graphs(&self) -> usize {
        self.node_ptr.len() - 1
    }

    /// Check that `node_graph` agrees with `node_ptr` (used by loaders that build batches by hand).
    pub fn validate(&self) -> Result<()> {
        if self.node_graph.len() != self.graph.num_nodes() {
            return Err(Error::inconsistent("batch: node_graph length", self.graph.num_nodes(), self.node_graph.len()));
        }
        Ok(())
    }
}
