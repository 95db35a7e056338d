//! Positional and structural encodings of nodes, computed once per graph and
//! memoised on it (for a block-diagonal union, once per member graph):
//!
//! - [`Graph::rwse`]: random-walk structural encodings (Dwivedi et al., 2022),
//!   the probability that a random walk from a node is back at it after
//!   `1..=k` steps;
//! - [`Graph::lap_pe`]: Laplacian eigenvector encodings, the eigenvectors of
//!   the `dim` smallest eigenvalues of the symmetric normalised Laplacian of
//!   the undirected closure (dense eigensolver from `nalgebra`; graphs above
//!   `max_nodes` get an error saying so). A graph with fewer than `dim` nodes
//!   gets zero columns past its size; they carry nothing through the
//!   bias-free projection the models apply, so they are masked by construction.
//!
//! Plain `f32` rows, no tensors (the model turns them into inputs).

use super::Graph;
use crate::{Error, Result};
use rayon::prelude::*;
use std::sync::Arc;

/// Per-node encodings, row-major `[num_nodes, dim]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    pub dim: usize,
    pub data: Vec<f32>,
}

/// Most `nodes x edges x steps` work [`Graph::rwse`] takes on one graph.
const RWSE_MAX_WORK: f64 = 4e10;

impl Graph {
    fn per_part_encoding(&self, key: &str, dim: usize, f: &(dyn Fn(&Graph) -> Result<Encoding> + Sync)) -> Result<Arc<Encoding>> {
        self.memo(key, || match self.parts() {
            None => f(self),
            Some(parts) => {
                let encs: Vec<Arc<Encoding>> = parts.graphs.iter().map(|g| g.memo(key, || f(g))).collect::<Result<_>>()?;
                Ok(Encoding { dim, data: encs.iter().flat_map(|e| e.data.iter().copied()).collect() })
            }
        })
    }

    /// Random-walk structural encodings: column `t - 1` of node `i` is
    /// `(P^t)_{ii}` for `t = 1..=k`, with `P` the random walk along out-edges
    /// (`P_{uv} = 1 / out_degree(u)` for an edge `u -> v`; a node without
    /// out-edges ends the walk).
    ///
    /// # Errors
    /// [`Error::Config`] for `k = 0`, or when one graph needs more work than
    /// the exact computation is offered for (the message names the size).
    pub fn rwse(&self, k: usize) -> Result<Arc<Encoding>> {
        if k == 0 {
            return Err(Error::config("pe.steps", 0, "random-walk encodings need at least 1 step (16 is usual)"));
        }
        self.per_part_encoding(&format!("rwse:{k}"), k, &|g| {
            let (n, m) = (g.num_nodes(), g.num_edges());
            if (n as f64) * (m.max(n) as f64) * (k as f64) > RWSE_MAX_WORK {
                return Err(Error::config(
                    "pe.kind",
                    "rwse",
                    format!("exact random-walk encodings of a graph with {n} nodes and {m} edges are too costly; use pe.kind = \"none\" on graphs this large"),
                ));
            }
            let outdeg = g.out_degree();
            let rows: Vec<Vec<f32>> = (0..n)
                .into_par_iter()
                .map(|s| {
                    let mut p = vec![0f64; n];
                    p[s] = 1.0;
                    let mut out = Vec::with_capacity(k);
                    for _ in 0..k {
                        let mut next = vec![0f64; n];
                        // pull form: next[v] = sum over in-edges u -> v of p[u] / outdeg(u)
                        for (v, nv) in next.iter_mut().enumerate() {
                            let mut acc = 0.0;
                            for &u in &g.col_idx()[g.row_ptr()[v]..g.row_ptr()[v + 1]] {
                                acc += p[u] / outdeg[u] as f64;
                            }
                            *nv = acc;
                        }
                        p = next;
                        out.push(p[s] as f32);
                    }
                    out
                })
                .collect();
            Ok(Encoding { dim: k, data: rows.concat() })
        })
    }

