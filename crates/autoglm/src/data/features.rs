//! Stand-in node features for graphs that ship without any (PubMed without
//! `ind.pubmed.allx`, a CSV graph without a features file).

use super::Features;
use crate::graph::{CsrMatrix, Graph};

/// How to make node features when a dataset has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FeatureFallback {
    /// One column of ones: `[num_nodes, 1]`.
    Constant,
    /// The identity: `[num_nodes, num_nodes]`, node `i` has a 1 in column `i`
    /// (PyG `KarateClub`; only sensible for small graphs).
    Identity,
    /// One-hot in-degree, degrees above `max_degree` share the last column:
    /// `[num_nodes, max_degree + 1]` (PyG `OneHotDegree` with clipping).
    DegreeOneHot {
        /// Largest degree with its own column.
        max_degree: usize,
    },
}

impl FeatureFallback {
    /// The fallback used for Planetoid datasets without features: 64 degree buckets.
    pub const PLANETOID: FeatureFallback = FeatureFallback::DegreeOneHot { max_degree: 63 };

    /// Build the features for `graph` (always [`Features::Sparse`]).
    pub fn build(self, graph: &Graph) -> Features {
        let n = graph.num_nodes();
        let (num_cols, col_idx): (usize, Vec<usize>) = match self {
            FeatureFallback::Constant => (1, vec![0; n]),
            FeatureFallback::Identity => (n, (0..n).collect()),
            FeatureFallback::DegreeOneHot { max_degree } => (max_degree + 1, graph.in_degree().into_iter().map(|d| d.min(max_degree)).collect()),
        };
        Features::Sparse(CsrMatrix { num_rows: n, num_cols, row_ptr: (0..=n).collect(), col_idx, values: vec![1.0; n] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks() {
        let g = Graph::from_edges(3, &[(0, 1), (2, 1), (0, 2)]).unwrap();
        let d = FeatureFallback::DegreeOneHot { max_degree: 1 }.build(&g).to_dense();
        assert_eq!(d, vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0]);
        let c = FeatureFallback::Constant.build(&g);
        assert_eq!((c.num_rows(), c.num_cols(), c.to_dense()), (3, 1, vec![1.0; 3]));
        let i = FeatureFallback::Identity.build(&g).to_dense();
        assert_eq!(i, vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    }
}
