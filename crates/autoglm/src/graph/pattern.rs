//! Attention patterns: which `(query node, key node)` pairs an attention group
//! scores, as a [`Graph`] whose in-edges of node `i` are the keys `i` attends
//! to (`src -> dst` = key -> query, the same convention as message passing).
//!
//! - the *local* pattern is the graph itself (see [`Graph::causal_edge_ids`] for the
//!   causal variant);
//! - [`Graph::khop_pattern`]: every node within `k` hops (along in-edges),
//!   itself included, with a seeded sample where a node has too many;
//! - [`Graph::full_pattern`]: every node of the same member graph (exact
//!   global attention), optionally causal.
//!
//! Patterns are memoised on the graph; for a block-diagonal union ([`super::Batch`])
//! they are built per member graph, memoised there, and concatenated, so a
//! dataset's graphs compute theirs once however the batches are drawn.

use super::{builder::index, Graph};
use crate::rng::{derive, Rng};
use crate::{Error, Result};
use std::any::Any;
use std::sync::Arc;

/// An attention pattern and how it was obtained.
#[derive(Debug, Clone)]
pub struct Pattern {
    /// In-edges of `i`: the keys query `i` attends to.
    pub graph: Graph,
    /// Nodes whose full k-hop neighbourhood exceeded the cap and was sampled.
    pub sampled_nodes: usize,
}

impl Pattern {
    /// Number of scored pairs.
    pub fn pairs(&self) -> usize {
        self.graph.num_edges()
    }
}

impl Graph {
    /// The member graphs when this graph is a block-diagonal union.
    pub fn parts(&self) -> Option<&super::Parts> {
        self.inner.parts.as_deref()
    }

    /// Node offsets of the member graphs (`[0, num_nodes]` for a single graph).
    pub fn node_segments(&self) -> Vec<usize> {
        match self.parts() {
            Some(p) => p.node_ptr.clone(),
            None => vec![0, self.num_nodes()],
        }
    }

    /// Largest member graph, in nodes.
    pub fn max_segment(&self) -> usize {
        self.node_segments().windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
    }

    /// `f()` computed once per graph and key, then shared.
    pub(crate) fn memo<T: Any + Send + Sync>(&self, key: &str, f: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        if let Some(v) = self.inner.cache.memo.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
            if let Ok(t) = v.clone().downcast::<T>() {
                return Ok(t);
            }
        }
        let v = Arc::new(f()?);
        self.inner.cache.memo.lock().unwrap_or_else(|e| e.into_inner()).insert(key.to_string(), v.clone());
        Ok(v)
    }

    /// The pattern of every member built by `f` and concatenated block-diagonally
    /// (or `f` on this graph when it is not a union).
    fn per_part(&self, key: &str, f: &dyn Fn(&Graph) -> Result<Pattern>) -> Result<Arc<Pattern>> {
        self.memo(key, || match self.parts() {
            None => f(self),
            Some(parts) => {
                let pats: Vec<Arc<Pattern>> = parts.graphs.iter().map(|g| g.memo(key, || f(g))).collect::<Result<_>>()?;
                let total: usize = pats.iter().map(|p| p.pairs()).sum();
                let (mut col, mut dst) = (Vec::with_capacity(total), Vec::with_capacity(total));
                for (p, &off) in pats.iter().zip(&parts.node_ptr) {
                    col.extend(p.graph.src().iter().map(|&s| s + off));
                    dst.extend(p.graph.dst().iter().map(|&d| d + off));
                }
                Ok(Pattern { graph: Graph::from_inner(index(self.num_nodes(), col, dst, None)), sampled_nodes: pats.iter().map(|p| p.sampled_nodes).sum() })
            }
        })
    }

    /// Every node within `k` hops of each node along in-edges (the nodes whose
    /// messages reach it in `k` rounds), the node itself included. Where a
    /// node has more than `max_per_node` such nodes, itself and a uniform
    /// sample of `max_per_node - 1` of the others are kept, drawn from
    /// `derive(seed, node)` (the count is in [`Pattern::sampled_nodes`]).
    ///
    /// # Errors
    /// [`Error::Config`] for `k = 0` or `max_per_node < 2`.
    pub fn khop_pattern(&self, k: usize, max_per_node: usize, seed: u64) -> Result<Arc<Pattern>> {
        if k == 0 {
            return Err(Error::config("khop.k", 0, "the k-hop group needs k >= 1 (k = 1 is the local pattern with self loops); use k = 2 or more"));
        }
        if max_per_node < 2 {
            return Err(Error::config("khop.max_per_node", max_per_node, "must be at least 2 (the node itself and one neighbour)"));
        }
        self.per_part(&format!("khop:{k}:{max_per_node}:{seed}"), &|g| Ok(khop(g, k, max_per_node, seed)))
    }

    /// Every `(j, i)` pair of nodes of the same member graph (`j <= i` only
    /// when `causal`): the pattern of exact global attention.
    pub fn full_pattern(&self, causal: bool) -> Result<Arc<Pattern>> {
        self.per_part(&format!("full:{causal}"), &|g| {
            let n = g.num_nodes();
            let (mut col, mut dst) = (vec![], vec![]);
            for i in 0..n {
                let hi = if causal { i + 1 } else { n };
                col.extend(0..hi);
                dst.extend(std::iter::repeat_n(i, hi));
            }
            Ok(Pattern { graph: Graph::from_inner(index(n, col, dst, None)), sampled_nodes: 0 })
        })
    }

    /// The edge ids `j -> i` with `j <= i` (a causal mask on the graph's own edges).
    pub fn causal_edge_ids(&self) -> Vec<usize> {
        (0..self.num_edges()).filter(|&e| self.src()[e] <= self.dst()[e]).collect()
    }
}

