//! Node orderings: the sequence a graph is written in.
//!
//! The generator models `P(G, π)` for one ordering `π` of the nodes; which
//! ordering is a parameter of training and of evaluation (the likelihood it
//! reports is a bound on `P(G)` under that ordering, and says which).

use crate::graph::SmallGraph;
use crate::rng::{GlmRng, Rng};
use crate::{Error, Result};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How the nodes of a graph are put in sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeOrdering {
    /// Breadth-first from a random root, neighbours in random order (GraphRNN's default).
    #[default]
    Bfs,
    /// Depth-first from a random root, neighbours in random order.
    Dfs,
    /// By decreasing degree, ties broken at random.
    Degree,
    /// A uniformly random permutation.
    Random,
    /// The order the graph is stored in: for molecules, the atom order of
    /// their canonical SMILES (the loader stores molecules that way).
    Smiles,
}

/// Every ordering's name.
pub const ORDERINGS: [&str; 5] = ["bfs", "dfs", "degree", "random", "smiles"];

impl NodeOrdering {
    /// The name users type.
    pub fn name(&self) -> &'static str {
        match self {
            NodeOrdering::Bfs => "bfs",
            NodeOrdering::Dfs => "dfs",
            NodeOrdering::Degree => "degree",
            NodeOrdering::Random => "random",
            NodeOrdering::Smiles => "smiles",
        }
    }

    /// Whether the ordering draws random numbers (a fresh ordering each epoch).
    pub fn is_random(&self) -> bool {
        !matches!(self, NodeOrdering::Smiles)
    }

    /// The ordering as a list: position `i` holds the original node `order[i]`.
    /// Disconnected graphs are traversed component by component (each from a
    /// random root), so every node appears exactly once.
    pub fn order(&self, g: &SmallGraph, rng: &mut GlmRng) -> Vec<usize> {
        let n = g.num_nodes();
        match self {
            NodeOrdering::Smiles => (0..n).collect(),
            NodeOrdering::Random => {
                let mut o: Vec<usize> = (0..n).collect();
                o.shuffle(rng);
                o
            }
            NodeOrdering::Degree => {
                let deg = g.degrees();
                let tie: Vec<u64> = (0..n).map(|_| rng.gen()).collect();
                let mut o: Vec<usize> = (0..n).collect();
                o.sort_by(|&a, &b| deg[b].cmp(&deg[a]).then(tie[a].cmp(&tie[b])));
                o
            }
            NodeOrdering::Bfs | NodeOrdering::Dfs => {
                let mut adj = g.adjacency();
                for a in &mut adj {
                    a.shuffle(rng);
                }
                let mut roots: Vec<usize> = (0..n).collect();
                roots.shuffle(rng);
                let mut seen = vec![false; n];
                let mut out = Vec::with_capacity(n);
                for r in roots {
                    if seen[r] {
                        continue;
                    }
                    if *self == NodeOrdering::Bfs {
                        let mut queue = std::collections::VecDeque::from([r]);
                        seen[r] = true;
                        while let Some(u) = queue.pop_front() {
                            out.push(u);
                            for &v in &adj[u] {
                                if !seen[v] {
                                    seen[v] = true;
                                    queue.push_back(v);
                                }
                            }
                        }
                    } else {
                        let mut stack = vec![r];
                        while let Some(u) = stack.pop() {
                            if seen[u] {
                                continue;
                            }
                            seen[u] = true;
                            out.push(u);
                            for &v in adj[u].iter().rev() {
                                if !seen[v] {
                                    stack.push(v);
                                }
                            }
                        }
                    }
                }
                out
            }
        }
    }
}

impl std::str::FromStr for NodeOrdering {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bfs" => Ok(NodeOrdering::Bfs),
            "dfs" => Ok(NodeOrdering::Dfs),
            "degree" => Ok(NodeOrdering::Degree),
            "random" => Ok(NodeOrdering::Random),
            "smiles" | "canonical" => Ok(NodeOrdering::Smiles),
            _ => Err(Error::unknown("node ordering", s, &ORDERINGS)),
        }
    }
}

/// The largest `i - j` over edges `(j, i)` of `g` written in `order`: how far
/// back an edge of the ordered graph reaches (GraphRNN's `M`).
pub fn bandwidth(g: &SmallGraph, order: &[usize]) -> usize {
    let mut pos = vec![0usize; order.len()];
    for (i, &o) in order.iter().enumerate() {
        pos[o] = i;
    }
    g.edges.iter().map(|&(u, v, _)| pos[u as usize].abs_diff(pos[v as usize])).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;

    fn is_perm(o: &[usize], n: usize) -> bool {
        let mut s = o.to_vec();
        s.sort_unstable();
        s == (0..n).collect::<Vec<_>>()
    }

    #[test]
    fn every_ordering_is_a_permutation_and_bfs_keeps_prefixes_connected() {
        // a path 0-1-2-3-4 plus an isolated node 5
        let g = SmallGraph::from_pairs(6, [(0, 1), (1, 2), (2, 3), (3, 4)]);
        let mut rng = seeded(3);
        for o in [NodeOrdering::Bfs, NodeOrdering::Dfs, NodeOrdering::Degree, NodeOrdering::Random, NodeOrdering::Smiles] {
            for _ in 0..20 {
                let ord = o.order(&g, &mut rng);
                assert!(is_perm(&ord, 6), "{o:?} {ord:?}");
            }
        }
        let path = SmallGraph::from_pairs(5, [(0, 1), (1, 2), (2, 3), (3, 4)]);
        for _ in 0..20 {
            let ord = NodeOrdering::Bfs.order(&path, &mut rng);
            for k in 1..=5 {
                let prefix = path.permuted(&ord);
                let sub = SmallGraph { node_types: vec![0; k], edges: prefix.edges.iter().copied().filter(|&(_, v, _)| (v as usize) < k).collect() };
                assert!(sub.is_connected(), "BFS prefix of {ord:?} not connected");
            }
        }
        assert_eq!("DFS".parse::<NodeOrdering>().unwrap(), NodeOrdering::Dfs);
        assert!("zigzag".parse::<NodeOrdering>().unwrap_err().to_string().contains("bfs"));
        assert_eq!(bandwidth(&path, &[0, 1, 2, 3, 4]), 1);
        assert_eq!(bandwidth(&path, &[0, 2, 4, 1, 3]), 3);
    }
}
