//! [`Mfg`]: one layer of a trimmed sampled block (DGL's message-flow graph,
//! PyG's `trim_to_layer`).
//!
//! A sampled block over nodes ordered by hop (seeds, then their sampled
//! neighbours, then theirs) is consumed layer by layer: an `L`-layer model's
//! layer `l` only has to produce the rows that layer `l + 1` reads, the nodes
//! within `L - 1 - l` hops of the seeds. Its graph is the block's edges into
//! those nodes, over the nodes within `L - l` hops.

use super::Graph;
use crate::{Error, Result};

/// One layer's graph of a trimmed block: the layer reads
/// `graph.num_nodes()` source rows and writes the first `num_dst` of them;
/// `graph` has in-edges only into nodes `< num_dst`.
#[derive(Debug, Clone)]
pub struct Mfg {
    pub graph: Graph,
    pub num_dst: usize,
}

impl Mfg {
    /// The layer graph `graph` writing its first `num_dst` nodes.
    ///
    /// # Errors
    /// [`Error::Config`] when `num_dst` exceeds the nodes or an edge enters
    /// a node at or above `num_dst`.
    pub fn new(graph: Graph, num_dst: usize) -> Result<Mfg> {
        if num_dst > graph.num_nodes() || graph.row_ptr()[num_dst] != graph.num_edges() {
            return Err(Error::config(
                "mfg.num_dst",
                num_dst,
                format!("a layer graph of {} nodes may only hold edges into its first num_dst nodes", graph.num_nodes()),
            ));
        }
        Ok(Mfg { graph, num_dst })
    }
    /// Every node of `graph` is a destination (an untrimmed layer).
    pub fn full(graph: Graph) -> Mfg {
        let num_dst = graph.num_nodes();
        Mfg { graph, num_dst }
    }
    /// Source rows the layer reads.
    pub fn num_src(&self) -> usize {
        self.graph.num_nodes()
    }
    /// Whether every source row is also written (no trimming).
    pub fn is_full(&self) -> bool {
        self.num_dst == self.graph.num_nodes()
    }

    /// The layer graphs of an `hops`-hop block over nodes ordered by hop:
    /// `block` is the whole block (edges grouped by destination in node
    /// order), `nodes_at[h]` the number of nodes within `h` hops of the seeds
    /// (`nodes_at[0]`: the seeds, `nodes_at[hops]`: all nodes), and
    /// `edges_at[h]` the number of edges into nodes within `h` hops, so
    /// `edges_at[hops - 1]` is every edge. Layer `l` reads the nodes within
    /// `hops - l` hops and writes those within `hops - 1 - l`; layer 0's graph
    /// is `block` itself.
    ///
    /// # Errors
    /// [`Error::Config`] when the counts do not describe `block`.
    pub fn layers(block: &Graph, nodes_at: &[usize], edges_at: &[usize]) -> Result<Vec<Mfg>> {
        let hops = edges_at.len();
        if nodes_at.len() != hops + 1 || nodes_at[hops] != block.num_nodes() || edges_at.last() != Some(&block.num_edges()) {
            return Err(Error::config("block.hops", format!("{nodes_at:?} / {edges_at:?}"), "node and edge counts per hop must end at the block's totals"));
        }
        (0..hops)
            .map(|l| {
                let (src, dst, e) = (nodes_at[hops - l], nodes_at[hops - 1 - l], edges_at[hops - 1 - l]);
                let graph = if l == 0 {
                    block.clone()
                } else {
                    if block.row_ptr()[dst] != e || block.col_idx()[..e].iter().any(|&s| s >= src) {
                        return Err(Error::config("block.hops", format!("{nodes_at:?} / {edges_at:?}"), "the block's nodes are not ordered by hop"));
                    }
                    Graph::from_sorted(src, block.col_idx()[..e].to_vec(), block.dst()[..e].to_vec())
                };
                Mfg::new(graph, dst)
            })
            .collect()
    }
}
