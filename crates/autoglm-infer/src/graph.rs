//! Graphs and node features as inference takes them.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// A directed graph in CSR form by destination: the in-edges of node `i`
/// are `ptr[i]..ptr[i + 1]`, `nbr[p]` the source of edge `p`, each row
/// sorted by source (the training library's layout).
#[derive(Debug, Clone)]
pub struct Graph {
    ptr: Vec<usize>,
    nbr: Vec<usize>,
    /// Edge weights in CSR order (GCN uses them; the other layers do not).
    weight: Option<Vec<f32>>,
    /// What layers derive from the graph, built on first use and kept (a
    /// server answers many requests over one graph).
    derived: Arc<Derived>,
}

#[derive(Debug, Default)]
struct Derived {
    gcn: OnceLock<(Graph, Vec<f32>)>,
    loops: OnceLock<Graph>,
}

impl PartialEq for Graph {
    fn eq(&self, o: &Graph) -> bool {
        self.ptr == o.ptr && self.nbr == o.nbr && self.weight == o.weight
    }
}

impl Graph {
    /// A graph from its CSR arrays.
    ///
    /// # Errors
    /// [`Error::Input`] when `ptr` is not a non-decreasing list of
    /// `num_nodes + 1` offsets ending at `nbr.len()`, or a source is out of range.
    pub fn from_csr(ptr: Vec<usize>, nbr: Vec<usize>) -> Result<Graph> {
        if ptr.first() != Some(&0) || ptr.last() != Some(&nbr.len()) || ptr.windows(2).any(|w| w[0] > w[1]) {
            return Err(Error::Input(format!("CSR offsets must rise from 0 to the edge count {}", nbr.len())));
        }
        let n = ptr.len() - 1;
        if let Some(&s) = nbr.iter().find(|&&s| s >= n) {
            return Err(Error::Input(format!("edge source {s} is out of range: the graph has {n} nodes (ids 0..{n})")));
        }
        Ok(Graph { ptr, nbr, weight: None, derived: Arc::default() })
    }

    /// The graph with edge weights (CSR order), as GCN propagates them.
    ///
    /// # Errors
    /// [`Error::Input`] when there is not one finite weight per edge.
    pub fn with_weights(mut self, w: Vec<f32>) -> Result<Graph> {
        if w.len() != self.nbr.len() || w.iter().any(|v| !v.is_finite()) {
            return Err(Error::Input(format!("edge weights: need one finite weight per edge ({}), got {}", self.nbr.len(), w.len())));
        }
        self.weight = Some(w);
        self.derived = Arc::default();
        Ok(self)
    }

    /// A graph of `n` nodes from `(source, target)` pairs (duplicates kept).
    ///
    /// # Errors
    /// [`Error::Input`] naming the first edge whose end is not a node id.
    pub fn from_edges(n: usize, edges: &[(usize, usize)]) -> Result<Graph> {
        if let Some((k, &(s, t))) = edges.iter().enumerate().find(|(_, &(s, t))| s >= n || t >= n) {
            return Err(Error::Input(format!("edge {k} ({s} -> {t}) names a node that does not exist: the graph has {n} nodes (ids 0..{n})")));
        }
        let mut sorted: Vec<(usize, usize)> = edges.iter().map(|&(s, t)| (t, s)).collect();
        sorted.sort_unstable();
        let mut ptr = vec![0usize; n + 1];
        for &(t, _) in &sorted {
            ptr[t + 1] += 1;
        }
        for i in 0..n {
            ptr[i + 1] += ptr[i];
        }
        Ok(Graph { ptr, nbr: sorted.into_iter().map(|(_, s)| s).collect(), weight: None, derived: Arc::default() })
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.ptr.len() - 1
    }
    /// Number of edges.
    pub fn num_edges(&self) -> usize {
        self.nbr.len()
    }
    /// CSR offsets.
    pub fn ptr(&self) -> &[usize] {
        &self.ptr
    }
    /// Edge sources in CSR order.
    pub fn nbr(&self) -> &[usize] {
        &self.nbr
    }

    /// Existing self loops removed and one per node added, in sorted place
    /// (PyG's `add_remaining_self_loops` on an unweighted graph, as GCN and
    /// GAT use it).
    pub fn with_self_loops(&self) -> Graph {
        self.loops_weighted().0
    }

    /// [`Graph::with_self_loops`] and, for a weighted graph, the weights: a
    /// node's loop keeps the weight of its (last) existing loop, else 1.
    fn loops_weighted(&self) -> (Graph, Vec<f32>) {
        let n = self.num_nodes();
        let mut ptr = Vec::with_capacity(n + 1);
        let mut nbr = Vec::with_capacity(self.nbr.len() + n);
        let mut w = Vec::with_capacity(if self.weight.is_some() { self.nbr.len() + n } else { 0 });
        let wt = |p: usize| self.weight.as_ref().map_or(1.0, |w| w[p]);
        ptr.push(0);
        for i in 0..n {
            let (lo, hi) = (self.ptr[i], self.ptr[i + 1]);
            let loop_w = (lo..hi).rev().find(|&p| self.nbr[p] == i).map_or(1.0, wt);
            let mut placed = false;
            for p in lo..hi {
                let s = self.nbr[p];
                if s == i {
                    continue;
                }
                if s > i && !placed {
                    nbr.push(i);
                    w.push(loop_w);
                    placed = true;
                }
                nbr.push(s);
                w.push(wt(p));
            }
            if !placed {
                nbr.push(i);
                w.push(loop_w);
            }
            ptr.push(nbr.len());
        }
        (Graph { ptr, nbr, weight: None, derived: Arc::default() }, w)
    }

