//! Structural transforms: self loops, undirected closure, normalisation weights,
//! edge masks. Derived graphs that layers need on every forward pass are memoised
//! on the graph itself (a private cache), which is safe because a [`Graph`] never changes.

use super::{builder::index, Graph};
use std::sync::{Arc, OnceLock};

/// Memoised derived structure of one graph.
#[derive(Default)]
pub(crate) struct Cache {
    gcn: OnceLock<Arc<(Graph, Arc<Vec<f32>>)>>,
    gcn_weighted: OnceLock<Arc<(Graph, Arc<Vec<f32>>)>>,
    self_loops: OnceLock<Graph>,
    mean_weight: OnceLock<Arc<Vec<f32>>>,
    /// Keyed memo of other derived structure (attention patterns, encodings).
    pub(crate) memo: std::sync::Mutex<std::collections::HashMap<String, Arc<dyn std::any::Any + Send + Sync>>>,
}

impl Graph {
    /// This graph without `i -> i` edges.
    pub fn remove_self_loops(&self) -> Graph {
        let keep: Vec<usize> = (0..self.num_edges()).filter(|&e| self.src()[e] != self.dst()[e]).collect();
        self.edge_subgraph(&keep)
    }

    /// The graph on the given edge ids (in ascending order), with their weights.
    pub fn edge_subgraph(&self, edge_ids: &[usize]) -> Graph {
        let col: Vec<usize> = edge_ids.iter().map(|&e| self.src()[e]).collect();
        let dst: Vec<usize> = edge_ids.iter().map(|&e| self.dst()[e]).collect();
        let w = self.edge_weight().map(|w| edge_ids.iter().map(|&e| w[e]).collect());
        Graph::from_inner(index(self.num_nodes(), col, dst, w))
    }

    /// Existing self loops removed, then one self loop per node added (PyG
    /// `remove_self_loops` + `add_self_loops`, as GAT does). Self loops get weight
    /// `fill` when the graph is weighted.
    pub fn with_self_loops(&self) -> Graph {
        self.inner.cache.self_loops.get_or_init(|| self.add_remaining_self_loops(1.0)).clone()
    }

    /// One self loop per node: a node that already has self loops keeps the weight
    /// of its (last) existing loop, the others get weight `fill` (PyG
    /// `add_remaining_self_loops`, used by GCN). Unweighted graphs stay unweighted.
    pub fn add_remaining_self_loops(&self, fill: f32) -> Graph {
        let n = self.num_nodes();
        let weighted = self.edge_weight().is_some();
        let mut loop_w = vec![fill; n];
        let mut col = Vec::with_capacity(self.num_edges() + n);
        let mut dst = Vec::with_capacity(self.num_edges() + n);
        let mut w = Vec::with_capacity(if weighted { self.num_edges() + n } else { 0 });
        for (i, loop_wi) in loop_w.iter_mut().enumerate() {
            let r = self.row_ptr()[i]..self.row_ptr()[i + 1];
            // Row `i` is sorted by source: emit sources < i, the loop, sources > i.
            let mut placed = false;
            for e in r.clone() {
                let s = self.src()[e];
                if s == i {
                    if let Some(ew) = self.edge_weight() {
                        *loop_wi = ew[e];
                    }
                    continue;
                }
                if s > i && !placed {
                    col.push(i);
                    dst.push(i);
                    if weighted {
                        w.push(f32::NAN); // patched below once the loop weight is known
                    }
                    placed = true;
                }
                col.push(s);
                dst.push(i);
                if let Some(ew) = self.edge_weight() {
                    w.push(ew[e]);
                }
            }
            if !placed {
                col.push(i);
                dst.push(i);
                if weighted {
                    w.push(f32::NAN);
                }
            }
        }
        if weighted {
            for k in 0..col.len() {
                if col[k] == dst[k] {
                    w[k] = loop_w[col[k]];
                }
            }
        }
        Graph::from_inner(index(n, col, dst, weighted.then_some(w)))
    }

    /// The undirected closure: every edge plus its reverse, duplicates merged
    /// (weights of merged duplicates: the first one is kept).
    pub fn to_undirected(&self) -> Graph {
        let mut src: Vec<usize> = self.src().to_vec();
        let mut dst: Vec<usize> = self.dst().to_vec();
        src.extend_from_slice(self.dst());
        dst.extend_from_slice(self.src());
        let mut b = Graph::builder(self.num_nodes()).edge_lists(src, dst).dedup(true);
        if let Some(w) = self.edge_weight() {
            let mut ww = w.to_vec();
            ww.extend_from_slice(w);
            b = b.edge_weight(ww);
        }
        b.build().expect("ids of an existing graph are in range")
    }

    /// GCN propagation structure: `Â = D^-1/2 (A + I) D^-1/2` as a graph with self
    /// loops plus one coefficient per edge, `dinv[src] * w * dinv[dst]`, with the
    /// degree taken over incoming edges (PyG `gcn_norm`, `add_remaining_self_loops`).
    /// When `use_edge_weight` is false the graph's weights are ignored.
    pub fn gcn_norm(&self, use_edge_weight: bool) -> Arc<(Graph, Arc<Vec<f32>>)> {
        let cell = if use_edge_weight && self.edge_weight().is_some() { &self.inner.cache.gcn_weighted } else { &self.inner.cache.gcn };
        cell.get_or_init(|| {
            let base = if use_edge_weight { self.clone() } else { self.without_weights() };
            let g = base.add_remaining_self_loops(1.0);
            let w: Vec<f32> = g.edge_weight().map(|w| w.to_vec()).unwrap_or_else(|| vec![1.0; g.num_edges()]);
            let mut deg = vec![0f32; g.num_nodes()];
            for (e, &d) in g.dst().iter().enumerate() {
                deg[d] += w[e];
            }
            let dinv: Vec<f32> = deg.iter().map(|&d| if d > 0.0 { 1.0 / d.sqrt() } else { 0.0 }).collect();
            let coef = (0..g.num_edges()).map(|e| dinv[g.src()[e]] * w[e] * dinv[g.dst()[e]]).collect();
            Arc::new((g, Arc::new(coef)))
        })
        .clone()
    }

    /// Per-edge coefficient `1 / in_degree(dst)`: mean aggregation as a weighted sum.
    pub fn mean_weight(&self) -> Arc<Vec<f32>> {
        self.inner
            .cache
            .mean_weight
            .get_or_init(|| {
                let deg = self.in_degree();
                Arc::new(self.dst().iter().map(|&d| 1.0 / deg[d] as f32).collect())
            })
            .clone()
    }

    /// The same structure without edge weights.
    pub fn without_weights(&self) -> Graph {
        if self.edge_weight().is_none() {
            return self.clone();
        }
        Graph::from_inner(index(self.num_nodes(), self.src().to_vec(), self.dst().to_vec(), None))
    }

    /// The same structure with the given per-edge weights (edge-id order).
    pub fn with_edge_weight(&self, w: Vec<f32>) -> crate::Result<Graph> {
        if w.len() != self.num_edges() {
            return Err(crate::Error::inconsistent("edge weights (one per edge)", self.num_edges(), w.len()));
        }
        Ok(Graph::from_inner(index(self.num_nodes(), self.src().to_vec(), self.dst().to_vec(), Some(w))))
    }
}