    /// Laplacian eigenvector encodings: the eigenvectors of the `dim` smallest
    /// eigenvalues of `I - D^-1/2 A D^-1/2` over the undirected closure
    /// (ascending; zero columns past the graph's size). Each vector's sign is
    /// fixed so that its largest-magnitude entry is positive; models flip signs
    /// at random in training.
    ///
    /// # Errors
    /// [`Error::Config`] for `dim = 0`, and when a graph has more than
    /// `max_nodes` nodes (the dense solver's cost grows as `n^3`).
    pub fn lap_pe(&self, dim: usize, max_nodes: usize) -> Result<Arc<Encoding>> {
        if dim == 0 {
            return Err(Error::config("pe.dim", 0, "Laplacian encodings need at least one eigenvector (8 is usual)"));
        }
        self.per_part_encoding(&format!("lap:{dim}:{max_nodes}"), dim, &|g| {
            let n = g.num_nodes();
            if n > max_nodes {
                return Err(Error::config(
                    "pe.kind",
                    "lap",
                    format!(
                        "Laplacian encodings are offered up to pe.lap_max_nodes = {max_nodes} nodes (dense eigensolver) and this graph has {n}; use pe.kind = \"rwse\" or raise pe.lap_max_nodes"
                    ),
                ));
            }
            let u = g.to_undirected().remove_self_loops();
            let deg = u.in_degree();
            let mut a = nalgebra::DMatrix::<f64>::identity(n, n);
            for (s, d) in u.edges() {
                if deg[s] > 0 && deg[d] > 0 {
                    a[(d, s)] -= 1.0 / ((deg[s] * deg[d]) as f64).sqrt();
                }
            }
            for i in 0..n {
                if deg[i] == 0 {
                    a[(i, i)] = 0.0; // an isolated node: its Laplacian row is zero
                }
            }
            let eig = nalgebra::SymmetricEigen::new(a);
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&x, &y| eig.eigenvalues[x].total_cmp(&eig.eigenvalues[y]).then(x.cmp(&y)));
            let mut data = vec![0f32; n * dim];
            for (c, &j) in order.iter().take(dim).enumerate() {
                let col = eig.eigenvectors.column(j);
                let big = (0..n).max_by(|&x, &y| col[x].abs().total_cmp(&col[y].abs()).then(y.cmp(&x))).unwrap_or(0);
                let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
                for i in 0..n {
                    data[i * dim + c] = (sign * col[i]) as f32;
                }
            }
            Ok(Encoding { dim, data })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Batch;
    use crate::testing::assert_close;

    fn cycle(n: usize) -> Graph {
        let e: Vec<(usize, usize)> = (0..n).flat_map(|i| [(i, (i + 1) % n), ((i + 1) % n, i)]).collect();
        Graph::from_edges(n, &e).unwrap()
    }

    #[test]
    fn rwse_by_hand_on_a_cycle_and_a_star() {
        // on a cycle a walk returns after 2 steps with probability 1/2, never after an odd number
        let e = cycle(6).rwse(4).unwrap();
        assert_eq!(&e.data[..4], &[0.0, 0.5, 0.0, 0.375]);
        // star with centre 0 and 3 leaves: the centre returns after 2 steps surely, a leaf with probability 1/3
        let g = Graph::from_edges(4, &[(0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (3, 0)]).unwrap();
        let e = g.rwse(2).unwrap();
        assert_close(&e.data, &[0.0, 1.0, 0.0, 1.0 / 3.0, 0.0, 1.0 / 3.0, 0.0, 1.0 / 3.0], 1e-6, "star");
        assert!(g.rwse(0).is_err());
    }

    #[test]
    fn lap_pe_is_an_orthonormal_eigenbasis_padded_for_small_graphs() {
        let g = cycle(5);
        let e = g.lap_pe(8, 100).unwrap();
        assert_eq!(e.data.len(), 5 * 8);
        // the first eigenvector of L_sym on a regular graph is constant 1/sqrt(n)
        for i in 0..5 {
            assert!((e.data[i * 8] - 1.0 / 5f32.sqrt()).abs() < 1e-5);
            assert_eq!(&e.data[i * 8 + 5..i * 8 + 8], &[0.0, 0.0, 0.0], "columns past the graph's size are zero");
        }
        for a in 0..5 {
            for b in 0..5 {
                let dot: f32 = (0..5).map(|i| e.data[i * 8 + a] * e.data[i * 8 + b]).sum();
                assert!((dot - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5);
            }
        }
        let err = g.lap_pe(4, 3).unwrap_err().to_string();
        assert!(err.contains("lap_max_nodes") && err.contains("rwse"), "{err}");
    }

    #[test]
    fn batch_encodings_are_the_members_concatenated() {
        let (a, b) = (cycle(4), cycle(6));
        let batch = Batch::from_graphs(&[&a, &b]).unwrap();
        let e = batch.graph.rwse(3).unwrap();
        let mut want = a.rwse(3).unwrap().data.clone();
        want.extend_from_slice(&b.rwse(3).unwrap().data);
        assert_eq!(e.data, want);
    }
}