fn khop(g: &Graph, k: usize, cap: usize, seed: u64) -> Pattern {
    let n = g.num_nodes();
    let (mut col, mut dst) = (vec![], vec![]);
    let mut seen = vec![usize::MAX; n];
    let mut sampled = 0;
    for i in 0..n {
        // breadth-first along in-edges, k rounds
        let mut reach = vec![i];
        seen[i] = i;
        let mut frontier = vec![i];
        for _ in 0..k {
            let mut next = vec![];
            for &u in &frontier {
                for &s in &g.col_idx()[g.row_ptr()[u]..g.row_ptr()[u + 1]] {
                    if seen[s] != i {
                        seen[s] = i;
                        next.push(s);
                    }
                }
            }
            reach.extend_from_slice(&next);
            frontier = next;
            if frontier.is_empty() {
                break;
            }
        }
        if reach.len() > cap {
            sampled += 1;
            let mut rng = derive(seed, i as u64);
            let others = &mut reach[1..];
            // partial Fisher-Yates: the first cap - 1 positions are a uniform sample
            for t in 0..cap - 1 {
                let r = t + rng.gen_range(0..others.len() - t);
                others.swap(t, r);
            }
            reach.truncate(cap);
        }
        reach.sort_unstable();
        dst.extend(std::iter::repeat_n(i, reach.len()));
        col.extend(reach);
    }
    Pattern { graph: Graph::from_inner(index(n, col, dst, None)), sampled_nodes: sampled }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Batch;

    fn path(n: usize) -> Graph {
        let e: Vec<(usize, usize)> = (0..n - 1).flat_map(|i| [(i, i + 1), (i + 1, i)]).collect();
        Graph::from_edges(n, &e).unwrap()
    }

    #[test]
    fn khop_on_a_path_by_hand() {
        let p = path(5).khop_pattern(2, 100, 0).unwrap();
        // node 2 reaches 0..=4 within 2 hops; node 0 reaches 0, 1, 2
        let row = |i: usize| p.graph.col_idx()[p.graph.row_ptr()[i]..p.graph.row_ptr()[i + 1]].to_vec();
        assert_eq!(row(0), vec![0, 1, 2]);
        assert_eq!(row(2), vec![0, 1, 2, 3, 4]);
        assert_eq!(p.sampled_nodes, 0);
        let s = path(5).khop_pattern(2, 3, 7).unwrap();
        assert_eq!(s.sampled_nodes, 3, "nodes 1, 2, 3 have 4-5 nodes within 2 hops");
        for i in 0..5 {
            let r = s.graph.col_idx()[s.graph.row_ptr()[i]..s.graph.row_ptr()[i + 1]].to_vec();
            assert!(r.len() <= 3 && r.contains(&i));
        }
        assert_eq!(s.graph.col_idx(), path(5).khop_pattern(2, 3, 7).unwrap().graph.col_idx(), "seeded");
        assert!(path(3).khop_pattern(0, 10, 0).unwrap_err().to_string().contains("k >= 1"));
    }

    #[test]
    fn batch_patterns_stay_inside_each_graph() {
        let (a, b) = (path(3), path(4));
        let batch = Batch::from_graphs(&[&a, &b]).unwrap();
        let full = batch.graph.full_pattern(false).unwrap();
        assert_eq!(full.pairs(), 9 + 16);
        assert!(full.graph.edges().all(|(s, d)| (s < 3) == (d < 3)));
        let causal = batch.graph.full_pattern(true).unwrap();
        assert_eq!(causal.pairs(), 6 + 10);
        assert!(causal.graph.edges().all(|(s, d)| s <= d));
        let kh = batch.graph.khop_pattern(2, 100, 0).unwrap();
        let direct = a.khop_pattern(2, 100, 0).unwrap().pairs() + b.khop_pattern(2, 100, 0).unwrap().pairs();
        assert_eq!(kh.pairs(), direct);
        assert_eq!(batch.graph.node_segments(), vec![0, 3, 7]);
        assert_eq!(batch.graph.max_segment(), 4);
    }
}
