//! `SmallGraph`: the plain form generated graphs and molecules are written in.
//!
//! An undirected simple graph with a categorical type per node and per edge,
//! stored as a node-type list and an edge list `(u, v, type)` with `u < v`.
//! Generators emit it, the graph-statistics evaluators and the molecule code
//! read it, and [`SmallGraph::to_graph`] turns it into a CSR [`Graph`] (both
//! directions, with edge types) for the layers.

use serde::{Deserialize, Serialize};

use super::Graph;

/// An undirected simple graph with node and edge types.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SmallGraph {
    /// One type per node (0 for untyped graphs).
    pub node_types: Vec<u32>,
    /// Undirected edges `(u, v, type)` with `u < v`, no duplicates.
    pub edges: Vec<(u32, u32, u32)>,
}

impl SmallGraph {
    /// `n` untyped nodes and no edges.
    pub fn empty(n: usize) -> SmallGraph {
        SmallGraph { node_types: vec![0; n], edges: Vec::new() }
    }

    /// Untyped graph from undirected pairs (any orientation; duplicates and self loops dropped).
    pub fn from_pairs(n: usize, pairs: impl IntoIterator<Item = (usize, usize)>) -> SmallGraph {
        let mut edges: Vec<(u32, u32, u32)> = pairs.into_iter().filter(|&(a, b)| a != b).map(|(a, b)| (a.min(b) as u32, a.max(b) as u32, 0)).collect();
        edges.sort_unstable();
        edges.dedup_by_key(|e| (e.0, e.1));
        SmallGraph { node_types: vec![0; n], edges }
    }

    /// Number of nodes.
    pub fn num_nodes(&self) -> usize {
        self.node_types.len()
    }

    /// Number of undirected edges.
    pub fn num_edges(&self) -> usize {
        self.edges.len()
    }

    /// Neighbour lists, sorted.
    pub fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.num_nodes()];
        for &(u, v, _) in &self.edges {
            adj[u as usize].push(v as usize);
            adj[v as usize].push(u as usize);
        }
        for a in &mut adj {
            a.sort_unstable();
        }
        adj
    }

    /// Degree of every node.
    pub fn degrees(&self) -> Vec<usize> {
        let mut d = vec![0; self.num_nodes()];
        for &(u, v, _) in &self.edges {
            d[u as usize] += 1;
            d[v as usize] += 1;
        }
        d
    }

    /// Edge density `2m / (n (n - 1))` (0 for fewer than 2 nodes).
    pub fn density(&self) -> f64 {
        let n = self.num_nodes() as f64;
        if n < 2.0 {
            0.0
        } else {
            2.0 * self.num_edges() as f64 / (n * (n - 1.0))
        }
    }

    /// Whether every node can reach every other (true for 0 or 1 nodes).
    pub fn is_connected(&self) -> bool {
        let n = self.num_nodes();
        if n <= 1 {
            return true;
        }
        let adj = self.adjacency();
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        seen[0] = true;
        let mut count = 1;
        while let Some(u) = stack.pop() {
            for &v in &adj[u] {
                if !seen[v] {
                    seen[v] = true;
                    count += 1;
                    stack.push(v);
                }
            }
        }
        count == n
    }

    /// The same graph with nodes renumbered: new node `i` is old node `order[i]`.
    pub fn permuted(&self, order: &[usize]) -> SmallGraph {
        let mut pos = vec![0u32; order.len()];
        for (i, &o) in order.iter().enumerate() {
            pos[o] = i as u32;
        }
        let node_types = order.iter().map(|&o| self.node_types[o]).collect();
        let mut edges: Vec<(u32, u32, u32)> = self
            .edges
            .iter()
            .map(|&(u, v, t)| {
                let (a, b) = (pos[u as usize], pos[v as usize]);
                (a.min(b), a.max(b), t)
            })
            .collect();
        edges.sort_unstable();
        SmallGraph { node_types, edges }
    }

    /// The CSR graph with both directions of every edge and its edge types
    /// (`num_edge_types` categories).
    pub fn to_graph(&self, num_edge_types: usize) -> crate::Result<Graph> {
        let mut src = Vec::with_capacity(2 * self.edges.len());
        let mut dst = Vec::with_capacity(2 * self.edges.len());
        let mut types = Vec::with_capacity(2 * self.edges.len());
        for &(u, v, t) in &self.edges {
            src.extend([u as usize, v as usize]);
            dst.extend([v as usize, u as usize]);
            types.extend([t, t]);
        }
        Graph::builder(self.num_nodes()).edge_lists(src, dst).edge_types(types, num_edge_types.max(1)).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_normalised_and_permutation_keeps_structure() {
        let g = SmallGraph::from_pairs(4, [(1, 0), (0, 1), (2, 2), (3, 2)]);
        assert_eq!(g.edges, vec![(0, 1, 0), (2, 3, 0)]);
        assert!(!g.is_connected());
        let p = g.permuted(&[3, 2, 1, 0]);
        assert_eq!(p.edges, vec![(0, 1, 0), (2, 3, 0)]);
        assert_eq!(g.degrees(), vec![1, 1, 1, 1]);
        let csr = g.to_graph(1).unwrap();
        assert_eq!(csr.num_edges(), 4);
    }
}