    /// [`Graph::gcn_norm`], computed once per graph and kept.
    pub fn gcn_norm_cached(&self) -> (&Graph, &[f32]) {
        let (g, c) = self.derived.gcn.get_or_init(|| self.gcn_norm());
        (g, c)
    }

    /// [`Graph::with_self_loops`], computed once per graph and kept.
    pub fn self_loops_cached(&self) -> &Graph {
        self.derived.loops.get_or_init(|| self.with_self_loops())
    }

    /// GCN's propagation: the graph with self loops and the coefficient
    /// `w / sqrt(d_src d_dst)` of every edge (`d` the weighted in-degree
    /// with the loop; PyG's `gcn_norm`).
    pub fn gcn_norm(&self) -> (Graph, Vec<f32>) {
        let (g, w) = self.loops_weighted();
        let dinv: Vec<f32> = (0..g.num_nodes())
            .map(|i| {
                let d: f32 = w[g.ptr[i]..g.ptr[i + 1]].iter().sum();
                if d > 0.0 {
                    1.0 / d.sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        let mut coef = Vec::with_capacity(g.nbr.len());
        for i in 0..g.num_nodes() {
            for p in g.ptr[i]..g.ptr[i + 1] {
                coef.push(dinv[g.nbr[p]] * w[p] * dinv[i]);
            }
        }
        (g, coef)
    }
}

/// Node features: one row per node, dense or sparse (CSR).
#[derive(Debug, Clone, Copy)]
pub enum Features<'a> {
    Dense { values: &'a [f32], cols: usize },
    Csr { ptr: &'a [usize], col: &'a [usize], val: &'a [f32], cols: usize },
}

impl Features<'_> {
    /// Rows.
    pub fn rows(&self) -> usize {
        match self {
            Features::Dense { values, cols } => values.len().checked_div(*cols).unwrap_or(0),
            Features::Csr { ptr, .. } => ptr.len().saturating_sub(1),
        }
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        match self {
            Features::Dense { cols, .. } | Features::Csr { cols, .. } => *cols,
        }
    }
    pub(crate) fn check(&self, rows: usize, cols: usize) -> Result<()> {
        let ok_shape = match self {
            Features::Dense { values, cols: c } => values.len() == rows * c,
            Features::Csr { ptr, col, val, cols: c } => {
                ptr.len() == rows + 1
                    && ptr.first() == Some(&0)
                    && ptr.last() == Some(&col.len())
                    && col.len() == val.len()
                    && ptr.windows(2).all(|w| w[0] <= w[1])
                    && col.iter().all(|&j| j < *c)
            }
        };
        if !ok_shape || self.rows() != rows {
            return Err(Error::Input(format!("the features must have one row per node ({rows} rows); got {} rows", self.rows())));
        }
        if self.cols() != cols {
            return Err(Error::Input(format!("the model takes {cols} features per node; the input has {}", self.cols())));
        }
        let vals: &[f32] = match self {
            Features::Dense { values, .. } => values,
            Features::Csr { val, .. } => val,
        };
        if let Some(v) = vals.iter().find(|v| !v.is_finite()) {
            return Err(Error::Input(format!("the features contain {v}; every feature must be a finite number")));
        }
        Ok(())
    }
}

/// Many graphs as one block-diagonal graph: graph `g` is nodes
/// `node_ptr[g]..node_ptr[g + 1]`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphBatch {
    pub graph: Graph,
    pub node_ptr: Vec<usize>,
}

/// A graph as a client posts it: `{"num_nodes": 3, "edges": [[0, 1], [1, 2]],
/// "features": [[1, 0], [0, 1], [1, 0]]}`. Edges are directed `source ->
/// target`; list both directions for an undirected graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostedGraph {
    pub num_nodes: usize,
    #[serde(default)]
    pub edges: Vec<[usize; 2]>,
    /// One row per node.
    pub features: Vec<Vec<f32>>,
}

impl GraphBatch {
    /// Several batches as one (a server joins concurrent requests this way):
    /// graphs keep their order, node ids are offset, edge weights dropped
    /// unless every part has them.
    pub fn concat(parts: &[&GraphBatch]) -> GraphBatch {
        let (mut ptr, mut nbr, mut node_ptr) = (vec![0usize], Vec::new(), vec![0usize]);
        let weighted = !parts.is_empty() && parts.iter().all(|b| b.graph.weight.is_some());
        let mut weight = Vec::new();
        for b in parts {
            let base = ptr.len() - 1;
            let edges = nbr.len();
            nbr.extend(b.graph.nbr.iter().map(|&s| s + base));
            ptr.extend(b.graph.ptr[1..].iter().map(|&p| p + edges));
            if let (true, Some(w)) = (weighted, &b.graph.weight) {
                weight.extend_from_slice(w);
            }
            let nodes = *node_ptr.last().expect("starts with 0");
            node_ptr.extend(b.node_ptr[1..].iter().map(|&p| p + nodes));
        }
        let graph = Graph { ptr, nbr, weight: weighted.then_some(weight), derived: Arc::default() };
        GraphBatch { graph, node_ptr }
    }

    /// The union of posted graphs, with their features stacked.
    ///
    /// # Errors
    /// [`Error::Input`] naming the graph and the problem: an edge to a
    /// missing node, a feature row count other than `num_nodes`, rows of
    /// unequal width.
    pub fn from_posted(graphs: &[PostedGraph]) -> Result<(GraphBatch, Vec<f32>, usize)> {
        let cols = graphs.first().and_then(|g| g.features.first()).map_or(0, |r| r.len());
        let (mut edges, mut x, mut node_ptr) = (Vec::new(), Vec::new(), vec![0usize]);
        for (k, g) in graphs.iter().enumerate() {
            if g.features.len() != g.num_nodes {
                return Err(Error::Input(format!("graph {k}: {} feature rows for num_nodes = {}", g.features.len(), g.num_nodes)));
            }
            let base = *node_ptr.last().expect("starts with 0");
            for (e, &[s, t]) in g.edges.iter().enumerate() {
                if s >= g.num_nodes || t >= g.num_nodes {
                    return Err(Error::Input(format!(
                        "graph {k}: edge {e} ({s} -> {t}) names a node that does not exist (the graph has {} nodes)",
                        g.num_nodes
                    )));
                }
                edges.push((base + s, base + t));
            }
            for (r, row) in g.features.iter().enumerate() {
                if row.len() != cols {
                    return Err(Error::Input(format!("graph {k}: feature row {r} has {} values, the first row of the request has {cols}", row.len())));
                }
                x.extend_from_slice(row);
            }
            node_ptr.push(base + g.num_nodes);
        }
        let n = *node_ptr.last().expect("starts with 0");
        Ok((GraphBatch { graph: Graph::from_edges(n, &edges)?, node_ptr }, x, cols))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concat_offsets_nodes_and_edges() {
        let a = PostedGraph { num_nodes: 2, edges: vec![[0, 1]], features: vec![vec![1.0], vec![2.0]] };
        let b = PostedGraph { num_nodes: 3, edges: vec![[2, 0], [1, 2]], features: vec![vec![3.0]; 3] };
        let (ba, _, _) = GraphBatch::from_posted(std::slice::from_ref(&a)).unwrap();
        let (bb, _, _) = GraphBatch::from_posted(std::slice::from_ref(&b)).unwrap();
        let (both, _, _) = GraphBatch::from_posted(&[a, b]).unwrap();
        assert_eq!(GraphBatch::concat(&[&ba, &bb]), both);
    }

    #[test]
    fn edges_to_csr_and_self_loops() {
        let g = Graph::from_edges(3, &[(2, 0), (1, 0), (0, 0), (0, 2)]).unwrap();
        assert_eq!(g.ptr(), &[0, 3, 3, 4]);
        assert_eq!(g.nbr(), &[0, 1, 2, 0]);
        let l = g.with_self_loops();
        assert_eq!(l.ptr(), &[0, 3, 4, 6]);
        assert_eq!(l.nbr(), &[0, 1, 2, 1, 0, 2]);
        let (_, c) = g.gcn_norm();
        // node 0 has degree 3 (itself, 1, 2); node 1 degree 1; node 2 degree 2
        assert!((c[1] - 1.0 / 3f32.sqrt()).abs() < 1e-6);
        assert!((c[4] - 1.0 / (3f32 * 2.0).sqrt()).abs() < 1e-6);
        assert!(Graph::from_edges(2, &[(0, 2)]).unwrap_err().to_string().contains("does not exist"));
        assert!(Graph::from_csr(vec![0, 2], vec![0]).is_err());
    }

    #[test]
    fn posted_graphs_are_checked() {
        let ok = PostedGraph { num_nodes: 2, edges: vec![[0, 1]], features: vec![vec![1.0], vec![0.0]] };
        let (b, x, cols) = GraphBatch::from_posted(&[ok.clone(), ok.clone()]).unwrap();
        assert_eq!((b.node_ptr.clone(), x.len(), cols), (vec![0, 2, 4], 4, 1));
        assert_eq!(b.graph.nbr(), &[0, 2]);
        let bad = PostedGraph { edges: vec![[0, 5]], ..ok.clone() };
        assert!(GraphBatch::from_posted(&[bad]).unwrap_err().to_string().contains("edge 0 (0 -> 5)"));
        let rows = PostedGraph { features: vec![vec![1.0]], ..ok };
        assert!(GraphBatch::from_posted(&[rows]).unwrap_err().to_string().contains("1 feature rows"));
    }
}
